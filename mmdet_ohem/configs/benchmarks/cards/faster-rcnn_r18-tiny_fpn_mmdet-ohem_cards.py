# MMDetection's own OHEMSampler: cls-loss ranking, 1:3 quota, no NMS.
_base_ = './_base_faster-rcnn_r18-tiny_fpn_cards.py'
model = dict(train_cfg=dict(rcnn=dict(sampler=dict(type='OHEMSampler'))))
