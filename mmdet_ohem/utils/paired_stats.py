"""Paired differences between two variants and their 95 % confidence
interval (Student t), the statistics the results tables are rendered from.

No torch: a results file is a list of runs, each
with a seed; two variants are compared seed by seed, and the mean of the
per-seed differences gets a two-sided 95 % interval with the Student t
quantile at ``n - 1`` degrees of freedom.
"""
import math
import statistics
from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence, Tuple

from scipy.stats import t as student_t

GAIN, NO_DIFFERENCE, LOSS, TOO_FEW = ('gain', 'no measurable difference',
                                      'loss', 'too few seeds')


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom
    (scipy's, which mmdet already depends on)."""
    if df < 1:
        raise ValueError(f'df must be >= 1, got {df}')
    return float(student_t.ppf(0.975, df))


@dataclass(frozen=True)
class MeanCI:
    """Mean of ``values`` with its two-sided 95 % Student t interval.

    ``low``/``high`` are None when n < 2 (no spread to estimate).
    """
    values: Tuple[float, ...]
    mean: float
    sd: float
    low: float = None
    high: float = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def half_width(self) -> float:
        return None if self.low is None else self.high - self.mean

    @property
    def verdict(self) -> str:
        """See :func:`verdict`."""
        return verdict(self.n, self.low, self.high)


def mean_ci95(values: Sequence[float]) -> MeanCI:
    """Mean, sample sd (n - 1) and 95 % CI ``mean ± t * sd / sqrt(n)``."""
    values = tuple(float(v) for v in values)
    if not values:
        raise ValueError('no values')
    mean = statistics.fmean(values)
    if len(values) < 2:
        return MeanCI(values, mean, 0.)
    sd = statistics.stdev(values)
    half = t_quantile_975(len(values) - 1) * sd / math.sqrt(len(values))
    return MeanCI(values, mean, sd, mean - half, mean + half)


def verdict(n: int, low: float, high: float) -> str:
    """The word a table uses for an interval of a difference.

    ``'gain'`` only where the lower end is above 0 (strictly: a lower end
    of exactly 0 is no gain), ``'loss'`` where the upper end is below 0,
    ``'no measurable difference'`` where the interval holds 0, and
    ``'too few seeds'`` for n < 2.
    """
    if n < 2 or low is None or high is None:
        return TOO_FEW
    if low > 0:
        return GAIN
    if high < 0:
        return LOSS
    return NO_DIFFERENCE


@dataclass(frozen=True)
class Paired:
    """``variant - baseline`` for the seeds both ran, in seed order, and
    the seeds only one of them ran (dropped from the differences)."""
    seeds: Tuple[Hashable, ...]
    deltas: Tuple[float, ...]
    dropped: Tuple[Hashable, ...]


def paired_deltas(baseline: Mapping[Hashable, float],
                  variant: Mapping[Hashable, float]) -> Paired:
    """Pair two variants' values by seed (``{seed: value}``; a None value
    counts as not run)."""
    base = {k: v for k, v in baseline.items() if v is not None}
    other = {k: v for k, v in variant.items() if v is not None}
    seeds = sorted(set(base) & set(other), key=_seed_key)
    dropped = sorted(set(base) ^ set(other), key=_seed_key)
    return Paired(
        tuple(seeds), tuple(other[s] - base[s] for s in seeds),
        tuple(dropped))


def _seed_key(seed: Hashable):
    """Numeric seeds in numeric order ('10' after '2')."""
    try:
        return 0, int(seed), ''
    except (TypeError, ValueError):
        return 1, 0, str(seed)
