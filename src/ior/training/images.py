"""Train an image classifier, optionally at a training temperature, with the text trainer's pieces.

The loop reads top to bottom: shuffle, (augment), the training method's loss and backward pass,
optional gradient normalisation or clipping, optimiser step. The methods are the ones text uses
(:mod:`ior.training.adversarial`, :mod:`ior.training.ddi`, :mod:`ior.training.trades`) with their
perturbation space set to pixels in an L∞ ball; the gradient normalisation that produces the
implicit illusion (:mod:`ior.training.gradients`) and the training temperature inside every loss
are the same code. The finished model is written through a staging folder renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ior.training.adversarial import PGD, PixelLinf, TrainingMethod
from ior.training.config import PresetConfig
from ior.training.gradients import clip_gradients_, normalize_gradients_

logger = logging.getLogger(__name__)

#: ``ior train --method`` for images: Madry et al.'s L∞ PGD-AT, TRADES and DDi-AT in pixel space.
IMAGE_METHODS = ("standard", "pgd", "trades", "ddi")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")
#: A CNN on Fashion-MNIST/MNIST in minutes on one core; the CIFAR standard (train it on a GPU).
IMAGE_PRESETS = {
    "cpu": dict(arch="cnn", optimizer="adam", learning_rate=1e-3, weight_decay=0.0, schedule="constant",
                epochs=5, batch_size=128, augment=False),
    "cifar": dict(arch="preact-resnet18", optimizer="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-4,
                  schedule="cosine", epochs=100, batch_size=128, augment=True),
}
METHOD_FIELDS = {"standard": (), "pgd": ("adv_steps", "adv_step_size", "epsilon"),
                 "trades": ("adv_steps", "adv_step_size", "epsilon", "trades_beta"),
                 "ddi": ("adv_step_size", "epsilon", "ddi_samples", "ddi_steps", "ddi_normalization", "ddi_clip_norm")}
_AT_FIELDS = frozenset(name for names in METHOD_FIELDS.values() for name in names)


@dataclass(frozen=True)
class ImageTrainConfig(PresetConfig):
    """Everything that determines a trained image classifier.

    ``temperature`` is the training temperature (cross-entropy of ``logits / T``; never applied at
    inference); ``grad_norm`` rescales the whole gradient to unit L2 norm before every step (the
    ``*`` variants), ``grad_clip`` only above a threshold. ``epsilon`` None takes the dataset's
    default (0.1 for MNIST-like data, 8/255 otherwise); ``adv_step_size`` None takes 2.5 ε / steps.
    ``augment`` adds random crops (4-pixel padding) and horizontal flips (CIFAR practice). ``width``
    sets the CNN's channels (None: the architecture's default, 32).
    """

    dataset: str = "fashion-mnist"
    arch: str = "cnn"
    width: int | None = None
    preset: str = "cpu"
    method: str = "standard"
    temperature: float = 1.0
    grad_norm: bool = False
    grad_clip: float | None = None
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    augment: bool = False
    epsilon: float | None = None
    adv_steps: int = 10
    adv_step_size: float | None = None
    trades_beta: float = 6.0
    ddi_samples: int = 3
    ddi_steps: int = 3
    ddi_normalization: str = "normalize"
    ddi_clip_norm: float = 1.0
    seed: int = 0
    max_train_examples: int | None = None

    PRESETS = IMAGE_PRESETS  # what PresetConfig.from_preset reads (a class attribute, not a field)

    def __post_init__(self):
        from ior.models.image import ARCHITECTURES

        if self.preset not in IMAGE_PRESETS and self.preset != "custom":
            raise ValueError(f"preset must be one of {sorted(IMAGE_PRESETS)} or 'custom', got {self.preset!r}")
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {self.arch!r}")
        if self.width is not None:
            if self.arch != "cnn":
                raise ValueError(f"width applies to arch 'cnn' only, got arch {self.arch!r}")
            if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
                raise ValueError(f"width must be an int >= 1, got {self.width!r}")
        for name, allowed in (("method", IMAGE_METHODS), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                              ("ddi_normalization", ("normalize", "clip", "none"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        for name in ("learning_rate", "temperature", "ddi_clip_norm"):
            _positive(name, getattr(self, name))
        for name in ("epsilon", "adv_step_size", "grad_clip"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if self.epsilon is not None and self.epsilon > 1:
            raise ValueError(f"epsilon must be <= 1 (pixels are in [0, 1]), got {self.epsilon!r}")
        for name in ("epochs", "batch_size", "adv_steps", "ddi_samples", "ddi_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("weight_decay", "trades_beta", "momentum"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if self.grad_norm and self.grad_clip is not None:
            raise ValueError("grad_norm and grad_clip are exclusive: choose one")
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise ValueError(f"max_train_examples must be >= 1, got {self.max_train_examples!r}")

    def fingerprint(self) -> str:
        """Stable hash of what determines the model (other methods' settings left out)."""
        used = set(METHOD_FIELDS[self.method])
        data = {k: v for k, v in self.to_dict().items() if k not in _AT_FIELDS or k in used}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]



