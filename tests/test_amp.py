"""Mixed precision: OHEM under autocast, as ``--amp`` trains on a GPU.

CPU autocast in float16 stands in for CUDA AMP: the FPN features are
float16 and mmdet's ``SingleRoIExtractor`` casts the RoIs to their dtype
before mapping them to levels, so float16 rounding and overflow (areas
above 65504) decide the levels.
"""
import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet_ohem.roi_heads.roi_feature_replay import (replay_roi_features,
                                                     rois_by_level)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ENTRY_CONFIG = osp.join(ROOT, 'configs', 'faster_rcnn_ohem.py')
IMG = 800
FINEST_SCALE = 56  # SingleRoIExtractor's default


def entry_roi_head():
    """The RoI head of the entry config, built as the detector builds it."""
    model = Config.fromfile(ENTRY_CONFIG).model
    cfg = copy.deepcopy(model.roi_head)
    cfg.update(train_cfg=model.train_cfg.rcnn, test_cfg=model.test_cfg.rcnn)
    torch.manual_seed(0)
    head = MODELS.build(cfg)
    head.init_weights()
    head.train()
    return head


def boundary_rois(num_imgs=2):
    """Square and flat boxes at every level boundary, and huge ones.

    A box of side ``s`` goes to level ``floor(log2(s / 56))``: the
    boundaries are at 112, 224 and 448 px. Sides just around them round in
    float16 (and bfloat16), and areas above 65504 overflow float16.
    """
    sides = []
    for edge in (FINEST_SCALE * 2, FINEST_SCALE * 4, FINEST_SCALE * 8):
        sides += [edge + d for d in (-0.6, -0.2, -0.05, 0, 0.05, 0.2, 0.6)]
    sides += [257., 300., 600., 799.]  # area > 65504
    boxes = []
    for s in sides:
        boxes.append([0.3, 0.7, 0.3 + s, 0.7 + s])
        boxes.append([1.1, 2.2, 1.1 + 2 * s, 2.2 + s / 2])  # same area
    boxes = torch.tensor(boxes).clamp(max=IMG - 1)
    img = torch.arange(num_imgs).repeat_interleave(len(boxes))
    return torch.cat([img[:, None].float(), boxes.repeat(num_imgs, 1)], 1)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_replay_maps_levels_as_the_extractor_does(dtype):
    extractor = entry_roi_head().bbox_roi_extractor
    rois = boundary_rois()
    # The case that broke: float32 and the features' dtype disagree.
    levels = extractor.map_roi_levels
    assert not torch.equal(levels(rois, 4), levels(rois.to(dtype), 4))

    feats = tuple(
        torch.zeros(2, 256, IMG // s, IMG // s, dtype=dtype)
        for s in (4, 8, 16, 32))
    cached = torch.arange(len(rois), dtype=torch.float32).view(
        -1, 1, 1, 1).expand(-1, 256, 7, 7).to(dtype)
    with replay_roi_features(extractor, rois, cached):
        out = extractor(feats, rois)
    assert out.dtype == dtype
    assert torch.equal(out, cached)  # every row from its own level
    rows, counts = rois_by_level(extractor, rois, dtype)
    assert sum(counts) == len(rois) and min(counts) > 0
    assert torch.equal(torch.cat(rows).sort()[0], torch.arange(len(rois)))


def test_replay_with_other_rois_is_refused():
    extractor = entry_roi_head().bbox_roi_extractor
    rois = boundary_rois()
    feats = tuple(torch.zeros(2, 256, 8, 8) for _ in range(4))
    cached = torch.zeros(len(rois), 256, 7, 7)
    other = rois.clone()
    other[:, 1] += 0.25  # same levels, other boxes
    with pytest.raises(RuntimeError, match='other RoIs than cached'):
        with replay_roi_features(extractor, rois, cached):
            extractor(feats, other)


def amp_batch(dtype, seed=0):
    """Features of two 800 px images, proposals of 8 to 800 px."""
    g = torch.Generator().manual_seed(seed)
    x = tuple(
        torch.randn(2, 256, IMG // s, IMG // s, generator=g).to(dtype)
        for s in (4, 8, 16, 32, 64))
    samples, proposals = [], []
    for i in range(2):
        gt = torch.tensor([[20., 30., 90., 110.], [100., 150., 420., 470.],
                           [300., 50., 790., 700.]])
        sample = DetDataSample(metainfo=dict(
            img_shape=(IMG, IMG), ori_shape=(IMG, IMG), scale_factor=(1, 1),
            pad_shape=(IMG, IMG), batch_input_shape=(IMG, IMG)))
        sample.gt_instances = InstanceData(bboxes=gt,
                                           labels=torch.tensor([0, 5, 17]))
        samples.append(sample)
        near = gt.repeat(20, 1) + torch.randn(60, 4, generator=g) * 12
        side = torch.exp(
            torch.empty(150).uniform_(2, 6.7, generator=g))[:, None]
        xy = torch.rand(150, 2, generator=g) * (IMG - side)
        boxes = torch.cat([near, torch.cat([xy, xy + side], 1)])
        boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 4)
        boxes = boxes.clamp(0, IMG - 1)
        proposals.append(
            InstanceData(bboxes=boxes,
                         scores=torch.rand(len(boxes), generator=g)))
    return x, proposals, samples


def amp_step(dtype):
    head = entry_roi_head()
    x, proposals, samples = amp_batch(dtype)
    x = tuple(lvl.requires_grad_() for lvl in x)
    with torch.autocast('cpu', dtype=torch.float16,
                        enabled=dtype == torch.float16):
        losses = head.loss(x, proposals, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    return head, x, losses


def test_a_float16_autocast_step_trains_on_as_many_picks():
    head16, x16, losses16 = amp_step(torch.float16)
    head32, _, losses32 = amp_step(torch.float32)
    assert head16.bbox_sampler.stats['num_picked'] == \
        head32.bbox_sampler.stats['num_picked'] == 64
    for key in ('loss_cls', 'loss_bbox'):
        assert torch.isfinite(losses16[key]), key
        assert losses16[key].dtype == torch.float32  # as under CUDA AMP
    for lvl in x16[:4]:  # the RoI extractor's levels (strides 4 to 32)
        assert lvl.grad is not None and torch.isfinite(lvl.grad).all()
        assert lvl.grad.abs().sum() > 0
    for name, p in head16.bbox_head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
