"""``cal``: naive temperature calibration by validation NLL (Eq. 8 of Raina et al., 2024).

The adversary fits one temperature ``T_a`` to the model's logits on labelled validation data and
attacks ``logits / T_a``. The paper fits T by gradient descent from T = 1; that cannot reach the
T_a ≈ 1e-6 a model served at T_d = 1e6 needs, so we minimise over log T instead: a coarse grid over
twenty-four decades finds the basin, a bounded Brent search polishes it. The NLL is computed in
float64 from the float32 logits the model actually returns.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize_scalar

from ior.calibration.metrics import negative_log_likelihood

LOG10_T_BOUNDS = (-12.0, 12.0)


class TemperatureScaling:
    """Fit a single temperature minimising the NLL of ``softmax(logits / T)``.

    Parameters
    ----------
    log10_bounds : tuple of float
        Search range for log10 T.
    grid_step : float
        Step of the coarse log10 grid.
    xtol : float
        Tolerance of the final Brent search, in log10 T.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature.
    nll_ : float
        Validation NLL at ``temperature_``.
    nll_at_one_ : float
        Validation NLL at T = 1, for comparison.
    converged_ : bool
        False when the minimum lies on a bound of the search range (e.g. a perfectly separable
        validation set, whose NLL keeps falling as T -> 0).
    separable_ : bool
        True when every validation example's top logit is its label: the NLL then has no minimum
        at any T > 0 and the fit ends on the lower bound.
    n_samples_ : int
        Number of validation examples fitted.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(scale=3.0, size=(4000, 3))
    >>> p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    >>> y = np.array([rng.choice(3, p=row) for row in p])
    >>> round(TemperatureScaling().fit(z * 50.0, y).temperature_ / 50.0, 1)
    1.0
    """

    def __init__(self, *, log10_bounds=LOG10_T_BOUNDS, grid_step=0.25, xtol=1e-6):
        self.log10_bounds = log10_bounds
        self.grid_step = grid_step
        self.xtol = xtol

    def fit(self, logits, labels) -> "TemperatureScaling":
        logits = np.asarray(logits, dtype=np.float64)
        labels = np.asarray(labels)
        if logits.ndim != 2 or logits.shape[0] == 0:
            raise ValueError(f"logits must have shape [N, C] with N > 0, got {logits.shape}")
        if labels.shape != (logits.shape[0],):
            raise ValueError(f"labels must have shape [{logits.shape[0]}], got {labels.shape}")
        if not np.isfinite(logits).all():
            raise ValueError("logits contain NaN or inf")
        lo, hi = (float(b) for b in self.log10_bounds)
        if not lo < hi:
            raise ValueError(f"log10_bounds must be increasing, got {self.log10_bounds!r}")

        def objective(log10_t: float) -> float:
            return negative_log_likelihood(logits, labels, temperature=10.0 ** log10_t)

        grid = np.arange(lo, hi + self.grid_step / 2, self.grid_step)
        values = np.array([objective(g) for g in grid])
        if not np.isfinite(values).any():
            raise RuntimeError("temperature fit failed: the NLL is not finite anywhere")
        best = int(np.nanargmin(values))
        left, right = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        result = minimize_scalar(objective, bounds=(left, right), method="bounded",
                                 options={"xatol": self.xtol})
        log10_t = float(result.x) if result.fun <= values[best] else float(grid[best])
        if not np.isfinite(log10_t):
            raise RuntimeError(f"temperature fit failed: {result.message}")
        self.log10_temperature_ = log10_t
        self.temperature_ = 10.0 ** log10_t
        self.nll_ = objective(log10_t)
        self.nll_at_one_ = objective(0.0)
        self.converged_ = bool(lo + self.grid_step < log10_t < hi - self.grid_step)
        self.separable_ = bool((logits.argmax(axis=1) == labels).all())
        self.n_samples_ = int(logits.shape[0])
        if not self.converged_:
            warnings.warn(
                f"temperature fit reached the edge of its range (T = {self.temperature_:.3g}); "
                "the validation set may be perfectly separable",
                RuntimeWarning,
                stacklevel=2,
            )
        return self

    def transform(self, logits) -> np.ndarray:
        """Return ``logits / temperature_`` in float32."""
        if not hasattr(self, "temperature_"):
            raise RuntimeError("TemperatureScaling is not fitted; call fit(logits, labels) first")
        return np.asarray(logits, dtype=np.float32) / np.float32(self.temperature_)
