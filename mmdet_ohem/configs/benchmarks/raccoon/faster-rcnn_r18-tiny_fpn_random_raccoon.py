# Baseline on the raccoon photos (see the _base_ file: RACCOON_ROOT):
# MMDetection's RandomSampler, 1:3 fg:bg, the same number of RoIs per image
# as ours.
_base_ = './_base_faster-rcnn_r18-tiny_fpn_raccoon.py'
