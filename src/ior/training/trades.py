"""TRADES (Zhang et al., ICML 2019): trade clean accuracy for robustness with a KL term.

H. Zhang, Y. Yu, J. Jiao, E. P. Xing, L. El Ghaoui, M. I. Jordan, "Theoretically Principled
Trade-off between Robustness and Accuracy", ICML 2019.

The loss is ``CE(f(x)/T, y) + β · KL(softmax(f(x)/T) ‖ softmax(f(x')/T))`` where x' maximises the KL
term within the threat model (K ascent steps in the method's perturbation space). Every logit is
divided by the training temperature, the adversary's included, as in the other methods.

Departures: the ascent starts from the space's random start (uniform in the ball) rather than
TRADES' 0.001·N(0, 1), and the model stays in training mode during the ascent, as the other
methods of :mod:`ior.training.adversarial` do.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ior.training.adversarial import EmbeddingAdversary, StepResult, perturbation_norms


class TRADES(EmbeddingAdversary):
    """TRADES adversarial training in a perturbation space.

    Parameters
    ----------
    beta : float
        Weight of the KL term (the paper: 6 on CIFAR-10, 1–6 on MNIST).
    steps, space, temperature, hook
        As for :class:`ior.training.adversarial.EmbeddingAdversary`.
    """

    name = "trades"

    def __init__(self, *, beta: float = 6.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be finite and >= 0, got {beta!r}")
        self.beta = float(beta)

    def config(self) -> dict:
        return dict(super().config(), beta=self.beta)

    def kl(self, adversarial_logits, clean_logits) -> torch.Tensor:
        """Mean over the batch of KL(clean ‖ adversarial) at the training temperature."""
        return F.kl_div(F.log_softmax(adversarial_logits / self.temperature, dim=1),
                        F.softmax(clean_logits / self.temperature, dim=1), reduction="batchmean")

    def objective(self, model, point, clean_logits, batch, target) -> torch.Tensor:
        return self.kl(self.space.logits(model, point, batch), clean_logits)

    def backward(self, model, batch, target) -> StepResult:
        with torch.no_grad():
            reference = self.space.forward(model, batch).detach()
        delta = self.attack(model, batch, target, clean_logits=reference)
        clean = self.space.clean(model, batch)
        clean_logits = self.space.logits(model, clean, batch)
        adversarial_logits = self.space.logits(model, clean + delta, batch)
        natural = self.loss(clean_logits, target)
        robust = self.kl(adversarial_logits, clean_logits)
        loss = natural + self.beta * robust
        loss.backward()
        self._report(delta, self.space.mask(batch, delta))
        return StepResult(loss.item(), clean_logits.detach(),
                          {"natural_loss": natural.item(), "kl": robust.item(),
                           "perturbation_norm_max": float(perturbation_norms(delta).max())})
