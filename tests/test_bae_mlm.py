"""The masked-LM resource: loading, held-out accuracy, and ``ior resources build-mlm``."""

from __future__ import annotations

import json

import pytest

from conftest import make_tiny_bert
from ior.cli.main import main
from ior.resources.mlm import fill_mask_accuracy, load_masked_lm
from ior.resources.mlm_build import MLMBuildConfig
from test_bae_transformation import make_tiny_mlm, stub


def write_corpus(folder, n_train=48, n_validation=12):
    """Sentences where each noun follows its own adjective, so context predicts it."""
    pairs = [("red", "apple"), ("blue", "sky"), ("green", "grass"), ("white", "snow")]
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("validation", n_validation)):
        with open(folder / f"{split}.jsonl", "w") as handle:
            for k in range(n):
                adjective, noun = pairs[k % len(pairs)]
                text = f"the {adjective} {noun} and the {adjective} {noun} again."
                handle.write(json.dumps({"text": text, "label": k % 2}) + "\n")
    return str(folder)


def test_fill_mask_accuracy_known_answer(tmp_path):
    mlm = load_masked_lm(make_tiny_mlm(tmp_path / "mlm"))
    always_film = stub(mlm.tokenizer, ["film", "movie"])
    # Eligible words: alphabetic single tokens. "film" is always top-1, "movie" top-2.
    result = fill_mask_accuracy(always_film, ["film film film", "movie movie"], masks_per_sentence=2)
    assert result["n"] == 4 and result["top1"] == 0.5 and result["top5"] == 1.0
    assert result["stopword"]["n"] == 0 and result["content"]["top1"] == 0.5
    one = fill_mask_accuracy(always_film, ["the film"], masks_per_sentence=1, seed=3)
    assert one["n"] == 1 and one["stopword"]["n"] + one["content"]["n"] == 1


def test_load_refuses_an_encoder_without_mlm_head(tmp_path):
    folder = make_tiny_bert(tmp_path / "encoder", head=False)
    with pytest.raises(ValueError, match="no trained masked-LM head"):
        load_masked_lm(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="config.json"):
        load_masked_lm(tmp_path / "empty")
    with pytest.raises(RuntimeError, match="ior resources build-mlm"):
        load_masked_lm(cache=tmp_path / "cache")


def test_build_config_errors_name_the_parameter():
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        MLMBuildConfig(steps=0)
    with pytest.raises(ValueError, match="mask_fraction must be in"):
        MLMBuildConfig(mask_fraction=1.5)
    with pytest.raises(TypeError, match="unfreeze_layers must be an int"):
        MLMBuildConfig(unfreeze_layers=1.0)


def test_cli_build_mlm_on_a_tiny_config(tmp_path, capsys):
    encoder = make_tiny_bert(tmp_path / "encoder", head=False)
    data = write_corpus(tmp_path / "data")
    out = tmp_path / "mlm"
    argv = ["resources", "build-mlm", "--encoder", encoder, "--dataset", data, "--out", str(out),
            "--steps", "80", "--batch-size", "8", "--head-lr", "5e-2", "--encoder-lr", "5e-3",
            "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "held-out fill-mask accuracy" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["config.json", "model.safetensors", "tokenizer.json",
                                         "tokenizer_config.json"]
    assert manifest["config"]["steps"] == 80 and manifest["head_was_initialised"] is True
    accuracy, baseline = manifest["fill_mask_accuracy"], manifest["unigram_baseline"]
    assert accuracy["n"] == 24 and baseline["n"] == 24
    # Context decides the noun; the model must beat always guessing the commonest word.
    assert manifest["loss_last_50"] < manifest["loss_first_50"]
    assert accuracy["top1"] > baseline["top1"] + 0.1
    mlm = load_masked_lm(out)
    assert mlm.manifest["fill_mask_accuracy"] == accuracy
    assert not list(out.glob("*.bin")) and not list(tmp_path.glob(".mlm.*"))
    assert main(argv) == 0 and "already built" in capsys.readouterr().out


def test_cli_build_mlm_rejects_bad_values(tmp_path, capsys):
    assert main(["resources", "build-mlm", "--steps", "0", "--out", str(tmp_path / "x")]) == 2
    assert "steps must be >= 1" in capsys.readouterr().err
