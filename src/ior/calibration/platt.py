"""``platt``: Platt / matrix scaling fitted on validation, the richer piercing of Table 19.

Where ``cal`` fits one temperature, matrix scaling (Guo et al. 2017, the multi-class form of Platt
1999) fits an affine map of the logits, ``z -> W z + b`` (``W`` C×C, ``b`` C), by validation NLL;
vector scaling restricts ``W`` to a diagonal. With two classes only the difference of the two output
rows matters, so matrix scaling is exactly Platt's ``sigmoid(a (z_1 - z_0) + c)`` on the logit
margin, over-parametrised. Unlike a temperature, the map can reorder the classes, so it can change
the argmax and the clean accuracy of the model it re-scales: the audit reports that accuracy beside
the attack. Raina et al. (2024, Table 19) find it unstable over seeds and able to deepen the
illusion; the audit measures it rather than assuming either.

The fit is made on standardised logits (divided by their standard deviation, so that a model served
at T_d = 1e6 or 1e-2 is as well conditioned as one at 1), in float64 with L-BFGS and a small L2
penalty that keeps ``W`` finite on a separable validation set; the map is then expressed on the raw
logits and applied in float32, as the attacked model computes it.
"""

from __future__ import annotations

import numpy as np
import torch

KINDS = ("matrix", "vector")


class MatrixScaling:
    """Fit ``softmax(W z + b)`` to labelled logits by NLL.

    Parameters
    ----------
    kind : {"matrix", "vector"}
        Full ``W`` or diagonal ``W``.
    l2 : float
        Penalty ``l2 / 2 * (||W - I||^2 + ||b||^2)`` on the standardised scale, added to the mean NLL;
        0 fits the unpenalised map (which diverges on separable data).
    max_iter : int
        L-BFGS iterations.

    Attributes
    ----------
    weight_ : numpy.ndarray, float32 [C, C]
    bias_ : numpy.ndarray, float32 [C]
    nll_ : float
        Validation NLL after the fit; ``nll_at_identity_`` before it.
    converged_ : bool
        L-BFGS met its tolerance within ``max_iter`` iterations.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 3000)
    >>> z = rng.normal(size=(3000, 3)) + 3.0 * np.eye(3)[(y + 1) % 3]  # the logits point one class off
    >>> fit = MatrixScaling().fit(z, y)
    >>> bool((fit.transform(z).argmax(1) == y).mean() > 0.85), bool(fit.nll_ < fit.nll_at_identity_)
    (True, True)
    """

    def __init__(self, *, kind: str = "matrix", l2: float = 1e-3, max_iter: int = 500):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
        if not l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {l2!r}")
        self.kind, self.l2, self.max_iter = kind, float(l2), int(max_iter)

    def fit(self, logits, labels) -> MatrixScaling:
        z = np.asarray(logits, dtype=np.float64)
        y = np.asarray(labels, dtype=np.int64)
        if z.ndim != 2 or len(z) != len(y) or len(z) == 0:
            raise ValueError(f"need logits [N, C] and N labels with N > 0; got {z.shape} and {y.shape}")
        n, c = z.shape
        if y.min() < 0 or y.max() >= c:
            raise ValueError(f"labels must lie in 0..{c - 1}")
        scale = float(z.std()) or 1.0
        zs = torch.from_numpy(z / scale)
        target = torch.from_numpy(y)
        if self.kind == "matrix":
            w = torch.eye(c, dtype=torch.float64).requires_grad_(True)
        else:
            w = torch.ones(c, dtype=torch.float64).requires_grad_(True)
        b = torch.zeros(c, dtype=torch.float64, requires_grad=True)
        identity = torch.eye(c, dtype=torch.float64) if self.kind == "matrix" else torch.ones(c, dtype=torch.float64)

        def matrix():
            return w if self.kind == "matrix" else torch.diag(w)

        def loss():
            nll = torch.nn.functional.cross_entropy(zs @ matrix().T + b, target)
            return nll + self.l2 / 2 * (((w - identity) ** 2).sum() + (b ** 2).sum())

        with torch.no_grad():
            self.nll_at_identity_ = float(torch.nn.functional.cross_entropy(torch.from_numpy(z), target))
        optimizer = torch.optim.LBFGS([w, b], max_iter=self.max_iter, tolerance_grad=1e-9,
                                      tolerance_change=1e-12, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            value = loss()
            value.backward()
            return value

        optimizer.step(closure)
        state = optimizer.state[optimizer._params[0]]
        self.n_iter_ = int(state.get("n_iter", 0))
        self.converged_ = self.n_iter_ < self.max_iter
        with torch.no_grad():
            weight = matrix().numpy() / scale
        self.weight_ = weight.astype(np.float32)
        self.bias_ = b.detach().numpy().astype(np.float32)
        self.nll_ = float(torch.nn.functional.cross_entropy(torch.from_numpy(self.transform(z).astype(np.float64)),
                                                            target))
        return self

    def transform(self, logits) -> np.ndarray:
        """``W z + b`` in float32."""
        return affine_logits(np.asarray(logits, dtype=np.float32), self.weight_, self.bias_)


def affine_logits(logits, weight, bias):
    """``logits @ W.T + b`` for numpy or torch float32 logits (the map a ``platt`` piercing applies)."""
    if isinstance(logits, np.ndarray):
        return (logits.astype(np.float32) @ np.asarray(weight, np.float32).T + np.asarray(bias, np.float32)).astype(
            np.float32)
    return logits.float() @ torch.as_tensor(weight, dtype=torch.float32).T + torch.as_tensor(bias, dtype=torch.float32)
