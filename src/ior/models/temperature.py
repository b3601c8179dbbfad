"""Serving temperature: the one knob behind the explicit illusion of robustness.

A classifier served at temperature ``T`` returns ``logits / T`` (Eq. 7 of Raina et al., 2024).
``T << 1`` makes it extremely over-confident (the paper's "up-conf"), ``T >> 1`` extremely
under-confident ("down-conf"). Dividing by a positive number never changes the argmax, so clean
accuracy is untouched while attack search methods lose their signal.

The division happens in float32, as it would in a deployed model, so the float32 saturation that
produces the illusion is reproduced rather than hidden. Two forms share these semantics:
:class:`TemperatureScaled` wraps anything with ``logits(inputs)`` (numpy out; the text attacks'
victims), :class:`TemperatureScaledModule` wraps a ``torch.nn.Module`` (differentiable; gradient
attacks on images run on it). ``TemperatureScaled(model, T).torch_module`` gives the second from the
first, so one served model serves both kinds of attack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


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

    @property
    def torch_module(self):
        """The same served model as a differentiable ``torch.nn.Module`` (for gradient attacks)."""
        inner = getattr(self.model, "torch_module", None)
        if inner is None:
            raise TypeError(f"{type(self.model).__name__} has no torch module to differentiate")
        return TemperatureScaledModule(inner, self.temperature)

    def describe(self) -> str:
        inner = getattr(self.model, "describe", lambda: type(self.model).__name__)()
        return f"{inner} / T={self.temperature:g}"


class TemperatureScaledModule(torch.nn.Module):
    """A torch module whose float32 logits are divided by a fixed temperature.

    Parameters
    ----------
    module : torch.nn.Module
        Maps inputs to logits [N, C].
    temperature : float
        Finite and > 0.

    Examples
    --------
    >>> net = torch.nn.Linear(2, 2, bias=False)
    >>> _ = net.weight.data.copy_(torch.eye(2))
    >>> TemperatureScaledModule(net, 0.5)(torch.tensor([[1.0, -1.0]])).tolist()
    [[2.0, -2.0]]
    """

    def __init__(self, module: torch.nn.Module, temperature: float):
        super().__init__()
        self.module = module
        self.temperature = check_temperature(temperature)

    def forward(self, inputs):
        return self.module(inputs).float() / torch.tensor(self.temperature, dtype=torch.float32)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}"


def temperature_chain(model) -> tuple[object, tuple[float, ...]]:
    """Unwrap temperature wrappers of either kind: ``(base, (T_outer, ..., T_inner))``.

    Re-applying the divisions innermost first reproduces the served float32 logits exactly
    (``(l / T1) / T2`` is not always ``l / (T1 T2)`` in float32).
    """
    temperatures = []
    while isinstance(model, (TemperatureScaled, TemperatureScaledModule)):
        temperatures.append(model.temperature)
        model = model.model if isinstance(model, TemperatureScaled) else model.module
    return model, tuple(temperatures)


def apply_temperatures(logits, temperatures):
    """Divide ``logits`` (numpy or torch, float32) by a :func:`temperature_chain`, innermost first."""
    for temperature in reversed(temperatures):
        logits = logits / (np.float32(temperature) if isinstance(logits, np.ndarray)
                           else torch.tensor(temperature, dtype=torch.float32))
    return logits


def serve(model, temperature: float):
    """Return ``model`` served at ``temperature`` (the model itself when T == 1)."""
    temperature = check_temperature(temperature)
    return model if temperature == 1.0 else TemperatureScaled(model, temperature)
