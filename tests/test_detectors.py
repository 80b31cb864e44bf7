"""A training step of whole detectors (ResNet-18, demo_mm_inputs)."""
import math
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS

from mmdet_ohem.testing import demo_batch, ohem_sampler, small_detector_cfg

MMDET_RANDOM = dict(type='RandomSampler', num=128, pos_fraction=0.25)
MMDET_OHEM = dict(type='OHEMSampler', num=128, pos_fraction=0.25)


def train_step(kind, sampler, head_type=None):
    torch.manual_seed(0)
    model = MODELS.build(
        small_detector_cfg(kind, sampler, head_type, num_classes=4))
    model.init_weights()
    model.train()
    data = demo_batch(model, size=192, num_classes=4,
                      with_mask=kind == 'mask')
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    before = [p.detach().clone() for _, p in trainable]
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    loss.backward()
    optim.step()
    changed = {
        n.split('.')[0]
        for b, (n, p) in zip(before, trainable) if not torch.equal(b, p)
    }
    return model, log_vars, changed


@pytest.mark.parametrize('kind,sampler,head_type', [
    ('faster', MMDET_RANDOM, None),
    ('faster', MMDET_OHEM, None),
    ('faster', ohem_sampler(64), None),
    ('faster', ohem_sampler(64), 'OHEMRoIHead'),
    ('mask', ohem_sampler(64), 'OHEMRoIHead'),
    ('cascade', ohem_sampler(64), None),
])
def test_train_step(kind, sampler, head_type):
    model, log_vars, changed = train_step(kind, sampler, head_type)
    assert math.isfinite(log_vars['loss'])
    keys = [k for k in log_vars if 'loss_cls' in k]
    assert keys, log_vars
    if kind == 'mask':
        assert log_vars['loss_mask'] > 0
    # Gradients reached every part of the detector.
    assert changed == {'backbone', 'neck', 'rpn_head', 'roi_head'}
    bbox_heads = model.roi_head.bbox_head
    for head in bbox_heads if isinstance(bbox_heads, list) else [bbox_heads]:
        assert any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in head.parameters())


def test_mask_branch_trains_on_enough_positives():
    """Stock Mask R-CNN's count (128 per image where the candidates have
    them), the picked positives among them; not only the few picks."""
    torch.manual_seed(0)
    model = MODELS.build(
        small_detector_cfg('mask', ohem_sampler(24), 'OHEMRoIHead',
                           num_classes=4))
    model.train()
    head = model.roi_head
    head.mask_num_pos = 40
    data = demo_batch(model, size=192, num_items=[6, 2], num_classes=4,
                      with_mask=True)
    seen = {}
    loss_and_target = head.mask_head.loss_and_target
    pick = head.bbox_sampler.pick

    def record_masks(*args, **kwargs):
        seen['mask'] = [r.pos_inds for r in kwargs['sampling_results']]
        return loss_and_target(*args, **kwargs)

    def record_picks(*args, **kwargs):
        out = pick(*args, **kwargs)
        seen['picks'] = [r.pos_inds for r in out.results]
        seen['candidates'] = [len(c.result.pos_inds) for c in args[0]]
        return out

    head.mask_head.loss_and_target = record_masks
    head.bbox_sampler.pick = record_picks
    head.readonly_pass = 'batch'
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_mask'])
    for mask, picked, num_cands in zip(seen['mask'], seen['picks'],
                                       seen['candidates']):
        assert len(mask) == max(min(40, num_cands), len(picked))
        assert len(mask) > len(picked)  # more than the box picks
        assert set(picked.tolist()) <= set(mask.tolist())
        assert torch.equal(mask, mask.unique())  # sorted, no repeats


def test_every_cascade_stage_selects_by_loss():
    """The shipped cascade config: stages 2 and 3 keep fewer RoIs than
    they are offered (with mmdet's 512 everywhere they kept them all)."""
    from mmengine.config import Config
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'configs', 'ohem',
                    'cascade-rcnn_r50_fpn_loss-ranked-ohem_1x_coco.py')
    stages = Config.fromfile(path).model.train_cfg.rcnn
    cfg = small_detector_cfg('cascade', num_classes=4)
    cfg.train_cfg.rcnn = stages
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    data = demo_batch(model, size=192, num_items=[8, 8], num_classes=4)
    model(**data, mode='loss')
    samplers = model.roi_head.bbox_sampler
    assert [s.num for s in samplers] == [256, 128, 64]
    for i, sampler in enumerate(samplers):
        stats = sampler.stats
        # The loss ranking cut the NMS survivors (the stage before's picks,
        # refined, and the gt boxes) to the stage's budget.
        assert stats['num_after_nms'] > stats['num_picked'], (i, stats)
        assert stats['num_picked'] == sampler.num
    assert samplers[1].stats['num_candidates'] <= 256 + 8
