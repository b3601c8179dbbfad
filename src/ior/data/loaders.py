"""Text classification datasets: one immutable container and one loading entry point.

:func:`load_text_dataset` turns a *spec* into a :class:`TextDataset`:

- ``"rt"`` / ``"rotten_tomatoes"``: the Rotten Tomatoes splits prepared by
  ``ior data prepare`` (see :mod:`ior.data.rotten_tomatoes`);
- ``"trec"`` (TREC-6) and ``"r8"`` (Reuters-21578 R8): the multi-class splits it also prepares
  (see :mod:`ior.data.text_sources`);
- a path to a ``.csv``, ``.tsv``, ``.jsonl``/``.json`` (JSON lines) or
  ``.parquet`` file (``split`` is then not used to pick rows);
- a directory holding ``<split>.csv|.tsv|.jsonl|.json|.parquet``;
- a directory written by HF ``Dataset.save_to_disk`` or
  ``DatasetDict.save_to_disk``;
- ``"hf:NAME"`` or ``"hf:NAME:CONFIG"``: ``datasets.load_dataset`` (needs the hub).

Texts that are empty or whitespace-only are kept: the attack layer skips and
counts them, so dropping them here would hide them from the report.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ior.data.cache import read_manifest, sha256_file
from ior.data.labels import encode_labels
from ior.data.readers import check_encoding, find_split_file, is_saved_hf_dataset, read_hf_columns, read_table
from ior.data.rotten_tomatoes import LABEL_NAMES as RT_LABEL_NAMES
from ior.data.rotten_tomatoes import SPLITS as RT_SPLITS
from ior.data.rotten_tomatoes import rt_dir
from ior.data.text_sources import TEXT_SOURCES, text_dataset_dir

__all__ = ["PREPARED_TEXT_DATASETS", "TextDataset", "is_prepared_text_dataset", "load_text_dataset"]

logger = logging.getLogger(__name__)

RT_ALIASES = ("rt", "rotten_tomatoes")
#: Every name of a dataset ``ior data prepare`` builds, mapped to its canonical name.
PREPARED_TEXT_DATASETS = {alias: "rotten_tomatoes" for alias in RT_ALIASES} | {
    "trec": "trec", "trec6": "trec", "trec-6": "trec", "r8": "r8", "reuters-r8": "r8"}


def is_prepared_text_dataset(spec: object) -> bool:
    """True when ``spec`` names a text dataset ``ior data prepare`` builds (``rt``, ``trec``, ``r8``)."""
    return isinstance(spec, str) and spec.strip().lower() in PREPARED_TEXT_DATASETS


@dataclass(frozen=True, repr=False)
class TextDataset:
    """An immutable labelled text (or text-pair) classification split.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"rotten_tomatoes"``.
    split : str
        Split name, e.g. ``"test"``.
    texts : tuple of str
        The N input texts; empty strings are allowed.
    labels : tuple of int
        The N labels, each in ``range(len(label_names))``.
    label_names : tuple of str
        Class names; ``label_names[k]`` names label ``k``.
    text_pairs : tuple of str, optional
        Second segment of each input for pair tasks (NLI, paraphrase).
    manifest_sha256 : str, optional
        For prepared datasets, the split file's sha256 as recorded in the
        cache manifest; ``None`` for ad-hoc sources.

    Examples
    --------
    >>> ds = TextDataset("toy", "test", ("good", "bad"), (1, 0), ("neg", "pos"))
    >>> len(ds), ds.num_labels, ds.head(1).texts
    (2, 2, ('good',))
    """

    name: str
    split: str
    texts: tuple[str, ...] = field(repr=False)
    labels: tuple[int, ...] = field(repr=False)
    label_names: tuple[str, ...]
    text_pairs: tuple[str, ...] | None = field(default=None, repr=False)
    manifest_sha256: str | None = None

    def __post_init__(self) -> None:
        for attr in ("name", "split"):
            if not isinstance(getattr(self, attr), str):
                raise TypeError(f"{attr} must be a str; got {type(getattr(self, attr)).__name__}")
        # Frozen, but accept lists from callers: store tuples so the object stays immutable.
        object.__setattr__(self, "texts", _str_tuple(self.texts, "texts"))
        object.__setattr__(self, "label_names", _str_tuple(self.label_names, "label_names"))
        if not self.label_names:
            raise ValueError("label_names must not be empty")
        if len(set(self.label_names)) != len(self.label_names):
            raise ValueError(f"label_names must be unique; got {self.label_names}")
        labels = tuple(self.labels)
        for i, label in enumerate(labels):
            if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
                raise TypeError(f"labels must be ints; got {type(label).__name__} at index {i}")
            if not 0 <= label < len(self.label_names):
                raise ValueError(
                    f"label {int(label)} at index {i} is out of range; expected 0..{len(self.label_names) - 1}"
                )
        object.__setattr__(self, "labels", tuple(int(label) for label in labels))
        if len(self.labels) != len(self.texts):
            raise ValueError(f"texts and labels differ in length: {len(self.texts)} != {len(self.labels)}")
        if self.text_pairs is not None:
            object.__setattr__(self, "text_pairs", _str_tuple(self.text_pairs, "text_pairs"))
            if len(self.text_pairs) != len(self.texts):
                raise ValueError(
                    f"texts and text_pairs differ in length: {len(self.texts)} != {len(self.text_pairs)}"
                )
        if self.manifest_sha256 is not None and not isinstance(self.manifest_sha256, str):
            raise TypeError(f"manifest_sha256 must be a str or None; got {type(self.manifest_sha256).__name__}")

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        pairs = ", pairs" if self.text_pairs is not None else ""
        return (
            f"TextDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"label_names={self.label_names!r}{pairs})"
        )

    @property
    def num_labels(self) -> int:
        """Number of classes, ``len(label_names)``."""
        return len(self.label_names)

    def subset(self, indices: Sequence[int] | np.ndarray) -> TextDataset:
        """Rows at ``indices`` (in that order; repeats allowed) as a new dataset."""
        if isinstance(indices, np.ndarray):
            if indices.ndim != 1:
                raise ValueError(f"indices must be one-dimensional; got shape {indices.shape}")
            indices = indices.tolist()
        picked = []
        for position, index in enumerate(indices):
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise TypeError(f"indices must be ints; got {type(index).__name__} at position {position}")
            if not 0 <= index < len(self):
                raise ValueError(f"index {index} at position {position} is out of range for {len(self)} rows")
            picked.append(int(index))
        return TextDataset(
            name=self.name,
            split=self.split,
            texts=tuple(self.texts[i] for i in picked),
            labels=tuple(self.labels[i] for i in picked),
            label_names=self.label_names,
            text_pairs=None if self.text_pairs is None else tuple(self.text_pairs[i] for i in picked),
            manifest_sha256=self.manifest_sha256,
        )

    def head(self, n: int) -> TextDataset:
        """The first ``n`` rows (all rows when ``n >= len(self)``)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"n must be an int; got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0; got {n}")
        return self.subset(range(min(int(n), len(self))))

    def fingerprint(self) -> str:
        """sha256 (hex) over the texts, text pairs (if any) and labels, in order.

        Each string is length-prefixed so that different row contents can not
        produce the same byte stream.  Names and label names are not included.
        """
        digest = hashlib.sha256()
        pairs = self.text_pairs if self.text_pairs is not None else (None,) * len(self)
        for text, pair, label in zip(self.texts, pairs, self.labels):
            for part in (text, pair):
                if part is not None:
                    data = part.encode("utf-8")
                    digest.update(b"%d:" % len(data) + data)
            digest.update(b"|%d\n" % label)
        return digest.hexdigest()


