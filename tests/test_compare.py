"""tools/analysis/compare.py on fake work dirs: numbers, grouping, plot,
references."""
import json
import os.path as osp

import pytest

from helpers import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
compare_tool = load_tool('analysis/compare')

COCO_CFG = """\
data_root = 'data/coco/'
dataset_type = 'CocoDataset'
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        type='{wrapper}',
        times=2,
        dataset=dict(
            type='CocoDataset',
            data_root='data/coco/',
            ann_file='annotations/instances_train2017.json')))
"""
HARD_NEG_CFG = """\
train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        type='CocoDataset',
        data_root='data/hard_negatives/',
        ann_file='annotations/instances_train.json'))
"""


def write_lines(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def metrics(ap, **extra):
    record = {
        'coco/bbox_mAP': ap,
        'coco/bbox_mAP_50': ap + 0.2,
        'coco/bbox_mAP_75': ap - 0.1,
        'coco/bbox_mAP_s': 0.1,
        'coco/bbox_mAP_m': 0.3,
        'coco/bbox_mAP_l': -1.0,
        'data_time': 0.01,
        'time': 9.0,  # validation time: not a training step
        'step': 1
    }
    record.update(extra)
    return record


def make_work_dir(root, name, ap=0.374, losses=(1.0, 0.8, 0.5),
                  times=(0.2, 0.3, 0.4), fg=(0.3, 0.2, 0.1),
                  timestamp='20240101_000000', config=None):
    """A work dir as tools/train.py writes it (one run, log every 10)."""
    wd = root / name
    train = []
    for i, (loss, t) in enumerate(zip(losses, times)):
        record = dict(lr=0.02, data_time=0.01, loss=loss, loss_cls=loss / 2,
                      time=t, iter=10 * (i + 1), step=10 * (i + 1))
        if fg is not None:
            record.update({'ohem/fg_share': fg[i], 'ohem/num_picked': 128.})
        train.append(record)
    evals = [metrics(ap)] if ap is not None else []
    write_lines(wd / timestamp / 'vis_data' / 'scalars.json', train + evals)
    if config is not None:
        (wd / f'{name}.py').write_text(config)
    return str(wd)


def table_rows(report):
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) > 1:
            rows[cells[0]] = cells[1:]
    return rows


def test_single_run_numbers(tmp_path):
    wd = make_work_dir(tmp_path, 'ohem')
    rows = table_rows(compare_tool.compare([wd]))
    assert rows['bbox_mAP (AP %)'] == ['37.4']
    assert rows['bbox_mAP_50 (AP %)'] == ['57.4']
    assert rows['bbox_mAP_75 (AP %)'] == ['27.4']
    assert rows['bbox_mAP_s (AP %)'] == ['10.0']
    assert rows['bbox_mAP_l (AP %)'] == ['–']  # COCO's -1: no large objects
    assert rows['final loss'] == ['0.5000']
    assert rows['mean step time (s)'] == ['0.300']  # not the val time 9.0
    assert rows['fg share of picks'] == ['0.200']
    assert rows['iterations'] == ['30']


def test_delta_to_first_column(tmp_path):
    a = make_work_dir(tmp_path, 'random', ap=0.300, fg=None)
    b = make_work_dir(tmp_path, 'ohem', ap=0.325, losses=(1.0, 0.9, 0.7))
    rows = table_rows(compare_tool.compare([a, b]))
    assert rows['metric'] == ['random', 'ohem']
    assert rows['bbox_mAP (AP %)'] == ['30.0', '32.5 (+2.5)']
    assert rows['final loss'] == ['0.5000', '0.7000 (+0.2000)']
    assert rows['fg share of picks'] == ['–', '0.200']


def test_seeds_grouped_by_name_mean_std(tmp_path):
    dirs, names = [], []
    for name, aps in (('random', (0.30, 0.31, 0.32)),
                      ('ohem', (0.33, 0.34, 0.35))):
        for seed, ap in enumerate(aps):
            dirs.append(make_work_dir(tmp_path, f'{name}_s{seed}', ap=ap))
            names.append(name)
    groups = compare_tool.aggregate(
        [compare_tool.load_work_dir(d) for d in dirs], names)
    mean, std, n = groups['ohem']['bbox_mAP']
    assert (mean, std, n) == (pytest.approx(34.0), pytest.approx(1.0), 3)
    rows = table_rows(compare_tool.compare(dirs, names))
    assert rows['metric'] == ['random (n=3)', 'ohem (n=3)']
    assert rows['bbox_mAP (AP %)'] == ['31.0 ± 1.0', '34.0 ± 1.0 (+3.0)']


