# Ours with NMS by loss at IoU 0.5 instead of the paper's 0.7.
#
# The paper mined Selective Search proposals, which have no NMS of their
# own. Faster R-CNN's proposals already went through the RPN's NMS at IoU
# 0.7, so an NMS by loss at 0.7 removes almost nothing (~501 of ~503
# candidates per image survive here) and the picks pile up on a few objects
# (near-duplicate positives with large box loss, near-miss negatives). At
# 0.5 about 200 distinct regions per image survive to be ranked. The
# Focal Loss paper's best OHEM also used NMS 0.5.
_base_ = './faster-rcnn_r18-tiny_fpn_ohem_hard-negatives.py'
model = dict(train_cfg=dict(rcnn=dict(sampler=dict(nms_thr=0.5))))
