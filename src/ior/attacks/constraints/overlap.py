"""Constraints on how far a candidate may drift, checked after transforming."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ior.attacks.text import AttackedText


class Constraint(ABC):
    """Accept or reject a candidate against a reference text.

    ``compare_against_original`` says which reference the attack passes: the unperturbed
    text (True) or the text the candidate was transformed from (False).
    """

    compare_against_original: bool = True

    @abstractmethod
    def check(self, candidate: AttackedText, reference: AttackedText) -> bool: ...

    def config(self) -> dict:
        return {
            "name": type(self).__name__,
            "compare_against_original": self.compare_against_original,
        }


def levenshtein(a: str, b: str, *, max_distance: int | None = None) -> int:
    """Character edit distance (insertions, deletions, substitutions, each costing 1).

    With ``max_distance`` the search is confined to a band and any distance above it is
    reported as ``max_distance + 1``; this keeps checks on long texts cheap.

    Examples
    --------
    >>> levenshtein("kitten", "sitting")
    3
    >>> levenshtein("kitten", "sitting", max_distance=1)
    2
    """
    # Common prefix and suffix never contribute.
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    n, m = len(a), len(b)
    cap = None if max_distance is None else max_distance + 1
    if cap is not None and abs(n - m) >= cap:
        return cap
    if n == 0 or m == 0:
        return max(n, m)
    k = max(n, m) if max_distance is None else max_distance
    big = n + m + 1
    previous = [j if j <= k else big for j in range(m + 1)]
    for i in range(1, n + 1):
        lo, hi = max(1, i - k), min(m, i + k)
        current = [big] * (m + 1)
        if i <= k:
            current[0] = i
        char_a = a[i - 1]
        best = current[0] if lo == 1 else big
        for j in range(lo, hi + 1):
            value = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (char_a != b[j - 1]),
            )
            current[j] = value
            if value < best:
                best = value
        if cap is not None and best >= cap:
            return cap
        previous = current
    result = previous[m]
    return result if cap is None else min(result, cap)


class LevenshteinEditDistance(Constraint):
    """Reject candidates more than ``max_edit_distance`` character edits from the reference.

    Parameters
    ----------
    max_edit_distance : int
        DeepWordBug uses 30.
    compare_against_original : bool
        TextAttack's default, True: the distance is to the unperturbed text.
    """

    def __init__(self, max_edit_distance: int = 30, *, compare_against_original: bool = True):
        if isinstance(max_edit_distance, bool) or not isinstance(max_edit_distance, int):
            raise TypeError(
                f"max_edit_distance must be an int, got {type(max_edit_distance).__name__}"
            )
        if max_edit_distance < 0:
            raise ValueError(f"max_edit_distance must be >= 0, got {max_edit_distance}")
        self.max_edit_distance = max_edit_distance
        self.compare_against_original = bool(compare_against_original)

    def config(self) -> dict:
        return {**super().config(), "max_edit_distance": self.max_edit_distance}

    def check(self, candidate, reference):
        distance = levenshtein(
            reference.text, candidate.text, max_distance=self.max_edit_distance
        )
        return distance <= self.max_edit_distance
