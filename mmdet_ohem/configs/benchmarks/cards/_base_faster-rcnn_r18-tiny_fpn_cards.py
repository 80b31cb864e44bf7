# Real photos: the embedded benchmark's tiny Faster R-CNN (ResNet-18 at 1/4
# width + FPN, from scratch) on playing cards, 363 photos of six look-alike
# classes (nine, ten, jack, queen, king, ace; 670 boxes, 1-5 per photo, a
# third of the image side or so; Apache-2.0, github EdjeElectronics/
# TensorFlow-Object-Detection-API-Tutorial-Train-Multiple-Objects-Windows-10).
# The photos are not shipped with mmdet-ohem: point CARDS_ROOT at the folder
# that holds images/, annotations/ and splits/ (default: data/cards_photos/
# under the working directory) and write the COCO files first:
#     python tools/data/prepare_cards.py --root $CARDS_ROOT
# Trained on the publisher's train split (296), evaluated on its test split
# (67) with COCO box AP.
# Why COCO files and not XMLDataset: the photos are <id>.JPG or <id>.jpg and
# XMLDataset opens <id>.jpg only. prepare_cards.py records each photo's real
# file name, with the boxes as XMLDataset loads them (VOC corners - 1), so
# mmdet's own CocoDataset and CocoMetric read the photos in place: no dataset
# class of ours, no copies or links of the photos.
_base_ = '../hard_negatives/_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py'

data_root = '{{$CARDS_ROOT:data/cards_photos/}}'
# The COCO files tools/data/prepare_cards.py writes to the repository's
# data/cards/, found from this file (mmdet_ohem/configs/benchmarks/cards/;
# the top-level configs/ links there), so that any cwd works.
ann_dir = '{{fileDirname}}/../../../../data/cards/'
dataset_type = 'CocoDataset'
classes = ('nine', 'ten', 'jack', 'queen', 'king', 'ace')
img_size = 320

# The cards span 45-190 px at 320 px: the benchmark's anchors (16..256 px)
# cover them.
model = dict(roi_head=dict(bbox_head=dict(num_classes=len(classes))))

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
_dataset = dict(
    _delete_=True,
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img='images/'),
    metainfo=dict(classes=classes),
    backend_args=backend_args)
train_dataloader = dict(
    dataset=dict(
        **_dataset,
        ann_file=ann_dir + 'instances_train.json',
        filter_cfg=dict(filter_empty_gt=True, min_size=0),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        **_dataset,
        ann_file=ann_dir + 'instances_test.json',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='CocoMetric',
    ann_file=ann_dir + 'instances_test.json',
    metric='bbox',
    backend_args=backend_args)
test_evaluator = val_evaluator