def _str_tuple(values: Any, name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence of str, not a single str")
    result = tuple(values)
    for i, value in enumerate(result):
        if not isinstance(value, str):
            raise TypeError(f"{name} must contain str; got {type(value).__name__} at index {i}")
    return result


def _texts(values: Sequence[Any], column: str, source: str) -> tuple[str, ...]:
    texts = []
    missing = 0
    for row, value in enumerate(values):
        if value is None:
            missing += 1
            texts.append("")
        elif isinstance(value, str):
            texts.append(value)
        else:
            raise TypeError(f"text in column {column!r} (row {row}) must be a str; got {type(value).__name__}")
    if missing:
        warnings.warn(
            f"{missing} missing values in column {column!r} of {source} were read as empty texts",
            stacklevel=3,
        )
    return tuple(texts)


def _build(
    columns: dict[str, list[Any]],
    *,
    name: str,
    split: str,
    source: str,
    text_column: str,
    text_pair_column: str | None,
    label_column: str,
    label_names: Sequence[str] | None,
    manifest_sha256: str | None = None,
) -> TextDataset:
    wanted = [text_column, label_column] + ([text_pair_column] if text_pair_column else [])
    for column in wanted:
        if column not in columns:
            raise ValueError(
                f"column {column!r} not found in {source}; available columns: {', '.join(columns)}"
            )
    if not columns[text_column]:
        raise ValueError(f"no rows in {source}")
    labels, names = encode_labels(columns[label_column], column=label_column, label_names=label_names)
    return TextDataset(
        name=name,
        split=split,
        texts=_texts(columns[text_column], text_column, source),
        labels=labels,
        label_names=names,
        text_pairs=None if text_pair_column is None else _texts(columns[text_pair_column], text_pair_column, source),
        manifest_sha256=manifest_sha256,
    )


def load_text_dataset(
    spec: str | os.PathLike[str],
    split: str = "test",
    *,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    label_names: Sequence[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    encoding: str | None = None,
) -> TextDataset:
    """Load one split of a text classification dataset (see the module docstring for ``spec``).

    Parameters
    ----------
    spec : str or os.PathLike
        ``"rt"``/``"rotten_tomatoes"``, ``"trec"``, ``"r8"``, ``"hf:NAME[:CONFIG]"``, a data file or a
        directory.
    split : str, default "test"
        Split to load; recorded as given when ``spec`` is a single file.
    text_column, text_pair_column, label_column : str
        Column names; ``text_pair_column`` is only read when given.
    label_names : sequence of str, optional
        Class names; string labels are mapped through them.  Defaults to the
        ClassLabel names of an HF dataset, else the sorted unique string labels.
    cache : str or os.PathLike, optional
        Cache root for the prepared datasets (see :func:`ior.data.cache.cache_dir`).
    encoding : str, optional
        Character encoding of a local CSV/TSV/JSON file (``latin-1``, ``cp1252``, ...); default UTF-8.

    Returns
    -------
    TextDataset

    Raises
    ------
    ValueError
        Missing or empty file, missing column, bad labels, unknown split.
    RuntimeError
        A prepared dataset requested but not prepared (run ``ior data prepare``).
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"spec must be a str or os.PathLike; got {type(spec).__name__}")
    if not isinstance(split, str) or not split:
        raise ValueError(f"split must be a non-empty str; got {split!r}")
    for argument, value in (("text_column", text_column), ("label_column", label_column)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{argument} must be a non-empty str; got {value!r}")
    if text_pair_column is not None and (not isinstance(text_pair_column, str) or not text_pair_column):
        raise ValueError(f"text_pair_column must be a non-empty str or None; got {text_pair_column!r}")
    check_encoding(encoding)
    columns = {"text_column": text_column, "text_pair_column": text_pair_column, "label_column": label_column}

    if is_prepared_text_dataset(spec):
        return _load_prepared(PREPARED_TEXT_DATASETS[spec.strip().lower()], split, cache=cache,
                              label_names=label_names, **columns)
    if isinstance(spec, str) and spec.startswith("hf:"):
        return _load_hub(spec, split, label_names=label_names, **columns)
    path = Path(os.fspath(spec)).expanduser()
    if path.is_dir():
        if is_saved_hf_dataset(path):
            return _load_saved_hf(path, split, label_names=label_names, **columns)
        file = find_split_file(path, split)
        return _build(read_table(file, encoding=encoding), name=path.name, split=split, source=repr(str(file)),
                      label_names=label_names, **columns)
    if not path.exists():
        raise ValueError(
            f"dataset not found: {str(spec)!r} is not 'rt', 'trec', 'r8', 'hf:NAME[:CONFIG]', an existing file "
            "or a directory"
        )
    return _build(read_table(path, encoding=encoding), name=path.stem, split=split, source=repr(str(path)),
                  label_names=label_names, **columns)


def _load_prepared(name: str, split: str, *, cache: Any, label_names: Sequence[str] | None,
                   **columns: Any) -> TextDataset:
    """A split of a dataset ``ior data prepare`` built, checked against its manifest's sha256."""
    if split not in RT_SPLITS:
        raise ValueError(f"split {split!r} not available for {name}; choose from {', '.join(RT_SPLITS)}")
    directory = rt_dir(cache) if name == "rotten_tomatoes" else text_dataset_dir(name, cache)
    title = "Rotten Tomatoes" if name == "rotten_tomatoes" else TEXT_SOURCES[name][5]
    file = directory / f"{split}.jsonl"
    try:
        manifest = read_manifest(directory)
    except ValueError:
        manifest = None
    record = (manifest or {}).get("files", {}).get(file.name)
    if record is None or not file.is_file():
        raise RuntimeError(f"{title} is not prepared in {str(directory)!r}; run `ior data prepare`")
    if sha256_file(file) != record.get("sha256"):
        raise RuntimeError(f"{str(file)!r} changed since it was prepared; run `ior data prepare` to rebuild it")
    prepared_names = RT_LABEL_NAMES if name == "rotten_tomatoes" else tuple(manifest["label_names"])
    return _build(read_table(file), name=name, split=split, source=repr(str(file)),
                  label_names=prepared_names if label_names is None else label_names,
                  manifest_sha256=record["sha256"], **columns)


def _load_saved_hf(path: Path, split: str, *, label_names: Sequence[str] | None, **columns: Any) -> TextDataset:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ValueError(f"split {split!r} not found in {str(path)!r}; available splits: {', '.join(loaded)}")
        loaded = loaded[split]
    return _from_hf(loaded, name=path.name, split=split, source=repr(str(path)), label_names=label_names, **columns)


def _load_hub(spec: str, split: str, *, label_names: Sequence[str] | None, **columns: Any) -> TextDataset:
    parts = spec[len("hf:"):].split(":")
    if len(parts) > 2 or not parts[0] or (len(parts) == 2 and not parts[1]):
        raise ValueError(f"hub spec must be 'hf:NAME' or 'hf:NAME:CONFIG'; got {spec!r}")
    import datasets

    logger.info("loading %s split %s with datasets.load_dataset", spec, split)
    loaded = datasets.load_dataset(parts[0], parts[1] if len(parts) == 2 else None, split=split)
    return _from_hf(loaded, name=spec, split=split, source=repr(spec), label_names=label_names, **columns)


def _from_hf(dataset: Any, *, name: str, split: str, source: str, label_names: Sequence[str] | None,
             text_column: str, text_pair_column: str | None, label_column: str) -> TextDataset:
    import datasets

    wanted = [text_column, label_column] + ([text_pair_column] if text_pair_column else [])
    data, features = read_hf_columns(dataset, wanted, source=source)
    label_feature = features[label_column]
    if label_names is None and isinstance(label_feature, datasets.ClassLabel):
        label_names = tuple(label_feature.names)
    return _build(data, name=name, split=split, source=source, text_column=text_column,
                  text_pair_column=text_pair_column, label_column=label_column, label_names=label_names)
