"""Train the sampling variants on every benchmark set; one table per set.

Each job is ``tools/train.py`` on a set's RandomSampler config plus the
variant's ``--cfg-options`` and ``randomness.seed``; jobs run ``--jobs`` at
a time, one thread each, and a job whose work dir already holds its metric
is kept, so an interrupted run resumes. Two regimes:

* ``scratch``: the set's schedule from random weights;
* ``warm``: per seed, RandomSampler trains ``--warm-iters`` first; every
  variant then continues from that same checkpoint for ``--warm-iters``
  more (lr 0.01, then 0.001 for the last quarter): a stand-in for the
  paper's fine-tuning of pretrained networks, which nothing here can
  download.

The raw per-run metrics go to ``<out>/<set>_<regime>.json`` and the tables
(mean ± std over seeds, per-seed deltas to ``random``, paired by seed) to
``<out>/<set>_<regime>.md``; ``tools/analysis/render_results.py`` turns
the JSON files into README's table.

Real photos are read in place: ``BCCD_ROOT`` and ``RACCOON_ROOT`` name
their folders (see the configs); a set whose folder is missing is skipped
with a message.

Presets name the runs of ``make demo`` (synthetic, random vs ours, seed
0), ``make bench`` / ``bench-warm`` / ``bench-mmdet`` (README's table:
every set, 3 seeds, scratch and warm; mmdet's OHEMSampler on the real
sets) and ``make ablations`` (synthetic, seed 0, the mining variants);
options override them. A summary file keeps the rows of variants run by
another preset. Example::

    python tools/analysis/run_bench.py --preset bench --out docs/results
    python tools/analysis/run_bench.py --sets bccd raccoon --variants random \\
        ohem-label0.5 --seeds 0 1 2 --regimes scratch warm
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
from compare import compare, load_work_dir, metric_value  # noqa: E402

# name: (config of its RandomSampler variant, metric, data check)
SETS = {
    'synthetic':
    ('configs/hard_negatives/'
     'faster-rcnn_r18-tiny_fpn_random_hard-negatives.py', 'bbox_mAP', None),
    'bccd': ('configs/bccd/faster-rcnn_r18-tiny_fpn_random_bccd.py',
             'bbox_mAP', 'BCCD_ROOT'),
    'raccoon': ('configs/raccoon/faster-rcnn_r18-tiny_fpn_random_raccoon.py',
                'bbox_mAP', 'RACCOON_ROOT'),
}
_S = 'model.train_cfg.rcnn.sampler.'
_OURS = [
    'model.roi_head.type=OHEMRoIHead', f'{_S}type=LossRankedOHEMSampler',
    f'{_S}pos_fraction=None', f'{_S}ranking=cls+bbox'
]
# NMS by loss per image and label (the sampler's default), or per image.
_LABEL, _AGNOSTIC = f'{_S}nms_per_label=True', f'{_S}nms_per_label=False'
# The same options on every set; 'ohem-label0.5-rand0.5' is the entry
# config's mining.
VARIANTS: Dict[str, List[str]] = {
    'random': [],
    'mmdet-ohem': [f'{_S}type=OHEMSampler'],
    'ohem-paper':
    _OURS + [f'{_S}nms_thr=0.7', _AGNOSTIC],
    'ohem-nms0.5':
    _OURS + [f'{_S}nms_thr=0.5', _AGNOSTIC],
    'ohem-label0.5':
    _OURS + [f'{_S}nms_thr=0.5', _LABEL],
    # The top 128 of the batch rather than 64 of each image.
    'ohem-label0.5-batch':
    _OURS + [f'{_S}nms_thr=0.5', _LABEL, f'{_S}scope=batch'],
    'ohem-label0.5-rand0.5':
    _OURS + [f'{_S}nms_thr=0.5', _LABEL, f'{_S}random_fraction=0.5'],
    # The authors' exact mining (configs/...ohem-paper...): per-label NMS
    # at 0.7, smooth-L1 ranking and training.
    'ohem-authors':
    _OURS + [
        f'{_S}nms_thr=0.7', _LABEL,
        'model.roi_head.bbox_head.loss_bbox.type=SmoothL1Loss',
        'model.roi_head.bbox_head.loss_bbox.beta=1.0'
    ],
    # Ablations of paper mode: a random warm-up, CE-only ranking.
    'ohem-paper-warmup400':
    _OURS + [f'{_S}nms_thr=0.7', _AGNOSTIC, f'{_S}warmup_iters=400'],
    'ohem-paper-rank-cls':
    _OURS + [f'{_S}nms_thr=0.7', _AGNOSTIC, f'{_S}ranking=cls'],
}
# Named runs: `make demo`, `make bench[-warm|-mmdet]`, `make ablations`.
PRESETS = {
    'demo':
    dict(
        sets=['synthetic'],
        variants=['random', 'ohem-label0.5-rand0.5'],
        seeds=[0],
        regimes=['scratch']),
    # README's table, split so that each target fits ~90 min on 2 cores.
    'bench':
    dict(
        sets=list(SETS),
        variants=['random', 'ohem-label0.5-rand0.5'],
        seeds=[0, 1, 2],
        regimes=['scratch']),
    'bench-warm':
    dict(
        sets=list(SETS),
        variants=['random', 'ohem-label0.5-rand0.5'],
        seeds=[0, 1, 2],
        regimes=['warm']),
    'bench-mmdet':
    dict(
        sets=['bccd', 'raccoon'],
        variants=['random', 'mmdet-ohem'],
        seeds=[0, 1, 2],
        regimes=['scratch']),
    'ablations':
    dict(
        sets=['synthetic'],
        variants=[
            'random', 'ohem-paper', 'ohem-authors', 'ohem-nms0.5',
            'ohem-label0.5', 'ohem-label0.5-rand0.5', 'ohem-label0.5-batch',
            'ohem-paper-warmup400', 'ohem-paper-rank-cls'
        ],
        seeds=[0],
        regimes=['scratch']),
}
BASELINE = 'random'
REGIMES = ('scratch', 'warm')


def schedule(iters: int,
             lr: Optional[float] = None,
             decay: bool = True) -> List[str]:
    """Options for an ``iters``-long run of the benchmark base schedule.

    Args:
        iters (int): Training iterations.
        lr (float, optional): A constant learning rate (no linear warm-up)
            instead of the config's, divided by 10 for the last quarter.
        decay (bool): Keep the config's two decays (at 3/4 and 9/10).
    """
    opts = [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'param_scheduler.1.end={iters}',
        f'default_hooks.checkpoint.interval={iters}'
    ]
    if lr is not None:
        milestones = [iters * 3 // 4]
        opts += [
            f'optim_wrapper.optimizer.lr={lr}',
            'param_scheduler.0.start_factor=1.0'
        ]
    else:
        milestones = [iters * 3 // 4, iters * 9 // 10] if decay else [10**9]
    opts.append('param_scheduler.1.milestones=[{}]'.format(','.join(
        map(str, milestones))))
    return opts


class Job:
    """One ``tools/train.py`` run, started once ``after`` (if any) is done.

    Args:
        name (str): For the progress lines.
        config (str): The config, relative to the repository root.
        work_dir (str): Its work dir; the log goes beside it.
        options (list[str]): ``--cfg-options``.
        metric (str): The metric whose presence marks the run done.
        after (Job, optional): The run whose checkpoint this one loads.
    """

    def __init__(self,
                 name: str,
                 config: str,
                 work_dir: str,
                 options: List[str],
                 metric: str,
                 after: Optional['Job'] = None):
        self.name, self.config = name, config
        self.work_dir, self.options = work_dir, options
        self.metric, self.after = metric, after

    def done(self) -> bool:
        metrics = load_work_dir(self.work_dir)['metrics'] if osp.isdir(
            self.work_dir) else None
        return metrics is not None and metric_value(metrics,
                                                    self.metric) is not None

    def start(self, python: str) -> subprocess.Popen:
        os.makedirs(osp.dirname(self.work_dir), exist_ok=True)
        cmd = [
            python,
            osp.join(ROOT, 'tools', 'train.py'), self.config, '--work-dir',
            self.work_dir, '--cfg-options'
        ] + self.options
        log = open(self.work_dir + '.log', 'w')
        env = dict(os.environ, OMP_NUM_THREADS='1')
        return subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)


def run_jobs(jobs: List[Job], num_parallel: int, python: str) -> None:
    """Run the unfinished jobs, ``num_parallel`` at a time, in order, each
    as soon as the job it continues from has finished (so a slot never
    waits for the other seeds' warm starts)."""
    todo = [j for j in jobs if not j.done()]
    running: List[Tuple[Job, subprocess.Popen]] = []
    try:
        while todo or running:
            busy = todo + [job for job, _ in running]
            ready = [j for j in todo if j.after not in busy]
            while ready and len(running) < num_parallel:
                job = ready.pop(0)
                todo.remove(job)
                print(f'==> start {job.name} -> {job.work_dir}', flush=True)
                running.append((job, job.start(python)))
            time.sleep(2)
            for job, proc in list(running):
                if proc.poll() is None:
                    continue
                running.remove((job, proc))
                status = 'done' if proc.returncode == 0 else \
                    f'FAILED ({proc.returncode}), see {job.work_dir}.log'
                print(f'==> {job.name}: {status}', flush=True)
                if proc.returncode:
                    raise SystemExit(f'{job.name} failed')
    finally:
        # A failed job or Ctrl-C: no training is left running unattended
        # (a rerun starts the unfinished ones again).
        for _, proc in running:
            proc.terminate()


def plan(set_name: str, regime: str, variants: Sequence[str],
         seeds: Sequence[int], work: str, warm_iters: int,
         iters: Optional[int]) -> Tuple[List[Job], Dict[Tuple[str, int], str]]:
    """The jobs of one set and regime (a seed's warm start before the runs
    that continue from it), and each variant's work dir by seed."""
    config, metric = SETS[set_name][:2]
    jobs, dirs = [], {}
    for seed in seeds:
        seed_opts = [f'randomness.seed={seed}']
        start_opts: List[str] = []
        warm_start = None
        if regime == 'warm':
            warm_dir = osp.join(work, set_name, f'warm-start_s{seed}')
            warm_start = Job(f'{set_name}/warm-start/s{seed}', config,
                             warm_dir,
                             seed_opts + schedule(warm_iters, decay=False),
                             metric)
            jobs.append(warm_start)
            start_opts = [f'load_from={warm_dir}/iter_{warm_iters}.pth'
                          ] + schedule(
                              warm_iters, lr=0.01)
        elif iters is not None:
            start_opts = schedule(iters)
        for variant in variants:
            work_dir = osp.join(work, set_name, f'{regime}_{variant}_s{seed}')
            dirs[variant, seed] = work_dir
            jobs.append(
                Job(f'{set_name}/{regime}/{variant}/s{seed}', config, work_dir,
                    seed_opts + start_opts + VARIANTS[variant], metric,
                    warm_start))
    return jobs, dirs


def summarize(set_name: str, regime: str, variants: Sequence[str],
              seeds: Sequence[int], dirs: Dict[Tuple[str, int], str]) -> dict:
    """Per-seed metric of each variant (in %), and fg share when logged."""
    metric = SETS[set_name][1]
    runs: Dict[str, Dict[str, Optional[float]]] = {}
    for variant in variants:
        runs[variant] = {}
        for seed in seeds:
            run = load_work_dir(dirs[variant, seed])
            value = metric_value(run['metrics'] or {}, metric)
            runs[variant][str(seed)] = None if value is None else \
                round(100 * value, 2)
    return dict(set=set_name, regime=regime, metric=metric, runs=runs)


def merge_summary(path: str, summary: dict) -> dict:
    """``summary`` plus the other variants' runs already in ``path``.

    So that targets which run different variants of a set (``make bench``,
    ``make bench-mmdet``) fill one table; a variant run now replaces its
    old runs whole.
    """
    if not osp.isfile(path):
        return summary
    with open(path) as f:
        old = json.load(f)
    if old.get('metric') != summary['metric']:
        return summary
    runs = {k: v for k, v in old['runs'].items() if k not in summary['runs']}
    return dict(summary, runs=dict(summary['runs'], **runs))


def format_summary(summary: dict) -> str:
    """Markdown: per-seed values, mean ± std, paired deltas to random."""
    runs, metric = summary['runs'], summary['metric']
    seeds = list(next(iter(runs.values())))
    base = runs.get(BASELINE)
    lines = [
        f"### {summary['set']}, {summary['regime']}: {metric} (%)", '',
        '| variant | ' + ' | '.join(f'seed {s}' for s in seeds) +
        ' | mean ± std | Δ to random per seed | mean Δ |',
        '|---|' + '---:|' * (len(seeds) + 3)
    ]
    for variant, values in runs.items():
        vals = [values[s] for s in seeds]
        got = [v for v in vals if v is not None]
        mean = statistics.fmean(got) if got else None
        std = statistics.stdev(got) if len(got) > 1 else 0.
        cells = ['–' if v is None else f'{v:.1f}' for v in vals]
        deltas = [
            None if v is None or base is None or base[s] is None else v -
            base[s] for v, s in zip(vals, seeds)
        ]
        shown = [d for d in deltas if d is not None]
        delta_cells = ' / '.join('–' if d is None else f'{d:+.1f}'
                                 for d in deltas)
        mean_delta = f'{statistics.fmean(shown):+.1f}' if shown and \
            variant != BASELINE else ''
        lines.append(f'| {variant} | ' + ' | '.join(cells) + (
            f' | {mean:.1f} ± {std:.1f}' if mean is not None else ' | –') +
                     f" | {delta_cells if variant != BASELINE else ''} |"
                     f' {mean_delta} |')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--preset',
        choices=list(PRESETS),
        default='bench',
        help='sets, variants, seeds and regimes of a named '
        'run; the options below override them')
    parser.add_argument('--sets', nargs='+', choices=list(SETS))
    parser.add_argument('--variants', nargs='+', choices=list(VARIANTS))
    parser.add_argument('--seeds', nargs='+', type=int)
    parser.add_argument('--regimes', nargs='+', choices=REGIMES)
    parser.add_argument(
        '--iters',
        type=int,
        default=None,
        help='scratch schedule length (default: the '
        "configs' 800)")
    parser.add_argument(
        '--warm-iters',
        type=int,
        default=400,
        help='iterations of the warm start, and after it')
    parser.add_argument('--work-dir', default='work_dirs/bench')
    parser.add_argument(
        '--out',
        default='work_dirs/bench/results',
        help='where the JSON and Markdown summaries go')
    parser.add_argument(
        '--jobs',
        type=int,
        default=2,
        help='trainings at a time (one thread each)')
    parser.add_argument('--python', default=sys.executable)
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, list(value))
    if BASELINE not in args.variants:
        args.variants.insert(0, BASELINE)
    return args


