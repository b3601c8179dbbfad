"""`--runtime onnx`: the exported network gives torch's logits, is cached by weights, and the audit
counts outcomes on torch."""

import contextlib
import io
import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from ior.cli.main import main  # noqa: E402
from ior.models.onnx_runtime import OnnxTextClassifier, cached_onnx_path, load_text_classifier  # noqa: E402
from ior.models.victim import TextClassifier  # noqa: E402

TEXTS = ["a wonderful film", "boring and slow", "i loved it , truly", "x", "a tedious plot with a lazy sequel " * 3]


def test_onnx_logits_match_torch_and_the_export_is_cached(tiny_bert):
    torch_model = TextClassifier.from_pretrained(tiny_bert, batch_size=2)
    onnx_model = load_text_classifier(tiny_bert, batch_size=2, runtime="onnx", threads=1)
    assert isinstance(onnx_model, OnnxTextClassifier)
    path = cached_onnx_path(tiny_bert, torch_model.weights_hash)
    assert onnx_model.onnx_path == path and path.is_file() and torch_model.weights_hash in path.name
    fast, ref = onnx_model.logits(TEXTS), torch_model.logits(TEXTS)
    assert fast.dtype == np.float32 and np.abs(fast - ref).max() < 1e-4
    assert (fast.argmax(axis=1) == ref.argmax(axis=1)).all()
    assert np.array_equal(onnx_model.logits_reference(TEXTS), ref)  # the reference is torch itself
    stamp = path.stat().st_mtime_ns
    load_text_classifier(tiny_bert, runtime="onnx")  # same weights: no second export
    assert path.stat().st_mtime_ns == stamp


def test_unknown_runtime_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="runtime must be one of"):
        load_text_classifier(tiny_bert, runtime="tensorrt")


def test_audit_with_the_onnx_runtime_counts_the_same_outcomes(tiny_bert, tmp_path):
    from test_cli_end_to_end import _rows, train_argv, write_dataset

    data = write_dataset(tmp_path / "data", test=_rows(range(20)))
    model = tmp_path / "model"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main([str(a) for a in train_argv(tiny_bert, data, model, "--epochs", 30)]) == 0, err.getvalue()
        argv = ["audit", "--model", model, "--dataset", data, "--attack", "dg", "--n-examples", 24, "--n-opt", 8,
                "--opt-maxiter", 2, "--n-bootstrap", 200, "--no-progress"]
        for runtime in ("torch", "onnx"):
            assert main([str(a) for a in argv + ["--out", tmp_path / runtime, "--runtime", runtime]]) == 0, \
                err.getvalue()
    reports = {r: json.loads((tmp_path / r / "report.json").read_text()) for r in ("torch", "onnx")}
    assert reports["onnx"]["provenance"]["runtime"] == {"search": "onnx", "counted": "torch"}
    rows = {r: [json.loads(line) for line in (tmp_path / r / "examples.jsonl").read_text().splitlines()]
            for r in ("torch", "onnx")}
    same = [a["robust"] == b["robust"] for a, b in zip(rows["torch"], rows["onnx"])]
    assert len(same) == 3 * 24 and all(same)
    assert any(not row["robust"] for row in rows["onnx"])
    t, o = reports["torch"]["models"][0], reports["onnx"]["models"][0]
    assert o["clean_accuracy"] == t["clean_accuracy"] and o["calibration"]["ece"] == t["calibration"]["ece"]
