"""Compare training runs side by side: a markdown table and a PNG.

Each WORK_DIR is what ``tools/train.py`` (and ``tools/test.py``) wrote:
``<work_dir>/<timestamp>/vis_data/scalars.json`` holds the training log
(loss, lr, ``time``, the ``ohem/*`` stats of ``MiningStatsHook``) and the
validation metrics (``coco/bbox_mAP``...); a test run writes its metrics to
``<work_dir>/<timestamp>/<timestamp>.json``. The newest run with a training
log and the newest metrics of each work dir are used.

Seeds are grouped by name: ``--names`` may repeat a name, and the table
then shows mean ± std over the work dirs of each name, with the delta of
each column's mean to the first column's. COCO runs (the dumped config's
train dataset is a ``CocoDataset`` under a ``coco`` data root, or
``--coco``) also get reference numbers from the model zoo and the paper.

Example::

    python tools/analysis/compare.py work_dirs/rand_s{0,1,2} \\
        work_dirs/ohem_s{0,1,2} \\
        --names rand rand rand ohem ohem ohem --out compare.png
"""
import argparse
import glob
import io
import math
import os
import os.path as osp
import re
import statistics
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.fileio import list_from_file, load

AP_METRICS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s',
              'bbox_mAP_m', 'bbox_mAP_l')
TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')
FG_SHARE = re.compile(r'^ohem/(?:s(\d+)\.)?fg_share$')

# Box AP (%) on COCO; model zoo numbers are val2017, the paper's test-dev.
COCO_REFERENCES = (
    ('MMDetection model zoo: Faster R-CNN R50-FPN 1x (val2017)', 37.4),
    ('MMDetection model zoo: Libra R-CNN R50-FPN 1x (val2017)', 38.3),
    ('MMDetection model zoo: PISA Faster R-CNN R50-FPN 1x (val2017)', 38.4),
    ('OHEM paper: VGG16 Fast R-CNN (test-dev)', 19.7),
    ('OHEM paper: VGG16 Fast R-CNN + OHEM (test-dev)', 22.6),
)

Run = Dict[str, object]
Stats = Tuple[Optional[float], Optional[float], int]  # mean, std, count


def read_scalars(path: str) -> List[dict]:
    """Records of mmengine's ``scalars.json`` (``LocalVisBackend``).

    The backend appends one ``mmengine.fileio.dump`` per line; each line is
    read back with ``mmengine.fileio.load``. A line that does not load (the
    last one of a killed run) ends the records.
    """
    records = []
    for line in list_from_file(path):
        if not line.strip():
            continue
        try:
            record = load(io.StringIO(line), file_format='json')
        except ValueError:
            break
        if isinstance(record, dict):
            records.append(record)
    return records


def read_test_metrics(path: str) -> Optional[dict]:
    """The metrics ``LoggerHook.after_test_epoch`` dumped (one JSON
    document, ``<work_dir>/<timestamp>/<timestamp>.json``), or ``None``."""
    try:
        record = load(path, file_format='json')
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def metric_value(record: dict, name: str) -> Optional[float]:
    """``record``'s value of metric ``name`` (``coco/<name>`` preferred).

    ``None`` if absent or negative (COCO reports -1 for an area range
    without any object).
    """
    value = None
    for key in (f'coco/{name}', name):
        if key in record:
            value = record[key]
            break
    else:
        for key, candidate in record.items():
            if key.endswith(f'/{name}'):
                value = candidate
                break
    if value is None or float(value) < 0:
        return None
    return float(value)


def is_train_record(record: dict) -> bool:
    """Whether a ``scalars.json`` line is a training log line."""
    return 'loss' in record


def has_metrics(record: dict) -> bool:
    """Whether a record holds evaluation metrics."""
    return any(
        key == 'bbox_mAP' or key.endswith('/bbox_mAP') for key in record)


def find_runs(work_dir: str) -> List[str]:
    """The ``<timestamp>`` run dirs of ``work_dir``, oldest first."""
    if not osp.isdir(work_dir):
        return []
    return [
        osp.join(work_dir, name) for name in sorted(os.listdir(work_dir))
        if TIMESTAMP.match(name) and osp.isdir(osp.join(work_dir, name))
    ]


