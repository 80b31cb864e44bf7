# Fast R-CNN with OHEM on precomputed proposals (the paper's own setting)
# on the embedded benchmark: the proposals are those the benchmark's RPN
# (rpn_r18-tiny_fpn_hard-negatives.py) dumped for each split; the mining is
# the entry mining (../../_base_/ohem_mining.py). Steps in
# docs/fast_rcnn.md.
_base_ = './_base_faster-rcnn_r18-tiny_fpn_hard-negatives.py'

model = dict(
    _delete_=True,
    type='FastRCNN',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    neck={{_base_.model.neck}},
    roi_head=dict(
        _base_.ohem_model.roi_head,  # OHEMRoIHead
        bbox_roi_extractor={{_base_.model.roi_head.bbox_roi_extractor}},
        bbox_head={{_base_.model.roi_head.bbox_head}}),
    train_cfg=dict(
        rcnn=dict(
            assigner={{_base_.model.train_cfg.rcnn.assigner}},
            sampler=_base_.ohem_sampler,
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(rcnn={{_base_.model.test_cfg.rcnn}}))

img_size = {{_base_.img_size}}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProposals', num_max_proposals=500),
    dict(type='LoadAnnotations', with_bbox=True),
    # Resize and flip the proposals with the image.
    dict(
        type='ProposalBroadcaster',
        transforms=[
            dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
        ]),
    dict(type='PackDetInputs')
]
# As many proposals as Faster R-CNN's RoI head gets at test time here.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProposals', num_max_proposals=300),
    dict(
        type='ProposalBroadcaster',
        transforms=[
            dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
        ]),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    dataset=dict(
        proposal_file='proposals/rpn_train.pkl', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        proposal_file='proposals/rpn_val.pkl', pipeline=test_pipeline))
test_dataloader = val_dataloader
custom_hooks = [dict(type='RNGStateHook'), dict(type='MiningStatsHook')]
