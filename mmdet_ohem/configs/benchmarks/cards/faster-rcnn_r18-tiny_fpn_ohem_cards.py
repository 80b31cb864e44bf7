# Ours on the cards (CARDS_ROOT, see the _base_ file): OHEMRoIHead with the
# entry mining
# (../../_base_/ohem_mining.py: CE + box-loss ranking, NMS by loss at 0.5
# per label, of each image's 64 RoIs the 32 hardest, no fg:bg quota, and
# 32 at random). The sampling variants of this set inherit this file.
_base_ = './_base_faster-rcnn_r18-tiny_fpn_cards.py'
model = _base_.ohem_model
custom_hooks = [dict(type='RNGStateHook'), dict(type='MiningStatsHook')]