def find_config(work_dir: str) -> Optional[str]:
    """The config the runner dumped into ``work_dir`` (newest ``*.py``)."""
    configs = glob.glob(osp.join(work_dir, '*.py'))
    return max(configs, key=osp.getmtime) if configs else None


def _unwrap_dataset(dataset):
    """The first leaf dataset config below dataset wrappers."""
    while isinstance(dataset, dict):
        if dataset.get('dataset') is not None:
            dataset = dataset['dataset']
        elif dataset.get('datasets'):
            dataset = dataset['datasets'][0]
        else:
            return dataset
    return None


def is_coco_config(path: str) -> bool:
    """Whether a config trains on COCO: its train dataset is a
    ``CocoDataset`` whose ``data_root`` contains ``coco``."""
    try:
        from mmengine.config import Config
        cfg = Config.fromfile(path, import_custom_modules=False)
        dataset = _unwrap_dataset(
            cfg.get('train_dataloader', {}).get('dataset'))
        if dataset is None:
            return False
        root = str(dataset.get('data_root') or '')
        return dataset.get('type') == 'CocoDataset' and \
            'coco' in root.lower()
    except Exception:  # not loadable here: look at the text instead
        with open(path) as f:
            text = f.read()
        return bool(
            re.search(r"type\s*=\s*['\"]CocoDataset['\"]", text)
            and re.search(r"data_root\s*=\s*['\"][^'\"]*coco", text, re.I))


def load_work_dir(work_dir: str) -> Run:
    """Training log and metrics of a work dir's newest runs.

    Reads what mmengine's ``Runner`` writes: ``<timestamp>/vis_data/
    scalars.json`` (the ``LogProcessor``'s training and validation tags),
    ``<timestamp>/<timestamp>.json`` (a test run's metrics) and
    ``<timestamp>/<timestamp>.log`` (the text log).

    Args:
        work_dir (str): A ``tools/train.py`` work dir.

    Returns:
        dict: ``work_dir``; ``train``: the training log lines of the newest
        run that has any; ``log``: that run's text log (``None`` without
        one); ``metrics``: the newest evaluation record (a test run's after
        the validation lines of a training run), or ``None``; ``coco``:
        whether the dumped config is a COCO one (``None`` without a dumped
        config).
    """
    train: List[dict] = []
    log: Optional[str] = None
    metrics: Optional[dict] = None
    for run in find_runs(work_dir):
        scalars = osp.join(run, 'vis_data', 'scalars.json')
        records = read_scalars(scalars) if osp.isfile(scalars) else []
        run_train = [r for r in records if is_train_record(r)]
        if run_train:
            train = run_train
            log = osp.join(run, f'{osp.basename(run)}.log')
            log = log if osp.isfile(log) else None
        evals = [r for r in records if has_metrics(r)]
        if evals:
            metrics = evals[-1]
        test_json = osp.join(run, f'{osp.basename(run)}.json')
        if osp.isfile(test_json):
            record = read_test_metrics(test_json)
            if record is not None and has_metrics(record):
                metrics = record
    config = find_config(work_dir)
    return dict(
        work_dir=work_dir,
        train=train,
        log=log,
        metrics=metrics,
        coco=is_coco_config(config) if config else None)


def _mean_of(records: List[dict], key: str) -> Optional[float]:
    values = [float(r[key]) for r in records if key in r]
    return sum(values) / len(values) if values else None


def summarize(run: Run) -> Dict[str, Optional[float]]:
    """The table rows of one run.

    Returns:
        dict: AP metrics in % (``bbox_mAP``...), ``final loss`` (the last
        logged, window-averaged loss), ``mean step time (s)`` (mean of the
        logged ``time``), ``iterations`` and the mean fg share of the OHEM
        picks (one row per cascade stage); ``None`` where the run lacks it.
    """
    rows: Dict[str, Optional[float]] = OrderedDict()
    metrics = run.get('metrics') or {}
    for name in AP_METRICS:
        value = metric_value(metrics, name)
        rows[name] = None if value is None else 100 * value
    train: List[dict] = run.get('train') or []  # type: ignore
    losses = [r['loss'] for r in train if 'loss' in r]
    rows['final loss'] = float(losses[-1]) if losses else None
    rows['mean step time (s)'] = _mean_of(train, 'time')
    iters = [r.get('iter', r.get('step')) for r in train]
    iters = [i for i in iters if i is not None]
    rows['iterations'] = float(iters[-1]) if iters else None
    for key in sorted({k for r in train for k in r if FG_SHARE.match(k)}):
        rows[fg_share_row(key)] = _mean_of(train, key)
    return rows


