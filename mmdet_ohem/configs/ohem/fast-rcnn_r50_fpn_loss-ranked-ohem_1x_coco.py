# Fast R-CNN on precomputed proposals (the paper's own setting) with
# OHEMRoIHead and the entry mining (../_base_/ohem_mining.py). Proposals:
# data/coco/proposals/*.pkl as in mmdet's fast_rcnn configs
# (docs/fast_rcnn.md); they come from an RPN, NMS-ed at 0.7, hence NMS by
# loss at 0.5.
_base_ = [
    'mmdet::fast_rcnn/fast-rcnn_r50_fpn_1x_coco.py',
    '../_base_/ohem_mining.py'
]
model = _base_.ohem_model
