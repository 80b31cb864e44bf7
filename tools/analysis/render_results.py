"""Render the results and speed tables of README and docs from the
committed raw outputs, so that no number there is copied by hand.

Sources: ``docs/results/<set>_<regime>.json`` (schema 2, written by
``tools/analysis/run_bench.py``: one record per run, with its seed and
provenance; read and paired by ``mmdet_ohem.benchmark.results``, as
``reproduce.py`` reads them) and ``docs/results/speed*.json``
(``tools/analysis/benchmark.py --json``). Targets, each between its markers:

* README.md, ``<!-- results:start/end -->``: one row per set and regime
  (n, RandomSampler's and the entry config's means, the mean paired Δ with
  its 95 % Student t interval, the verdict), a pooled row per regime over
  the real sets, the commits the table mixes, and the sentence that reads
  the verdicts;
* docs/results.md, ``<!-- results-detail:start/end -->``: every variant's
  per-seed Δs and interval, comparison rows included;
  ``<!-- sweep:start/end -->``: the random-share sweep; and
  ``<!-- speed:start/end -->``: the speed tables;
* docs/benchmark.md, ``<!-- speed:start/end -->``;
* ``docs/results/<set>_<regime>.md``: the cell's detail table, whole;
* configs/ohem/README.md, ``<!-- ohem-results:start/end -->``: one row per
  set, variant and regime with committed runs (its config linked, n, mean
  box AP, the mean Δ to random with its 95 % CI), the commits, and the
  benchmark configs no run has used yet;
* configs/ohem/metafile.yml: the ``Results`` of each benchmark model (the
  scratch mean box AP); its hand-written rest is kept as it is.

    python tools/analysis/render_results.py            # rewrite them
    python tools/analysis/render_results.py --check    # exit 1 if stale
"""
import argparse
import glob
import json
import os.path as osp
import re
import statistics
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet_ohem.benchmark.results import (BASELINE, ENTRY, REAL_SETS, REGIMES,
                                          SETS, Cell, Comparison, bench_config,
                                          compare, load_cells,
                                          shipped_variants)
from mmdet_ohem.utils.paired_stats import (GAIN, LOSS, NO_DIFFERENCE, TOO_FEW,
                                           MeanCI)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RESULTS = ('<!-- results:start -->', '<!-- results:end -->')
DETAIL = ('<!-- results-detail:start -->', '<!-- results-detail:end -->')
SPEED = ('<!-- speed:start -->', '<!-- speed:end -->')
OHEM_RESULTS = ('<!-- ohem-results:start -->', '<!-- ohem-results:end -->')
SWEEP = ('<!-- sweep:start -->', '<!-- sweep:end -->')
COST = ('<!-- cost:start -->', '<!-- cost:end -->')
CONFIGS = osp.join(ROOT, 'mmdet_ohem', 'configs')
COMPARISONS = ('mmdet-ohem', 'ohem-agnostic', 'ohem-perlabel', 'ohem-paper',
               'ohem-warmup')
LABELS = {
    'random': 'random (RandomSampler)',
    'ohem': 'ohem (entry config)',
    'mmdet-ohem': "mmdet-ohem (mmdet's OHEMSampler)",
    'ohem-agnostic': 'ohem-agnostic (all by loss, NMS per image)',
    'ohem-perlabel': 'ohem-perlabel (all by loss, NMS per label)',
    'ohem-paper': 'ohem-paper (NMS 0.7 per label)',
    'ohem-rand0.25': 'ohem-rand0.25 (random share 0.25)',
    'ohem-rand0.75': 'ohem-rand0.75 (random share 0.75)',
    'ohem-warmup': 'ohem-warmup (random picks for the first 100 it)',
}
# The random share (random_fraction) of the entry mining, swept on the real
# sets from scratch: each share's variant.
SHARES = {'ohem-rand0.25': 0.25, ENTRY: 0.5, 'ohem-rand0.75': 0.75}
SWEEP_COMMAND = 'make sweep'
# Rows with fewer seeds are marked: the protocol asks for >= 5.
MIN_SEEDS = 5
MARK = '†'
CI_NOTE = ('95 % CI: Student t over the per-seed Δs (df = n − 1); Δ = '
           'variant − RandomSampler, paired by seed.')


