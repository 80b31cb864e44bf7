# The one-line swap: mmdet's Faster R-CNN with its StandardRoIHead, only the
# RoI sampler replaced by LossRankedOHEMSampler with the entry mining
# (../_base_/ohem_mining.py), image by image. ../faster_rcnn_ohem.py also
# swaps the head (OHEMRoIHead: the same picks, the picks' RoI features
# reused).
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    '../_base_/ohem_mining.py'
]
model = dict(train_cfg=dict(rcnn=dict(sampler=_base_.ohem_sampler)))
