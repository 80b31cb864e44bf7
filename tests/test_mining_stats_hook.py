"""MiningStatsHook: the samplers' stats reach the message hub and the log."""
import copy
import itertools
import logging
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import MODEL_WRAPPERS
from mmengine.runner import LogProcessor

from mmdet_ohem.hooks import (MiningStatsHook, find_mining_samplers,
                              mining_stats_hook)
from helpers import build_roi_head

KEYS = ('num_candidates', 'num_after_nms', 'num_picked', 'fg_share',
        'loss_picked', 'loss_all')
_hub_ids = itertools.count()
CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                   'configs')


class FakeSampler:
    """Stands for LossRankedOHEMSampler: a new ``stats`` dict per call."""

    def __init__(self):
        self.stats = {}

    def record(self, fg_share, loss_picked=1.0):
        self.stats = dict(num_candidates=1000., num_after_nms=700.,
                          num_picked=64.,
                          fg_share=fg_share, loss_picked=loss_picked,
                          loss_all=0.5)


class FakeDetector(torch.nn.Module):

    def __init__(self, bbox_sampler):
        super().__init__()
        self.roi_head = SimpleNamespace(bbox_sampler=bbox_sampler)


@MODEL_WRAPPERS.register_module(force=True)
class _HookTestWrapper(torch.nn.Module):

    def __init__(self, module):
        super().__init__()
        self.module = module


def fake_runner(model, window_size=10):
    hub = MessageHub.get_instance(f'mining_stats_hook_{next(_hub_ids)}')
    return SimpleNamespace(model=model, message_hub=hub,
                           log_processor=LogProcessor(window_size=window_size))


def scalars(runner):
    return {k: v for k, v in runner.message_hub.log_scalars.items()
            if k.startswith('train/ohem/')}


def test_stats_land_in_message_hub_under_train_ohem():
    sampler = FakeSampler()
    runner = fake_runner(FakeDetector(sampler))
    hook = MiningStatsHook()
    sampler.record(fg_share=0.25)
    hook.after_train_iter(runner, batch_idx=0)
    hub = scalars(runner)
    assert sorted(hub) == sorted(f'train/ohem/{k}' for k in KEYS)
    assert hub['train/ohem/fg_share'].current() == 0.25
    assert hub['train/ohem/num_picked'].current() == 64.


def test_logged_values_are_window_means():
    """What mmengine's LogProcessor reports: losses it averages itself;
    the others it would report as the last value, so the hook pushes
    their running mean over the same window."""
    sampler = FakeSampler()
    runner = fake_runner(FakeDetector(sampler), window_size=2)
    hook = MiningStatsHook()
    for fg, loss in [(0.1, 1.0), (0.2, 2.0), (0.6, 4.0)]:
        sampler.record(fg_share=fg, loss_picked=loss)
        hook.after_train_iter(runner, batch_idx=0)
    hub = scalars(runner)
    # loss_* match the LogProcessor's mean_pattern: pushed raw
    assert hub['train/ohem/loss_picked'].current() == 4.0
    assert hub['train/ohem/fg_share'].current() == pytest.approx(0.4)

    tag = runner.log_processor._collect_scalars([], runner, 'train')
    assert tag['ohem/fg_share'] == pytest.approx((0.2 + 0.6) / 2)
    assert tag['ohem/loss_picked'] == pytest.approx((2.0 + 4.0) / 2)
    assert tag['ohem/num_candidates'] == 1000.


def test_window_size_argument_overrides_the_loggers():
    sampler = FakeSampler()
    runner = fake_runner(FakeDetector(sampler), window_size=50)
    hook = MiningStatsHook(window_size=1)
    for fg in (0.1, 0.3):
        sampler.record(fg_share=fg)
        hook.after_train_iter(runner, batch_idx=0)
    assert scalars(runner)['train/ohem/fg_share'].current() == 0.3
    with pytest.raises(ValueError, match='window_size'):
        MiningStatsHook(window_size=0)


def test_stale_stats_are_not_pushed_twice():
    sampler = FakeSampler()
    runner = fake_runner(FakeDetector(sampler))
    hook = MiningStatsHook()
    sampler.record(fg_share=0.5)
    hook.after_train_iter(runner, batch_idx=0)
    hook.after_train_iter(runner, batch_idx=1)  # sampler did not run
    values, counts = scalars(runner)['train/ohem/fg_share'].data
    assert len(values) == 1


def test_cascade_stages_get_a_prefix_and_other_samplers_are_skipped():
    stages = [FakeSampler(), object(), FakeSampler()]
    stages[0].record(fg_share=0.3)
    stages[2].record(fg_share=0.7)
    runner = fake_runner(FakeDetector(stages))
    MiningStatsHook().after_train_iter(runner, batch_idx=0)
    hub = scalars(runner)
    assert sorted(hub) == sorted(
        f'train/ohem/s{i}.{k}' for i in (0, 2) for k in KEYS)
    assert hub['train/ohem/s0.fg_share'].current() == 0.3
    assert hub['train/ohem/s2.fg_share'].current() == 0.7


