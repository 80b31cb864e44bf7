# Mask R-CNN with OHEMRoIHead and the entry mining (../_base_/ohem_mining.py):
# boxes are mined by their loss; the mask branch trains on the picked
# positives plus other positive candidates at random, up to 128 per image
# as stock Mask R-CNN (OHEMRoIHead's mask_num_pos).
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/ohem_mining.py'
]
model = _base_.ohem_model
