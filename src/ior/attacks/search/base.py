"""What a search method may ask of the attack running it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

from ior.attacks.goal_functions.untargeted import GoalResult
from ior.attacks.text import AttackedText


class SearchContext(Protocol):
    """The attack's services for one example (see :class:`ior.attacks.attack.Attack`)."""

    def indices_to_order(self, text: AttackedText) -> list[int]:
        """Word indices that the pre-transformation constraints allow, ascending."""

    def get_transformations(
        self, current: AttackedText, original: AttackedText, indices: Sequence[int]
    ) -> list[AttackedText]:
        """Candidates changing ``indices`` of ``current`` that satisfy every constraint,
        without ``current`` itself or duplicates, sorted by text."""

    def get_results(self, texts: Sequence[AttackedText]) -> tuple[list[GoalResult], bool]:
        """Goal-function results for ``texts`` and whether the query budget is spent."""

    def similarity(self, text: AttackedText) -> float | None:
        """Sentence-encoder similarity of a candidate just checked (None if no such constraint)."""


class SearchMethod(ABC):
    """Perturb a text until the goal is met or the search is exhausted."""

    @abstractmethod
    def __call__(self, initial: GoalResult, context: SearchContext) -> GoalResult: ...

    def config(self) -> dict:
        return {"name": type(self).__name__}
