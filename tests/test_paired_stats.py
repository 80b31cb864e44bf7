"""mmdet_ohem.utils.paired_stats: paired Δs, Student t CIs, verdicts."""
import math

import pytest

from mmdet_ohem.utils.paired_stats import (GAIN, LOSS, NO_DIFFERENCE, TOO_FEW,
                                           mean_ci95, paired_deltas,
                                           t_quantile_975, verdict)


def test_ci_of_a_hand_computed_case():
    # Δs 1..5: mean 3, sd sqrt(2.5), t_{0.975,4} = 2.776 ->
    # 3 ± 2.776 * sqrt(2.5) / sqrt(5) = 3 ± 1.963.
    ci = mean_ci95([1, 2, 3, 4, 5])
    assert ci.n == 5 and ci.mean == 3
    assert ci.sd == pytest.approx(math.sqrt(2.5))
    assert ci.half_width == pytest.approx(1.963, abs=5e-4)
    assert (ci.low, ci.high) == (pytest.approx(1.0368, abs=1e-4),
                                 pytest.approx(4.9632, abs=1e-4))
    assert ci.verdict == GAIN


@pytest.mark.parametrize('df,t', [(1, 12.706), (2, 4.303), (4, 2.776),
                                  (10, 2.228), (30, 2.042), (40, 2.021),
                                  (60, 2.000), (120, 1.980)])
def test_t_quantile_against_published_values(df, t):
    assert t_quantile_975(df) == pytest.approx(t, abs=5e-4)


def test_t_quantile_refuses_df_0():
    with pytest.raises(ValueError, match='df'):
        t_quantile_975(0)


def test_verdict_thresholds():
    assert verdict(3, 0.0, 2.0) == NO_DIFFERENCE  # lower end 0: no gain
    assert verdict(3, 1e-9, 2.0) == GAIN
    assert verdict(3, -2.0, 0.0) == NO_DIFFERENCE
    assert verdict(3, -2.0, -1e-9) == LOSS
    assert verdict(1, 1.0, 2.0) == TOO_FEW
    one = mean_ci95([4.0])
    assert (one.low, one.high, one.verdict) == (None, None, TOO_FEW)
    assert mean_ci95([-3, -2, -4]).verdict == LOSS
    assert mean_ci95([-1, 2, 1]).verdict == NO_DIFFERENCE


def test_pairing_by_seed_drops_unpaired_seeds():
    base = {0: 10., 1: 20., 2: 30., 10: 5., 4: None}
    other = {2: 35., 0: 11., 3: 9., 10: 4., 4: 7.}
    pairs = paired_deltas(base, other)
    assert pairs.seeds == (0, 2, 10)  # numeric order, not by position
    assert pairs.deltas == (1., 5., -1.)
    assert pairs.dropped == (1, 3, 4)  # a None value is a run not made
