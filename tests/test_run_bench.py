"""tools/analysis/run_bench.py: variants as configs, the job pool (warm-start
dependency, resume, failure), the run record and the results file."""
import argparse
import hashlib
import json
import os
import os.path as osp
import threading
import time

import pytest
from mmengine.config import Config, DictAction

from mmdet_ohem.utils.provenance import environment
from helpers import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def bench():
    return load_tool('analysis/run_bench')


def config_of(job):
    """The config ``tools/train.py`` would train for ``job``."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cmd = job.command('python')
    options = parser.parse_args(cmd[cmd.index('--cfg-options'):]).cfg_options
    cfg = Config.fromfile(osp.join(ROOT, job.config))
    cfg.merge_from_dict(options)
    return cfg


def test_variants_are_the_shipped_configs(bench):
    jobs = bench.plan('synthetic', 'scratch', ['random', 'ohem'], [3], 'w',
                      400, None)
    assert [j.config for j in jobs] == [
        'configs/benchmarks/hard_negatives/'
        'faster-rcnn_r18-tiny_fpn_random_hard-negatives.py',
        'configs/benchmarks/hard_negatives/'
        'faster-rcnn_r18-tiny_fpn_ohem_hard-negatives.py'
    ]
    assert [j.work_dir for j in jobs] == [
        osp.join('w', 'synthetic', 'scratch', v, 'seed3')
        for v in ('random', 'ohem')
    ]
    random, ohem = (config_of(j) for j in jobs)
    assert random.randomness.seed == ohem.randomness.seed == 3
    assert random.model.train_cfg.rcnn.sampler.type == 'RandomSampler'
    sampler = ohem.model.train_cfg.rcnn.sampler
    assert sampler.type == 'LossRankedOHEMSampler'
    assert ohem.model.roi_head.type == 'OHEMRoIHead'
    # the schedule is the config's; no checkpoint is saved
    assert ohem.train_cfg.max_iters == 800
    assert ohem.default_hooks.checkpoint.interval == -1
    assert ohem.default_hooks.checkpoint.save_last is False


def test_a_missing_variant_names_the_available_ones(bench, capsys):
    with pytest.raises(ValueError) as error:
        bench.resolve_config('synthetic', 'ohem-nms0.5')
    message = str(error.value)
    assert "no config for variant 'ohem-nms0.5' on set 'synthetic'" in message
    assert 'random' in message and 'ohem-paper' in message
    assert set(bench.available_variants('synthetic')) >= {
        'random', 'ohem', 'mmdet-ohem', 'ohem-paper'
    }
    with pytest.raises(SystemExit):
        bench.parse_args(['--sets', 'synthetic', '--variants', 'nope'])
    assert "no config for variant 'nope'" in capsys.readouterr().err


def test_a_set_without_its_photos_needs_no_configs(bench, monkeypatch):
    monkeypatch.delenv('CARDS_ROOT', raising=False)
    args = bench.parse_args(['--sets', 'synthetic', 'cards'])
    assert not bench.has_data('cards') and bench.has_data('synthetic')
    assert args.variants == ['random', 'ohem']


def test_presets(bench):
    demo = bench.parse_args(['--preset', 'demo'])
    assert (demo.sets, demo.variants, demo.seeds,
            demo.regimes) == (['synthetic'], ['random', 'ohem'], [0],
                              ['scratch'])
    panel = bench.parse_args(['--preset', 'panel'])
    assert panel.sets == ['synthetic', 'bccd', 'raccoon', 'cards']
    assert panel.seeds == [0, 1, 2, 3, 4]
    assert bench.regimes_of(panel, 'synthetic') == ['scratch']
    assert bench.regimes_of(panel, 'cards') == ['scratch', 'warm']
    bench_args = bench.parse_args(['--preset', 'bench', '--sets',
                                   'synthetic'])
    assert bench.regimes_of(bench_args, 'synthetic') == ['scratch']
    sweep = bench.parse_args(['--preset', 'sweep'])
    assert (sweep.sets, sweep.seeds, sweep.regimes) == (
        ['bccd', 'raccoon', 'cards'], [0, 1, 2], ['scratch'])
    assert sweep.variants == ['random', 'ohem-rand0.25', 'ohem',
                              'ohem-rand0.75']
    comparisons = bench.parse_args(['--preset', 'comparisons'])
    assert (comparisons.sets, comparisons.seeds, comparisons.regimes) == (
        ['bccd', 'raccoon', 'cards'], [0, 1, 2], ['scratch'])
    assert comparisons.variants == ['random', 'mmdet-ohem', 'ohem-agnostic',
                                    'ohem-perlabel']


def test_warm_start_continues_from_one_random_checkpoint(bench):
    jobs = bench.plan('synthetic', 'warm', ['random', 'ohem'], [0, 1], 'w',
                      400, None)
    starts = [j for j in jobs if j.after is None]
    assert [j.name for j in starts] == [
        'synthetic/warm-start/random/s0', 'synthetic/warm-start/random/s1'
    ]
    start = config_of(starts[0])
    assert start.model.train_cfg.rcnn.sampler.type == 'RandomSampler'
    assert start.train_cfg.max_iters == 400
    assert start.default_hooks.checkpoint.interval == 400
    assert start.train_cfg.val_begin == 401  # not evaluated: not read
    assert starts[0].outputs == ['w/synthetic/warm-start/seed0/iter_400.pth']
    rest = [j for j in jobs if j.after is not None]
    assert len(rest) == 4
    for job in rest:
        cfg = config_of(job)
        seed = cfg.randomness.seed
        assert job.after is starts[seed]
        assert cfg.load_from == f'w/synthetic/warm-start/seed{seed}/' \
            'iter_400.pth'
        assert cfg.optim_wrapper.optimizer.lr == 0.01
        assert cfg.param_scheduler[0].start_factor == 1.0
        assert cfg.param_scheduler[1].milestones == [300]
        assert cfg.default_hooks.checkpoint.interval == -1


def fake_jobs(bench, tmp_path):
    """Two seeds of the warm regime, work dirs under tmp_path."""
    return bench.plan('synthetic', 'warm', ['random', 'ohem'], [0, 1],
                      str(tmp_path), 400, None)


def test_runs_start_as_soon_as_their_own_warm_start_ends(bench, tmp_path):
    jobs = fake_jobs(bench, tmp_path)
    log, lock = [], threading.Lock()
    durations = {'synthetic/warm-start/random/s0': 0.05,
                 'synthetic/warm-start/random/s1': 0.6}

    def run(job, stop):
        with lock:
            log.append(('start', job.name))
        time.sleep(durations.get(job.name, 0.05))
        with lock:
            log.append(('end', job.name))
        return {'job': job.name}

    records = bench.run_jobs(jobs, 2, run)
    assert records == {j: {'job': j.name} for j in jobs}
    starts = [name for kind, name in log if kind == 'start']
    assert set(starts[:2]) == {'synthetic/warm-start/random/s0',
                               'synthetic/warm-start/random/s1'}
    for job in jobs:
        if job.after is not None:
            assert log.index(('end', job.after.name)) < log.index(
                ('start', job.name))
    # seed 0's runs took the free slot while seed 1's warm start ran on
    assert log.index(('start', 'synthetic/warm/ohem/s0')) < log.index(
        ('end', 'synthetic/warm-start/random/s1'))


def write_record(job, bench, ap=20.0):
    os.makedirs(job.work_dir, exist_ok=True)
    for path in job.outputs:
        open(path, 'w').close()
    with open(osp.join(job.work_dir, bench.RECORD), 'w') as f:
        json.dump(dict(variant=job.variant, seed=job.seed, config=job.config,
                       options=job.options, metrics=dict(bbox_mAP=ap)), f)


def test_a_job_with_a_complete_record_is_not_run_again(bench, tmp_path,
                                                       capsys):
    jobs = fake_jobs(bench, tmp_path)
    warm0, random0 = jobs[0], jobs[1]
    write_record(warm0, bench)
    write_record(random0, bench, ap=12.5)
    # an incomplete record (no metric) is run again
    os.makedirs(jobs[2].work_dir)
    with open(osp.join(jobs[2].work_dir, bench.RECORD), 'w') as f:
        json.dump(dict(metrics=dict(bbox_mAP=None)), f)
    ran = []
    records = bench.run_jobs(jobs, 2,
                             lambda job, stop: ran.append(job) or {})
    assert warm0 not in ran and random0 not in ran
    assert jobs[2] in ran and len(ran) == len(jobs) - 2
    assert records[random0]['metrics']['bbox_mAP'] == 12.5
    assert 'synthetic/warm/random/s0: done before, kept' in \
        capsys.readouterr().out
    # a warm start whose checkpoint is gone is run again
    os.remove(warm0.outputs[0])
    assert warm0.record() is None
    # a record of other options (another --iters) is not this job's
    assert random0.record() is not None
    measured = random0.options
    assert any(o.startswith('default_hooks.checkpoint.') for o in measured)
    random0.options = measured + ['train_cfg.max_iters=100']
    assert random0.record() is None
    # other checkpoint options only: the same training, kept (a sweep
    # after the panel reuses random's runs that saved the warm start)
    random0.options = [
        o for o in measured if not o.startswith('default_hooks.checkpoint.')
    ] + ['default_hooks.checkpoint.interval=400']
    assert random0.record() is not None


def test_a_record_of_another_commit_is_run_again(bench, tmp_path):
    jobs = bench.plan('synthetic', 'scratch', ['random', 'ohem'], [0],
                      str(tmp_path), 400, None)
    old, same = jobs
    for job, commit in ((old, 'a' * 40), (same, 'b' * 40)):
        write_record(job, bench)
        path = osp.join(job.work_dir, bench.RECORD)
        with open(path) as f:
            record = json.load(f)
        with open(path, 'w') as f:
            json.dump(dict(record, commit=commit), f)
    assert old.record() is not None  # no commit asked: any is kept
    assert old.record('b' * 40) is None
    assert same.record('b' * 40)['commit'] == 'b' * 40
    ran = []
    records = bench.run_jobs(jobs, 2, lambda job, stop: ran.append(job) or
                             dict(commit='b' * 40), 'b' * 40)
    assert ran == [old]
    assert records[same]['metrics']['bbox_mAP'] == 20.0


def test_a_failed_run_stops_the_others(bench, tmp_path):
    jobs = bench.plan('synthetic', 'scratch', ['random', 'ohem'], [0, 1],
                      str(tmp_path), 400, None)
    log = []

    def run(job, stop):
        log.append(('start', job.name))
        if job.variant == 'ohem':
            raise bench.JobFailed(f'{job.name} failed (1)')
        for _ in range(200):  # the long one: until told to stop
            if stop.wait(0.01):
                log.append(('stopped', job.name))
                raise bench.JobFailed('stopped')
        return {}

    with pytest.raises(bench.JobFailed, match='ohem/s0 failed'):
        bench.run_jobs(jobs, 2, run)
    assert ('stopped', 'synthetic/scratch/random/s0') in log
    # the second seed never started
    assert not any(name.endswith('s1') for _, name in log)


CONFIG = "train_cfg = dict(max_iters=30)\n"


def fake_work_dir(job, ap=0.25, timestamp='20240101_000000'):
    """A finished work dir as mmengine's Runner leaves it."""
    run_dir = osp.join(job.work_dir, timestamp)
    os.makedirs(osp.join(run_dir, 'vis_data'))
    with open(osp.join(job.work_dir, osp.basename(job.config)), 'w') as f:
        f.write(CONFIG)
    with open(osp.join(run_dir, f'{timestamp}.log'), 'w') as f:
        f.write('log\n')
    lines = [dict(lr=0.02, loss=1.5 - i / 10, time=0.5, data_time=0.01,
                  iter=10 * (i + 1), step=10 * (i + 1)) for i in range(3)]
    lines.append({'coco/bbox_mAP': ap, 'coco/bbox_mAP_50': 0.5,
                  'coco/bbox_mAP_75': 0.2, 'coco/bbox_mAP_s': 0.1,
                  'coco/bbox_mAP_m': 0.3, 'coco/bbox_mAP_l': -1.0,
                  'time': 3.0, 'step': 30})
    with open(osp.join(run_dir, 'vis_data', 'scalars.json'), 'w') as f:
        f.write(''.join(json.dumps(r) + '\n' for r in lines))


