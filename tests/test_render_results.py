"""README's results table is rendered from the committed raw outputs."""
import json
import os.path as osp

import pytest

from conftest import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def render():
    return load_tool('analysis/render_results')


def test_readme_table_is_the_rendered_one(render):
    assert render.main(['--check']) == 0


def test_rows_pair_seeds_and_skip_missing_runs(render, tmp_path):
    bccd = dict(
        random={
            '0': 40.,
            '1': 50.,
            '2': None
        },
        ours={
            '0': 42.,
            '1': 49.,
            '2': 60.
        })
    synthetic = dict(random={'0': 10.}, ours={'0': 17.})
    for name, runs in (('bccd', bccd), ('synthetic', synthetic)):
        (tmp_path / f'{name}_scratch.json').write_text(
            json.dumps(
                dict(set=name, regime='scratch', metric='bbox_mAP',
                     runs=runs)))
    table = render.render(render.load(str(tmp_path)), 'ours')
    lines = table.splitlines()
    assert lines[2] == ('| synthetic (embedded), scratch (n=1) | 10.0 ± 0.0 '
                        '| 17.0 ± 0.0 | +7.0 | +7.0 |')
    assert lines[3] == ('| BCCD (real, 3 classes), scratch (n=2) | '
                        '45.0 ± 7.1 | 45.5 ± 4.9 | +2.0 / -1.0 | +0.5 |')
    readme = tmp_path / 'README.md'
    readme.write_text('a\n<!-- results:start -->\nold\n<!-- results:end -->'
                      '\nb\n')
    assert render.main([
        '--results',
        str(tmp_path), '--readme',
        str(readme), '--variant', 'ours', '--others', '--check'
    ]) == 1
    assert render.main([
        '--results',
        str(tmp_path), '--readme',
        str(readme), '--variant', 'ours', '--others'
    ]) == 0
    assert readme.read_text() == f'a\n<!-- results:start -->\n{table}\n' \
        '<!-- results:end -->\nb\n'


def test_other_variants_get_a_column_or_a_dash(render, tmp_path):
    runs = dict(random={'0': 40., '1': 50.}, ours={'0': 42., '1': 49.})
    for name, extra in (('bccd', {
            'mmdet-ohem': {
                '0': 30.,
                '1': 34.
            }
    }), ('raccoon', {})):
        (tmp_path / f'{name}_warm.json').write_text(
            json.dumps(
                dict(
                    set=name,
                    regime='warm',
                    metric='bbox_mAP',
                    runs=dict(runs, **extra))))
    lines = render.render(
        render.load(str(tmp_path)), 'ours',
        others=['mmdet-ohem']).splitlines()
    assert lines[0] == ("| data, regime | RandomSampler | mmdet's "
                        'OHEMSampler | ours | Δ per seed | mean Δ |')
    assert lines[1] == '|---|---:|---:|---:|---:|---:|'
    assert lines[2] == ('| BCCD (real, 3 classes), warm (n=2) | 45.0 ± 7.1 '
                        '| 32.0 ± 2.8 | 45.5 ± 4.9 | +2.0 / -1.0 | +0.5 |')
    assert lines[3].startswith('| raccoon (real, 1 class), warm (n=2) | '
                               '45.0 ± 7.1 | – | 45.5 ± 4.9 |')
