"""``ior train`` and ``ior audit`` on a four-class task (the shape of TREC-6 and R8), end to end on a tiny
BERT: nothing in the chain may assume two classes."""

import json

import numpy as np
import pytest

from conftest import make_tiny_bert
from test_cli_end_to_end import _have_wordnet, run, write_split

NOUNS = ["the eiffel tower", "a violin", "the moon", "penicillin", "the nile", "a sonnet", "the telephone",
         "jazz", "the olympics", "a glacier", "the printing press", "chess", "the amazon", "a volcano",
         "the euro", "radio"]
# The question type is in its first words, as in TREC.
TEMPLATES = {"DESC": "define {}", "HUM": "who made {}", "LOC": "where is {}", "NUM": "how many {}"}


def _rows(indices):
    return [{"text": TEMPLATES[label].format(NOUNS[i]), "label": label} for i in indices for label in TEMPLATES]


@pytest.fixture(scope="module")
def four_classes(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiclass")
    data = root / "data"
    write_split(data, "train", _rows(range(10)))
    write_split(data, "validation", _rows(range(10, 13)))
    write_split(data, "test", _rows(range(13, 16)))
    model = root / "model"
    status, _, stderr = run(["train", "--model", make_tiny_bert(root / "encoder"), "--dataset", data, "--out", model,
                             "--epochs", 30, "--batch-size", 8, "--max-length", 16, "--lr", 1e-3, "--no-progress"])
    assert status == 0, stderr
    return {"root": root, "data": data, "model": model}


def test_training_on_four_classes_gives_a_four_way_head(four_classes):
    from ior.models.victim import TextClassifier

    config = json.loads((four_classes["model"] / "ior_config.json").read_text())
    assert sorted(config["label_names"]) == sorted(TEMPLATES)
    classifier = TextClassifier.from_pretrained(four_classes["model"])
    texts = [row["text"] for row in _rows(range(13, 16))]
    logits = classifier.logits(texts)
    assert logits.shape == (12, 4)
    # The templates are the only signal: a trained head separates them on unseen nouns.
    predicted = [classifier.label_names[i] for i in logits.argmax(axis=1)]
    assert np.mean([p == row["label"] for p, row in zip(predicted, _rows(range(13, 16)))]) >= 0.75


def test_a_two_class_checkpoint_fine_tuned_on_four_classes_gets_a_new_head(four_classes, caplog):
    from ior.models.victim import load_sequence_classifier

    encoder = four_classes["root"] / "encoder"  # saved with a two-class head
    with caplog.at_level("WARNING", logger="ior.models.victim"):
        model, _ = load_sequence_classifier(encoder, num_labels=4, allow_new_head=True)
    assert model.config.num_labels == 4 and model.classifier.out_features == 4
    assert "the 2-class head of the checkpoint is replaced by a new 4-class head" in caplog.text
    model, _ = load_sequence_classifier(encoder)  # served as saved: its own head, no warning
    assert model.config.num_labels == 2


def test_audit_of_a_four_class_model(four_classes):
    attacks = ["deepwordbug", "pwws"] if _have_wordnet() else ["deepwordbug"]
    out = four_classes["root"] / "audit"
    status, _, stderr = run(["audit", "--model", four_classes["model"], "--dataset", four_classes["data"],
                             "--serve-temperature", 1, 0.01, 1e6, "--attack", *attacks, "--n-examples", 12,
                             "--n-opt", 8, "--opt-maxiter", 2, "--n-bootstrap", 200, "--no-progress", "--out", out])
    assert status == 0, stderr
    report = json.loads((out / "report.json").read_text())
    models = report["models"]
    assert len(models) == 3
    for model in models:
        assert 0.25 <= model["mean_confidence"] <= 1.0  # the top probability of four classes is at least 1/4
    # T_d = 1e6 flattens the softmax to 1/4 per class, not 1/2; T_d = 0.01 sharpens it.
    assert models[2]["mean_confidence"] == pytest.approx(0.25, abs=1e-3)
    assert models[1]["mean_confidence"] > models[0]["mean_confidence"]
    assert [m["clean_accuracy"] for m in models[1:]] == [models[0]["clean_accuracy"]] * 2  # no reordering
    rows = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    assert {row["attack"] for row in rows} == set(attacks)
    for row in rows:
        assert row["label"] in range(4) and row["original_prediction"] in range(4)
        if row["outcome"] == "succeeded":  # an untargeted success: any of the three other classes
            assert row["adversarial_prediction"] in set(range(4)) - {row["label"]}
            assert row["rescored_prediction"] == row["adversarial_prediction"]
    assert any(row["outcome"] == "succeeded" for row in rows)
