"""Bad input to ``ior audit`` / ``ior attack``: exit 2, one ``ior: error:`` line naming the problem, no output."""

import json
import re

import numpy as np
import pytest

from conftest import make_tiny_bert
from ior.cli.main import main

ROWS = [{"text": "a wonderful film", "label": 1}, {"text": "a dull mess", "label": 0},
        {"text": "great acting", "label": 1}, {"text": "boring and slow", "label": 0}]


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def good_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for split in ("train", "test"):
        write_jsonl(folder / f"{split}.jsonl", ROWS)
    write_jsonl(folder / "validation.jsonl", ROWS[::-1])  # not the test split: no warning
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_bert):
    """Broken and mismatched model folders, built once."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    root = tmp_path_factory.mktemp("models")
    nan_bias = root / "nan-bias"
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert)
    with torch.no_grad():
        model.classifier.bias.fill_(float("nan"))
    model.save_pretrained(nan_bias, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(nan_bias)
    pickled = root / "pickled"  # transformers 5 only writes safetensors: pickle by hand
    pickled.mkdir()
    model.config.save_pretrained(pickled)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    (root / "not-a-model").mkdir()
    (root / "not-a-model" / "notes.txt").write_text("hello")
    (root / "weights.bin").write_bytes(b"\0")
    return {"tiny": tiny_bert, "nan-bias": str(nan_bias), "pickled": str(pickled),
            "no-head": make_tiny_bert(root / "no-head", head=False),
            "three-classes": make_tiny_bert(root / "three-classes", num_labels=3),
            "missing": str(root / "does-not-exist"), "not-a-model": str(root / "not-a-model"),
            "file": str(root / "weights.bin")}


def assert_one_line_error(argv, out, capsys, pattern):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    err_lines = captured.err.splitlines()
    assert status == 2, captured.err
    assert len(err_lines) == 1, captured.err
    assert err_lines[0].startswith("ior: error: ")
    assert "Traceback" not in captured.err
    assert re.search(pattern, err_lines[0]), err_lines[0]
    assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.iterdir())


def command_argv(command, model, dataset, out, *extra):
    argv = [command, "--model", model, "--dataset", dataset, "--out", out, "--attack", "dg",
            "--n-examples", 2, "--no-progress"]
    if command == "audit":
        argv += ["--n-opt", 2, "--opt-maxiter", 1, "--n-bootstrap", 20]
    return argv + list(extra)


# ---------------------------------------------------------------- datasets

def _dataset_case(case, root):
    folder = root / case
    folder.mkdir()
    for split in ("train", "validation"):
        write_jsonl(folder / f"{split}.jsonl", ROWS)
    test = folder / "test.jsonl"
    if case == "missing-file":
        return folder / "nowhere.jsonl", r"dataset not found: '.*nowhere\.jsonl'"
    if case == "missing-split":
        return folder, r"no file for split 'test' in '.*'"
    if case == "empty-file":
        test.write_text("")
        return folder, r"empty file: '.*test\.jsonl'"
    if case == "blank-lines-only":
        test.write_text("\n\n")
        return folder, r"no rows in '.*test\.jsonl'"
    if case == "missing-text-column":
        write_jsonl(test, [{"sentence": "fine", "label": 1}])
        return folder, r"column 'text' not found in '.*test\.jsonl'; available columns: sentence, label"
    if case == "missing-label-column":
        write_jsonl(test, [{"text": "fine", "sentiment": 1}])
        return folder, r"column 'label' not found in '.*test\.jsonl'; available columns: text, sentiment"
    if case == "unknown-string-label":
        # No label names recorded by `ior train` here: the split's three names do not fit two classes.
        write_jsonl(test, [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"},
                           {"text": "so so", "label": "meh"}])
        return folder, r"has 2 classes but the dataset has 3"
    if case == "label-out-of-range":
        write_jsonl(test, [{"text": "good", "label": 1}, {"text": "bad", "label": -1}])
        return folder, r"label -1 out of range in column 'label' \(row 1\)"
    if case == "missing-label-value":
        write_jsonl(test, [{"text": "good", "label": 1}, {"text": "bad", "label": None}])
        return folder, r"missing label in column 'label' \(row 1\)"
    if case == "only-empty-texts":
        write_jsonl(test, [{"text": "", "label": 1}, {"text": "  ", "label": 0}])
        return folder, r"split 'test' of '.*' has no non-empty texts"
    if case == "latin-1-csv":  # a spreadsheet's export: 0xe9 is é in latin-1, invalid in UTF-8
        (folder / "test.csv").write_bytes("text,label\ngreat film,1\nun caf\xe9 froid,0\n".encode("latin-1"))
        return folder, r"'.*test\.csv' is not valid UTF-8: byte 0xe9 on line 3; give the file's encoding \(--encoding"
    if case == "broken-validation":
        write_jsonl(test, ROWS)
        write_jsonl(folder / "validation.jsonl", [{"text": "fine", "sentiment": 1}])
        return folder, r"column 'label' not found in '.*validation\.jsonl'"
    raise AssertionError(case)


DATASET_CASES = ["missing-file", "missing-split", "empty-file", "blank-lines-only", "missing-text-column",
                 "missing-label-column", "unknown-string-label", "label-out-of-range", "missing-label-value",
                 "only-empty-texts", "latin-1-csv"]


@pytest.mark.parametrize("command", ["audit", "attack"])
@pytest.mark.parametrize("case", DATASET_CASES)
def test_bad_dataset_is_one_line_error(case, command, models, tmp_path, capsys):
    dataset, pattern = _dataset_case(case, tmp_path)
    out = tmp_path / "out"
    assert_one_line_error(command_argv(command, models["tiny"], dataset, out), out, capsys, pattern)


@pytest.mark.parametrize("command", ["audit", "attack", "train"])
def test_unknown_encoding_is_one_line_error(command, models, good_data, tmp_path, capsys):
    out = tmp_path / "out"
    argv = (["train", "--dataset", good_data, "--model", models["tiny"], "--out", out, "--no-progress"]
            if command == "train" else command_argv(command, models["tiny"], good_data, out))
    assert_one_line_error(argv + ["--encoding", "klingon"], out, capsys, r"unknown text encoding 'klingon'")


def test_encoding_lets_a_latin_1_file_through(models, tmp_path):
    folder = tmp_path / "tweets"
    folder.mkdir()
    for split in ("test", "validation"):
        (folder / f"{split}.csv").write_bytes("text,label\nun caf\xe9 tr\xe8s bon,1\nna\xefve and dull,0\n"
                                              .encode("latin-1"))
    out = tmp_path / "out"
    assert main([str(a) for a in command_argv("audit", models["tiny"], folder, out, "--encoding", "latin-1")]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["test"]["n"] == 2
    texts = {json.loads(line)["original_text"] for line in (out / "examples.jsonl").read_text().splitlines()}
    assert "un café très bon" in texts and "naïve and dull" in texts


def test_audit_broken_validation_split_is_one_line_error(models, tmp_path, capsys):
    dataset, pattern = _dataset_case("broken-validation", tmp_path)
    out = tmp_path / "out"
    assert_one_line_error(command_argv("audit", models["tiny"], dataset, out), out, capsys, pattern)


# ---------------------------------------------------------------- temperatures (argparse level)

@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "=-inf", "1e-400", "warm"])
@pytest.mark.parametrize("command, flag", [("audit", "--serve-temperature"), ("attack", "--serve-temperature"),
                                           ("attack", "--attack-temperature")])
def test_bad_temperature_is_one_line_error(command, flag, value, good_data, models, tmp_path, capsys):
    out = tmp_path / "out"
    # argparse reads "-inf" after a space as an option; "--flag=-inf" passes it as a value.
    extra = [flag + value] if value.startswith("=") else [flag, value]
    argv = command_argv(command, models["tiny"], good_data, out, *extra)
    assert_one_line_error(argv, out, capsys,
                          rf"argument {flag}: temperature must be a finite number > 0, got '{value.lstrip('=')}'")


def test_bad_temperature_among_good_ones_is_rejected(good_data, models, tmp_path, capsys):
    out = tmp_path / "out"
    argv = command_argv("audit", models["tiny"], good_data, out, "--serve-temperature", "1", "0.01", "0")
    assert_one_line_error(argv, out, capsys, r"--serve-temperature: temperature must be .* got '0'")


@pytest.mark.parametrize("argv, pattern", [
    (["audit", "--dataset", "x", "--out", "o"], r"the following arguments are required: --model"),
    (["audit", "--model", "m", "--dataset", "x", "--out", "o", "--score", "logit"], r"--score: invalid choice"),
    (["frobnicate"], r"invalid choice: 'frobnicate'"),
])
def test_argparse_errors_are_one_line(argv, pattern, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(argv, tmp_path / "o", capsys, pattern)


def test_help_returns_0(capsys):
    assert main(["audit", "--help"]) == 0
    assert "--serve-temperature" in capsys.readouterr().out


# ---------------------------------------------------------------- models

MODEL_CASES = {
    "missing": r"model path '.*does-not-exist' does not exist",
    "not-a-model": r"model path '.*not-a-model' has no config\.json",
    "file": r"model path '.*weights\.bin' is not a directory",
    "pickled": r"has no \.safetensors weights",
    "no-head": r"has no trained classification head",
    "nan-bias": r"non-finite logits",
    "three-classes": r"model '.*three-classes' has 3 classes but the dataset has 2",
}


@pytest.mark.parametrize("command", ["audit", "attack"])
@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_bad_model_is_one_line_error(case, command, models, good_data, tmp_path, capsys):
    out = tmp_path / "out"
    assert_one_line_error(command_argv(command, models[case], good_data, out), out, capsys, MODEL_CASES[case])


def test_model_name_that_is_neither_local_nor_on_the_hub_is_named(good_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert_one_line_error(command_argv("attack", "no-such-model", good_data, out), out, capsys,
                          r"model 'no-such-model' is not a local folder and could not be loaded")


# ---------------------------------------------------------------- other arguments

def test_out_that_is_a_file_is_rejected_before_any_work(models, good_data, tmp_path, capsys):
    out = tmp_path / "report.txt"
    out.write_text("keep me")
    status = main([str(a) for a in command_argv("audit", models["tiny"], good_data, out)])
    err = capsys.readouterr().err
    assert status == 2 and err == f"ior: error: --out '{out}' exists and is not a folder\n"
    assert out.read_text() == "keep me"


def test_unknown_attack_is_one_line_error(models, good_data, tmp_path, capsys):
    out = tmp_path / "out"
    argv = command_argv("audit", models["tiny"], good_data, out) + ["--attack", "nosuchattack"]
    assert_one_line_error(argv, out, capsys, r"unknown attack 'nosuchattack'")


def test_names_must_match_serving_temperatures(models, good_data, tmp_path, capsys):
    out = tmp_path / "out"
    argv = command_argv("audit", models["tiny"], good_data, out, "--serve-temperature", 1, 2, "--names", "a")
    assert_one_line_error(argv, out, capsys, r"--names gives 1 names for 2 serving temperatures")


# ---------------------------------------------------------------- probabilities (API level)

class Probabilities:
    """A classifier whose outputs are already softmax probabilities (what a careless export serves)."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.num_labels = classifier.num_labels

    def logits(self, texts):
        from ior.models.probabilities import softmax_float32

        return softmax_float32(self.classifier.logits(texts))


