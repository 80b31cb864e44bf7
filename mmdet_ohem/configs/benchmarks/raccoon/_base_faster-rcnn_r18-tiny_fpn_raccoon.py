# Real photos: the embedded benchmark's tiny Faster R-CNN (ResNet-18 at 1/4
# width + FPN, from scratch) on the raccoon photos
# (200 JPEGs, PASCAL VOC XML, one class; MIT, github datitran/
# raccoon_dataset), read in place. The photos are not shipped with
# mmdet-ohem: point RACCOON_ROOT at their folder (tests skip without it)
# and write the splits first:
#     python tools/data/prepare_raccoon.py --root $RACCOON_ROOT
# Trained on the split's train photos (about four fifths), evaluated on its
# val photos with COCO box AP. The variants differ only in
# train_cfg.rcnn.sampler and roi_head.type.
_base_ = '../hard_negatives/_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py'

# The photos' folder (images/, annotations/): RACCOON_ROOT, else
# data/raccoon_photos/ under the working directory.
data_root = '{{$RACCOON_ROOT:data/raccoon_photos/}}'
# The split lists tools/data/prepare_raccoon.py writes to the repository's
# data/raccoon/, found from this file (mmdet_ohem/configs/benchmarks/
# raccoon/; the top-level configs/ links there), so that any cwd works.
split_dir = '{{fileDirname}}/../../../../data/raccoon/'
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
        # 'instances': CocoMetric's ground truth when it has no COCO file.
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'instances'))
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
# COCO box AP, as on the other benchmark sets (CocoMetric builds the COCO
# ground truth from the XML annotations).
val_evaluator = dict(
    _delete_=True, type='CocoMetric', ann_file=None, metric='bbox',
    backend_args=backend_args)
test_evaluator = val_evaluator
