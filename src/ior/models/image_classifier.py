"""The image victim: any ``torch.nn.Module`` on [0, 1] pixels behind ``logits(images)``.

:class:`ImageClassifier` has the interface of the text victim
(:class:`ior.models.victim.TextClassifier`): ``num_labels``, ``label_names``, ``name``,
``weights_hash``, ``forward_count``, ``logits(images) -> float32 [N, C]``, ``logits_uncached`` and
``describe()``, so temperature serving, calibration and the audit work on images unchanged.

A saved image model is a folder with ``model.safetensors`` (the state dict, normalisation buffers
included) and ``ior_config.json`` (``modality: "image"``, the architecture and its arguments, the
label names and the input shape). Weights are only ever read from safetensors, never unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ior.data.cache import atomic_write_text
from ior.models.image import build_image_model
from ior.models.victim import weights_sha256

logger = logging.getLogger(__name__)

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "ImageClassifier", "is_image_model", "load_user_module",
           "save_image_classifier"]

CONFIG_FILE = "ior_config.json"
WEIGHTS_FILE = "model.safetensors"
_REQUIRED_ARCH_KWARGS = ("num_classes", "in_channels", "image_size")


def _check_input_shape(input_shape) -> tuple[int, int, int] | None:
    if input_shape is None:
        return None
    if not isinstance(input_shape, Sequence) or isinstance(input_shape, str):
        raise TypeError(f"input_shape must be a sequence (C, H, W), got {type(input_shape).__name__}")
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1
                                  for d in shape):
        raise ValueError(f"input_shape must be three positive ints (C, H, W), got {input_shape!r}")
    return tuple(int(d) for d in shape)


def _module_device(module: torch.nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


class ImageClassifier:
    """An image classifier returning float32 logits, always evaluated in eval mode.

    Parameters
    ----------
    module : torch.nn.Module
        Maps float32 pixels in [0, 1], shape [N, C, H, W], to logits [N, num_labels]. Input
        normalisation belongs inside the module (see :func:`ior.models.image.build_image_model`).
    num_labels : int, optional
        Number of classes. Defaults to ``len(label_names)``, else is inferred from one forward pass
        of a zero image of ``input_shape`` (not counted in ``forward_count``).
    label_names : sequence of str, optional
        Defaults to ``"0", "1", ...``.
    batch_size : int
        Images per forward pass.
    name : str, optional
        Shown in reports; defaults to the module's class name.
    weights_hash : str, optional
        sha256 of the weights, recorded in reports.
    input_shape : sequence of int, optional
        ``(C, H, W)``; when given, every batch is checked against it.

    Notes
    -----
    There is no logits cache (unlike the text victim): images are continuous and an attack rarely
    queries the same one twice. ``logits_uncached`` is ``logits``, kept so that code re-scoring
    adversarial examples independently of the attack works for both modalities. ``forward_count``
    counts images run through the network. Inference runs under ``torch.inference_mode()`` with
    every submodule in eval mode; each submodule's previous mode is restored afterwards.

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> clf = ImageClassifier(net, input_shape=(1, 2, 2))
    >>> clf.num_labels, clf.logits(np.zeros((5, 1, 2, 2), dtype=np.float32)).shape
    (3, (5, 3))
    """

    def __init__(self, module, *, num_labels=None, label_names=None, batch_size=256, name=None,
                 weights_hash=None, input_shape=None):
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.module = module
        self.batch_size = int(batch_size)
        self.input_shape = _check_input_shape(input_shape)
        self.name = name or type(module).__name__
        self.weights_hash = weights_hash
        self.forward_count = 0
        self.config: dict | None = None
        if label_names is not None:
            label_names = tuple(str(n) for n in label_names)
            if num_labels is None:
                num_labels = len(label_names)
        if num_labels is None:
            if self.input_shape is None:
                raise ValueError("num_labels is required when neither label_names nor input_shape is given")
            num_labels = self._run(torch.zeros((1, *self.input_shape))).shape[1]
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)):
            raise TypeError(f"num_labels must be an int, got {type(num_labels).__name__}")
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels!r}")
        self.num_labels = int(num_labels)
        if label_names is None:
            label_names = tuple(str(i) for i in range(self.num_labels))
        if len(label_names) != self.num_labels:
            raise ValueError(f"label_names has {len(label_names)} names but num_labels is {self.num_labels}")
        self.label_names = label_names

    @classmethod
    def from_pretrained(cls, folder, *, batch_size=256) -> ImageClassifier:
        """Load a folder written by :func:`save_image_classifier` (safetensors only).

        Raises
        ------
        ValueError
            If the folder is missing, has no ``ior_config.json``, is not an image model, has no
            ``model.safetensors``, or its weights do not match the recorded architecture.
        """
        path = Path(folder).expanduser()
        config = _read_image_config(path)
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise ValueError(f"model path {str(path)!r} has no {WEIGHTS_FILE} "
                             "(ior never loads pickled weights)")
        arch_kwargs = config.get("arch_kwargs")
        if not isinstance(arch_kwargs, dict) or any(k not in arch_kwargs for k in _REQUIRED_ARCH_KWARGS):
            raise ValueError(f"{CONFIG_FILE} in {str(path)!r} needs arch_kwargs with "
                             f"{list(_REQUIRED_ARCH_KWARGS)}, got {arch_kwargs!r}")
        module = build_image_model(config.get("arch"), **arch_kwargs)
        _load_safetensors_into(module, weights)
        module.eval()
        clf = cls(module, label_names=config.get("label_names"), batch_size=batch_size, name=str(folder),
                  weights_hash=weights_sha256(path), input_shape=config.get("input_shape"))
        clf.config = config
        return clf

    @property
    def torch_module(self) -> torch.nn.Module:
        """The wrapped ``torch.nn.Module`` (for gradient attacks such as torchattacks)."""
        return self.module

    def describe(self) -> str:
        return str(self.name)

    def logits(self, images) -> np.ndarray:
        """Raw logits, float32 [N, num_labels], one row per image.

        Parameters
        ----------
        images : numpy.ndarray or torch.Tensor
            Floating point pixels in [0, 1], shape [N, C, H, W] (cast to float32).

        Raises
        ------
        TypeError
            If ``images`` is not an array or tensor of floating point values.
        ValueError
            On a wrong shape, pixels outside [0, 1], or non-finite or wrongly shaped logits.
        """
        batch = self._check_images(images)
        out = np.zeros((batch.shape[0], self.num_labels), dtype=np.float32)
        if batch.shape[0] == 0:
            return out
        for start in range(0, batch.shape[0], self.batch_size):
            chunk = batch[start:start + self.batch_size]
            logits = self._run(chunk)
            if logits.shape[1] != self.num_labels:
                raise ValueError(f"model returned {logits.shape[1]} logits per image, "
                                 f"expected num_labels={self.num_labels}")
            out[start:start + chunk.shape[0]] = logits
        self.forward_count += batch.shape[0]
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            raise ValueError(f"model returned non-finite logits (NaN or inf) for {int(bad.sum())} "
                             f"of {batch.shape[0]} images")
        return out

    def logits_uncached(self, images) -> np.ndarray:
        """Same as :meth:`logits` (image victims keep no cache)."""
        return self.logits(images)

    def _run(self, batch: torch.Tensor) -> np.ndarray:
        """One forward pass in eval mode and inference mode; returns float32 [n, C] numpy."""
        modes = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        try:
            with torch.inference_mode():
                result = self.module(batch.to(_module_device(self.module)))
        finally:
            for m, training in modes:  # each submodule's own mode (a frozen BN stays in eval)
                m.training = training
        if not isinstance(result, torch.Tensor):
            raise TypeError(f"module must return a tensor of logits, got {type(result).__name__}")
        if result.ndim != 2 or result.shape[0] != batch.shape[0]:
            raise ValueError(f"module must return logits of shape [{batch.shape[0]}, C], "
                             f"got {tuple(result.shape)}")
        return result.detach().float().cpu().numpy()

    def _check_images(self, images) -> torch.Tensor:
        if isinstance(images, np.ndarray):
            if not np.issubdtype(images.dtype, np.floating):
                raise TypeError(f"images must be floating point in [0, 1], got dtype {images.dtype}")
            images = np.ascontiguousarray(images, dtype=np.float32)
            # Datasets are read-only and torch will not share read-only memory: copy only then.
            batch = torch.from_numpy(images if images.flags.writeable else images.copy())
        elif isinstance(images, torch.Tensor):
            if not images.is_floating_point():
                raise TypeError(f"images must be floating point in [0, 1], got dtype {images.dtype}")
            batch = images.detach().to(dtype=torch.float32)
        else:
            raise TypeError(f"images must be a numpy array or torch tensor, got {type(images).__name__}")
        if batch.ndim != 4:
            raise ValueError(f"images must have shape [N, C, H, W], got {tuple(batch.shape)}")
        if self.input_shape is not None and tuple(batch.shape[1:]) != self.input_shape:
            raise ValueError(f"images have shape {tuple(batch.shape[1:])} "
                             f"but the model takes {self.input_shape}")
        if batch.numel():
            if not torch.isfinite(batch).all():
                raise ValueError("images contain non-finite values (NaN or inf)")
            low, high = float(batch.min()), float(batch.max())
            if low < 0.0 or high > 1.0:
                raise ValueError(f"pixel values must lie in [0, 1], got [{low:g}, {high:g}]")
        return batch


def save_image_classifier(module, folder, *, arch, arch_kwargs, label_names, extra_config=None) -> Path:
    """Write ``model.safetensors`` and ``ior_config.json`` to ``folder``, atomically.

    The files are written to a staging folder next to ``folder`` and renamed into place, so a
    crash never leaves a half-written model. An existing ``folder`` is replaced only when it is
    empty or an ior image model.

    Parameters
    ----------
    module : torch.nn.Module
        A model built by :func:`ior.models.image.build_image_model` with ``arch`` and ``arch_kwargs``
        (checked: its state dict must load into a freshly built one).
    folder : str or Path
    arch : str
        A key of :data:`ior.models.image.ARCHITECTURES`.
    arch_kwargs : mapping
        JSON-serialisable keyword arguments of ``build_image_model``; must contain ``num_classes``,
        ``in_channels`` and ``image_size``.
    label_names : sequence of str
        One per class.
    extra_config : mapping, optional
        More JSON-serialisable keys for ``ior_config.json`` (training config, metrics, dataset).

    Returns
    -------
    pathlib.Path
        The folder.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(arch_kwargs, Mapping):
        raise TypeError(f"arch_kwargs must be a mapping, got {type(arch_kwargs).__name__}")
    missing = [k for k in _REQUIRED_ARCH_KWARGS if k not in arch_kwargs]
    if missing:
        raise ValueError(f"arch_kwargs must contain {list(_REQUIRED_ARCH_KWARGS)}, missing {missing}")
    if isinstance(label_names, str) or not isinstance(label_names, Sequence):
        raise TypeError(f"label_names must be a sequence of str, got {type(label_names).__name__}")
    label_names = [str(n) for n in label_names]
    if len(label_names) != arch_kwargs["num_classes"]:
        raise ValueError(f"label_names has {len(label_names)} names but num_classes is "
                         f"{arch_kwargs['num_classes']!r}")
    if extra_config is not None and not isinstance(extra_config, Mapping):
        raise TypeError(f"extra_config must be a mapping, got {type(extra_config).__name__}")
    with torch.device("meta"):
        reference = build_image_model(arch, **arch_kwargs)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    _check_state_dict(reference, state, f"module does not match arch {arch!r} with {dict(arch_kwargs)}")
    side = arch_kwargs["image_size"]
    config = {"modality": "image", "arch": arch, "arch_kwargs": dict(arch_kwargs),
              "label_names": label_names, "input_shape": [arch_kwargs["in_channels"], side, side]}
    for key, value in (extra_config or {}).items():
        if key in config:
            raise ValueError(f"extra_config must not override {key!r}")
        config[key] = value
    try:
        text = json.dumps(config, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the model config is not JSON-serialisable: {exc}") from exc

    from safetensors.torch import save_file

    target = Path(folder).expanduser()
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or is_image_model(target))):
        raise ValueError(f"folder {str(target)!r} exists and is not an ior image model; "
                         "refusing to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir()
        save_file(state, str(staging / WEIGHTS_FILE))
        atomic_write_text(staging / CONFIG_FILE, text)
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        if target.exists():
            target.rename(old)
        try:
            staging.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)
            raise
        if old.exists():
            shutil.rmtree(old)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    logger.info("saved image model %s (%s)", target, arch)
    return target


