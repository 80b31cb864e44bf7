# The one-line swap: mmdet's own sampler config, but paper-faithful OHEM
# (CE + box-loss ranking, NMS 0.7 by loss, no fg quota) for each image.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)

model = dict(
    train_cfg=dict(
        rcnn=dict(
            sampler=dict(type='LossRankedOHEMSampler', pos_fraction=None))))
