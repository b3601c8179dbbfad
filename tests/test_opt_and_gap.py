import math

import numpy as np
import pytest

from ior.audit.statistics import GENUINE, ILLUSION, ior_gap
from ior.calibration.adversarial_temperature import AdversarialTemperatureSearch


def _convex_q(best_log10):
    def q(temperature):
        return min(1.0, 0.2 + 0.05 * (math.log10(temperature) - best_log10) ** 2)
    return q


@pytest.mark.parametrize("best", [-6.0, -2.0, 2.5])
def test_opt_finds_the_minimum_of_a_convex_q_in_either_direction(best):
    search = AdversarialTemperatureSearch().fit(_convex_q(best))
    assert abs(math.log10(search.temperature_) - best) < 0.5
    assert search.adversarial_accuracy_ == pytest.approx(min(e.adversarial_accuracy for e in search.evaluations_))
    # Q(1) and Q(10) are always the first two evaluations (the paper's bracket choice).
    assert [e.temperature for e in search.evaluations_[:2]] == pytest.approx([1.0, 10.0])
    assert (search.bracket_[0] >= 0) == (best > 0)


def test_opt_falls_back_to_a_bounded_search_on_a_flat_q():
    search = AdversarialTemperatureSearch(maxiter=5).fit(lambda t: 0.5)
    assert search.method_ == "bounded"
    assert search.temperature_ == pytest.approx(1.0)  # ties go to the first evaluated point
    assert len(search.evaluations_) >= 3


def test_opt_rejects_non_finite_objective():
    with pytest.raises(RuntimeError, match="not finite"):
        AdversarialTemperatureSearch().fit(lambda t: float("nan"))


def test_gap_point_estimate_and_verdict():
    served = np.array([1] * 60 + [0] * 40)
    cal = np.array([1] * 20 + [0] * 80)
    opt = np.array([1] * 30 + [0] * 70)
    gap = ior_gap(served, {"cal": cal, "opt": opt}, n_bootstrap=2000)
    assert gap.points == pytest.approx(40.0)
    assert gap.ci[0] > 0 and gap.ci[0] <= 40.0 <= gap.ci[1]
    assert gap.verdict == ILLUSION


def test_gap_is_genuine_when_piercing_changes_nothing_or_little():
    served = np.array([1] * 30 + [0] * 70)
    same = ior_gap(served, {"cal": served.copy()}, n_bootstrap=500)
    assert same.points == 0.0 and same.verdict == GENUINE
    small = served.copy()
    small[0] = 0  # one point lower: below the 3-point threshold
    assert ior_gap(served, {"cal": small}, n_bootstrap=500).verdict == GENUINE


def test_gap_needs_interval_excluding_zero():
    rng = np.random.default_rng(1)
    served = rng.random(12) < 0.5
    pierced = served.copy()
    pierced[np.flatnonzero(served)[:1]] = False  # 8 points on 12 examples: noisy
    gap = ior_gap(served, {"cal": pierced}, n_bootstrap=2000)
    assert gap.points > 3
    assert gap.ci[0] <= 0 or gap.verdict == ILLUSION
