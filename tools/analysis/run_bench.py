"""Train the sampling variants on the benchmark sets; one results file per
set and regime.

A variant is a shipped config: variant ``v`` of a set is
``configs/benchmarks/<set_dir>/faster-rcnn_r18-tiny_fpn_<v>_<set_name>.py``
(``random``, ``ohem`` (the entry config's mining), ``mmdet-ohem``,
``ohem-agnostic``, ``ohem-perlabel``, ``ohem-paper``, ...). Each job is
``tools/train.py`` on that config with ``randomness.seed``; jobs run
``--jobs`` at a time (a thread pool over subprocesses), one thread each.
Two regimes:

* ``scratch``: the config's schedule from random weights;
* ``warm``: per seed, the ``random`` config trains ``--warm-iters`` first;
  every variant then continues from that same checkpoint for
  ``--warm-iters`` more (lr 0.01, then 0.001 for the last quarter): a
  stand-in for fine-tuning pretrained networks, which nothing here can
  download. A continuation waits for its own seed's warm start only.
  When the scratch regime runs too, the scratch ``random`` run of the
  seed is that warm start (its first ``--warm-iters`` iterations are the
  same ones): it saves a checkpoint there and no separate warm start runs.

A finished job writes its record (metrics and provenance: commit, dirty
tree, dumped config and its hash, versions, CPU, threads, wall time, log)
to ``<work_dir>/result.json``; a job whose work dir holds one is not run
again, so an interrupted run resumes where it stopped. The records go to
``<out>/<set>_<regime>.json`` (schema 2, docs/benchmark.md): a rerun
replaces the record of the same (variant, seed), the file keeps the other
records (``--keep-other-commits`` keeps both when the commits differ).
``<out>/<set>_<regime>.md`` holds the per-seed table.

Real photos are read in place: ``BCCD_ROOT``, ``RACCOON_ROOT`` and
``CARDS_ROOT`` name their folders; a set whose folder is missing is
skipped with a message.

Presets name the runs of ``make demo``, ``make bench`` / ``bench-warm`` /
``comparisons``, ``make ablations`` and the evidence ``panel``; options
override them. Example::

    python tools/analysis/run_bench.py --preset bench --out docs/results
    python tools/analysis/run_bench.py --sets bccd raccoon --variants random \\
        ohem-perlabel --seeds 0 1 2 --regimes scratch warm
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from concurrent.futures import (FIRST_EXCEPTION, Future, ThreadPoolExecutor,
                                wait)
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from compare import AP_METRICS, compare, load_work_dir, metric_value
from mmengine.config import Config
from render_results import cell_file

from mmdet_ohem.benchmark.results import (BASELINE, REAL_SETS, REGIMES, SCHEMA,
                                          SETS, Cell, bench_config,
                                          frame_against, shipped_variants)
from mmdet_ohem.utils.provenance import environment, file_sha256

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RECORD = 'result.json'
THREADS = 1


MAIN = ['random', 'ohem']
SEEDS = [0, 1, 2, 3, 4]
# The committed results (the folder `make bench` writes).
RESULTS_DIR = 'docs/results'
# Named runs: `make demo`, `make bench[-warm|-mmdet]`, `make ablations`,
# and the 5-seed panel (not a make target: 70 trainings, several hours;
# it resumes, so it can run in parts: docs/benchmark.md).
PRESETS = {
    'demo':
    dict(sets=['synthetic'], variants=MAIN, seeds=[0], regimes=['scratch']),
    # README's main rows: 5 seeds each (the protocol's minimum).
    'bench':
    dict(sets=list(SETS), variants=MAIN, seeds=SEEDS, regimes=['scratch']),
    'bench-warm':
    dict(sets=list(SETS), variants=MAIN, seeds=SEEDS, regimes=['warm']),
    # The comparison rows of docs/results.md: mmdet's OHEMSampler and
    # mining by loss alone (no random share), NMS per label or per image.
    'comparisons':
    dict(sets=list(REAL_SETS),
         variants=['random', 'mmdet-ohem', 'ohem-agnostic', 'ohem-perlabel'],
         seeds=[0, 1, 2], regimes=['scratch']),
    'ablations':
    dict(sets=['synthetic'],
         variants=['random', 'ohem', 'ohem-agnostic', 'ohem-perlabel',
                   'ohem-paper', 'mmdet-ohem'],
         seeds=[0], regimes=['scratch']),
    # The random share of the entry mining, against 0.5 (docs/results.md).
    'sweep':
    dict(sets=list(REAL_SETS),
         variants=['random', 'ohem-rand0.25', 'ohem', 'ohem-rand0.75'],
         seeds=[0, 1, 2], regimes=['scratch']),
    # Scratch on every set, warm on the real ones: see PANEL_REGIMES.
    'panel':
    dict(sets=list(SETS), variants=MAIN, seeds=SEEDS,
         regimes=['scratch', 'warm']),
}
# The panel's warm regime is on the real sets only.
PANEL_REGIMES = {'synthetic': ['scratch']}


def config_path(set_key: str, variant: str) -> str:
    """The config of ``variant`` on ``set_key``, relative to the root."""
    return osp.join('configs', bench_config(set_key, variant))


def available_variants(set_key: str) -> List[str]:
    """The variants a set ships a config for, sorted."""
    return shipped_variants(set_key, osp.join(ROOT, 'configs'))


def resolve_config(set_key: str, variant: str) -> str:
    """``config_path`` after checking the file exists.

    Raises:
        ValueError: no such config; the message lists the set's variants.
    """
    path = config_path(set_key, variant)
    if not osp.isfile(osp.join(ROOT, path)):
        raise ValueError(
            f'no config for variant {variant!r} on set {set_key!r} '
            f'({path}); variants of {set_key}: '
            f"{', '.join(available_variants(set_key)) or 'none'}")
    return path


def schedule(iters: int,
             lr: Optional[float] = None,
             decay: bool = True) -> List[str]:
    """``--cfg-options`` for an ``iters``-long run of the benchmark
    schedule (the warm regime's two halves, or ``--iters``).

    Args:
        iters (int): Training iterations.
        lr (float, optional): A constant learning rate (no linear warm-up)
            instead of the config's, divided by 10 for the last quarter.
        decay (bool): Keep the config's two decays (at 3/4 and 9/10).
    """
    opts = [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'param_scheduler.1.end={iters}'
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


# Only a warm start's checkpoint is read again: the other runs save none
# (saving takes time and disk and measures nothing).
NO_CHECKPOINT = [
    'default_hooks.checkpoint.interval=-1',
    'default_hooks.checkpoint.save_last=False'
]


def _measured(options: Sequence[str]) -> List[str]:
    """``options`` without those of the checkpoint hook."""
    return [
        o for o in options if not o.startswith('default_hooks.checkpoint.')
    ]


@dataclass(eq=False)
class Job:
    """One ``tools/train.py`` run.

    Args:
        set (str): Results set key.
        regime (str): ``scratch``, ``warm`` or ``warm-start``.
        variant (str): The config's variant.
        seed (int): ``randomness.seed``.
        config (str): The config, relative to the root.
        work_dir (str): Its work dir; the console output goes beside it.
        options (list[str]): ``--cfg-options`` besides the seed.
        after (Job, optional): The warm start whose checkpoint this loads.
        outputs (list[str]): Files besides the record a later job reads.
    """
    set: str
    regime: str
    variant: str
    seed: int
    config: str
    work_dir: str
    options: List[str] = field(default_factory=list)
    after: Optional['Job'] = None
    outputs: List[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f'{self.set}/{self.regime}/{self.variant}/s{self.seed}'

    def command(self, python: str) -> List[str]:
        return [
            python,
            osp.join(ROOT, 'tools', 'train.py'), self.config, '--work-dir',
            self.work_dir, '--cfg-options', f'randomness.seed={self.seed}'
        ] + self.options

    def record(self, commit: Optional[str] = None) -> Optional[dict]:
        """The complete record in the work dir, else ``None``.

        A record of another config or other options (``--iters``, another
        warm start) is not this job's: the job runs again (records written
        before they held the options are taken as they are). Checkpoint
        options measure nothing: a run that saved the warm start's
        checkpoint is the same training as one that saved none, and a
        checkpoint this job must leave is checked as one of its outputs.

        Args:
            commit (str, optional): The commit the job would run at. A
                record of another commit is not resumed: a Δ pairs runs of
                one commit, so a panel run again after a ``git pull`` must
                not keep the old runs under the new ones' results.
        """
        path = osp.join(self.work_dir, RECORD)
        if not osp.isfile(path) or not all(
                osp.isfile(p) for p in self.outputs):
            return None
        with open(path) as f:
            record = json.load(f)
        if (record.get('config'),
                _measured(record.get('options', self.options))) != (
                    self.config, _measured(self.options)):
            return None
        if commit is not None and record.get('commit', commit) != commit:
            return None
        if self.regime == 'warm-start':  # not evaluated
            return record
        metrics = record.get('metrics') or {}
        return record if metrics.get(SETS[self.set].metric) is not None \
            else None


def _rel(path: Optional[str]) -> Optional[str]:
    """``path`` relative to the root when inside it (records stay valid
    in another clone)."""
    if path is None:
        return None
    path = osp.abspath(path)
    return osp.relpath(path, ROOT) if path.startswith(ROOT + os.sep) \
        else path


def make_record(job: Job, wall_s: float, env: dict) -> dict:
    """The results record of a finished job (schema 2).

    Args:
        job (Job): The job, trained.
        wall_s (float): Its wall time, start-up and evaluation included.
        env (dict): :func:`mmdet_ohem.utils.provenance.environment`.
    """
    run = load_work_dir(job.work_dir)
    metrics = {}
    for name in AP_METRICS:
        value = metric_value(run['metrics'] or {}, name)
        metrics[name] = None if value is None else 100 * value
    train = run['train']
    dump = osp.join(job.work_dir, osp.basename(job.config))
    return dict(
        variant=job.variant,
        seed=job.seed,
        config=job.config,
        config_dump=_rel(dump) if osp.isfile(dump) else None,
        config_sha256=file_sha256(dump) if osp.isfile(dump) else None,
        options=job.options,
        **env,
        wall_s=round(wall_s, 1),
        iters=int(train[-1]['iter']) if train else None,
        metrics=metrics,
        final_loss=float(train[-1]['loss']) if train else None,
        log=_rel(run['log']))


class JobFailed(RuntimeError):
    """A training exited with an error."""


def train(job: Job, python: str, stop: threading.Event, env: dict) -> dict:
    """Run ``job``'s training, write and return its record.

    Args:
        job (Job): The job.
        python (str): The interpreter.
        stop (threading.Event): Set when another job failed: the training
            is terminated.
        env (dict): The provenance fields (see :func:`make_record`).
    """
    os.makedirs(job.work_dir, exist_ok=True)
    start = time.time()
    with open(job.work_dir + '.log', 'w') as log:
        proc = subprocess.Popen(
            job.command(python),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, OMP_NUM_THREADS=str(THREADS)))
        while True:
            try:
                proc.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                if stop.is_set():
                    proc.terminate()
                    proc.wait()
                    raise JobFailed(f'{job.name}: stopped')
    if proc.returncode:
        raise JobFailed(f'{job.name} failed ({proc.returncode}), see '
                        f'{job.work_dir}.log')
    record = make_record(job, time.time() - start, env)
    with open(osp.join(job.work_dir, RECORD), 'w') as f:
        json.dump(record, f, indent=2)
    return record


def run_jobs(jobs: Sequence[Job],
             num_parallel: int,
             run: Callable[[Job, threading.Event], dict],
             commit: Optional[str] = None) -> Dict[Job, dict]:
    """Run the jobs without a record, ``num_parallel`` at a time.

    Warm starts are queued first and each continuation waits on its own
    warm start's future, so a pool thread never waits for a job that has
    not started. The first failure (or Ctrl-C) stops the trainings still
    running and cancels the rest; a rerun resumes from the records.

    Args:
        jobs (Sequence[Job]): The jobs.
        num_parallel (int): Trainings at a time.
        run (callable): ``run(job, stop)`` trains a job, returns its record.
        commit (str, optional): The commit the jobs run at: a record of
            another commit is run again (:meth:`Job.record`).

    Returns:
        dict: Every job's record.
    """
    records = {job: job.record(commit) for job in jobs}
    for job, record in records.items():
        if record is not None:
            print(f'==> {job.name}: done before, kept', flush=True)
    todo = sorted((j for j in jobs if records[j] is None),
                  key=lambda j: j.after is not None)
    stop, lock = threading.Event(), threading.Lock()
    futures: Dict[Job, Future] = {}
    failures: List[BaseException] = []

    def task(job: Job) -> dict:
        if job.after in futures:
            futures[job.after].result()
        if stop.is_set():
            raise JobFailed(f'{job.name}: not started')
        print(f'==> start {job.name} -> {job.work_dir}', flush=True)
        try:
            record = run(job, stop)
        except BaseException as error:
            # Set here, not by the main thread: this pool thread must not
            # pick up the next job first.
            with lock:
                if not stop.is_set():
                    failures.append(error)
                stop.set()
            raise
        print(f'==> {job.name}: done', flush=True)
        return record

    with ThreadPoolExecutor(num_parallel) as pool:
        for job in todo:
            futures[job] = pool.submit(task, job)
        # A failure or Ctrl-C: the running trainings are terminated (they
        # watch ``stop``), the queued ones dropped.
        try:
            wait(futures.values(), return_when=FIRST_EXCEPTION)
        except BaseException:
            stop.set()
            raise
        finally:
            if stop.is_set():
                for future in futures.values():
                    future.cancel()
    if failures:
        raise failures[0]
    records.update((job, future.result()) for job, future in futures.items())
    return records


def plan(set_key: str, regime: str, variants: Sequence[str],
         seeds: Sequence[int], work: str, warm_iters: int,
         iters: Optional[int]) -> List[Job]:
    """The jobs of one set and regime: per seed, the warm start (warm
    regime) and one job per variant."""
    configs = {v: resolve_config(set_key, v) for v in variants}
    jobs = []
    for seed in seeds:
        options = [] if iters is None else schedule(iters)
        options += NO_CHECKPOINT
        warm_start = None
        if regime == 'warm':
            warm_dir = osp.join(work, set_key, 'warm-start', f'seed{seed}')
            checkpoint = osp.join(warm_dir, f'iter_{warm_iters}.pth')
            # Its checkpoint is all that is read of it: no evaluation.
            warm_start = Job(
                set_key, 'warm-start', BASELINE, seed,
                resolve_config(set_key, BASELINE), warm_dir,
                schedule(warm_iters, decay=False) + [
                    f'default_hooks.checkpoint.interval={warm_iters}',
                    f'train_cfg.val_begin={warm_iters + 1}'
                ],
                outputs=[checkpoint])
            jobs.append(warm_start)
            options = [f'load_from={checkpoint}'] + schedule(
                warm_iters, lr=0.01) + NO_CHECKPOINT
        for variant in variants:
            jobs.append(
                Job(set_key, regime, variant, seed, configs[variant],
                    osp.join(work, set_key, regime, variant, f'seed{seed}'),
                    options, warm_start))
    return jobs


def _first_decay(config: str) -> int:
    """The config's first LR decay (its ``MultiStepLR`` milestones)."""
    cfg = Config.fromfile(osp.join(ROOT, config), import_custom_modules=False)
    milestones = [
        m for sched in cfg.param_scheduler
        if sched.get('type') == 'MultiStepLR' for m in sched.milestones
    ]
    return min(milestones, default=10**9)


