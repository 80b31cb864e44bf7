"""Paired differences between two variants and their 95 % confidence
interval (Student t), the statistics the results tables are rendered from.

Pure Python (no torch, no scipy): a results file is a list of runs, each
with a seed; two variants are compared seed by seed, and the mean of the
per-seed differences gets a two-sided 95 % interval with the Student t
quantile at ``n - 1`` degrees of freedom.
"""
import math
import statistics
from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence, Tuple

# t_{0.975, df} for df = 1..30 (two-sided 95 %), 7 significant digits.
T_975 = (12.70620, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912,
         2.364624, 2.306004, 2.262157, 2.228139, 2.200985, 2.178813,
         2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922,
         2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
         2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)
Z_975 = 1.959963985  # the normal quantile, the limit for df -> inf

GAIN, NO_DIFFERENCE, LOSS, TOO_FEW = ('gain', 'no measurable difference',
                                      'loss', 'too few seeds')


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom.

    Tabulated for df <= 30; beyond, the Cornish-Fisher expansion of t
    around the normal quantile (Hill 1970), within 1e-5 of the exact
    value there.
    """
    if df < 1:
        raise ValueError(f'df must be >= 1, got {df}')
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 -
          945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


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
