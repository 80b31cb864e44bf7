# Every pick by loss, NMS by loss at 0.5 per image over all labels (a hard
# negative may suppress a positive), the 64 hardest RoIs per image, no
# random share.
_base_ = './faster-rcnn_r18-tiny_fpn_ohem_cards.py'
model = dict(
    train_cfg=dict(
        rcnn=dict(sampler=dict(nms_per_label=False, random_fraction=0.))))
