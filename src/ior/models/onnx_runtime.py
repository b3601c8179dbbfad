"""``--runtime onnx``: the victim's forward passes in ONNX Runtime, re-scoring on the torch model.

An attack queries the victim thousands of times per example; ONNX Runtime runs a small Transformer
classifier faster than torch eager on one CPU thread. The illusion lives in float32 saturation, so
the fast runtime only *searches*: every outcome the audit counts (clean metrics, the ``cal`` fit,
re-scoring of each adversarial example) is computed by the reference torch model
(:meth:`OnnxTextClassifier.logits_reference`), and an example on which the two runtimes disagree is
counted as the torch model decides and reported.

The model is exported once (``torch.onnx.export``, opset 17, dynamic batch and sequence axes) and
cached beside its weights as ``.ior-onnx/model-<sha256 of the weights>.onnx`` (or in the ``ior``
cache when the model folder is read-only); a changed model gets a new file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from ior.models.victim import TextClassifier

logger = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx")
OPSET = 17


def _require_onnx():
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime
    except ImportError as exc:
        raise RuntimeError("--runtime onnx needs onnxruntime and onnx: pip install 'ior[onnx]' "
                           "(onnxruntime==1.31.1)") from exc
    return onnxruntime


def cached_onnx_path(folder, weights_sha256: str) -> Path:
    """Where the export of the weights hashed ``weights_sha256`` lives: beside them if the folder is
    writable, else in the ``ior`` cache."""
    name = f"model-{weights_sha256}.onnx"
    beside = Path(folder) / ".ior-onnx"
    if (beside / name).is_file() or os.access(folder, os.W_OK):
        return beside / name
    from ior.data.cache import cache_dir

    return Path(cache_dir()) / "onnx" / name


class _Logits(torch.nn.Module):
    """The classifier's forward with positional tensor inputs named ``names`` (what the exporter traces)."""

    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, list(names)

    def forward(self, *tensors):
        return self.model(**dict(zip(self.names, tensors))).logits.float()


def export_onnx(classifier: TextClassifier, path) -> Path:
    """Export ``classifier``'s network to ``path`` (atomic: a half-written file is never left)."""
    _require_onnx()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sample = classifier.tokenizer(["an example sentence", "another"], padding=True, truncation=True,
                                  max_length=classifier.max_length, return_tensors="pt")
    names = list(sample.keys())
    module = _Logits(classifier.model.eval(), names)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(module, tuple(sample[n] for n in names), tmp, input_names=names,
                              output_names=["logits"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names},
                                            "logits": {0: "batch"}})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class OnnxTextClassifier(TextClassifier):
    """A :class:`TextClassifier` whose ``logits`` run in ONNX Runtime, with the torch model kept for
    ``logits_reference``.

    Parameters
    ----------
    reference : TextClassifier
        The torch classifier (its network, tokenizer, length and batch size are shared).
    onnx_path : path
        The exported network.
    threads : int
        ONNX Runtime intra-op threads (torch's thread count by default).
    """

    runtime = "onnx"

    def __init__(self, reference: TextClassifier, onnx_path, *, threads: int | None = None):
        ort = _require_onnx()
        super().__init__(reference.model, reference.tokenizer, max_length=reference.max_length,
                         batch_size=reference.batch_size, label_names=reference.label_names, name=reference.name,
                         weights_hash=reference.weights_hash, cache=reference._cache is not None)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        self.onnx_path = Path(onnx_path)
        self.session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self.session.get_inputs()]

    def _forward(self, encoding) -> np.ndarray:
        feed = {name: encoding[name].numpy().astype(np.int64) for name in self._inputs}
        return np.asarray(self.session.run(["logits"], feed)[0], dtype=np.float32)

    def logits_reference(self, texts) -> np.ndarray:
        """Raw logits from the torch model (uncached): what every counted outcome is decided by."""
        return self._batched(texts, TextClassifier._forward.__get__(self))


def load_text_classifier(path, *, max_length=None, batch_size=64, runtime="torch", threads=None):
    """``TextClassifier.from_pretrained``, served by ``runtime`` (``onnx``: exported on first use)."""
    check_runtime(runtime)
    reference = TextClassifier.from_pretrained(path, max_length=max_length, batch_size=batch_size)
    return with_runtime(reference, path, runtime, threads=threads)


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
    return runtime


def with_runtime(reference: TextClassifier, folder, runtime: str, *, threads=None) -> TextClassifier:
    """``reference`` itself for ``torch``; for ``onnx`` an :class:`OnnxTextClassifier` around it, the
    export of the model folder ``folder`` made on first use."""
    if check_runtime(runtime) == "torch":
        return reference
    if reference.weights_hash is None:
        raise ValueError(f"--runtime onnx needs a local model folder (safetensors), got {str(folder)!r}")
    onnx_path = cached_onnx_path(Path(folder), reference.weights_hash)
    if not onnx_path.is_file():
        logger.info("exporting %s to %s", folder, onnx_path)
        export_onnx(reference, onnx_path)
    return OnnxTextClassifier(reference, onnx_path, threads=threads)
