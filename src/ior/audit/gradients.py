"""The gradient diagnostic: does the attack see a gradient at all?

A gradient attack on the cross-entropy moves an input along ∇ₓ CE(logits / T, y). When ``logits / T``
saturates the float32 softmax, ``softmax − onehot`` is exactly 0 and so is that gradient: the attack
cannot move, and the model looks robust (Athalye et al. 2018, "obfuscated gradients"; Raina et al.
2024, Eq. 6). This module measures, for the served model and after each piercing, the distribution
of ‖∇ₓ CE‖₂ over the test inputs and the share that is exactly 0 in float32. It is modality-free:
the attack suite computes the norms (pixels for images, input token embeddings for text).
"""

from __future__ import annotations

import numpy as np
import torch

from ior.audit.flags import Flag
from ior.models.temperature import AffineMap, rewrap

#: The flag fires when at least this share of the served model's input gradients is exactly 0.
ZERO_GRADIENT_SHARE = 0.1


def gradient_norms(grad) -> np.ndarray:
    """Per-example L2 norms of a float32 gradient [N, ...], taken in float64 (float64 [N]).

    A float32 norm underflows to 0 once every entry is below ~3e-23, although a signed-gradient step
    (PGD) still moves on such an input; in float64 the norm is 0 exactly when every entry is.
    """
    flat = grad.detach().reshape(grad.shape[0], -1).double()
    return torch.linalg.vector_norm(flat, dim=1).cpu().numpy()


def summarize_gradient_norms(norms) -> dict:
    """Share of exact zeros and quantiles of per-input gradient norms [N]."""
    norms = np.asarray(norms, dtype=np.float64)
    if norms.ndim != 1 or not len(norms):
        raise ValueError(f"norms must be a non-empty 1-D array, got shape {norms.shape}")
    q = np.quantile(norms.astype(np.float64), [0.1, 0.5, 0.9])
    return {"n": int(len(norms)), "zero_fraction": float(np.mean(norms == 0)), "mean": float(norms.mean()),
            "p10": float(q[0]), "median": float(q[1]), "p90": float(q[2])}


def gradient_diagnostic(suite, served, inputs, labels, piercings: dict) -> dict:
    """Gradient norms of the served model and of each piercing's re-scaled model.

    Parameters
    ----------
    suite : object
        Has ``input_gradient_norms(model, inputs, labels) -> float32 [N]``.
    served : object
        The model as served (``logits / T_d``).
    inputs, labels
        Test inputs and their labels.
    piercings : dict
        Piercing name -> the attack temperature it found, or the :class:`~ior.models.temperature.AffineMap`
        ``platt`` fitted (None: not run).

    Returns
    -------
    dict or None
        ``{"served": summary, "cal": summary | None, ...}``; each summary as
        :func:`summarize_gradient_norms`, plus the ``attack_temperature`` it was measured at. None when
        the suite cannot differentiate the model.
    """
    labels = np.asarray(labels)
    norms = suite.input_gradient_norms(served, inputs, labels)
    if norms is None:  # the suite cannot differentiate this victim
        return None
    result = {"served": dict(summarize_gradient_norms(norms), attack_temperature=1.0)}
    for name, temperature in piercings.items():
        if temperature is None:
            result[name] = None
            continue
        norms = suite.input_gradient_norms(rewrap(served, (temperature,)), inputs, labels)
        result[name] = dict(summarize_gradient_norms(norms),
                            attack_temperature=None if isinstance(temperature, AffineMap) else float(temperature))
    return result


def gradient_flags(gradients: dict, *, share_threshold: float = ZERO_GRADIENT_SHARE) -> list[Flag]:
    """The ``zero-gradients`` flag when the served model's input gradients are often exactly 0."""
    share = gradients["served"]["zero_fraction"]
    if share < share_threshold:
        return []
    return [Flag("zero-gradients", share, share_threshold,
                 f"{share:.0%} of test inputs have an input gradient of exactly 0 in float32: gradient "
                 "attacks on the cross-entropy cannot move them (masked gradients)")]
