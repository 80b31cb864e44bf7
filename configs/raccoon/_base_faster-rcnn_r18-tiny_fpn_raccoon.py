# End-to-end checks on real photos: the embedded benchmark's tiny Faster
# R-CNN (ResNet-18 at 1/4 width + FPN, from scratch) on the raccoon photos
# (200 JPEGs, PASCAL VOC XML, one class), read in place from
# ../shared/datasets/raccoon beside the repository. The photos are not
# shipped with mmdet-ohem: these configs are used only where that folder
# exists (tests/test_raccoon.py skips otherwise). Write the splits first:
#     python tools/prepare_raccoon.py
# Trained from scratch on 160 photos for the benchmark's short schedule,
# the detector's AP stays low; that is expected. The point is that the
# mining runs on real images of varied sizes, not the number.
# The two variants differ only in train_cfg.rcnn.sampler and roi_head.type.
_base_ = '../hard_negatives/_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py'
custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)

# From this file, not the working directory, so that any cwd works.
data_root = '{{fileDirname}}/../../../shared/datasets/raccoon/'
split_dir = '{{fileDirname}}/../../data/raccoon/'  # prepare_raccoon.py
dataset_type = 'XMLDataset'
classes = ('raccoon', )
img_size = 320

model = dict(
    # Raccoons fill much of a photo (up to the whole 320 px): anchors of
    # 32..512 px (mmdet's default scale) rather than the benchmark's 16..256.
    rpn_head=dict(anchor_generator=dict(scales=[8])),
    roi_head=dict(bbox_head=dict(num_classes=len(classes))))

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
# XMLDataset reads <data_root>/annotations/<id>.xml and
# <data_root>/images/<id>.jpg for each id of ann_file (absolute, so not
# joined to data_root). The base's COCO dataset keys are dropped.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file=split_dir + 'train.txt',
        data_prefix=dict(sub_data_root=''),
        img_subdir='images',
        ann_subdir='annotations',
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file=split_dir + 'val.txt',
        data_prefix=dict(sub_data_root=''),
        img_subdir='images',
        ann_subdir='annotations',
        metainfo=dict(classes=classes),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader
# mAP at IoU 0.5, area under the whole PR curve (VOC2012 style): with no
# 'dataset_type' in the metainfo, VOCMetric names the class from it.
val_evaluator = dict(
    _delete_=True, type='VOCMetric', metric='mAP', eval_mode='area')
test_evaluator = val_evaluator
