"""Re-run one seed of one committed results cell here, and show where it
lands in the committed spread.

A seed does not make the same run on another CPU (float sums in another
order), and short schedules amplify that, so the question is not "same
number?" but "inside the spread the committed seeds show?". This trains
the variant's config for that seed exactly as ``run_bench.py`` did (its
work dir under ``--work-dir``, never in ``docs/results``) and prints the
new value beside that seed's committed value and the cell's mean and
min-max over its seeds. ``--pair`` trains ``random`` for the same seed as
well and compares the paired difference with the committed ones (their
mean, min-max and 95 % confidence interval, Student t over the per-seed
differences). Example::

    python tools/analysis/reproduce.py --set raccoon --regime scratch \\
        --variant ohem --seed 0 --pair
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import run_bench
from mmengine.config import Config
from run_bench import (BASELINE, REGIMES, ROOT, SCHEMA, SETS, THREADS, plan,
                       resolve_config, run_jobs, train)

from mmdet_ohem.utils.bench_results import Cell, compare
from mmdet_ohem.utils.paired_stats import mean_ci95
from mmdet_ohem.utils.provenance import environment


def cell_values(results: dict, variant: str) -> Dict[int, float]:
    """``{seed: metric}`` of a variant in a results file, read as the
    tables read it (legacy runs left out, the latest run of a seed)."""
    return Cell.from_results(results).values.get(variant, {})


def _where(value: float, spread: Sequence[float]) -> str:
    low, high = min(spread), max(spread)
    side = 'inside' if low <= value <= high else 'outside'
    return f'your machine lands {side} the committed spread'


def _line(label: str, yours: float, committed: Dict[int, float], seed: int,
          signed: bool) -> List[str]:
    fmt = '{:+.1f}' if signed else '{:.1f}'
    if not committed:
        return [f'  {label}: yours {fmt.format(yours)}; nothing committed '
                'to compare with']
    values = list(committed.values())
    same = fmt.format(committed[seed]) if seed in committed else '–'
    lines = [
        f'  {label}: yours {fmt.format(yours)} | committed seed {seed}: '
        f'{same} | committed over {len(values)} seed(s): mean '
        f'{fmt.format(statistics.fmean(values))}, min-max '
        f'{fmt.format(min(values))} to {fmt.format(max(values))}'
    ]
    if signed:
        ci = mean_ci95(values)
        if ci.low is not None:
            lines[0] += (f', 95 % CI {fmt.format(ci.low)} to '
                         f'{fmt.format(ci.high)}')
    lines.append(f'    -> {_where(yours, values)}')
    return lines


def frame(committed: dict, records: Sequence[dict], source: str) -> str:
    """Where new records land in a committed results file's spread.

    Args:
        committed (dict): A schema-2 results file.
        records (Sequence[dict]): New records of that set and regime.
        source (str): The committed file's name, for the heading.

    Returns:
        str: Per variant and seed: the new value, the committed value of
        that seed, the cell's mean and min-max over seeds; for a seed with
        ``random`` and another variant, the paired difference against the
        committed ones (with their Student-t 95 % CI).
    """
    metric = committed['metric']
    lines = [
        f"{committed['set']}, {committed['regime']}: {metric} (%), this "
        f'machine against {source}',
        'A seed does not make the same run on another CPU: read the spread '
        'over seeds, not the exact values.'
    ]
    cell = Cell.from_results(committed, source)
    if cell.legacy:
        lines.append(f'({cell.legacy} legacy committed runs left out: no '
                     'commit, config or versions recorded)')
    mine: Dict[Tuple[str, int], float] = {
        (r['variant'], r['seed']): r['metrics'][metric]
        for r in records if (r.get('metrics') or {}).get(metric) is not None
    }
    for (variant, seed), value in mine.items():
        lines += _line(f'{variant}, seed {seed}', value,
                       cell.values.get(variant, {}), seed, False)
    for (variant, seed), value in mine.items():
        if variant == BASELINE or (BASELINE, seed) not in mine:
            continue
        # The committed Δs as the tables pair them: within one commit.
        comp = compare([cell], variant)
        deltas = {} if comp is None else {
            s: d
            for (_, s), d in zip(comp.seeds, comp.ci.values)
        }
        lines += _line(f'Δ {variant} - {BASELINE}, seed {seed}',
                       value - mine[BASELINE, seed], deltas, seed, True)
    return '\n'.join(lines)


def committed_path(results_dir: str, set_key: str, regime: str) -> str:
    return osp.join(results_dir, f'{set_key}_{regime}.json')


def frame_against(results_dir: str, set_key: str, regime: str,
                  records: Sequence[dict]) -> str:
    """:func:`frame` against ``<results_dir>/<set>_<regime>.json``, or a
    line saying there is none."""
    path = committed_path(results_dir, set_key, regime)
    if not osp.isfile(path):
        return f'(no committed results to compare with: {path})'
    with open(path) as f:
        committed = json.load(f)
    if committed.get('schema') != SCHEMA:
        return f'(committed results of another schema: {path})'
    return frame(committed, records, path)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--set', required=True, choices=list(SETS))
    parser.add_argument('--regime', required=True, choices=REGIMES)
    parser.add_argument('--variant', required=True)
    parser.add_argument('--seed', required=True, type=int)
    parser.add_argument(
        '--pair',
        action='store_true',
        help=f'train {BASELINE} for the seed too and compare the paired '
        'difference')
    parser.add_argument('--results', default='docs/results',
                        help='the committed results files')
    parser.add_argument('--work-dir', default='work_dirs/reproduce')
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--python', default=sys.executable)
    args = parser.parse_args(argv)
    args.variants = [args.variant]
    if args.pair and args.variant != BASELINE:
        args.variants.insert(0, BASELINE)
    try:
        for variant in args.variants:
            resolve_config(args.set, variant)
    except ValueError as error:
        parser.error(str(error))
    path = committed_path(args.results, args.set, args.regime)
    if not osp.isfile(path):
        parser.error(f'no committed results for {args.set}, {args.regime}: '
                     f'{path}')
    with open(path) as f:
        args.committed = json.load(f)
    if args.committed.get('schema') != SCHEMA:
        parser.error(f'{path} is not a schema-{SCHEMA} results file')
    for variant in args.variants:
        seeds = sorted(cell_values(args.committed, variant))
        if args.seed not in seeds:
            parser.error(
                f'{path} has no {variant!r} run of seed {args.seed}; its '
                f"seeds: {', '.join(map(str, seeds)) or 'none'}")
    env_var = SETS[args.set].env
    if env_var and not osp.isdir(os.environ.get(env_var, '')):
        parser.error(f'{args.set} needs its photos: set {env_var} to '
                     'their folder')
    return args


def committed_iters(committed: dict, variant: str,
                    seed: int) -> Optional[int]:
    """The schedule length of the committed run (``None``: unknown)."""
    run = Cell.from_results(committed).used.get(variant, {}).get(seed)
    return run.get('iters') if run else None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    # The trainings run in the repository root, this process anywhere.
    args.work_dir = osp.abspath(args.work_dir)
    iters = committed_iters(args.committed, args.variant, args.seed)
    run_bench.prepare_data(args.set, args.python)
    if args.regime == 'warm':
        jobs = plan(args.set, 'warm', args.variants, [args.seed],
                    args.work_dir, iters or 400, None)
    else:
        # The config's schedule unless the committed run had another.
        cfg = Config.fromfile(
            osp.join(ROOT, resolve_config(args.set, args.variant)),
            import_custom_modules=False)
        if iters == cfg.train_cfg.max_iters:
            iters = None
        jobs = plan(args.set, 'scratch', args.variants, [args.seed],
                    args.work_dir, 400, iters)
    env = environment(ROOT, threads=THREADS)
    records = run_jobs(jobs, args.jobs,
                       lambda job, stop: train(job, args.python, stop, env))
    print(frame(args.committed,
                [records[j] for j in jobs if j.regime != 'warm-start'],
                committed_path(args.results, args.set, args.regime)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