def provenance_note(runs: Sequence[dict],
                    superseded: int = 0,
                    legacy: int = 0) -> str:
    """Which commits ``runs`` (runs with provenance, as a Cell keeps them)
    come from, never silently mixed; and how many legacy runs (no
    provenance: ``legacy``) were left out."""
    known = [r for r in runs if r.get('commit')]
    unknown = len(runs) - len(known)
    commits = sorted({r['commit'][:7] for r in known})
    dirty = sum(bool(r.get('dirty')) for r in known)
    parts = []
    if commits:
        word = 'commit' if len(commits) == 1 else 'commits'
        mixed = ' (mixed; each pair of one commit)' if len(commits) > 1 \
            else ''
        parts.append(f'{len(known)} runs from {word} '
                     f'{", ".join(commits)}{mixed}' +
                     (f', {dirty} of them from a dirty tree' if dirty else ''))
    if unknown:
        parts.append(f'{unknown} runs without a commit')
    if superseded:
        parts.append(f'{superseded} earlier runs of the same variant, seed '
                     'and commit superseded')
    if legacy:
        parts.append(f'{legacy} legacy runs left out (schema 1, migrated: '
                     'no commit, config or versions recorded)')
    return 'Runs: ' + '; '.join(parts) + '.' if parts else 'Runs: none.'


def _fmt(value: Optional[float], sign: bool = False) -> str:
    if value is None:
        return '–'
    return f'{value:+.1f}' if sign else f'{value:.1f}'


def _ci(ci: MeanCI) -> str:
    if ci.low is None:
        return f'{ci.mean:+.1f}'
    return f'{ci.mean:+.1f} [{ci.low:+.1f}, {ci.high:+.1f}]'


def _n(n: int) -> str:
    return f'{n} {MARK}' if n < MIN_SEEDS else str(n)


def _seeds_note(seeds: Sequence[Tuple[str, int]]) -> str:
    by_cell: Dict[str, List[str]] = {}
    for cell, seed in seeds:
        by_cell.setdefault(cell, []).append(str(seed))
    return '; '.join(f'{cell} seed{"s" if len(s) > 1 else ""} '
                     f'{", ".join(s)}' for cell, s in by_cell.items())


def _dropped_note(dropped: Sequence[Tuple[str, int]], variant: str) -> str:
    return (f'{_seeds_note(dropped)} (not paired: run by only one of '
            f'random and {variant}, or by the two from different commits; '
            'left out)')


def variant_order(cell: Cell) -> List[str]:
    """A cell's variants: random, the entry config, the comparisons, then
    the rest."""
    order = (BASELINE, ENTRY) + COMPARISONS
    known = [v for v in order if v in cell.values]
    return known + sorted(v for v in cell.values if v not in order)


def pools(cells: Sequence[Cell]) -> List[Tuple[str, List[Cell]]]:
    """The real sets' cells of each regime, where at least two sets ran."""
    out = []
    for regime in REGIMES:
        real = [
            c for c in cells
            if c.regime == regime and c.set in REAL_SETS and c.used
        ]
        if len(real) >= 2:
            names = ', '.join(SETS[c.set].short for c in real)
            out.append((f'real sets pooled ({names}), {regime}', real))
    return out


def render_readme(cells: Sequence[Cell], variant: str = ENTRY) -> str:
    """README's block: the table, its notes and the verdict sentence."""
    lines = [
        f'COCO box AP (%); {CI_NOTE}', '',
        '| data, regime | n | RandomSampler | entry config '
        '| mean Δ [95 % CI] | verdict |', '|---|---:|---:|---:|---:|---|'
    ]
    rows = [(c.title, c.short, [c]) for c in cells]
    rows += [(name, name.split(' (')[0] + ' ' + name.rsplit(', ', 1)[1],
              pool) for name, pool in pools(cells)]
    verdicts: Dict[str, List[str]] = {}
    dropped, runs, few = [], [], False
    for name, short, group in rows:
        comp = compare(group, variant)
        if comp is None:
            continue
        few |= comp.ci.n < MIN_SEEDS
        lines.append(f'| {name} | {_n(comp.ci.n)} | '
                     f'{statistics.fmean(comp.base):.1f} | '
                     f'{statistics.fmean(comp.other):.1f} | '
                     f'{_ci(comp.ci)} | {comp.ci.verdict} |')
        verdicts.setdefault(comp.ci.verdict, []).append(short)
        if len(group) == 1:
            dropped += comp.dropped
            runs += comp.runs
    notes = [f'{MARK} fewer than {MIN_SEEDS} seeds.'] if few else []
    if dropped:
        notes.append('Dropped: ' + _dropped_note(dropped, variant) + '.')
    notes.append(
        provenance_note(runs, sum(c.superseded for c in cells),
                        sum(c.legacy for c in cells)))
    lines += ['', ' '.join(notes), '', verdict_sentence(verdicts, variant)]
    return '\n'.join(lines)


