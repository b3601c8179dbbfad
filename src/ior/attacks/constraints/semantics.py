"""Semantic constraints: word-embedding closeness of a swap, sentence-encoder similarity.

Both follow TextAttack 0.3.11 (``WordEmbeddingDistance``; ``SentenceEncoder`` with its window,
metrics and ``skip_text_shorter_than_window``). TextAttack reads the swapped word position from
``attack_attrs["newly_modified_indices"]``; our texts carry no such attribute, so the positions
are found by comparing the candidate with its reference word by word (see
:func:`swapped_indices`). This is exact for word swaps:

* against the *current* text (``compare_against_original=False``) the one differing position is
  the newly modified one;
* against the *original*, the differing positions are the new one plus earlier swaps; earlier
  ones were already accepted by the same test (their words have not changed since), so testing
  them again changes no verdict for per-word tests such as :class:`WordEmbeddingDistance`. For
  the windowed sentence test the new position matters: when a text exposes
  ``newly_modified_indices`` we use it, and otherwise we need exactly one differing position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ior.attacks.constraints.overlap import Constraint
from ior.attacks.text import AttackedText

__all__ = [
    "SENTENCE_METRICS",
    "SentenceEncoderSimilarity",
    "WordEmbeddingDistance",
    "angular_similarity",
    "swapped_indices",
    "text_window_around_index",
]

SENTENCE_METRICS = ("cosine", "angular", "max_euclidean")


def swapped_indices(candidate: AttackedText, reference: AttackedText) -> list[int]:
    """Word positions a word swap changed: ``candidate.newly_modified_indices`` when the text
    carries it, else the positions where the two texts' words differ.

    Raises
    ------
    ValueError
        The texts have different numbers of words (not a word swap).
    """
    newly = getattr(candidate, "newly_modified_indices", None)
    if newly is not None:
        return sorted(int(i) for i in newly)
    if candidate.num_words != reference.num_words:
        raise ValueError(
            "semantic constraints compare word swaps: candidate has "
            f"{candidate.num_words} words, reference has {reference.num_words}"
        )
    return candidate.changed_positions(reference)


def text_window_around_index(text: AttackedText, index: int, window_size: float) -> str:
    """The substring of ``text`` spanning ``window_size`` words around word ``index``
    (TextAttack's ``AttackedText.text_window_around_index``, including its quirks: the window is
    shifted, not shrunk, at either end, and an even size gives ``window_size + 1`` words in the
    middle of a text). Punctuation between the words is kept.

    Examples
    --------
    >>> text_window_around_index(AttackedText("a b, c d e"), 2, 3)
    'b, c d'
    """
    length = text.num_words
    if length == 0:
        return ""
    half = (window_size - 1) / 2.0
    if index - half < 0:
        start, end = 0, int(min(window_size - 1, length - 1))
    elif index + half >= length:
        start, end = int(max(0, length - window_size)), length - 1
    else:
        start, end = index - math.ceil(half), index + math.floor(half)
    spans = text.word_spans
    return text.text[spans[start][0] : spans[end][1]]


def angular_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``1 - arccos(cos(a, b)) / pi`` row-wise, cosine clamped to [-1, 1]."""
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1).clamp(-1.0, 1.0)
    return 1.0 - torch.acos(cos) / math.pi


