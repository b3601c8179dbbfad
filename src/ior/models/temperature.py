"""Serving temperature: the one knob behind the explicit illusion of robustness.

A classifier served at temperature ``T`` returns ``logits / T`` (Eq. 7 of Raina et al., 2024).
``T << 1`` makes it extremely over-confident (the paper's "up-conf"), ``T >> 1`` extremely
under-confident ("down-conf"). Dividing by a positive number never changes the argmax, so clean
accuracy is untouched while attack search methods lose their signal.

The division happens in float32, as it would in a deployed model, so the float32 saturation that
produces the illusion is reproduced rather than hidden.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def check_temperature(value: float, *, name: str = "temperature") -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If ``value`` is not finite or not strictly positive.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


class TemperatureScaled:
    """A classifier whose logits are divided by a fixed temperature.

    Parameters
    ----------
    model : object
        Anything with ``num_labels`` and ``logits(texts) -> float32 [N, C]``.
    temperature : float
        Finite and > 0. Wrapping twice composes: ``(l / T1) / T2``, exactly what an adversary
        re-scaling a served model's outputs computes.

    Examples
    --------
    >>> import numpy as np
    >>> class Fixed:
    ...     num_labels = 2
    ...     def logits(self, texts):
    ...         return np.tile(np.array([[2.0, -2.0]], dtype=np.float32), (len(texts), 1))
    >>> TemperatureScaled(Fixed(), 0.5).logits(["a"]).tolist()
    [[4.0, -4.0]]
    """

    def __init__(self, model, temperature: float):
        self.model = model
        self.temperature = check_temperature(temperature)

    @property
    def num_labels(self) -> int:
        return self.model.num_labels

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        raw = np.asarray(self.model.logits(texts), dtype=np.float32)
        return raw / np.float32(self.temperature)

    def describe(self) -> str:
        inner = getattr(self.model, "describe", lambda: type(self.model).__name__)()
        return f"{inner} / T={self.temperature:g}"


def serve(model, temperature: float):
    """Return ``model`` served at ``temperature`` (the model itself when T == 1)."""
    temperature = check_temperature(temperature)
    return model if temperature == 1.0 else TemperatureScaled(model, temperature)
