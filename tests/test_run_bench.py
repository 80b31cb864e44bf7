"""tools/analysis/run_bench.py: the jobs it plans and the tables it writes."""
import argparse
import os.path as osp

import pytest
from mmengine.config import Config, DictAction

from conftest import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def bench():
    return load_tool('analysis/run_bench')


def config_of(job):
    """The config ``tools/train.py`` would train for ``job``."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(['--cfg-options'] + job.options).cfg_options
    cfg = Config.fromfile(osp.join(ROOT, job.config))
    cfg.merge_from_dict(options)
    return cfg


def test_every_variant_is_a_valid_sampler_config(bench):
    _, jobs, dirs = bench.plan('synthetic', 'scratch', list(bench.VARIANTS),
                               [3], 'w', 400, 200)
    assert len(jobs) == len(bench.VARIANTS)
    for job in jobs:
        cfg = config_of(job)
        variant = job.name.split('/')[2]
        sampler = cfg.model.train_cfg.rcnn.sampler
        assert cfg.randomness.seed == 3
        assert cfg.train_cfg.max_iters == 200
        assert cfg.param_scheduler[1].milestones == [150, 180]
        expected = dict(random='RandomSampler', **{
            'mmdet-ohem': 'OHEMSampler'
        }).get(variant, 'LossRankedOHEMSampler')
        assert sampler.type == expected, variant
        if expected == 'LossRankedOHEMSampler':
            assert cfg.model.roi_head.type == 'OHEMRoIHead'
            assert sampler.pos_fraction is None
        assert dirs[variant, 3] == job.work_dir


def test_warm_start_continues_from_one_random_checkpoint(bench):
    first, second, _ = bench.plan('synthetic', 'warm',
                                  ['random', 'ohem-nms0.5'], [0, 1], 'w',
                                  400, None)
    assert [j.name for j in first] == ['synthetic/warm-start/s0',
                                       'synthetic/warm-start/s1']
    start = config_of(first[0])
    assert start.model.train_cfg.rcnn.sampler.type == 'RandomSampler'
    assert start.train_cfg.max_iters == 400
    for job in second:
        cfg = config_of(job)
        seed = cfg.randomness.seed
        assert cfg.load_from == f'w/synthetic/warm-start_s{seed}/iter_400.pth'
        assert cfg.optim_wrapper.optimizer.lr == 0.01
        assert cfg.param_scheduler[0].start_factor == 1.0
        assert cfg.param_scheduler[1].milestones == [300]


def test_summary_pairs_deltas_by_seed(bench):
    summary = dict(set='bccd', regime='scratch', metric='bbox_mAP',
                   runs=dict(random={'0': 40.0, '1': 50.0},
                             ohem={'0': 42.5, '1': 49.0}))
    table = bench.format_summary(summary)
    assert '| random | 40.0 | 50.0 | 45.0 ± 7.1 |  |  |' in table
    assert '| ohem | 42.5 | 49.0 | 45.8 ± 4.6 | +2.5 / -1.0 | +0.8 |' in table
