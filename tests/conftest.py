"""Shared fixtures: a ResNet-18 Faster R-CNN RoI head on hand-made RoIs."""
import copy
import importlib.util
import os
import os.path as osp
import socket
import sys
from types import ModuleType

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.structures import InstanceData

import mmdet_ohem  # noqa: F401
from mmdet_ohem.testing import ohem_sampler, small_detector_cfg

register_all_modules()
# The real-photo sets are read in place beside the repository when there;
# their configs find them through these variables (as a user sets them).
_SHARED = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '..',
                   'shared', 'datasets')
for _var, _name in (('RACCOON_ROOT', 'raccoon'), ('BCCD_ROOT', 'bccd')):
    if osp.isdir(osp.join(_SHARED, _name)):
        os.environ.setdefault(_var,
                              osp.normpath(osp.join(_SHARED, _name)) + '/')
# Tools loaded as modules find their helpers (tools/_package_files.py,
# tools/analysis/compare.py) as they do when run as scripts.
_TOOLS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools')
sys.path[:0] = [_TOOLS, osp.join(_TOOLS, 'analysis')]

NUM_CLASSES = 4
IMG = 128


def jittered_proposals(gt: torch.Tensor, num_random: int,
                       generator: torch.Generator) -> torch.Tensor:
    """Many RoIs around each gt box (positives) plus random background."""
    near = gt.repeat(12, 1)
    near = near + torch.randn(near.shape, generator=generator) * 4
    xy = torch.rand(num_random, 2, generator=generator) * (IMG - 24)
    wh = 8 + torch.rand(num_random, 2, generator=generator) * 40
    rand = torch.cat([xy, (xy + wh).clamp(max=IMG)], 1)
    boxes = torch.cat([near, rand])
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 2)
    return boxes.clamp(0, IMG)


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


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a module (tools/ is no package), e.g.
    ``load_tool('analysis/benchmark')``."""
    path = osp.join(_TOOLS, f'{name}.py')
    spec = importlib.util.spec_from_file_location(
        name.replace('/', '_') + '_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require(condition: bool, reason: str) -> None:
    """Skip without ``condition`` on a user's machine; fail in CI.

    CI (the ``CI`` environment variable set) has every precondition these
    tests need (the real photos beside the checkout, a Linux /proc), so a
    missing one there is an error, not a reason to skip.
    """
    if condition:
        return
    if os.environ.get('CI'):
        pytest.fail(f'CI lacks a precondition of this test: {reason}')
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port free now; torchrun binds it a moment later."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def build_roi_head(sampler: dict, head_type: str = 'StandardRoIHead',
                   seed: int = 0):
    """The RoI head of the small Faster R-CNN, weights from ``seed``."""
    torch.manual_seed(seed)
    cfg = small_detector_cfg(sampler=sampler, roi_head_type=head_type,
                             num_classes=NUM_CLASSES)
    return roi_head_of(cfg)


def roi_head_of(cfg):
    """Build and initialise the RoI head of a detector ``model`` config."""
    roi_head = copy.deepcopy(cfg.roi_head)
    roi_head.update(train_cfg=cfg.train_cfg.rcnn, test_cfg=cfg.test_cfg.rcnn)
    head = MODELS.build(roi_head)
    head.init_weights()
    # Larger logits than the 0.01-std init, so RoIs' losses differ clearly.
    with torch.no_grad():
        head.bbox_head.fc_cls.weight.normal_(0, 0.05)
        head.bbox_head.fc_reg.weight.normal_(0, 0.05)
    head.train()
    return head


@pytest.fixture
def paper_sampler():
    # The paper's NMS IoU (the shipped configs' is 0.5).
    return ohem_sampler(num=24, nms_thr=0.7)
