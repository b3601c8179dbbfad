"""The IOR gap and its verdict.

The gap is the served adversarial accuracy minus the best (lowest) accuracy any piercing reached,
in accuracy points. Its 95% interval comes from a paired bootstrap over examples: every resample
recomputes all accuracies on the same examples and takes the minimum again, so the interval also
carries the optimism of picking the better of ``cal`` and ``opt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ILLUSION = "illusion of robustness"
GENUINE = "genuine"


@dataclass(frozen=True)
class Gap:
    points: float
    ci: tuple[float, float]
    verdict: str


def ior_gap(served, pierced: dict, *, threshold=3.0, n_bootstrap=10_000, seed=0) -> Gap:
    """Gap between served robustness and the best piercing, with a paired-bootstrap 95% interval.

    Parameters
    ----------
    served : bool array [N]
        Per-example robustness as served (correct before and after the attack).
    pierced : dict of str -> bool array [N]
        Per-example robustness under each piercing, on the same examples.
    threshold : float
        Points above which a gap whose interval excludes 0 is an illusion.

    Examples
    --------
    >>> g = ior_gap([1, 1, 1, 1, 0], {"cal": [0, 0, 0, 1, 0]}, n_bootstrap=200)
    >>> g.points, g.verdict
    (60.0, 'illusion of robustness')
    """
    served = np.asarray(served, dtype=np.float64)
    if served.ndim != 1 or served.size == 0:
        raise ValueError("served must be a non-empty 1-D array of per-example robustness")
    if not pierced:
        return Gap(0.0, (0.0, 0.0), GENUINE)
    rows = np.stack([np.asarray(v, dtype=np.float64) for v in pierced.values()])
    if rows.shape[1] != served.size:
        raise ValueError(f"pierced arrays must have {served.size} entries, got {rows.shape[1]}")
    point = 100.0 * (served.mean() - rows.mean(axis=1).min())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, served.size, size=(n_bootstrap, served.size))
    boot = 100.0 * (served[idx].mean(axis=1) - rows[:, idx].mean(axis=2).min(axis=0))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    verdict = ILLUSION if point > threshold and lo > 0 else GENUINE
    return Gap(float(point), (float(lo), float(hi)), verdict)
