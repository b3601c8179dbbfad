"""``ior sweep`` end to end on a tiny BERT and 24 sentences: resume after SIGKILL, executors agree, report.

One reference sweep (a pool of one worker) is the yardstick: a sweep killed with SIGKILL and resumed,
a pool of two workers, and Ray must all store exactly what it stored.
"""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import make_tiny_bert
from ior.cli.main import main
from ior.experiments.cells import compute_cell
from ior.experiments.config import load_sweep_config
from ior.experiments.data import resolve_identities
from ior.experiments.grid import plan_sweep
from ior.experiments.runner import run_sweep
from ior.experiments.store import ResultStore

POSITIVE = ["a wonderful film", "great acting and story", "i loved it", "a real delight", "brilliant and moving",
            "superb direction", "funny and warm", "a joy to watch", "beautifully made", "a charming cast",
            "smart and touching", "a fine script"]
NEGATIVE = ["a dull mess", "boring and slow", "i hated it", "a waste of time", "terrible acting",
            "an awful script", "flat and lifeless", "painful to sit through", "badly made", "a tedious plot",
            "weak and silly", "a lazy sequel"]

CONFIG = """\
name: tiny
model: {model}
datasets: [{data}]
train: {{epochs: 10, batch_size: 4, max_length: 32, learning_rate: 1.0e-3}}
methods: [standard]
train_temperatures: [1, 10]
serve_temperatures: [1, 0.01]
attacks: [dg]
piercings: [none, cal, opt]
audit: {{n_examples: 8, n_opt: 4, opt_maxiter: 2, n_bootstrap: 200}}
word_importance: {{attacks: [deepwordbug], n_examples: 6}}
grid:
  - {{}}
  - {{methods: [dg-aug], train_temperatures: [1], serve_temperatures: [1], piercings: [none, cal]}}
"""


def _write_split(folder: Path, split: str, rows) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    rows = [{"text": t, "label": label} for p, n in zip(POSITIVE, NEGATIVE)
            for t, label in ((p, "positive"), (n, "negative"))]
    data = root / "data"
    # A toy the tiny model can learn: it is tested on sentences it was trained on.
    _write_split(data, "train", rows)
    _write_split(data, "validation", rows)
    _write_split(data, "test", rows[:8])
    config = root / "tiny.yaml"
    config.write_text(CONFIG.format(model=make_tiny_bert(root / "bert"), data=data))
    return {"root": root, "config": config}


@pytest.fixture(scope="module")
def reference(workspace):
    out = workspace["root"] / "reference"
    summary = run_sweep(load_sweep_config(workspace["config"]), out, workers=1, progress=False)
    assert not summary.failed, summary.failed
    return out


def snapshot(out: Path) -> dict:
    """Everything a sweep stored, less timing and where it ran (canonical JSON, so NaN == NaN)."""
    with ResultStore(out / "runs.sqlite") as store:
        cells = {}
        for cell in store.cells():
            result = {k: v for k, v in cell["result"].items() if k not in ("train_seconds", "adopted_existing_folder")}
            cells[cell["key"]] = json.dumps([cell["kind"], cell["config"], cell["requires"], result], sort_keys=True)
        results = {r["key"]: json.dumps(r, sort_keys=True) for r in store.results()}
        examples = {key: json.dumps([store.examples(key, kind) for kind in ("clean", "attack", "word_importance")],
                                    sort_keys=True) for key in cells}
    return {"cells": cells, "results": results, "examples": examples}


