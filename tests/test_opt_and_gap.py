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
    search = AdversarialTemperatureSearch(maxiter=5, stop="maxiter").fit(lambda t: 0.5)
    assert search.method_ == "bounded"
    assert search.temperature_ == pytest.approx(1.0)  # ties go to the first evaluated point
    assert len(search.evaluations_) >= 3


def _flat_bottom_q(lo, hi):
    """Convex in log10 T and exactly flat at 0.14 on [lo, hi], as DeepWordBug's Q(T) on the ↓conf twin."""
    def q(temperature):
        x = math.log10(temperature)
        return round(min(0.9, 0.14 + 0.1 * max(lo - x, x - hi, 0.0)), 3)
    return q


@pytest.mark.parametrize("lo, hi, share", [(-5.0, -3.0, 0.5), (1.5, 3.5, 0.5), (-1.0, 1.5, 0.65)])
def test_plateau_stop_keeps_the_minimum_in_fewer_attack_runs(lo, hi, share):
    full = AdversarialTemperatureSearch(stop="maxiter").fit(_flat_bottom_q(lo, hi))
    early = AdversarialTemperatureSearch().fit(_flat_bottom_q(lo, hi))
    assert full.stopped_ == "maxiter" and early.stopped_ == "plateau"
    assert early.adversarial_accuracy_ == full.adversarial_accuracy_ == 0.14
    assert lo <= math.log10(early.temperature_) <= hi
    assert len(early.evaluations_) <= share * len(full.evaluations_)
    # The early search is the full one, cut short: same points in the same order.
    assert early.evaluations_ == full.evaluations_[:len(early.evaluations_)]
    at_best = [math.log10(e.temperature) for e in early.evaluations_ if e.adversarial_accuracy == 0.14]
    assert len(at_best) >= 3 and max(at_best) - min(at_best) >= 1.0


def test_a_one_example_dip_inside_a_wide_flat_stretch_is_still_found():
    # The demo's ↓conf audit (DeepWordBug, 100 examples): Q = 7% from T = 1e-6 to 1 but 6% near T = 0.15;
    # three equal values spanning decades with a gap wider than a decade between them are not a plateau.
    def q(temperature):
        x = math.log10(temperature)
        if x > 0.5:
            return 0.65
        if x < -7:
            return 0.53
        return 0.06 if -1.0 <= x <= -0.6 else 0.07
    full = AdversarialTemperatureSearch(stop="maxiter").fit(q)
    early = AdversarialTemperatureSearch().fit(q)
    assert full.adversarial_accuracy_ == early.adversarial_accuracy_ == 0.06
    assert early.temperature_ == full.temperature_


def test_plateau_stop_changes_nothing_without_a_plateau():
    full = AdversarialTemperatureSearch(stop="maxiter").fit(_convex_q(-2.0))
    early = AdversarialTemperatureSearch().fit(_convex_q(-2.0))
    assert early.evaluations_ == full.evaluations_ and early.stopped_ == full.stopped_ != "plateau"


@pytest.mark.parametrize("dip", [-7.3, -4.0, -2.2, 0.7, 2.0, 4.4])
def test_a_coarse_v_shaped_q_is_searched_to_its_bottom(dip):
    # Q in steps of 0.05 (an accuracy over 20 examples): equal values are common on the two sides of the
    # dip, and two of them must not pass for a plateau.
    def q(temperature):
        return round(min(0.9, 0.1 + 0.2 * abs(math.log10(temperature) - dip)) * 20) / 20
    full = AdversarialTemperatureSearch(stop="maxiter").fit(q)
    early = AdversarialTemperatureSearch().fit(q)
    assert early.adversarial_accuracy_ == full.adversarial_accuracy_


def test_a_blind_plateau_at_t_1_does_not_stop_the_search():
    # An extremely under-confident model: Q is flat and high from T = 1e-4 up, low only below.
    def q(temperature):
        return 0.9 if temperature > 1e-4 else 0.2
    search = AdversarialTemperatureSearch().fit(q)
    assert search.adversarial_accuracy_ == 0.2 and search.temperature_ <= 1e-4


def test_q_of_zero_stops_at_once():
    calls = []

    def q(temperature):
        calls.append(temperature)
        return 0.0 if temperature > 5 else 0.3
    search = AdversarialTemperatureSearch().fit(q)
    assert calls == [1.0, 10.0] and search.stopped_ == "floor" and search.temperature_ == 10.0
    assert search.bracket_ == () and search.method_ == "none"
    assert AdversarialTemperatureSearch(stop="maxiter").fit(q).stopped_ != "floor"


@pytest.mark.parametrize("kwargs", [dict(stop="early"), dict(plateau_points=2), dict(plateau_decades=0),
                                    dict(plateau_gap=0)])
def test_bad_stopping_rules_are_refused(kwargs):
    with pytest.raises(ValueError):
        AdversarialTemperatureSearch(**kwargs)


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
