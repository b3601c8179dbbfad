"""Small deterministic stand-ins for a victim and for WordNet, for tests and examples.

They follow the same protocols as the real objects (``num_labels`` + ``logits(texts)``;
``synsets(word)`` returning objects with ``lemma_names()``) and compute everything by hand-
checkable arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ior.attacks.text import words_from_text


class BagOfWordsVictim:
    """A linear bag-of-words classifier: ``logits = scale * (bias + sum of word weights)``.

    Parameters
    ----------
    weights : mapping of str to sequence of float
        One weight vector (length ``num_labels``) per known word; words are lower-cased and
        split with :func:`ior.attacks.text.words_from_text`. Unknown words weigh 0.
    bias : sequence of float, optional
    scale : float
        Multiplies the logits; a large scale makes the victim extremely over-confident.

    Attributes
    ----------
    calls : list of list of str
        Every batch passed to :meth:`logits`.

    Examples
    --------
    >>> v = BagOfWordsVictim({"good": [0.0, 2.0]}, scale=3.0)
    >>> v.logits(["Good good", "bad"]).tolist()
    [[0.0, 12.0], [0.0, 0.0]]
    """

    def __init__(
        self,
        weights: Mapping[str, Sequence[float]],
        *,
        bias: Sequence[float] | None = None,
        scale: float = 1.0,
    ):
        vectors = {w.lower(): np.asarray(v, dtype=np.float64) for w, v in weights.items()}
        sizes = {v.shape for v in vectors.values()}
        if bias is not None:
            sizes.add(np.asarray(bias, dtype=np.float64).shape)
        if len(sizes) != 1:
            raise ValueError(f"all weight vectors and the bias must have one shape, got {sizes}")
        (shape,) = sizes
        if len(shape) != 1 or shape[0] < 2:
            raise ValueError(f"weight vectors must be 1-D with >= 2 entries, got shape {shape}")
        self.num_labels = shape[0]
        self.weights = vectors
        self.bias = np.zeros(shape) if bias is None else np.asarray(bias, dtype=np.float64)
        self.scale = float(scale)
        self.calls: list[list[str]] = []

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        self.calls.append(texts)
        out = np.empty((len(texts), self.num_labels), dtype=np.float64)
        for row, text in enumerate(texts):
            total = self.bias.copy()
            for word in words_from_text(text):
                total += self.weights.get(word.lower(), 0.0)
            out[row] = self.scale * total
        return out.astype(np.float32)


class _FakeSynset:
    def __init__(self, names: Sequence[str]):
        self._names = list(names)

    def lemma_names(self) -> list[str]:
        return list(self._names)


class FakeWordNet:
    """A hand-made WordNet: ``{word: [synset lemma names, ...]}``; lookups are lower-cased,
    like NLTK's.

    Examples
    --------
    >>> wn = FakeWordNet({"film": [["film", "movie"], ["film", "plastic_film"]]})
    >>> [s.lemma_names() for s in wn.synsets("Film")]
    [['film', 'movie'], ['film', 'plastic_film']]
    """

    def __init__(self, synsets: Mapping[str, Sequence[Sequence[str]]]):
        self._synsets = {w.lower(): [list(s) for s in ss] for w, ss in synsets.items()}

    def synsets(self, word: str) -> list[_FakeSynset]:
        return [_FakeSynset(names) for names in self._synsets.get(word.lower(), [])]
