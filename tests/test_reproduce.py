"""tools/analysis/reproduce.py: the framing it prints (with a fake run, no
training) and its argument errors."""
import json

import pytest

from mmdet_ohem.benchmark.results import Cell
from helpers import load_tool


@pytest.fixture(scope='module')
def repro():
    return load_tool('analysis/reproduce')


def cell(results):
    return Cell.from_results(results, 'x.json')


def rec(variant, seed, ap, commit='c' * 40, iters=800):
    return dict(variant=variant, seed=seed, commit=commit, iters=iters,
                metrics=dict(bbox_mAP=ap))


# random 10/12/14, ohem 12/16/20: per-seed deltas +2, +4, +6
COMMITTED = dict(
    schema=2, set='synthetic', regime='scratch', metric='bbox_mAP',
    runs=[rec('random', s, v) for s, v in ((0, 10.), (1, 12.), (2, 14.))] +
    [rec('ohem', s, v) for s, v in ((0, 12.), (1, 16.), (2, 20.))])


def test_a_single_variant_inside_the_spread(repro):
    text = repro.frame(cell(COMMITTED), [rec('ohem', 0, 17.3)], 'x.json')
    assert 'synthetic, scratch: bbox_mAP (%), this machine against x.json' \
        in text
    assert 'not the exact values' in text
    assert ('ohem, seed 0: yours 17.3 | committed seed 0: 12.0 | committed '
            'over 3 seed(s): mean 16.0, min-max 12.0 to 20.0') in text
    assert 'your machine lands inside the committed spread' in text
    assert 'outside' not in text and 'Δ' not in text


def test_a_pair_outside_the_spread_and_its_delta(repro):
    text = repro.frame(cell(COMMITTED), [rec('random', 1, 21.0),
                                         rec('ohem', 1, 20.5)], 'x.json')
    lines = text.splitlines()
    random_at = next(i for i, line in enumerate(lines)
                     if line.startswith('  random, seed 1'))
    assert 'yours 21.0 | committed seed 1: 12.0' in lines[random_at]
    assert lines[random_at + 1].endswith(
        'your machine lands outside the committed spread')
    delta_at = next(i for i, line in enumerate(lines)
                    if line.startswith('  Δ ohem - random, seed 1'))
    assert lines[delta_at] == (
        '  Δ ohem - random, seed 1: yours -0.5 | committed seed 1: +4.0 | '
        'committed over 3 seed(s): mean +4.0, min-max +2.0 to +6.0, '
        '95 % CI -1.0 to +9.0')
    assert lines[delta_at + 1].endswith('outside the committed spread')


def test_legacy_runs_are_left_out_and_said(repro):
    legacy = dict(rec('ohem', 3, 1., None), legacy=True)
    text = repro.frame(cell(dict(COMMITTED,
                                 runs=COMMITTED['runs'] + [legacy])),
                       [rec('ohem', 0, 12.)], 'x.json')
    assert '(1 legacy committed runs left out' in text
    # its 1.0 is in no spread: the 3 seeds of provenance only
    assert 'committed over 3 seed(s): mean 16.0, min-max 12.0 to 20.0' in text


def test_committed_deltas_pair_within_one_commit(repro):
    # seed 2's random reran at another commit (beside the old run): the
    # Δ of seed 2 pairs the two runs of commit c, as the tables do.
    rerun = rec('random', 2, 99., 'd' * 40)
    text = repro.frame(cell(dict(COMMITTED,
                                 runs=COMMITTED['runs'] + [rerun])),
                       [rec('random', 0, 10.), rec('ohem', 0, 13.)],
                       'x.json')
    assert ('Δ ohem - random, seed 0: yours +3.0 | committed seed 0: +2.0 | '
            'committed over 3 seed(s): mean +4.0, min-max +2.0 to +6.0'
            ) in text


def test_frame_against_a_folder(repro, tmp_path):
    assert 'no committed results' in repro.frame_against(
        str(tmp_path), 'synthetic', 'scratch', [])
    (tmp_path / 'synthetic_scratch.json').write_text(json.dumps(COMMITTED))
    assert 'inside' in repro.frame_against(str(tmp_path), 'synthetic',
                                           'scratch', [rec('ohem', 0, 15.)])


@pytest.fixture
def results(tmp_path):
    (tmp_path / 'synthetic_scratch.json').write_text(json.dumps(COMMITTED))
    return str(tmp_path)


def args_of(results, *extra):
    return ['--set', 'synthetic', '--regime', 'scratch', '--results',
            results, *extra]


@pytest.mark.parametrize('extra,message', [
    (['--variant', 'ohem', '--seed', '7'],
     "has no 'ohem' run of seed 7; its seeds: 0, 1, 2"),
    (['--variant', 'nope', '--seed', '0'],
     "no config for variant 'nope' on set 'synthetic'"),
    (['--variant', 'ohem-paper', '--seed', '0'],
     "has no 'ohem-paper' run of seed 0; its seeds: none"),
])
def test_argument_errors(repro, results, capsys, extra, message):
    with pytest.raises(SystemExit):
        repro.parse_args(args_of(results, *extra))
    assert message in capsys.readouterr().err


def test_missing_or_old_results_file(repro, tmp_path, capsys):
    with pytest.raises(SystemExit):
        repro.parse_args(args_of(str(tmp_path), '--variant', 'ohem',
                                 '--seed', '0'))
    assert 'no committed results for synthetic, scratch' in \
        capsys.readouterr().err
    (tmp_path / 'synthetic_scratch.json').write_text(
        json.dumps(dict(runs={'ohem': {'0': 1.}})))
    with pytest.raises(SystemExit):
        repro.parse_args(args_of(str(tmp_path), '--variant', 'ohem',
                                 '--seed', '0'))
    assert 'is not a schema-2 results file' in capsys.readouterr().err


def test_a_real_set_needs_its_photos(repro, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv('RACCOON_ROOT', raising=False)
    (tmp_path / 'raccoon_scratch.json').write_text(json.dumps(
        dict(COMMITTED, set='raccoon')))
    with pytest.raises(SystemExit):
        repro.parse_args(['--set', 'raccoon', '--regime', 'scratch',
                          '--variant', 'ohem', '--seed', '0', '--results',
                          str(tmp_path)])
    assert 'set RACCOON_ROOT' in capsys.readouterr().err


def test_main_with_a_fake_run(repro, results, tmp_path, capsys, monkeypatch):
    planned = []

    def fake_run_jobs(jobs, num_parallel, run, commit=None):
        planned.extend(jobs)
        return {j: rec(j.variant, j.seed, 11.0 if j.variant == 'random'
                       else 15.0) for j in jobs}

    monkeypatch.setattr(repro, 'run_jobs', fake_run_jobs)
    monkeypatch.setattr(repro.run_bench, 'prepare_data', lambda *a: None)
    assert repro.main(args_of(results, '--variant', 'ohem', '--seed', '1',
                              '--pair', '--work-dir',
                              str(tmp_path / 'w'))) == 0
    assert [(j.variant, j.seed) for j in planned] == [('random', 1),
                                                      ('ohem', 1)]
    # the committed 800 iterations are the config's: no schedule options
    assert not any(o.startswith('train_cfg.max_iters')
                   for o in planned[1].options)
    out = capsys.readouterr().out
    assert 'ohem, seed 1: yours 15.0 | committed seed 1: 16.0' in out
    assert 'Δ ohem - random, seed 1: yours +4.0 | committed seed 1: +4.0' \
        in out
    assert out.count('lands inside') == 3