def prepare_data(set_name: str, python: str) -> None:
    """Write what a set's configs read besides the photos: the generated
    set, or raccoon's split lists."""
    if set_name == 'synthetic':
        subprocess.run([
            python,
            osp.join(ROOT, 'tools', 'data', 'generate_hard_negatives.py'),
            '--out',
            osp.join(ROOT, 'data', 'hard_negatives')
        ],
                       check=True)
    elif set_name == 'raccoon':
        subprocess.run([
            python,
            osp.join(ROOT, 'tools', 'data', 'prepare_raccoon.py'), '--root',
            os.environ[SETS[set_name][2]]
        ],
                       check=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    planned = []
    for set_name in args.sets:
        env_var = SETS[set_name][2]
        if env_var and not osp.isdir(os.environ.get(env_var, '')):
            print(
                f'==> skipping {set_name}: set {env_var} to its folder',
                flush=True)
            continue
        prepare_data(set_name, args.python)
        for regime in args.regimes:
            planned.append((set_name, regime) +
                           plan(set_name, regime, args.variants, args.seeds,
                                args.work_dir, args.warm_iters, args.iters))
    # One pool for every set and regime: no slot idles at a set's end.
    run_jobs([job for *_, jobs, _ in planned for job in jobs], args.jobs,
             args.python)
    for set_name, regime, _, dirs in planned:
        stem = osp.join(args.out, f'{set_name}_{regime}')
        summary = merge_summary(
            stem + '.json',
            summarize(set_name, regime, args.variants, args.seeds, dirs))
        with open(stem + '.json', 'w') as f:
            json.dump(summary, f, indent=2)
        table = format_summary(summary)
        with open(stem + '.md', 'w') as f:
            f.write(table + '\n')
        print(table, flush=True)
        # Every metric, the loss curves and the fg share, seeds grouped.
        compare([dirs[v, seed] for v in args.variants for seed in args.seeds],
                [v for v in args.variants for _ in args.seeds],
                out=stem + '.png')
    print(f'==> {time.time() - start:.0f} s', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
