"""Adversarial training in a perturbation space: PGD-K and FreeLB, and the pieces they share.

A *training method* computes one batch's loss and leaves its parameter gradient in ``.grad``; the
trainer then applies ``--grad-norm``/``--grad-clip`` and the optimiser step. Every loss divides the
logits by the training temperature ``T``, the adversary's included.

Where the adversary perturbs is a :class:`PerturbationSpace` (start, ascent step, projection), so
each method, and the grad-norm / min-norm maths around it, exist once for text and images:

* :class:`TokenEmbeddingL2` (text): ``delta`` [B, L, D] is added to the word embeddings
  (``model.get_input_embeddings()(input_ids)``; the model adds position embeddings itself) and the
  model is called with ``inputs_embeds=`` and the attention mask. As in the implementations of
  Zhu et al. (FreeLB) and Li et al. 2021b (TextDefender), on which the paper's settings rest:
  start ``delta = U(-1, 1) * init_mag / sqrt(n_tokens * D)`` on real tokens, zero on padding;
  ascent step ``delta += lr * g / ||g||`` with the L2 norm per example over all its tokens and
  dimensions; projection onto the per-example L2 ball of radius ``max_norm``. We also zero
  ``delta`` on padding after every step (the references rely on padding receiving a near-zero
  gradient).
* :class:`PixelLinf` (images, Madry et al. 2018): start uniform in the L∞ ball of radius ε, ascent
  step ``delta += α sign(g)``, projection onto the ball and onto the [0, 1] pixel range.

The model stays in training mode (dropout on) while the adversary runs, as in both text references.
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

    def __init__(self, *, temperature: float = 1.0, space=None):
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
        self.temperature = float(temperature)
        self.space = space or TokenEmbeddingL2()

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy at the training temperature."""
        return F.cross_entropy(logits / self.temperature, target)

    def backward(self, model, batch: Mapping[str, torch.Tensor], target: torch.Tensor) -> StepResult:
        logits = self.space.forward(model, batch)
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
    """Per-example L2 norm over all positions and dimensions, [B]."""
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


def _check_positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")


class TokenEmbeddingL2:
    """Text: perturb the word embeddings within a per-example L2 ball (see the module docstring).

    Parameters
    ----------
    step_size : float
        Ascent step length in L2 (the paper: 0.03).
    init_mag : float
        Magnitude of the random start (0.05).
    max_norm : float
        Radius of the per-example L2 ball (1.0).
    """

    def __init__(self, *, step_size=0.03, init_mag=0.05, max_norm=1.0):
        _check_positive(step_size=step_size, max_norm=max_norm)
        if isinstance(init_mag, bool) or not math.isfinite(init_mag) or init_mag < 0:
            raise ValueError(f"init_mag must be finite and >= 0, got {init_mag!r}")
        self.step_size, self.init_mag, self.max_norm = float(step_size), float(init_mag), float(max_norm)

    def forward(self, model, batch) -> torch.Tensor:
        """Logits of the clean batch."""
        return model(**batch).logits

    def clean(self, model, batch) -> torch.Tensor:
        """The point to perturb: word embeddings [B, L, D], differentiable in the embedding matrix."""
        return embed_tokens(model, batch)

    def logits(self, model, point, batch) -> torch.Tensor:
        return logits_from_embeddings(model, point, batch)

    def mask(self, batch, like) -> torch.Tensor:
        return token_mask(batch, like)

    def start(self, clean, batch) -> torch.Tensor:
        return project_l2(init_perturbation(clean, token_mask(batch, clean), self.init_mag), self.max_norm)

    def step(self, delta, grad, clean, batch) -> torch.Tensor:
        return ascent_step(delta, grad, token_mask(batch, clean), lr=self.step_size, max_norm=self.max_norm)

    def config(self) -> dict:
        return {"step_size": self.step_size, "init_mag": self.init_mag, "max_norm": self.max_norm, "norm": "l2"}


