"""The one place in ``ior`` where logits become probabilities.

Attacks rank candidates by these probabilities, and the illusion of robustness lives in their
float32 saturation: at ``T = 0.01`` a confident model's top probability is exactly 1.0 in float32
for every candidate, and at ``T = 1e6`` every probability is exactly ``1 / C``. So this is a plain
float32 softmax, as TextAttack computes it. Do not "improve" it with float64 or log-probabilities:
that would measure a different, better-behaved model than the one an attacker faces.
"""

from __future__ import annotations

import numpy as np
import torch


def softmax_float32(logits) -> np.ndarray:
    """Row-wise float32 softmax of ``logits`` [N, C] -> probabilities [N, C].

    Examples
    --------
    >>> softmax_float32([[0.0, 0.0]]).tolist()
    [[0.5, 0.5]]
    """
    tensor = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    if tensor.ndim != 2:
        raise ValueError(f"logits must have shape [N, C], got {tuple(tensor.shape)}")
    return torch.softmax(tensor, dim=1).numpy()


def predictions(logits) -> np.ndarray:
    """Predicted classes: argmax of the logits, never of the (possibly tied) probabilities."""
    return np.asarray(logits).argmax(axis=1)
