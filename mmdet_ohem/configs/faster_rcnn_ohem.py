# OHEM (arXiv 1604.03540) on Faster R-CNN R50-FPN 1x, COCO: the entry point.
#
# OHEMRoIHead with the entry mining of _base_/ohem_mining.py: one readonly
# pass of the box head over every candidate RoI, per-RoI loss = CE + box
# loss, NMS by loss at IoU 0.5 per image and per label (a hard negative
# never suppresses a positive); of each image's B/N = 128/2 = 64 picks, 32
# are the hardest survivors (no fg:bg quota) and 32 are drawn at random
# from the other candidates (1:3); background IoU in [0, 0.5) (mmdet's
# MaxIoUAssigner). Only the picks go through the trainable pass.
#
# The paper's exact mining (NMS 0.7, all picks by loss) is
# ohem/faster-rcnn_r50_fpn_loss-ranked-ohem-paper_1x_coco.py; the configs,
# their results and why the entry mining differs: ohem/README.md.
#
#   python tools/train.py configs/faster_rcnn_ohem.py   # needs data/coco
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    './_base_/ohem_mining.py'
]
model = _base_.ohem_model