def first_difference(a: dict, b: dict) -> str:
    """Where two snapshots first differ (for a readable failure)."""
    for part in a:
        for key in sorted(set(a[part]) | set(b[part])):
            x, y = a[part].get(key), b[part].get(key)
            if x != y:
                if x is None or y is None:
                    return f"{part} {key}: only in {'the first' if y is None else 'the second'}"
                i = next((i for i, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
                return f"{part} {key}: ...{x[max(0, i - 200):i + 100]} != ...{y[max(0, i - 200):i + 100]}"
    return "equal"


def assert_same(out: Path, reference: Path) -> None:
    a, b = snapshot(out), snapshot(reference)
    assert a == b, first_difference(a, b)


def commits(out: Path) -> dict:
    with sqlite3.connect(out / "runs.sqlite") as db:
        return dict(db.execute("SELECT key, commits FROM cells"))


def test_reference_sweep_stores_every_cell_once(workspace, reference):
    plan = plan_sweep(load_sweep_config(workspace["config"]))
    assert plan.size() == {"train_cells": 3, "audit_cells": 5, "results": 4 * 3 + 2}
    counted = commits(reference)
    assert len(counted) == 8 and set(counted.values()) == {1}
    with ResultStore(reference / "runs.sqlite") as store:
        rows = store.results()
        assert len(rows) == 14
        assert {r["piercing"] for r in rows} == {"none", "cal", "opt"}
        for row in rows:  # every row carries its configuration
            assert row["config"]["attack"] == row["attack"] == "deepwordbug"
            assert row["config"]["seed"] == 0 and row["config"]["train"]["epochs"] == 10
        audit = next(c for c in store.cells("audit") if c["result"]["config"]["serve_temperature"] == 1.0
                     and c["result"]["config"]["method"] == "standard")
        assert len(store.examples(audit["key"], "clean")) == 8
        assert {r["_stage"] for r in store.examples(audit["key"], "attack")} == {"served", "cal", "opt"}
        ranked = store.examples(audit["key"], "word_importance")
        # Modifiable words (stopwords are not ranked), each once.
        assert ranked and all(len(set(r["order"])) == len(r["order"]) and set(r["order"]) <= set(range(r["num_words"]))
                              for r in ranked)
        dg_aug = next(c for c in store.cells("train") if c["config"]["train"].get("method") == "dg-aug")
        assert dg_aug["requires"] and dg_aug["result"]["metrics"]["n_train"] == 48
        trained = {c["key"] for c in store.cells("train")}
    # Exactly one finished model folder per training cell, no staging debris.
    assert {p.name for p in (reference / "models").iterdir()} == trained


def test_one_worker_audits_each_model_before_training_the_next(reference):
    """Depth-first: a sweep stopped early holds complete results for every model it trained."""
    with sqlite3.connect(reference / "runs.sqlite") as db:
        order = [(key, kind, json.loads(requires)) for key, kind, requires
                 in db.execute("SELECT key, kind, requires FROM cells ORDER BY rowid")]
    trained_at = {key: i for i, (key, kind, _) in enumerate(order) if kind == "train"}
    assert len(trained_at) == 3
    for i, (key, kind, requires) in enumerate(order):
        if kind == "audit":
            (model,) = requires
            assert all(not trained_at[model] < j < i for j in trained_at.values()), \
                f"a training cell ran between model {model} and its audit {key}"


def test_a_store_without_its_models_retrains_only_the_models_unfinished_cells_need(workspace, reference, tmp_path):
    """A store committed without model folders resumes on a new machine: finished models stay finished."""
    import shutil

    out = tmp_path / "moved"
    out.mkdir()
    for path in reference.glob("runs.sqlite*"):
        shutil.copy2(path, out / path.name)
    config = load_sweep_config(workspace["config"])
    summary = run_sweep(config, out, workers=1, progress=False)
    assert (summary.computed, summary.already_done) == (0, 8)
    assert not (out / "models").exists() or not any((out / "models").iterdir())

    with sqlite3.connect(out / "runs.sqlite") as db:
        db.execute("PRAGMA foreign_keys = ON")
        train10 = next(key for key, config_json in db.execute("SELECT key, config FROM cells WHERE kind = 'train'")
                       if json.loads(config_json)["train"]["temperature"] == 10)
        audit = next(key for key, requires in db.execute("SELECT key, requires FROM cells WHERE kind = 'audit'")
                     if json.loads(requires) == [train10])
        db.execute("DELETE FROM cells WHERE key = ?", (audit,))
    with pytest.warns(UserWarning, match="missing: training it again"):
        summary = run_sweep(config, out, workers=1, progress=False)
    assert (summary.computed, summary.already_done) == (2, 6)
    assert [p.name for p in (out / "models").iterdir()] == [train10]
    assert_same(out, reference)


def test_a_model_trained_again_with_other_weights_is_warned_about_and_its_old_audits_flagged(workspace, reference,
                                                                                           tmp_path, capsys):
    """A retrained model that is not bit-identical leaves finished audits describing the earlier weights:
    the sweep warns naming them, the report lists them (simulated: the store says the earlier model
    had other weights), and ``--rerun-stale`` audits the model the store records again."""
    import shutil

    from ior.reporting.report import write_report

    out = tmp_path / "moved"
    out.mkdir()
    for path in reference.glob("runs.sqlite*"):
        shutil.copy2(path, out / path.name)
    earlier = "0" * 64
    with sqlite3.connect(out / "runs.sqlite") as db:
        train10 = next(key for key, config_json in db.execute("SELECT key, config FROM cells WHERE kind = 'train'")
                       if json.loads(config_json)["train"]["temperature"] == 10)
        audits = [(key, json.loads(result)) for key, requires, result in
                  db.execute("SELECT key, requires, result FROM cells WHERE kind = 'audit'")
                  if json.loads(requires) == [train10]]
        assert len(audits) == 2  # served at T_d = 1 and 0.01
        (kept, result), (dropped, _) = audits
        result["model_weights_sha256"] = earlier
        db.execute("UPDATE cells SET result = ? WHERE key = ?", (json.dumps(result), kept))
        train = json.loads(db.execute("SELECT result FROM cells WHERE key = ?", (train10,)).fetchone()[0])
        train["weights_sha256"] = earlier
        db.execute("UPDATE cells SET result = ? WHERE key = ?", (json.dumps(train), train10))
        db.execute("DELETE FROM cells WHERE key = ?", (dropped,))
        kept_label = db.execute("SELECT label FROM cells WHERE key = ?", (kept,)).fetchone()[0]

    with pytest.warns(UserWarning) as caught:
        run_sweep(load_sweep_config(workspace["config"]), out, workers=1, progress=False)
    messages = [str(w.message) for w in caught]
    other = [m for m in messages if "has other weights than before" in m]
    assert len(other) == 1 and "1 finished cell(s)" in other[0] and kept_label in other[0], messages

    write_report(out)
    document = json.loads((out / "report.json").read_text())
    assert [s["cell"] for s in document["stale_audits"]] == [kept]
    assert document["stale_audits"][0]["audited_weights_sha256"] == earlier
    assert "**Warning:** 1 audit(s) ran on other weights" in (out / "report.md").read_text()

    # --rerun-stale: a dry run deletes nothing and lists the cell; the run audits the recorded model again.
    args = ["sweep", str(workspace["config"]), "--out", str(out), "--no-progress", "--rerun-stale"]
    capsys.readouterr()
    assert main(args + ["--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert "would delete 1 audit(s)" in listed and kept in listed and f"{kept}  audit" in listed
    assert f"{kept}  audit  {kept_label}  [done]" not in listed
    with sqlite3.connect(out / "runs.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM cells WHERE key = ?", (kept,)).fetchone()[0] == 1
    assert main(args) == 0
    assert "deleted 1 audit(s)" in capsys.readouterr().out
    with sqlite3.connect(out / "runs.sqlite") as db:
        redone = json.loads(db.execute("SELECT result FROM cells WHERE key = ?", (kept,)).fetchone()[0])
        now = json.loads(db.execute("SELECT result FROM cells WHERE key = ?", (train10,)).fetchone()[0])
    assert redone["model_weights_sha256"] == now["weights_sha256"] != earlier
    write_report(out)
    assert json.loads((out / "report.json").read_text())["stale_audits"] == []
    assert main(args) == 0 and "no audit ran on other weights" in capsys.readouterr().out


def test_a_model_trained_again_bit_identically_leaves_nothing_flagged(workspace, reference, tmp_path):
    import shutil

    from ior.reporting.report import write_report

    out = tmp_path / "moved"
    out.mkdir()
    for path in reference.glob("runs.sqlite*"):
        shutil.copy2(path, out / path.name)
    with sqlite3.connect(out / "runs.sqlite") as db:
        train10 = next(key for key, config_json in db.execute("SELECT key, config FROM cells WHERE kind = 'train'")
                       if json.loads(config_json)["train"]["temperature"] == 10)
        dropped = next(key for key, requires in db.execute("SELECT key, requires FROM cells WHERE kind = 'audit'")
                       if json.loads(requires) == [train10])
        db.execute("DELETE FROM cells WHERE key = ?", (dropped,))
    with pytest.warns(UserWarning) as caught:
        run_sweep(load_sweep_config(workspace["config"]), out, workers=1, progress=False)
    assert not [w for w in caught if "has other weights" in str(w.message)]
    write_report(out)
    assert json.loads((out / "report.json").read_text())["stale_audits"] == []
    assert "Warning" not in (out / "report.md").read_text()


def test_second_run_computes_nothing_and_clears_staging_debris(workspace, reference):
    before = snapshot(reference)
    debris = reference / "models" / ".staging-0123456789abcdef-999-deadbeef" / "model"
    debris.mkdir(parents=True)
    (debris / "model.safetensors").write_bytes(b"half a model")
    summary = run_sweep(load_sweep_config(workspace["config"]), reference, workers=1, progress=False)
    assert (summary.computed, summary.already_done) == (0, 8)
    assert snapshot(reference) == before and set(commits(reference).values()) == {1}
    assert not debris.parent.exists()


def test_a_model_folder_renamed_before_its_commit_is_adopted_not_retrained(workspace, reference):
    config = load_sweep_config(workspace["config"])
    cell = plan_sweep(config, resolve_identities(config)).of_kind("train")[0]
    payload = compute_cell(cell.spec, str(reference), 1)  # as if the commit had been lost
    with ResultStore(reference / "runs.sqlite") as store:
        stored = store.cell(cell.key)["result"]
    assert payload["result"]["adopted_existing_folder"] is True
    assert payload["result"]["weights_sha256"] == stored["weights_sha256"]
    assert payload["result"]["metrics"] == stored["metrics"]


def test_a_failed_cell_is_reported_its_dependents_wait_and_a_rerun_completes(workspace, reference, tmp_path,
                                                                             monkeypatch, capsys):
    import ior.experiments.runner as runner

    real = runner.compute_cell

    def flaky(spec, out, *rest):
        if spec["kind"] == "train" and spec["train"]["temperature"] == 10.0:
            raise RuntimeError("out of memory")
        return real(spec, out, *rest)

    monkeypatch.setattr(runner, "compute_cell", flaky)
    out = tmp_path / "flaky"
    assert main(["sweep", str(workspace["config"]), "--out", str(out), "--workers", "0", "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "ior: error: 3 cell(s) failed" in captured.err  # the T=10 model and its two audits
    assert captured.out.count("failed:") == 3 and "RuntimeError: out of memory" in captured.out
    assert len(commits(out)) == 5
    assert captured.err.count("done ") == 5  # one line per finished cell, failed ones not among them
    monkeypatch.setattr(runner, "compute_cell", real)
    summary = run_sweep(load_sweep_config(workspace["config"]), out, workers=0, progress=False)
    assert (summary.already_done, summary.computed) == (5, 3)
    done = [line for line in capsys.readouterr().err.splitlines() if line.startswith("done ")]
    assert sorted(line.split()[1] for line in done) == ["audit", "audit", "train"]
    assert all(" T=10 " in line for line in done)
    # wall seconds for every cell; an audit adds its core-seconds (CPU time of every process on it)
    assert all(re.search(r" in [\d,]+ s$", line) for line in done if line.split()[1] == "train")
    assert all(re.search(r" in [\d,]+ s \([\d,]+ core-seconds\)$", line) for line in done if line.split()[1] == "audit")
    assert set(commits(out).values()) == {1}
    assert_same(out, reference)  # cells run in this process store what the pool stored


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _finished_cells(store: Path) -> dict:
    if not store.is_file():
        return {}
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as db:
            return dict(db.execute("SELECT key, kind FROM cells"))
    except sqlite3.OperationalError:  # created but no schema yet
        return {}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to find the pool's workers")
def test_resume_after_sigkill_loses_nothing_and_computes_nothing_twice(workspace, reference, tmp_path):
    out = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.Popen([sys.executable, "-m", "ior.cli.main", "sweep", str(workspace["config"]), "--out",
                             str(out), "--workers", "1", "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    workers = set()
    try:
        while time.time() < deadline and proc.poll() is None:
            workers.update(_children(proc.pid))
            if "train" in _finished_cells(out / "runs.sqlite").values():
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()}"
        workers.update(_children(proc.pid))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    done = _finished_cells(out / "runs.sqlite")
    assert 1 <= len(done) < 8, done
    # The pool's workers notice that the driver is gone and exit: none keeps writing models.
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert workers and not any(_alive(p) for p in workers)

    summary = run_sweep(load_sweep_config(workspace["config"]), out, workers=1, progress=False)
    assert summary.already_done == len(done) and summary.computed == 8 - len(done)
    assert set(commits(out).values()) == {1}  # every cell committed exactly once, across both runs
    assert_same(out, reference)
    assert not list((out / "models").glob(".staging-*"))


def test_two_local_workers_store_what_one_stored(workspace, reference, tmp_path):
    summary = run_sweep(load_sweep_config(workspace["config"]), tmp_path / "two", workers=2, progress=False)
    assert summary.computed == 8 and not summary.failed
    assert_same(tmp_path / "two", reference)


def test_audit_cells_sharded_over_two_processes_store_what_one_stored(workspace, reference, tmp_path):
    summary = run_sweep(load_sweep_config(workspace["config"]), tmp_path / "sharded", workers=1, audit_workers=2,
                        progress=False)
    assert summary.computed == 8 and not summary.failed
    assert_same(tmp_path / "sharded", reference)
    with ResultStore(tmp_path / "sharded" / "runs.sqlite") as store:  # the shards' CPU time is the audit's cost
        assert all(c["core_seconds"] > 0 for c in store.cells("audit"))
        assert all(c["core_seconds"] is None for c in store.cells("train"))


def test_ray_stores_what_the_local_pool_stored(workspace, reference, tmp_path):
    pytest.importorskip("ray", reason="ray is not installed")
    summary = run_sweep(load_sweep_config(workspace["config"]), tmp_path / "ray", executor="ray", workers=2,
                        progress=False)
    assert summary.computed == 8 and not summary.failed
    assert_same(tmp_path / "ray", reference)


def test_report_from_a_sweep(reference):
    from ior.reporting.report import write_report

    paths = write_report(reference)
    report = json.loads(paths["report.json"].read_text())
    # One record per model x serving temperature: standard and standard T=10 at T_d 1 and 0.01, dg-aug.
    assert len(report["cells"]) == 5
    record = next(r for r in report["cells"] if r["method"] == "standard" and r["train_temperature"] == 1
                  and r["serve_temperature"] == 1)
    assert set(record["adversarial_accuracy"]["deepwordbug"]) == {"none", "cal", "opt"}
    assert record["seeds"] == [0] and record["clean_accuracy"]["n"] == 1
    assert report["word_importance"] and all(p["attack"] == "deepwordbug" for p in report["word_importance"])
    markdown = paths["report.md"].read_text()
    for title in ("Table 1", "Tables 2–3", "Table 4", "Figure 1", "Figure 2", "Figure 3", "Reliability", "Table 20"):
        assert title in markdown
    assert all(Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths["figures"])
    assert len(paths["figures"]) == 5 and Path(paths["figures"][-1]).name.startswith("training-")
    page = paths["report.html"].read_text()
    assert page.count("data:image/png;base64,") == 5 and 'src="figures/' not in page


def test_a_time_limit_starts_only_the_cells_that_fit_and_the_rest_resume(workspace, reference, tmp_path, capsys):
    """--time-limit with an estimate that prices every audit beyond the limit: the models train, no audit
    starts, the CLI lists what is left; the same command without the limit then completes the sweep."""
    plan = plan_sweep(load_sweep_config(workspace["config"]), resolve_identities(load_sweep_config(workspace["config"])))
    estimate = tmp_path / "estimate.json"
    estimate.write_text(json.dumps({"cells": [{"key": c.key, "expected_seconds": 1.0 if c.kind == "train" else 1e6}
                                              for c in plan.cells]}))
    out = tmp_path / "limited"
    args = ["sweep", str(workspace["config"]), "--out", str(out), "--no-progress"]
    assert main(args + ["--time-limit", "2h", "--estimate", str(estimate)]) == 0
    printed = capsys.readouterr().out
    assert "computed 3 cells" in printed and "time limit: 5 cell(s) not started" in printed
    assert all(f"{c.key}  {c.label}  (expected 1,000,000 s)" in printed for c in plan.of_kind("audit"))
    with ResultStore(out / "runs.sqlite") as store:
        assert store.completed_keys() == {c.key for c in plan.of_kind("train")}
    assert main(args) == 0
    assert "computed 5 cells" in capsys.readouterr().out
    assert_same(out, reference)


def test_cli_sweep_dry_run_and_report(workspace, reference, capsys):
    out = workspace["root"] / "dry"
    assert main(["sweep", str(workspace["config"]), "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "3 training cells, 5 audit cells, 14 results" in printed and not out.exists()
    assert printed.count("[cost unknown]") == 8  # no store, no estimate
    assert main(["sweep", str(workspace["config"]), "--out", str(out), "--dry-run", "--only", "audit .*dg-aug"]) == 0
    printed = capsys.readouterr().out
    assert "--only 'audit .*dg-aug': 3 of the sweep's 8 cells" in printed  # the audit, dg-aug's model and its source
    assert printed.count("[cost unknown]") == 3 and not out.exists()
    assert main(["sweep", str(workspace["config"]), "--out", str(reference), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("[done]") == 8
    assert main(["sweep", str(workspace["config"]), "--out", str(reference), "--no-progress"]) == 0
    assert "computed 0 cells" in capsys.readouterr().out
    assert main(["report", str(reference)]) == 0
    assert "report.html" in capsys.readouterr().out


def test_platt_and_transfer_cells_store_their_rows(workspace, tmp_path):
    """transfer plans the standard model at T = 1 of the same seed as a dependency and crafts on it."""
    config = workspace["config"].read_text().split("word_importance:")[0]
    config = config.replace("train_temperatures: [1, 10]", "train_temperatures: [10]") \
        .replace("serve_temperatures: [1, 0.01]", "serve_temperatures: [0.01]") \
        .replace("piercings: [none, cal, opt]", "piercings: [none, platt, transfer]")
    path = tmp_path / "pierce.yaml"
    path.write_text(config)
    summary = run_sweep(load_sweep_config(path), tmp_path / "out", workers=1, progress=False)
    assert not summary.failed, summary.failed
    with ResultStore(tmp_path / "out" / "runs.sqlite") as store:
        trained = {c["key"]: c["config"]["train"]["temperature"] for c in store.cells("train")}
        (audit,) = store.cells("audit")
        rows = {r["piercing"]: r for r in store.results()}
    assert sorted(trained.values()) == [1.0, 10.0]
    reference = next(k for k, t in trained.items() if t == 1.0)
    assert audit["config"]["transfer_from"] == reference and reference in audit["requires"]
    assert set(rows) == {"none", "platt", "transfer"}
    summary = audit["result"]["attacks"]["deepwordbug"]
    assert rows["transfer"]["adversarial_accuracy"] == summary["transfer"]
    assert rows["platt"]["adversarial_accuracy"] == summary["platt"]
    assert rows["platt"]["attack_temperature"] is None and audit["result"]["calibration"]["platt"]["kind"] == "matrix"
    assert summary["gap"] == pytest.approx(100 * (summary["served"] - min(summary["platt"], summary["transfer"])))


def test_a_sweep_whose_attack_lacks_a_built_resource_fails_before_any_cell(workspace, tmp_path, capsys,
                                                                            monkeypatch):
    # BAE's masked LM is built by `ior resources build-mlm`; without it the sweep used to train the models
    # and fail only when the first audit cell built BAE.
    monkeypatch.setenv("IOR_CACHE", str(tmp_path / "empty-cache"))
    config = tmp_path / "bae.yaml"
    config.write_text(workspace["config"].read_text().replace("attacks: [dg]", "attacks: [dg, bae]"))
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ior: error: no masked LM in ") and "build-mlm" in err[0]
    assert not (out / "runs.sqlite").exists() and not (out / "models").exists()
