"""TextFooler's swap: replace a word by its nearest neighbours in a word embedding
(TextAttack 0.3.11's ``WordSwapEmbedding``)."""

from __future__ import annotations

from ior.attacks.transformations.base import WordSwap

__all__ = ["WordSwapEmbedding", "recover_word_case"]


def recover_word_case(word: str, reference: str) -> str:
    """Give ``word`` the case pattern of ``reference``: lower, UPPER (two or more letters) or
    Capitalised; any other pattern leaves ``word`` as it is.

    Examples
    --------
    >>> recover_word_case("movie", "Film"), recover_word_case("movie", "FILM")
    ('Movie', 'MOVIE')
    """
    if reference.islower():
        return word.lower()
    if reference.isupper() and len(reference) > 1:
        return word.upper()
    if reference[:1].isupper() and reference[1:].islower():
        return word.capitalize()
    return word


class WordSwapEmbedding(WordSwap):
    """Replace a word by its ``max_candidates`` nearest neighbours (by cosine similarity) in a
    word embedding, each given the case of the word it replaces.

    Parameters
    ----------
    embedding : WordEmbedding
        Anything with ``word2index(word)`` (``KeyError`` if unknown), ``index2word(i)`` and
        ``nearest_neighbours(index, k)``, e.g. :class:`ior.resources.embeddings.WordEmbedding`.
        Passed in, never loaded here.
    max_candidates : int
        TextAttack's default is 15; TextFooler uses 50.

    Notes
    -----
    As in TextAttack, the word is lower-cased for lookup; words without a vector get no
    candidates; a neighbour equal to the word after case recovery is dropped.

    Examples
    --------
    >>> from ior.resources.embeddings import WordEmbedding
    >>> emb = WordEmbedding(["good", "fine", "bad"], [[1.0, 0.1], [0.9, 0.2], [-1.0, 0.0]])
    >>> WordSwapEmbedding(emb, max_candidates=1).replacement_words("Good", None)
    ['Fine']
    """

    def __init__(self, embedding, *, max_candidates: int = 15):
        for method in ("word2index", "index2word", "nearest_neighbours"):
            if not callable(getattr(embedding, method, None)):
                raise TypeError(
                    f"embedding must have a {method}() method (e.g. ior.resources.WordEmbedding), "
                    f"got {type(embedding).__name__}"
                )
        if isinstance(max_candidates, bool) or not isinstance(max_candidates, int):
            raise TypeError(f"max_candidates must be an int, got {type(max_candidates).__name__}")
        if max_candidates < 1:
            raise ValueError(f"max_candidates must be >= 1, got {max_candidates}")
        self.embedding = embedding
        self.max_candidates = max_candidates

    def config(self) -> dict:
        embedding = getattr(self.embedding, "config", None)
        return {
            "name": type(self).__name__,
            "max_candidates": self.max_candidates,
            "neighbours": "cosine similarity, word itself excluded",
            "embedding": embedding() if callable(embedding) else type(self.embedding).__name__,
        }

    def replacement_words(self, word, rng=None):
        try:
            index = self.embedding.word2index(word.lower())
        except KeyError:
            return []
        return [
            recover_word_case(self.embedding.index2word(j), word)
            for j in self.embedding.nearest_neighbours(index, self.max_candidates)
        ]
