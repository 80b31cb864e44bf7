"""README's and docs' results and speed tables are rendered from the
committed raw outputs."""
import json

import pytest

from helpers import load_tool

DOCS = {
    'results.md': ('# r\n<!-- results-detail:start -->\n'
                   '<!-- results-detail:end -->\n<!-- sweep:start -->\n'
                   '<!-- sweep:end -->\n<!-- speed:start -->\n'
                   '<!-- speed:end -->\n'),
    'benchmark.md': ('b\n<!-- speed:start -->\nold\n<!-- speed:end -->\n'
                     '<!-- cost:start -->\n<!-- cost:end -->\n'),
}


BCCD = 'configs/benchmarks/bccd/faster-rcnn_r18-tiny_fpn_{}_bccd.py'
# A metafile as written by hand: a comment, a COCO model, a stale result,
# and a result of a config no committed run has used.
METAFILE = f"""# kept
Collections:
  - Name: OHEM

Models:
  - Name: coco
    In Collection: OHEM
    Config: configs/faster_rcnn_ohem.py
    Metadata:
      Training Data: COCO

  - Name: ohem
    Config: {BCCD.format('ohem')}
    Metadata:
      Iterations: 800
    Results:
      - Task: Object Detection
        Dataset: BCCD
        Metrics:
          box AP: 1.0

  # the paper's NMS
  - Name: paper
    Config: {BCCD.format('ohem-paper')}
    Results:
      - Task: Object Detection
        Dataset: BCCD
        Metrics:
          box AP: 2.0
    Metadata:
      Iterations: 800
"""
PAPER_RESULTS = ('    Results:\n      - Task: Object Detection\n'
                 '        Dataset: BCCD\n        Metrics:\n'
                 '          box AP: 2.0\n')


@pytest.fixture(scope='module')
def render():
    return load_tool('analysis/render_results')


def _run(variant, seed, value, commit=None, legacy=False):
    return dict(
        variant=variant,
        seed=seed,
        commit=commit,
        dirty=False if commit else None,
        metrics=dict(bbox_mAP=value),
        legacy=legacy)


def _write(folder, set_name, regime, runs):
    (folder / f'{set_name}_{regime}.json').write_text(
        json.dumps(
            dict(
                schema=2,
                set=set_name,
                regime=regime,
                metric='bbox_mAP',
                runs=runs)))


def _repo(tmp_path):
    """A results folder, README and docs with empty blocks."""
    results = tmp_path / 'results'
    results.mkdir()
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text)
    readme = tmp_path / 'README.md'
    readme.write_text('a\n<!-- results:start -->\nold\n<!-- results:end -->'
                      '\nb\n')
    # configs/ohem/'s two files: never the repository's own here.
    (tmp_path / 'ohem_README.md').write_text(
        '# OHEM\n<!-- ohem-results:start -->\n<!-- ohem-results:end -->\n')
    (tmp_path / 'metafile.yml').write_text(METAFILE)
    args = [
        '--results',
        str(results), '--readme',
        str(readme), '--docs',
        str(tmp_path), '--ohem-readme',
        str(tmp_path / 'ohem_README.md'), '--metafile',
        str(tmp_path / 'metafile.yml')
    ]
    return results, readme, args


def test_committed_docs_are_rendered(render):
    """README, docs/results.md, docs/benchmark.md, docs/results/*.md and
    configs/ohem/'s README and metafile."""
    assert render.main(['--check']) == 0


