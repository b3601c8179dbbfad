"""Warning flags: cheap signs that an attack's search may be blind, in the manner of AutoAttack.

Each flag has a stable code, a measured value, the threshold it was compared with and a sentence a
reader can act on. README.md ("Audit flags") explains them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ior.models.probabilities import softmax_float32


@dataclass(frozen=True)
class Flag:
    code: str
    value: float
    threshold: float
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def looks_like_probabilities(outputs, *, atol=1e-5) -> bool:
    """True when every row is non-negative and sums to 1: probabilities where logits belong."""
    outputs = np.asarray(outputs, dtype=np.float64)
    return bool(outputs.size and (outputs >= 0).all() and np.allclose(outputs.sum(axis=1), 1.0, atol=atol))


def saturation_share(logits) -> float:
    """Share of inputs whose float32 top probability is exactly 1.0."""
    probs = softmax_float32(logits)
    return float(np.mean(probs.max(axis=1) == np.float32(1.0)))


def uniform_share(logits) -> float:
    """Share of inputs whose float32 probabilities are all exactly equal (exactly 1/C)."""
    probs = softmax_float32(logits)
    return float(np.mean(probs.max(axis=1) == probs.min(axis=1)))


def compute_flags(logits, *, zeta, cal_temperature=None, zeta_threshold=1e-4, cal_far_factor=10.0,
                  share_threshold=0.1, probabilities=False, cal_converged=True, cal_separable=False,
                  n_validation=None) -> list[Flag]:
    """All flags that fire for a served model's clean test logits (and, with ``cal_*``, for the
    temperature ``cal`` fitted on validation)."""
    flags = []
    saturated = saturation_share(logits)
    if saturated >= share_threshold:
        flags.append(Flag("saturated-confidence", saturated, share_threshold,
                          f"{saturated:.0%} of inputs have float32 confidence exactly 1.0: probability-based "
                          "attacks see no change on them (over-confidence illusion)"))
    uniform = uniform_share(logits)
    if uniform >= share_threshold:
        flags.append(Flag("uniform-confidence", uniform, share_threshold,
                          f"{uniform:.0%} of inputs have exactly uniform float32 probabilities "
                          "(under-confidence illusion)"))
    if zeta < zeta_threshold:
        flags.append(Flag("low-confidence-variance", zeta, zeta_threshold,
                          f"confidence variance {zeta:.2e} is below {zeta_threshold:g} (Eq. 5): "
                          "confidences barely vary across inputs"))
    if cal_temperature is not None and not cal_converged:
        why = (f"every one of the {n_validation} validation examples is classified correctly, so the NLL keeps "
               "falling as T -> 0" if cal_separable else "the NLL's minimum lies on the edge of the search range")
        flags.append(Flag("calibration-not-converged", cal_temperature, 0.0,
                          f"NLL calibration ended on its search bound (T = {cal_temperature:.3g}): {why}; "
                          "cal's temperature is not a calibration here (use a larger validation set)"))
    elif cal_temperature is not None and abs(math.log10(cal_temperature)) > math.log10(cal_far_factor):
        flags.append(Flag("calibration-temperature-extreme", cal_temperature, cal_far_factor,
                          f"NLL calibration wants T = {cal_temperature:.3g}, more than {cal_far_factor:g}x "
                          "away from 1: the model is extremely miscalibrated"))
    if probabilities:
        flags.append(Flag("outputs-are-probabilities", 1.0, 0.0,
                          "model outputs sum to 1: they were treated as logits as requested, but an "
                          "extra softmax flattens them and can hide adversarial examples"))
    return flags