def verdict_sentence(verdicts: Dict[str, List[str]],
                     variant: str = ENTRY) -> str:
    """What the intervals say, one clause per verdict."""
    who = 'the entry config' if variant == ENTRY else f'`{variant}`'
    clauses = []
    for word, rule in ((GAIN, 'CI above 0'), (NO_DIFFERENCE, 'CI spans 0'),
                       (LOSS, 'CI below 0'), (TOO_FEW, 'n < 2')):
        where = verdicts.get(word, [])
        clauses.append(f'**{word}** ({rule}) on ' +
                       (', '.join(where) if where else 'no row'))
    return (f'Read from the 95 % CIs, {who} against RandomSampler: ' +
            '; '.join(clauses) + '.')


# Why unpaired_runs are left out of a Δ.
UNPAIRED = '(no random run of its seed and commit to pair with)'


def unpaired_runs(cell: Cell, variant: str,
                  comp: Comparison) -> List[Tuple[str, int]]:
    """The runs of ``variant`` in ``cell`` that its Δ leaves out.

    Each row shows all of its own runs: only a variant's run with no
    random run of its seed and commit is left out of something (its Δ). A
    seed only random ran is in random's row, not missing from the variant.
    """
    return [(c, s) for c, s in comp.dropped if s in cell.used[variant]]


def render_cell(cell: Cell) -> str:
    """Every variant of one set and regime: per-seed Δs and intervals."""
    if not cell.used:
        return 'No run with provenance yet. ' + provenance_note(
            [], legacy=cell.legacy)
    lines = [
        '| variant | n | mean ± sd | Δ to random per seed '
        '| mean Δ [95 % CI] | verdict |', '|---|---:|---:|---|---:|---|'
    ]
    notes = []
    for variant in variant_order(cell):
        values = list(cell.values[variant].values())
        sd = statistics.stdev(values) if len(values) > 1 else 0.
        spread = f'{statistics.fmean(values):.1f} ± {sd:.1f}'
        label = LABELS.get(variant, variant)
        if variant == BASELINE:
            lines.append(f'| {label} | {_n(len(values))} | {spread} '
                         '| | | |')
            continue
        comp = compare([cell], variant)
        if comp is None:
            lines.append(f'| {label} | {_n(len(values))} | {spread} '
                         '| – | – | no seed paired |')
            continue
        per_seed = ', '.join(f's{s} {d:+.1f}' for (_, s), d in zip(
            comp.seeds, comp.ci.values))
        # n and mean are the variant's own runs; the CI's n where fewer
        # of them pair with a random run.
        paired = '' if comp.ci.n == len(values) else f' (n={comp.ci.n})'
        lines.append(f'| {label} | {_n(len(values))} | {spread} | '
                     f'{per_seed} | {_ci(comp.ci)}{paired} | '
                     f'{comp.ci.verdict} |')
        alone = unpaired_runs(cell, variant, comp)
        if alone:
            notes.append(f'Not in the Δ of {variant}: ' +
                         _seeds_note(alone) + f' {UNPAIRED}.')
    lines.append('')
    if any(len(v) < MIN_SEEDS for v in cell.values.values()):
        notes.insert(0, f'{MARK} fewer than {MIN_SEEDS} seeds.')
    notes.append(
        provenance_note(list(cell.by_commit.values()), cell.superseded,
                        cell.legacy))
    return '\n'.join(lines + [' '.join(notes)])