def test_row_ci_and_verdict_hand_computed(render, tmp_path):
    # Δs 1..5: mean 3, CI 3 ± 2.776 * sqrt(2.5) / sqrt(5) = [1.04, 4.96].
    runs = [_run('random', s, 40. + s, 'a' * 40) for s in range(5)]
    runs += [_run('ohem', s, 40. + s + d, 'a' * 40)
             for s, d in enumerate([1, 2, 3, 4, 5])]
    _write(tmp_path, 'bccd', 'scratch', runs)
    block = render.render_readme(render.load_cells(str(tmp_path)))
    assert '| BCCD (real, 3 classes), scratch | 5 | 42.0 | 45.0 | ' \
        '+3.0 [+1.0, +5.0] | gain |' in block.splitlines()
    assert 'Student t' in block
    assert '†' not in block  # 5 seeds: not marked
    assert block.endswith('**gain** (CI above 0) on BCCD scratch; '
                          '**no measurable difference** (CI spans 0) on no '
                          'row; **loss** (CI below 0) on no row; '
                          '**too few seeds** (n < 2) on no row.')


def test_pooled_row_takes_every_real_set_pair(render, tmp_path):
    for set_name, deltas in (('bccd', [1., 2.]), ('raccoon', [3., 4.]),
                             ('synthetic', [-50., -60.])):
        _write(tmp_path, set_name, 'warm', [
            run for s, d in enumerate(deltas)
            for run in (_run('random', s, 10.), _run('ohem', s, 10. + d))
        ])
    lines = render.render_readme(render.load_cells(str(tmp_path))).splitlines()
    pooled = [line for line in lines if line.startswith('| real sets')]
    # Δs 1, 2, 3, 4 (synthetic left out): mean 2.5, sd 1.29, t3 = 3.182.
    assert pooled == ['| real sets pooled (BCCD, raccoon), warm | 4 † | '
                      '10.0 | 12.5 | +2.5 [+0.4, +4.6] | gain |']
    synthetic = [line for line in lines if line.startswith('| synthetic')]
    assert synthetic[0].endswith('| 2 † | 10.0 | -45.0 | '
                                 '-55.0 [-118.5, +8.5] | '
                                 'no measurable difference |')


def test_missing_seed_is_dropped_and_said(render, tmp_path):
    _write(tmp_path, 'raccoon', 'scratch', [
        _run('random', 0, 10.),
        _run('random', 1, 12.),
        _run('random', 2, 14.),
        _run('ohem', 0, 11.),
        _run('ohem', 1, 14.),
        _run('ohem', 3, 99.)
    ])
    cells = render.load_cells(str(tmp_path))
    block = render.render_readme(cells)
    # Paired: seeds 0 and 1 only (Δ 1, 2); 14 and 99 never meet.
    assert '| raccoon (real, 1 class), scratch | 2 † | 11.0 | 12.5 | ' \
        '+1.5 [-4.9, +7.9] | no measurable difference |' in block
    assert 'Dropped: raccoon scratch seeds 2, 3 (not paired: run by only ' \
        'one of random and ohem, or by the two from different commits; ' \
        'left out).' in block
    cell = render.render_cell(cells[0])
    # The variant's own 3 runs, and the CI of its 2 paired ones.
    assert '| ohem (entry config) | 3 † | 41.3 ± 50.0 | s0 +1.0, s1 +2.0 | ' \
        '+1.5 [-4.9, +7.9] (n=2) | no measurable difference |' in cell
    # random's seed 2 is in random's row: only ohem's seed 3 is left out
    assert 'Not in the Δ of ohem: raccoon scratch seed 3 (no random run ' \
        'of its seed and commit to pair with).' in cell


def test_runs_of_different_commits_are_not_paired(render, tmp_path):
    # seed 0: both from commit a; seed 1: random reran at b, ohem legacy
    _write(tmp_path, 'raccoon', 'scratch', [
        _run('random', 0, 10., 'a' * 40),
        _run('random', 1, 12., 'b' * 40),
        _run('ohem', 0, 13., 'a' * 40),
        _run('ohem', 1, 99., legacy=True)
    ])
    cells = render.load_cells(str(tmp_path))
    comp = render.compare(cells, 'ohem')
    assert comp.ci.values == (3.0, )
    assert comp.seeds == [('raccoon scratch', 0)]
    assert comp.dropped == [('raccoon scratch', 1)]
    # the legacy run is in no row, random's seed 1 in its own: nothing
    # a row shows is left out of its Δ
    assert 'Not in the Δ' not in render.render_cell(cells[0])


