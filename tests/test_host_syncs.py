"""Host syncs of an OHEM step do not grow with the number of images.

On a GPU each read of a device value (``.item()``, ``.tolist()``, a tensor
in an ``if``, ``nonzero``) waits for every queued kernel. The counters
below patch those calls and count them during one ``OHEMRoIHead.loss``
with the readonly pass a GPU gets (``readonly_pass='batch'``). mmdet's
assigner runs per image under every sampler, so its calls are not
counted; mmdet's extractor and ``BBoxHead.loss`` are.
"""
import copy
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub

from mmdet_ohem.hooks import MiningStatsHook
from mmdet_ohem.testing import ohem_sampler
from helpers import batch_of, build_roi_head

COUNTED = [(torch.Tensor, 'item'), (torch.Tensor, 'tolist'),
           (torch.Tensor, '__bool__'), (torch.Tensor, 'nonzero'),
           (torch, 'nonzero')]


class SyncCounter:
    """Counts the patched calls while ``on``."""

    def __init__(self, monkeypatch):
        self.count, self.on = 0, False
        for owner, name in COUNTED:
            monkeypatch.setattr(owner, name, self._wrap(getattr(owner,
                                                                name)))

    def _wrap(self, original):

        def counted(*args, **kwargs):
            if self.on:
                self.count += 1
            return original(*args, **kwargs)

        return counted

    @contextmanager
    def paused(self):
        on, self.on = self.on, False
        try:
            yield
        finally:
            self.on = on


def syncs_of_a_step(monkeypatch, num_imgs, sampler, with_hook):
    head = build_roi_head(sampler, 'OHEMRoIHead')
    head.readonly_pass = 'batch'
    counter = SyncCounter(monkeypatch)
    assign = head.bbox_assigner.assign

    def uncounted_assign(*args, **kwargs):
        with counter.paused():
            return assign(*args, **kwargs)

    monkeypatch.setattr(head.bbox_assigner, 'assign', uncounted_assign)
    x, proposals, samples = batch_of(num_imgs)
    hook = MiningStatsHook()
    runner = SimpleNamespace(
        model=SimpleNamespace(roi_head=head),
        message_hub=MessageHub.get_instance('test_host_syncs'))
    counter.on = True
    head.loss(x, copy.deepcopy(proposals), samples)
    if with_hook:
        hook.after_train_iter(runner, 0)
    counter.on = False
    assert head.bbox_sampler.stats['num_picked'] == 24
    if with_hook:
        assert runner.message_hub.get_scalar(
            'train/ohem/num_picked').current() == 24
    return counter.count


@pytest.mark.parametrize('with_hook', [False, True])
@pytest.mark.parametrize('sampler', [
    ohem_sampler(num=24),
    ohem_sampler(num=24, nms_thr=0.5, nms_per_label=True),
    ohem_sampler(num=24, nms_thr=None, pos_fraction=0.25, neg_pos_ub=3),
    # the shipped mining: per-label NMS and the random share
    ohem_sampler(num=24, nms_thr=0.5, nms_per_label=True,
                 random_fraction=0.5),
],
                         ids=['by-loss', 'per-label', 'quota', 'shipped'])
def test_syncs_per_step_do_not_grow_with_images(monkeypatch, sampler,
                                                with_hook):
    counts = [
        syncs_of_a_step(monkeypatch, n, sampler, with_hook)
        for n in (1, 2, 8)
    ]
    assert counts[0] == counts[1] == counts[2], counts
    # mmdet's own: the extractor's nonzero per level, twice (readonly and
    # trainable pass), BBoxHead.loss's few; ours: a handful per step.
    assert counts[0] <= 20, counts