def render_pool(name: str, group: Sequence[Cell]) -> str:
    """Every variant run on at least one of the pool's sets, pooled."""
    lines = [
        '| variant | n | mean Δ [95 % CI] | verdict | sets |',
        '|---|---:|---:|---|---|'
    ]
    variants = []
    for cell in group:
        variants += [v for v in variant_order(cell) if v not in variants]
    for variant in variants:
        comp = None if variant == BASELINE else compare(group, variant)
        if comp is None:
            continue
        sets = ', '.join(dict.fromkeys(c for c, _ in comp.seeds))
        lines.append(f'| {LABELS.get(variant, variant)} | {_n(comp.ci.n)} '
                     f'| {_ci(comp.ci)} | {comp.ci.verdict} | {sets} |')
    return '\n'.join(lines)


def render_detail(cells: Sequence[Cell]) -> str:
    """docs/results.md's block: each cell, then each regime's pool."""
    parts = [
        f'COCO box AP (%), every variant of every committed run. {CI_NOTE} '
        f'{MARK}: fewer than {MIN_SEEDS} seeds.'
    ]
    for cell in cells:
        parts.append(f'#### {cell.title}\n\n{render_cell(cell)}')
    for name, group in pools(cells):
        parts.append(f'#### {name[0].upper()}{name[1:]}\n\n'
                     f'{render_pool(name, group)}')
    return '\n\n'.join(parts)


def render_sweep(cells: Sequence[Cell]) -> str:
    """docs/results.md's sweep block: each random share pooled over the
    real sets (scratch), against random and against the shipped 0.5, and
    the sentence saying which share the pooled Δs support."""
    group = [c for c in cells if c.regime == 'scratch' and c.set in REAL_SETS]
    lines = [
        'Real sets pooled, scratch; COCO box AP (%). ' + CI_NOTE +
        ' "Δ to 0.5" pairs a share with the entry config (0.5) the same '
        'way: same set, seed and commit.', '',
        '| random share | variant | n | mean Δ to random [95 % CI] | sets '
        '| n | Δ to 0.5 [95 % CI] | verdict vs 0.5 |',
        '|---:|---|---:|---:|---|---:|---:|---|'
    ]
    against: Dict[float, Comparison] = {}
    for variant, share in SHARES.items():
        comp = compare(group, variant)
        if comp is None:
            lines.append(f'| {share} | `{variant}` | 0 | – | | | | |')
            continue
        sets = ', '.join(dict.fromkeys(c for c, _ in comp.seeds))
        row = f'| {share} | `{variant}` | {comp.ci.n} | {_ci(comp.ci)} ' \
            f'| {sets} |'
        vs = None if variant == ENTRY else compare(group, variant, ENTRY)
        if vs is None:
            row += ' | | |' if variant == ENTRY else ' 0 | – | |'
        else:
            against[share] = vs
            row += f' {vs.ci.n} | {_ci(vs.ci)} | {vs.ci.verdict} |'
        lines.append(row)
    lines += ['', sweep_sentence(against)]
    return '\n'.join(lines)


def sweep_sentence(against: Dict[float, 'Comparison']) -> str:
    """Which share the pooled Δs to 0.5 support: another only where its
    CI is above 0; otherwise 0.5, saying why."""
    if not against:
        return ('Not swept yet: no run of another share pairs with one of '
                f'the entry config. Run `{SWEEP_COMMAND}` (it renders this '
                'page).')
    better = [s for s, c in against.items() if c.ci.verdict == GAIN]
    worse = [s for s, c in against.items() if c.ci.verdict == LOSS]
    said = '; '.join(f'{s}: {_ci(c.ci)}, n = {c.ci.n}'
                     for s, c in sorted(against.items()))
    if better:
        best = max(better, key=lambda s: against[s].ci.mean)
        return (f'The pooled Δs support a random share of {best} over 0.5 '
                f'(its CI to 0.5 is above 0; {said}).')
    why = 'no CI of a Δ to 0.5 is above 0'
    if worse:
        why += '; below 0, so worse than 0.5: ' + ', '.join(
            str(s) for s in sorted(worse))
    return (f'No share does better than 0.5 ({why}; {said}): the entry '
            'config keeps 0.5.')


