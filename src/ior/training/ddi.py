"""DDi-AT: adversarial training along Danskin's descent direction (Latorre et al., ICLR 2023).

F. Latorre, I. Krawczuk, L. T. Dadi, T. Pethick, V. Cevher, "Finding Actual Descent Directions for
Adversarial Training", ICLR 2023.

The robust loss is a maximum over perturbations; by Danskin's theorem its steepest descent
direction is minus the minimum-norm element of the convex hull of the gradients at the maximisers.
With M adversarial batches (PGD from M random starts) and G = [g_1 ... g_M] their parameter
gradients (Eq. 14):

    alpha* = argmin over the simplex of ||G alpha||^2,    step along -G alpha* / ||G alpha*||_2.

The paper uses M = 3 starts of K = 3 PGD steps each, in token-embedding space; any perturbation
space of :mod:`ior.training.adversarial` works (pixels in an L∞ ball for images). The global
normalisation of the step is what makes DDi-AT models extremely over-confident (the implicit
illusion of robustness); ``normalization="clip"`` or ``"none"`` is the ablation of the paper's
Table 5.

Departures: the direction is handed to the trainer's optimiser (AdamW in the paper's settings) as
the gradient, rather than used in a plain SGD step; the M gradients are per batch, not per example.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ior.training.adversarial import EmbeddingAdversary, StepResult, perturbation_norms

NORMALIZATIONS = ("normalize", "clip", "none")
#: Above this many gradients the exact solver (2^M - 1 faces) gives way to Frank-Wolfe.
EXACT_MAX = 12


def _check_gram(gram) -> np.ndarray:
    gram = np.asarray(gram, dtype=np.float64)
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] < 1:
        raise ValueError(f"gram must be a square [M, M] matrix with M >= 1, got shape {gram.shape}")
    if not np.isfinite(gram).all():
        raise ValueError("gram must be finite")
    return (gram + gram.T) / 2


def min_norm_point(gram, *, method: str = "auto") -> np.ndarray:
    """alpha* = argmin over the probability simplex of alpha^T K alpha, with K = G^T G.

    Parameters
    ----------
    gram : array_like, shape [M, M]
        Gram matrix of the M gradients (positive semi-definite).
    method : {"auto", "exact", "frank-wolfe"}
        "exact" solves the KKT system on every face of the simplex (2^M - 1 of them) and keeps the
        best feasible point; "auto" uses it for M <= 12 and Frank-Wolfe above.

    Returns
    -------
    numpy.ndarray, shape [M]
        Non-negative weights summing to 1.

    Examples
    --------
    >>> min_norm_point([[1.0, 0.0], [0.0, 1.0]]).round(3).tolist()  # two orthogonal unit gradients
    [0.5, 0.5]
    >>> min_norm_point([[1.0, 1.0], [1.0, 4.0]]).round(3).tolist()  # g_2 = 2 g_1: the vertex g_1
    [1.0, 0.0]
    """
    gram = _check_gram(gram)
    if method not in ("auto", "exact", "frank-wolfe"):
        raise ValueError(f"method must be one of ['auto', 'exact', 'frank-wolfe'], got {method!r}")
    if method == "frank-wolfe" or (method == "auto" and len(gram) > EXACT_MAX):
        return frank_wolfe_min_norm(gram)
    return _exact_min_norm(gram)


def _exact_min_norm(gram: np.ndarray) -> np.ndarray:
    m = len(gram)
    scale = max(float(np.abs(np.diag(gram)).max()), 1e-300)
    k = gram / scale  # the minimiser does not depend on the scale; the tolerances do
    best, best_value = None, np.inf
    # Smaller faces first, so that a tie keeps the sparser point.
    for size in range(1, m + 1):
        for face in itertools.combinations(range(m), size):
            idx = list(face)
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = k[np.ix_(idx, idx)]
            kkt[:size, size] = kkt[size, :size] = 1.0
            rhs = np.zeros(size + 1)
            rhs[size] = 1.0
            solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:size]
            if solution.min() < -1e-9 or not np.isfinite(solution).all():
                continue
            alpha = np.zeros(m)
            alpha[idx] = np.clip(solution, 0.0, None)
            if alpha.sum() <= 0:
                continue
            alpha /= alpha.sum()
            value = float(alpha @ k @ alpha)
            if value < best_value - 1e-12:
                best, best_value = alpha, value
    if best is None:  # unreachable for a PSD matrix: every vertex is feasible
        raise RuntimeError("min-norm solver found no feasible point")
    return best


def frank_wolfe_min_norm(gram, *, max_iter: int = 10000, tol: float = 1e-12) -> np.ndarray:
    """Frank-Wolfe with away steps and exact line search for min over the simplex of alpha^T K alpha.

    Starts at the vertex of the shortest gradient. Each step either moves towards the vertex with
    the smallest ``(K alpha)_t`` or away from the used vertex with the largest, whichever promises
    more (away steps make the convergence linear on the simplex). Stops when the Frank-Wolfe gap
    falls below ``tol`` times the largest diagonal entry.
    """
    k = _check_gram(gram)
    m = len(k)
    alpha = np.zeros(m)
    alpha[int(np.argmin(np.diag(k)))] = 1.0
    scale = max(float(np.abs(np.diag(k)).max()), 1e-300)
    for _ in range(max_iter):
        grad = k @ alpha
        toward = int(np.argmin(grad))
        used = np.flatnonzero(alpha > 0)
        away = int(used[np.argmax(grad[used])])
        current = float(alpha @ grad)
        fw_gap, away_gap = current - grad[toward], grad[away] - current
        if fw_gap <= tol * scale:
            break
        if fw_gap >= away_gap or alpha[away] >= 1.0:
            direction = -alpha.copy()
            direction[toward] += 1.0
            limit = 1.0
        else:
            direction = alpha.copy()
            direction[away] -= 1.0
            limit = alpha[away] / (1.0 - alpha[away])
        curvature = float(direction @ k @ direction)
        slope = -float(direction @ grad)
        step = limit if curvature <= 0 else min(limit, slope / curvature)
        alpha = np.clip(alpha + step * direction, 0.0, None)
        alpha /= alpha.sum()
    return alpha


def ddi_direction(grads, *, normalization: str = "normalize", clip_norm: float = 1.0):
    """Combine M gradients into the DDi update direction.

    Parameters
    ----------
    grads : sequence of M sequences of tensors
        ``grads[j][p]`` is the gradient of adversarial batch j's loss for parameter p.
    normalization : {"normalize", "clip", "none"}
        "normalize" returns ``G alpha* / ||G alpha*||`` (unit L2 norm, Latorre et al.), "clip" rescales
        only when the norm exceeds ``clip_norm``, "none" returns ``G alpha*``.

    Returns
    -------
    direction : list of tensors
        One per parameter; the optimiser steps along minus it.
    alpha : numpy.ndarray, shape [M]
    norm : float
        ``||G alpha*||`` before normalisation.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {list(NORMALIZATIONS)}, got {normalization!r}")
    if not grads:
        raise ValueError("grads must hold at least one gradient")
    m = len(grads)
    gram = 0.0
    for p in range(len(grads[0])):
        flat = torch.stack([g[p].reshape(-1).double() for g in grads])
        gram = gram + flat @ flat.T
    alpha = min_norm_point(gram.cpu().numpy())
    direction = [sum(float(a) * g[p] for a, g in zip(alpha, grads)) for p in range(len(grads[0]))]
    norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(d.double()) for d in direction])))
    if normalization == "normalize":
        scale = 1.0 / max(norm, 1e-12)
    elif normalization == "clip":
        scale = min(1.0, clip_norm / max(norm, 1e-12))
    else:
        scale = 1.0
    return [d * scale for d in direction], alpha, norm


