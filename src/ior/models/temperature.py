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


class AffineMap:
    """A fixed affine map of the logits, ``z -> W z + b`` in float32 (a fitted ``platt`` piercing).

    Parameters
    ----------
    weight : array-like, [C, C]
    bias : array-like, [C]
    """

    def __init__(self, weight, bias):
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        c = self.bias.shape[0] if self.bias.ndim == 1 else -1
        if self.weight.shape != (c, c):
            raise ValueError(f"an affine map needs W [C, C] and b [C]; got {self.weight.shape} and {self.bias.shape}")
        if not (np.isfinite(self.weight).all() and np.isfinite(self.bias).all()):
            raise ValueError("an affine map must be finite")

    def __call__(self, logits):
        from ior.calibration.platt import affine_logits

        return affine_logits(logits, self.weight, self.bias)

    def __eq__(self, other) -> bool:
        return isinstance(other, AffineMap) and np.array_equal(self.weight, other.weight) \
            and np.array_equal(self.bias, other.bias)

    def __repr__(self) -> str:
        return f"AffineMap(C={len(self.bias)})"


class AffineScaled:
    """A classifier whose float32 logits go through a fixed :class:`AffineMap` (see ``platt``)."""

    def __init__(self, model, affine: AffineMap):
        if not isinstance(affine, AffineMap):
            raise TypeError(f"affine must be an AffineMap, got {type(affine).__name__}")
        self.model, self.affine = model, affine

    @property
    def num_labels(self) -> int:
        return self.model.num_labels

    def logits(self, inputs) -> np.ndarray:
        return self.affine(np.asarray(self.model.logits(inputs), dtype=np.float32))

    @property
    def torch_module(self):
        inner = getattr(self.model, "torch_module", None)
        if inner is None:
            raise TypeError(f"{type(self.model).__name__} has no torch module to differentiate")
        return AffineScaledModule(inner, self.affine)

    def describe(self) -> str:
        inner = getattr(self.model, "describe", lambda: type(self.model).__name__)()
        return f"W·({inner}) + b"


class AffineScaledModule(torch.nn.Module):
    """A torch module whose float32 logits go through a fixed :class:`AffineMap`."""

    def __init__(self, module: torch.nn.Module, affine: AffineMap):
        super().__init__()
        self.module, self.affine = module, affine

    def forward(self, inputs):
        return self.affine(self.module(inputs).float())


def temperature_chain(model) -> tuple[object, tuple]:
    """Unwrap the output wrappers of either kind: ``(base, (outer, ..., inner))``.

    Each element is a temperature (a float: the logits are divided by it) or an :class:`AffineMap`
    (a ``platt`` piercing). Re-applying them innermost first reproduces the served float32 logits
    exactly (``(l / T1) / T2`` is not always ``l / (T1 T2)`` in float32).
    """
    chain = []
    while True:
        if isinstance(model, (TemperatureScaled, TemperatureScaledModule)):
            chain.append(model.temperature)
            model = model.model if isinstance(model, TemperatureScaled) else model.module
        elif isinstance(model, (AffineScaled, AffineScaledModule)):
            chain.append(model.affine)
            model = model.model if isinstance(model, AffineScaled) else model.module
        else:
            return model, tuple(chain)


def apply_temperatures(logits, temperatures):
    """Apply a :func:`temperature_chain` to ``logits`` (numpy or torch, float32), innermost first."""
    for step in reversed(temperatures):
        if isinstance(step, AffineMap):
            logits = step(logits)
        else:
            logits = logits / (np.float32(step) if isinstance(logits, np.ndarray)
                               else torch.tensor(step, dtype=torch.float32))
    return logits


def rewrap(base, temperatures):
    """``base`` wrapped again in a :func:`temperature_chain` (the inverse of unwrapping it)."""
    model = base
    for step in reversed(temperatures):
        model = AffineScaled(model, step) if isinstance(step, AffineMap) else TemperatureScaled(model, step)
    return model


def serve(model, temperature: float):
    """Return ``model`` served at ``temperature`` (the model itself when T == 1)."""
    temperature = check_temperature(temperature)
    return model if temperature == 1.0 else TemperatureScaled(model, temperature)