class PixelLinf:
    """Images: perturb the [0, 1] pixels within an L∞ ball (Madry et al., ICLR 2018).

    The batch is ``{"pixels": x}`` with x [B, C, H, W] in [0, 1]; the model maps pixels to logits.

    Parameters
    ----------
    epsilon : float
        Radius of the L∞ ball (0.1 for MNIST-like data, 8/255 for CIFAR in the literature).
    step_size : float
        α of the signed-gradient step.
    random_start : bool
        Start uniformly in the ball (else at the clean image).
    """

    def __init__(self, *, epsilon, step_size, random_start=True):
        _check_positive(epsilon=epsilon, step_size=step_size)
        self.epsilon, self.step_size, self.random_start = float(epsilon), float(step_size), bool(random_start)

    def forward(self, model, batch) -> torch.Tensor:
        return model(batch["pixels"])

    def clean(self, model, batch) -> torch.Tensor:
        return batch["pixels"]

    def logits(self, model, point, batch) -> torch.Tensor:
        return model(point)

    def mask(self, batch, like) -> torch.Tensor:
        return torch.ones(like.shape[0], dtype=like.dtype, device=like.device)

    def _project(self, delta, clean) -> torch.Tensor:
        delta = delta.clamp(-self.epsilon, self.epsilon)
        return ((clean + delta).clamp(0, 1) - clean).detach()

    def start(self, clean, batch) -> torch.Tensor:
        if not self.random_start:
            return torch.zeros_like(clean)
        return self._project(torch.empty_like(clean).uniform_(-self.epsilon, self.epsilon), clean)

    def step(self, delta, grad, clean, batch) -> torch.Tensor:
        return self._project(delta + self.step_size * grad.sign(), clean)

    def config(self) -> dict:
        return {"epsilon": self.epsilon, "step_size": self.step_size, "random_start": self.random_start,
                "norm": "linf"}


class EmbeddingAdversary(TrainingMethod):
    """Base of the methods that train on perturbed inputs (PGD, FreeLB, DDi, TRADES).

    Parameters
    ----------
    steps : int
        Ascent steps (the paper: 5).
    space : TokenEmbeddingL2 or PixelLinf, optional
        Where the adversary perturbs. Default: token embeddings with ``step_size``, ``init_mag``
        and ``max_norm`` (the text settings below).
    step_size, init_mag, max_norm : float
        :class:`TokenEmbeddingL2`'s settings when ``space`` is not given (0.03, 0.05, 1.0).
    temperature : float
        Training temperature, dividing the logits in every loss.
    hook : callable, optional
        ``hook(delta, mask)`` for every perturbation the parameters are trained on.
    """

    def __init__(self, *, steps=5, space=None, step_size=0.03, init_mag=0.05, max_norm=1.0, temperature=1.0,
                 hook: PerturbationHook | None = None):
        super().__init__(temperature=temperature, space=space or TokenEmbeddingL2(
            step_size=step_size, init_mag=init_mag, max_norm=max_norm))
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        self.steps = steps
        self.hook = hook

    def config(self) -> dict:
        return dict(super().config(), steps=self.steps, **self.space.config())

    def _report(self, delta, mask) -> None:
        if self.hook is not None:
            self.hook(delta.detach(), mask.detach())

    def objective(self, model, point, clean_logits, batch, target) -> torch.Tensor:
        """What the ascent maximises: the cross-entropy at the training temperature."""
        return self.loss(self.space.logits(model, point, batch), target)

    def attack(self, model, batch, target, *, steps: int | None = None, clean_logits=None) -> torch.Tensor:
        """PGD in the perturbation space: ``steps`` ascent steps from a random start; returns delta.

        Only the perturbation is differentiated: parameter gradients are left untouched.
        """
        clean = self.space.clean(model, batch).detach()
        delta = self.space.start(clean, batch)
        for _ in range(self.steps if steps is None else steps):
            delta.requires_grad_(True)
            loss = self.objective(model, clean + delta, clean_logits, batch, target)
            (grad,) = torch.autograd.grad(loss, delta)
            delta = self.space.step(delta.detach(), grad, clean, batch)
        return delta


#: The base of every perturbation-space method under a name that does not suggest text only.
Adversary = EmbeddingAdversary


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
        logits = self.space.logits(model, self.space.clean(model, batch) + delta, batch)
        loss = self.loss(logits, target)
        loss.backward()
        self._report(delta, self.space.mask(batch, delta))
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
        space = self.space
        clean = space.clean(model, batch)
        mask = space.mask(batch, clean)
        delta = space.start(clean.detach(), batch)
        total, norm_max = 0.0, 0.0
        for step in range(self.steps):
            delta.requires_grad_(True)
            logits = space.logits(model, clean + delta, batch)
            loss = self.loss(logits, target) / self.steps
            loss.backward()
            total += loss.item()
            self._report(delta, mask)
            norm_max = max(norm_max, float(perturbation_norms(delta.detach()).max()))
            if step == self.steps - 1:
                break
            delta = space.step(delta.detach(), delta.grad, clean.detach(), batch)
            clean = space.clean(model, batch)  # the backward pass freed the previous graph
        return StepResult(total, logits.detach(), {"perturbation_norm_max": norm_max})