def test_commit_mixing_is_said_and_legacy_runs_left_out(render, tmp_path):
    # each pair of one commit, the table of two commits; legacy runs carry
    # no provenance, so no number of theirs is shown (seed 2's Δ of 2).
    runs = [
        _run('random', 0, 10., 'a' * 40),
        _run('ohem', 0, 12., 'a' * 40),
        _run('random', 1, 11., 'b' * 40),
        _run('ohem', 1, 12., 'b' * 40),
        _run('random', 2, 11., None, legacy=True),
        _run('ohem', 2, 13., None, legacy=True)
    ]
    _write(tmp_path, 'bccd', 'scratch', runs)
    cells = render.load_cells(str(tmp_path))
    assert render.compare(cells, 'ohem').ci.values == (2.0, 1.0)
    block = render.render_readme(cells)
    assert ('Runs: 4 runs from commits aaaaaaa, bbbbbbb (mixed; each pair of '
            'one commit); 2 legacy runs left out (schema 1, migrated: no '
            'commit, config or versions recorded).') in block
    one = render.provenance_note([_run('random', 0, 1., 'c' * 40)])
    assert one == 'Runs: 1 runs from commit ccccccc.'


def test_a_cell_of_legacy_runs_only_shows_no_number(render, tmp_path):
    _write(tmp_path, 'raccoon', 'warm', [
        _run('random', 0, 10., None, legacy=True),
        _run('ohem', 0, 13.25, None, legacy=True)
    ])
    cells = render.load_cells(str(tmp_path))
    assert render.compare(cells, 'ohem') is None
    assert render.pools(cells) == []
    text = render.cell_file(cells[0]) + render.render_readme(cells)
    assert '13.2' not in text and '10.0' not in text
    assert 'No run with provenance yet. Runs: 2 legacy runs left out' in text


def test_a_seed_at_two_commits_pairs_within_each(render, tmp_path):
    # run_bench --keep-other-commits: seed 0 ran at a and again at b. The
    # column shows the latest run (b); each Δ pairs runs of one commit.
    a, b = 'a' * 40, 'b' * 40
    _write(tmp_path, 'cards', 'scratch', [
        _run('random', 0, 10., a),
        _run('random', 1, 20., a),
        _run('random', 0, 11., b),
        _run('ohem', 0, 14., a),
        _run('ohem', 1, 21., a),
        _run('ohem', 0, 12., b),
        _run('ohem-rand0.25', 0, 15., b),
        _run('ohem-rand0.25', 1, 99., b),  # random of seed 1 is at a
    ])
    cells = render.load_cells(str(tmp_path))
    assert cells[0].superseded == 0  # two commits: nothing superseded
    entry = render.compare(cells, 'ohem')
    assert entry.ci.values == (1.0, 1.0)  # s0 at b: 12 - 11; s1 at a
    quarter = render.compare(cells, 'ohem-rand0.25')
    assert quarter.ci.values == (4.0, )
    assert quarter.dropped == [('cards scratch', 1)]
    # against the entry config: seed 0 at b only (15 - 12)
    assert render.compare(cells, 'ohem-rand0.25', 'ohem').ci.values == (3.0, )


def _sweep_runs(deltas_to_half):
    """Three real sets x 3 seeds at one commit: random 10, the entry 12,
    each other share 12 + its Δ to 0.5 (per seed, one list per share)."""
    runs = {}
    for set_name in ('bccd', 'raccoon', 'cards'):
        runs[set_name] = []
        for seed in range(3):
            runs[set_name] += [
                _run('random', seed, 10., 'c' * 40),
                _run('ohem', seed, 12., 'c' * 40)
            ]
            for variant, deltas in deltas_to_half.items():
                runs[set_name].append(
                    _run(variant, seed, 12. + deltas[seed], 'c' * 40))
    return runs


