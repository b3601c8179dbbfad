"""The masked language model BAE fills its masks with: loading one, and measuring it.

BAE (Garg & Ramakrishnan, 2020) masks a word and lets BERT's masked-LM head (bert-base-uncased)
propose replacements. No package on a registry ships a BERT masked-LM head, so:

* :func:`load_masked_lm` loads any Hugging Face masked-LM folder the user has (the paper's
  bert-base-uncased included): ``AutoModelForMaskedLM``, safetensors only, never remote code,
  and never a checkpoint whose MLM head would be randomly initialised;
* :func:`ior.resources.mlm_build.build_mlm` (``ior resources build-mlm``) trains an MLM head for
  the all-MiniLM-L6-v2 encoder, whose checkpoint has none, and saves an ordinary HF masked-LM
  folder under ``<cache>/resources/mlm-minilm/`` with a manifest.

Held-out accuracy (:func:`fill_mask_accuracy`) masks whole words exactly as the BAE
transformation does (``replace_word_at_index(i, "[MASK]")``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ior.data.cache import cache_dir, read_manifest
from ior.data.stopwords import ENGLISH_STOPWORDS

__all__ = ["MaskedLM", "default_mlm_dir", "fill_mask_accuracy", "load_masked_lm", "mask_logits"]

logger = logging.getLogger(__name__)

RESOURCE = "mlm-minilm"


def default_mlm_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """Where ``ior resources build-mlm`` writes by default: ``<cache>/resources/mlm-minilm``."""
    return cache_dir(cache) / "resources" / RESOURCE


def require_default_mlm(cache: str | os.PathLike[str] | None = None) -> Path:
    """The folder ``build-mlm`` wrote; ``RuntimeError`` saying how to make it when it has not run."""
    path = default_mlm_dir(cache)
    if not (path / "config.json").is_file():
        raise RuntimeError(f"no masked LM in {str(path)!r}; run `ior resources build-mlm` "
                           "or pass the path of a masked-LM folder (e.g. bert-base-uncased)")
    return path


@dataclass(frozen=True, eq=False)
class MaskedLM:
    """A masked language model and its tokenizer, with provenance.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        An ``*ForMaskedLM`` model in eval mode.
    tokenizer : transformers tokenizer
        Must define ``mask_token``.
    name : str
        Path or hub name it was loaded from.
    weights_sha256 : str or None
        sha256 over the safetensors files of a local folder.
    manifest : dict or None
        The folder's ``manifest.json`` when ``ior resources build-mlm`` wrote it.
    """

    model: Any
    tokenizer: Any
    name: str = "masked-lm"
    weights_sha256: str | None = None
    manifest: dict | None = None

    def __post_init__(self):
        if getattr(self.tokenizer, "mask_token", None) is None:
            raise ValueError(f"the tokenizer of masked LM {self.name!r} has no mask_token")
        if not callable(self.model):
            raise TypeError(f"model must be a callable torch module, got {type(self.model).__name__}")

    def config(self) -> dict:
        info = {"name": self.name, "model_class": type(self.model).__name__,
                "weights_sha256": self.weights_sha256}
        if self.manifest:
            info["fill_mask_accuracy"] = self.manifest.get("fill_mask_accuracy")
        return info


def load_masked_lm(path: str | os.PathLike[str] | None = None, *,
                   cache: str | os.PathLike[str] | None = None) -> MaskedLM:
    """Load a masked-LM folder (safetensors only); by default the one ``build-mlm`` wrote.

    Raises
    ------
    RuntimeError
        No path given and the default MLM has not been built.
    ValueError
        Not a safetensors masked-LM folder, or its MLM head is missing.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from ior.models.victim import _check_local_folder, weights_sha256

    if path is None:
        path = require_default_mlm(cache)
    local = Path(os.fspath(path)).expanduser()
    if local.exists() or str(path).startswith((".", "/", "~")):
        _check_local_folder(local)
        path = local
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            str(path), use_safetensors=True, trust_remote_code=False, output_loading_info=True)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} is not a masked language model: {exc}") from exc
    prefix = model.base_model_prefix + "."
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(prefix))
    if missing:
        # A randomly initialised head proposes random words: refuse it.
        raise ValueError(f"{str(path)!r} has no trained masked-LM head (missing {missing[0]}); "
                         "build one with `ior resources build-mlm --encoder PATH`")
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    model.eval()
    manifest = read_manifest(local) if local.is_dir() else None
    return MaskedLM(model, tokenizer, name=str(path), weights_sha256=weights_sha256(local),
                    manifest=manifest)


