"""Image classification datasets: one immutable container and one loading entry point.

:func:`load_image_dataset` turns a *spec* into an :class:`ImageDataset`:

- ``"fashion-mnist"`` (``"fashion_mnist"``, ``"fmnist"``), ``"mnist"``: prepared
  by ``ior data prepare`` (see :mod:`ior.data.image_sources`); validation is
  5,000 train images held out with the class proportions (500 per class for
  Fashion-MNIST), train the other 55,000, test the standard 10,000;
- ``"cifar10-samples"``, ``"cifar100-samples"``: the 20 CIFAR test images of
  the ``foolbox==3.3.4`` wheel, also prepared; ``test`` split only;
- a CIFAR-10 folder (``data_batch_1..5``, ``test_batch``, ``batches.meta``) or
  a CIFAR-100 folder (``train``, ``test``, ``meta``), or their parent; these
  are Python pickles, and unpickling can run code: give only trusted files;
- a TinyImageNet-200 folder (or its parent): ``test`` is the labelled
  official ``val`` split (the official test has no labels);
- an image folder ``<root>/<split>/<class>/*.png|jpg|jpeg`` with ``train``,
  ``validation`` (or ``val``) and ``test`` sub-folders; classes are the sorted
  folder names; 8-bit images, all grayscale giving one channel, anything else
  RGB (alpha dropped).  Rows interleave the classes, so ``head(n)`` covers all
  (TinyImageNet train too);
- a folder of ``train.npz``/``validation.npz``/``test.npz``, or one ``.npz``
  file, which then serves *every* split as a whole.  Arrays: ``x`` (``uint8``
  0-255 or float 0-1; [N, H, W], [N, H, W, C] or [N, C, H, W]), ``y`` and
  optionally ``label_names``.

Wherever a layout has no validation split, 10% of train (5,000 of CIFAR's
50,000, 50 per TinyImageNet class) is held out by :func:`stratified_holdout`
with ``validation_seed``, and ``train`` is the rest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ior.data.cache import files_match_manifest, sha256_file
from ior.data.image_layouts import detect_layout, open_layout
from ior.data.image_readers import ImageLayout, SplitSource, array_source, read_npz, stratified_holdout
from ior.data.image_sources import image_dataset_dir, load_manifest, read_idx

__all__ = ["IMAGE_DATASET_NAMES", "ImageDataset", "is_image_dataset", "load_image_dataset", "stratified_holdout"]

SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: Accepted names of prepared image datasets, each mapped to its canonical name.
IMAGE_DATASET_NAMES = {
    "fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist",
    "mnist": "mnist", "cifar10-samples": "cifar10-samples", "cifar100-samples": "cifar100-samples",
}


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.setflags(write=False)
    return view


@dataclass(frozen=True, repr=False)
class ImageDataset:
    """An immutable labelled image classification split.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"fashion-mnist"``.
    split : str
        Split name, e.g. ``"test"``.
    images : numpy.ndarray
        float32 [N, C, H, W], values in [0, 1]; stored as a read-only view.
    labels : numpy.ndarray
        Integer [N], each in ``range(len(label_names))``; stored as read-only int64.
    label_names : tuple of str
        Class names; ``label_names[k]`` names label ``k``.
    manifest_sha256 : str, optional
        For prepared datasets, the sha256 of the split's image file as recorded
        in the cache manifest; ``None`` for other sources.

    Examples
    --------
    >>> ds = ImageDataset("toy", "test", np.zeros((2, 1, 2, 2), np.float32), np.array([1, 0]), ("a", "b"))
    >>> len(ds), ds.num_labels, ds.shape, ds.head(1).labels.tolist()
    (2, 2, (1, 2, 2), [1])
    """

    name: str
    split: str
    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    label_names: tuple[str, ...]
    manifest_sha256: str | None = None

    def __post_init__(self) -> None:
        for attr in ("name", "split"):
            if not isinstance(getattr(self, attr), str):
                raise TypeError(f"{attr} must be a str; got {type(getattr(self, attr)).__name__}")
        if isinstance(self.label_names, str) or not all(isinstance(n, str) for n in self.label_names):
            raise TypeError(f"label_names must be a sequence of str; got {self.label_names!r}")
        names = tuple(self.label_names)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"label_names must be non-empty and unique; got {names}")
        if not isinstance(self.images, np.ndarray):
            raise TypeError(f"images must be a numpy.ndarray; got {type(self.images).__name__}")
        images = self.images
        if images.ndim != 4:
            raise ValueError(f"images must be 4-D [N, C, H, W]; got shape {images.shape}")
        if images.dtype != np.float32:
            raise ValueError(f"images must be float32 in [0, 1]; got {images.dtype} (divide uint8 pixels by 255)")
        if images.size:
            low, high = float(images.min()), float(images.max())
            if not (low >= 0.0 and high <= 1.0):
                raise ValueError(f"pixel values must lie in [0, 1], got range [{low:g}, {high:g}]")
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer) or labels.size == 0):
            raise ValueError(f"labels must be a 1-D integer array; got {labels.dtype} with shape {labels.shape}")
        if len(labels) != len(images):
            raise ValueError(f"images and labels differ in length: {len(images)} != {len(labels)}")
        if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
            raise ValueError(f"labels out of range: got {int(labels.min())}..{int(labels.max())}, "
                             f"expected 0..{len(names) - 1}")
        if self.manifest_sha256 is not None and not isinstance(self.manifest_sha256, str):
            raise TypeError(f"manifest_sha256 must be a str or None; got {type(self.manifest_sha256).__name__}")
        object.__setattr__(self, "label_names", names)
        object.__setattr__(self, "images", _read_only(np.ascontiguousarray(images)))
        object.__setattr__(self, "labels", _read_only(np.ascontiguousarray(labels, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (f"ImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, shape={self.shape}, "
                f"num_labels={self.num_labels})")

    @property
    def num_labels(self) -> int:
        """Number of classes, ``len(label_names)``."""
        return len(self.label_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one image, ``(C, H, W)``."""
        return tuple(int(d) for d in self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageDataset:
        """Rows at ``indices`` (in that order; repeats allowed) as a new dataset."""
        index = np.asarray(indices)
        if index.ndim != 1:
            raise ValueError(f"indices must be one-dimensional; got shape {index.shape}")
        if index.size == 0:
            index = index.astype(np.int64)
        if not np.issubdtype(index.dtype, np.integer):
            raise TypeError(f"indices must be ints; got dtype {index.dtype}")
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            bad = int(index[(index < 0) | (index >= len(self))][0])
            raise ValueError(f"index {bad} is out of range for {len(self)} rows")
        return ImageDataset(self.name, self.split, self.images[index], self.labels[index], self.label_names,
                            self.manifest_sha256)

    def head(self, n: int) -> ImageDataset:
        """The first ``n`` rows (all rows when ``n >= len(self)``)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"n must be an int; got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0; got {n}")
        return self.subset(np.arange(min(int(n), len(self))))

    def fingerprint(self) -> str:
        """sha256 (hex) over the images' shape, their float32 bytes and the int64 labels.

        Names, split and label names are not included.
        """
        digest = hashlib.sha256(b"%r|" % (self.images.shape,))
        digest.update(np.ascontiguousarray(self.images, dtype="<f4").data)
        digest.update(b"|")
        digest.update(np.ascontiguousarray(self.labels, dtype="<i8").data)
        return digest.hexdigest()


def _canonical(spec: str | os.PathLike[str]) -> str | None:
    return IMAGE_DATASET_NAMES.get(spec.strip().lower()) if isinstance(spec, str) else None


def is_image_dataset(spec: object) -> bool:
    """Whether ``spec`` names a prepared image dataset or a path :func:`load_image_dataset` recognises.

    Only the layout is checked (file names), not the content.  ``"rt"``, text
    files and missing paths give ``False``.
    """
    if not isinstance(spec, (str, os.PathLike)):
        return False
    if _canonical(spec) is not None:
        return True
    try:
        return detect_layout(Path(os.fspath(spec)).expanduser()) is not None
    except OSError:
        return False


def load_image_dataset(
    spec: str | os.PathLike[str],
    split: str = "test",
    *,
    cache: str | os.PathLike[str] | None = None,
    validation_seed: int = 0,
) -> ImageDataset:
    """Load one split of an image classification dataset (see the module docstring for ``spec``).

    Parameters
    ----------
    spec : str or os.PathLike
        A prepared dataset name, a dataset folder or an ``.npz`` file.
    split : {"train", "validation", "test"}, default "test"
    cache : str or os.PathLike, optional
        Cache root of the prepared datasets (see :func:`ior.data.cache.cache_dir`).
    validation_seed : int, default 0
        Seed of the validation hold-out, where the layout has no validation
        split; it also decides which rows ``train`` keeps.

    Returns
    -------
    ImageDataset
        float32 images in [0, 1] ([N, C, H, W]) and int64 labels.

    Raises
    ------
    ValueError
        Unknown name, missing path, unrecognised layout, unknown or
        unavailable split, malformed files.
    RuntimeError
        A prepared dataset is requested but not prepared (run ``ior data prepare``).

    Examples
    --------
    >>> test = load_image_dataset("fashion-mnist", "test")  # doctest: +SKIP
    >>> len(test), test.shape, test.label_names[9]  # doctest: +SKIP
    (10000, (1, 28, 28), 'Ankle boot')
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"spec must be a str or os.PathLike; got {type(spec).__name__}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if isinstance(validation_seed, bool) or not isinstance(validation_seed, (int, np.integer)):
        raise TypeError(f"validation_seed must be an int; got {type(validation_seed).__name__}")
    name = _canonical(spec)
    if name is not None:
        return _load(_prepared_layout(name, cache), split, int(validation_seed))
    path = Path(os.fspath(spec)).expanduser()
    if not path.exists():
        raise ValueError(f"image dataset not found: {str(spec)!r} is not one of "
                         f"{', '.join(sorted(set(IMAGE_DATASET_NAMES.values())))} nor an existing file or folder")
    layout = open_layout(path)
    if layout is None:
        raise ValueError(f"{str(path)!r} is not a CIFAR-10/CIFAR-100/TinyImageNet/image-folder/npz layout")
    return _load(layout, split, int(validation_seed))


def _load(layout: ImageLayout, split: str, seed: int) -> ImageDataset:
    native = layout.splits
    index = None
    if split in native and not (split == "train" and "validation" not in native):
        source = native[split]()
    elif split in ("train", "validation") and "train" in native:
        source = native["train"]()
        keep, held = stratified_holdout(source.labels, layout.holdout, seed=seed)
        index = held if split == "validation" else keep
    else:
        raise ValueError(f"split {split!r} is not available for {layout.name}; available splits: "
                         f"{', '.join(s for s in SPLITS if s in native or (s == 'validation' and 'train' in native))}")
    pixels = source.take(index)
    if pixels.dtype == np.uint8:
        images = pixels.astype(np.float32)
        images /= np.float32(255)
    else:
        images = pixels.astype(np.float32, copy=False)
    labels = source.labels if index is None else source.labels[index]
    return ImageDataset(layout.name, split, images, labels, source.label_names, source.manifest_sha256)


def _prepared_layout(name: str, cache: str | os.PathLike[str] | None) -> ImageLayout:
    """The layout of a dataset prepared in ``<cache>/datasets/<name>`` (see :mod:`ior.data.image_sources`)."""
    directory = image_dataset_dir(name, cache)
    manifest = load_manifest(directory)
    if not files_match_manifest(directory, manifest) or "split_files" not in manifest:
        raise RuntimeError(f"{name} is not prepared (or its files changed) in {str(directory)!r}; "
                           f"run `ior data prepare`")
    names = tuple(manifest["label_names"])

    def reader(files: list[str]) -> Callable[[], SplitSource]:
        def read() -> SplitSource:
            for file in files:
                if sha256_file(directory / file) != manifest["files"][file]["sha256"]:
                    raise RuntimeError(f"{str(directory / file)!r} changed since it was prepared; "
                                       f"run `ior data prepare` to rebuild it")
            if len(files) == 2:  # IDX images and labels
                x, y = read_idx(directory / files[0])[:, None], read_idx(directory / files[1])
            else:
                x, y, _ = read_npz(directory / files[0])
            return array_source(x, y, names, manifest["files"][files[0]]["sha256"])
        return read

    splits = {split: reader(files) for split, files in manifest["split_files"].items()}
    return ImageLayout(name, name, splits, holdout=int(manifest.get("validation", {}).get("size", 1)))