@pytest.mark.parametrize('deltas, sentence', [
    ({}, 'Not swept yet'),
    ({'ohem-rand0.25': [1., 2., 3.], 'ohem-rand0.75': [-1., 0., 1.]},
     'The pooled Δs support a random share of 0.25 over 0.5 (its CI to 0.5 '
     'is above 0; 0.25: +2.0 [+1.3, +2.7], n = 9; 0.75: +0.0 [-0.7, +0.7], '
     'n = 9).'),
    ({'ohem-rand0.25': [-1., 0., 1.], 'ohem-rand0.75': [-3., -2., -1.]},
     'No share does better than 0.5 (no CI of a Δ to 0.5 is above 0; below '
     '0, so worse than 0.5: 0.75; 0.25: +0.0 [-0.7, +0.7], n = 9; 0.75: '
     '-2.0 [-2.7, -1.3], n = 9): the entry config keeps 0.5.'),
])
def test_sweep_sentence_follows_the_cis_to_half(render, tmp_path, deltas,
                                                sentence):
    # Δs 1, 2, 3 on each of 3 sets: mean 2, sd 0.866 (n 9), t8 = 2.306:
    # 2 ± 2.306 * 0.866 / 3 = [1.33, 2.67].
    for set_name, runs in _sweep_runs(deltas).items():
        _write(tmp_path, set_name, 'scratch', runs)
    block = render.render_sweep(render.load_cells(str(tmp_path)))
    assert block.splitlines()[-1].startswith(sentence)
    assert ('| 0.5 | `ohem` | 9 | +2.0 [+2.0, +2.0] | BCCD scratch, raccoon '
            'scratch, cards scratch | | | |') in block.splitlines()


def test_comparison_rows_and_pools_in_the_detail(render, tmp_path):
    for set_name in ('bccd', 'cards'):
        _write(tmp_path, set_name, 'scratch', [
            _run('random', s, 20. + s) for s in range(5)
        ] + [_run('ohem', s, 21. + s) for s in range(5)] +
               [_run('mmdet-ohem', s, 10. + s) for s in range(3)])
    detail = render.render_detail(render.load_cells(str(tmp_path)))
    assert "| mmdet-ohem (mmdet's OHEMSampler) | 3 † | 11.0 ± 1.0 | " \
        's0 -10.0, s1 -10.0, s2 -10.0 | -10.0 [-10.0, -10.0] | loss |' \
        in detail
    assert '| ohem (entry config) | 5 | 23.0 ± 1.6 |' in detail
    assert '#### Real sets pooled (BCCD, cards), scratch' in detail
    assert "| mmdet-ohem (mmdet's OHEMSampler) | 6 | -10.0 " \
        '[-10.0, -10.0] | loss | BCCD scratch, cards scratch |' in detail


def test_check_fails_on_a_stale_readme_and_docs(render, tmp_path):
    results, readme, args = _repo(tmp_path)
    _write(results, 'bccd', 'scratch', [
        _run('random', s, 10. + s) for s in range(3)
    ] + [_run('ohem', s, 12. + s * s) for s in range(3)])
    assert render.main(args + ['--check']) == 1
    assert render.main(args) == 0
    assert render.main(args + ['--check']) == 0
    assert (results / 'bccd_scratch.md').read_text().startswith(
        '<!-- rendered by tools/analysis/render_results.py from '
        'bccd_scratch.json -->')
    text = readme.read_text()
    # The sentence alone edited by hand: stale.
    readme.write_text(text.replace('**gain**', '**loss**', 1))
    assert render.main(args + ['--check']) == 1
    readme.write_text(text)
    # A new run committed without rendering: stale.
    _write(results, 'bccd', 'scratch', [
        _run('random', s, 10. + s) for s in range(3)
    ] + [_run('ohem', s, 9.) for s in range(3)])
    assert render.main(args + ['--check']) == 1