def test_audit_refuses_a_model_that_outputs_probabilities(models):
    from ior.attacks.suite import TextAttackSuite
    from ior.audit.config import AuditConfig
    from ior.audit.run import Auditor
    from ior.models.victim import TextClassifier

    model = Probabilities(TextClassifier.from_pretrained(models["tiny"], max_length=16))
    texts, labels = [r["text"] for r in ROWS], np.array([r["label"] for r in ROWS])
    suite = TextAttackSuite(progress=False)
    config = dict(attacks=("deepwordbug",), piercings=(), n_examples=4, n_bootstrap=20)
    with pytest.raises(ValueError, match="probabilities where logits are required"):
        Auditor(model, suite, AuditConfig(**config), progress=False).run(texts, labels, [], [])
    audit = Auditor(model, suite, AuditConfig(**config, allow_probabilities=True), progress=False).run(
        texts, labels, [], [])
    assert "outputs-are-probabilities" in {f["code"] for f in audit.flags}


# ---------------------------------------------------------------- attack resources

@pytest.mark.parametrize("command", ["attack", "audit"])
@pytest.mark.parametrize("option", ["--masked-lm", "--word-embeddings", "--sentence-encoder"])
def test_a_missing_resource_path_is_one_line_naming_the_option(command, option, models, good_data, tmp_path, capsys):
    out = tmp_path / "out"
    argv = command_argv(command, models["tiny"], good_data, out, option, tmp_path / "nowhere")
    assert_one_line_error(argv, out, capsys, rf"{option}: no such file or folder '.*nowhere'")


