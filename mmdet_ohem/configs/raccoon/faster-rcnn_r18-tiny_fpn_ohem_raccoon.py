# Ours, paper mode, on the raccoon photos (see the _base_ file: used only
# where ../shared/datasets/raccoon exists). Same mining as
# ../hard_negatives/faster-rcnn_r18-tiny_fpn_ohem_hard-negatives.py:
# batch-level OHEMRoIHead, CE + box-loss ranking, NMS 0.7 by loss, the
# hardest RoIs of each image, no fg:bg quota.
_base_ = './_base_faster-rcnn_r18-tiny_fpn_raccoon.py'
custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)
model = dict(
    roi_head=dict(type='OHEMRoIHead'),
    train_cfg=dict(
        rcnn=dict(
            sampler=dict(
                _delete_=True,
                type='LossRankedOHEMSampler',
                num={{_base_.rois_per_img}},
                pos_fraction=None,
                ranking='cls+bbox',
                nms_thr=0.7))))
custom_hooks = [dict(type='RNGStateHook'), dict(type='MiningStatsHook')]
