# The random-share sweep (docs/benchmark.md): the entry mining with three
# quarters of each image's 64 RoIs drawn at random (48) and 16 by loss, not
# 32 and 32.
_base_ = './faster-rcnn_r18-tiny_fpn_ohem_raccoon.py'
model = dict(train_cfg=dict(rcnn=dict(sampler=dict(random_fraction=0.75))))
