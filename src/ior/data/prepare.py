"""``ior data prepare``: make every offline resource ready, once.

Prepares Rotten Tomatoes (:mod:`ior.data.rotten_tomatoes`), TREC-6 and
Reuters R8 (:mod:`ior.data.text_sources`), WordNet
(:mod:`ior.data.wordnet`) and checks the MiniLM encoder
(:mod:`ior.data.minilm`); with ``images=True`` also Fashion-MNIST, MNIST and
the CIFAR test samples (:mod:`ior.data.image_sources`).  Each step compares
its manifest with the files on disk by size and mtime, so a second call with
everything present does no hashing, downloading or copying and returns in well
under a second (plus the import of NLTK).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import warnings
from typing import Any

from ior.data.cache import cache_dir, read_manifest
from ior.data.image_sources import prepare_cifar_samples, prepare_fashion_mnist, prepare_mnist
from ior.data.minilm import prepare_minilm
from ior.data.rotten_tomatoes import prepare_rotten_tomatoes
from ior.data.text_sources import prepare_r8, prepare_trec
from ior.data.wordnet import prepare_wordnet

__all__ = ["prepare_all"]

logger = logging.getLogger(__name__)


def _wordnet_summary(cache: Any, *, force: bool) -> dict[str, Any]:
    path = prepare_wordnet(cache, force=force)
    manifest = read_manifest(path) or {}
    files = manifest.get("files", {})
    # One digest for the whole corpus: sha256 over "name sha256" lines, sorted by name.
    listing = "".join(f"{name} {files[name]['sha256']}\n" for name in sorted(files))
    return {
        "path": str(path),
        "source": manifest.get("source"),
        "counts": manifest.get("counts", {}),
        "sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest(),
    }


def prepare_all(
    cache: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    force: bool = False,
    images: bool = False,
) -> dict[str, Any]:
    """Prepare Rotten Tomatoes, TREC-6, R8, WordNet and the MiniLM encoder (and the image datasets) in the cache.

    Parameters
    ----------
    cache : str or os.PathLike, optional
        Cache root; defaults to ``$IOR_CACHE`` or ``~/.cache/ior``.
    progress : bool, default True
        Log one INFO message per step (DEBUG when False).
    force : bool, default False
        Rebuild every resource even if its manifest says it is current.
    images : bool, default False
        Also prepare ``fashion_mnist``, ``mnist`` and ``cifar_samples`` (``ior
        data prepare`` does).  These, like ``trec`` and ``r8``, need apt-get or
        pip the first time; one that fails is reported with a warning and
        ``{"path": None, "error": ...}`` instead of stopping the others.

    Returns
    -------
    dict
        ``{"cache": str, "rotten_tomatoes": {...}, "wordnet": {...},
        "minilm": {...}, "trec": {...}, "r8": {...}, "seconds": float}`` (plus the image
        datasets); each resource summary holds its path, counts, sha256 and the seconds it took.

    Raises
    ------
    RuntimeError
        A resource could not be prepared; the message says which and what to do.
    """
    level = logging.INFO if progress else logging.DEBUG
    root = cache_dir(cache)
    steps = (
        ("rotten_tomatoes", lambda: prepare_rotten_tomatoes(root, force=force)),
        ("wordnet", lambda: _wordnet_summary(root, force=force)),
        ("minilm", lambda: prepare_minilm(root, force=force)),
    )
    # The multi-class text sets and the image datasets are optional: a machine whose pip or apt-get
    # cannot reach them still gets what `rt` audits need, with a warning saying what is missing.
    optional = (
        ("trec", lambda: prepare_trec(root, force=force)),
        ("r8", lambda: prepare_r8(root, force=force)),
    ) + ((
        ("fashion_mnist", lambda: prepare_fashion_mnist(root, force=force)),
        ("mnist", lambda: prepare_mnist(root, force=force)),
        ("cifar_samples", lambda: prepare_cifar_samples(root, force=force)),
    ) if images else ())
    summary: dict[str, Any] = {"cache": str(root)}
    start = time.perf_counter()
    for name, step in steps + optional:
        logger.log(level, "preparing %s", name)
        began = time.perf_counter()
        try:
            result = step()
        except (RuntimeError, ValueError, OSError) as exc:
            if not any(name == other for other, _ in optional):
                raise
            warnings.warn(f"{name} was not prepared: {exc}", stacklevel=2)
            result = {"path": None, "error": str(exc)}
        result["seconds"] = round(time.perf_counter() - began, 3)
        summary[name] = result
        logger.log(level, "%s ready in %.2f s", name, result["seconds"])
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return summary
