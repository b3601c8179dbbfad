"""The on-disk cache: where prepared resources live, atomic writes, manifests.

Every prepared resource (a dataset split, the WordNet corpus, the sentence
encoder) lives in its own directory under :func:`cache_dir` next to a
``manifest.json`` that records what was built, from which source, and the
size, modification time and sha256 of each file.  Re-running a preparation
compares sizes and modification times against the manifest
(:func:`files_match_manifest`) instead of re-hashing, so a second run is quick.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_ENV_VAR",
    "MANIFEST_NAME",
    "atomic_write_bytes",
    "atomic_write_text",
    "cache_dir",
    "file_record",
    "files_match_manifest",
    "read_manifest",
    "sha256_file",
    "write_manifest",
]

#: Environment variable that overrides the default cache location.
CACHE_ENV_VAR = "IOR_CACHE"
#: File name of the manifest written in each prepared directory.
MANIFEST_NAME = "manifest.json"
#: Version of the manifest layout; bump when keys change meaning.
MANIFEST_VERSION = 1

_CHUNK = 1 << 20


def _as_path(value: Any, name: str) -> Path:
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        if not text:
            raise ValueError(f"{name} must be a non-empty path; got ''")
        return Path(text).expanduser()
    raise TypeError(f"{name} must be a str or os.PathLike; got {type(value).__name__}")


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the ior cache directory, creating it if needed.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Explicit location.  When ``None``, the environment variable
        ``IOR_CACHE`` is used if set and non-empty, else ``~/.cache/ior``.

    Returns
    -------
    pathlib.Path
        Absolute path of the (existing) cache directory.

    Examples
    --------
    >>> import tempfile
    >>> d = cache_dir(tempfile.mkdtemp())
    >>> d.is_dir()
    True
    """
    if path is None:
        env = os.environ.get(CACHE_ENV_VAR, "").strip()
        root = Path(env).expanduser() if env else Path.home() / ".cache" / "ior"
    else:
        root = _as_path(path, "path")
    root = root.absolute()
    if root.exists() and not root.is_dir():
        raise ValueError(f"cache path {str(root)!r} exists and is not a directory")
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 digest of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(_as_path(path, "path"), "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, are flushed to
    disk, and the temporary file is renamed over ``path`` with
    :func:`os.replace`; readers see either the old file or the complete new
    one, and a failure leaves no temporary file behind.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its parent directory is created if missing.
    data : bytes
        Content to write.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    target = _as_path(path, "path")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; cached data is meant to be readable.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`).

    The text is encoded as is; no newline translation happens.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    return atomic_write_bytes(path, text.encode(encoding))


def file_record(path: str | os.PathLike[str], *, sha256: str | None = None) -> dict[str, Any]:
    """Describe a file for a manifest: ``{"size", "mtime_ns", "sha256"}``.

    ``sha256`` may be passed when already known, to avoid hashing twice.
    """
    target = _as_path(path, "path")
    stat = target.stat()
    return {
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256": sha256 if sha256 is not None else sha256_file(target),
    }


def _regular_files(directory: Path) -> list[str]:
    return sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.is_file()
        and not entry.is_symlink()
        and entry.name != MANIFEST_NAME
        and not entry.name.startswith(".")
    )


def write_manifest(
    directory: str | os.PathLike[str],
    payload: Mapping[str, Any],
    *,
    files: Iterable[str] | None = None,
) -> Path:
    """Write ``<directory>/manifest.json`` atomically.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory the manifest describes.
    payload : Mapping
        JSON-serialisable description (counts, source, seed, ...).  The keys
        ``files``, ``manifest_version`` and ``created`` are added by this
        function and must not be present.
    files : iterable of str, optional
        Names of files inside ``directory`` to record.  By default every
        regular, non-hidden file except the manifest itself.

    Returns
    -------
    pathlib.Path
        Path of the written manifest.
    """
    root = _as_path(directory, "directory")
    if not root.is_dir():
        raise ValueError(f"manifest directory {str(root)!r} does not exist")
    if not isinstance(payload, Mapping):
        raise TypeError(f"payload must be a mapping; got {type(payload).__name__}")
    reserved = {"files", "manifest_version", "created"} & set(payload)
    if reserved:
        raise ValueError(f"payload must not contain reserved keys; got {sorted(reserved)}")
    names = _regular_files(root) if files is None else sorted(files)
    records = {}
    for name in names:
        if not (root / name).is_file():
            raise ValueError(f"file {name!r} listed for the manifest is missing from {str(root)!r}")
        records[name] = file_record(root / name)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **dict(payload),
        "files": records,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return atomic_write_text(root / MANIFEST_NAME, text)


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return the parsed ``manifest.json`` of ``directory``, or ``None`` if absent.

    Raises
    ------
    ValueError
        If the manifest exists but is not a JSON object.
    """
    path = _as_path(directory, "directory") / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"manifest {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"manifest {str(path)!r} must hold a JSON object; got {type(manifest).__name__}")
    return manifest


def files_match_manifest(directory: str | os.PathLike[str], manifest: Mapping[str, Any] | None) -> bool:
    """Whether every file the manifest lists is present with its recorded size and mtime.

    This is the cheap check used to skip re-preparing: it does not re-hash.
    """
    if not manifest or not isinstance(manifest.get("files"), Mapping) or not manifest["files"]:
        return False
    root = _as_path(directory, "directory")
    for name, record in manifest["files"].items():
        try:
            stat = (root / name).stat()
        except OSError:
            return False
        if not isinstance(record, Mapping):
            return False
        if stat.st_size != record.get("size") or stat.st_mtime_ns != record.get("mtime_ns"):
            return False
    return True