def fg_share_row(key: str) -> str:
    """Table row name of an ``ohem/[s{i}.]fg_share`` key."""
    stage = FG_SHARE.match(key).group(1)
    return 'fg share of picks' + ('' if stage is None else f' (stage {stage})')


def _stats(values: List[float]) -> Stats:
    if not values:
        return None, None, 0
    std = statistics.stdev(values) if len(values) > 1 else None
    return statistics.fmean(values), std, len(values)


def aggregate(runs: Sequence[Run],
              names: Sequence[str]) -> 'OrderedDict[str, Dict[str, Stats]]':
    """Mean, std and count of every row over the runs of each name.

    Args:
        runs (Sequence[dict]): :func:`load_work_dir` results.
        names (Sequence[str]): The column name of each run; equal names are
            grouped (seeds), columns keep their first appearance's order.

    Returns:
        OrderedDict: ``{name: {row: (mean, std, n)}}``; ``std`` is the
        sample standard deviation, ``None`` for fewer than two values.
    """
    if len(runs) != len(names):
        raise ValueError(f'{len(names)} names for {len(runs)} work dirs')
    summaries = [summarize(run) for run in runs]
    rows: List[str] = []
    for summary in summaries:
        rows += [row for row in summary if row not in rows]
    groups: 'OrderedDict[str, Dict[str, Stats]]' = OrderedDict()
    for name in OrderedDict.fromkeys(names):
        members = [s for s, n in zip(summaries, names) if n == name]
        groups[name] = OrderedDict(
            (row, _stats([s[row] for s in members
                          if s.get(row) is not None])) for row in rows)
    return groups


def _digits(row: str) -> int:
    if row.startswith('bbox_mAP'):
        return 1
    return 4 if row == 'final loss' else 0 if row == 'iterations' else 3


def format_cell(stats: Stats, row: str,
                first: Optional[Stats] = None) -> str:
    """``mean ± std (+delta)`` of one row and column."""
    mean, std, _ = stats
    if mean is None:
        return '–'
    digits = _digits(row)
    cell = f'{mean:.{digits}f}'
    if std is not None:
        cell += f' ± {std:.{digits}f}'
    if first is not None and first[0] is not None:
        cell += f' ({mean - first[0]:+.{digits}f})'
    return cell


def format_table(groups: 'OrderedDict[str, Dict[str, Stats]]') -> str:
    """Markdown table: one row per metric, one column per name.

    Columns after the first also show the difference of their mean to the
    first column's mean in parentheses.
    """
    names = list(groups)
    counts = [max((s[2] for s in groups[n].values()), default=0)
              for n in names]
    header = ['metric'] + [f'{n} (n={c})' if c > 1 else n
                           for n, c in zip(names, counts)]
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---'] + ['---:'] * len(names)) + '|']
    rows = list(groups[names[0]]) if names else []
    for row in rows:
        first = groups[names[0]][row]
        cells = [format_cell(first, row)] + [
            format_cell(groups[n][row], row, first) for n in names[1:]
        ]
        label = f'{row} (AP %)' if row.startswith('bbox_mAP') else row
        lines.append('| ' + ' | '.join([label] + cells) + ' |')
    return '\n'.join(lines)


def format_references() -> str:
    """Markdown table of reference COCO box APs."""
    lines = ['| COCO reference | box AP |', '|---|---:|']
    lines += [f'| {name} | {ap:.1f} |' for name, ap in COCO_REFERENCES]
    return '\n'.join(lines)


