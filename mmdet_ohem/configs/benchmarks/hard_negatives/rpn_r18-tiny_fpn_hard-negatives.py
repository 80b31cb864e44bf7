# Stage 1 of Fast R-CNN on the embedded benchmark: the benchmark's RPN on
# its own (mmdet's two-step recipe, configs/rpn + configs/fast_rcnn).
# tools/train.py trains it (its validation reports proposal recall);
# tools/test.py then dumps the proposals of one split with mmdet's
# DumpProposals, for fast-rcnn_r18-tiny_fpn_ohem_hard-negatives.py to read.
# The test split is val; the train split's dump takes --cfg-options, see
# docs/fast_rcnn.md.
_base_ = './_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py'

data_root = 'data/hard_negatives/'
# As many proposals per image as Faster R-CNN's RoI head gets in training
# here (train_cfg.rpn_proposal), so OHEM ranks the same number.
num_proposals = 500

model = dict(
    _delete_=True,
    type='RPN',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    neck={{_base_.model.neck}},
    rpn_head={{_base_.model.rpn_head}},
    train_cfg=dict(rpn={{_base_.model.train_cfg.rpn}}),
    test_cfg=dict(
        rpn=dict(
            nms_pre=1000,
            max_per_img=num_proposals,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0)))

# COCO's proposal recall (mmdet's 'proposal_fast' breaks on numpy >= 1.24:
# it builds an array from ragged IoU lists).
val_evaluator = dict(metric='proposal')
test_evaluator = dict(
    _delete_=True,
    type='DumpProposals',
    output_dir=data_root + 'proposals/',
    proposals_file='rpn_val.pkl')
