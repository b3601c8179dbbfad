"""Greedy word swap with word importance ranking (TextAttack 0.3.11's ``GreedyWordSwapWIR``).

1. Rank the modifiable words by importance:

   * ``"unk"``: the score of the text with the word replaced by ``unk_token`` ("[UNK]");
   * ``"delete"``: the score of the text with the word deleted;
   * ``"weighted-saliency"`` (PWWS): ``softmax(unk scores)_i * max_c score(c)`` where ``c``
     ranges over the constrained candidates for word ``i`` (0 when it has none). Like
     TextAttack, the second factor is the best candidate's *score* ``1 - p(true)``, not the
     paper's drop in probability.

   Words are visited in decreasing importance.
2. For each word, score every candidate changing it in the current text. The best candidate
   (highest score; among equal scores the first in text order) replaces the current text only
   if its score is *strictly* greater. Stop as soon as the current text succeeds; if several
   candidates succeed at that step, keep the one the sentence-encoder constraint found most
   similar (TextFooler, BAE), as TextAttack does, else the best-scoring one.

When the victim is so confident that float32 probabilities do not move, every candidate ties
with the current score and nothing is ever kept: the attack fails although adversarial
examples exist. That is the illusion of robustness, reproduced on purpose.

Departure: TextAttack orders words with ``numpy.argsort(-scores)`` (quicksort, not stable)
over indices that come out of a Python ``set``, so equally important words are visited in an
order that depends on array length and hash-table layout. We visit them in ascending word
index (a stable sort over ascending indices).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ior.attacks.goal_functions.untargeted import GoalResult
from ior.attacks.search.base import SearchContext, SearchMethod

WIR_METHODS = ("unk", "weighted-saliency", "delete")


class GreedyWordSwapWIR(SearchMethod):
    """Greedy search over words ranked by importance.

    Parameters
    ----------
    wir_method : {"unk", "weighted-saliency", "delete"}
    unk_token : str
        Replacement used to measure a word's importance.
    """

    def __init__(self, wir_method: str = "unk", *, unk_token: str = "[UNK]"):
        if wir_method not in WIR_METHODS:
            raise ValueError(f"wir_method must be one of {WIR_METHODS}, got {wir_method!r}")
        if not isinstance(unk_token, str):
            raise TypeError(f"unk_token must be a str, got {type(unk_token).__name__}")
        self.wir_method = wir_method
        self.unk_token = unk_token

    def config(self) -> dict:
        return {
            "name": type(self).__name__,
            "wir_method": self.wir_method,
            "unk_token": self.unk_token,
            "tie_order": "ascending word index",
            "accept": "strictly greater score",
        }

    def rank_words(
        self, initial: GoalResult, context: SearchContext
    ) -> tuple[np.ndarray, bool]:
        """Word indices in decreasing importance, and whether the query budget ran out."""
        text = initial.text
        indices = context.indices_to_order(text)
        if not indices:
            return np.array([], dtype=int), False
        if self.wir_method == "delete":
            probes = [text.delete_word_at_index(i) for i in indices]
        else:
            probes = [text.replace_word_at_index(i, self.unk_token) for i in indices]
        results, over = context.get_results(probes)
        if len(results) < len(indices):
            return np.array([], dtype=int), True
        scores = np.array([r.score for r in results], dtype=np.float32)
        if self.wir_method == "weighted-saliency":
            saliency = torch.softmax(torch.from_numpy(scores), dim=0).numpy()
            best_swap = np.zeros(len(indices), dtype=np.float64)
            for k, i in enumerate(indices):
                if over:
                    break
                candidates = context.get_transformations(text, text, [i])
                if not candidates:
                    continue
                swap_results, over = context.get_results(candidates)
                if swap_results:
                    best_swap[k] = max(float(r.score) for r in swap_results)
            importance = saliency.astype(np.float64) * best_swap
        else:
            importance = scores.astype(np.float64)
        order = np.argsort(-importance, kind="stable")
        return np.asarray(indices)[order], over

    def __call__(self, initial: GoalResult, context: SearchContext) -> GoalResult:
        order, over = self.rank_words(initial, context)
        current = initial
        for i in order:
            if over:
                break
            candidates = context.get_transformations(current.text, initial.text, [int(i)])
            if not candidates:
                continue
            results, over = context.get_results(candidates)
            if not results:
                break
            ranked = sorted(results, key=lambda r: -r.score)  # stable: first of equal scores wins
            if ranked[0].score > current.score:
                current = ranked[0]
                if current.succeeded:
                    return self._most_similar_success(ranked, context)
        return current

    @staticmethod
    def _most_similar_success(ranked: list[GoalResult], context: SearchContext) -> GoalResult:
        """Among the succeeding candidates (the head of ``ranked``), the one most similar to its
        reference by the sentence-encoder constraint, first of equals; ``ranked[0]`` when the
        candidates carry no similarity (no such constraint), as TextAttack's greedy search does."""
        similarity = getattr(context, "similarity", None)
        best, best_similarity = ranked[0], -math.inf
        for result in ranked:
            if not result.succeeded:
                break
            score = similarity(result.text) if similarity is not None else None
            if score is None:
                break
            if score > best_similarity:
                best, best_similarity = result, score
        return best