def _curve(records: List[dict], key: str) -> Tuple[list, list]:
    points = [(r.get('iter', r.get('step')), r[key]) for r in records
              if key in r and r.get('iter', r.get('step')) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def plot(runs: Sequence[Run], names: Sequence[str],
         groups: 'OrderedDict[str, Dict[str, Stats]]', out: str) -> None:
    """Write a PNG: AP bars, loss curves and fg share of the picks.

    Args:
        runs (Sequence[dict]): :func:`load_work_dir` results.
        names (Sequence[str]): The name of each run.
        groups (OrderedDict): :func:`aggregate` of the runs.
        out (str): PNG path.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fg_keys = sorted({k for run in runs for r in run['train']
                      for k in r if FG_SHARE.match(k)})
    panels = 3 if fg_keys else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.2))
    colors = {n: f'C{i}' for i, n in enumerate(groups)}

    ax = axes[0]
    width = 0.8 / max(len(groups), 1)
    any_ap = False
    for i, (name, rows) in enumerate(groups.items()):
        means = [rows.get(m, (None, None, 0))[0] for m in AP_METRICS]
        stds = [rows.get(m, (None, None, 0))[1] for m in AP_METRICS]
        if all(m is None for m in means):
            continue
        any_ap = True
        xs = [j + (i - (len(groups) - 1) / 2) * width
              for j in range(len(AP_METRICS))]
        yerr = None if all(s is None for s in stds) else \
            [s or 0. for s in stds]
        ax.bar(xs, [m if m is not None else math.nan for m in means], width,
               yerr=yerr, capsize=2, label=name, color=colors[name])
    ax.set_xticks(range(len(AP_METRICS)))
    ax.set_xticklabels([m.replace('bbox_', '') for m in AP_METRICS],
                       rotation=30)
    ax.set_ylabel('box AP (%)')
    ax.set_title('Evaluation')
    if any_ap:
        ax.legend()
    else:
        ax.text(0.5, 0.5, 'no evaluation metrics', ha='center',
                transform=ax.transAxes)

    def curves(ax, key_of_run, ylabel, title):
        labelled = set()
        for run, name in zip(runs, names):
            for key, style in key_of_run(run):
                xs, ys = _curve(run['train'], key)
                if not xs:
                    continue
                stage = FG_SHARE.match(key)
                stage = stage.group(1) if stage else None
                label = name if stage is None else f'{name} s{stage}'
                ax.plot(xs, ys, style, color=colors[name], alpha=0.8,
                        label=None if label in labelled else label)
                labelled.add(label)
        ax.set_xlabel('iteration')
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if labelled:
            ax.legend()

    curves(axes[1], lambda run: [('loss', '-')], 'loss', 'Training loss')
    if fg_keys:
        styles = ['-', '--', ':', '-.']
        curves(axes[2],
               lambda run: [(k, styles[i % 4]) for i, k in enumerate(fg_keys)],
               'fg share', 'Foreground share of the OHEM picks')
    fig.tight_layout()
    out_dir = osp.dirname(out)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def compare(work_dirs: Sequence[str],
            names: Optional[Sequence[str]] = None,
            out: Optional[str] = None,
            coco: bool = False) -> str:
    """Load, aggregate, format (and plot) the runs of ``work_dirs``.

    Args:
        work_dirs (Sequence[str]): Work dirs, one column each unless
            ``names`` groups them.
        names (Sequence[str], optional): Column name of each work dir;
            default: the work dirs' base names.
        out (str, optional): PNG to write; ``None``: no plot.
        coco (bool): Print the COCO references even if no dumped config
            says COCO.

    Returns:
        str: The markdown report.
    """
    if names is None:
        names = [osp.basename(osp.normpath(w)) for w in work_dirs]
    runs = [load_work_dir(w) for w in work_dirs]
    groups = aggregate(runs, names)
    report = format_table(groups)
    if coco or any(run['coco'] for run in runs):
        report += '\n\n' + format_references()
    if out:
        plot(runs, names, groups, out)
    return report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Compare training runs (work dirs) side by side.')
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR')
    parser.add_argument(
        '--names', nargs='+',
        help='a column name per work dir; repeat a name to group seeds '
        '(mean ± std)')
    parser.add_argument(
        '--out', default='compare.png',
        help='PNG to write (default: %(default)s); "" for none')
    parser.add_argument(
        '--coco', action='store_true',
        help='print the COCO reference numbers even without a dumped COCO '
        'config in the work dirs')
    args = parser.parse_args(argv)
    if args.names is not None and len(args.names) != len(args.work_dirs):
        parser.error(f'--names has {len(args.names)} names for '
                     f'{len(args.work_dirs)} work dirs')
    for work_dir in args.work_dirs:
        if not find_runs(work_dir):
            parser.error(f'no <timestamp> run dir in {work_dir}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the comparison and write the PNG."""
    args = parse_args(argv)
    print(compare(args.work_dirs, args.names, args.out or None, args.coco))
    if args.out:
        print(f'\nwrote {args.out}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
