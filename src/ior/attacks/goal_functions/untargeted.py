"""Untargeted classification: the one place in ``ior`` where logits become probabilities.

An attack wants the victim to stop predicting the true class. Two scores are offered:

* ``"probability"`` (TextAttack's): ``1 - p(true class)``, with ``p`` a float32 ``torch.softmax``
  of the logits. When the victim is extremely over- or under-confident these probabilities stop
  moving in float32, every candidate gets the same score and greedy search has no signal: the
  *illusion of robustness* this project studies.
* ``"margin"``: ``max_{c != y} l_c - l_y`` computed from the logits. Dividing logits by a
  temperature scales every margin by the same factor, so their ranking survives any temperature.

Success is always ``argmax(logits) != label``. Departures from TextAttack 0.3.11's
``UntargetedClassification``:

* TextAttack tests success on the *probabilities*; at extreme temperatures float32
  probabilities tie exactly and ``argmax`` then returns the first class. We use the logits.
* TextAttack softmaxes only rows that do not already sum to 1 (±1e-6); we always softmax, since
  victims return logits by contract.
* TextAttack adds the length of every scored list to its query count, cache hits included; by
  default we count distinct texts (a repeated text is not a new query). Pass
  ``count_repeats=True`` for TextAttack's count.
* Non-finite logits raise instead of propagating NaN scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ior.attacks.text import AttackedText
from ior.models.probabilities import softmax_float32

SCORES = ("probability", "margin")


@dataclass(frozen=True, eq=False)
class GoalResult:
    """The victim's verdict on one text.

    Attributes
    ----------
    text : AttackedText
    label : int
        The true class.
    logits : ndarray of float32, shape [C]
    probs : ndarray of float32, shape [C]
        ``torch.softmax(logits)`` in float32.
    score : numpy.float32
        Higher is better for the attacker.
    prediction : int
        ``argmax(logits)`` (first index on exact ties).
    succeeded : bool
        ``prediction != label``.
    """

    text: AttackedText
    label: int
    logits: np.ndarray
    probs: np.ndarray
    score: np.float32
    prediction: int
    succeeded: bool

    @property
    def confidence(self) -> float:
        """Largest class probability."""
        return float(self.probs.max())

    @property
    def true_prob(self) -> float:
        return float(self.probs[self.label])


class UntargetedClassification:
    """Score texts for an untargeted attack on a classifier.

    Parameters
    ----------
    model : object
        Victim with ``num_labels: int`` and ``logits(texts) -> float32 [N, C]``.
    score : {"probability", "margin"}
        See the module docstring.
    query_budget : int, optional
        Maximum number of queries per example (including the first query of the clean text);
        ``None`` means unlimited (TextAttack's default).
    batch_size : int
        Maximum texts per ``model.logits`` call (TextAttack's ``model_batch_size``, 32).
    count_repeats : bool
        Count cache hits as queries, as TextAttack does.

    Notes
    -----
    The object holds per-example state: :meth:`init_example` resets the cache of scored
    texts and the query count.

    Examples
    --------
    >>> from ior.attacks.testing import BagOfWordsVictim
    >>> victim = BagOfWordsVictim({"good": [0.0, 2.0]})
    >>> goal = UntargetedClassification(victim)
    >>> first = goal.init_example(AttackedText("good film"), label=1)
    >>> round(float(first.score), 4), first.succeeded, goal.num_queries
    (0.1192, False, 1)
    """

    def __init__(
        self,
        model,
        *,
        score: str = "probability",
        query_budget: int | None = None,
        batch_size: int = 32,
        count_repeats: bool = False,
    ):
        num_labels = getattr(model, "num_labels", None)
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)):
            raise TypeError(
                f"model.num_labels must be an int, got {type(num_labels).__name__}"
            )
        if num_labels < 2:
            raise ValueError(f"model.num_labels must be >= 2, got {num_labels}")
        if not callable(getattr(model, "logits", None)):
            raise TypeError("model must have a callable logits(texts) method")
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        if query_budget is not None and (
            isinstance(query_budget, bool) or not isinstance(query_budget, int)
        ):
            raise TypeError(
                f"query_budget must be an int or None, got {type(query_budget).__name__}"
            )
        if query_budget is not None and query_budget < 1:
            raise ValueError(f"query_budget must be >= 1, got {query_budget}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.num_labels = int(num_labels)
        self.score = score
        self.query_budget = query_budget
        self.batch_size = batch_size
        self.count_repeats = bool(count_repeats)
        self._label: int | None = None
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.num_queries = 0

    def config(self) -> dict:
        return {
            "name": "untargeted_classification",
            "score": self.score,
            "query_budget": self.query_budget,
            "batch_size": self.batch_size,
            "count_repeats": self.count_repeats,
            "softmax": "torch.softmax float32",
            "success": "argmax(logits) != label",
        }

    @property
    def budget_exhausted(self) -> bool:
        return self.query_budget is not None and self.num_queries >= self.query_budget

    def init_example(self, text: AttackedText, label: int) -> GoalResult:
        """Forget the previous example and score ``text`` (one query)."""
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise TypeError(f"label must be an int, got {type(label).__name__}")
        if not 0 <= label < self.num_labels:
            raise ValueError(f"label must be in [0, {self.num_labels}), got {label}")
        self._label = int(label)
        self._cache = {}
        self.num_queries = 0
        results, _ = self.get_results([text])
        return results[0]

    def get_results(self, texts: Sequence[AttackedText]) -> tuple[list[GoalResult], bool]:
        """Score ``texts``; return their results and whether the query budget is spent.

        Texts beyond the budget are dropped, so fewer results than texts may come back.
        """
        if self._label is None:
            raise RuntimeError("call init_example(text, label) before get_results")
        texts = list(texts)
        if self.query_budget is not None:
            texts = self._within_budget(texts)
        new = list(dict.fromkeys(t.text for t in texts if t.text not in self._cache))
        self.num_queries += len(texts) if self.count_repeats else len(new)
        for start in range(0, len(new), self.batch_size):
            batch = new[start : start + self.batch_size]
            logits = self._call_model(batch)
            # The project's one softmax: float32, row-wise, exactly as TextAttack computes it.
            probs = softmax_float32(logits)
            self._cache.update(zip(batch, zip(logits, probs)))
        results = [self._result(t, *self._cache[t.text]) for t in texts]
        return results, self.budget_exhausted

    def _within_budget(self, texts: list[AttackedText]) -> list[AttackedText]:
        left = self.query_budget - self.num_queries
        if self.count_repeats:
            return texts[: max(left, 0)]
        kept, new = [], set()
        for t in texts:
            if t.text not in self._cache and t.text not in new:
                if len(new) == left:
                    break
                new.add(t.text)
            kept.append(t)
        return kept

    def _call_model(self, batch: list[str]) -> np.ndarray:
        raw = self.model.logits(batch)
        logits = np.asarray(raw)
        if logits.shape != (len(batch), self.num_labels):
            raise ValueError(
                f"model returned logits of shape {logits.shape}, "
                f"expected {(len(batch), self.num_labels)}"
            )
        if not np.issubdtype(logits.dtype, np.floating):
            raise TypeError(f"model returned logits of dtype {logits.dtype}, expected float")
        logits = np.array(logits, dtype=np.float32)  # a private copy for the cache
        if not np.isfinite(logits).all():
            bad = int((~np.isfinite(logits)).any(axis=1).sum())
            raise ValueError(
                f"model returned non-finite logits (NaN or inf) for {bad} of {len(batch)} texts"
            )
        return logits

    def _result(self, text: AttackedText, logits: np.ndarray, probs: np.ndarray) -> GoalResult:
        label = self._label
        prediction = int(np.argmax(logits))
        if self.score == "probability":
            score = np.float32(1.0) - probs[label]
        else:
            others = np.delete(logits, label)
            score = np.float32(others.max() - logits[label])
        return GoalResult(
            text=text,
            label=label,
            logits=logits,
            probs=probs,
            score=np.float32(score),
            prediction=prediction,
            succeeded=prediction != label,
        )