def share_warm_starts(jobs: Sequence[Job], warm_iters: int) -> List[Job]:
    """Drop each warm start whose weights a planned scratch run makes.

    A warm start is ``random`` on its set and seed for ``warm_iters`` at
    the config's learning rate; the scratch ``random`` run of that set and
    seed goes through the very same iterations first (same seed, data
    order and learning rate, as long as its first decay comes no earlier),
    so it saves its ``iter_<warm_iters>.pth`` and the warm runs continue
    from that: the same weights, one training fewer per seed.
    """
    scratch = {(j.set, j.seed): j for j in jobs
               if j.regime == 'scratch' and j.variant == BASELINE
               and not any(o.startswith('train_cfg.max_iters=')
                           for o in j.options)}
    kept, replaced = [], {}
    for job in jobs:
        source = scratch.get((job.set, job.seed))
        if job.regime != 'warm-start' or source is None or \
                _first_decay(source.config) < warm_iters:
            kept.append(job)
            continue
        checkpoint = osp.join(source.work_dir, f'iter_{warm_iters}.pth')
        # Saved at warm_iters (and at the end: the interval's multiple);
        # both kept, so that the end's does not delete the one read.
        source.options = [
            o for o in source.options
            if not o.startswith('default_hooks.checkpoint.')
        ] + [
            f'default_hooks.checkpoint.interval={warm_iters}',
            'default_hooks.checkpoint.max_keep_ckpts=-1'
        ]
        source.outputs.append(checkpoint)
        replaced[job] = source, checkpoint
    for job in kept:
        if job.after in replaced:
            job.after, checkpoint = replaced[job.after]
            job.options = [
                f'load_from={checkpoint}' if o.startswith('load_from=') else o
                for o in job.options
            ]
    return kept