def test_model_wrapper_is_unwrapped():
    sampler = FakeSampler()
    sampler.record(fg_share=0.125)
    runner = fake_runner(_HookTestWrapper(FakeDetector(sampler)))
    MiningStatsHook().after_train_iter(runner, batch_idx=0)
    assert scalars(runner)['train/ohem/fg_share'].current() == 0.125


@pytest.mark.parametrize('model', [
    FakeDetector(SimpleNamespace(num=512)),  # RandomSampler: no stats
    torch.nn.Linear(2, 2),  # no roi_head at all
])
def test_no_mining_sampler_warns_once_and_logs_nothing(model, monkeypatch):
    warnings = []
    monkeypatch.setattr(mining_stats_hook, 'print_log',
                        lambda msg, **kwargs: warnings.append(msg))
    runner = fake_runner(model)
    hook = MiningStatsHook()
    for i in range(3):
        hook.after_train_iter(runner, batch_idx=i)
    assert scalars(runner) == {}
    assert len(warnings) == 1
    assert 'LossRankedOHEMSampler' in warnings[0]


def test_real_ohem_roi_head(roi_batch, paper_sampler):
    head = build_roi_head(paper_sampler, 'OHEMRoIHead')
    model = FakeDetector(None)
    model.roi_head = head
    assert find_mining_samplers(model) == [('', head.bbox_sampler)]
    x, proposals, samples = roi_batch
    head.loss(x, copy.deepcopy(proposals), samples)
    runner = fake_runner(model)
    MiningStatsHook().after_train_iter(runner, batch_idx=0)
    hub = scalars(runner)
    assert sorted(hub) == sorted(f'train/ohem/{k}' for k in KEYS)
    assert hub['train/ohem/num_picked'].current() == 24  # per image
    assert hub['train/ohem/num_after_nms'].current() < \
        hub['train/ohem/num_candidates'].current()
    assert 0 < hub['train/ohem/fg_share'].current() < 1
    assert hub['train/ohem/loss_picked'].current() >= \
        hub['train/ohem/loss_all'].current()


class FakeTwoStage(FakeDetector):
    """FakeDetector with mmdet's ``train_cfg`` of a two-stage detector."""

    def __init__(self, bbox_sampler, rpn_iou):
        super().__init__(bbox_sampler)
        self.train_cfg = dict(rcnn=dict()) if rpn_iou is None else dict(
            rpn_proposal=dict(nms=dict(type='nms', iou_threshold=rpn_iou)))


def nms_sampler(nms_thr):
    sampler = FakeSampler()
    sampler.nms_thr = nms_thr
    return sampler


@pytest.mark.parametrize('nms_thr,rpn_iou,warns', [
    (0.7, 0.7, True),  # the paper's 0.7 under mmdet's RPN
    (0.8, 0.7, True),
    (0.5, 0.7, False),
    (None, 0.7, False),  # NMS by loss off
    (0.7, None, False),  # Fast R-CNN: precomputed proposals
])
def test_warns_before_training_when_rpn_nms_makes_loss_nms_redundant(
        monkeypatch, nms_thr, rpn_iou, warns):
    logged = []
    monkeypatch.setattr(mining_stats_hook, 'print_log',
                        lambda msg, **kwargs: logged.append((msg, kwargs)))
    model = FakeTwoStage(nms_sampler(nms_thr), rpn_iou)
    MiningStatsHook().before_train(fake_runner(_HookTestWrapper(model)))
    assert len(logged) == int(warns)
    if warns:
        msg, kwargs = logged[0]
        assert f'nms_thr={nms_thr} >= the RPN proposal NMS IoU 0.7' in msg
        assert kwargs['level'] == logging.WARNING


def test_cascade_stages_are_named_in_the_nms_warning():
    model = FakeTwoStage([nms_sampler(0.5), nms_sampler(0.7)], 0.7)
    assert mining_stats_hook.redundant_loss_nms(model) == [('s1.', 0.7, 0.7)]


@pytest.mark.parametrize('config,redundant', [
    ('faster_rcnn_ohem.py', False),
    ('ohem/faster-rcnn_r50_fpn_loss-ranked-ohem-paper_1x_coco.py', True),
    ('benchmarks/hard_negatives/'
     'faster-rcnn_r18-tiny_fpn_ohem-paper_hard-negatives.py', True),
    ('benchmarks/hard_negatives/'
     'faster-rcnn_r18-tiny_fpn_ohem_hard-negatives.py', False),
])
def test_shipped_configs_against_the_nms_check(config, redundant):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    model = MODELS.build(cfg.model)
    assert bool(mining_stats_hook.redundant_loss_nms(model)) == redundant
