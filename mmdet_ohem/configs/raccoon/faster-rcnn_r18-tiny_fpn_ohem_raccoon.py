# Ours on the raccoon photos (see the _base_ file: RACCOON_ROOT), with the
# entry config's mining: OHEMRoIHead, CE + box-loss ranking, NMS 0.5 by
# loss per label, of each image's 64 RoIs the 32 hardest (no fg:bg quota)
# and 32 at random.
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
                nms_thr=0.5,
                nms_per_label=True,
                random_fraction=0.5))))
custom_hooks = [dict(type='RNGStateHook'), dict(type='MiningStatsHook')]
