"""Global gradient normalization: the training step behind the *implicit* illusion of robustness.

Normalising the whole gradient to unit L2 norm before every optimiser step (θ ← θ − β·g/‖g‖₂, as in
the DDi update) drives a classifier to ~100% confidence on everything; the paper marks such models
with ``*``. Clipping (rescale only when ‖g‖ exceeds a threshold) does not have this effect.
"""

from __future__ import annotations

import torch


def global_grad_norm(parameters) -> torch.Tensor:
    """L2 norm of all gradients taken together (0 when there are none)."""
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


@torch.no_grad()
def normalize_gradients_(parameters, eps: float = 1e-12) -> float:
    """Rescale every gradient in place so that the global L2 norm is 1; return the old norm."""
    parameters = [p for p in parameters if p.grad is not None]
    norm = global_grad_norm(parameters)
    scale = 1.0 / (norm + eps)
    for p in parameters:
        p.grad.mul_(scale)
    return float(norm)


@torch.no_grad()
def clip_gradients_(parameters, max_norm: float) -> float:
    """Rescale gradients in place only when their global L2 norm exceeds ``max_norm``."""
    return float(torch.nn.utils.clip_grad_norm_(list(parameters), max_norm))