def load_user_module(module, state_dict_path):
    """Load a safetensors state dict into ``module`` (strict) and return the module.

    Parameters
    ----------
    module : torch.nn.Module
    state_dict_path : str or Path
        A ``.safetensors`` file, or a folder holding ``model.safetensors``.

    Raises
    ------
    ValueError
        If the file is missing, is not safetensors, or its keys or shapes do not match ``module``.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    path = Path(state_dict_path).expanduser()
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if path.suffix != ".safetensors":
        raise ValueError(f"state_dict_path must be a .safetensors file, got {str(path)!r} "
                         "(ior never loads pickled weights)")
    if not path.is_file():
        raise ValueError(f"state_dict_path {str(path)!r} does not exist")
    _load_safetensors_into(module, path)
    return module


def is_image_model(folder) -> bool:
    """True when ``folder`` holds an ``ior_config.json`` whose modality is ``"image"``."""
    try:
        config = json.loads((Path(folder).expanduser() / CONFIG_FILE).read_text())
    except (OSError, ValueError, TypeError):
        return False
    return isinstance(config, dict) and config.get("modality") == "image"


def _read_image_config(path: Path) -> dict:
    if not path.exists():
        raise ValueError(f"model path {str(path)!r} does not exist")
    if not path.is_dir():
        raise ValueError(f"model path {str(path)!r} is not a directory (expected a model folder)")
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise ValueError(f"model path {str(path)!r} has no {CONFIG_FILE}: not an ior image model")
    try:
        config = json.loads(config_path.read_text())
    except ValueError as exc:
        raise ValueError(f"{CONFIG_FILE} in {str(path)!r} is not valid JSON: {exc}") from exc
    modality = config.get("modality") if isinstance(config, dict) else None
    if modality != "image":
        raise ValueError(f"model path {str(path)!r} is not an image model (modality {modality!r})")
    return config


def _load_safetensors_into(module: torch.nn.Module, path: Path) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"could not read safetensors weights {str(path)!r}: {exc}") from exc
    _check_state_dict(module, state, f"weights {str(path)!r} do not match the model")
    module.load_state_dict(state, strict=True)


def _check_state_dict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise one ValueError line naming missing, unexpected and mis-shaped keys (truncated)."""
    expected = module.state_dict()
    problems = []
    for label, keys in (("missing", [k for k in expected if k not in state]),
                        ("unexpected", [k for k in state if k not in expected]),
                        ("wrong shape", [k for k in expected if k in state
                                         and tuple(state[k].shape) != tuple(expected[k].shape)])):
        if keys:
            shown = ", ".join(keys[:5]) + (f", ... ({len(keys) - 5} more)" if len(keys) > 5 else "")
            problems.append(f"{len(keys)} {label} ({shown})")
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))

