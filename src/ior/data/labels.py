"""Labels: turn raw label values (ints, integral floats, strings) into class indices.

Used by :mod:`ior.data.loaders`; every error names the column and the
0-based row so a user can find the offending cell.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["encode_labels"]

_INT_LITERAL = re.compile(r"[+-]?\d+")


def encode_labels(
    values: Sequence[Any],
    *,
    column: str = "label",
    label_names: Sequence[str] | None = None,
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Turn raw label values into class indices and label names.

    Integer values (or integral floats, or strings such as ``"1"``) are used as
    indices; other strings are looked up in ``label_names``, which defaults to
    the sorted unique string labels.  Without ``label_names``, integer labels
    get names ``"0" .. str(max)``.

    Returns
    -------
    (tuple of int, tuple of str)
        Labels and label names.

    Raises
    ------
    ValueError
        Missing, non-integer, out-of-range or unknown labels; the message names
        the column and the (0-based) row.
    """
    names = None if label_names is None else _check_label_names(label_names)
    raw: list[int | str] = []
    for row, value in enumerate(values):
        if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
            raise ValueError(f"missing label in column {column!r} (row {row})")
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"non-integer label {value!r} in column {column!r} (row {row})")
        if isinstance(value, (int, np.integer)):
            raw.append(int(value))
        elif isinstance(value, (float, np.floating)):
            if not float(value).is_integer():
                raise ValueError(f"non-integer label {value!r} in column {column!r} (row {row})")
            raw.append(int(value))
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                raise ValueError(f"missing label in column {column!r} (row {row})")
            raw.append(text)
        else:
            raise ValueError(f"non-integer label {value!r} in column {column!r} (row {row})")
    strings = sorted({value for value in raw if isinstance(value, str) and not _INT_LITERAL.fullmatch(value)})
    if names is None and strings:
        names = tuple(strings)
    labels: list[int] = []
    for row, value in enumerate(raw):
        if isinstance(value, str):
            if names is not None and value in names:
                labels.append(names.index(value))
                continue
            if not _INT_LITERAL.fullmatch(value):
                known = ", ".join(repr(name) for name in names or ())
                raise ValueError(f"unknown label {value!r} in column {column!r} (row {row}); known labels: {known}")
            value = int(value)
        labels.append(value)
    for row, label in enumerate(labels):
        upper = len(names) - 1 if names is not None else None
        if label < 0 or (upper is not None and label > upper):
            expected = f"0..{upper}" if upper is not None else ">= 0"
            raise ValueError(f"label {label} out of range in column {column!r} (row {row}); expected {expected}")
    if names is None:
        names = tuple(str(k) for k in range(max(labels) + 1)) if labels else ()
    return tuple(labels), names


def _check_label_names(label_names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(label_names, str):
        raise TypeError("label_names must be a sequence of str, not a single str")
    names = tuple(label_names)
    if not names:
        raise ValueError("label_names must not be empty")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"label_names must contain str; got {type(name).__name__}")
    if len(set(names)) != len(names):
        raise ValueError(f"label_names must be unique; got {names}")
    return names
