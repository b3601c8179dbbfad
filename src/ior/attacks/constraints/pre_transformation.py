"""Constraints applied before transforming: which words may be changed at all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from ior.attacks.text import AttackedText
from ior.data.stopwords import ENGLISH_STOPWORDS


class PreTransformationConstraint(ABC):
    """Restrict the word indices a transformation may touch."""

    @abstractmethod
    def modifiable_indices(self, text: AttackedText) -> frozenset[int]: ...

    def config(self) -> dict:
        return {"name": type(self).__name__}


class RepeatModification(PreTransformationConstraint):
    """A word already modified may not be modified again.

    Examples
    --------
    >>> t = AttackedText("bad film").replace_word_at_index(0, "bd")
    >>> sorted(RepeatModification().modifiable_indices(t))
    [1]
    """

    def modifiable_indices(self, text):
        return frozenset(range(text.num_words)) - text.modified_indices


class StopwordModification(PreTransformationConstraint):
    """Stopwords may not be modified.

    Parameters
    ----------
    stopwords : iterable of str, optional
        Defaults to :data:`ior.data.stopwords.ENGLISH_STOPWORDS`, NLTK's classic English list,
        which TextAttack 0.3.x loads with ``nltk.corpus.stopwords.words("english")``.
        Membership is case-sensitive, as in TextAttack ("The" is not a stopword).
    """

    def __init__(self, stopwords: Iterable[str] | None = None):
        if isinstance(stopwords, str):
            raise TypeError("stopwords must be an iterable of words, not a single str")
        self.stopwords = ENGLISH_STOPWORDS if stopwords is None else frozenset(stopwords)

    def config(self) -> dict:
        default = self.stopwords == ENGLISH_STOPWORDS
        return {
            "name": type(self).__name__,
            "stopwords": "nltk-english-179" if default else sorted(self.stopwords),
            "case_sensitive": True,
        }

    def modifiable_indices(self, text):
        return frozenset(i for i, w in enumerate(text.words) if w not in self.stopwords)

    def check(self, candidate: AttackedText, original: AttackedText) -> bool:
        """True if every word position where ``candidate`` differs from ``original`` holds a
        non-stopword in ``original``. Word swaps only: the texts must have as many words."""
        if candidate.num_words != original.num_words:
            raise ValueError(
                "StopwordModification.check compares word swaps: candidate has "
                f"{candidate.num_words} words, original has {original.num_words}"
            )
        return all(
            original.words[i] not in self.stopwords for i in candidate.changed_positions(original)
        )
