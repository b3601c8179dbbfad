"""What an attack returns, and the accuracies computed from it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum


class Outcome(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


SKIP_EMPTY = "empty text"
SKIP_MISCLASSIFIED = "misclassified"


@dataclass(frozen=True)
class AttackResult:
    """The attack on one example.

    Attributes
    ----------
    original_text, adversarial_text : str
        ``adversarial_text`` is the successful perturbation, or ``original_text`` when the
        attack failed or was skipped.
    label : int
        True class.
    original_prediction, adversarial_prediction : int or None
        ``argmax`` of the victim's logits; None for empty texts (never sent to the victim).
    original_confidence, adversarial_confidence : float or None
        Largest class probability.
    original_true_prob, adversarial_true_prob : float or None
        Probability of ``label``.
    queries : int
        Distinct texts scored for this example (the clean text included).
    words_changed : int
        Word-level edit distance between the two texts.
    outcome : Outcome
    skip_reason : str or None
        ``"empty text"`` or ``"misclassified"`` when skipped.
    """

    original_text: str
    adversarial_text: str
    label: int
    original_prediction: int | None
    adversarial_prediction: int | None
    original_confidence: float | None
    adversarial_confidence: float | None
    original_true_prob: float | None
    adversarial_true_prob: float | None
    queries: int
    words_changed: int
    outcome: Outcome
    skip_reason: str | None = None

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict (``outcome`` as its string value)."""
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data


@dataclass(frozen=True)
class AttackSummary:
    """Aggregate numbers over a list of :class:`AttackResult`.

    Accuracies are fractions in [0, 1] over the non-empty examples. ``adversarial_accuracy``
    counts an example as robust only if it was classified correctly *and* the attack failed.
    Rates with an empty denominator are NaN.
    """

    n: int
    n_skipped_empty: int
    n_skipped_misclassified: int
    n_attacked: int
    n_succeeded: int
    n_failed: int
    clean_accuracy: float
    adversarial_accuracy: float
    attack_success_rate: float
    mean_queries: float
    mean_confidence_clean: float
    mean_confidence_adversarial: float

    def to_dict(self) -> dict:
        return asdict(self)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


def summarize(results: Sequence[AttackResult]) -> AttackSummary:
    """Summarise attack results.

    Examples
    --------
    >>> r = AttackResult("ok", "ok", 1, 1, 1, 0.9, 0.9, 0.9, 0.9, 5, 0, Outcome.FAILED)
    >>> s = summarize([r])
    >>> s.clean_accuracy, s.adversarial_accuracy, s.attack_success_rate
    (1.0, 1.0, 0.0)
    """
    results = list(results)
    for r in results:
        if not isinstance(r, AttackResult):
            raise TypeError(f"results must hold AttackResult objects, got {type(r).__name__}")
    scored = [r for r in results if r.skip_reason != SKIP_EMPTY]
    attacked = [r for r in scored if r.outcome is not Outcome.SKIPPED]
    correct = sum(r.original_prediction == r.label for r in scored)
    succeeded = sum(r.outcome is Outcome.SUCCEEDED for r in attacked)
    failed = len(attacked) - succeeded
    return AttackSummary(
        n=len(results),
        n_skipped_empty=len(results) - len(scored),
        n_skipped_misclassified=len(scored) - len(attacked),
        n_attacked=len(attacked),
        n_succeeded=succeeded,
        n_failed=failed,
        clean_accuracy=_ratio(correct, len(scored)),
        adversarial_accuracy=_ratio(failed, len(scored)),
        attack_success_rate=_ratio(succeeded, len(attacked)),
        mean_queries=_mean([r.queries for r in attacked]),
        mean_confidence_clean=_mean([r.original_confidence for r in scored]),
        mean_confidence_adversarial=_mean([r.adversarial_confidence for r in scored]),
    )
