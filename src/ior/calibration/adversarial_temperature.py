"""``opt``: choose the temperature that makes an attack most effective (Eqs. 9-10).

Q(T) is the adversarial accuracy measured when the attack runs on ``logits / T``. The paper
observes Q is close to convex in T and minimises it with Brent's method (Appendix G): evaluate Q(1)
and Q(10); if Q(10) < Q(1) search T in (1, 1e6), else in (1e-10, 1); at most 10 iterations.

Departures, all recorded in the result:

* The search runs over log10 T (the paper's linear bracket midpoint (1 + 1e6) / 2 would waste the
  search on one decade). The bracket is (0, 3, 6) or (-10, -5, 0) in log10 T.
* Q is a step function (an accuracy over a finite set); when the three-point bracket does not
  satisfy Brent's precondition Q(mid) < Q(ends), a bounded Brent search over the same interval runs
  instead of failing.
* The returned temperature is the best of *every* evaluated point, not only Brent's last iterate;
  ties go to the temperature evaluated first.
* Plateau stop (``stop="plateau"``, the default): once the bracket is evaluated, the search stops
  when ``plateau_points`` evaluations share the lowest Q, each within ``plateau_gap`` decades of the
  next, together spanning at least ``plateau_decades`` decades of T. Justification: if Q is convex
  in log T (the paper's observation) and Q(a) = Q(m) = Q(b) for a < m < b, then Q is constant on
  [a, b] and no T outside it is lower (a lower point would put Q(m) or Q(b) strictly below the
  chord), so that value is the minimum; Brent's remaining iterations would only narrow the location
  of a flat minimum. Q is convex only up to sampling noise, so the rule asks for evidence: a full
  decade (equal values by chance on a slope are close together) sampled with no gap wider than a
  decade (a one-example dip between two equal values far apart is not assumed away; the demo's ↓conf
  audit has one, Q = 7% at T = 1e-5 and 1 but 6% at T = 0.125). The
  same rule stops at once when Q reaches 0, which no temperature can beat. Each evaluation is one
  attack run, so this is what a flat minimum saves; ``stop="maxiter"`` runs the paper's search to
  the end.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scipy.optimize import brent, minimize_scalar

logger = logging.getLogger(__name__)


STOPS = ("plateau", "maxiter")


@dataclass(frozen=True)
class Evaluation:
    temperature: float
    adversarial_accuracy: float


class _Stop(Exception):
    """Raised inside the objective to end the scipy search early; ``args[0]`` is the reason."""


class AdversarialTemperatureSearch:
    """Minimise ``objective(T)`` (adversarial accuracy at attack temperature T) over log10 T.

    Parameters
    ----------
    maxiter : int
        Brent iterations (the paper uses 10).
    probe : float
        The second temperature evaluated to choose the bracket (10 in the paper).
    upper, lower : float
        Ends of the two candidate brackets (1e6 and 1e-10 in the paper).
    stop : {"plateau", "maxiter"}
        Stop on a flat minimum (see the module docstring) or run the search to its end.
    plateau_decades : float
        Width in decades of T that the evaluations at the lowest Q must span.
    plateau_points : int
        Evaluations at the lowest Q needed (>= 3: two equal values may be the two sides of a dip).
    plateau_gap : float
        Widest gap in decades of T allowed between neighbouring evaluations of the plateau.

    Attributes
    ----------
    temperature_ : float
    adversarial_accuracy_ : float
    evaluations_ : list of Evaluation
        Every (T, Q(T)) evaluated, in order.
    bracket_ : tuple of float
        The log10-T bracket used (empty when Q reached 0 before one was chosen).
    method_ : str
        "brent", "bounded" (the fallback when the bracket is not a valid Brent bracket), or
        "none" when Q reached 0 before the bracket was evaluated.
    stopped_ : str
        Why the search ended: "floor" (Q = 0), "plateau", "converged" (the scipy search met its
        tolerance) or "maxiter" (it ran out of iterations).
    """

    def __init__(self, *, maxiter=10, probe=10.0, upper=1e6, lower=1e-10, stop="plateau", plateau_decades=1.0,
                 plateau_points=3, plateau_gap=1.0):
        if int(maxiter) < 1:
            raise ValueError(f"maxiter must be >= 1, got {maxiter!r}")
        if not 1.0 < probe < upper or not 0.0 < lower < 1.0:
            raise ValueError(f"need 0 < lower < 1 < probe < upper, got lower={lower}, probe={probe}, upper={upper}")
        if stop not in STOPS:
            raise ValueError(f"stop must be one of {list(STOPS)}, got {stop!r}")
        if not plateau_decades > 0 or not plateau_gap > 0 or int(plateau_points) < 3:
            raise ValueError(f"need plateau_decades > 0, plateau_gap > 0 and plateau_points >= 3, got "
                             f"{plateau_decades!r}, {plateau_gap!r} and {plateau_points!r}")
        self.plateau_gap = float(plateau_gap)
        self.stop = stop
        self.plateau_decades = float(plateau_decades)
        self.plateau_points = int(plateau_points)
        self.maxiter = int(maxiter)
        self.probe = float(probe)
        self.upper = float(upper)
        self.lower = float(lower)

    def fit(self, objective: Callable[[float], float]) -> "AdversarialTemperatureSearch":
        seen: dict[float, float] = {}
        evaluations: list[Evaluation] = []
        watching = False  # the plateau rule applies once the bracket is evaluated

        def q(log10_t: float) -> float:
            key = round(float(log10_t), 9)
            if key not in seen:
                value = float(objective(10.0 ** key))
                if not math.isfinite(value):
                    raise RuntimeError(f"adversarial accuracy is not finite at T = {10.0 ** key:.3g}")
                seen[key] = value
                evaluations.append(Evaluation(10.0 ** key, value))
                logger.info("opt: Q(T=%.4g) = %.4f", 10.0 ** key, value)
                if self.stop == "plateau" and value <= 0.0:
                    raise _Stop("floor")
                if watching and self._on_plateau(seen):
                    raise _Stop("plateau")
            return seen[key]

        bracket, method = (), "none"
        try:
            q_one, q_probe = q(0.0), q(math.log10(self.probe))
            if q_probe < q_one:
                bracket = (0.0, math.log10(self.upper) / 2, math.log10(self.upper))
            else:
                bracket = (math.log10(self.lower), math.log10(self.lower) / 2, 0.0)
            left, middle, right = bracket
            valid = q(middle) < q(left) and q(middle) < q(right)
            method = "brent" if valid else "bounded"
            watching = self.stop == "plateau"
            if watching and self._on_plateau(seen):
                raise _Stop("plateau")
            if valid:
                iterations = brent(q, brack=bracket, maxiter=self.maxiter, full_output=True)[2]
                stopped = "maxiter" if iterations >= self.maxiter else "converged"
            else:
                result = minimize_scalar(q, bounds=(left, right), method="bounded",
                                         options={"maxiter": self.maxiter, "xatol": 1e-3})
                stopped = "converged" if result.status == 0 else "maxiter"
        except _Stop as reached:
            stopped = reached.args[0]
        best = min(evaluations, key=lambda e: e.adversarial_accuracy)
        self.temperature_ = best.temperature
        self.adversarial_accuracy_ = best.adversarial_accuracy
        self.evaluations_ = evaluations
        self.bracket_ = bracket
        self.method_ = method
        self.stopped_ = stopped
        return self

    def _on_plateau(self, seen: dict) -> bool:
        """Is there a run of ``plateau_points`` evaluations at the lowest Q, neighbours at most
        ``plateau_gap`` decades apart, spanning ``plateau_decades`` decades of T?"""
        values = np.array(list(seen.values()))
        at_best = sorted(k for k, v in seen.items() if v <= values.min() + 1e-12)
        start = 0
        for end in range(1, len(at_best) + 1):
            if end == len(at_best) or at_best[end] - at_best[end - 1] > self.plateau_gap + 1e-9:
                run = at_best[start:end]
                if len(run) >= self.plateau_points and run[-1] - run[0] >= self.plateau_decades - 1e-9:
                    return True
                start = end
        return False
