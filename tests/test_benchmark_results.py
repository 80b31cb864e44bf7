"""mmdet_ohem.benchmark.results: the set table the runner and the
renderer share, and how a results file is read (the pairing itself is
tested through the renderer's tables in test_render_results.py)."""
import pytest

from mmdet_ohem.benchmark.results import (SETS, Cell, bench_config,
                                          shipped_variants)


@pytest.mark.parametrize('set_key', list(SETS))
def test_every_set_ships_the_two_main_configs(set_key):
    variants = shipped_variants(set_key)
    assert {'random', 'ohem', 'ohem-rand0.25', 'ohem-rand0.75'} <= \
        set(variants)
    assert bench_config(set_key, 'ohem').endswith(
        f'_ohem_{SETS[set_key].name}.py')


def test_a_results_file_of_another_schema_is_refused():
    with pytest.raises(ValueError, match='schema 1, expected 2'):
        Cell.from_results(dict(set='bccd', regime='scratch', runs=[]),
                          'old.json')


def test_latest_run_per_commit_wins_and_is_counted():
    run = dict(variant='ohem', seed=0, commit='a', metrics=dict(bbox_mAP=1.))
    cell = Cell.from_results(
        dict(schema=2, set='bccd', regime='scratch', metric='bbox_mAP',
             runs=[run, dict(run, metrics=dict(bbox_mAP=2.)),
                   dict(run, commit='b', metrics=dict(bbox_mAP=3.))]))
    assert cell.superseded == 1
    assert cell.values == {'ohem': {0: 3.}}
    assert cell.value(cell.partner(dict(seed=0, commit='a'), 'ohem')) == 2.