def load_results(path: str, set_key: str, regime: str) -> dict:
    """The results file at ``path``, or an empty one.

    Raises:
        SystemExit: the file is not of schema 2.
    """
    if not osp.isfile(path):
        return dict(
            schema=SCHEMA,
            set=set_key,
            regime=regime,
            metric=SETS[set_key].metric,
            runs=[])
    with open(path) as f:
        results = json.load(f)
    if results.get('schema') != SCHEMA:
        raise SystemExit(f'{path} is not a schema-{SCHEMA} results file; '
                         'migrate it first (tools/analysis/render_results.py)')
    return results


def merge_records(results: dict,
                  records: Sequence[dict],
                  keep_other_commits: bool = False) -> dict:
    """``results`` with ``records`` in: each replaces the old record of its
    (variant, seed); with ``keep_other_commits``, an old record of another
    commit stays beside it. The other records stay as they are."""
    new = {(r['variant'], r['seed']): r for r in records}

    def kept(old: dict) -> bool:
        rec = new.get((old['variant'], old['seed']))
        return rec is None or (keep_other_commits
                               and old.get('commit') != rec.get('commit'))

    # A stable sort: a kept older record stays before the new one of its
    # (variant, seed), which the tables then take.
    runs = [r for r in results['runs'] if kept(r)] + list(new.values())
    runs.sort(key=lambda r: (r['variant'] != BASELINE, r['variant'],
                             r['seed']))
    return dict(results, runs=runs)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--preset',
        choices=list(PRESETS),
        default='bench',
        help='sets, variants, seeds and regimes of a named run; the '
        'options below override them')
    parser.add_argument('--sets', nargs='+', choices=list(SETS))
    parser.add_argument(
        '--variants',
        nargs='+',
        help='config variants (the <v> of configs/benchmarks/<set>/'
        'faster-rcnn_r18-tiny_fpn_<v>_<set>.py)')
    parser.add_argument('--seeds', nargs='+', type=int)
    parser.add_argument('--regimes', nargs='+', choices=REGIMES)
    parser.add_argument(
        '--iters',
        type=int,
        default=None,
        help="scratch schedule length (default: the configs' 800)")
    parser.add_argument(
        '--warm-iters',
        type=int,
        default=400,
        help='iterations of the warm start, and after it')
    parser.add_argument('--work-dir', default='work_dirs/bench')
    parser.add_argument(
        '--out',
        default='work_dirs/bench/results',
        help='where the results files (JSON) and tables (Markdown) go')
    parser.add_argument(
        '--keep-other-commits',
        action='store_true',
        help='keep an old record of the same variant and seed when it '
        'comes from another commit (default: the rerun replaces it)')
    parser.add_argument(
        '--against',
        help='a folder of committed results files: print where this '
        "run's values land in their spread (make demo)")
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
    # A set skipped for want of its photos needs no configs either.
    for set_key in filter(has_data, args.sets):
        try:
            for variant in args.variants:
                resolve_config(set_key, variant)
        except ValueError as error:
            parser.error(str(error))
    return args


