"""The benchmark's sets and its committed results, read one way.

``tools/analysis/run_bench.py`` writes one schema-2 results file per set
and regime (``docs/results/<set>_<regime>.json``: one record per run, with
its seed and provenance); ``render_results.py`` renders the tables from
them and ``reproduce.py`` (and ``make demo``) frame a rerun against them
(:func:`frame`). All three take the set table, the reading rules and the
pairing from here, so that a table, a rerun's framing and the runner
agree on what a cell holds.

The rules (docs/benchmark.md, "How the results are read"):

* a legacy run (schema 1, migrated: no commit, config or versions) is
  counted and left out: no number of it is shown;
* a variant's seed run twice at one commit: the later record wins;
* a seed may hold runs of several commits (``run_bench.py
  --keep-other-commits``): a column shows the latest, and a Δ pairs two
  runs of one seed *and one commit*, never across code versions.

Online Hard Example Mining: https://arxiv.org/abs/1604.03540
"""
import glob
import json
import os.path as osp
import statistics
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..utils.paired_stats import MeanCI, mean_ci95

SCHEMA = 2
BASELINE, ENTRY = 'random', 'ohem'
REGIMES = ('scratch', 'warm')


class BenchSet(NamedTuple):
    """A benchmark set.

    Attributes:
        dir (str): Its folder under ``configs/benchmarks/``.
        name (str): Its tag in config names
            (``faster-rcnn_r18-tiny_fpn_<variant>_<name>.py``).
        env (str, optional): The variable naming its photos' folder (None:
            generated in the repository).
        title (str): Its name in tables, with what it is.
        short (str): Its name in a table's notes and pooled rows.
        model_name (str): Its name in configs/ohem/'s README and metafile.
        metric (str): The COCO metric its tables show.
    """
    dir: str
    name: str
    env: Optional[str]
    title: str
    short: str
    model_name: str
    metric: str = 'bbox_mAP'


SETS = {
    'synthetic':
    BenchSet('hard_negatives', 'hard-negatives', None, 'synthetic (embedded)',
             'synthetic', 'hard negatives (synthetic)'),
    'bccd':
    BenchSet('bccd', 'bccd', 'BCCD_ROOT', 'BCCD (real, 3 classes)', 'BCCD',
             'BCCD'),
    'raccoon':
    BenchSet('raccoon', 'raccoon', 'RACCOON_ROOT', 'raccoon (real, 1 class)',
             'raccoon', 'raccoon'),
    'cards':
    BenchSet('cards', 'cards', 'CARDS_ROOT', 'cards (real, 6 classes)',
             'cards', 'playing cards'),
}
REAL_SETS = ('bccd', 'raccoon', 'cards')
CONFIG_PREFIX = 'faster-rcnn_r18-tiny_fpn_'


def bench_config(set_key: str, variant: str) -> str:
    """The benchmark config of ``variant`` on a set, relative to configs/."""
    bench_set = SETS[set_key]
    return (f'benchmarks/{bench_set.dir}/{CONFIG_PREFIX}{variant}_'
            f'{bench_set.name}.py')


