# Baseline on the raccoon photos (see the _base_ file: used only where
# ../shared/datasets/raccoon exists): MMDetection's RandomSampler, 1:3
# fg:bg, the same number of RoIs per image as ours.
_base_ = './_base_faster-rcnn_r18-tiny_fpn_raccoon.py'
custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)
