"""DeepWordBug's four character edits (Gao et al., 2018), with TextAttack 0.3.11 semantics.

Each edit returns at most one candidate per word when ``random_one=True`` (the recipe's
setting): one position drawn uniformly from the allowed range, and for substitution and
insertion one letter drawn uniformly from ``letters`` (``string.ascii_letters``). Words of one
character get no candidate. A substitution that draws the letter already there, or a swap of
two equal neighbours, yields the word itself and is dropped (no redraw).

Positions, for a word of length ``n`` (``a`` = 1 if ``skip_first_char`` else 0):

=====================  ===================================  ==============================
edit                   position ``i`` drawn from             result
=====================  ===================================  ==============================
neighbouring swap      ``[a, n - 1 - skip_last_char)``       swap ``word[i]``, ``word[i+1]``
substitution           ``[0, n)``                            ``word[i]`` -> random letter
deletion               ``[a, n - skip_last_char)``           drop ``word[i]``
insertion              ``[a, n - skip_last_char)``           random letter before ``word[i]``
=====================  ===================================  ==============================

Note that insertion never appends after the last character, as in TextAttack.
"""

from __future__ import annotations

import string

import numpy as np

from ior.attacks.transformations.base import WordSwap


class _CharacterEdit(WordSwap):
    def __init__(
        self,
        *,
        random_one: bool = True,
        skip_first_char: bool = False,
        skip_last_char: bool = False,
        letters: str = string.ascii_letters,
    ):
        if not isinstance(letters, str) or not letters:
            raise ValueError(f"letters must be a non-empty str, got {letters!r}")
        self.random_one = bool(random_one)
        self.skip_first_char = bool(skip_first_char)
        self.skip_last_char = bool(skip_last_char)
        self.letters = letters

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        return not self.random_one

    def config(self) -> dict:
        return {
            "name": type(self).__name__,
            "random_one": self.random_one,
            "skip_first_char": self.skip_first_char,
            "skip_last_char": self.skip_last_char,
            "letters": self.letters,
        }

    def _positions(self, word: str) -> range:
        raise NotImplementedError

    def _edit(self, word: str, i: int, rng: np.random.Generator) -> str:
        raise NotImplementedError

    def _letter(self, rng: np.random.Generator) -> str:
        return self.letters[int(rng.integers(len(self.letters)))]

    def replacement_words(self, word: str, rng: np.random.Generator) -> list[str]:
        if len(word) <= 1:
            return []
        positions = self._positions(word)
        if len(positions) == 0:
            return []
        if self.random_one:
            i = int(rng.integers(positions.start, positions.stop))
            return [self._edit(word, i, rng)]
        return [self._edit(word, i, rng) for i in positions]


class WordSwapNeighboringCharacterSwap(_CharacterEdit):
    """Swap two adjacent characters: ``word[i]`` and ``word[i + 1]``."""

    def _positions(self, word):
        return range(int(self.skip_first_char), len(word) - 1 - int(self.skip_last_char))

    def _edit(self, word, i, rng):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


class WordSwapRandomCharacterSubstitution(_CharacterEdit):
    """Replace one character by a random letter, at any position (TextAttack offers no skip
    options for substitution)."""

    def __init__(self, *, random_one: bool = True, letters: str = string.ascii_letters):
        super().__init__(random_one=random_one, letters=letters)

    def _positions(self, word):
        return range(0, len(word))

    def _edit(self, word, i, rng):
        return word[:i] + self._letter(rng) + word[i + 1 :]


class WordSwapRandomCharacterDeletion(_CharacterEdit):
    """Delete one character."""

    def _positions(self, word):
        return range(int(self.skip_first_char), len(word) - int(self.skip_last_char))

    def _edit(self, word, i, rng):
        return word[:i] + word[i + 1 :]


class WordSwapRandomCharacterInsertion(_CharacterEdit):
    """Insert a random letter before ``word[i]``."""

    def _positions(self, word):
        return range(int(self.skip_first_char), len(word) - int(self.skip_last_char))

    def _edit(self, word, i, rng):
        return word[:i] + self._letter(rng) + word[i:]