def test_ohem_readme_rows_link_configs_and_hand_computed_ci(
        render, tmp_path):
    # As test_row_ci_and_verdict_hand_computed: Δs 1..5, CI [+1.0, +5.0].
    runs = [_run('random', s, 40. + s) for s in range(5)]
    runs += [_run('ohem', s, 41. + 2 * s) for s in range(5)]
    runs += [_run('ohem-batch', s, 30.) for s in range(2)]
    _write(tmp_path, 'bccd', 'scratch', runs)
    _write(tmp_path, 'bccd', 'warm', [_run('ohem', 0, 50.)])
    cells = render.load_cells(str(tmp_path))
    lines = render.render_ohem_readme(cells).split('\n')
    link = '../benchmarks/bccd/faster-rcnn_r18-tiny_fpn_{}_bccd.py'
    rows = [line for line in lines if line.startswith('| BCCD')]
    assert rows == [
        f'| BCCD | [random]({link.format("random")}) | scratch | 5 | 42.0 '
        '|  |',
        f'| BCCD | [ohem]({link.format("ohem")}) | scratch | 5 | 45.0 | '
        '+3.0 [+1.0, +5.0] |',
        # No random run in warm: nothing to pair with.
        f'| BCCD | [ohem]({link.format("ohem")}) | warm | 1 † | 50.0 | '
        '– (no seed paired) |',
        # Paired on its 2 seeds: Δs 30 - 40 and 30 - 41.
        '| BCCD | ohem-batch (no config) | scratch | 2 † | 30.0 | '
        '-10.5 [-16.9, -4.1] |',
    ]
    # random's seeds 2-4 are in random's row: no run is missing from a Δ.
    assert not any('Not in the Δs' in line for line in lines)
    # The configs left: on BCCD those not run, on cards (none run) all.
    missing = next(line for line in lines if line.startswith('- BCCD: '))
    assert f'[mmdet-ohem]({link.format("mmdet-ohem")})' in missing
    assert '[ohem]' not in missing and '[random]' not in missing
    assert '- playing cards: every variant ([configs/benchmarks/cards/]' \
        '(../benchmarks/cards/))' in lines


def test_ohem_readme_names_only_a_variants_own_unpaired_runs(
        render, tmp_path):
    # ohem's seed 3 has no random run; random's seed 2 no ohem run.
    _write(tmp_path, 'bccd', 'scratch', [
        _run('random', 0, 40.),
        _run('random', 1, 41.),
        _run('random', 2, 42.),
        _run('ohem', 0, 41.),
        _run('ohem', 1, 43.),
        _run('ohem', 3, 99.)
    ])
    block = render.render_ohem_readme(render.load_cells(str(tmp_path)))
    assert 'Not in the Δs: BCCD scratch ohem seed 3 (no random run of its ' \
        'seed and commit to pair with).' in block
    assert 'seed 2' not in block


def test_metafile_results_are_rendered_in_place(render, tmp_path):
    _write(tmp_path, 'bccd', 'scratch', [
        _run('random', s, 10.) for s in range(3)
    ] + [_run('ohem', s, 20. + s) for s in range(3)])
    # A warm run is no model's Results.
    _write(tmp_path, 'bccd', 'warm', [_run('ohem-paper', 0, 9.)])
    cells = render.load_cells(str(tmp_path))
    text = render.render_metafile(METAFILE, cells)
    # The stale 1.0 is the mean of the committed seeds, ohem-paper (no
    # scratch run) loses its Results, and the rest stays as written.
    assert PAPER_RESULTS in METAFILE
    assert text == METAFILE.replace('box AP: 1.0', 'box AP: 21.0').replace(
        PAPER_RESULTS, '')
    assert 'Results' not in render.render_metafile(METAFILE, [])
    # Rendering its own output changes nothing.
    assert render.render_metafile(text, cells) == text


