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
import os
import os.path as osp
import sys
from typing import Optional, Sequence

import run_bench
from mmengine.config import Config
from run_bench import (BASELINE, REGIMES, ROOT, SCHEMA, SETS, THREADS, plan,
                       resolve_config, run_jobs, train)

# frame and frame_against live with the results' reading; named here too.
from mmdet_ohem.benchmark.results import frame_against  # noqa: F401
from mmdet_ohem.benchmark.results import Cell, committed_path, frame, read_cell
from mmdet_ohem.utils.provenance import environment


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
    try:
        args.committed = read_cell(path)
    except ValueError:
        parser.error(f'{path} is not a schema-{SCHEMA} results file')
    for variant in args.variants:
        seeds = sorted(args.committed.values.get(variant, {}))
        if args.seed not in seeds:
            parser.error(
                f'{path} has no {variant!r} run of seed {args.seed}; its '
                f"seeds: {', '.join(map(str, seeds)) or 'none'}")
    env_var = SETS[args.set].env
    if env_var and not osp.isdir(os.environ.get(env_var, '')):
        parser.error(f'{args.set} needs its photos: set {env_var} to '
                     'their folder')
    return args


def committed_iters(committed: Cell, variant: str,
                    seed: int) -> Optional[int]:
    """The schedule length of the committed run (``None``: unknown)."""
    run = committed.used.get(variant, {}).get(seed)
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
                       lambda job, stop: train(job, args.python, stop, env),
                       env['commit'])
    print(frame(args.committed,
                [records[j] for j in jobs if j.regime != 'warm-start'],
                committed_path(args.results, args.set, args.regime)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