class WordEmbeddingDistance(Constraint):
    """Reject a swap whose old and new words are far apart in a word embedding.

    Parameters
    ----------
    embedding : WordEmbedding
        Anything with ``word2index(word)`` (``KeyError`` if unknown), ``cos_sim(a, b)`` and
        ``mse_dist(a, b)``, e.g. :class:`ior.resources.embeddings.WordEmbedding`.
    min_cos_sim : float, optional
        Minimum cosine similarity (TextFooler: 0.5). Give exactly one of this and
        ``max_mse_dist``.
    max_mse_dist : float, optional
        Maximum squared Euclidean distance.
    cased : bool
        False (TextAttack's default): words are lower-cased before lookup.
    include_unknown_words : bool
        True (TextAttack's default): a swap involving a word without a vector passes.
    compare_against_original : bool
        True (TextAttack's default).

    Examples
    --------
    >>> from ior.resources.embeddings import WordEmbedding
    >>> emb = WordEmbedding(["good", "fine", "bad"], [[1.0, 0.1], [0.9, 0.2], [-1.0, 0.0]])
    >>> c = WordEmbeddingDistance(emb, min_cos_sim=0.5)
    >>> t = AttackedText("a good film")
    >>> c.check(t.replace_word_at_index(1, "fine"), t), c.check(t.replace_word_at_index(1, "bad"), t)
    (True, False)
    """

    def __init__(
        self,
        embedding,
        *,
        min_cos_sim: float | None = None,
        max_mse_dist: float | None = None,
        cased: bool = False,
        include_unknown_words: bool = True,
        compare_against_original: bool = True,
    ):
        for method in ("word2index", "cos_sim", "mse_dist"):
            if not callable(getattr(embedding, method, None)):
                raise TypeError(
                    f"embedding must have a {method}() method (e.g. ior.resources.WordEmbedding), "
                    f"got {type(embedding).__name__}"
                )
        # TextAttack tests truthiness, so 0.0 counts as "not given"; we test for None.
        if (min_cos_sim is None) == (max_mse_dist is None):
            raise ValueError(
                "give exactly one of min_cos_sim and max_mse_dist, "
                f"got min_cos_sim={min_cos_sim!r}, max_mse_dist={max_mse_dist!r}"
            )
        for name, value in (("min_cos_sim", min_cos_sim), ("max_mse_dist", max_mse_dist)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise TypeError(f"{name} must be a float, got {type(value).__name__}")
        self.embedding = embedding
        self.min_cos_sim = None if min_cos_sim is None else float(min_cos_sim)
        self.max_mse_dist = None if max_mse_dist is None else float(max_mse_dist)
        self.cased = bool(cased)
        self.include_unknown_words = bool(include_unknown_words)
        self.compare_against_original = bool(compare_against_original)

    def config(self) -> dict:
        metric = (
            {"min_cos_sim": self.min_cos_sim}
            if self.min_cos_sim is not None
            else {"max_mse_dist": self.max_mse_dist}
        )
        embedding = getattr(self.embedding, "config", None)
        return {
            **super().config(),
            **metric,
            "cased": self.cased,
            "include_unknown_words": self.include_unknown_words,
            "embedding": embedding() if callable(embedding) else type(self.embedding).__name__,
        }

    def check(self, candidate, reference):
        for i in swapped_indices(candidate, reference):
            if i >= reference.num_words or i >= candidate.num_words:
                return False  # TextAttack rejects out-of-range indices the same way
            old, new = reference.words[i], candidate.words[i]
            if not self.cased:
                old, new = old.lower(), new.lower()
            try:
                a, b = self.embedding.word2index(old), self.embedding.word2index(new)
            except KeyError:
                if self.include_unknown_words:
                    continue
                return False
            if self.min_cos_sim is not None and self.embedding.cos_sim(a, b) < self.min_cos_sim:
                return False
            if self.max_mse_dist is not None and self.embedding.mse_dist(a, b) > self.max_mse_dist:
                return False
        return True


class SentenceEncoderSimilarity(Constraint):
    """Reject a swap that moves a sentence encoder's embedding of the text (or of a window of
    words around the swap) too far from the reference's.

    TextAttack's ``SentenceEncoder`` / ``UniversalSentenceEncoder`` with a pluggable encoder.

    Parameters
    ----------
    encoder : object
        ``encode(list of str) -> float array [N, D]``, e.g.
        :class:`ior.resources.sentence_encoder.MeanPoolingEncoder`.
    threshold : float
        Minimum similarity (for ``"max_euclidean"``: maximum squared distance).
    metric : {"cosine", "angular", "max_euclidean"}
        ``"angular"`` is ``1 - arccos(cos)/pi``; ``"max_euclidean"`` accepts when the squared
        Euclidean distance is at most ``threshold``.
    compare_against_original : bool
        TextFooler: False (compare with the text the swap was made in); BAE: True.
    window_size : int, optional
        Encode only ``window_size`` words around the swapped word (both texts, same position).
        ``None`` encodes whole texts.
    skip_text_shorter_than_window : bool
        Accept, without encoding, every candidate with fewer than ``window_size`` words.

    Notes
    -----
    Departures from TextAttack: a threshold is validated; ``skip_text_shorter_than_window``
    without a window is refused (TextAttack then treats the window as infinite and accepts
    every candidate unseen). The similarity is computed in float32 with torch, as TextAttack
    does. The last similarity computed for a text is kept in ``last_scores`` (by text), as
    TextAttack stores ``attack_attrs["similarity_score"]``.
    """

    def __init__(
        self,
        encoder,
        *,
        threshold: float = 0.8,
        metric: str = "cosine",
        compare_against_original: bool = True,
        window_size: int | None = None,
        skip_text_shorter_than_window: bool = False,
    ):
        if not callable(getattr(encoder, "encode", None)):
            raise TypeError(
                f"encoder must have an encode(texts) method, got {type(encoder).__name__}"
            )
        if metric not in SENTENCE_METRICS:
            raise ValueError(f"metric must be one of {SENTENCE_METRICS}, got {metric!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError(f"threshold must be a float, got {type(threshold).__name__}")
        if not math.isfinite(threshold):
            raise ValueError(f"threshold must be finite, got {threshold}")
        if window_size is not None:
            if isinstance(window_size, bool) or not isinstance(window_size, int):
                raise TypeError(f"window_size must be an int or None, got {type(window_size).__name__}")
            if window_size < 1:
                raise ValueError(f"window_size must be >= 1, got {window_size}")
        if skip_text_shorter_than_window and window_size is None:
            raise ValueError("skip_text_shorter_than_window=True needs a window_size")
        self.encoder = encoder
        self.threshold = float(threshold)
        self.metric = metric
        self.compare_against_original = bool(compare_against_original)
        self.window_size = window_size
        self.skip_text_shorter_than_window = bool(skip_text_shorter_than_window)
        self.last_scores: dict[str, float] = {}

    def config(self) -> dict:
        encoder = getattr(self.encoder, "config", None)
        return {
            **super().config(),
            "threshold": self.threshold,
            "metric": self.metric,
            "window_size": self.window_size,
            "skip_text_shorter_than_window": self.skip_text_shorter_than_window,
            "encoder": encoder() if callable(encoder) else type(self.encoder).__name__,
        }

    def _skipped(self, candidate: AttackedText) -> bool:
        return self.skip_text_shorter_than_window and candidate.num_words < self.window_size

    def _pair(self, candidate: AttackedText, reference: AttackedText) -> tuple[str, str]:
        if self.window_size is None:
            return reference.text, candidate.text
        indices = swapped_indices(candidate, reference)
        if len(indices) != 1:
            raise ValueError(
                "a windowed sentence-encoder check needs the one newly swapped position; "
                f"candidate differs from its reference at {indices}. Compare against the "
                "current text, or give texts a newly_modified_indices attribute"
            )
        (i,) = indices
        return (
            text_window_around_index(reference, i, self.window_size),
            text_window_around_index(candidate, i, self.window_size),
        )

    def similarities(
        self, candidates: Sequence[AttackedText], reference: AttackedText
    ) -> np.ndarray:
        """Similarity of each candidate to ``reference`` (1.0 for skipped short texts),
        float32 [N]; for ``"max_euclidean"`` the negated squared distance."""
        scores = np.ones(len(candidates), dtype=np.float32)
        todo = [k for k, c in enumerate(candidates) if not self._skipped(c)]
        if todo:
            pairs = [self._pair(candidates[k], reference) for k in todo]
            embeddings = self.encoder.encode([p[0] for p in pairs] + [p[1] for p in pairs])
            emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
            ref, cand = emb[: len(todo)], emb[len(todo) :]
            if self.metric == "cosine":
                sims = torch.nn.functional.cosine_similarity(ref, cand, dim=1)
            elif self.metric == "angular":
                sims = angular_similarity(ref, cand)
            else:
                sims = -((ref - cand) ** 2).sum(dim=1)
            scores[todo] = sims.numpy()
        if len(self.last_scores) > 1 << 16:  # before storing: the search reads this batch's scores next
            self.last_scores.clear()
        for c, s in zip(candidates, scores):
            self.last_scores[c.text] = float(s)
        return scores

    def check_many(
        self, candidates: Sequence[AttackedText], reference: AttackedText
    ) -> list[bool]:
        """:meth:`check` for many candidates with one batched encoder call."""
        scores = self.similarities(list(candidates), reference)
        bound = -self.threshold if self.metric == "max_euclidean" else self.threshold
        return [bool(s >= bound) for s in scores]

    def check(self, candidate, reference):
        return self.check_many([candidate], reference)[0]
