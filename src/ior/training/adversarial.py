"""Adversarial training in token-embedding space: PGD-K and FreeLB, and the pieces they share.

A *training method* computes one batch's loss and leaves its parameter gradient in ``.grad``; the
trainer then applies ``--grad-norm``/``--grad-clip`` and the optimiser step. Every loss divides the
logits by the training temperature ``T``, the adversary's included.

The perturbation ``delta`` [B, L, D] is added to the word embeddings
(``model.get_input_embeddings()(input_ids)``; the model adds position embeddings itself) and the
model is called with ``inputs_embeds=`` and the attention mask. As in the implementations of
Zhu et al. (FreeLB) and Li et al. 2021b (TextDefender), on which the paper's settings rest:

* start: ``delta = U(-1, 1) * init_mag / sqrt(n_tokens * D)`` on real tokens, zero on padding;
* ascent step: ``delta += lr * g / ||g||``, with ``g`` the gradient of the loss in ``delta`` and the
  L2 norm taken per example over all its tokens and dimensions;
* projection: rescale each example's ``delta`` onto the L2 ball of radius ``max_norm``.

We also zero ``delta`` on padding after every step (the references rely on padding receiving a
near-zero gradient). The model stays in training mode (dropout on) while the adversary runs, as in
both references.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

#: ``hook(delta, mask)`` receives every perturbation a method trains on: delta [B, L, D] (detached)
#: and the real-token mask [B, L].
PerturbationHook = Callable[[torch.Tensor, torch.Tensor], None]


@dataclass
class StepResult:
    """What a training method reports for one batch.

    Attributes
    ----------
    loss : float
        The objective the method descends (for logging).
    logits : torch.Tensor
        [B, C], detached: logits of the inputs the loss was computed on (used for the running
        training accuracy).
    diagnostics : dict
        Method-specific numbers (perturbation norms, DDi weights, ...).
    """

    loss: float
    logits: torch.Tensor
    diagnostics: dict = field(default_factory=dict)


class TrainingMethod:
    """Standard training: cross-entropy of ``logits / temperature``.

    Subclasses override :meth:`backward`. ``backward`` is called after ``optimizer.zero_grad()``
    and must leave the gradient of its objective in the parameters' ``.grad``.
    """

    name = "standard"

    def __init__(self, *, temperature: float = 1.0):
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
        self.temperature = float(temperature)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy at the training temperature."""
        return F.cross_entropy(logits / self.temperature, target)

    def backward(self, model, batch: Mapping[str, torch.Tensor], target: torch.Tensor) -> StepResult:
        logits = model(**batch).logits
        loss = self.loss(logits, target)
        loss.backward()
        return StepResult(loss.item(), logits.detach())

    def config(self) -> dict:
        return {"method": self.name, "temperature": self.temperature}


# --- embedding-space helpers -------------------------------------------------------------------

