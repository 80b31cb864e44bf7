# Shared part of the embedded benchmark: a CPU-sized Faster R-CNN (ResNet-18
# at 1/4 width + FPN, trained from scratch) on the generated hard-negatives
# dataset (tools/data/generate_hard_negatives.py). The variants differ
# only in train_cfg.rcnn.sampler and roi_head.type. The mining fragment
# registers mmdet_ohem, and gives its variables (ohem_model, ohem_sampler)
# to the OHEM variants; its mining applies only where a variant merges it.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    '../../_base_/ohem_mining.py'
]

data_root = 'data/hard_negatives/'
classes = ('disk', 'square', 'triangle')
img_size = 256
# The paper's setting: N=2 images per batch, B=128 RoIs per batch, the
# same budget for every variant.
imgs_per_batch = 2
rois_per_img = 64
max_iters = 800

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        depth=18,
        base_channels=16,
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64),
    rpn_head=dict(
        in_channels=64,
        feat_channels=64,
        # objects are 12-100 px: anchors 16..256 px
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        # 2x2 samples per bin: mmcv's CPU RoIAlign with the adaptive default
        # (sampling_ratio=0) costs up to 16 per bin and dominated the step.
        bbox_roi_extractor=dict(
            out_channels=64,
            roi_layer=dict(type='RoIAlign', output_size=7,
                           sampling_ratio=2)),
        bbox_head=dict(
            in_channels=64, fc_out_channels=256,
            num_classes=len(classes))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=rois_per_img))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=imgs_per_batch,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        # images without objects are pure background: keep them
        filter_cfg=dict(filter_empty_gt=False, min_size=0),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val.json',
    metric='bbox',
    backend_args=backend_args)
test_evaluator = val_evaluator

train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        milestones=[int(max_iters * 0.75), int(max_iters * 0.9)],
        gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
# Checkpoints keep the RNG states, so --resume continues the random draws
# (the RPN's anchor sampling) of the interrupted run. The baselines have no
# mining stats to log: the OHEM variants add MiningStatsHook.
custom_hooks = [dict(type='RNGStateHook')]
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False)
