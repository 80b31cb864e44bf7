"""Fixtures and the session's set-up; plain helpers live in helpers.py."""
import os
import os.path as osp
import sys

import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.structures import InstanceData

import mmdet_ohem  # noqa: F401
from mmdet_ohem.testing import ohem_sampler
from helpers import IMG, NUM_CLASSES, ROOT, TOOLS, jittered_proposals

register_all_modules()
# The real-photo sets are read in place beside the repository when there;
# their configs find them through these variables (as a user sets them).
_SHARED = osp.join(ROOT, '..', 'shared', 'datasets')
for _var, _name in (('RACCOON_ROOT', 'raccoon'), ('BCCD_ROOT', 'bccd')):
    if osp.isdir(osp.join(_SHARED, _name)):
        os.environ.setdefault(_var,
                              osp.normpath(osp.join(_SHARED, _name)) + '/')
# The analysis tools import their siblings (run_bench -> compare), which a
# script finds in its own folder: so does helpers.load_tool here.
sys.path.insert(0, osp.join(TOOLS, 'analysis'))


@pytest.fixture
def roi_batch():
    """Features, proposals and gt for two images (fixed seed)."""
    g = torch.Generator().manual_seed(0)
    x = tuple(
        torch.randn(2, 256, IMG // s, IMG // s, generator=g)
        for s in (4, 8, 16, 32, 64))
    samples, proposals = [], []
    for i in range(2):
        gt = torch.tensor([[10., 10., 50., 60.], [60., 20., 120., 90.],
                           [30., 70., 70., 120.]])[:2 + i]
        sample = DetDataSample(metainfo=dict(
            img_shape=(IMG, IMG), ori_shape=(IMG, IMG), scale_factor=(1, 1),
            pad_shape=(IMG, IMG), batch_input_shape=(IMG, IMG)))
        sample.gt_instances = InstanceData(
            bboxes=gt, labels=torch.arange(len(gt)) % NUM_CLASSES)
        sample.ignored_instances = InstanceData(
            bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
        samples.append(sample)
        boxes = jittered_proposals(gt, 120, g)
        proposals.append(
            InstanceData(bboxes=boxes, scores=torch.rand(len(boxes),
                                                         generator=g)))
    return x, proposals, samples


@pytest.fixture
def paper_sampler():
    # The paper's NMS IoU (the shipped configs' is 0.5).
    return ohem_sampler(num=24, nms_thr=0.7)
