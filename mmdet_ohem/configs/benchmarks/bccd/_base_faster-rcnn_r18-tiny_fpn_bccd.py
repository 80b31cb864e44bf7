# Real photos: the embedded benchmark's tiny Faster R-CNN (ResNet-18 at 1/4
# width + FPN, from scratch) on BCCD, 364 microscope images of blood cells
# (RBC, WBC, Platelets; 4,888 dense, overlapping boxes; PASCAL VOC layout;
# MIT, github Shenggan/BCCD_Dataset). The images are not shipped with
# mmdet-ohem: point BCCD_ROOT at the folder that holds Annotations/,
# JPEGImages/ and ImageSets/ (default: data/bccd/ under the working
# directory). Trained on trainval (292), evaluated on test (72) with COCO
# box AP (mmdet's CocoMetric builds the COCO ground truth from the XML).
_base_ = '../hard_negatives/_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py'

data_root = '{{$BCCD_ROOT:data/bccd/}}'
dataset_type = 'XMLDataset'
classes = ('RBC', 'WBC', 'Platelets')
img_size = 320

model = dict(roi_head=dict(bbox_head=dict(num_classes=len(classes))))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    # Two boxes of the set have zero area: no box target can encode them.
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
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
_dataset = dict(
    _delete_=True,
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(sub_data_root=''),
    img_subdir='JPEGImages',
    ann_subdir='Annotations',
    metainfo=dict(classes=classes),
    backend_args=backend_args)
train_dataloader = dict(
    dataset=dict(
        **_dataset,
        ann_file='ImageSets/Main/trainval.txt',
        filter_cfg=dict(filter_empty_gt=True, min_size=0),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        **_dataset,
        ann_file='ImageSets/Main/test.txt',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True, type='CocoMetric', ann_file=None, metric='bbox',
    backend_args=backend_args)
test_evaluator = val_evaluator
