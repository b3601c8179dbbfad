"""The image audit end to end: train a tiny CNN with `ior train`, audit it with `ior audit`, in seconds."""

import contextlib
import io
import json

import numpy as np
import pytest

from ior.cli.main import main


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def write_npz_dataset(folder, *, n=(240, 60, 60), classes=4, size=16, seed=0):
    """Bright-quadrant images: class k lights quadrant k, with 15% of labels drawn at random so that no
    model is certain (a perfectly separated validation set drives `cal` to T -> 0)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in zip(("train", "validation", "test"), n):
        y = np.arange(count) % classes
        x = rng.uniform(0, 0.3, (count, size, size)).astype(np.float32)
        half = size // 2
        for i, k in enumerate(y):
            r, c = divmod(int(k), 2)
            x[i, r * half:(r + 1) * half, c * half:(c + 1) * half] += 0.6
        noisy = rng.random(count) < 0.15
        y = np.where(noisy, rng.integers(0, classes, count), y)
        np.savez(folder / f"{split}.npz", x=np.clip(x, 0, 1), y=y, label_names=np.array([f"q{k}" for k in range(classes)]))
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("image-audit")
    data = write_npz_dataset(root / "data")
    model = root / "model"
    code, out, err = run(["train", "--dataset", str(data), "--arch", "cnn", "--epochs", "3", "--batch-size", "32",
                          "--out", str(model), "--no-progress"])
    assert code == 0, err
    return data, model


def test_train_writes_an_image_model_that_learned_the_task(trained):
    data, model = trained
    config = json.loads((model / "ior_config.json").read_text())
    metrics = json.loads((model / "metrics.json").read_text())
    assert config["modality"] == "image" and config["arch"] == "cnn"
    assert config["label_names"] == ["q0", "q1", "q2", "q3"]
    assert config["train"]["method"] == "standard"
    assert metrics["final"]["eval_accuracy"] >= 0.75
    assert metrics["n_test"] == 60 and 0.7 <= metrics["test_accuracy"] <= 1
    assert (model / "model.safetensors").is_file()


def test_audit_end_to_end_finds_the_low_temperature_illusion(trained, tmp_path):
    data, model = trained
    out = tmp_path / "audit"
    code, stdout, err = run(["audit", "--model", str(model), "--dataset", str(data), "--serve-temperature", "1",
                             "1e-4", "--names", "baseline", "up-conf", "--attack", "pgd", "apgd-dlr",
                             "--epsilon", "0.3", "--n-examples", "40", "--n-opt", "20", "--opt-maxiter", "3",
                             "--apgd-steps", "10", "--out", str(out), "--no-progress"])
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["modality"] == "image"
    assert report["provenance"]["audit_config"]["opt_attack"] == "pgd"
    base, cold = report["models"]
    assert base["clean_accuracy"] == cold["clean_accuracy"]
    # PGD on the cross-entropy sees exactly zero gradients at T_d = 1e-4 and fails; cal restores it.
    assert cold["gradients"]["served"]["zero_fraction"] >= 0.5
    assert cold["gradients"]["cal"]["zero_fraction"] == 0.0
    assert "zero-gradients" in [f["code"] for f in cold["flags"]]
    assert cold["attacks"]["pgd"]["served"] >= base["attacks"]["pgd"]["served"] + 0.3
    assert cold["attacks"]["pgd"]["cal"] == pytest.approx(base["attacks"]["pgd"]["served"], abs=0.1)
    assert cold["attacks"]["pgd"]["verdict"] == "illusion of robustness"
    # APGD-DLR's loss does not depend on the temperature.
    assert cold["attacks"]["apgd-dlr"]["served"] == pytest.approx(base["attacks"]["apgd-dlr"]["served"], abs=0.05)
    # AutoAttack's rule: the worst case over attacks and piercings is no more than any single run.
    assert cold["worst_case"]["accuracy"] <= min(min(v for k, v in a.items() if k in ("served", "cal", "opt"))
                                                 for a in cold["attacks"].values())
    examples = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    assert examples and all(e["linf"] <= 0.3 + 1e-6 for e in examples)
    assert "## Input gradients" in (out / "report.md").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--epsilon", "0"], "epsilon must be in"),
    (["--epsilon", "-0.1"], "epsilon must be in"),
    (["--attack", "pgdd"], "unknown image attack"),
])
def test_bad_audit_options_are_one_line_errors(trained, tmp_path, extra, message):
    data, model = trained
    code, _, err = run(["audit", "--model", str(model), "--dataset", str(data), "--out", str(tmp_path / "o"),
                        "--no-progress", *extra])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_model_for_other_images_is_refused(trained, tmp_path):
    _, model = trained
    other = write_npz_dataset(tmp_path / "big", size=20)
    code, _, err = run(["audit", "--model", str(model), "--dataset", str(other), "--out", str(tmp_path / "o"),
                        "--no-progress"])
    assert code == 2 and "model takes" in err and len(err.strip().splitlines()) == 1


def test_two_classes_refuse_apgd_dlr(tmp_path):
    data = write_npz_dataset(tmp_path / "two", classes=2, n=(64, 16, 16))
    model = tmp_path / "m"
    assert run(["train", "--dataset", str(data), "--epochs", "1", "--out", str(model), "--no-progress"])[0] == 0
    code, _, err = run(["audit", "--model", str(model), "--dataset", str(data), "--attack", "apgd-dlr",
                        "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2 and "apgd-dlr needs at least 3 classes" in err


def test_text_only_options_are_refused_for_images(tmp_path):
    data = write_npz_dataset(tmp_path / "d", n=(16, 8, 8))
    code, _, err = run(["train", "--dataset", str(data), "--adv-lr", "0.1", "--out", str(tmp_path / "m"),
                        "--no-progress"])
    assert code == 2 and "--adv-lr only apply to text models" in err


def test_ior_attack_points_image_users_to_the_audit(trained, tmp_path):
    data, model = trained
    code, _, err = run(["attack", "--model", str(model), "--dataset", str(data), "--attack", "pgd",
                        "--out", str(tmp_path / "o")])
    assert code == 2 and "ior attack runs text attacks" in err and not (tmp_path / "o").exists()


def test_fail_on_illusion_exits_3_after_writing_the_report(trained, tmp_path):
    data, model = trained
    out = tmp_path / "gate"
    argv = ["audit", "--model", str(model), "--dataset", str(data), "--serve-temperature", "1e-4", "--names", "cold",
            "--attack", "pgd", "--piercing", "cal", "--epsilon", "0.3", "--n-examples", "40", "--out", str(out),
            "--no-progress"]
    code, _, err = run(argv + ["--fail-on", "gap>100", "illusion"])
    assert code == 3, err
    report = json.loads((out / "report.json").read_text())
    assert report["models"][0]["attacks"]["pgd"]["verdict"] == "illusion of robustness"
    # Only the condition that holds is named: no gap exceeds 100 points.
    assert err.startswith("ior: audit failed --fail-on gap>100 illusion: cold pgd: gap +")
    assert err.count("cold pgd") == 1 and err.rstrip().endswith("(illusion)")
    # The same audit passes a gate it does not trip.
    code, _, err = run(argv + ["--fail-on", "gap>100"])
    assert code == 0, err


def test_a_stopped_audit_resumes_and_reports_what_an_uninterrupted_one_reports(trained, tmp_path, monkeypatch):
    from ior.attacks.image import ImageAttackSuite

    data, model = trained
    argv = ["audit", "--model", str(model), "--dataset", str(data), "--serve-temperature", "1e-4",
            "--attack", "pgd", "apgd-ce", "--epsilon", "0.3", "--n-examples", "40", "--piercing", "cal",
            "--apgd-steps", "10", "--no-progress"]
    code, _, err = run([*argv, "--out", str(tmp_path / "whole")])
    assert code == 0, err
    real_run, calls = ImageAttackSuite.run, []

    def dies_on_the_third_run(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(ImageAttackSuite, "run", dies_on_the_third_run)
    out = tmp_path / "stopped"
    code, _, err = run([*argv, "--out", str(out)])
    assert code != 0 and "killed" in err and not (out / "report.json").exists()
    assert len(list((out / ".partial").rglob("*.npz"))) == 2  # pgd served and after cal
    calls.clear()
    monkeypatch.setattr(ImageAttackSuite, "run", lambda self, *a, **k: calls.append(a[0]) or real_run(self, *a, **k))
    code, _, err = run([*argv, "--out", str(out)])
    assert code == 0, err
    assert "resuming" in err and calls == ["apgd-ce", "apgd-ce"] and not (out / ".partial").exists()
    whole, resumed = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("whole", "stopped"))
    for report in (whole, resumed):
        for m in report["models"]:
            m.pop("elapsed_seconds")
    assert resumed["models"] == whole["models"]  # every number and verdict, to the bit
    assert (out / "examples.jsonl").read_text() == (tmp_path / "whole" / "examples.jsonl").read_text()
