# Cascade R-CNN with OHEM in every stage, through the sampler (each stage
# ranks its own RoIs with its own box head).
#
# A stage only sees the RoIs the stage before it sampled, refined (plus the
# gt boxes): with mmdet's 512 per stage, stages 2 and 3 would keep about
# every candidate and select nothing by loss. So each stage keeps half of
# what the one before it kept: 256 of the proposals, then 128, then 64 (the
# paper's per-image budget). NMS by loss at 0.5 per label and half of each
# stage's picks at random, as the entry config; not yet measured on COCO.
_base_ = 'mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)


def _stage(iou_thr, num):
    return dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=iou_thr,
            neg_iou_thr=iou_thr,
            min_pos_iou=iou_thr,
            match_low_quality=False,
            ignore_iof_thr=-1),
        sampler=dict(
            type='LossRankedOHEMSampler',
            num=num,
            pos_fraction=None,
            nms_thr=0.5,
            nms_per_label=True,
            random_fraction=0.5,
            add_gt_as_proposals=True),
        mask_size=28,
        pos_weight=-1,
        debug=False)


model = dict(
    train_cfg=dict(
        rcnn=[_stage(0.5, 256), _stage(0.6, 128),
              _stage(0.7, 64)]))
custom_hooks = [dict(type='MiningStatsHook')]
