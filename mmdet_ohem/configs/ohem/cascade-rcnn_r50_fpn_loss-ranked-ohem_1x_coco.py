# Cascade R-CNN with OHEM in every stage, through the sampler (each stage
# ranks its own RoIs with its own box head; OHEMRoIHead is single-stage).
#
# A stage only sees the RoIs the stage before it sampled, refined (plus the
# gt boxes): with mmdet's 512 per stage, stages 2 and 3 would keep about
# every candidate and select nothing by loss. So each stage keeps half of
# what the one before it kept: 256 of the proposals, then 128, then 64 (the
# paper's per-image budget); otherwise the entry mining
# (../_base_/ohem_mining.py). No committed COCO results (ohem/README.md).
#
# `rcnn` is a list of stages: mmengine merges a dict into a dict, never into
# a list, so the list is the base's stages with their samplers replaced.
_base_ = [
    'mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py',
    '../_base_/ohem_mining.py'
]
model = dict(
    train_cfg=dict(rcnn=[
        dict(stage, sampler=dict(_base_.ohem_sampler, num=num))
        for stage, num in zip(_base_.model.train_cfg.rcnn, (256, 128, 64))
    ]))
