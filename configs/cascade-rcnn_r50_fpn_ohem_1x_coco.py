# Cascade R-CNN with paper-faithful OHEM in every stage, through the
# sampler (each stage ranks its own RoIs with its own box head).
_base_ = 'mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)


def _stage(iou_thr):
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
            num=512,
            pos_fraction=None,
            nms_thr=0.7,
            add_gt_as_proposals=True),
        mask_size=28,
        pos_weight=-1,
        debug=False)


model = dict(train_cfg=dict(rcnn=[_stage(0.5), _stage(0.6), _stage(0.7)]))
