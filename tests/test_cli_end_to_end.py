"""``ior train``, ``ior audit`` and ``ior attack`` end to end, in-process, on a tiny BERT and 40 sentences."""

import contextlib
import io
import json
import math
import os
import re

import pytest

from conftest import make_tiny_bert
from ior.cli.main import main

POSITIVE = ["a wonderful film", "great acting and story", "i loved it", "a real delight", "brilliant and moving",
            "superb direction", "funny and warm", "a joy to watch", "beautifully made", "a charming cast",
            "smart and touching", "a fine script", "gripping from start to end", "lovely music",
            "a clever plot", "truly inspiring", "fresh and lively", "an excellent debut", "heartfelt and kind",
            "a rich story"]
NEGATIVE = ["a dull mess", "boring and slow", "i hated it", "a waste of time", "terrible acting",
            "an awful script", "flat and lifeless", "painful to sit through", "badly made", "a tedious plot",
            "weak and silly", "a lazy sequel", "cheap and ugly", "a noisy bore", "a clumsy story",
            "stale jokes", "a tired cast", "poorly edited", "a hollow film", "dreary and long"]


def _rows(indices):
    # Interleaved, string labels: the trained model records its label names.
    rows = []
    for i in indices:
        rows.append({"text": POSITIVE[i], "label": "positive"})
        rows.append({"text": NEGATIVE[i], "label": "negative"})
    return rows


