"""Render README's results table from the committed benchmark outputs.

``tools/analysis/run_bench.py`` writes one JSON file per set and regime
(per-seed metric of every variant) to ``docs/results/``; this turns them
into the Markdown table between ``<!-- results:start -->`` and
``<!-- results:end -->`` in README.md, so that no number there is copied
by hand (``tests/test_render_results.py`` checks that they agree).

    python tools/analysis/render_results.py            # rewrite README's table
    python tools/analysis/render_results.py --check    # exit 1 if it is stale
"""
import argparse
import glob
import json
import os.path as osp
import statistics
import sys
from typing import List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
START, END = '<!-- results:start -->', '<!-- results:end -->'
SET_NAMES = dict(
    synthetic='synthetic (embedded)',
    bccd='BCCD (real, 3 classes)',
    raccoon='raccoon (real, 1 class)')
SET_ORDER = list(SET_NAMES)
# Column titles of run_bench.py's variant names.
LABELS = {
    'random': 'RandomSampler',
    'ohem-nms0.5': 'ours, NMS per image',
    'ohem-label0.5': 'ours, NMS per label',
    'ohem-label0.5-rand0.5': 'ours (entry config)',
    'mmdet-ohem': "mmdet's OHEMSampler"
}


def load(results_dir: str) -> List[dict]:
    """The summaries of ``results_dir``, in set order, scratch first."""
    summaries = []
    for path in glob.glob(osp.join(results_dir, '*.json')):
        with open(path) as f:
            summaries.append(json.load(f))

    def key(s):
        order = SET_ORDER.index(s['set']) if s['set'] in SET_ORDER else 99
        return order, s['regime'] != 'scratch', s['regime']

    return sorted(summaries, key=key)


def _mean_std(values: Sequence[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.
    return f'{statistics.fmean(values):.1f} ± {std:.1f}'


def render(summaries: List[dict],
           variant: str,
           baseline: str = 'random',
           others: Sequence[str] = ()) -> str:
    """One row per set and regime: ``baseline``, the ``others`` (mean ±
    std, or – where not run), ``variant`` and its deltas to ``baseline``
    paired by seed."""
    titles = [LABELS.get(v, v) for v in (baseline, *others, variant)]
    lines = [
        '| data, regime | ' + ' | '.join(titles) + ' | Δ per seed | mean Δ |',
        '|---|' + '---:|' * (len(titles) + 2)
    ]
    for s in summaries:
        runs = s['runs']
        if baseline not in runs or variant not in runs:
            continue
        seeds = [
            k for k in runs[baseline] if runs[baseline][k] is not None
            and runs[variant].get(k) is not None
        ]
        if not seeds:
            continue
        base = [runs[baseline][k] for k in seeds]
        ours = [runs[variant][k] for k in seeds]
        deltas = [o - b for o, b in zip(ours, base)]
        cells = [_mean_std(base)]
        for other in others:
            values = [v for v in runs.get(other, {}).values() if v is not None]
            cells.append(_mean_std(values) if values else '–')
        cells += [
            _mean_std(ours), ' / '.join(f'{d:+.1f}' for d in deltas),
            f'{statistics.fmean(deltas):+.1f}'
        ]
        name = SET_NAMES.get(s['set'], s['set'])
        lines.append(f"| {name}, {s['regime']} (n={len(seeds)}) | " +
                     ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def replace_block(text: str, table: str) -> str:
    """``text`` with the block between the markers set to ``table``."""
    if START not in text or END not in text:
        raise ValueError(f'no {START} ... {END} block')
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f'{head}{START}\n{table}\n{END}{tail}'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--results', default=osp.join(ROOT, 'docs', 'results'))
    parser.add_argument('--readme', default=osp.join(ROOT, 'README.md'))
    parser.add_argument(
        '--variant',
        default='ohem-label0.5-rand0.5',
        help="the column beside 'random' (the entry "
        "config's mining)")
    parser.add_argument(
        '--others',
        nargs='*',
        default=['mmdet-ohem', 'ohem-nms0.5', 'ohem-label0.5'],
        help='variants shown between the two (mean ± std where run)')
    parser.add_argument(
        '--check',
        action='store_true',
        help='only check that README is up to date')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    table = render(load(args.results), args.variant, others=args.others)
    with open(args.readme) as f:
        text = f.read()
    new = replace_block(text, table)
    if args.check:
        if new != text:
            print(
                f'{args.readme} is stale: run '
                'tools/analysis/render_results.py',
                file=sys.stderr)
            return 1
        return 0
    with open(args.readme, 'w') as f:
        f.write(new)
    print(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
