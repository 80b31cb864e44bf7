# The entry mining after a random start: for the first 100 iterations (the
# schedule's LR warm-up, LinearLR end=100) each image's 64 RoIs are drawn
# at random, 1:3 as RandomSampler draws them; mining by loss starts with
# the full learning rate. From random weights every RoI is hard at first
# (docs/results.md, "A run that did not learn").
_base_ = './faster-rcnn_r18-tiny_fpn_ohem_cards.py'
model = dict(train_cfg=dict(rcnn=dict(sampler=dict(warmup_iters=100))))
