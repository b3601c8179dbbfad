"""The results store: WAL + synchronous=FULL, one transaction per cell, all of a cell or none of it."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from ior.experiments.store import RESULT_COLUMNS, ResultStore


def _row(key, **changes):
    row = {c: None for c in RESULT_COLUMNS if c != "cell"}
    row.update(key=key, dataset="rt", method="standard", train_temperature=1.0, grad_norm=0, seed=0,
               serve_temperature=1.0, attack="deepwordbug", piercing="none", adversarial_accuracy=0.25,
               config={"seed": 0})
    row.update(changes)
    return row


def _commit(store, key="c1", *, rows=None, examples=None, result=None):
    store.commit_cell(key=key, kind="audit", label="a model", config={"x": 1}, requires=["t1"],
                      result=result or {"clean": {"accuracy": 0.9}}, rows=rows or [_row(f"{key}-r1")],
                      examples=examples or [("clean", "", "", 0, None, {"label": 1, "logits": [0.5, -0.5]}),
                                            ("attack", "deepwordbug", "served", 0, f"{key}-r1", {"robust": True})])


def test_store_is_wal_with_full_synchronous(tmp_path):
    with ResultStore(tmp_path / "runs.sqlite") as store:
        assert store.settings() == {"journal_mode": "wal", "synchronous": 2}


def test_a_committed_cell_reads_back_with_its_rows_and_examples(tmp_path):
    with ResultStore(tmp_path / "runs.sqlite") as store:
        _commit(store)
        assert store.completed_keys() == {"c1"}
        cell = store.cell("c1")
        assert (cell["kind"], cell["requires"], cell["result"], cell["commits"]) == \
            ("audit", ["t1"], {"clean": {"accuracy": 0.9}}, 1)
        (row,) = store.results()
        assert row["cell"] == "c1" and row["config"] == {"seed": 0} and row["grad_norm"] is False
        assert store.examples("c1", "clean")[0]["logits"] == [0.5, -0.5]
        assert store.examples("c1", "attack", attack="deepwordbug", stage="served")[0]["_result"] == "c1-r1"
    with ResultStore(tmp_path / "runs.sqlite") as again:  # persisted
        assert again.counts()["cells"] == 1


def test_committing_a_cell_again_replaces_it_and_counts_the_commit(tmp_path):
    with ResultStore(tmp_path / "runs.sqlite") as store:
        _commit(store)
        _commit(store, rows=[_row("c1-r2")], result={"clean": {"accuracy": 0.5}})
        assert store.cell("c1")["commits"] == 2
        assert [r["key"] for r in store.results()] == ["c1-r2"]
        assert store.cell("c1")["result"]["clean"]["accuracy"] == 0.5


def test_a_failed_commit_leaves_nothing_of_the_cell(tmp_path):
    with ResultStore(tmp_path / "runs.sqlite") as store:
        bad = _row("c2-r1", dataset=None)  # NOT NULL column: the transaction fails after the cell row
        with pytest.raises(sqlite3.IntegrityError):
            _commit(store, "c2", rows=[bad])
        assert store.completed_keys() == set() and store.counts()["results"] == 0
        _commit(store, "c3")  # the store is still usable
        assert store.completed_keys() == {"c3"}


def test_sigkill_in_the_middle_of_a_commit_leaves_nothing_of_the_cell(tmp_path):
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as store:
        _commit(store, "done")
    script = textwrap.dedent(f"""
        import os, signal
        from ior.experiments.store import ResultStore
        store = ResultStore({str(path)!r})
        def examples():
            for i in range(1000):
                if i == 500:  # half of the cell's records are inserted, the transaction is open
                    os.kill(os.getpid(), signal.SIGKILL)
                yield ("clean", "", "", i, None, {{"label": 0}})
        store.commit_cell(key="killed", kind="audit", label="k", config={{}}, requires=[], result={{}},
                          rows=[], examples=examples())
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with ResultStore(path) as store:
        assert store.completed_keys() == {"done"}
        assert store.examples("killed", "clean") == [] and store.counts()["examples"] == 2


def test_a_store_of_another_schema_version_is_refused(tmp_path):
    path = tmp_path / "runs.sqlite"
    ResultStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(RuntimeError, match="schema 99"):
        ResultStore(path)


def _columns(path):
    with sqlite3.connect(path) as db:
        return [row[1] for row in db.execute("PRAGMA table_info(cells)")]


def test_a_store_made_before_core_seconds_gains_the_column_when_a_cell_brings_them_not_on_opening(tmp_path):
    """Committed stores (results/*/runs.sqlite) predate the column: ``ior report`` opens them read-only in
    spirit, and a resumed sweep adds the column only with the first audit that measured core-seconds."""
    path = tmp_path / "runs.sqlite"
    ResultStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE cells DROP COLUMN core_seconds")
    with ResultStore(path) as store:
        _commit(store, "old")
        assert "core_seconds" not in store.cell("old")
    assert "core_seconds" not in _columns(path)
    with ResultStore(path) as store:
        store.commit_cell(key="new", kind="audit", label="a sharded audit", config={}, requires=[], result={},
                          elapsed_seconds=10.0, core_seconds=18.5)
        assert store.cell("new")["core_seconds"] == 18.5 and store.cell("old")["core_seconds"] is None
        _commit(store, "old")  # recommitted without core-seconds: the column stays, empty for it
        assert store.cell("old")["core_seconds"] is None
    assert _columns(path)[-1] == "core_seconds"
