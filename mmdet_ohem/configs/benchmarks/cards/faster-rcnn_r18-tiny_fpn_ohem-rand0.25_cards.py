# The random-share sweep (docs/benchmark.md): the entry mining with a
# quarter of each image's 64 RoIs drawn at random (16) and 48 by loss, not
# 32 and 32.
_base_ = './faster-rcnn_r18-tiny_fpn_ohem_cards.py'
model = dict(train_cfg=dict(rcnn=dict(sampler=dict(random_fraction=0.25))))