def test_newest_runs_are_used(tmp_path):
    wd = tmp_path / 'wd'
    make_work_dir(tmp_path, 'wd', ap=0.1, losses=(9., 9., 9.),
                  timestamp='20240101_000000')
    make_work_dir(tmp_path, 'wd', ap=0.2, timestamp='20240102_000000')
    run = compare_tool.load_work_dir(str(wd))
    assert run['train'][-1]['loss'] == 0.5
    assert compare_tool.metric_value(run['metrics'], 'bbox_mAP') == 0.2
    # a later test-only run (tools/test.py) brings the newest metrics
    test_run = wd / '20240103_000000'
    test_run.mkdir()
    (test_run / '20240103_000000.json').write_text(
        json.dumps(metrics(0.3)))
    run = compare_tool.load_work_dir(str(wd))
    assert run['train'][-1]['loss'] == 0.5
    assert compare_tool.metric_value(run['metrics'], 'bbox_mAP') == 0.3


def test_png_is_written(tmp_path):
    a = make_work_dir(tmp_path, 'random', fg=None)
    b = make_work_dir(tmp_path, 'ohem')
    out = tmp_path / 'plots' / 'compare.png'
    compare_tool.compare([a, b], out=str(out))
    data = out.read_bytes()
    assert data.startswith(b'\x89PNG') and len(data) > 10_000


def test_png_without_metrics_or_ohem_stats(tmp_path):
    a = make_work_dir(tmp_path, 'random', ap=None, fg=None)
    out = tmp_path / 'compare.png'
    rows = table_rows(compare_tool.compare([a], out=str(out)))
    assert rows['bbox_mAP (AP %)'] == ['–']
    assert out.stat().st_size > 0


@pytest.mark.parametrize('wrapper', ['RepeatDataset', 'ClassBalancedDataset'])
def test_coco_references_only_for_coco_runs(tmp_path, wrapper):
    coco = make_work_dir(tmp_path, 'coco',
                         config=COCO_CFG.format(wrapper=wrapper))
    synth = make_work_dir(tmp_path, 'synth', config=HARD_NEG_CFG)
    bare = make_work_dir(tmp_path, 'bare')  # no dumped config
    assert 'Libra R-CNN' in compare_tool.compare([coco])
    assert 'Libra R-CNN' in compare_tool.compare([synth, coco])
    assert 'Libra R-CNN' not in compare_tool.compare([synth])
    assert 'Libra R-CNN' not in compare_tool.compare([bare])
    report = compare_tool.compare([bare], coco=True)
    refs = table_rows(report)
    assert refs['MMDetection model zoo: Faster R-CNN R50-FPN 1x (val2017)'] \
        == ['37.4']
    assert refs['OHEM paper: VGG16 Fast R-CNN (test-dev)'] == ['19.7']
    assert refs['OHEM paper: VGG16 Fast R-CNN + OHEM (test-dev)'] == ['22.6']


def test_cli(tmp_path, capsys):
    a = make_work_dir(tmp_path, 'a')
    b = make_work_dir(tmp_path, 'b')
    out = tmp_path / 'c.png'
    assert compare_tool.main([a, b, '--names', 'x', 'y', '--out',
                              str(out)]) == 0
    assert '| metric | x | y |' in capsys.readouterr().out
    assert out.exists()
    with pytest.raises(SystemExit):
        compare_tool.main([a, b, '--names', 'x'])
    with pytest.raises(SystemExit):
        compare_tool.main([str(tmp_path / 'missing')])


def test_read_back_as_mmengine_wrote_it(tmp_path):
    """scalars.json through mmengine's LocalVisBackend; a killed run's
    half-written last line ends the records; the run's text log is named."""
    from mmengine.visualization import LocalVisBackend
    run_dir = tmp_path / 'wd' / '20240101_000000'
    backend = LocalVisBackend(str(run_dir / 'vis_data'))
    for i in range(3):
        backend.add_scalars(dict(loss=1.0 - i / 10, time=0.5), step=i + 1)
    backend.add_scalars({'coco/bbox_mAP': 0.25}, step=3)
    with open(run_dir / 'vis_data' / 'scalars.json', 'a') as f:
        f.write('{"loss": 0.1, "ti')
    (run_dir / '20240101_000000.log').write_text('log\n')
    run = compare_tool.load_work_dir(str(tmp_path / 'wd'))
    assert [r['loss'] for r in run['train']] == [1.0, 0.9, 0.8]
    assert compare_tool.metric_value(run['metrics'], 'bbox_mAP') == 0.25
    assert run['log'] == str(run_dir / '20240101_000000.log')
