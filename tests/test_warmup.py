"""OHEM warm-up: random picks with a quota for the first iterations."""
import copy

import pytest
import torch
from mmengine.logging import MessageHub

from mmdet_ohem.testing import ohem_sampler
from helpers import build_roi_head


def picks(head, roi_batch):
    """What a training step of ``head`` would pick."""
    x, proposals, samples = roi_batch
    return head.mine_hard_examples(
        x, head.assign(copy.deepcopy(proposals), samples)).picks


@pytest.fixture
def hub():
    hub = MessageHub.get_instance('test_warmup')
    yield hub
    hub.pop_info('iter', None)


def test_warmup_picks_at_random_with_the_quota(roi_batch, hub):
    head = build_roi_head(
        ohem_sampler(num=24, warmup_iters=3), 'OHEMRoIHead')
    paper = build_roi_head(ohem_sampler(num=24), 'OHEMRoIHead')
    hard = picks(paper, roi_batch)

    hub.update_info('iter', 2)  # the last warm-up iteration
    assert head.bbox_sampler.in_warmup
    torch.manual_seed(0)
    first = picks(head, roi_batch)
    for result in first:
        # RandomSampler's rule: int(24 * 0.25) = 6 positives, 18 negatives
        # (every image of the batch has more of both).
        assert len(result.pos_inds) == 6 and len(result.neg_inds) == 18
    torch.manual_seed(1)
    second = picks(head, roi_batch)
    assert any(not torch.equal(a.neg_inds, b.neg_inds)
               for a, b in zip(first, second))
    assert any(not torch.equal(a.neg_inds, h.neg_inds)
               for a, h in zip(first, hard))

    hub.update_info('iter', 3)  # mining starts
    assert not head.bbox_sampler.in_warmup
    after = picks(head, roi_batch)
    for a, h in zip(after, hard):
        assert torch.equal(a.pos_inds, h.pos_inds)
        assert torch.equal(a.neg_inds, h.neg_inds)


def test_no_runner_no_warmup(hub):
    head = build_roi_head(ohem_sampler(num=24, warmup_iters=3))
    hub.pop_info('iter', None)
    assert not head.bbox_sampler.in_warmup


@pytest.mark.parametrize('key, value', [('warmup_iters', -1),
                                        ('warmup_iters', 1.5),
                                        ('warmup_pos_fraction', 1.5)])
def test_bad_warmup_settings_fail_at_build_time(key, value):
    with pytest.raises(ValueError, match=key):
        build_roi_head(ohem_sampler(num=24, **{key: value}))