def test_check_fails_on_stale_configs_ohem_files(render, tmp_path):
    results, _, args = _repo(tmp_path)
    _write(results, 'bccd', 'scratch', [
        _run('random', s, 10. + s) for s in range(3)
    ] + [_run('ohem', s, 12. + s) for s in range(3)])
    assert render.main(args) == 0
    assert render.main(args + ['--check']) == 0
    metafile, readme = tmp_path / 'metafile.yml', tmp_path / 'ohem_README.md'
    assert 'box AP: 13.0' in metafile.read_text()
    assert '| 3 † | 13.0 | +2.0 [+2.0, +2.0] |' in readme.read_text()
    for path, old, new in ((metafile, 'box AP: 13.0', 'box AP: 13.1'),
                           (readme, '| 13.0 |', '| 13.1 |')):
        text = path.read_text()
        path.write_text(text.replace(old, new))
        assert render.main(args + ['--check']) == 1
        path.write_text(text)
    # New seeds committed, not rendered: stale.
    _write(results, 'bccd', 'scratch', [
        _run('random', s, 10. + s) for s in range(5)
    ] + [_run('ohem', s, 12. + s) for s in range(5)])
    assert render.main(args + ['--check']) == 1
    assert render.main(args) == 0
    assert 'box AP: 14.0' in metafile.read_text()


def test_schema_1_is_refused(render, tmp_path):
    (tmp_path / 'bccd_scratch.json').write_text(
        json.dumps(
            dict(
                set='bccd',
                regime='scratch',
                metric='bbox_mAP',
                runs=dict(random={'0': 1.}))))
    with pytest.raises(ValueError, match='schema 1'):
        render.load_cells(str(tmp_path))


def test_speed_table_reads_ratios_to_random_and_floor(render, tmp_path):
    results, readme, args = _repo(tmp_path)

    def row(step, ratio, floor):
        return dict(
            step_s=step,
            time_ratio=ratio,
            floor_ratio=floor,
            peak_mb=10.,
            memory_ratio=1.,
            after_nms_per_img=None)

    (results / 'speed.json').write_text(
        json.dumps(
            dict(
                schema=2,
                kind='speed',
                baseline='random-512',
                floor='floor-512',
                settings=dict(
                    model='small',
                    device='cpu',
                    amp=False,
                    num_imgs=2,
                    img_size=[256, 256],
                    num_proposals=500,
                    num_gts=6,
                    rounds=10,
                    variants=['random-512', 'floor-512', 'head-128']),
                provenance=dict(
                    commit='d' * 40,
                    dirty=True,
                    versions=dict(torch='2.13.0'),
                    cpu='a CPU',
                    threads=1),
                results={
                    'random-512': row(1.0, 1.0, 0.8),
                    'floor-512': row(1.25, 1.25, 1.0),
                    'head-128': row(1.5, 1.5, 1.2)
                })))
    assert render.main(args) == 0
    speed = (tmp_path / 'benchmark.md').read_text()
    assert '| floor-512 | 1.250 | 1.25× | 1.00× | 10 | 1.00× | – |' in speed
    assert '| head-128 | 1.500 | 1.50× | 1.20× |' in speed
    assert 'commit ddddddd (dirty tree)' in speed
    # One source: the two docs carry the same speed block.
    block = speed.split('<!-- speed:start -->')[1].split('<!-- speed:end')[0]
    assert block in (tmp_path / 'results.md').read_text()


def test_cost_table_reads_the_records_wall_times(render, tmp_path):
    runs = [
        dict(_run('random', s, 10., 'a' * 40), wall_s=w, iters=800)
        for s, w in ((0, 100.), (1, 140.))
    ] + [
        dict(_run('ohem', s, 12., 'a' * 40), wall_s=w, iters=800)
        for s, w in ((0, 200.), (1, 160.))
    ]
    _write(tmp_path, 'cards', 'scratch', runs)
    _write(tmp_path, 'bccd', 'scratch', [_run('random', 0, 1., 'a' * 40)])
    lines = render.render_cost(render.load_cells(str(tmp_path))).splitlines()
    # 600 s over the 4 runs = 10 min; BCCD has no wall time: no row
    assert lines[-1] == ('| cards (real, 6 classes), scratch | 800 | 100–140 '
                         '| 160–200 | 4 | 10 |')
    assert not any(line.startswith('| BCCD') for line in lines)
