"""``ior data prepare``: make every offline resource ready, once.

Prepares Rotten Tomatoes (:mod:`ior.data.rotten_tomatoes`), WordNet
(:mod:`ior.data.wordnet`) and checks the MiniLM encoder
(:mod:`ior.data.minilm`).  Each step compares its manifest with the files on
disk by size and mtime, so a second call with everything present does no
hashing, downloading or copying and returns in well under a second (plus the
import of NLTK).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Any

from ior.data.cache import cache_dir, read_manifest
from ior.data.minilm import prepare_minilm
from ior.data.rotten_tomatoes import prepare_rotten_tomatoes
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
) -> dict[str, Any]:
    """Prepare Rotten Tomatoes, WordNet and the MiniLM encoder in the cache.

    Parameters
    ----------
    cache : str or os.PathLike, optional
        Cache root; defaults to ``$IOR_CACHE`` or ``~/.cache/ior``.
    progress : bool, default True
        Log one INFO message per step (DEBUG when False).
    force : bool, default False
        Rebuild every resource even if its manifest says it is current.

    Returns
    -------
    dict
        ``{"cache": str, "rotten_tomatoes": {...}, "wordnet": {...},
        "minilm": {...}, "seconds": float}``; each resource summary holds its
        path, counts, sha256 and the seconds it took.

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
    summary: dict[str, Any] = {"cache": str(root)}
    start = time.perf_counter()
    for name, step in steps:
        logger.log(level, "preparing %s", name)
        began = time.perf_counter()
        result = step()
        result["seconds"] = round(time.perf_counter() - began, 3)
        summary[name] = result
        logger.log(level, "%s ready in %.2f s", name, result["seconds"])
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return summary
