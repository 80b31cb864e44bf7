# Fast R-CNN on precomputed proposals (the paper's own setting) with the
# OHEM head. Proposals: data/coco/proposals/*.pkl as in mmdet's fast_rcnn
# configs; they come from an RPN, NMS-ed at 0.7, hence NMS by loss at 0.5.
_base_ = 'mmdet::fast_rcnn/fast-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)

model = dict(
    roi_head=dict(type='OHEMRoIHead'),
    train_cfg=dict(
        rcnn=dict(
            sampler=dict(
                _delete_=True,
                type='LossRankedOHEMSampler',
                num=64,
                pos_fraction=None,
                nms_thr=0.5,
                nms_per_label=True,
                random_fraction=0.5))))  # as configs/faster_rcnn_ohem.py
