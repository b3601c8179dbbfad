"""The results store: one SQLite file (``OUT/runs.sqlite``) holding every finished cell of a sweep.

Tables
------
``cells``     one row per finished cell: its key, kind (train/audit), label, configuration (JSON),
              the keys it depends on, its result (JSON: training metrics and weights hash, or the
              audit's clean metrics, calibration, flags and ``opt`` search), ``commits`` (how many
              times it was committed: 1 unless a finished cell was ever recomputed), timing (wall
              ``elapsed_seconds``; an audit's ``core_seconds``, the CPU time of every process that
              worked on it: N shards share the work, so wall time under-counts it), worker.
``results``   one row per grid point (audit × attack × piercing), keyed by its own hash, with the
              configuration as columns for querying and the whole configuration as JSON.
``examples``  per-example records of an audit cell: ``clean`` (label, raw logits), ``attack`` (every
              attacked example at every stage, re-scored on the served model) and
              ``word_importance`` (the attack's first-iteration word ranking).
``sweeps``    one row each time a sweep starts on this store: its config and plan size.

Durability
----------
WAL journal, ``synchronous=FULL``. A cell is committed in one transaction (its cell row, result rows
and example records together) only once it is complete, so a reader or a restarted sweep sees all of
a cell or none of it. In WAL mode ``NORMAL`` already survives a killed process (a committed
transaction is in the WAL file, which the OS keeps); ``FULL`` additionally fsyncs the WAL at every
commit, so a committed cell also survives a power loss or OS crash. A cell takes minutes and a
commit one fsync, so the cost is nil, and losing a committed cell would mean recomputing it.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1
STORE_NAME = "runs.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, name TEXT NOT NULL,
    config TEXT NOT NULL, plan TEXT NOT NULL, executor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('train', 'audit')), label TEXT NOT NULL,
    config TEXT NOT NULL, requires TEXT NOT NULL, result TEXT NOT NULL,
    commits INTEGER NOT NULL DEFAULT 1, elapsed_seconds REAL, worker TEXT, completed_at TEXT NOT NULL,
    core_seconds REAL);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, cell TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE,
    dataset TEXT NOT NULL, method TEXT NOT NULL, train_temperature REAL NOT NULL, grad_norm INTEGER NOT NULL,
    seed INTEGER NOT NULL, serve_temperature REAL NOT NULL, attack TEXT NOT NULL, piercing TEXT NOT NULL,
    clean_accuracy REAL, mean_confidence REAL, adversarial_accuracy REAL, mean_confidence_adversarial REAL,
    attack_temperature REAL, gap REAL, verdict TEXT, n_examples INTEGER, config TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS results_by_cell ON results(cell);
CREATE TABLE IF NOT EXISTS examples (
    cell TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE, kind TEXT NOT NULL, attack TEXT NOT NULL,
    stage TEXT NOT NULL, idx INTEGER NOT NULL, result TEXT, record TEXT NOT NULL,
    PRIMARY KEY (cell, kind, attack, stage, idx)) WITHOUT ROWID;
"""

RESULT_COLUMNS = ("key", "cell", "dataset", "method", "train_temperature", "grad_norm", "seed",
                  "serve_temperature", "attack", "piercing", "clean_accuracy", "mean_confidence",
                  "adversarial_accuracy", "mean_confidence_adversarial", "attack_temperature", "gap", "verdict",
                  "n_examples", "config")


