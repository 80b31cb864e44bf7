"""A training step of whole detectors (ResNet-18, demo_mm_inputs)."""
import math

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