def mask_logits(model, inputs: dict, positions):
    """MLM logits ``[N, V]`` at ``positions[n]`` of row ``n`` of ``inputs``.

    For BERT-style models the vocabulary projection runs only at those positions (projecting
    every position is most of a forward pass's cost); otherwise the full logits are gathered.
    """
    import torch

    rows = torch.arange(positions.shape[0], device=positions.device)
    head = getattr(model, "cls", None)
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if head is not None and base is not None:
        return head(base(**inputs).last_hidden_state[rows, positions])
    return model(**inputs).logits[rows, positions]


def _single_token_id(tokenizer, word: str) -> int | None:
    pieces = tokenizer.tokenize(word)
    if len(pieces) != 1 or pieces[0] == tokenizer.unk_token:
        return None
    return int(tokenizer.convert_tokens_to_ids(pieces[0]))


def fill_mask_accuracy(mlm: MaskedLM, sentences, *, masks_per_sentence: int = 2, seed: int = 0,
                       batch_size: int = 64, max_length: int = 128) -> dict:
    """Held-out fill-mask accuracy when whole words are masked as BAE masks them.

    In each sentence up to ``masks_per_sentence`` words are drawn (seeded) among the alphabetic
    words that are one vocabulary token; each is replaced by the mask token, one at a time, with
    :meth:`AttackedText.replace_word_at_index`. A hit is the word's token among the top-k logits
    at the mask position.

    Returns
    -------
    dict
        ``n``, ``top1``, ``top5`` over all masked words, and the same for ``content`` words
        (non-stopwords: those BAE may replace) and ``stopword``s.
    """
    import torch

    from ior.attacks.text import AttackedText

    tokenizer, model = mlm.tokenizer, mlm.model
    rng = np.random.default_rng(seed)
    items = []  # (masked text, gold token id, is a stopword)
    for sentence in sentences:
        text = AttackedText(sentence)
        eligible = [(i, gid) for i, w in enumerate(text.words)
                    if w.isalpha() and (gid := _single_token_id(tokenizer, w)) is not None]
        if eligible:
            take = rng.choice(len(eligible), size=min(masks_per_sentence, len(eligible)), replace=False)
            for i, gid in (eligible[k] for k in sorted(take.tolist())):
                items.append((text.replace_word_at_index(i, tokenizer.mask_token).text, gid,
                              text.words[i] in ENGLISH_STOPWORDS))
    hits = np.zeros((len(items), 2), dtype=bool)
    was_training = getattr(model, "training", False)
    model.eval()
    order = sorted(range(len(items)), key=lambda j: len(items[j][0]))
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                enc = tokenizer([items[j][0] for j in idx], padding=True, truncation=True,
                                max_length=max_length, return_tensors="pt")
                is_mask = enc["input_ids"] == tokenizer.mask_token_id
                top5 = mask_logits(model, dict(enc), is_mask.int().argmax(dim=1)).topk(5, dim=-1).indices
                gold = torch.tensor([items[j][1] for j in idx]).unsqueeze(1)
                found = is_mask.any(dim=1)  # a mask cut off by truncation is a miss
                hits[idx, 0] = ((top5[:, :1] == gold).any(1) & found).numpy()
                hits[idx, 1] = ((top5 == gold).any(1) & found).numpy()
    finally:
        model.train(was_training)
    stop = np.array([s for _, _, s in items], dtype=bool)

    def summary(mask):
        n = int(mask.sum())
        return {"n": n, "top1": float(hits[mask, 0].mean()) if n else float("nan"),
                "top5": float(hits[mask, 1].mean()) if n else float("nan")}

    return {**summary(np.ones(len(items), dtype=bool)), "content": summary(~stop),
            "stopword": summary(stop), "masks_per_sentence": masks_per_sentence, "seed": seed}
