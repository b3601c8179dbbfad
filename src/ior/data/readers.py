"""Read local tables (CSV, TSV, JSON lines, Parquet, HF ``save_to_disk``) into columns.

Every reader returns ``dict[column name, list of values]`` with the columns in
file order, and raises a one-line :class:`ValueError` naming the file for an
empty file, a malformed row or an unreadable format.  Values are returned as
the file stores them: CSV/TSV cells are strings (empty cells are ``""``), JSON
and Parquet keep their types.  Interpreting labels is the loader's job.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "SPLIT_FILE_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "check_encoding",
    "find_split_file",
    "is_saved_hf_dataset",
    "read_hf_columns",
    "read_table",
]

#: File suffixes :func:`read_table` understands.
SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
#: Suffixes tried, in this order, for ``<directory>/<split><suffix>``.
SPLIT_FILE_SUFFIXES: tuple[str, ...] = SUPPORTED_SUFFIXES

Columns = dict[str, list[Any]]


def read_table(path: str | os.PathLike[str], *, encoding: str | None = None) -> Columns:
    """Read a local table file into columns, dispatching on its suffix.

    ``.csv`` is read with standard CSV quoting; ``.tsv`` is split on tabs with
    no quoting (quotes are text, as in GLUE/SST-2 files); ``.jsonl`` and
    ``.json`` hold one JSON object per line (a ``.json`` file holding a single
    top-level array of objects is accepted too); ``.parquet`` is read with
    pyarrow.

    ``encoding`` is the text files' character encoding (any Python codec name, e.g. ``latin-1`` or
    ``cp1252``); None reads UTF-8, a byte-order mark dropped. Parquet ignores it.

    Raises
    ------
    ValueError
        Missing, empty or malformed file, unsupported suffix, or no rows.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"unsupported file type {suffix or '(none)'!r} for {str(file)!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not file.is_file():
        raise ValueError(f"dataset file not found: {str(file)!r}")
    encoding = check_encoding(encoding)
    if file.stat().st_size == 0:
        raise ValueError(f"empty file: {str(file)!r}")
    if suffix == ".csv":
        columns = _read_delimited(file, delimiter=",", quoting=csv.QUOTE_MINIMAL, encoding=encoding)
    elif suffix == ".tsv":
        columns = _read_delimited(file, delimiter="\t", quoting=csv.QUOTE_NONE, encoding=encoding)
    elif suffix == ".parquet":
        columns = _read_parquet(file)
    else:
        columns = _read_json_lines(file, encoding=encoding)
    if not columns or not len(next(iter(columns.values()))):
        raise ValueError(f"no rows in {str(file)!r}")
    return columns


def check_encoding(encoding: str | None) -> str | None:
    """``encoding`` if Python knows the codec (None stays None: UTF-8); a one-line ValueError if not."""
    if encoding is None:
        return None
    import codecs

    try:
        return codecs.lookup(str(encoding)).name
    except LookupError:
        raise ValueError(f"unknown text encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)") from None


def _read_text(file: Path, encoding: str | None = None) -> str:
    # utf-8-sig drops the byte-order mark spreadsheet programs like to add.
    codec = "utf-8-sig" if encoding in (None, "utf-8") else encoding
    try:
        return file.read_text(encoding=codec)
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise ValueError(f"{str(file)!r} is not valid {'UTF-8' if codec == 'utf-8-sig' else encoding}: byte "
                         f"0x{exc.object[exc.start]:02x} on line {line}; give the file's encoding "
                         f"(--encoding latin-1, cp1252, ...)") from None


def _read_delimited(file: Path, *, delimiter: str, quoting: int, encoding: str | None = None) -> Columns:
    # newline="" lets csv see "\r\n" and quoted newlines untouched, as the csv docs ask.
    source = io.StringIO(_read_text(file, encoding), newline="")
    reader = csv.reader(source, delimiter=delimiter, quoting=quoting, strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise ValueError(f"empty file: {str(file)!r}")
        names = [cell.strip() for cell in header]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate column names {duplicates} in the header of {str(file)!r}")
        columns: Columns = {name: [] for name in names}
        for row in reader:
            if not row:
                continue
            if len(row) != len(names):
                raise ValueError(
                    f"line {reader.line_num} of {str(file)!r} has {len(row)} fields; "
                    f"the header has {len(names)}"
                )
            for name, cell in zip(names, row):
                columns[name].append(cell)
    except csv.Error as exc:
        raise ValueError(f"cannot parse {str(file)!r} near line {reader.line_num}: {exc}") from None
    return columns


def _read_json_lines(file: Path, *, encoding: str | None = None) -> Columns:
    text = _read_text(file, encoding)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{str(file)!r} is not valid JSON: {exc}") from None
        numbered = list(enumerate(records, start=1))
        where = "item"
    else:
        numbered = []
        for line_no, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((line_no, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {line_no} of {str(file)!r} is not valid JSON: {exc.msg}") from None
        where = "line"
    names: dict[str, None] = {}
    for number, record in numbered:
        if not isinstance(record, dict):
            raise ValueError(
                f"{where} {number} of {str(file)!r} must be a JSON object; got {type(record).__name__}"
            )
        names.update(dict.fromkeys(record))
    # A key absent from some records reads as None there, i.e. a missing value.
    return {name: [record.get(name) for _, record in numbered] for name in names}


def _read_parquet(file: Path) -> Columns:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"cannot read parquet file {str(file)!r}: {exc}") from None
    return table.to_pydict()


def is_saved_hf_dataset(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` looks like the output of HF ``save_to_disk``."""
    root = Path(directory)
    return (root / "dataset_dict.json").is_file() or (root / "state.json").is_file()


def read_hf_columns(dataset: Any, columns: list[str], *, source: str) -> tuple[Columns, dict[str, Any]]:
    """Columns of an HF :class:`datasets.Dataset`, plus the features of those columns.

    Raises
    ------
    ValueError
        A requested column is missing (the message lists the available ones)
        or the dataset has no rows.
    """
    available = list(dataset.column_names)
    for name in columns:
        if name not in available:
            raise ValueError(
                f"column {name!r} not found in {source}; available columns: {', '.join(available)}"
            )
    if len(dataset) == 0:
        raise ValueError(f"no rows in {source}")
    data = dataset.select_columns(columns).to_dict()
    features = {name: dataset.features[name] for name in columns}
    return data, features


def find_split_file(directory: str | os.PathLike[str], split: str) -> Path:
    """The single ``<directory>/<split><suffix>`` file, for a suffix in :data:`SPLIT_FILE_SUFFIXES`.

    Raises
    ------
    ValueError
        No such file (the message lists the data files present) or more than one.
    """
    root = Path(directory)
    matches = [root / f"{split}{suffix}" for suffix in SPLIT_FILE_SUFFIXES if (root / f"{split}{suffix}").is_file()]
    if len(matches) > 1:
        names = ", ".join(path.name for path in matches)
        raise ValueError(f"several files for split {split!r} in {str(root)!r}: {names}; keep one")
    if not matches:
        present = sorted(
            path.name for path in root.iterdir() if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES
        )
        expected = ", ".join(f"{split}{suffix}" for suffix in SPLIT_FILE_SUFFIXES)
        raise ValueError(
            f"no file for split {split!r} in {str(root)!r}: expected one of {expected}; "
            f"found: {', '.join(present) or 'no data files'}"
        )
    return matches[0]
