# Baseline: MMDetection's RandomSampler, 1:3 fg:bg, 64 RoIs per image,
# 2 images per batch.
_base_ = './_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py'
