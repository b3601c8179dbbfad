"""PWWS's synonym swap: replace a word by a WordNet synonym (TextAttack's ``WordSwapWordNet``)."""

from __future__ import annotations

from ior.attacks.text import words_from_text
from ior.attacks.transformations.base import WordSwap


class WordSwapWordNet(WordSwap):
    """Replace a word by the lemma names of all its WordNet synsets.

    Parameters
    ----------
    wordnet : object
        An NLTK ``WordNetCorpusReader`` or anything with ``synsets(word)`` returning objects
        with ``lemma_names()``. Passed in, never loaded here.

    Notes
    -----
    As in TextAttack 0.3.11: candidates are the lemma names of every synset of the word (all
    parts of speech; NLTK lower-cases and lemmatises the query), minus names equal to the
    word (a case-sensitive test, so "good" is a candidate for "Good"), names containing ``_``
    (multi-word phrases) and names that do not split into exactly one word. TextAttack returns
    them in set order; we return them sorted, which changes nothing downstream because the
    attack sorts candidates by text.

    Examples
    --------
    >>> from ior.attacks.testing import FakeWordNet
    >>> WordSwapWordNet(FakeWordNet({"film": [["film", "movie", "motion_picture"]]})
    ...                 ).replacement_words("film", None)
    ['movie']
    """

    def __init__(self, wordnet):
        if not callable(getattr(wordnet, "synsets", None)):
            raise TypeError(
                "wordnet must have a synsets(word) method (e.g. an NLTK WordNetCorpusReader), "
                f"got {type(wordnet).__name__}"
            )
        self.wordnet = wordnet

    def config(self) -> dict:
        return {
            "name": type(self).__name__,
            "wordnet": type(self.wordnet).__name__,
            "language": "eng",
        }

    def replacement_words(self, word, rng=None):
        synonyms = set()
        for synset in self.wordnet.synsets(word):
            for name in synset.lemma_names():
                if name != word and "_" not in name and len(words_from_text(name)) == 1:
                    synonyms.add(name)
        return sorted(synonyms)
