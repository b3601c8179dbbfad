"""Word embeddings for word-swap attacks: lookup, cosine similarity, nearest neighbours.

TextAttack's ``WordEmbedding`` wraps the counter-fitted PARAGRAM vectors (Mrkšić et al. 2016)
with a precomputed nearest-neighbour matrix. :class:`WordEmbedding` holds any vocabulary and
matrix and finds neighbours on demand (one matrix-vector product over the vocabulary, cached
per word). Load the original ``counter-fitted-vectors.txt`` with :meth:`WordEmbedding.from_text`,
or ``ior``'s offline rebuild with :func:`ior.resources.counterfitted.load_counterfitted`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["WordEmbedding"]


class WordEmbedding:
    """A vocabulary with one vector per word.

    Parameters
    ----------
    words : sequence of str
        Distinct words; position ``i`` names row ``i`` of ``vectors``.
    vectors : array_like, shape [V, D]
        Finite vectors, stored as float32.
    name : str
        Recorded in configs.

    Notes
    -----
    Lookups are exact (the counter-fitted vocabulary is lower case; callers lower-case words,
    as TextAttack does). Nearest neighbours are ranked by cosine similarity, ties by index;
    the word itself is never its own neighbour (TextAttack drops the first entry of its
    precomputed list instead, which is the word itself unless two words share a vector).

    Examples
    --------
    >>> emb = WordEmbedding(["good", "fine", "bad"], [[1.0, 0.1], [0.9, 0.2], [-1.0, 0.0]])
    >>> [emb.index2word(i) for i in emb.nearest_neighbours("good", 2)]
    ['fine', 'bad']
    >>> round(emb.cos_sim("good", "bad"), 3)
    -0.995
    """

    def __init__(self, words: Sequence[str], vectors, *, name: str = "word-embedding"):
        if isinstance(words, str):
            raise TypeError("words must be a sequence of str, not a single str")
        words = list(words)
        if not all(isinstance(w, str) for w in words):
            raise TypeError("words must all be str")
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise ValueError(
                f"vectors must have shape [len(words), D] = [{len(words)}, D], got {matrix.shape}"
            )
        if len(words) == 0:
            raise ValueError("words must not be empty")
        if not np.isfinite(matrix).all():
            raise ValueError("vectors must be finite")
        index = {w: i for i, w in enumerate(words)}
        if len(index) != len(words):
            raise ValueError("words must be distinct")
        self.words = words
        self.vectors = matrix
        self.name = str(name)
        self._index = index
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self._unit = matrix / np.maximum(norms, 1e-12)
        self._nn_cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def config(self) -> dict:
        return {"name": self.name, "vocabulary": len(self), "dim": self.dim}

    def word2index(self, word: str) -> int:
        """Row of ``word``; ``KeyError`` when it is not in the vocabulary."""
        return self._index[word]

    def index2word(self, index: int) -> str:
        return self.words[index]

    def _id(self, word_or_index) -> int:
        if isinstance(word_or_index, str):
            return self._index[word_or_index]
        return int(word_or_index)

    def __getitem__(self, word_or_index) -> np.ndarray:
        return self.vectors[self._id(word_or_index)]

    def cos_sim(self, a, b) -> float:
        """Cosine similarity of two words (or row indices)."""
        return float(np.dot(self._unit[self._id(a)], self._unit[self._id(b)]))

    def mse_dist(self, a, b) -> float:
        """Squared Euclidean distance of two words' raw vectors (TextAttack's "MSE")."""
        diff = self.vectors[self._id(a)] - self.vectors[self._id(b)]
        return float(np.dot(diff, diff))

    def nearest_neighbours(self, word_or_index, k: int) -> list[int]:
        """Indices of the ``k`` words most cosine-similar to a word, most similar first,
        excluding the word itself."""
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        i = self._id(word_or_index)
        ranked = self._nn_cache.get(i)
        if ranked is None or len(ranked) < min(k, len(self) - 1):
            ranked = self._rank(i, max(k, 64))
            self._nn_cache[i] = ranked
        return ranked[:k].tolist()

    def _rank(self, i: int, k: int) -> np.ndarray:
        sims = self._unit @ self._unit[i]
        sims[i] = -np.inf
        k = min(k, len(self) - 1)
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        top = np.argpartition(-sims, k - 1)[:k] if k < len(self) - 1 else np.arange(len(self))
        top = top[top != i]
        # Sort by decreasing similarity, then increasing index, so ties are reproducible.
        order = np.lexsort((top, -sims[top].astype(np.float64)))
        return top[order][:k]

    def nearest_neighbours_all(self, k: int, *, batch: int = 4096) -> np.ndarray:
        """Top-``k`` neighbour indices of every word, shape [V, k] (for quality reports)."""
        out = np.empty((len(self), k), dtype=np.int64)
        for start in range(0, len(self), batch):
            sims = self._unit[start : start + batch] @ self._unit.T
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            part = np.take_along_axis(sims, top, axis=1)
            order = np.argsort(-part, axis=1, kind="stable")
            out[start : start + batch] = np.take_along_axis(top, order, axis=1)
        return out

    @classmethod
    def from_text(cls, path: str | os.PathLike[str], *, name: str | None = None,
                  limit: int | None = None) -> WordEmbedding:
        """Read ``word v1 v2 ...`` lines (e.g. the original ``counter-fitted-vectors.txt``,
        GloVe text files, or word2vec text with its ``count dim`` header line).

        Lines whose vector length differs from the first vector's are rejected with a
        ``ValueError`` naming the line; repeated words keep their first vector.
        """
        path = Path(path)
        words, rows, dim = [], [], None
        seen = set()
        with open(path, encoding="utf-8", errors="strict") as handle:
            for number, line in enumerate(handle, start=1):
                parts = line.rstrip("\n").rstrip().split(" ")
                if not parts or parts == [""]:
                    continue
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec header
                word, values = parts[0], parts[1:]
                if dim is None:
                    dim = len(values)
                    if dim == 0:
                        raise ValueError(f"{path}:{number}: no vector after the word")
                if len(values) != dim:
                    raise ValueError(
                        f"{path}:{number}: expected {dim} values, got {len(values)}"
                    )
                if word in seen:
                    continue
                seen.add(word)
                words.append(word)
                rows.append(np.asarray(values, dtype=np.float32))
                if limit is not None and len(words) >= limit:
                    break
        if not words:
            raise ValueError(f"{path} holds no vectors")
        return cls(words, np.stack(rows), name=name or path.name)