def has_data(set_key: str) -> bool:
    """Whether a set's photos are there (the generated set always is)."""
    env_var = SETS[set_key].env
    return env_var is None or osp.isdir(os.environ.get(env_var, ''))


def prepare_data(set_key: str, python: str) -> None:
    """Write what a set's configs read besides the photos: the generated
    set, or a real set's split lists (when the set has a script)."""
    scripts = dict(
        synthetic=('generate_hard_negatives.py', '--out',
                   osp.join(ROOT, 'data', 'hard_negatives')),
        raccoon=('prepare_raccoon.py', '--root', os.environ.get(
            'RACCOON_ROOT', '')),
        cards=('prepare_cards.py', '--root', os.environ.get(
            'CARDS_ROOT', '')))
    if set_key not in scripts:
        return
    script, *script_args = scripts[set_key]
    script = osp.join(ROOT, 'tools', 'data', script)
    if osp.isfile(script):
        subprocess.run([python, script] + script_args, check=True)


def regimes_of(args: argparse.Namespace, set_key: str) -> List[str]:
    """The regimes run on a set (the panel runs no synthetic warm)."""
    if args.preset == 'panel' and set_key in PANEL_REGIMES:
        return [r for r in args.regimes if r in PANEL_REGIMES[set_key]]
    return args.regimes


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    # The trainings run in the repository root, this process anywhere.
    args.work_dir = osp.abspath(args.work_dir)
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    planned = {}
    for set_key in args.sets:
        if not has_data(set_key):
            print(f'==> skipping {set_key}: set {SETS[set_key].env} to its '
                  'folder', flush=True)
            continue
        prepare_data(set_key, args.python)
        for regime in regimes_of(args, set_key):
            planned[set_key, regime] = plan(set_key, regime, args.variants,
                                            args.seeds, args.work_dir,
                                            args.warm_iters, args.iters)
    # The results files this writes do not make the code dirty.
    env = environment(ROOT, threads=THREADS, outputs=[RESULTS_DIR])
    # One pool for every set and regime: no slot idles at a set's end.
    jobs = share_warm_starts(
        [job for jobs in planned.values() for job in jobs], args.warm_iters)
    records = run_jobs(jobs, args.jobs,
                       lambda job, stop: train(job, args.python, stop, env),
                       env['commit'])
    for (set_key, regime), jobs in planned.items():
        jobs = [j for j in jobs if j.regime != 'warm-start']
        stem = osp.join(args.out, f'{set_key}_{regime}')
        results = merge_records(
            load_results(stem + '.json', set_key, regime),
            [records[j] for j in jobs], args.keep_other_commits)
        with open(stem + '.json', 'w') as f:
            json.dump(results, f, indent=2)
            f.write('\n')
        # The same table render_results.py writes for a committed file.
        table = cell_file(Cell(set_key, regime, results['metric'],
                               results['runs'], path=stem + '.json'))
        with open(stem + '.md', 'w') as f:
            f.write(table)
        print(table, flush=True)
        # Every metric and the loss curves, seeds grouped.
        compare([j.work_dir for j in jobs], [j.variant for j in jobs],
                out=stem + '.png')
        if args.against:
            print(frame_against(args.against, set_key, regime,
                                [records[j] for j in jobs]), flush=True)
    print(f'==> {time.time() - start:.0f} s', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
