# Mask R-CNN with the OHEM head: boxes are mined by their loss; the mask
# branch trains on the picked positives plus other positive candidates at
# random, up to 128 per image as stock Mask R-CNN (OHEMRoIHead's
# mask_num_pos).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
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
