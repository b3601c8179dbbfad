"""Grammaticality constraints: a swap must keep the word's part of speech.

TextAttack 0.3.11's ``PartOfSpeech``: for each swapped position ``i`` the reference word and the
new word are tagged *in the reference's context* (the up to 4 words before and 3 after ``i``),
and the swap passes when the tags are equal, or are NOUN and VERB with
``allow_verb_noun_swap``. As in TextAttack the tag is read at the *first* occurrence of the word
within that context (so "film" in "the film ... film" gets its first occurrence's tag), and
tagged contexts are cached.

Departure: the tagger is passed in (see :mod:`ior.resources.pos`); TextAttack's default NLTK
perceptron model cannot be downloaded here. A tagger may return a *set* of tags per word (the
WordNet fallback does); two sets are compatible when some pair of their tags is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from ior.attacks.constraints.overlap import Constraint
from ior.attacks.constraints.semantics import swapped_indices

__all__ = ["PartOfSpeech"]

_CONTEXT_BEFORE, _CONTEXT_AFTER = 4, 3


class PartOfSpeech(Constraint):
    """Only swap words with the same part of speech (or nouns with verbs).

    Parameters
    ----------
    tagger : object
        ``tag(words: list of str) -> list`` of one tag (str) or set of tags per word, in NLTK's
        universal tagset, e.g. :class:`ior.resources.pos.PerceptronTagger`.
    allow_verb_noun_swap : bool
        TextAttack's default True: NOUN <-> VERB swaps pass.
    compare_against_original : bool
        TextAttack's default True.
    cache_size : int
        Tagged contexts kept (TextAttack: an LRU of 2**14).

    Examples
    --------
    >>> from ior.attacks.text import AttackedText
    >>> class Lookup:
    ...     tags = {"good": "ADJ", "fine": "ADJ", "quickly": "ADV"}
    ...     def tag(self, words): return [self.tags.get(w, "NOUN") for w in words]
    >>> c = PartOfSpeech(Lookup())
    >>> t = AttackedText("a good film")
    >>> c.check(t.replace_word_at_index(1, "fine"), t), c.check(t.replace_word_at_index(1, "quickly"), t)
    (True, False)
    """

    def __init__(
        self,
        tagger,
        *,
        allow_verb_noun_swap: bool = True,
        compare_against_original: bool = True,
        cache_size: int = 1 << 14,
    ):
        if not callable(getattr(tagger, "tag", None)):
            raise TypeError(f"tagger must have a tag(words) method, got {type(tagger).__name__}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size must be an int >= 0, got {cache_size!r}")
        self.tagger = tagger
        self.allow_verb_noun_swap = bool(allow_verb_noun_swap)
        self.compare_against_original = bool(compare_against_original)
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, ...], list] = OrderedDict()

    def config(self) -> dict:
        tagger = getattr(self.tagger, "config", None)
        return {
            **super().config(),
            "allow_verb_noun_swap": self.allow_verb_noun_swap,
            "tagset": "universal",
            "context": f"{_CONTEXT_BEFORE} words before, {_CONTEXT_AFTER} after",
            "tagger": tagger() if callable(tagger) else type(self.tagger).__name__,
        }

    def clear_cache(self) -> None:
        self._cache.clear()

    def _tags(self, context: tuple[str, ...]) -> list:
        tags = self._cache.get(context)
        if tags is None:
            tags = list(self.tagger.tag(list(context)))
            if len(tags) != len(context):
                raise ValueError(
                    f"tagger returned {len(tags)} tags for {len(context)} words"
                )
            self._cache[context] = tags
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(context)
        return tags

    def pos_in_context(self, before: Sequence[str], word: str, after: Sequence[str]):
        """The tag (or tag set) of ``word`` between ``before`` and ``after``."""
        context = (*before, word, *after)
        return self._tags(context)[context.index(word)]

    def can_replace(self, pos_a, pos_b) -> bool:
        """TextAttack's ``_can_replace_pos``, extended to tag sets."""
        set_a = {pos_a} if isinstance(pos_a, str) else set(pos_a)
        set_b = {pos_b} if isinstance(pos_b, str) else set(pos_b)
        if set_a & set_b:
            return True
        return self.allow_verb_noun_swap and (
            ("NOUN" in set_a and "VERB" in set_b) or ("VERB" in set_a and "NOUN" in set_b)
        )

    def check(self, candidate, reference):
        words = reference.words
        for i in swapped_indices(candidate, reference):
            before = words[max(i - _CONTEXT_BEFORE, 0) : i]
            after = words[i + 1 : min(i + 1 + _CONTEXT_AFTER, len(words))]
            ref_pos = self.pos_in_context(before, words[i], after)
            new_pos = self.pos_in_context(before, candidate.words[i], after)
            if not self.can_replace(ref_pos, new_pos):
                return False
        return True
