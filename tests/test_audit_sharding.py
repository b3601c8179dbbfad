"""`ior audit --workers N`: the same outcomes, example by example, as one process."""

import contextlib
import io
import json

import pytest

from ior.cli.main import main


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def numbers(folder):
    """report.json without what may differ between runs (times, the workers used)."""
    report = json.loads((folder / "report.json").read_text())
    for model in report["models"]:
        model.pop("elapsed_seconds")
    provenance = report.pop("provenance")
    return report["models"], provenance["forward_passes"]


def examples(folder):
    return [json.loads(line) for line in (folder / "examples.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def text_audits(tiny_bert, tmp_path_factory):
    from test_cli_end_to_end import _rows, train_argv, write_dataset

    root = tmp_path_factory.mktemp("sharded-text")
    data = write_dataset(root / "data", test=_rows(range(20)))
    model = root / "model"
    code, err = run(train_argv(tiny_bert, data, model, "--epochs", 30))
    assert code == 0, err
    argv = ["audit", "--model", model, "--dataset", data, "--serve-temperature", "1", "1e-3",
            "--attack", "dg", "pwws", "--n-examples", 24, "--n-opt", 8, "--opt-maxiter", 2, "--n-bootstrap", 200,
            "--no-progress"]
    outs = {}
    for workers in (1, 2):
        outs[workers] = root / f"workers-{workers}"
        code, err = run(argv + ["--out", outs[workers], "--workers", workers])
        assert code == 0, err
    return outs


def test_sharded_text_audit_has_the_same_outcomes_example_by_example(text_audits):
    one, two = examples(text_audits[1]), examples(text_audits[2])
    assert len(one) == len(two) == 2 * 2 * 3 * 24  # T_d × attacks × (served, cal, opt) × examples
    assert one == two
    assert any(e["outcome"] == "succeeded" for e in one)  # something to agree on


def test_sharded_text_audit_has_the_same_report_numbers(text_audits):
    (models_one, passes_one), (models_two, _) = numbers(text_audits[1]), numbers(text_audits[2])
    assert models_one == models_two
    provenance = json.loads((text_audits[2] / "report.json").read_text())["provenance"]
    assert provenance["workers"] == {"n": 2, "executor": "local"}
    assert provenance["forward_passes"] > 0


def test_sharded_image_audit_has_the_same_outcomes(tmp_path):
    from test_image_audit import write_npz_dataset

    data = write_npz_dataset(tmp_path / "data", n=(120, 40, 40))
    model = tmp_path / "model"
    code, err = run(["train", "--dataset", data, "--arch", "cnn", "--epochs", 2, "--batch-size", 32, "--out", model,
                     "--no-progress"])
    assert code == 0, err
    argv = ["audit", "--model", model, "--dataset", data, "--serve-temperature", "1e-4", "--attack", "pgd", "square",
            "--epsilon", 0.3, "--square-queries", 50, "--attack-batch-size", 8, "--n-examples", 40, "--n-opt", 16,
            "--opt-maxiter", 2, "--n-bootstrap", 200, "--no-progress", "--piercing", "cal", "opt", "platt"]
    runs = {"one": ["--workers", 1], "local": ["--workers", 2], "ray": ["--workers", 2, "--executor", "ray"]}
    for name, extra in runs.items():
        code, err = run(argv + ["--out", tmp_path / name] + extra)
        assert code == 0, err
    one = examples(tmp_path / "one")
    assert {e["outcome"] for e in one} >= {"succeeded", "failed"}
    assert {e["stage"] for e in one} == {"served", "cal", "opt", "platt"}  # platt's map travels to the workers
    for name in ("local", "ray"):
        assert examples(tmp_path / name) == one, name
        assert numbers(tmp_path / name)[0] == numbers(tmp_path / "one")[0], name
    assert json.loads((tmp_path / "ray" / "report.json").read_text())["provenance"]["workers"]["executor"] == "ray"


def test_shards_of_image_batches_must_start_on_a_batch(tmp_path):
    from ior.attacks.image import ImageAttackConfig, ImageAttackSuite

    suite = ImageAttackSuite(ImageAttackConfig(epsilon=0.1, batch_size=8), num_labels=4, progress=False)
    with pytest.raises(ValueError, match="offset 5 is not a multiple of the attack batch size 8"):
        suite.run("pgd", object(), [[[[0.0]]]], [0], offset=5)


@pytest.mark.parametrize("extra, message", [
    (["--workers", "0"], "--workers must be >= 1"),
    (["--address", "auto"], "--address needs --executor ray"),
])
def test_bad_scale_options_are_one_line_errors(extra, message, tiny_bert, tmp_path):
    code, err = run(["audit", "--model", tiny_bert, "--dataset", "rt", "--out", tmp_path / "o", "--no-progress"] + extra)
    assert code == 2 and err.strip() == f"ior: error: {message}" + err.strip().split(message, 1)[1]
    assert message in err and not (tmp_path / "o").exists()