@pytest.mark.parametrize("command", ["attack", "audit"])
@pytest.mark.parametrize("attack,pattern", [("bae", r"no masked LM in '.*'; run `ior resources build-mlm`"),
                                            ("tf", r"counter-fitted vectors are not prepared in '.*'")])
def test_an_unbuilt_resource_fails_before_any_attack_runs(command, attack, pattern, models, good_data, tmp_path,
                                                          capsys, monkeypatch):
    # The audit used to run DeepWordBug first and fail only when BAE was built, leaving a half-done audit.
    from ior.attacks.suite import TextAttackSuite

    monkeypatch.setenv("IOR_CACHE", str(tmp_path / "empty-cache"))
    ran = []
    monkeypatch.setattr(TextAttackSuite, "run", lambda self, name, *a, **k: ran.append(name))
    out = tmp_path / "out"
    argv = command_argv(command, models["tiny"], good_data, out)
    argv[argv.index("--attack") + 1:argv.index("--attack") + 2] = ["dg", attack]
    assert_one_line_error(argv, out, capsys, pattern)
    assert ran == []


def test_word_embeddings_from_a_text_file_reach_textfooler(models, good_data, tmp_path):
    """A user's own vectors file (the original counter-fitted-vectors.txt format) drives TextFooler."""
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("wonderful 1.0 0.0\nmarvellous 0.99 0.05\ndull 0.0 1.0\nboring 0.05 0.99\n")
    from ior.cli.common import attack_suite

    class Args:
        word_embeddings, sentence_encoder, masked_lm = str(vectors), None, None
        seed, score, no_progress = 0, "probability", True

    suite = attack_suite(Args)
    embedding = suite.resources("tf")["embedding"]
    assert [embedding.index2word(i) for i in embedding.nearest_neighbours("wonderful", 1)] == ["marvellous"]


@pytest.mark.parametrize("command", ["train", "audit"])
def test_threads_sets_torch_threads_before_anything_runs(command, monkeypatch, tmp_path, capsys):
    import torch

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    argv = [command, "--dataset", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]
    if command == "audit":
        argv += ["--model", str(tmp_path / "model")]
    capsys.readouterr()
    assert main(argv + ["--threads", "1"]) == 2  # the bad dataset or model still fails, after the threads are set
    assert calls == [1]
    capsys.readouterr()
    assert main(argv + ["--threads", "0"]) == 2
    assert capsys.readouterr().err.strip().endswith("ior: error: --threads must be >= 1, got 0")
    assert calls == [1] and not (tmp_path / "out").exists()