def render_cost(cells: Sequence[Cell]) -> str:
    """docs/benchmark.md's cost block: per cell, the recorded wall time of
    the runs of random and of the entry config (field ``wall_s``: start-up,
    training and evaluation, as run_bench ran them: two at a time)."""
    lines = [
        'Wall time per run (s, min–max over the seeds: start-up, training '
        'and evaluation; field `wall_s` of the committed records, two runs '
        'side by side on the recording machine), and the cell\'s sum over '
        'its runs.', '',
        '| data, regime | iterations | random | entry config | runs | sum '
        '(min) |', '|---|---:|---:|---:|---:|---:|'
    ]
    for cell in cells:
        walls = {
            v: [r['wall_s'] for r in cell.used.get(v, {}).values()
                if r.get('wall_s') is not None]
            for v in (BASELINE, ENTRY)
        }
        if not all(walls.values()):
            continue
        iters = {r.get('iters') for v in (BASELINE, ENTRY)
                 for r in cell.used[v].values()}
        spans = [f'{min(w):.0f}–{max(w):.0f}' for w in walls.values()]
        runs = sum(len(w) for w in walls.values())
        total = sum(sum(w) for w in walls.values()) / 60
        lines.append(f'| {cell.title} | '
                     f'{", ".join(str(i) for i in sorted(iters, key=str))} | '
                     f'{spans[0]} | {spans[1]} | {runs} | {total:.0f} |')
    return '\n'.join(lines)


def cell_file(cell: Cell) -> str:
    """``docs/results/<set>_<regime>.md``: the cell's table, whole."""
    return (f'<!-- rendered by tools/analysis/render_results.py from '
            f'{osp.basename(cell.path)} -->\n### {cell.title}: '
            f'{cell.metric} (%)\n\n{CI_NOTE} {MARK}: fewer than {MIN_SEEDS} '
            f'seeds.\n\n{render_cell(cell)}\n')


# --- configs/ohem/ ---------------------------------------------------------


def _config_link(set_name: str, variant: str, configs: str) -> str:
    """The variant linked to its config, relative to configs/ohem/; plain
    where no config is shipped (a variant run before it was one)."""
    path = bench_config(set_name, variant)
    if not osp.isfile(osp.join(configs, path)):
        return f'{variant} (no config)'
    return f'[{variant}](../{path})'


def render_ohem_readme(cells: Sequence[Cell], configs: str = CONFIGS) -> str:
    """configs/ohem/README.md's block: every benchmark set, variant and
    regime with committed runs, then the configs with none."""
    lines = [
        f'Box AP (COCO mAP, %): mean over the committed seeds. {CI_NOTE}',
        '', '| set | variant (config) | regime | n | box AP '
        '| mean Δ to random [95 % CI] |', '|---|---|---|---:|---:|---:|'
    ]
    bench = [c for c in cells if c.set in SETS]
    dropped, few = [], False
    for set_name in dict.fromkeys(c.set for c in bench):
        group = [c for c in bench if c.set == set_name]
        variants: List[str] = []
        for cell in group:
            variants += [v for v in variant_order(cell) if v not in variants]
        for variant in variants:
            for cell in group:
                if variant not in cell.values:
                    continue
                values = list(cell.values[variant].values())
                few |= len(values) < MIN_SEEDS
                delta = ''
                if variant != BASELINE:
                    comp = compare([cell], variant)
                    delta = '– (no seed paired)' if comp is None else \
                        _ci(comp.ci) + ('' if comp.ci.n == len(values) else
                                        f' (n={comp.ci.n})')
                    dropped += [(f'{short} {variant}', seed)
                                for short, seed in (unpaired_runs(
                                    cell, variant, comp) if comp else [])]
                lines.append(
                    f'| {SETS[set_name].model_name} | '
                    f'{_config_link(set_name, variant, configs)} | '
                    f'{cell.regime} | {_n(len(values))} | '
                    f'{statistics.fmean(values):.1f} | {delta} |')
    notes = [f'{MARK} fewer than {MIN_SEEDS} seeds.'] if few else []
    if dropped:
        notes.append('Not in the Δs: ' + _seeds_note(dropped) +
                     f' {UNPAIRED}.')
    notes.append(
        provenance_note([r for c in bench for r in c.by_commit.values()],
                        sum(c.superseded for c in bench),
                        sum(c.legacy for c in bench)))
    lines += ['', ' '.join(notes), '',
              'Benchmark configs no committed run has used yet:', '']
    for set_name, bench_set in SETS.items():
        folder, title = bench_set.dir, bench_set.model_name
        ran = {v for c in bench if c.set == set_name for v in c.values}
        if not ran:
            lines.append(f'- {title}: every variant '
                         f'([configs/benchmarks/{folder}/]'
                         f'(../benchmarks/{folder}/))')
            continue
        missing = [v for v in shipped_variants(set_name, configs)
                   if v not in ran]
        lines.append(f'- {title}: ' + (', '.join(
            _config_link(set_name, v, configs)
            for v in missing) if missing else 'none'))
    return '\n'.join(lines)


