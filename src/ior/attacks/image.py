"""Attacks on images: PGD, APGD-CE, APGD-DLR, Square, FAB and AutoAttack, under any temperature.

The attacks themselves are torchattacks 3.5.1's; this module is the audit's attack suite for
images (the text suite is :mod:`ior.attacks.suite`). It runs each attack on the served model as a
differentiable module (``logits / T`` in float32, eval mode), attacks only the examples the model
classifies correctly (AutoAttack's rule), re-checks every adversarial image (inside the L∞ ball of
radius ε around its original and inside [0, 1]) and hands the images back to the audit, which
re-scores them on the served model with a fresh forward pass.

Why temperature matters here: PGD and APGD-CE ascend the cross-entropy of ``logits / T``. With
T ≪ 1 the float32 softmax saturates, ``softmax - onehot`` is exactly 0 and so is the input gradient:
the attack cannot move (Athalye et al. 2018, "obfuscated gradients"). APGD-DLR, the targeted DLR
loss inside AutoAttack, FAB and Square's margin loss are ratios or differences of logits, which a
positive scale does not change, so they see through the illusion.

``autoattack`` is the standard version of Croce & Hein (ICML 2020) assembled from torchattacks'
parts with the original settings: APGD-CE (100 steps), APGD-T (DLR, 100 steps, every other class
as a target), FAB-T (100 steps, every other class) and Square (5,000 queries), each run on the
points the previous ones did not break. Departure: ``torchattacks.AutoAttack`` itself defaults to
10 APGD/FAB steps; we use the original 100.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ior.audit.config import DEFAULT_OPT_ATTACKS
from ior.attacks.results import SKIP_MISCLASSIFIED, Outcome
from ior.audit.gradients import gradient_norms

#: Canonical names, and the short names the command line also accepts.
ATTACKS = ("pgd", "apgd-ce", "apgd-dlr", "square", "fab", "autoattack")
ALIASES = {"pgd": "pgd", "pgd-ce": "pgd", "apgd": "apgd-ce", "apgd-ce": "apgd-ce", "apgd-dlr": "apgd-dlr",
           "square": "square", "fab": "fab", "autoattack": "autoattack", "aa": "autoattack"}
#: Fewest classes each loss is defined for (DLR divides by z_1 - z_3; targeted DLR by z_1 - z_4).
MIN_CLASSES = {"apgd-dlr": 3, "autoattack": 4}
#: ε for 28×28 grey-scale digits and clothes (MNIST, Fashion-MNIST), and for everything else.
EPSILON_MNIST = 0.1
EPSILON_CIFAR = 8 / 255
#: Slack of the ε-ball and [0, 1] re-check, for float32 rounding of x + δ.
RECHECK_TOLERANCE = 1e-6


def canonical_attack(name: str) -> str:
    """Canonical image-attack name for ``name`` (aliases such as ``aa`` allowed)."""
    key = str(name).lower().replace("_", "-")
    if key not in ALIASES:
        raise ValueError(f"unknown image attack {name!r}; choose from {sorted(ALIASES)}")
    return ALIASES[key]


def default_epsilon(dataset_name: str, input_shape) -> float:
    """0.1 for MNIST-like data (one 28×28 channel), 8/255 otherwise (CIFAR, TinyImageNet)."""
    name = str(dataset_name).lower()
    if "mnist" in name or tuple(input_shape) == (1, 28, 28):
        return EPSILON_MNIST
    return EPSILON_CIFAR


@dataclass(frozen=True)
class ImageAttackConfig:
    """Budgets of the image attacks (L∞ threat model).

    Parameters
    ----------
    epsilon : float
        Radius of the L∞ ball, in [0, 1] pixel units (> 0).
    pgd_steps : int
        PGD iterations (default 20).
    pgd_step_size : float or None
        PGD step; None gives Madry et al.'s 2.5 ε / steps.
    apgd_steps : int
        Iterations of APGD-CE, APGD-DLR and AutoAttack's APGD parts (100, as AutoAttack).
    fab_steps : int
        FAB iterations (100, as AutoAttack).
    square_queries : int
        Square's query budget per image (5,000, as AutoAttack).
    batch_size : int
        Images attacked together.
    seed : int
        Seeds every attack's randomness; batch ``b`` uses ``seed + b``.
    """

    epsilon: float
    pgd_steps: int = 20
    pgd_step_size: float | None = None
    apgd_steps: int = 100
    fab_steps: int = 100
    square_queries: int = 5000
    batch_size: int = 500
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, (int, float)):
            raise TypeError(f"epsilon must be a number, got {type(self.epsilon).__name__}")
        if not math.isfinite(self.epsilon) or not 0 < self.epsilon <= 1:
            raise ValueError(f"epsilon must be in (0, 1] (pixels are in [0, 1]), got {self.epsilon!r}")
        if self.pgd_step_size is not None and not (math.isfinite(self.pgd_step_size) and self.pgd_step_size > 0):
            raise ValueError(f"pgd_step_size must be finite and > 0, got {self.pgd_step_size!r}")
        for name in ("pgd_steps", "apgd_steps", "fab_steps", "square_queries", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")

    @property
    def step_size(self) -> float:
        return self.pgd_step_size if self.pgd_step_size is not None else 2.5 * self.epsilon / self.pgd_steps

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ImageAttackResult:
    """The attack on one image.

    Attributes
    ----------
    adversarial : numpy.ndarray
        [C, H, W] float32: the perturbed image, or the original when the attack failed or skipped.
    label : int
    original_prediction, adversarial_prediction : int
        Argmax of the attacked model's logits (the audit re-scores on the served model).
    linf : float
        ‖adversarial − original‖∞.
    queries : float
        Forward passes per attacked image in this example's batch.
    outcome : Outcome
    skip_reason : str or None
    recheck_failed : bool
        The attack's output left the ε-ball or [0, 1]; the original image was kept instead.
    """

    adversarial: np.ndarray
    label: int
    original_prediction: int
    adversarial_prediction: int
    linf: float
    queries: float
    outcome: Outcome
    skip_reason: str | None = None
    recheck_failed: bool = False

    def to_dict(self) -> dict:
        return {"label": self.label, "original_prediction": self.original_prediction,
                "adversarial_prediction": self.adversarial_prediction, "linf": self.linf,
                "queries": self.queries, "outcome": self.outcome.value, "skip_reason": self.skip_reason,
                "recheck_failed": self.recheck_failed}


def torch_module_of(model) -> torch.nn.Module:
    """The differentiable module behind a victim (itself when it already is one)."""
    if isinstance(model, torch.nn.Module):
        return model
    module = getattr(model, "torch_module", None)
    if module is None:
        raise TypeError(f"{type(model).__name__} is not a torch module and has none (torch_module)")
    return module


class _Counting(torch.nn.Module):
    """Counts the images a module is run on (an attack's queries)."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        self.images = 0

    def forward(self, inputs):
        self.images += int(inputs.shape[0])
        return self.module(inputs)


class ImageAttackSuite:
    """Image attacks for the audit (:class:`ior.audit.run.AttackSuite`).

    Parameters
    ----------
    config : ImageAttackConfig
    num_labels : int
        Classes of the victim (APGD-DLR needs >= 3, AutoAttack >= 4).
    progress : bool
        A progress bar over batches per attack run.

    Examples
    --------
    >>> suite = ImageAttackSuite(ImageAttackConfig(epsilon=0.1), num_labels=10)  # doctest: +SKIP
    >>> results = suite.run("pgd", served_classifier, images, labels)  # doctest: +SKIP
    """

    #: ``opt``'s objective Q(T): PGD on the cross-entropy, the attack the temperature can fool.
    default_opt_attack = DEFAULT_OPT_ATTACKS["image"]

    def __init__(self, config: ImageAttackConfig, *, num_labels: int, progress: bool = True):
        if not isinstance(config, ImageAttackConfig):
            raise TypeError(f"config must be an ImageAttackConfig, got {type(config).__name__}")
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 2:
            raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}")
        self.config = config
        self.num_labels = int(num_labels)
        self.progress = progress

    @property
    def rescore_group(self) -> int:
        """Images re-scored together: one attack batch (shards are whole batches)."""
        return self.config.batch_size

    def canonical(self, name: str) -> str:
        name = canonical_attack(name)
        needed = MIN_CLASSES.get(name)
        if needed and self.num_labels < needed:
            raise ValueError(f"{name} needs at least {needed} classes (its DLR loss divides by the gap to the "
                             f"{needed}rd-largest logit{'; AutoAttack runs targeted DLR' if needed == 4 else ''}), "
                             f"the model has {self.num_labels}")
        return name

    def build(self, name: str, module: torch.nn.Module):
        """The torchattacks attack ``name`` on ``module`` with this suite's budgets."""
        import torchattacks

        name, cfg = self.canonical(name), self.config
        eps, seed = cfg.epsilon, cfg.seed
        if name == "pgd":
            return torchattacks.PGD(module, eps=eps, alpha=cfg.step_size, steps=cfg.pgd_steps, random_start=True)
        if name in ("apgd-ce", "apgd-dlr"):
            return torchattacks.APGD(module, norm="Linf", eps=eps, steps=cfg.apgd_steps, n_restarts=1,
                                     seed=seed, loss=name.split("-")[1])
        if name == "square":
            return torchattacks.Square(module, norm="Linf", eps=eps, n_queries=cfg.square_queries, n_restarts=1,
                                       seed=seed, loss="margin")
        if name == "fab":
            return torchattacks.FAB(module, norm="Linf", eps=eps, steps=cfg.fab_steps, n_restarts=1, seed=seed,
                                    multi_targeted=False, n_classes=self.num_labels)
        return torchattacks.MultiAttack([
            torchattacks.APGD(module, norm="Linf", eps=eps, steps=cfg.apgd_steps, n_restarts=1, seed=seed, loss="ce"),
            torchattacks.APGDT(module, norm="Linf", eps=eps, steps=cfg.apgd_steps, n_restarts=1, seed=seed,
                               n_classes=self.num_labels),
            torchattacks.FAB(module, norm="Linf", eps=eps, steps=cfg.fab_steps, n_restarts=1, seed=seed,
                             multi_targeted=True, n_classes=self.num_labels),
            torchattacks.Square(module, norm="Linf", eps=eps, n_queries=cfg.square_queries, n_restarts=1,
                                seed=seed, loss="margin"),
        ])

    def run(self, name: str, model, inputs, labels, *, desc: str = "attack",
            offset: int = 0) -> list[ImageAttackResult]:
        """Attack every correctly classified image of ``inputs`` [N, C, H, W] on ``model`` (served).

        ``offset`` is the position of ``inputs[0]`` in the whole set, a multiple of ``batch_size``: a
        shard of whole batches gets the seeds, hence the outcomes, those batches get unsharded.
        """
        name = self.canonical(name)
        if offset % self.config.batch_size:
            raise ValueError(f"offset {offset} is not a multiple of the attack batch size {self.config.batch_size}")
        images = _as_images(inputs)
        labels = _as_labels(labels, len(images), self.num_labels)
        counting = _Counting(torch_module_of(model))
        attack = self.build(name, counting)
        results: list[ImageAttackResult] = []
        n_batches = math.ceil(len(images) / self.config.batch_size)
        for batch in tqdm(range(n_batches), desc=desc, disable=not self.progress, unit="batch", leave=False):
            lo = batch * self.config.batch_size
            results.extend(self._run_batch(attack, counting, images[lo:lo + self.config.batch_size],
                                           labels[lo:lo + self.config.batch_size],
                                           self.config.seed + offset // self.config.batch_size + batch))
        return results

    def _run_batch(self, attack, counting, x, y, seed) -> list[ImageAttackResult]:
        x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
        with torch.no_grad():
            clean = _eval_logits(counting, x_t).argmax(dim=1)
        correct = (clean == y_t).numpy()
        adversarial = x.copy()
        recheck_failed = np.zeros(len(x), dtype=bool)
        counting.images = 0
        idx = np.flatnonzero(correct)
        if len(idx):
            torch.manual_seed(seed)
            out = attack(x_t[idx], y_t[idx]).detach().float().numpy()
            bad = _outside(out, x[idx], self.config.epsilon)
            recheck_failed[idx[bad]] = True
            out[bad] = x[idx][bad]
            adversarial[idx] = out
        queries = counting.images / max(len(idx), 1)
        with torch.no_grad():
            adv_pred = _eval_logits(counting, torch.from_numpy(adversarial)).argmax(dim=1).numpy()
        linf = np.abs(adversarial - x).reshape(len(x), -1).max(axis=1)
        results = []
        for i in range(len(x)):
            if not correct[i]:
                outcome, skip = Outcome.SKIPPED, SKIP_MISCLASSIFIED
            else:
                outcome, skip = (Outcome.SUCCEEDED if adv_pred[i] != y[i] else Outcome.FAILED), None
            results.append(ImageAttackResult(adversarial=adversarial[i], label=int(y[i]),
                                             original_prediction=int(clean[i]),
                                             adversarial_prediction=int(adv_pred[i]), linf=float(linf[i]),
                                             queries=float(queries) if correct[i] else 0.0, outcome=outcome,
                                             skip_reason=skip, recheck_failed=bool(recheck_failed[i])))
        return results

    def adversarial_inputs(self, results) -> np.ndarray:
        return np.stack([r.adversarial for r in results]) if results else np.zeros((0,), dtype=np.float32)

    def queries(self, results) -> list[float]:
        return [r.queries for r in results]

    def record(self, result: ImageAttackResult) -> dict:
        return result.to_dict()

    def recheck_failures(self, results) -> int:
        """Adversarial images that left the ε-ball or [0, 1] (replaced by their originals)."""
        return sum(r.recheck_failed for r in results)

    def hyperparameters(self, name: str) -> dict:
        """The configuration of the attack that runs under ``name`` (recorded with every result)."""
        import torchattacks

        name, cfg = self.canonical(name), self.config
        common = {"library": f"torchattacks {torchattacks.__version__}", "norm": "Linf", "epsilon": cfg.epsilon,
                  "seed": cfg.seed, "batch_size": cfg.batch_size}
        if name == "pgd":
            return common | {"attack": "PGD", "loss": "ce", "steps": cfg.pgd_steps, "step_size": cfg.step_size,
                             "random_start": True}
        if name in ("apgd-ce", "apgd-dlr"):
            return common | {"attack": "APGD", "loss": name.split("-")[1], "steps": cfg.apgd_steps, "restarts": 1}
        if name == "square":
            return common | {"attack": "Square", "loss": "margin", "queries": cfg.square_queries, "restarts": 1,
                             "p_init": 0.8}
        if name == "fab":
            return common | {"attack": "FAB", "steps": cfg.fab_steps, "restarts": 1, "targeted": False}
        return common | {"attack": "AutoAttack (standard)", "version": "standard",
                         "parts": ["apgd-ce", "apgd-t", "fab-t", "square"], "apgd_steps": cfg.apgd_steps,
                         "fab_steps": cfg.fab_steps, "square_queries": cfg.square_queries,
                         "target_classes": self.num_labels - 1}

    def input_gradient_norms(self, model, inputs, labels) -> np.ndarray:
        """‖∇ₓ CE(served logits, y)‖₂ per image, float64 [N] (the gradient diagnostic); exactly 0 only
        when every entry of the float32 gradient is."""
        module = torch_module_of(model)
        images = _as_images(inputs)
        labels = _as_labels(labels, len(images), self.num_labels)
        norms = np.zeros(len(images), dtype=np.float64)
        was_training = module.training
        module.eval()
        try:
            for lo in range(0, len(images), self.config.batch_size):
                x = torch.from_numpy(images[lo:lo + self.config.batch_size]).requires_grad_(True)
                y = torch.from_numpy(labels[lo:lo + self.config.batch_size])
                loss = F.cross_entropy(module(x).float(), y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, x)
                norms[lo:lo + len(x)] = gradient_norms(grad)
        finally:
            module.train(was_training)
        return norms


def _eval_logits(module, x):
    was_training = module.training
    module.eval()
    try:
        return module(x).float()
    finally:
        module.train(was_training)


def _outside(adversarial, original, epsilon) -> np.ndarray:
    """Per image: does it leave the ε-ball around ``original`` or [0, 1]? (bool [N])"""
    n = len(adversarial)
    if n == 0:
        return np.zeros(0, dtype=bool)
    diff = np.abs(adversarial - original).reshape(n, -1).max(axis=1)
    flat = adversarial.reshape(n, -1)
    return ((diff > epsilon + RECHECK_TOLERANCE) | (flat.min(axis=1) < -RECHECK_TOLERANCE)
            | (flat.max(axis=1) > 1 + RECHECK_TOLERANCE) | ~np.isfinite(flat).all(axis=1))


def _as_images(inputs) -> np.ndarray:
    images = inputs.detach().cpu().numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs)
    if images.ndim != 4:
        raise ValueError(f"images must have shape [N, C, H, W], got {tuple(images.shape)}")
    images = np.array(images, dtype=np.float32)  # a writable copy: torch refuses to share read-only memory
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"pixel values must lie in [0, 1], got [{images.min():g}, {images.max():g}]")
    return images


def _as_labels(labels, n: int, num_labels: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape [{n}], got {tuple(labels.shape)}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_labels):
        raise ValueError(f"labels out of range: must be in [0, {num_labels - 1}], got [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64)
