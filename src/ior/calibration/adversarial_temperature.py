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
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from scipy.optimize import brent, minimize_scalar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    temperature: float
    adversarial_accuracy: float


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

    Attributes
    ----------
    temperature_ : float
    adversarial_accuracy_ : float
    evaluations_ : list of Evaluation
        Every (T, Q(T)) evaluated, in order.
    bracket_ : tuple of float
        The log10-T bracket used.
    method_ : str
        "brent" or "bounded" (the fallback when the bracket is not a valid Brent bracket).
    """

    def __init__(self, *, maxiter=10, probe=10.0, upper=1e6, lower=1e-10):
        if int(maxiter) < 1:
            raise ValueError(f"maxiter must be >= 1, got {maxiter!r}")
        if not 1.0 < probe < upper or not 0.0 < lower < 1.0:
            raise ValueError(f"need 0 < lower < 1 < probe < upper, got lower={lower}, probe={probe}, upper={upper}")
        self.maxiter = int(maxiter)
        self.probe = float(probe)
        self.upper = float(upper)
        self.lower = float(lower)

    def fit(self, objective: Callable[[float], float]) -> "AdversarialTemperatureSearch":
        seen: dict[float, float] = {}
        evaluations: list[Evaluation] = []

        def q(log10_t: float) -> float:
            key = round(float(log10_t), 9)
            if key not in seen:
                value = float(objective(10.0 ** key))
                if not math.isfinite(value):
                    raise RuntimeError(f"adversarial accuracy is not finite at T = {10.0 ** key:.3g}")
                seen[key] = value
                evaluations.append(Evaluation(10.0 ** key, value))
                logger.info("opt: Q(T=%.4g) = %.4f", 10.0 ** key, value)
            return seen[key]

        q_one, q_probe = q(0.0), q(math.log10(self.probe))
        if q_probe < q_one:
            bracket = (0.0, math.log10(self.upper) / 2, math.log10(self.upper))
        else:
            bracket = (math.log10(self.lower), math.log10(self.lower) / 2, 0.0)
        left, middle, right = bracket
        if q(middle) < q(left) and q(middle) < q(right):
            brent(q, brack=bracket, maxiter=self.maxiter)
            method = "brent"
        else:
            minimize_scalar(q, bounds=(left, right), method="bounded",
                            options={"maxiter": self.maxiter, "xatol": 1e-3})
            method = "bounded"
        best = min(evaluations, key=lambda e: e.adversarial_accuracy)
        self.temperature_ = best.temperature
        self.adversarial_accuracy_ = best.adversarial_accuracy
        self.evaluations_ = evaluations
        self.bracket_ = bracket
        self.method_ = method
        return self