def shipped_variants(set_key: str, configs: Optional[str] = None) -> List[str]:
    """The variants a set ships a benchmark config for, sorted.

    Args:
        set_key (str): A key of :data:`SETS`.
        configs (str, optional): The configs folder; the package's own
            (``mmdet_ohem/configs``) by default.
    """
    configs = configs or osp.join(
        osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')
    head, tail = osp.join(configs, bench_config(set_key, '*')).split('*')
    return sorted(p[len(head):-len(tail)] for p in glob.glob(f'{head}*{tail}'))


@dataclass
class Cell:
    """One results file: the runs of one set and regime.

    Attributes:
        values (dict): ``{variant: {seed: metric}}`` of the latest run of
            each variant and seed (what a column shows).
        used (dict): ``{variant: {seed: record}}``, the same runs.
        by_commit (dict): ``{(variant, seed, commit): record}``, the latest
            of each (what pairs).
        superseded (int): Earlier runs of one variant, seed and commit.
        legacy (int): Legacy runs, left out.
    """
    set: str
    regime: str
    metric: str
    runs: List[dict]
    path: str = ''
    superseded: int = 0
    legacy: int = 0
    values: Dict[str, Dict[int, float]] = field(default_factory=dict)
    used: Dict[str, Dict[int, dict]] = field(default_factory=dict)
    by_commit: Dict[Tuple[str, int, Optional[str]],
                    dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for run in self.runs:
            value = (run.get('metrics') or {}).get(self.metric)
            if value is None:
                continue
            if run.get('legacy'):
                self.legacy += 1
                continue
            key = (run['variant'], run['seed'], run.get('commit'))
            self.superseded += key in self.by_commit
            self.by_commit[key] = run
            self.used.setdefault(run['variant'], {})[run['seed']] = run
            self.values.setdefault(run['variant'],
                                   {})[run['seed']] = float(value)

    @classmethod
    def from_results(cls, results: dict, path: str = '') -> 'Cell':
        """The cell of a schema-2 results file's contents.

        Raises:
            ValueError: Not schema 2 (the legacy schema-1 files were
                migrated once; a new one means an old runner).
        """
        if results.get('schema') != SCHEMA:
            raise ValueError(
                f'{path or "results"}: schema {results.get("schema", 1)}, '
                f'expected {SCHEMA} (docs/results/README: migrate)')
        return cls(results['set'], results['regime'], results['metric'],
                   results['runs'], path)

    @property
    def title(self) -> str:
        bench_set = SETS.get(self.set)
        return f'{bench_set.title if bench_set else self.set}, {self.regime}'

    @property
    def short(self) -> str:
        bench_set = SETS.get(self.set)
        return f'{bench_set.short if bench_set else self.set} {self.regime}'

    def partner(self, run: dict, variant: str) -> Optional[dict]:
        """``variant``'s run of ``run``'s seed and commit, if any."""
        return self.by_commit.get((variant, run['seed'], run.get('commit')))

    def value(self, run: dict) -> float:
        return float(run['metrics'][self.metric])


def read_cell(path: str) -> Cell:
    """The cell of one results file (see :meth:`Cell.from_results`)."""
    with open(path) as f:
        return Cell.from_results(json.load(f), path)


def load_cells(results_dir: str) -> List[Cell]:
    """The results files of ``results_dir`` (not its ``speed*.json``), in
    set order, scratch first."""
    cells = [
        read_cell(path)
        for path in glob.glob(osp.join(results_dir, '*.json'))
        if not osp.basename(path).startswith('speed')
    ]

    def key(c: Cell):
        order = list(SETS).index(c.set) if c.set in SETS else len(SETS)
        return order, c.set, c.regime != 'scratch', c.regime

    return sorted(cells, key=key)


@dataclass
class Comparison:
    """A variant against a baseline over paired seeds (one cell or a pool
    of cells).

    Attributes:
        base (list[float]): The baseline's value of each pair.
        other (list[float]): The variant's value of each pair.
        ci (MeanCI): The mean of the per-pair Δs with its 95 % CI.
        seeds (list[tuple]): ``(cell short name, seed)`` of each pair.
        dropped (list[tuple]): Seeds run by only one of the two, or by the
            two at different commits.
        runs (list[dict]): The records of the pairs.
    """
    base: List[float]
    other: List[float]
    ci: MeanCI
    seeds: List[Tuple[str, int]]
    dropped: List[Tuple[str, int]]
    runs: List[dict]


def compare(cells: Sequence[Cell],
            variant: str,
            baseline: str = BASELINE) -> Optional[Comparison]:
    """``variant`` against ``baseline``, paired by seed within each cell
    and pooled over ``cells``; None where no seed pairs.

    A pair is two runs of one seed and one commit: a Δ across code
    versions or machines would measure those too.
    """
    base, other, seeds, dropped, runs = [], [], [], [], []
    for cell in cells:
        if variant not in cell.used or baseline not in cell.used:
            continue
        paired = set()
        for seed in sorted(cell.used[variant]):
            run = cell.used[variant][seed]
            partner = cell.partner(run, baseline)
            if partner is None:
                continue
            paired.add(seed)
            base.append(cell.value(partner))
            other.append(cell.value(run))
            seeds.append((cell.short, seed))
            runs += [partner, run]
        unpaired = set(cell.used[variant]) | set(cell.used[baseline])
        dropped += [(cell.short, s) for s in sorted(unpaired - paired)]
    if not seeds:
        return None
    deltas = [o - b for o, b in zip(other, base)]
    return Comparison(base, other, mean_ci95(deltas), seeds, dropped, runs)


# --- a rerun against the committed cell (reproduce.py, make demo) -------


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


def frame(cell: Cell, records: Sequence[dict], source: str) -> str:
    """Where new records land in a committed cell's spread.

    Args:
        cell (Cell): The committed results of the set and regime.
        records (Sequence[dict]): New records of that set and regime.
        source (str): The committed file's name, for the heading.

    Returns:
        str: Per variant and seed: the new value, the committed value of
        that seed, the cell's mean and min-max over seeds; for a seed with
        ``random`` and another variant, the paired difference against the
        committed ones (with their Student-t 95 % CI).
    """
    metric = cell.metric
    lines = [
        f'{cell.set}, {cell.regime}: {metric} (%), this machine against '
        f'{source}', 'A seed does not make the same run on another CPU: read '
        'the spread over seeds, not the exact values.'
    ]
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
    committed_deltas: Dict[str, Dict[int, float]] = {}
    for (variant, seed), value in mine.items():
        if variant == BASELINE or (BASELINE, seed) not in mine:
            continue
        if variant not in committed_deltas:
            # The committed Δs as the tables pair them: within one commit.
            comp = compare([cell], variant)
            committed_deltas[variant] = {} if comp is None else {
                s: d
                for (_, s), d in zip(comp.seeds, comp.ci.values)
            }
        lines += _line(f'Δ {variant} - {BASELINE}, seed {seed}',
                       value - mine[BASELINE, seed],
                       committed_deltas[variant], seed, True)
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
    try:
        cell = read_cell(path)
    except ValueError:
        return f'(committed results of another schema: {path})'
    return frame(cell, records, path)