def test_the_record_of_a_finished_work_dir(bench, tmp_path, monkeypatch):
    env = environment(bench.ROOT, threads=1)
    job = bench.plan('synthetic', 'scratch', ['ohem'], [2],
                     str(tmp_path / 'work_dirs'), 400, None)[0]
    # paths in the record are relative to the repository: here tmp_path
    monkeypatch.setattr(bench, 'ROOT', str(tmp_path))
    fake_work_dir(job)
    record = bench.make_record(job, 12.34, env)
    wd = osp.join('work_dirs', 'synthetic', 'scratch', 'ohem', 'seed2')
    assert record['variant'] == 'ohem' and record['seed'] == 2
    assert record['config'] == job.config
    assert record['config_dump'] == osp.join(wd, osp.basename(job.config))
    assert record['config_sha256'] == hashlib.sha256(
        CONFIG.encode()).hexdigest()
    assert isinstance(record['commit'], str) and len(record['commit']) == 40
    assert isinstance(record['dirty'], bool)
    assert set(record['versions']) == {'python', 'torch', 'mmcv', 'mmdet',
                                       'mmengine', 'mmdet_ohem'}
    assert all(isinstance(v, str) for v in record['versions'].values())
    assert isinstance(record['cpu'], str) and record['threads'] == 1
    assert record['hostname_hash'] is None
    assert record['wall_s'] == 12.3 and record['iters'] == 30
    assert record['metrics'] == pytest.approx(dict(
        bbox_mAP=25.0, bbox_mAP_50=50.0, bbox_mAP_75=20.0, bbox_mAP_s=10.0,
        bbox_mAP_m=30.0, bbox_mAP_l=None))
    assert record['final_loss'] == pytest.approx(1.3)
    assert record['log'] == osp.join(wd, '20240101_000000',
                                     '20240101_000000.log')
    json.dumps(record)  # the results file can hold it