class DDi(EmbeddingAdversary):
    """DDi-AT in a perturbation space (token embeddings by default, pixels for images).

    Each batch: ``samples`` = M PGD adversaries (``steps`` = K ascent steps each, from independent
    random starts), the parameter gradient of each adversarial batch's loss, and the DDi direction
    (:func:`ddi_direction`) written into ``.grad``. M (K + 1) forward and M parameter-backward
    passes per batch.

    Parameters
    ----------
    samples, steps : int
        M and K (the paper: 3 and 3).
    normalization : {"normalize", "clip", "none"}
    clip_norm : float
        Threshold for ``normalization="clip"``.
    step_size, init_mag, max_norm, temperature, hook
        As for :class:`ior.training.adversarial.EmbeddingAdversary`.

    Notes
    -----
    The reported loss is the largest of the M adversarial losses (the robust loss that the DDi
    direction descends); ``diagnostics`` holds ``alpha`` and ``direction_norm`` (``||G alpha*||``).
    """

    name = "ddi"

    def __init__(self, *, samples=3, steps=3, normalization="normalize", clip_norm=1.0, **kwargs):
        super().__init__(steps=steps, **kwargs)
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be an int >= 1, got {samples!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {list(NORMALIZATIONS)}, got {normalization!r}")
        if not np.isfinite(clip_norm) or clip_norm <= 0:
            raise ValueError(f"clip_norm must be finite and > 0, got {clip_norm!r}")
        self.samples, self.normalization, self.clip_norm = samples, normalization, float(clip_norm)
        self.last_alpha: np.ndarray | None = None

    def config(self) -> dict:
        return dict(super().config(), samples=self.samples, normalization=self.normalization,
                    clip_norm=self.clip_norm)

    def backward(self, model, batch, target) -> StepResult:
        params = [p for p in model.parameters() if p.requires_grad]
        grads, losses, all_logits, norm_max = [], [], [], 0.0
        for _ in range(self.samples):
            delta = self.attack(model, batch, target)
            logits = self.space.logits(model, self.space.clean(model, batch) + delta, batch)
            loss = self.loss(logits, target)
            g = torch.autograd.grad(loss, params, allow_unused=True)
            grads.append([torch.zeros_like(p) if gi is None else gi for p, gi in zip(params, g)])
            losses.append(loss.item())
            all_logits.append(logits.detach())
            self._report(delta, self.space.mask(batch, delta))
            norm_max = max(norm_max, float(perturbation_norms(delta).max()))
        direction, alpha, norm = ddi_direction(grads, normalization=self.normalization,
                                               clip_norm=self.clip_norm)
        for p, d in zip(params, direction):
            p.grad = d
        self.last_alpha = alpha
        worst = int(np.argmax(losses))
        return StepResult(losses[worst], all_logits[worst],
                          {"alpha": alpha.tolist(), "direction_norm": norm, "losses": losses,
                           "perturbation_norm_max": norm_max})