def metafile_results(config: str,
                     cells: Sequence[Cell]) -> Optional[List[str]]:
    """The ``Results`` lines of a metafile model: the scratch mean box AP
    of its benchmark config; None where no run of it is committed."""
    for cell in cells:
        if cell.regime != 'scratch' or cell.set not in SETS:
            continue
        head, tail = ('configs/' + bench_config(cell.set, '*')).split('*')
        variant = config[len(head):-len(tail)]
        if not (config.startswith(head) and config.endswith(tail)
                and variant in cell.values):
            continue
        mean = statistics.fmean(cell.values[variant].values())
        return [
            '    Results:', '      - Task: Object Detection',
            f'        Dataset: {SETS[cell.set].model_name}',
            '        Metrics:', f'          box AP: {mean:.1f}'
        ]
    return None


def render_metafile(text: str, cells: Sequence[Cell]) -> str:
    """``text`` (metafile.yml) with each model's ``Results`` rendered.

    Only the ``Results`` blocks change (a model's block ends with it): the
    rest, comments and layout included, stays as written by hand.
    """
    lines = text.split('\n')
    out: List[str] = []
    model: List[str] = []

    def flush() -> None:
        # Drop the old Results: its line and everything indented under it.
        kept, skip = [], False
        for line in model:
            if line.rstrip() == '    Results:':
                skip = True
                continue
            indent = len(line) - len(line.lstrip())
            if skip and line.strip() and indent > 4:
                continue
            skip = False
            kept.append(line)
        config = next((m.group(1) for m in (
            re.match(r'^    Config:\s*(\S+)', line) for line in kept) if m),
                      None)
        results = metafile_results(config, cells) if config else None
        if results:
            # After the model's last key, before blank lines and the
            # comments that head the next model.
            end = max(i for i, line in enumerate(kept)
                      if line.strip() and not line.lstrip().startswith('#'))
            end += 1
            kept[end:end] = results
        out.extend(kept)
        model.clear()

    for line in lines:
        if line.startswith('  - Name:') or not line.startswith(' ') and \
                line.strip() and model:
            flush()
        (model if model or line.startswith('  - Name:') else out).append(line)
    flush()
    return '\n'.join(out)


# --- speed ---------------------------------------------------------------


def load_speed(results_dir: str) -> List[dict]:
    """``speed*.json`` of ``results_dir`` (benchmark.py's output)."""
    out = []
    for path in sorted(glob.glob(osp.join(results_dir, 'speed*.json'))):
        with open(path) as f:
            out.append(json.load(f))
    return out


def render_speed(benches: Sequence[dict]) -> str:
    """One table per benchmark run: each variant's step as a ratio to
    RandomSampler-512 and to the floor, both measured in that process."""
    if not benches:
        return 'No speed results committed (`tools/analysis/benchmark.py ' \
            '--json docs/results/speed.json`).'
    parts = [
        'Every variant of a table ran in one process, round-robin, on the '
        'same weights, images and proposals: the ratios are what is '
        'published, the seconds depend on the machine and its load.'
    ]
    for bench in benches:
        s, p = bench['settings'], bench['provenance']
        h, w = s['img_size']
        base = bench['baseline']
        commit = (p.get('commit') or 'unknown')[:7] + \
            (' (dirty tree)' if p.get('dirty') else '')
        vers = p.get('versions') or {}
        head = (f"`benchmark.py --model {s['model']} --num-imgs "
                f"{s['num_imgs']} --img-size {h} {w} --num-proposals "
                f"{s['num_proposals']} --num-gts {s['num_gts']} --rounds "
                f"{s['rounds']} --threads {p.get('threads')}"
                f"{''.join(' ' + v for v in ['--variants'] + s['variants'])}`"
                f"{' --amp' if s.get('amp') else ''} on {s['device']}: "
                f"median of {s['rounds']} rounds; commit {commit}, torch "
                f"{vers.get('torch')}, mmcv {vers.get('mmcv')}, mmdet "
                f"{vers.get('mmdet')}, {p.get('cpu')}, "
                f"{p.get('threads')} thread(s).")
        lines = [
            head, '', f'| variant | step (s) | × {base} | × floor | '
            f'peak step mem (MB) | mem × {base} | after NMS/img |',
            '|---|---:|---:|---:|---:|---:|---:|'
        ]
        for name, r in bench['results'].items():
            mem = '–' if r.get('peak_mb') is None else f"{r['peak_mb']:.0f}"
            mem_ratio = '–' if r.get('memory_ratio') is None else \
                f"{r['memory_ratio']:.2f}×"
            nms = '–' if r.get('after_nms_per_img') is None else \
                f"{r['after_nms_per_img']:.0f}"
            lines.append(f"| {name} | {r['step_s']:.3f} | "
                         f"{r['time_ratio']:.2f}× | {r['floor_ratio']:.2f}× "
                         f'| {mem} | {mem_ratio} | {nms} |')
        parts.append('\n'.join(lines))
    return '\n\n'.join(parts)


