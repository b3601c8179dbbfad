"""The text under attack: words, word replacement, and what has been modified.

Word splitting follows TextAttack 0.3.11's ``words_from_text``: the text is split on whitespace;
inside each whitespace token a word is a maximal run of word characters (``\\w``), the
apostrophe, hyphen, underscore, asterisk and at sign (``'-_*@``), plus three symbols from
TextAttack's homoglyph list that ``\\w`` does not already cover (the grave accent ````` ``, the
modifier minus ``˗`` and the multiplication sign ``×``). ``'-_*@`` are then stripped from both
ends of each word, so ``"'quoted'"`` gives ``quoted`` while ``don't`` and ``run-of-the-mill``
stay whole. Everything else (``.,;:!?()"`` …) separates words and is kept verbatim in the text.

Replacing a word rebuilds the text the way TextAttack does: words are located left to right in
the text, and only the characters of the replaced word change; surrounding punctuation and
spacing are preserved. Departure: TextAttack segments text containing CJK characters with
``jieba`` first; we do not (all of ``ior``'s datasets are English).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property

#: Characters kept inside a word but stripped from its ends.
_EDGE_CHARS = "'-_*@"
#: Symbols from TextAttack's homoglyph list that are not already matched by ``\w``.
_EXTRA_WORD_CHARS = "`\u02d7\u00d7"
_WORD_RUN = re.compile(r"[\w" + re.escape(_EDGE_CHARS + _EXTRA_WORD_CHARS) + r"]+")


def words_from_text(text: str) -> list[str]:
    """Split ``text`` into words with TextAttack 0.3.11 semantics.

    Examples
    --------
    >>> words_from_text("It's a run-of-the-mill 'film' (2002)... really?!")
    ["It's", 'a', 'run-of-the-mill', 'film', '2002', 'really']
    """
    words = []
    for token in text.split():
        for run in _WORD_RUN.findall(token.strip(_EDGE_CHARS)):
            word = run.strip(_EDGE_CHARS)
            if word:
                words.append(word)
    return words


def _word_edit_distance(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    previous = list(range(len(b) + 1))
    for i, word_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, word_b in enumerate(b, start=1):
            current[j] = min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word_a != word_b)
            )
        previous = current
    return previous[-1]


class AttackedText:
    """An immutable text plus the bookkeeping an attack needs.

    Parameters
    ----------
    text : str
        The current text.
    original_text : str, optional
        The unperturbed text this one descends from; defaults to ``text``.
    modified_indices : iterable of int, optional
        Word indices (in *this* text) changed relative to the original.

    Examples
    --------
    >>> t = AttackedText("A gripping, well-acted film.")
    >>> t.words
    ('A', 'gripping', 'well-acted', 'film')
    >>> u = t.replace_word_at_index(1, "grpping")
    >>> u.text, sorted(u.modified_indices)
    ('A grpping, well-acted film.', [1])
    """

    def __init__(
        self,
        text: str,
        *,
        original_text: str | None = None,
        modified_indices: Iterable[int] = (),
    ):
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if original_text is not None and not isinstance(original_text, str):
            raise TypeError(
                f"original_text must be a str or None, got {type(original_text).__name__}"
            )
        self._text = text
        self._original_text = text if original_text is None else original_text
        self._modified_indices = frozenset(int(i) for i in modified_indices)

    @property
    def text(self) -> str:
        return self._text

    @property
    def original_text(self) -> str:
        return self._original_text

    @property
    def modified_indices(self) -> frozenset[int]:
        """Indices of words of this text that differ from the original (TextAttack's
        ``attack_attrs["modified_indices"]``)."""
        return self._modified_indices

    @cached_property
    def words(self) -> tuple[str, ...]:
        return tuple(words_from_text(self._text))

    @property
    def num_words(self) -> int:
        return len(self.words)

    @cached_property
    def word_spans(self) -> tuple[tuple[int, int], ...]:
        """``(start, end)`` character offsets of each word, found left to right."""
        spans, cursor = [], 0
        for word in self.words:
            start = self._text.index(word, cursor)
            cursor = start + len(word)
            spans.append((start, cursor))
        return tuple(spans)

    def replace_word_at_index(self, index: int, new_word: str) -> AttackedText:
        """Return a new text with word ``index`` replaced by ``new_word``.

        ``new_word`` may be empty (a deletion: one neighbouring space goes with it) or hold
        several words (later indices shift). The index is marked modified when ``new_word``
        differs from the old word, as in TextAttack.
        """
        if not isinstance(new_word, str):
            raise TypeError(f"new_word must be a str, got {type(new_word).__name__}")
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not 0 <= index < self.num_words:
            raise IndexError(f"index must be in [0, {self.num_words}), got {index}")
        start, end = self.word_spans[index]
        before, after = self._text[:start], self._text[end:]
        if new_word == "" and after:
            # Drop one space with the deleted word so no double space is left behind.
            if index == 0 and after.startswith(" "):
                after = after[1:]
            elif index > 0 and before.endswith(" "):
                before = before[:-1]
        old_word = self.words[index]
        n_new = len(words_from_text(new_word))
        shift = n_new - 1
        modified = {i if i < index else i + shift for i in self._modified_indices if i != index}
        if new_word != old_word:
            modified.update(range(index, index + n_new))
        elif index in self._modified_indices:
            modified.add(index)
        return AttackedText(
            before + new_word + after,
            original_text=self._original_text,
            modified_indices=modified,
        )

    def delete_word_at_index(self, index: int) -> AttackedText:
        return self.replace_word_at_index(index, "")

    def words_diff(self, other: AttackedText) -> int:
        """Word-level edit distance to ``other`` (TextAttack's ``words_diff_num``)."""
        return _word_edit_distance(self.words, other.words)

    def changed_positions(self, other: AttackedText) -> list[int]:
        """Indices ``i`` where ``self.words[i] != other.words[i]`` (over the shorter text)."""
        return [i for i, (a, b) in enumerate(zip(self.words, other.words)) if a != b]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AttackedText):
            return NotImplemented
        return (self._text, self._original_text, self._modified_indices) == (
            other._text,
            other._original_text,
            other._modified_indices,
        )

    def __hash__(self) -> int:
        return hash((self._text, self._original_text, self._modified_indices))

    def __repr__(self) -> str:
        return f"AttackedText({self._text!r})"

    def __str__(self) -> str:
        return self._text
