# OHEM (arXiv 1604.03540) on Faster R-CNN R50-FPN 1x, COCO: the entry point.
#
# OHEMRoIHead: one readonly pass of the box head over every candidate RoI,
# per-RoI loss = CE + box loss, NMS by loss at IoU 0.5 per image and per
# label (background a label of its own, as in the authors' code: a hard
# negative never suppresses a positive); of each image's B/N = 128/2 = 64
# picks, 32 are the hardest survivors (no fg:bg quota) and 32 are drawn at
# random from the other candidates as mmdet's RandomSampler draws (1:3);
# background IoU in [0, 0.5). Only the picks go through the trainable pass.
#
# Why not the paper's exact mining: its NMS at 0.7 was set for proposals
# without NMS of their own (RPN proposals had NMS at 0.7 already), and on
# real photos pure top-k mining kept too few of the objects it needs. This
# mix beat random sampling on every benchmark set, from scratch and from a
# warm start, by more than mining by loss alone on the real photos (README,
# Results). The exact paper / authors' setting is
# faster-rcnn_r50_fpn_ohem-paper_1x_coco.py.
#
#   python tools/train.py configs/faster_rcnn_ohem.py   # needs data/coco
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmdet_ohem'], allow_failed_imports=False)

model = dict(
    roi_head=dict(type='OHEMRoIHead'),
    train_cfg=dict(
        rcnn=dict(
            # mmdet's MaxIoUAssigner already has no bg_lo: neg IoU in [0, .5)
            assigner=dict(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5),
            sampler=dict(
                _delete_=True,
                type='LossRankedOHEMSampler',
                num=64,
                pos_fraction=None,
                ranking='cls+bbox',
                nms_thr=0.5,
                nms_per_label=True,
                random_fraction=0.5,
                scope='image',
                add_gt_as_proposals=True))))

# RNGStateHook: checkpoints keep the RNG states, so --resume continues the
# random draws of the interrupted run.
custom_hooks = [dict(type='RNGStateHook'), dict(type='MiningStatsHook')]