def embed_tokens(model, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Word embeddings of the batch, [B, L, D] (differentiable in the embedding matrix)."""
    return model.get_input_embeddings()(batch["input_ids"])


def logits_from_embeddings(model, embeds: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Logits [B, C] of the model fed ``embeds`` instead of ``input_ids`` (mask, token types kept)."""
    extra = {k: v for k, v in batch.items() if k != "input_ids"}
    return model(inputs_embeds=embeds, **extra).logits


def token_mask(batch: Mapping[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """Real-token mask [B, L] in the dtype of ``like`` (all ones without an attention mask)."""
    mask = batch.get("attention_mask")
    if mask is None:
        return torch.ones(like.shape[:2], dtype=like.dtype, device=like.device)
    return mask.to(like.dtype)


def perturbation_norms(delta: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm over tokens and dimensions, [B]."""
    return torch.linalg.vector_norm(delta.reshape(delta.shape[0], -1), dim=1)


def init_perturbation(embeds: torch.Tensor, mask: torch.Tensor, init_mag: float) -> torch.Tensor:
    """FreeLB's random start: uniform in [-1, 1] on real tokens, scaled by init_mag / sqrt(n * D).

    Its expected L2 norm is ``init_mag / sqrt(3)``; ``init_mag = 0`` starts at zero.
    """
    delta = torch.zeros_like(embeds)
    if init_mag > 0:
        dims = mask.sum(dim=1).clamp(min=1) * embeds.shape[-1]
        delta = delta.uniform_(-1, 1) * mask.unsqueeze(2) * (init_mag / dims.sqrt()).view(-1, 1, 1)
    return delta.detach()


def project_l2(delta: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Rescale each example whose L2 norm exceeds ``max_norm`` onto the ball's surface."""
    norms = perturbation_norms(delta)
    scale = torch.where(norms > max_norm, max_norm / norms.clamp(min=1e-12), torch.ones_like(norms))
    return delta * scale.view(-1, 1, 1)


def ascent_step(delta, grad, mask, *, lr: float, max_norm: float) -> torch.Tensor:
    """One normalised L2 ascent step, masked to real tokens and projected on the max_norm ball."""
    grad = grad * mask.unsqueeze(2)
    step = grad / perturbation_norms(grad).clamp(min=1e-8).view(-1, 1, 1)
    return project_l2((delta + lr * step) * mask.unsqueeze(2), max_norm).detach()


class EmbeddingAdversary(TrainingMethod):
    """Base of the methods that perturb token embeddings within an L2 ball.

    Parameters
    ----------
    steps : int
        Ascent steps (the paper: 5).
    step_size : float
        Ascent step length in L2 (0.03).
    init_mag : float
        Magnitude of the random start (0.05).
    max_norm : float
        Radius of the per-example L2 ball (1.0).
    temperature : float
        Training temperature, dividing the logits in every loss.
    hook : callable, optional
        ``hook(delta, mask)`` for every perturbation the parameters are trained on.
    """

    def __init__(self, *, steps=5, step_size=0.03, init_mag=0.05, max_norm=1.0, temperature=1.0,
                 hook: PerturbationHook | None = None):
        super().__init__(temperature=temperature)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        for name, value in (("step_size", step_size), ("max_norm", max_norm)):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        if not math.isfinite(init_mag) or init_mag < 0:
            raise ValueError(f"init_mag must be finite and >= 0, got {init_mag!r}")
        self.steps, self.step_size = steps, float(step_size)
        self.init_mag, self.max_norm = float(init_mag), float(max_norm)
        self.hook = hook

    def config(self) -> dict:
        return dict(super().config(), steps=self.steps, step_size=self.step_size, init_mag=self.init_mag,
                    max_norm=self.max_norm, norm="l2")

    def _report(self, delta, mask) -> None:
        if self.hook is not None:
            self.hook(delta.detach(), mask.detach())

    def attack(self, model, batch, target, *, steps: int | None = None) -> torch.Tensor:
        """PGD in embedding space: ``steps`` ascent steps from a random start; returns delta [B, L, D].

        Only the perturbation is differentiated: parameter gradients are left untouched.
        """
        embeds = embed_tokens(model, batch).detach()
        mask = token_mask(batch, embeds)
        delta = project_l2(init_perturbation(embeds, mask, self.init_mag), self.max_norm)
        for _ in range(self.steps if steps is None else steps):
            delta.requires_grad_(True)
            loss = self.loss(logits_from_embeddings(model, embeds + delta, batch), target)
            (grad,) = torch.autograd.grad(loss, delta)
            delta = ascent_step(delta.detach(), grad, mask, lr=self.step_size, max_norm=self.max_norm)
        return delta


class PGD(EmbeddingAdversary):
    """PGD-K adversarial training (Madry et al., ICLR 2018) in token-embedding space.

    Each batch: K = ``steps`` ascent steps find ``delta``; the parameters are then trained on the
    cross-entropy of the perturbed batch only (as TextDefender's PGD trainer: the clean batch is not
    used). K + 1 forward passes per batch.

    Examples
    --------
    >>> method = PGD(steps=5, step_size=0.03, init_mag=0.05, max_norm=1.0)  # doctest: +SKIP
    >>> batch = tokenizer(texts, return_tensors="pt", padding=True)  # doctest: +SKIP
    >>> method.backward(model, batch, labels).loss  # doctest: +SKIP
    """

    name = "pgd"

    def backward(self, model, batch, target) -> StepResult:
        delta = self.attack(model, batch, target)
        mask = token_mask(batch, delta)
        logits = logits_from_embeddings(model, embed_tokens(model, batch) + delta, batch)
        loss = self.loss(logits, target)
        loss.backward()
        self._report(delta, mask)
        norms = perturbation_norms(delta)
        return StepResult(loss.item(), logits.detach(), {"perturbation_norm_max": float(norms.max())})


class FreeLB(EmbeddingAdversary):
    """FreeLB (Zhu et al., ICLR 2020): "free" large-batch adversarial training.

    K = ``steps`` forward/backward passes per batch. Pass t trains the parameters on the batch
    perturbed by ``delta_t`` with weight 1/K (the gradients accumulate: the update descends the
    average loss over the ascent trajectory) and gives the gradient for the ascent step to
    ``delta_{t+1}``. As in the official code, the last pass takes no ascent step, and ``delta_0``
    is the random start.
    """

    name = "freelb"

    def backward(self, model, batch, target) -> StepResult:
        embeds = embed_tokens(model, batch)
        mask = token_mask(batch, embeds)
        delta = project_l2(init_perturbation(embeds.detach(), mask, self.init_mag), self.max_norm)
        total, norm_max = 0.0, 0.0
        for step in range(self.steps):
            delta.requires_grad_(True)
            logits = logits_from_embeddings(model, embeds + delta, batch)
            loss = self.loss(logits, target) / self.steps
            loss.backward()
            total += loss.item()
            self._report(delta, mask)
            norm_max = max(norm_max, float(perturbation_norms(delta.detach()).max()))
            if step == self.steps - 1:
                break
            delta = ascent_step(delta.detach(), delta.grad, mask, lr=self.step_size, max_norm=self.max_norm)
            embeds = embed_tokens(model, batch)  # the backward pass freed the previous graph
        return StepResult(total, logits.detach(), {"perturbation_norm_max": norm_max})
