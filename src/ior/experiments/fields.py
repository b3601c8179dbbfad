"""Checks of YAML values that name the offending field: every error is a :class:`SweepConfigError`
whose message starts with the field's path (``grid[1].methods[0]: ...``)."""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import fields

from ior.attacks.suite import canonical_attack


class SweepConfigError(ValueError):
    """An invalid sweep configuration; ``field`` is the path of the offending field."""

    def __init__(self, field_path: str, message: str, *, source: str = ""):
        self.field = field_path
        self.problem = message
        text = f"{field_path}: {message}" if field_path else message
        super().__init__(f"{source}: {text}" if source else text)


def join(path: str, name) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else str(name)


# ---------------------------------------------------------------------------------------------
# Scalar checks. YAML 1.1 reads ``1e6`` and ``1e-5`` as strings, so numeric strings are accepted.

def number(value, path: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SweepConfigError(path, f"must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SweepConfigError(path, f"must be a number, got {value!r}")
    return float(value)


def temperature(value, path: str) -> float:
    value = number(value, path)
    if not math.isfinite(value) or value <= 0:
        raise SweepConfigError(path, f"must be finite and > 0, got {value!r}")
    return value


def integer(value, path: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SweepConfigError(path, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise SweepConfigError(path, f"must be >= {minimum}, got {value!r}")
    return value


def string(value, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SweepConfigError(path, f"must be a non-empty string, got {value!r}")
    return value


def boolean(value, path: str) -> bool:
    if not isinstance(value, bool):
        raise SweepConfigError(path, f"must be true or false, got {value!r}")
    return value


def choice(value, allowed, path: str) -> str:
    if value not in allowed:
        raise SweepConfigError(path, f"must be one of {list(allowed)}, got {value!r}")
    return value


def axis(values, path: str, check) -> tuple:
    """A non-empty list of values (a scalar counts as a list of one), checked, duplicates removed."""
    if isinstance(values, (list, tuple)):
        items = list(values)
    else:
        items = [values]
    if not items:
        raise SweepConfigError(path, "must list at least one value")
    return tuple(dict.fromkeys(check(v, join(path, i)) for i, v in enumerate(items)))


def attack(value, path: str) -> str:
    try:
        return canonical_attack(string(value, path))
    except ValueError as exc:
        raise SweepConfigError(path, str(exc)) from None


def mapping(value, path: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SweepConfigError(path, f"must be a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise SweepConfigError(path, f"keys must be strings, got {key!r}")
    return dict(value)


def reject_unknown(data: Mapping, known, path: str) -> None:
    unknown = [k for k in data if k not in known]
    if unknown:
        where = join(path, unknown[0])
        raise SweepConfigError(where, f"unknown field; expected one of {sorted(known)}")


def typed(value, annotation: str, path: str):
    """Coerce a YAML value to a dataclass field's annotation (as a string, PEP 563)."""
    optional = annotation.endswith("| None")
    base = annotation.replace("| None", "").strip()
    if value is None:
        if optional:
            return None
        raise SweepConfigError(path, "must not be null")
    if base == "float":
        return number(value, path)
    if base == "int":
        return integer(value, path)
    if base == "bool":
        return boolean(value, path)
    if base == "str":
        if not isinstance(value, str):
            raise SweepConfigError(path, f"must be a string, got {value!r}")
        return value
    if base.startswith("tuple[float"):
        if not isinstance(value, (list, tuple)):
            raise SweepConfigError(path, f"must be a list of numbers, got {value!r}")
        return tuple(number(v, join(path, i)) for i, v in enumerate(value))
    if base.startswith("tuple[str"):
        return axis(value, path, string)
    raise SweepConfigError(path, f"cannot be set from a sweep config (type {annotation})")  # pragma: no cover


def overrides(data, cls, forbidden, path: str, *, extra=()) -> dict:
    """Check a mapping of dataclass-field overrides (``train`` or ``audit``)."""
    data = mapping(data, path)
    types = {f.name: f.type if isinstance(f.type, str) else typing.get_type_hints(cls)[f.name]
             for f in fields(cls)}
    for key in data:
        if key in forbidden:
            raise SweepConfigError(join(path, key), "is set by the sweep grid, not here")
    reject_unknown(data, (set(types) - set(forbidden)) | set(extra), path)
    return {k: (v if k in extra else typed(v, str(types[k]), join(path, k))) for k, v in data.items()}
