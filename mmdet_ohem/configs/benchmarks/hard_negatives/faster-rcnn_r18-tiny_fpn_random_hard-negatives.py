# Baseline: MMDetection's RandomSampler, 1:3 fg:bg, 128 RoIs per image.
_base_ = './_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py'
