# The one-line swap: mmdet's StandardRoIHead, with OHEM as its sampler (CE +
# box-loss ranking, NMS by loss at 0.5 per label, 64 RoIs per image: the 32
# hardest, no fg quota, and 32 at random): the entry config's mining, image
# by image.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)

model = dict(
    train_cfg=dict(
        rcnn=dict(
            sampler=dict(
                type='LossRankedOHEMSampler', num=64, pos_fraction=None,
                nms_thr=0.5, nms_per_label=True, random_fraction=0.5))))
