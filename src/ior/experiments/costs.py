"""What a cell costs: measured (the store), estimated (a file made before the sweep), and expected (for
``ior sweep --time-limit``, which starts a cell only if it is expected to finish inside the limit).

A cell's expected cost, in order of preference: the largest measured cost of its finished *seed
siblings* (cells of the same plan whose configuration is the same but for the training seed: seed 2's
audit is expected to cost what seeds 0 and 1's cost on this machine); else the estimate file's
seconds for its key; else unknown. A batch job with a wall-time limit, or a session that ends at a
fixed hour, then leaves the cells it cannot finish for the next run instead of losing them half done.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from ior.experiments.grid import Cell, Plan, config_key

_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"(?:{_NUMBER}h)?(?:{_NUMBER}m)?(?:{_NUMBER}s)?")


def cell_seconds(cell: dict) -> float | None:
    """What a cell cost in one-core seconds, as an estimate prices it: a training cell's training time
    (every attempt's epochs, a resumed run included; one thread), an audit cell's core-seconds (the CPU
    time of the cell and of its shards, with the attack runs a stopped attempt finished), else, for an
    audit stored before those were recorded, its wall time (which under-counts a sharded audit)."""
    if cell["kind"] == "train" and cell["result"].get("train_seconds") is not None:
        return float(cell["result"]["train_seconds"])
    if cell["kind"] == "audit" and cell.get("core_seconds") is not None:
        return float(cell["core_seconds"])
    return None if cell.get("elapsed_seconds") is None else float(cell["elapsed_seconds"])


def worker_seconds(cell: dict) -> float | None:
    """How long a finished cell held a worker, as a time limit must price it (wall time, so a sharded
    audit counts once): the larger of a training cell's training time and the wall time of its last
    attempt, which also covers loading, dg-aug's DeepWordBug pass over the training set and saving."""
    train = cell["result"].get("train_seconds") if cell["kind"] == "train" else None
    found = [s for s in (train, cell.get("elapsed_seconds")) if s is not None]
    return max(float(s) for s in found) if found else None


def load_estimate(path) -> dict:
    """``{cell key: expected seconds}`` from an estimate made before a sweep (``bench/estimate_sweep.py``)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        return {c["key"]: float(c["expected_seconds"]) for c in document["cells"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--estimate {str(path)!r} is not an estimate file with cells[].key and "
                         f"cells[].expected_seconds ({type(exc).__name__}: {exc})") from None


def parse_duration(text: str) -> float:
    """Seconds in ``"2h30m"``, ``"90m"``, ``"45s"``, ``"5400"`` (plain seconds) or ``"1.5h"``.

    >>> parse_duration("2h30m")
    9000.0
    """
    text = str(text).strip()
    match = _DURATION.fullmatch(text + "s" if re.fullmatch(_NUMBER, text) else text)
    if match is None or not any(match.groups()):
        raise ValueError(f"--time-limit must be a duration such as 2h30m, 90m, 45s or 5400 (seconds), got {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise ValueError(f"--time-limit must be positive, got {text!r}")
    return total


def _seedless(cell: Cell, plan: Plan) -> str:
    """A signature shared by the cells that differ only in the training seed."""
    config = dict(cell.config)
    if cell.kind == "train":
        config["train"] = {k: v for k, v in config["train"].items() if k != "seed"}
        config.pop("augment_from", None)  # the seed's own standard model
    else:
        train = plan.by_key.get(config["train"])
        config["train"] = _seedless(train, plan) if train is not None else config["train"]
        config.pop("transfer_from", None)
    return config_key(config)


class ExpectedCosts:
    """Each cell's expected cost in worker seconds, and where it comes from.

    Parameters
    ----------
    plan : Plan
    measured : dict
        ``{key: seconds}`` of finished cells (:func:`worker_seconds`); :meth:`record` adds the cells a
        running sweep finishes, so seed 2 is priced by seed 1 as soon as seed 1 is done.
    estimate : dict, optional
        ``{key: seconds}`` made before the sweep (:func:`load_estimate`), for cells no seed sibling prices.
    """

    def __init__(self, plan: Plan, measured: dict, estimate: dict | None = None):
        self._estimate = dict(estimate or {})
        self._signature = {c.key: _seedless(c, plan) for c in plan.cells}
        self._siblings: dict[str, float] = {}
        for key, seconds in measured.items():
            self.record(key, seconds)

    @classmethod
    def from_store(cls, plan: Plan, store, estimate: dict | None = None) -> "ExpectedCosts":
        """Priced by what the store's finished cells cost (:func:`worker_seconds`)."""
        return cls(plan, {c["key"]: worker_seconds(c) for c in store.cells()}, estimate)

    def record(self, key: str, seconds: float | None) -> None:
        """A finished cell's measured cost: it prices its seed siblings (the largest measurement wins)."""
        signature = self._signature.get(key)
        if signature is not None and seconds is not None:
            self._siblings[signature] = max(float(seconds), self._siblings.get(signature, 0.0))

    def get(self, key: str) -> tuple[float | None, str]:
        """``(seconds or None, source)``, source ``"seed siblings"``, ``"estimate"`` or ``"unknown"``."""
        signature = self._signature.get(key)
        if signature in self._siblings:
            return self._siblings[signature], "seed siblings"
        if key in self._estimate:
            return float(self._estimate[key]), "estimate"
        return None, "unknown"

    def seconds(self, key: str) -> float | None:
        return self.get(key)[0]


class TimeBudget:
    """A wall-time limit counted from construction: :meth:`fits` says whether work expected to take
    ``seconds`` (None: unknown) would end inside it. Unknown work fits while any time is left.

    Parameters
    ----------
    limit_seconds : float
        The limit, > 0.
    clock : callable, optional
        Seconds, monotonic (``time.monotonic``; tests pass a fake).

    Examples
    --------
    >>> budget = TimeBudget(3600)
    >>> budget.fits(600), budget.fits(7200)
    (True, False)
    """

    def __init__(self, limit_seconds: float, *, clock=time.monotonic):
        if not limit_seconds > 0:
            raise ValueError(f"the time limit must be positive, got {limit_seconds!r}")
        self.limit_seconds = float(limit_seconds)
        self._clock = clock
        self._start = clock()

    def remaining(self) -> float:
        return self.limit_seconds - (self._clock() - self._start)

    def fits(self, seconds: float | None) -> bool:
        left = self.remaining()
        return left > 0 and (seconds is None or seconds <= left)