def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


def image_training_method(config: ImageTrainConfig, epsilon: float, *, hook=None) -> TrainingMethod:
    """The per-batch loss of ``config.method`` in pixel space (L∞ ball of radius ``epsilon``)."""
    steps = config.ddi_steps if config.method == "ddi" else config.adv_steps
    step_size = config.adv_step_size if config.adv_step_size is not None else 2.5 * epsilon / steps
    space = PixelLinf(epsilon=epsilon, step_size=step_size)
    t = config.temperature
    if config.method == "pgd":
        return PGD(steps=config.adv_steps, space=space, temperature=t, hook=hook)
    if config.method == "trades":
        from ior.training.trades import TRADES

        return TRADES(beta=config.trades_beta, steps=config.adv_steps, space=space, temperature=t, hook=hook)
    if config.method == "ddi":
        from ior.training.ddi import DDi

        return DDi(samples=config.ddi_samples, steps=config.ddi_steps, normalization=config.ddi_normalization,
                   clip_norm=config.ddi_clip_norm, space=space, temperature=t, hook=hook)
    return TrainingMethod(temperature=t, space=space)


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random 4-pixel-padded crops and horizontal flips, per image."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect")
    dy = torch.randint(0, 9, (n,), generator=generator)
    dx = torch.randint(0, 9, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    out[flip] = out[flip].flip(-1)
    return out


def _accuracy(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    if not len(images):
        return float("nan")
    was_training = model.training
    model.eval()
    correct = 0
    with torch.inference_mode():
        for lo in range(0, len(images), batch_size):
            out = model(torch.from_numpy(np.array(images[lo:lo + batch_size], dtype=np.float32)))
            correct += int((out.argmax(1).numpy() == labels[lo:lo + batch_size]).sum())
    model.train(was_training)
    return correct / len(images)


def train_image(config: ImageTrainConfig, train_data, out_dir, *, eval_data=None, test_data=None, progress=True,
                hook=None, resume_dir=None) -> dict:
    """Train ``config.arch`` on ``train_data`` (an :class:`ior.data.images.ImageDataset`); save to ``out_dir``.

    Returns the metrics written to ``metrics.json`` (per-epoch loss, training and validation
    accuracy, mean training confidence, elapsed seconds; ``test_accuracy`` of the finished model on
    ``test_data`` when given, never used for any choice). ``resume_dir`` keeps the state at each
    epoch's end and continues a stopped run from it (:mod:`ior.training.resume`).
    """
    from ior.training.resume import EpochCheckpoint

    from ior.attacks.image import default_epsilon
    from ior.models.image import build_image_model

    out_dir = Path(out_dir)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    images, labels = train_data.images, np.asarray(train_data.labels, dtype=np.int64)
    if config.max_train_examples is not None and config.max_train_examples < len(images):
        keep = np.sort(rng.permutation(len(images))[: config.max_train_examples])
        images, labels = images[keep], labels[keep]
    if not len(images):
        raise ValueError("the training set is empty")
    channels, size = int(images.shape[1]), int(images.shape[2])
    epsilon = config.epsilon if config.epsilon is not None else default_epsilon(train_data.name, images.shape[1:])
    mean = images.mean(axis=(0, 2, 3)).tolist()
    std = np.maximum(images.std(axis=(0, 2, 3)), 1e-3).tolist()
    arch_kwargs = {"num_classes": len(train_data.label_names), "in_channels": channels, "image_size": size,
                   "mean": mean, "std": std, **({"width": config.width} if config.width is not None else {})}
    model = build_image_model(config.arch, **arch_kwargs)
    method = image_training_method(config, epsilon, hook=hook)
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum,
                                    weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    else:
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(images) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, (lambda s: 0.5 * (1 + math.cos(math.pi * s / total_steps))) if config.schedule == "cosine"
        else (lambda s: 1.0))

    history, step, started, before = [], 0, time.time(), 0.0
    grad_norm = None
    checkpoint = None
    if resume_dir is not None:
        checkpoint = EpochCheckpoint(resume_dir, {"config": config.fingerprint(), "data": train_data.fingerprint(),
                                                  "n_train": int(len(images))})
        state = checkpoint.restore(model, optimizer, schedule, rng=rng, generator=generator)
        if state is not None:
            history, step, before, grad_norm = state["history"], state["step"], state["elapsed_seconds"], state["grad_norm"]
            logger.warning("resuming after epoch %d of %d from %s", state["epoch"], config.epochs, resume_dir)
    bar = tqdm(total=total_steps, initial=step, desc="train", disable=not progress, unit="step")
    for epoch in range(len(history), config.epochs):
        model.train()
        order = rng.permutation(len(images))
        seen = correct = 0
        loss_sum = confidence_sum = 0.0
        for start in range(0, len(order), config.batch_size):
            idx = np.sort(order[start:start + config.batch_size])
            x = torch.from_numpy(np.ascontiguousarray(images[idx]))
            if config.augment:
                x = _augment(x, generator)
            target = torch.from_numpy(labels[idx])
            optimizer.zero_grad(set_to_none=True)
            # The training temperature lives only inside the method's losses: inference stays at T = 1.
            result = method.backward(model, {"pixels": x}, target)
            if config.grad_norm:
                grad_norm = normalize_gradients_(params)
            elif config.grad_clip is not None:
                grad_norm = clip_gradients_(params, config.grad_clip)
            optimizer.step()
            schedule.step()
            step += 1
            if not np.isfinite(result.loss):
                raise RuntimeError(f"training diverged: loss is {result.loss} at step {step}")
            seen += len(idx)
            correct += int((result.logits.argmax(dim=1) == target).sum())
            confidence_sum += float(torch.softmax(result.logits.float(), dim=1).max(dim=1).values.sum())
            loss_sum += result.loss * len(idx)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
            bar.update(1)
        record = {"epoch": epoch + 1, "step": step, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                  "train_mean_confidence": confidence_sum / seen, "last_grad_norm": grad_norm}
        if eval_data is not None and len(eval_data):
            record["eval_accuracy"] = _accuracy(model, eval_data.images, np.asarray(eval_data.labels))
        logger.info("epoch %d: %s", epoch + 1, record)
        history.append(record)
        if checkpoint is not None and epoch + 1 < config.epochs:
            checkpoint.save(epoch + 1, model, optimizer, schedule, rng=rng, generator=generator, step=step,
                            history=history, elapsed_seconds=before + time.time() - started, grad_norm=grad_norm)
    bar.close()
    model.eval()
    metrics = {"history": history, "final": history[-1], "n_train": int(len(images)),
               "n_eval": len(eval_data) if eval_data is not None else 0, "epsilon": epsilon,
               "method": method.config(), "elapsed_seconds": before + time.time() - started}
    if test_data is not None and len(test_data):
        metrics["test_accuracy"] = _accuracy(model, test_data.images, np.asarray(test_data.labels))
        metrics["n_test"] = len(test_data)
    _save(model, config, arch_kwargs, train_data, metrics, out_dir)
    if checkpoint is not None:
        checkpoint.remove()
    return metrics


def _save(model, config, arch_kwargs, train_data, metrics, out_dir: Path) -> None:
    from ior.models.image_classifier import save_image_classifier
    from ior.training.trainer import finish_run, run_provenance, staging_folder

    staging = staging_folder(out_dir)
    save_image_classifier(model, staging, arch=config.arch, arch_kwargs=arch_kwargs,
                          label_names=list(train_data.label_names), extra_config=run_provenance(config, train_data))
    finish_run(staging, out_dir, metrics)