# --- files ---------------------------------------------------------------


def replace_block(text: str, block: str,
                  markers: Tuple[str, str] = RESULTS) -> str:
    """``text`` with the part between ``markers`` set to ``block``."""
    start, end = markers
    if start not in text or end not in text:
        raise ValueError(f'no {start} ... {end} block')
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f'{head}{start}\n{block}\n{end}{tail}'


def targets(args: argparse.Namespace) -> Dict[str, str]:
    """Each file this renders and the text it should have."""
    cells = load_cells(args.results)
    speed = render_speed(load_speed(args.results))
    blocks = {
        args.readme: [(RESULTS, render_readme(cells, args.variant))],
        osp.join(args.docs, 'results.md'): [
            (DETAIL, render_detail(cells)), (SWEEP, render_sweep(cells)),
            (SPEED, speed)
        ],
        osp.join(args.docs, 'benchmark.md'): [(SPEED, speed),
                                              (COST, render_cost(cells))],
        args.ohem_readme: [(OHEM_RESULTS,
                            render_ohem_readme(cells, args.configs))],
    }
    out = {}
    for path, parts in blocks.items():
        with open(path) as f:
            text = f.read()
        for markers, block in parts:
            text = replace_block(text, block, markers)
        out[path] = text
    with open(args.metafile) as f:
        out[args.metafile] = render_metafile(f.read(), cells)
    for cell in cells:
        out[osp.splitext(cell.path)[0] + '.md'] = cell_file(cell)
    return out


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--results', default=osp.join(ROOT, 'docs', 'results'))
    parser.add_argument('--readme', default=osp.join(ROOT, 'README.md'))
    parser.add_argument(
        '--docs',
        default=osp.join(ROOT, 'docs'),
        help='folder of results.md and benchmark.md')
    parser.add_argument(
        '--configs',
        default=CONFIGS,
        help='configs/: where the benchmark configs are looked up')
    parser.add_argument(
        '--ohem-readme',
        help='configs/ohem/README.md (default: under --configs)')
    parser.add_argument(
        '--metafile',
        help='configs/ohem/metafile.yml (default: under --configs)')
    parser.add_argument(
        '--variant',
        default=ENTRY,
        help="README's column beside 'random' (the entry config's mining)")
    parser.add_argument(
        '--check',
        action='store_true',
        help='only check that every rendered file is up to date')
    args = parser.parse_args(argv)
    args.ohem_readme = args.ohem_readme or osp.join(args.configs, 'ohem',
                                                    'README.md')
    args.metafile = args.metafile or osp.join(args.configs, 'ohem',
                                              'metafile.yml')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    stale = []
    for path, text in targets(args).items():
        old = None
        if osp.isfile(path):
            with open(path) as f:
                old = f.read()
        if old == text:
            continue
        stale.append(path)
        if not args.check:
            with open(path, 'w') as f:
                f.write(text)
    if args.check and stale:
        print(
            'stale (run tools/analysis/render_results.py): ' +
            ', '.join(osp.relpath(p) for p in stale),
            file=sys.stderr)
        return 1
    if not args.check:
        changed = ', '.join(osp.relpath(p) for p in stale)
        print('rendered: ' + (changed or 'nothing changed'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
