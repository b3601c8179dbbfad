"""Recognise a path as an image dataset layout; read the folder-of-files layouts.

:func:`detect_layout` looks only at file names; :func:`open_layout` builds the
:class:`~ior.data.image_readers.ImageLayout`.  Layouts: CIFAR-10/CIFAR-100
pickles and ``.npz`` files (read in :mod:`ior.data.image_readers`),
TinyImageNet-200 and an image folder ``<root>/<split>/<class>/*.png|jpg|jpeg``
(decoded here with Pillow, only for the rows asked for, so holding out 10,000
TinyImageNet validation images does not decode the other 90,000).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ior.data.image_readers import FOLDER_SPLITS, ImageLayout, SplitSource, cifar_layout, npz_layout

__all__ = ["decode_image_files", "detect_layout", "open_layout"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_GRAY_MODES = ("1", "L")


def decode_image_files(files: Sequence[Path], mode: str) -> np.ndarray:
    """Decode image files with Pillow into ``uint8`` [n, C, H, W]; ``mode`` is ``"L"`` or ``"RGB"``.

    Raises
    ------
    ValueError
        An unreadable file, or images of different sizes.
    """
    from PIL import Image, UnidentifiedImageError

    channels = 1 if mode == "L" else 3
    out: np.ndarray | None = None
    for i, file in enumerate(files):
        try:
            with Image.open(file) as image:
                array = np.asarray(image.convert(mode))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ValueError(f"cannot read image {str(file)!r}: {exc}") from None
        if out is None:
            out = np.empty((len(files), channels, *array.shape[:2]), dtype=np.uint8)
        if array.shape[:2] != out.shape[2:]:
            raise ValueError(
                f"images differ in size: {str(file)!r} is {array.shape[1]}x{array.shape[0]}, "
                f"{str(files[0])!r} is {out.shape[3]}x{out.shape[2]}; resize them first"
            )
        out[i] = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return np.zeros((0, channels, 0, 0), dtype=np.uint8) if out is None else out


def _file_source(files: list[Path], labels: list[int], names: tuple[str, ...], mode: str) -> SplitSource:
    def take(idx: np.ndarray | None) -> np.ndarray:
        return decode_image_files(files if idx is None else [files[int(i)] for i in idx], mode)

    return SplitSource(np.asarray(labels, dtype=np.int64), names, take)


def _interleave(per_class: Sequence[Sequence[Path]]) -> tuple[list[Path], list[int]]:
    """Round-robin over classes, so that the first rows of a split cover every class."""
    files, labels = [], []
    for rank in range(max((len(f) for f in per_class), default=0)):
        for label, class_files in enumerate(per_class):
            if rank < len(class_files):
                files.append(class_files[rank])
                labels.append(label)
    return files, labels


# ----------------------------------------------------------------------------- TinyImageNet


def _tiny_layout(root: Path) -> ImageLayout:
    wnids = sorted({line.strip() for line in (root / "wnids.txt").read_text("utf-8").splitlines() if line.strip()})
    if not wnids:
        raise ValueError(f"{str(root / 'wnids.txt')!r} lists no classes")
    index = {w: i for i, w in enumerate(wnids)}
    words: dict[str, str] = {}
    if (root / "words.txt").is_file():
        for line in (root / "words.txt").read_text("utf-8").splitlines():
            wnid, _, text = line.partition("\t")
            words[wnid.strip()] = text.split(",")[0].strip()
    names = [words.get(w) or w for w in wnids]
    names = tuple(n if names.count(n) == 1 else f"{n} ({w})" for n, w in zip(names, wnids))

    def train() -> SplitSource:
        per_class = []
        for wnid in wnids:
            folder = root / "train" / wnid / "images"
            if not folder.is_dir():
                raise ValueError(f"TinyImageNet class folder missing: {str(folder)!r}")
            per_class.append(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        return _file_source(*_interleave(per_class), names, "RGB")

    def val() -> SplitSource:
        annotations = root / "val" / "val_annotations.txt"
        if not annotations.is_file():
            raise ValueError(f"TinyImageNet annotations missing: {str(annotations)!r}")
        files, labels = [], []
        for line_no, line in enumerate(annotations.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2 or fields[1] not in index:
                raise ValueError(f"{str(annotations)!r} line {line_no}: expected 'file<TAB>wnid' with a known wnid")
            files.append(root / "val" / "images" / fields[0])
            labels.append(index[fields[1]])
        return _file_source(files, labels, names, "RGB")

    # The official test split has no labels, so the labelled val split serves as test.
    return ImageLayout("tinyimagenet", "TinyImageNet", {"train": train, "test": val})


# ----------------------------------------------------------------------------- image folder


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folder_splits(root: Path) -> dict[str, Path]:
    found = {}
    for split, candidates in FOLDER_SPLITS.items():
        for candidate in candidates:
            folder = root / candidate
            if folder.is_dir() and any(_images_in(c) for c in _class_dirs(folder)):
                found[split] = folder
                break
    return found


def _image_folder_layout(root: Path, split_dirs: dict[str, Path]) -> ImageLayout:
    classes = sorted({c.name for folder in split_dirs.values() for c in _class_dirs(folder)})

    def reader(folder: Path) -> Callable[[], SplitSource]:
        def read() -> SplitSource:
            from PIL import Image

            per_class = [_images_in(folder / c) if (folder / c).is_dir() else [] for c in classes]
            files, labels = _interleave(per_class)
            modes = set()
            for file in files:
                try:
                    with Image.open(file) as image:
                        modes.add(image.mode)
                except OSError as exc:
                    raise ValueError(f"cannot read image {str(file)!r}: {exc}") from None
            return _file_source(files, labels, tuple(classes), "L" if modes <= set(_GRAY_MODES) else "RGB")
        return read

    return ImageLayout(root.name, "image-folder", {s: reader(f) for s, f in split_dirs.items()})


# ----------------------------------------------------------------------------- dispatch


def detect_layout(path: Path) -> tuple[str, Path] | None:
    """Recognise ``path`` from its file names alone: ``(kind, root)`` or ``None``.

    Kinds: ``"CIFAR-10"``, ``"CIFAR-100"``, ``"TinyImageNet"``, ``"npz"`` (one
    file), ``"npz-folder"``, ``"image-folder"``.  A CIFAR or TinyImageNet folder
    may be given through its parent (``cifar-10-batches-py/``,
    ``cifar-100-python/``, ``tiny-imagenet-200/``).
    """
    if path.is_file():
        return ("npz", path) if path.suffix.lower() == ".npz" else None
    if not path.is_dir():
        return None
    for child in ("cifar-10-batches-py", "cifar-100-python", "tiny-imagenet-200"):
        if (path / child).is_dir():
            return detect_layout(path / child)
    if (path / "batches.meta").is_file():
        return "CIFAR-10", path
    if (path / "meta").is_file() and ((path / "train").is_file() or (path / "test").is_file()):
        return "CIFAR-100", path
    if (path / "wnids.txt").is_file():
        return "TinyImageNet", path
    if _npz_files(path):
        return "npz-folder", path
    if _folder_splits(path):
        return "image-folder", path
    return None


def _npz_files(path: Path) -> dict[str, Path]:
    found = {}
    for split, candidates in FOLDER_SPLITS.items():
        files = [path / f"{c}.npz" for c in candidates if (path / f"{c}.npz").is_file()]
        if files:
            found[split] = files[0]
    return found


def open_layout(path: Path) -> ImageLayout | None:
    """The :class:`ImageLayout` at ``path`` (see :func:`detect_layout`), or ``None``.

    A single ``.npz`` file serves every split.
    """
    detected = detect_layout(path)
    if detected is None:
        return None
    kind, root = detected
    if kind in ("CIFAR-10", "CIFAR-100"):
        return cifar_layout(root, kind)
    if kind == "TinyImageNet":
        return _tiny_layout(root)
    if kind == "npz":
        return npz_layout({split: root for split in FOLDER_SPLITS}, root.stem, kind)
    if kind == "npz-folder":
        return npz_layout(_npz_files(root), root.name, kind)
    return _image_folder_layout(root, _folder_splits(root))
