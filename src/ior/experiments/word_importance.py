"""The masked-gradient diagnostic of the paper's Table 20: does a model's ↑conf twin rank words alike?

The word-importance ranking is the attack engine's own first iteration
(:meth:`ior.attacks.search.greedy_wir.GreedyWordSwapWIR.rank_words`: PWWS's weighted saliency,
TextFooler's deletion scores, DeepWordBug's ``[UNK]`` scores). An over-confident twin's float32
probabilities barely move, its importance scores tie, and its ranking decorrelates from the
original model's. The Spearman correlation of the two rankings of each example measures that.
"""

from __future__ import annotations

import numpy as np

from ior.attacks.search.greedy_wir import GreedyWordSwapWIR
from ior.attacks.text import AttackedText


def first_iteration_ranking(suite, attack: str, model, texts, labels) -> list[dict]:
    """Word indices in decreasing importance, for every correctly classified non-empty example.

    Returns
    -------
    list of dict
        ``{"index", "order", "num_words", "budget_exhausted"}`` per ranked example (misclassified and
        empty texts are not ranked: the attack skips them too).
    """
    built = suite.build(attack, model)
    if not isinstance(built.search, GreedyWordSwapWIR):
        raise ValueError(f"attack {attack!r} does not rank words (its search is {type(built.search).__name__})")
    out = []
    for i, (text, label) in enumerate(zip(texts, labels)):
        if not text.strip():
            continue
        initial = built.goal_function.init_example(AttackedText(text), int(label))
        if initial.succeeded:
            continue
        order, over = built.search.rank_words(initial, built.search_context(i))
        out.append({"index": i, "order": [int(k) for k in order], "num_words": int(initial.text.num_words),
                    "budget_exhausted": bool(over)})
    return out


def ranking_correlation(order_a, order_b) -> float | None:
    """Spearman's ρ between two rankings of the same words (each a list of word indices, most
    important first). None when fewer than two words are ranked or the word sets differ."""
    order_a, order_b = list(order_a), list(order_b)
    if len(order_a) < 2 or sorted(order_a) != sorted(order_b):
        return None
    position_b = {word: rank for rank, word in enumerate(order_b)}
    ranks_a = np.arange(len(order_a), dtype=np.float64)
    ranks_b = np.array([position_b[word] for word in order_a], dtype=np.float64)
    # Rankings are permutations (no ties), so Spearman's ρ is 1 − 6 Σd² / (n(n² − 1)).
    n = len(order_a)
    return float(1.0 - 6.0 * np.sum((ranks_a - ranks_b) ** 2) / (n * (n * n - 1)))
