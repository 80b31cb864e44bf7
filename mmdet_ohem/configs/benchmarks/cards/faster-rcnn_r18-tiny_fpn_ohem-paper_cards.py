# The paper's NMS: IoU 0.7 per image over all labels, every pick by loss
# (the 64 hardest RoIs per image, no random share). After the RPN's own NMS
# at 0.7 it removes few candidates, so the picks can pile onto clusters of
# near-duplicates (docs/benchmark.md); MiningStatsHook warns about it.
_base_ = './faster-rcnn_r18-tiny_fpn_ohem_cards.py'
model = dict(
    train_cfg=dict(
        rcnn=dict(
            sampler=dict(
                nms_thr=0.7, nms_per_label=False, random_fraction=0.))))