def rec(variant, seed, ap, commit='a' * 40):
    return dict(variant=variant, seed=seed, commit=commit,
                metrics=dict(bbox_mAP=ap))


def test_a_rerun_replaces_its_variant_and_seed_only(bench, tmp_path):
    results = bench.load_results(str(tmp_path / 'none.json'), 'bccd',
                                 'scratch')
    assert results == dict(schema=2, set='bccd', regime='scratch',
                           metric='bbox_mAP', runs=[])
    results['runs'] = [rec('random', 0, 40.), rec('ohem', 0, 44.),
                       rec('ohem', 1, 45.)]
    merged = bench.merge_records(results, [rec('ohem', 0, 46., 'b' * 40)])
    assert [(r['variant'], r['seed'], r['metrics']['bbox_mAP'])
            for r in merged['runs']] == [('random', 0, 40.), ('ohem', 0, 46.),
                                         ('ohem', 1, 45.)]
    kept = bench.merge_records(results, [rec('ohem', 0, 46., 'b' * 40)],
                               keep_other_commits=True)
    assert [(r['seed'], r['commit'][0]) for r in kept['runs']
            if r['variant'] == 'ohem'] == [(0, 'a'), (0, 'b'), (1, 'a')]
    # the new record comes last of its seed (the tables take the last),
    # whatever the commits' hashes
    older = dict(results, runs=[rec('ohem', 0, 1., 'b' * 40)])
    newer = bench.merge_records(older, [rec('ohem', 0, 2., 'a' * 40)],
                                keep_other_commits=True)
    assert [r['metrics']['bbox_mAP'] for r in newer['runs']] == [1., 2.]
    # the same commit is replaced even when asked to keep other commits
    same = bench.merge_records(results, [rec('ohem', 0, 47.)],
                               keep_other_commits=True)
    assert len(same['runs']) == 3
    path = tmp_path / 'old.json'
    path.write_text(json.dumps(dict(set='bccd', runs={'random': {'0': 1}})))
    with pytest.raises(SystemExit, match='not a schema-2'):
        bench.load_results(str(path), 'bccd', 'scratch')


