"""Training configuration: one validated dataclass, saved with every checkpoint."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace

# Appendix D of the paper, and a preset that fine-tunes MiniLM on rt in minutes on two CPU cores.
PRESETS = {
    "paper": dict(learning_rate=1e-5, batch_size=8, epochs=5, weight_decay=0.01, max_length=128),
    "cpu": dict(learning_rate=5e-5, batch_size=32, epochs=2, weight_decay=0.01, max_length=64),
}

#: Training methods of ``ior train --method`` (see ``ior.training.adversarial``, ``ascc``, ``ddi``,
#: ``augmentation``).
METHODS = ("standard", "pgd", "freelb", "ascc", "ddi", "dg-aug")
DDI_NORMALIZATIONS = ("normalize", "clip", "none")

_EMBEDDING_AT = ("adv_steps", "adv_lr", "adv_init_mag", "adv_max_norm")
#: The hyper-parameters each method reads. The others are recorded in ``to_dict`` but left out of
#: the fingerprint, so two configs that train the same model share it.
METHOD_FIELDS = {
    "standard": (),
    "pgd": _EMBEDDING_AT,
    "freelb": _EMBEDDING_AT,
    "ascc": ("adv_steps", "ascc_alpha", "ascc_beta", "ascc_synonyms", "ascc_max_synonyms"),
    "ddi": ("adv_lr", "adv_init_mag", "adv_max_norm", "ddi_samples", "ddi_steps", "ddi_normalization",
            "ddi_clip_norm"),
    "dg-aug": ("augment_from",),
}
_AT_FIELDS = frozenset(name for names in METHOD_FIELDS.values() for name in names)


class PresetConfig:
    """Construction shared by the training configs: a preset plus overrides, a dict, a copy."""

    PRESETS: dict = {}

    @classmethod
    def from_preset(cls, preset: str, **overrides):
        """A config from a named preset, with explicit keyword overrides (None = keep)."""
        if preset not in cls.PRESETS:
            raise ValueError(f"preset must be one of {sorted(cls.PRESETS)}, got {preset!r}")
        values = dict(cls.PRESETS[preset], preset=preset)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training config field(s): {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_updates(self, **changes):
        return replace(self, **changes)


@dataclass(frozen=True)
class TrainConfig(PresetConfig):
    """Everything that determines a fine-tuned classifier.

    ``temperature`` is the *training* temperature: the loss is the cross-entropy of
    ``logits / temperature``. It is recorded, never applied at inference. ``grad_norm`` rescales the
    whole gradient to unit L2 norm before every step (the paper's ``*`` variants, which produce the
    implicit illusion of robustness); ``grad_clip`` only rescales when the norm exceeds the value.

    ``method`` picks the per-batch loss: ``standard`` (cross-entropy), adversarial training in
    token-embedding space (``pgd``, ``freelb``, ``ascc``, ``ddi``) or ``dg-aug`` (DeepWordBug examples
    of the standard model in ``augment_from`` added to the training set). Their defaults are the
    paper's (Li et al. 2021b's settings): ``adv_steps`` = 5 ascent steps of size ``adv_lr`` = 0.03
    from a random start of magnitude ``adv_init_mag`` = 0.05, projected on the per-example L2 ball of
    radius ``adv_max_norm`` = 1; ASCC with ``ascc_alpha`` = 10 (sparsity), ``ascc_beta`` = 40 (KL
    weight) over at most ``ascc_max_synonyms`` synonyms per word from ``ascc_synonyms`` ("wordnet" or
    a word-vector text file such as counter-fitted vectors); DDi-AT with ``ddi_samples`` = 3 PGD
    starts of ``ddi_steps`` = 3 steps and its update ``ddi_normalization`` ("normalize", as in
    Latorre et al. 2023; "clip" at ``ddi_clip_norm``; or "none"). The training temperature divides
    the logits in every loss, adversarial ones included; ``grad_norm``/``grad_clip`` apply after
    any method.

    ``stop_train_loss`` ends training after the first epoch whose mean training loss is at or below
    it, ``stop_train_accuracy`` after the first whose training accuracy (on the batches as the method
    trains on them) is at or above it; ``epochs`` is then the cap: "train until it fits", recorded in
    the run's metrics as ``stopped``. The accuracy rule suits high training temperatures, whose loss
    (of logits / T) stays near log C however well the model fits. None (default) trains exactly
    ``epochs``.
    """

    model: str
    dataset: str = "rt"
    preset: str = "cpu"
    learning_rate: float = 5e-5
    batch_size: int = 32
    epochs: int = 2
    weight_decay: float = 0.01
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    max_length: int = 64
    temperature: float = 1.0
    grad_norm: bool = False
    grad_clip: float | None = None
    seed: int = 0
    max_train_examples: int | None = None
    method: str = "standard"
    adv_steps: int = 5
    adv_lr: float = 0.03
    adv_init_mag: float = 0.05
    adv_max_norm: float = 1.0
    ascc_alpha: float = 10.0
    ascc_beta: float = 40.0
    ascc_synonyms: str = "wordnet"
    ascc_max_synonyms: int = 8
    ddi_samples: int = 3
    ddi_steps: int = 3
    ddi_normalization: str = "normalize"
    ddi_clip_norm: float = 1.0
    augment_from: str | None = None
    stop_train_loss: float | None = None
    stop_train_accuracy: float | None = None

    PRESETS = PRESETS  # what PresetConfig.from_preset reads (a class attribute, not a field)

    def __post_init__(self):
        if self.preset not in PRESETS and self.preset != "custom":
            raise ValueError(f"preset must be one of {sorted(PRESETS)} or 'custom', got {self.preset!r}")
        _positive(self, "learning_rate")
        _positive(self, "temperature")
        for name in ("batch_size", "epochs", "max_length"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.stop_train_loss is not None and not (isinstance(self.stop_train_loss, (int, float))
                                                     and math.isfinite(self.stop_train_loss)
                                                     and self.stop_train_loss > 0):
            raise ValueError(f"stop_train_loss must be a finite number > 0 or None, got {self.stop_train_loss!r}")
        if self.stop_train_accuracy is not None and not (isinstance(self.stop_train_accuracy, (int, float))
                                                         and 0 < self.stop_train_accuracy <= 1):
            raise ValueError(f"stop_train_accuracy must lie in (0, 1] or be None, got {self.stop_train_accuracy!r}")
        if self.grad_clip is not None:
            _positive(self, "grad_clip")
        if self.grad_norm and self.grad_clip is not None:
            raise ValueError("grad_norm and grad_clip are exclusive: choose one")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise ValueError(f"max_train_examples must be >= 1, got {self.max_train_examples!r}")
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))
        self._check_method()

    def _check_method(self):
        for name in ("augment_from", "ascc_synonyms"):  # paths are recorded as strings
            if isinstance(getattr(self, name), os.PathLike):
                object.__setattr__(self, name, os.fspath(getattr(self, name)))
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        for name in ("adv_steps", "ascc_max_synonyms", "ddi_samples", "ddi_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("adv_lr", "adv_max_norm", "ddi_clip_norm"):
            _positive(self, name)
        for name in ("adv_init_mag", "ascc_alpha", "ascc_beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if self.ddi_normalization not in DDI_NORMALIZATIONS:
            raise ValueError(f"ddi_normalization must be one of {list(DDI_NORMALIZATIONS)}, "
                             f"got {self.ddi_normalization!r}")
        if not isinstance(self.ascc_synonyms, str) or not self.ascc_synonyms.strip():
            raise ValueError(f"ascc_synonyms must be 'wordnet' or a word-vector file, got {self.ascc_synonyms!r}")
        if self.method == "dg-aug":
            if not isinstance(self.augment_from, str) or not self.augment_from.strip():
                raise ValueError("augment_from (the standard model to attack) is required with method 'dg-aug', "
                                 f"got {self.augment_from!r}")
        elif self.augment_from is not None:
            raise ValueError(f"augment_from only applies to method 'dg-aug', got method {self.method!r}")

    def fingerprint(self) -> str:
        """Stable hash of the configuration: two equal configs train the same model.

        Hyper-parameters of methods other than ``self.method`` are left out, and so is
        ``method="standard"`` itself, which keeps the fingerprints of runs made before training
        methods existed.
        """
        used = set(METHOD_FIELDS[self.method])
        data = {k: v for k, v in self.to_dict().items() if k not in _AT_FIELDS or k in used}
        if self.method == "standard":
            del data["method"]
        for rule in ("stop_train_loss", "stop_train_accuracy"):
            if data[rule] is None:  # absent from runs made before the stopping rules
                del data[rule]
        payload = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]



def _positive(config, name):
    value = getattr(config, name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
