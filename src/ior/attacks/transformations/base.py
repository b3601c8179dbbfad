"""Transformations: propose perturbed texts, one word at a time."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

from ior.attacks.text import AttackedText


class Transformation(ABC):
    """Propose candidate texts that change words at the given indices.

    Subclasses implement :meth:`_transform`. Randomised transformations draw only from the
    ``rng`` passed in, never from a global generator, so an attack seeded per example is
    reproducible regardless of the order in which examples are attacked.
    """

    #: False when candidates depend on ``rng``.
    deterministic: bool = True

    def __call__(
        self, text: AttackedText, indices: Iterable[int], rng: np.random.Generator
    ) -> list[AttackedText]:
        """Candidates for ``text``, changing only words at ``indices`` (visited in ascending
        order, so random draws are consumed in a fixed order)."""
        return self._transform(text, sorted(set(indices)), rng)

    @abstractmethod
    def _transform(
        self, text: AttackedText, indices: list[int], rng: np.random.Generator
    ) -> list[AttackedText]: ...

    def config(self) -> dict:
        return {"name": type(self).__name__}


class WordSwap(Transformation):
    """Replace one word by each of its replacement words.

    Subclasses implement :meth:`replacement_words`; a replacement equal to the word itself is
    dropped, as in TextAttack's ``WordSwap``.
    """

    @abstractmethod
    def replacement_words(self, word: str, rng: np.random.Generator) -> list[str]: ...

    def _transform(self, text, indices, rng):
        candidates = []
        for i in indices:
            word = text.words[i]
            for new_word in self.replacement_words(word, rng):
                if new_word != word:
                    candidates.append(text.replace_word_at_index(i, new_word))
        return candidates
