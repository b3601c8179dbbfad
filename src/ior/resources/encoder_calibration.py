"""Carry a sentence-encoder threshold tuned for USE over to another encoder.

TextFooler's sentence constraint keeps a swap when the Universal Sentence Encoder (USE v4, the
deep averaging network TextAttack loads) gives the 15-word windows around it an angular
similarity of at least 0.840845057 (cosine >= cos(0.5) = 0.8776). A different encoder spreads
similarities differently, so reusing the number would make the constraint stricter or looser
than the paper's. The target is *the same share of candidate swaps rejected*.

What we can and cannot match. USE cannot be run here, so its rejection rate on our candidates
is unknown; we estimate it with a stand-in for USE-DAN's first stage, the average of the
window's word vectors (DAN averages word and bigram embeddings, then applies trained
feed-forward layers we do not have). A raw GloVe average is a poor stand-in: it calls almost
any two windows similar (83% of *unrelated* RT windows pass 0.8408), which no trained encoder
does. Centring the averages (subtracting their mean over a sample of windows,
:meth:`MeanWordVectorEncoder.fit_center`) removes the shared component; then unrelated windows
sit near angular 0.5 (orthogonal), as with trained sentence encoders, and none passes 0.8408.
The procedure:

1. build calibration pairs exactly as TextFooler meets them: windows around swaps proposed by
   the embedding swap (50 neighbours) that pass the stopword, word-embedding (cos >= 0.5) and
   part-of-speech constraints, in texts of at least 15 words (:func:`calibration_pairs`);
2. measure the centred stand-in's rejection rate at USE's threshold;
3. choose the target encoder's threshold as the quantile of its own similarities at that rate
   (:func:`match_rejection_rate`, :func:`calibrate_threshold`).

The README section "TextFooler and its substitutes" records the run behind
:data:`MINILM_TEXTFOOLER_THRESHOLD`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ior.attacks.constraints.grammaticality import PartOfSpeech
from ior.attacks.constraints.semantics import (
    WordEmbeddingDistance,
    angular_similarity,
    text_window_around_index,
)
from ior.attacks.text import AttackedText, words_from_text
from ior.attacks.transformations.embedding import WordSwapEmbedding

__all__ = [
    "MeanWordVectorEncoder",
    "MINILM_TEXTFOOLER_THRESHOLD",
    "USE_TEXTFOOLER_THRESHOLD",
    "calibrate_threshold",
    "calibration_pairs",
    "match_rejection_rate",
    "pair_similarities",
]

#: TextAttack's TextFooler threshold for USE (angular; 1 - 0.5/pi).
USE_TEXTFOOLER_THRESHOLD = 0.840845057
#: The angular threshold for mean-pooled all-MiniLM-L6-v2 derived with this module on Rotten
#: Tomatoes validation and the default counter-fitted vectors (7,170 pairs; the centred stand-in
#: rejects 2.2% at USE's threshold, and 0.7321 rejects the same 2.2% under MiniLM; MiniLM at
#: 0.8408 would reject 28.0%).
MINILM_TEXTFOOLER_THRESHOLD = 0.7321


class MeanWordVectorEncoder:
    """Encode a text as the mean of its (lower-cased) words' vectors, minus ``center_`` once
    :meth:`fit_center` has run. Unknown words are skipped; a text without known words encodes
    as zeros (before centring)."""

    def __init__(self, embedding):
        self.embedding = embedding
        self.center_: np.ndarray | None = None

    def config(self) -> dict:
        return {"name": type(self).__name__, "centred": self.center_ is not None}

    def _mean(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.embedding.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = [self.embedding.word2index(w.lower()) for w in words_from_text(text)
                   if w.lower() in self.embedding]
            if ids:
                out[row] = self.embedding.vectors[ids].mean(axis=0)
        return out

    def fit_center(self, texts: Sequence[str]) -> MeanWordVectorEncoder:
        """Store the mean encoding of ``texts`` as ``center_`` and return self."""
        if not len(texts):
            raise ValueError("fit_center needs at least one text")
        self.center_ = self._mean(texts).mean(axis=0)
        return self

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = self._mean(texts)
        return out if self.center_ is None else out - self.center_


def calibration_pairs(
    texts: Sequence[str],
    embedding,
    tagger,
    stopwords: frozenset[str],
    *,
    window_size: int = 15,
    max_candidates: int = 50,
    min_cos_sim: float = 0.5,
    max_pairs_per_text: int = 20,
    seed: int = 0,
) -> list[tuple[str, str]]:
    """(reference window, candidate window) pairs for single swaps that pass TextFooler's
    other constraints, from texts with at least ``window_size`` words; at most
    ``max_pairs_per_text`` pairs per text, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    swap = WordSwapEmbedding(embedding, max_candidates=max_candidates)
    constraints = [WordEmbeddingDistance(embedding, min_cos_sim=min_cos_sim), PartOfSpeech(tagger)]
    pairs = []
    for text in texts:
        original = AttackedText(text)
        if original.num_words < window_size:
            continue
        indices = [i for i, w in enumerate(original.words) if w not in stopwords]
        candidates = swap(original, indices, rng)
        kept = [c for c in candidates if all(k.check(c, original) for k in constraints)]
        if len(kept) > max_pairs_per_text:
            kept = [kept[j] for j in sorted(rng.choice(len(kept), max_pairs_per_text, replace=False))]
        for c in kept:
            (i,) = c.changed_positions(original)
            pairs.append((text_window_around_index(original, i, window_size),
                          text_window_around_index(c, i, window_size)))
    return pairs