def test_summary_is_the_renderers_table(bench, tmp_path, monkeypatch):
    """A run's <set>_<regime>.md is what render_results writes for the
    committed file: one table, per-seed deltas paired by seed."""
    records = [rec('random', 0, 40.), rec('random', 1, 50.),
               rec('ohem', 0, 42.5), rec('ohem', 1, 49.)]
    monkeypatch.setattr(bench, 'has_data', lambda set_key: True)
    monkeypatch.setattr(bench, 'prepare_data', lambda *args: None)
    monkeypatch.setattr(bench, 'compare', lambda *args, **kwargs: None)
    monkeypatch.setattr(
        bench, 'run_jobs', lambda jobs, n, fn, commit=None: {
            job: next(r for r in records
                      if (r['variant'], r['seed']) == (job.variant, job.seed))
            for job in jobs
        })
    out = tmp_path / 'out'
    bench.main(['--sets', 'bccd', '--variants', 'random', 'ohem', '--seeds',
                '0', '1', '--regimes', 'scratch', '--work-dir',
                str(tmp_path / 'w'), '--out', str(out)])
    table = (out / 'bccd_scratch.md').read_text()
    assert 's0 +2.5, s1 -1.0' in table
    assert table.count('| random') == 1 and table.count('| ohem') == 1