def write_split(folder, split, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_dataset(folder, *, train=None, validation=None, test=None):
    write_split(folder, "train", train if train is not None else _rows(range(12)))
    write_split(folder, "validation", validation if validation is not None else _rows(range(12, 16)))
    write_split(folder, "test", test if test is not None else _rows(range(16, 20)))
    return folder


def run(argv):
    """``main(argv)`` with stdout and stderr captured: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def train_argv(model, dataset, out, *extra):
    return ["train", "--model", model, "--dataset", dataset, "--out", out, "--epochs", 1, "--batch-size", 8,
            "--max-length", 32, "--lr", 1e-3, "--no-progress", *extra]


def _have_wordnet() -> bool:
    from ior.data.wordnet import load_wordnet

    try:
        load_wordnet()
    except RuntimeError:
        return False
    return True


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return {"root": root, "encoder": make_tiny_bert(root / "encoder"), "data": write_dataset(root / "data")}


@pytest.fixture(scope="module")
def trained(workspace):
    out = workspace["root"] / "trained"
    status, stdout, stderr = run(train_argv(workspace["encoder"], workspace["data"], out))
    assert status == 0, stderr
    return {"out": out, "stdout": stdout}


@pytest.fixture(scope="module")
def audit(workspace, trained):
    attacks = ["dg", "pwws"] if _have_wordnet() else ["dg"]
    out = workspace["root"] / "audit"
    status, stdout, stderr = run(["audit", "--model", trained["out"], "--dataset", workspace["data"],
                                  "--serve-temperature", 1, 0.01, "--attack", *attacks, "--n-examples", 8,
                                  "--n-opt", 6, "--opt-maxiter", 2, "--n-bootstrap", 200, "--no-progress",
                                  "--out", out])
    return {"status": status, "stdout": stdout, "stderr": stderr, "out": out, "attacks": attacks}


# ---------------------------------------------------------------- ior train

def test_train_writes_a_complete_run(trained):
    out = trained["out"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                 "ior_config.json", "metrics.json"):
        assert (out / name).is_file(), name
    config = json.loads((out / "ior_config.json").read_text())
    assert config["train"]["temperature"] == 1.0
    assert config["train"]["grad_norm"] is False
    assert config["train"]["max_length"] == 32
    assert config["label_names"] == ["negative", "positive"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] == 24 and metrics["n_eval"] == 8
    assert 0.0 <= metrics["final"]["eval_accuracy"] <= 1.0
    assert f"saved {out}" in trained["stdout"]


def test_train_second_identical_call_reuses_the_run(workspace, trained):
    out = trained["out"]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    status, stdout, _ = run(train_argv(workspace["encoder"], workspace["data"], out))
    assert status == 0
    assert "reusing" in stdout and "saved" not in stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_train_retrains_when_the_training_data_changed(workspace, trained, tmp_path):
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "run"
    assert run(train_argv(workspace["encoder"], data, out))[0] == 0
    write_split(data, "train", _rows(range(10)))  # same --dataset path, other content
    status, stdout, _ = run(train_argv(workspace["encoder"], data, out))
    assert status == 0
    assert "reusing" not in stdout and "saved" in stdout
    assert json.loads((out / "metrics.json").read_text())["n_train"] == 20


def test_train_records_temperature_and_grad_norm(workspace, tmp_path):
    out = tmp_path / "hot"
    status, _, stderr = run(train_argv(workspace["encoder"], workspace["data"], out,
                                       "--temperature", 100, "--grad-norm"))
    assert status == 0, stderr
    train = json.loads((out / "ior_config.json").read_text())["train"]
    assert train["temperature"] == 100.0 and train["grad_norm"] is True and train["grad_clip"] is None
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final"]["last_grad_norm"] is not None


def test_train_stops_once_the_training_loss_is_low_enough(workspace, tmp_path):
    capped = tmp_path / "capped"
    status, _, stderr = run(train_argv(workspace["encoder"], workspace["data"], capped, "--epochs", 40))
    assert status == 0, stderr
    losses = [r["train_loss"] for r in json.loads((capped / "metrics.json").read_text())["history"]]
    assert json.loads((capped / "metrics.json").read_text())["stopped"] == {"rule": "epochs = 40", "epoch": 40,
                                                                           "step": 40 * 3}
    threshold = (losses[0] + losses[-1]) / 2  # reached somewhere between the first and the last epoch
    first = next(i for i, loss in enumerate(losses) if loss <= threshold)
    out = tmp_path / "stopped"
    status, stdout, stderr = run(train_argv(workspace["encoder"], workspace["data"], out, "--epochs", 40,
                                            "--stop-train-loss", threshold))
    assert status == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == first + 1 < 40  # the same seed: the same losses up to the stop
    assert [r["train_loss"] for r in metrics["history"]] == pytest.approx(losses[:first + 1])
    assert metrics["stopped"]["rule"] == f"train_loss <= {threshold:g}" and metrics["stopped"]["epoch"] == first + 1
    assert f"stopped after epoch {first + 1}" in stdout
    assert json.loads((out / "ior_config.json").read_text())["train"]["stop_train_loss"] == threshold
    status, _, stderr = run(train_argv(workspace["encoder"], workspace["data"], tmp_path / "bad",
                                       "--stop-train-loss", 0))
    assert status == 2 and "stop_train_loss must be a finite number > 0" in stderr
    # The accuracy rule, on the same curve: the first epoch that fits every training sentence.
    accuracies = [r["train_accuracy"] for r in json.loads((capped / "metrics.json").read_text())["history"]]
    fitted = next(i for i, a in enumerate(accuracies) if a >= 1.0)
    status, _, stderr = run(train_argv(workspace["encoder"], workspace["data"], tmp_path / "fits", "--epochs", 40,
                                       "--stop-train-accuracy", 1.0))
    assert status == 0, stderr
    stopped = json.loads((tmp_path / "fits" / "metrics.json").read_text())["stopped"]
    assert stopped["rule"] == "train_accuracy >= 1" and stopped["epoch"] == fitted + 1


def test_train_rejects_grad_norm_with_grad_clip(workspace, tmp_path, capsys):
    out = tmp_path / "run"
    status = main([str(a) for a in train_argv(workspace["encoder"], workspace["data"], out,
                                              "--grad-norm", "--grad-clip", 1)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("ior: error:") and len(err.strip().splitlines()) == 1
    assert "--grad-clip" in err and "--grad-norm" in err
    assert not out.exists()


def test_train_validation_split_uses_the_training_label_names(workspace, tmp_path):
    # A validation split holding one class only must not re-index it as class 0.
    data = write_dataset(tmp_path / "data", validation=[{"text": t, "label": "positive"} for t in POSITIVE[12:16]])
    out = tmp_path / "run"
    status, _, stderr = run(train_argv(workspace["encoder"], data, out))
    assert status == 0, stderr
    from ior.models.victim import TextClassifier

    predicted = TextClassifier.from_pretrained(out).logits(POSITIVE[12:16]).argmax(axis=1)
    expected = float((predicted == 1).mean())
    assert json.loads((out / "metrics.json").read_text())["final"]["eval_accuracy"] == pytest.approx(expected)


def test_train_records_the_finished_models_test_accuracy(workspace, trained):
    # Measured once, after training, on the test split; it decides nothing and is printed with its count.
    from ior.models.victim import TextClassifier

    metrics = json.loads((trained["out"] / "metrics.json").read_text())
    test_texts = [r["text"] for r in _rows(range(16, 20))]
    test_labels = [1 if r["label"] == "positive" else 0 for r in _rows(range(16, 20))]
    predicted = TextClassifier.from_pretrained(trained["out"]).logits(test_texts).argmax(axis=1)
    assert metrics["n_test"] == 8
    assert metrics["test_accuracy"] == pytest.approx(float((predicted == test_labels).mean()))
    assert f"test accuracy {100 * metrics['test_accuracy']:.2f}% on 8 test texts" in trained["stdout"]


def test_train_on_a_single_file_does_not_evaluate_on_the_training_data(workspace, tmp_path):
    # A file has no splits: "validation" used to re-read the training file and report it as eval accuracy.
    out = tmp_path / "run"
    status, _, stderr = run(train_argv(workspace["encoder"], workspace["data"] / "train.jsonl", out))
    assert status == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] == 24 and metrics["n_eval"] == 0 and "eval_accuracy" not in metrics["final"]
    assert "test_accuracy" not in metrics and "n_test" not in metrics


def test_train_broken_validation_file_is_an_error_not_a_skip(workspace, tmp_path, capsys):
    data = write_dataset(tmp_path / "data", validation=[{"text": "fine", "sentiment": "positive"}])
    out = tmp_path / "run"
    status = main([str(a) for a in train_argv(workspace["encoder"], data, out)])
    err = capsys.readouterr().err
    assert status == 2
    assert re.fullmatch(r"ior: error: column 'label' not found in '.*validation\.jsonl'.*\n", err)
    assert not out.exists()


# ---------------------------------------------------------------- ior audit

def test_audit_exits_0_and_writes_the_report_files(audit):
    assert audit["status"] == 0, audit["stderr"]
    assert "Traceback" not in audit["stderr"]
    for name in ("report.json", "report.md", "examples.jsonl"):
        assert (audit["out"] / name).is_file(), name
    assert "# ior audit" in audit["stdout"] and "report.json" in audit["stdout"]


def test_audit_report_json_follows_the_contract(audit):
    report = json.loads((audit["out"] / "report.json").read_text())
    assert isinstance(report["elapsed_seconds"], float) and report["elapsed_seconds"] >= 0
    assert [m["serve_temperature"] for m in report["models"]] == [1.0, 0.01]
    assert [m["name"] for m in report["models"]] == ["T_d=1", "T_d=0.01"]
    expected_attacks = {"dg": "deepwordbug", "pwws": "pwws"}
    for model in report["models"]:
        assert 0.0 <= model["clean_accuracy"] <= 1.0
        assert 0.0 <= model["mean_confidence"] <= 1.0
        assert model["n_examples"] == 8
        assert set(model["attacks"]) == {expected_attacks[a] for a in audit["attacks"]}
        for result in model["attacks"].values():
            for stage in ("served", "cal", "opt"):
                assert 0.0 <= result[stage] <= 1.0
            lo, hi = result["gap_ci"]
            assert lo <= result["gap"] <= hi
            assert result["gap"] == pytest.approx(100 * (result["served"] - min(result["cal"], result["opt"])))
            assert result["verdict"] in ("genuine", "illusion of robustness")
            assert result["cal_temperature"] > 0 and math.isfinite(result["cal_temperature"])
            assert result["opt_temperature"] > 0 and math.isfinite(result["opt_temperature"])
    # Serving temperature never changes the argmax.
    assert report["models"][0]["clean_accuracy"] == report["models"][1]["clean_accuracy"]


def test_audit_provenance_is_complete(audit, trained):
    prov = json.loads((audit["out"] / "report.json").read_text())["provenance"]
    assert {"ior", "torch", "transformers", "numpy", "scipy", "python"} <= set(prov["versions"])
    assert prov["seed"] == 0 and prov["audit_config"]["seed"] == 0
    assert prov["audit_config"]["serve_temperature"] == [1.0, 0.01]
    assert prov["subset_sizes"] == {"test": 8, "calibration": 8, "opt": 6}
    assert set(prov["recipes"]) == {{"dg": "deepwordbug", "pwws": "pwws"}[a] for a in audit["attacks"]}
    assert all(isinstance(h, dict) and h for h in prov["recipes"].values())
    assert re.fullmatch(r"[0-9a-f]{64}", prov["test"]["fingerprint"])
    assert re.fullmatch(r"[0-9a-f]{64}", prov["validation"]["fingerprint"])
    assert prov["test"]["fingerprint"] != prov["validation"]["fingerprint"]
    assert prov["test"]["n_empty_skipped"] == 0
    trained_sha = json.loads((trained["out"] / "metrics.json").read_text())["weights_sha256"]
    assert prov["model"]["weights_sha256"] == trained_sha
    assert prov["model"]["ior_config"]["train"]["max_length"] == prov["model"]["max_length"] == 32


def test_audit_examples_jsonl_has_one_line_per_model_attack_stage_example(audit):
    lines = (audit["out"] / "examples.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    keys = {(r["model"], r["attack"], r["stage"], r["index"]) for r in rows}
    assert len(keys) == len(rows) == 2 * len(audit["attacks"]) * 3 * 8
    assert {r["stage"] for r in rows} == {"served", "cal", "opt"}


def test_audit_report_md_has_the_table_and_provenance(audit):
    text = (audit["out"] / "report.md").read_text()
    assert "| model | T_d | attack |" in text and "## Provenance" in text and "weights_sha256" in text


def test_audit_skips_and_counts_empty_texts(workspace, trained, tmp_path):
    data = write_dataset(tmp_path / "data", test=_rows(range(16, 18)) + [{"text": "", "label": "positive"},
                                                                         {"text": " \t ", "label": "negative"}])
    out = tmp_path / "audit"
    status, _, stderr = run(["audit", "--model", trained["out"], "--dataset", data, "--attack", "dg",
                             "--piercing", "--n-bootstrap", 50, "--no-progress", "--out", out])
    assert status == 0, stderr
    assert re.search(r"^ior: warning: test: skipped 2 empty or whitespace-only text", stderr, re.M)
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["test"]["n_empty_skipped"] == 2
    assert report["provenance"]["test"]["n"] == 4
    assert report["models"][0]["n_examples"] == 4


def test_audit_platt_and_transfer_piercings(workspace, trained, tmp_path):
    out = tmp_path / "audit"
    # The reference is the same model: the examples it crafts are the served model's own, so transfer
    # can only fool what the served attack fools (served at T = 1 both), and platt is fitted on validation.
    status, stdout, stderr = run(["audit", "--model", trained["out"], "--dataset", workspace["data"], "--attack", "dg",
                                  "--piercing", "cal", "platt", "transfer", "--transfer-from", trained["out"],
                                  "--n-examples", 8, "--n-bootstrap", 50, "--no-progress", "--out", out])
    assert status == 0, stderr
    report = json.loads((out / "report.json").read_text())
    model = report["models"][0]
    attack = model["attacks"]["deepwordbug"]
    assert set(attack) >= {"served", "cal", "platt", "transfer"}
    assert attack["transfer"] == pytest.approx(attack["served"])  # same model, same attack, same seed
    assert model["calibration"]["platt"]["kind"] == "matrix"
    assert report["provenance"]["transfer_reference"]["weights_sha256"] == report["provenance"]["model"]["weights_sha256"]
    assert model["worst_case"]["piercings"] == ["served", "cal", "platt", "transfer"]
    assert "| platt | transfer |" in (out / "report.md").read_text()
    stages = {json.loads(line)["stage"] for line in (out / "examples.jsonl").read_text().splitlines()}
    assert stages == {"served", "cal", "platt", "transfer"}
    for argv, message in ((["--piercing", "transfer"], "--piercing transfer and --transfer-from go together"),
                          (["--transfer-from", trained["out"]], "--transfer-from is used by --piercing transfer")):
        status, _, stderr = run(["audit", "--model", trained["out"], "--dataset", workspace["data"], "--attack",
                                 "dg", "--no-progress", "--out", tmp_path / "bad", *argv])
        assert status == 2 and message in stderr and not (tmp_path / "bad").exists()


def test_audit_unknown_string_label_is_an_error(workspace, trained, tmp_path, capsys):
    data = write_dataset(tmp_path / "data", test=_rows(range(2)) + [{"text": "so so", "label": "neutral"}])
    out = tmp_path / "audit"
    status = main(["audit", "--model", str(trained["out"]), "--dataset", str(data), "--out", str(out),
                   "--attack", "dg", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2
    assert re.fullmatch(r"ior: error: unknown label 'neutral' in column 'label' \(row 4\).*'negative', "
                        r"'positive'\n", err)
    assert not out.exists()


# ---------------------------------------------------------------- ior attack

def test_attack_writes_summary_and_examples(workspace, trained, tmp_path):
    out = tmp_path / "attack"
    status, stdout, stderr = run(["attack", "--model", trained["out"], "--dataset", workspace["data"],
                                  "--attack", "dg", "--n-examples", 6, "--serve-temperature", 0.5,
                                  "--no-progress", "--out", out])
    assert status == 0, stderr
    assert sorted(os.listdir(out)) == ["deepwordbug.jsonl", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["serve_temperature"] == 0.5 and summary["attack_temperature"] == 1.0
    s = summary["attacks"]["deepwordbug"]
    assert s["n"] == 6 and 0.0 <= s["clean_accuracy"] <= 1.0 and 0.0 <= s["adversarial_accuracy_rescored"] <= 1.0
    assert summary["model"]["weights_sha256"] and summary["dataset"]["n"] == 6
    rows = [json.loads(line) for line in (out / "deepwordbug.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all("rescored_prediction" in r for r in rows)
    assert "deepwordbug" in stdout


def test_attack_split_with_one_class_keeps_the_models_label_indices(workspace, trained, tmp_path):
    # Before: a test split of "positive" rows only was read as a 1-class dataset with label 0.
    data = write_dataset(tmp_path / "data", test=[{"text": t, "label": "positive"} for t in POSITIVE[:3]])
    out = tmp_path / "attack"
    status, _, stderr = run(["attack", "--model", trained["out"], "--dataset", data, "--attack", "dg",
                             "--no-progress", "--out", out])
    assert status == 0, stderr
    rows = [json.loads(line) for line in (out / "deepwordbug.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == [1, 1, 1]