def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class ResultStore:
    """A sweep's SQLite store (see the module docstring).

    Parameters
    ----------
    path : path
        The database file; created with its schema when missing.
    timeout : float
        Seconds to wait for a lock held by another connection.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = ResultStore(pathlib.Path(tempfile.mkdtemp()) / "runs.sqlite")
    >>> store.completed_keys()
    set()
    """

    def __init__(self, path, *, timeout: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"could not put {str(self.path)!r} in WAL mode (got {mode!r})")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        # Every statement is CREATE ... IF NOT EXISTS, so an interrupted creation completes next time.
        self._db.executescript(_SCHEMA)
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise RuntimeError(f"{str(self.path)!r} has store schema {row[0]}, this ior writes {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def _transaction(self):
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing -------------------------------------------------------------------------------

    def _core_column(self, *, add: bool) -> bool:
        """Whether ``cells`` has ``core_seconds``; with ``add``, a store made before it was a column gains
        it (when a cell is committed with it, not on opening: ``ior report`` reads a committed store
        without changing it)."""
        if any(row["name"] == "core_seconds" for row in self._db.execute("PRAGMA table_info(cells)")):
            return True
        if add:
            self._db.execute("ALTER TABLE cells ADD COLUMN core_seconds REAL")
        return add

    def start_sweep(self, *, name: str, config: dict, plan: dict, executor: str) -> int:
        with self._transaction():
            cursor = self._db.execute("INSERT INTO sweeps (started_at, name, config, plan, executor) "
                                      "VALUES (?, ?, ?, ?, ?)", (_now(), name, _json(config), _json(plan), executor))
        return int(cursor.lastrowid)

    def commit_cell(self, *, key: str, kind: str, label: str, config: dict, requires, result: dict,
                    rows=(), examples=(), elapsed_seconds: float | None = None, core_seconds: float | None = None,
                    worker: str | None = None) -> None:
        """Store a finished cell, its result rows and its example records in one transaction.

        ``rows`` are dicts with the :data:`RESULT_COLUMNS` (``config`` a dict); ``examples`` are
        ``(kind, attack, stage, idx, result_key, record_dict)`` tuples. Committing a key again
        replaces its rows and increments ``commits``.
        """
        with self._transaction():
            core = self._core_column(add=core_seconds is not None)
            self._db.execute(
                "INSERT INTO cells (key, kind, label, config, requires, result, commits, elapsed_seconds, worker, "
                f"completed_at{', core_seconds' if core else ''}) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?"
                f"{', ?' if core else ''}) ON CONFLICT(key) DO UPDATE SET "
                "commits = commits + 1, label = excluded.label, config = excluded.config, "
                "requires = excluded.requires, result = excluded.result, elapsed_seconds = excluded.elapsed_seconds, "
                f"worker = excluded.worker, completed_at = excluded.completed_at"
                f"{', core_seconds = excluded.core_seconds' if core else ''}",
                (key, kind, label, _json(config), _json(list(requires)), _json(result), elapsed_seconds, worker, _now(),
                 *((core_seconds,) if core else ())))
            self._db.execute("DELETE FROM results WHERE cell = ?", (key,))
            self._db.execute("DELETE FROM examples WHERE cell = ?", (key,))
            placeholders = ", ".join("?" for _ in RESULT_COLUMNS)
            self._db.executemany(
                f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({placeholders})",
                [tuple(_json(r[c]) if c == "config" else r.get(c) for c in RESULT_COLUMNS)
                 for r in (dict(row, cell=key) for row in rows)])
            self._db.executemany(
                "INSERT INTO examples (cell, kind, attack, stage, idx, result, record) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(key, kind_, attack or "", stage or "", int(idx), result_key, _json(record))
                 for kind_, attack, stage, idx, result_key, record in examples])

    # -- reading -------------------------------------------------------------------------------

    def settings(self) -> dict:
        """The durability settings in force: ``{"journal_mode": "wal", "synchronous": 2}`` (2 = FULL)."""
        return {"journal_mode": self._db.execute("PRAGMA journal_mode").fetchone()[0],
                "synchronous": self._db.execute("PRAGMA synchronous").fetchone()[0]}

    def completed_keys(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT key FROM cells")}

    def cells(self, kind: str | None = None) -> list[dict]:
        query = "SELECT * FROM cells" + (" WHERE kind = ?" if kind else "") + " ORDER BY completed_at, key"
        rows = self._db.execute(query, (kind,) if kind else ()).fetchall()
        return [dict(dict(r), config=json.loads(r["config"]), requires=json.loads(r["requires"]),
                     result=json.loads(r["result"])) for r in rows]

    def cell(self, key: str) -> dict | None:
        row = self._db.execute("SELECT * FROM cells WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return dict(dict(row), config=json.loads(row["config"]), requires=json.loads(row["requires"]),
                    result=json.loads(row["result"]))

    def results(self) -> list[dict]:
        rows = self._db.execute("SELECT * FROM results ORDER BY dataset, method, grad_norm, train_temperature, seed, "
                                "serve_temperature, attack, piercing").fetchall()
        return [dict(dict(r), grad_norm=bool(r["grad_norm"]), config=json.loads(r["config"])) for r in rows]

    def examples(self, cell: str, kind: str, *, attack: str | None = None, stage: str | None = None) -> list[dict]:
        query = "SELECT attack, stage, idx, result, record FROM examples WHERE cell = ? AND kind = ?"
        args = [cell, kind]
        if attack is not None:
            query += " AND attack = ?"
            args.append(attack)
        if stage is not None:
            query += " AND stage = ?"
            args.append(stage)
        rows = self._db.execute(query + " ORDER BY attack, stage, idx", args).fetchall()
        return [dict(json.loads(r["record"]), _attack=r["attack"], _stage=r["stage"], _idx=r["idx"],
                     _result=r["result"]) for r in rows]

    def sweeps(self) -> list[dict]:
        rows = self._db.execute("SELECT * FROM sweeps ORDER BY id").fetchall()
        return [dict(dict(r), config=json.loads(r["config"]), plan=json.loads(r["plan"])) for r in rows]

    def stale_audits(self) -> list[dict]:
        """Audit cells computed on other weights than the model their training cell records now.

        A model whose folder was lost is trained again when a cell needs it; if it is not
        bit-identical, the audits done on the earlier weights describe a model the store no longer
        records. One dict per such cell: ``cell``, ``label``, ``model`` (the training cell's key),
        ``audited_weights_sha256``, ``model_weights_sha256``.
        """
        trains = {cell["key"]: cell for cell in self.cells("train")}
        stale = []
        for audit in self.cells("audit"):
            train = trains.get(audit["result"].get("config", {}).get("train_cell"))
            used = audit["result"].get("model_weights_sha256")
            now = train["result"].get("weights_sha256") if train else None
            if used and now and used != now:
                stale.append({"cell": audit["key"], "label": audit["result"].get("name", audit["key"]),
                              "model": train["key"], "audited_weights_sha256": used, "model_weights_sha256": now})
        return stale

    def forget(self, keys) -> int:
        """Delete cells (with their result rows and examples) so that a sweep computes them again;
        returns how many were there."""
        keys = list(keys)
        with self._transaction():
            return sum(self._db.execute("DELETE FROM cells WHERE key = ?", (key,)).rowcount for key in keys)

    def counts(self) -> dict:
        return {table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("cells", "results", "examples", "sweeps")}