def test_warm_starts_come_from_the_scratch_random_runs(bench):
    jobs = bench.plan('synthetic', 'scratch', ['random', 'ohem'], [0, 1],
                      'w', 400, None) + bench.plan(
                          'synthetic', 'warm', ['random', 'ohem'], [0, 1],
                          'w', 400, None)
    shared = bench.share_warm_starts(jobs, 400)
    assert [j.regime for j in shared].count('warm-start') == 0
    assert len(shared) == len(jobs) - 2
    source = {j.seed: j for j in shared
              if j.regime == 'scratch' and j.variant == 'random'}
    for seed, job in source.items():
        cfg = config_of(job)
        # the scratch schedule unchanged; a checkpoint at 400 kept
        assert cfg.train_cfg.max_iters == 800
        assert cfg.param_scheduler[1].milestones == [600, 720]
        assert cfg.default_hooks.checkpoint.interval == 400
        assert cfg.default_hooks.checkpoint.max_keep_ckpts == -1
        assert job.outputs == [f'w/synthetic/scratch/random/seed{seed}/'
                               'iter_400.pth']
    for job in shared:
        if job.regime == 'warm':
            assert job.after is source[job.seed]
            assert config_of(job).load_from == job.after.outputs[0]
    # a shortened scratch schedule, or a decay before the warm start's end,
    # makes other weights: the warm starts stay
    short = bench.plan('synthetic', 'scratch', ['random'], [0], 'w', 400,
                       300) + bench.plan('synthetic', 'warm', ['random'],
                                         [0], 'w', 400, None)
    assert len(bench.share_warm_starts(short, 400)) == 3
    late = bench.plan('synthetic', 'scratch', ['random'], [0], 'w', 700,
                      None) + bench.plan('synthetic', 'warm', ['random'],
                                         [0], 'w', 700, None)
    assert len(bench.share_warm_starts(late, 700)) == 3


def test_main_writes_the_results_and_frames_the_demo(bench, tmp_path,
                                                     monkeypatch, capsys):
    """``make demo``'s command with a fake run (no training): the results
    file, the table, and where the seed lands in the committed spread."""
    committed = tmp_path / 'committed'
    committed.mkdir()
    (committed / 'synthetic_scratch.json').write_text(json.dumps(dict(
        schema=2, set='synthetic', regime='scratch', metric='bbox_mAP',
        runs=[dict(variant=v, seed=s, commit='c' * 40,
                   metrics=dict(bbox_mAP=ap))
              for v, s, ap in (('random', 0, 15.), ('random', 1, 17.),
                               ('ohem', 0, 18.), ('ohem', 1, 22.))])))

    def fake_run_jobs(jobs, num_parallel, run, commit=None):
        return {j: dict(variant=j.variant, seed=j.seed, commit='d' * 40,
                        metrics=dict(bbox_mAP=16. if j.variant == 'random'
                                     else 23.)) for j in jobs}

    monkeypatch.setattr(bench, 'run_jobs', fake_run_jobs)
    monkeypatch.setattr(bench, 'prepare_data', lambda *a: None)
    monkeypatch.setattr(bench, 'compare', lambda *a, **k: '')
    out = tmp_path / 'out'
    assert bench.main(['--preset', 'demo', '--work-dir', str(tmp_path / 'w'),
                       '--out', str(out), '--against', str(committed)]) == 0
    results = json.loads((out / 'synthetic_scratch.json').read_text())
    assert results['schema'] == 2
    assert [(r['variant'], r['seed']) for r in results['runs']] == [
        ('random', 0), ('ohem', 0)]
    text = capsys.readouterr().out
    assert ('| ohem (entry config) | 1 † | 23.0 ± 0.0 | s0 +7.0 | +7.0 |'
            in text)
    assert 'random, seed 0: yours 16.0 | committed seed 0: 15.0' in text
    assert 'ohem, seed 0: yours 23.0' in text
    # random 16 in 15-17; ohem 23 above 18-22; Δ +7 above +3 to +5
    assert text.count('lands inside') == 1
    assert text.count('lands outside') == 2
