"""tools/analysis/run_bench.py: the jobs it plans and the tables it writes."""
import argparse
import json
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
    jobs, dirs = bench.plan('synthetic', 'scratch', list(bench.VARIANTS), [3],
                            'w', 400, 200)
    assert len(jobs) == len(bench.VARIANTS)
    for job in jobs:
        cfg = config_of(job)
        variant = job.name.split('/')[2]
        sampler = cfg.model.train_cfg.rcnn.sampler
        assert cfg.randomness.seed == 3
        assert cfg.train_cfg.max_iters == 200
        assert cfg.param_scheduler[1].milestones == [150, 180]
        expected = dict(
            random='RandomSampler', **{
                'mmdet-ohem': 'OHEMSampler'
            }).get(variant, 'LossRankedOHEMSampler')
        assert sampler.type == expected, variant
        if expected == 'LossRankedOHEMSampler':
            assert cfg.model.roi_head.type == 'OHEMRoIHead'
            assert sampler.pos_fraction is None
            assert sampler.get(
                'scope',
                'image') == ('batch' if 'batch' in variant else 'image')
            assert sampler.get('nms_per_label',
                               False) == ('label' in variant
                                          or 'authors' in variant)
        assert dirs[variant, 3] == job.work_dir


def test_warm_start_continues_from_one_random_checkpoint(bench):
    jobs, _ = bench.plan('synthetic', 'warm', ['random', 'ohem-nms0.5'],
                         [0, 1], 'w', 400, None)
    first = [j for j in jobs if j.after is None]
    second = [j for j in jobs if j.after is not None]
    assert [j.name for j in first
            ] == ['synthetic/warm-start/s0', 'synthetic/warm-start/s1']
    assert len(second) == 4
    start = config_of(first[0])
    assert start.model.train_cfg.rcnn.sampler.type == 'RandomSampler'
    assert start.train_cfg.max_iters == 400
    for job in second:
        cfg = config_of(job)
        seed = cfg.randomness.seed
        assert job.after is first[seed]
        assert cfg.load_from == f'w/synthetic/warm-start_s{seed}/iter_400.pth'
        assert cfg.optim_wrapper.optimizer.lr == 0.01
        assert cfg.param_scheduler[0].start_factor == 1.0
        assert cfg.param_scheduler[1].milestones == [300]


class FakeJob:
    """A job that takes ``seconds`` and logs its start and end."""

    def __init__(self, name, seconds, log, after=None, returncode=0):
        self.name, self.work_dir = name, name
        self.seconds, self.log, self.after = seconds, log, after
        self.returncode = returncode

    def done(self):
        return False

    def start(self, python):
        self.log.append(('start', self.name))
        outer = self

        class Proc:
            returncode = self.returncode

            def __init__(self):
                self.polls = 0

            def poll(self):
                self.polls += 1
                if self.polls < outer.seconds:
                    return None
                if ('end', outer.name) not in outer.log:
                    outer.log.append(('end', outer.name))
                return self.returncode

            def terminate(self):
                outer.log.append(('terminate', outer.name))

        return Proc()


def test_runs_start_as_soon_as_their_own_warm_start_ends(bench, monkeypatch):
    monkeypatch.setattr(bench.time, 'sleep', lambda s: None)
    log = []
    warm0 = FakeJob('warm0', 1, log)
    warm1 = FakeJob('warm1', 5, log)
    jobs = [
        warm0,
        FakeJob('a0', 1, log, warm0),
        FakeJob('b0', 1, log, warm0), warm1,
        FakeJob('a1', 1, log, warm1)
    ]
    bench.run_jobs(jobs, 2, 'python')
    starts = [name for kind, name in log if kind == 'start']
    assert starts[:2] == ['warm0', 'warm1']  # a0 must wait for warm0
    # warm0 ended first: its runs take the free slot while warm1 runs on.
    assert log.index(('start', 'a0')) < log.index(('end', 'warm1'))
    for name, after in (('a0', 'warm0'), ('b0', 'warm0'), ('a1', 'warm1')):
        assert log.index(('end', after)) < log.index(('start', name))
    assert sorted(starts) == sorted(j.name for j in jobs)


def test_summary_pairs_deltas_by_seed(bench):
    summary = dict(
        set='bccd',
        regime='scratch',
        metric='bbox_mAP',
        runs=dict(random={
            '0': 40.0,
            '1': 50.0
        }, ohem={
            '0': 42.5,
            '1': 49.0
        }))
    table = bench.format_summary(summary)
    assert '| random | 40.0 | 50.0 | 45.0 ± 7.1 |  |  |' in table
    assert '| ohem | 42.5 | 49.0 | 45.8 ± 4.6 | +2.5 / -1.0 | +0.8 |' in table


def test_a_run_of_other_variants_keeps_the_tables_rows(bench, tmp_path):
    path = tmp_path / 'bccd_scratch.json'
    old = dict(
        set='bccd',
        regime='scratch',
        metric='bbox_mAP',
        runs={
            'random': {
                '0': 40.0
            },
            'ohem-nms0.5': {
                '0': 44.0
            },
            'mmdet-ohem': {
                '0': 30.0
            }
        })
    path.write_text(json.dumps(old))
    new = dict(
        old,
        runs={
            'random': {
                '0': 41.0
            },
            'mmdet-ohem': {
                '0': 31.0,
                '1': 32.0
            }
        })
    merged = bench.merge_summary(str(path), new)
    assert merged['runs'] == {
        'random': {
            '0': 41.0
        },
        'mmdet-ohem': {
            '0': 31.0,
            '1': 32.0
        },
        'ohem-nms0.5': {
            '0': 44.0
        }
    }
    # Another metric: nothing to merge with.
    assert bench.merge_summary(str(path), dict(new, metric='x')) == dict(
        new, metric='x')
    assert bench.merge_summary(str(tmp_path / 'none.json'), new) == new


def test_a_failed_run_stops_the_others(bench, monkeypatch):
    monkeypatch.setattr(bench.time, 'sleep', lambda s: None)
    log = []
    jobs = [
        FakeJob('long', 100, log),
        FakeJob('bad', 2, log, returncode=1),
        FakeJob('next', 1, log)
    ]
    with pytest.raises(SystemExit, match='bad failed'):
        bench.run_jobs(jobs, 2, 'python')
    assert ('terminate', 'long') in log
    assert ('start', 'next') not in log