def pair_similarities(encoder, pairs: Sequence[tuple[str, str]], metric: str = "angular") -> np.ndarray:
    """Similarity of each pair under ``encoder`` (``"cosine"`` or ``"angular"``), float32 [N]."""
    if metric not in ("cosine", "angular"):
        raise ValueError(f"metric must be 'cosine' or 'angular', got {metric!r}")
    if not pairs:
        return np.zeros(0, dtype=np.float32)
    emb = torch.as_tensor(np.asarray(encoder.encode([a for a, _ in pairs] + [b for _, b in pairs]),
                                     dtype=np.float32))
    a, b = emb[: len(pairs)], emb[len(pairs) :]
    sims = (angular_similarity(a, b) if metric == "angular"
            else torch.nn.functional.cosine_similarity(a, b, dim=1))
    return sims.numpy()


def match_rejection_rate(
    reference: np.ndarray, reference_threshold: float, target: np.ndarray
) -> dict[str, float]:
    """Threshold for ``target`` similarities that rejects the same share of pairs as
    ``reference_threshold`` rejects of ``reference`` (pairs align, but only the shares are used).

    Returns ``rejection_rate`` (reference's share below its threshold), ``threshold`` (the
    target's quantile at that share; just below its minimum when nothing is rejected) and
    ``target_rejection_rate`` (the share actually below the returned threshold).

    Examples
    --------
    >>> r = match_rejection_rate(np.array([0.1, 0.5, 0.9, 0.95]), 0.6, np.array([0.2, 0.4, 0.6, 0.8]))
    >>> r["rejection_rate"], r["target_rejection_rate"]
    (0.5, 0.5)
    """
    reference = np.asarray(reference, dtype=np.float64)
    target = np.sort(np.asarray(target, dtype=np.float64))
    if reference.size == 0 or target.size == 0:
        raise ValueError("reference and target must hold at least one similarity each")
    rate = float(np.mean(reference < reference_threshold))
    n_reject = int(round(rate * target.size))
    if n_reject == 0:
        threshold = float(np.nextafter(target[0], -np.inf))
    else:
        # Reject exactly the n_reject lowest: the threshold is the (n_reject+1)-th value.
        threshold = float(target[min(n_reject, target.size - 1)]) if n_reject < target.size \
            else float(np.nextafter(target[-1], np.inf))
    return {
        "rejection_rate": rate,
        "threshold": threshold,
        "target_rejection_rate": float(np.mean(target < threshold)),
    }


def calibrate_threshold(
    pairs: Sequence[tuple[str, str]],
    encoder,
    reference_encoder,
    *,
    reference_threshold: float = USE_TEXTFOOLER_THRESHOLD,
    metric: str = "angular",
) -> dict[str, float]:
    """Run steps 2-3 of the module's procedure on ``pairs``; also report how many pairs the
    reference threshold would reject if applied to ``encoder`` unchanged."""
    reference = pair_similarities(reference_encoder, pairs, metric)
    target = pair_similarities(encoder, pairs, metric)
    matched = match_rejection_rate(reference, reference_threshold, target)
    quantiles = (0.01, 0.05, 0.5)
    return {
        "pairs": len(pairs),
        **matched,
        "nominal_threshold_rejection_rate": float(np.mean(target < reference_threshold)),
        **{f"reference_q{int(q * 100):02d}": float(np.quantile(reference, q)) for q in quantiles},
        **{f"target_q{int(q * 100):02d}": float(np.quantile(target, q)) for q in quantiles},
    }
