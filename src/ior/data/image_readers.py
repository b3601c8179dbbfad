"""Array-backed image formats (CIFAR pickles, ``.npz``) and the stratified validation hold-out.

A layout (see :mod:`ior.data.image_layouts`) offers its native splits as
:class:`SplitSource` objects whose labels are known up front and whose pixels
are produced only for the rows asked for, ``uint8`` (0-255) or float (0-1) in
[N, C, H, W].  :mod:`ior.data.images` turns them into an
:class:`~ior.data.images.ImageDataset`.

CIFAR batches are Python pickles, and unpickling can run code named by the
file: give only trusted files.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FOLDER_SPLITS",
    "ImageLayout",
    "SplitSource",
    "array_source",
    "cifar_layout",
    "npz_bytes",
    "npz_layout",
    "read_npz",
    "stratified_holdout",
]

VALIDATION_FRACTION = 0.1
#: Split names, and the folder or file stems accepted for each, in order of preference.
FOLDER_SPLITS = {"train": ("train",), "validation": ("validation", "val"), "test": ("test",)}


@dataclass(frozen=True)
class SplitSource:
    """One native split: labels now, pixels on demand.

    ``take(None)`` returns every image, ``take(indices)`` those rows, as an
    array [n, C, H, W] of ``uint8`` (0-255) or float (0-1).
    """

    labels: np.ndarray
    label_names: tuple[str, ...]
    take: Callable[[np.ndarray | None], np.ndarray]
    manifest_sha256: str | None = None


@dataclass(frozen=True)
class ImageLayout:
    """A recognised dataset: its name, kind, native splits and validation hold-out.

    ``holdout`` (an int count or a float fraction of train) is used when
    ``"validation"`` is not among ``splits``; train then loses those rows.
    """

    name: str
    kind: str
    splits: Mapping[str, Callable[[], SplitSource]]
    holdout: int | float = VALIDATION_FRACTION


def array_source(x: np.ndarray, y: np.ndarray, names: Sequence[str], sha256: str | None = None) -> SplitSource:
    """A :class:`SplitSource` over arrays already in memory."""
    return SplitSource(np.asarray(y, dtype=np.int64), tuple(names),
                       lambda idx: x if idx is None else x[idx], sha256)


def stratified_holdout(labels: Sequence[int] | np.ndarray, size: int | float, *,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into kept and held-out parts with the class proportions of ``labels``.

    Parameters
    ----------
    labels : array-like of int, shape [N]
    size : int or float
        Rows to hold out: an int ``0 < size < N``, or a fraction ``0 < size < 1``
        (``floor(N * size + 0.5)`` rows).  Class ``c`` with ``n_c`` rows gives
        ``floor(n_c * size / N)`` rows, and the rows still missing go to the
        classes with the largest remainders (ties: lower label first), so a
        balanced set of 60,000 with ``size=5000`` gives exactly 500 per class.
    seed : int, default 0
        ``numpy.random.default_rng(seed)`` permutes each class, in label order;
        the first rows of each permutation are held out.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Kept and held-out row indices, int64, each sorted ascending; disjoint
        and together covering ``range(N)``.

    Examples
    --------
    >>> keep, held = stratified_holdout([0, 0, 0, 0, 1, 1, 1, 1], 0.5, seed=0)
    >>> len(keep), len(held), sorted(int(v) for v in np.asarray([0, 0, 0, 0, 1, 1, 1, 1])[held])
    (4, 4, [0, 0, 1, 1])
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    y = np.asarray(labels)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.size == 0):
        raise ValueError(f"labels must be a one-dimensional integer array; got shape {y.shape}, dtype {y.dtype}")
    n = len(y)
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise TypeError(f"size must be an int or a float; got {type(size).__name__}")
    if isinstance(size, (float, np.floating)):
        if not 0 < size < 1:
            raise ValueError(f"size as a fraction must lie in (0, 1); got {size}")
        total = int(np.floor(n * float(size) + 0.5))
    else:
        total = int(size)
    if not 0 < total < n:
        raise ValueError(f"size must hold out between 1 and {n - 1} of {n} rows; got {size} ({total} rows)")
    classes, counts = np.unique(y, return_counts=True)
    quota, remainder = np.divmod(counts.astype(np.int64) * total, n)
    # Largest remainders first; a stable sort keeps lower labels first among ties.
    order = np.argsort(-remainder, kind="stable")
    quota[order[: total - int(quota.sum())]] += 1
    rng = np.random.default_rng(int(seed))
    held = [np.flatnonzero(y == c)[rng.permutation(k)[:q]] for c, k, q in zip(classes, counts, quota)]
    held_idx = np.sort(np.concatenate(held)).astype(np.int64)
    mask = np.ones(n, dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask).astype(np.int64), held_idx


# ----------------------------------------------------------------------------- CIFAR


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        with open(path, "rb") as handle:
            obj = pickle.load(handle, encoding="bytes")
    except FileNotFoundError:
        raise ValueError(f"CIFAR file not found: {str(path)!r}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError) as exc:
        raise ValueError(f"cannot unpickle {str(path)!r}: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{str(path)!r} must hold a pickled dict; got {type(obj).__name__}")
    return obj


def _entry(obj: dict[Any, Any], key: str, path: Path) -> Any:
    for candidate in (key.encode("ascii"), key):
        if candidate in obj:
            return obj[candidate]
    raise ValueError(f"{str(path)!r} has no {key!r} entry")


def _names(values: Any) -> tuple[str, ...]:
    return tuple(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values)


def _cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    obj = _unpickle(path)
    data = np.asarray(_entry(obj, "data", path))
    labels = np.asarray(_entry(obj, label_key, path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{str(path)!r}: data must be uint8 [N, 3072]; got {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{str(path)!r}: {label_key} must be {len(data)} integers; got shape {labels.shape}")
    # Each row holds the red, green and blue 32x32 planes in turn, each row-major.
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def cifar_layout(root: Path, kind: str) -> ImageLayout:
    """The layout of a CIFAR-10 (``kind="CIFAR-10"``) or CIFAR-100 (``"CIFAR-100"``) python folder."""
    if kind == "CIFAR-10":
        meta, names_key, label_key = "batches.meta", "label_names", "labels"
        files = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    else:
        meta, names_key, label_key = "meta", "fine_label_names", "fine_labels"
        files = {"train": ["train"], "test": ["test"]}

    def reader(names_in_split: list[str]) -> Callable[[], SplitSource]:
        def read() -> SplitSource:
            label_names = _names(_entry(_unpickle(root / meta), names_key, root / meta))
            parts = [_cifar_batch(root / name, label_key) for name in names_in_split]
            return array_source(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                                label_names)
        return read

    return ImageLayout(kind.lower().replace("-", ""), kind, {s: reader(f) for s, f in files.items()})


# ----------------------------------------------------------------------------- npz


def _to_nchw(x: np.ndarray, source: str) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x
    raise ValueError(f"{source}: x must be [N, H, W], [N, H, W, C] or [N, C, H, W]; got shape {x.shape}")


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...] | None]:
    """Read ``x`` (as [N, C, H, W]), ``y`` (int64) and optional ``label_names`` from an ``.npz`` file."""
    source = repr(str(path))
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in ("x", "y", "label_names") if key in archive.files}
            found = archive.files
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read {source} as an npz file: {exc}") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise ValueError(f"{source} has no array {key!r}; found: {', '.join(found) or 'none'}")
    x, y = arrays["x"], arrays["y"]
    names = _names(arrays["label_names"].tolist()) if "label_names" in arrays else None
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{source}: x must be uint8 (0-255) or float (0-1); got {x.dtype}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{source}: y must be a one-dimensional integer array; got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{source}: x and y differ in length: {len(x)} != {len(y)}")
    return _to_nchw(x, source), y.astype(np.int64), names


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The bytes of an ``.npz`` file holding ``arrays``, deflated, with fixed timestamps.

    Unlike :func:`numpy.savez_compressed`, equal arrays give equal bytes (and sha256).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def npz_layout(files: dict[str, Path], name: str, kind: str) -> ImageLayout:
    """The layout of ``.npz`` files, one per split; without ``label_names``, classes are named ``"0".."max y"``."""
    def read_names() -> tuple[str, ...]:
        labels, given = [], None
        for file in files.values():
            with np.load(file, allow_pickle=False) as archive:
                labels.append(int(archive["y"].max(initial=0)) if "y" in archive.files else 0)
                if given is None and "label_names" in archive.files:
                    given = _names(archive["label_names"].tolist())
        return given if given is not None else tuple(str(k) for k in range(max(labels) + 1))

    def reader(file: Path) -> Callable[[], SplitSource]:
        def read() -> SplitSource:
            x, y, names = read_npz(file)
            return array_source(x, y, names if names is not None else read_names())
        return read

    return ImageLayout(name, kind, {split: reader(file) for split, file in files.items()})
