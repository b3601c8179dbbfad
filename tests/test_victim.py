import numpy as np
import pytest
import torch

from conftest import make_tiny_bert
from ior.models.victim import TextClassifier, load_sequence_classifier, weights_sha256


def test_tiny_classifier_returns_float32_logits_and_caches(tiny_bert):
    clf = TextClassifier.from_pretrained(tiny_bert)
    texts = ["a fine film", "a dull , lifeless film", "a fine film"]
    first = clf.logits(texts)
    assert first.dtype == np.float32 and first.shape == (3, 2)
    assert np.array_equal(first[0], first[2])
    assert clf.forward_count == 2  # the repeated text ran once
    again = clf.logits(texts[:2])
    assert clf.forward_count == 2 and np.array_equal(again, first[:2])
    fresh = clf.logits_uncached(texts[:2])
    assert np.allclose(fresh, first[:2], atol=1e-6)
    assert clf.weights_hash == weights_sha256(tiny_bert) and len(clf.weights_hash) == 64


def test_batching_and_length_sorting_do_not_change_logits(tiny_bert):
    texts = ["short", "a much longer sentence with many more words than the first", "mid length text"]
    big = TextClassifier.from_pretrained(tiny_bert, batch_size=64, cache=False).logits(texts)
    one = TextClassifier.from_pretrained(tiny_bert, batch_size=1, cache=False).logits(texts)
    assert np.allclose(big, one, atol=1e-5)


def test_missing_path_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        TextClassifier.from_pretrained(tmp_path / "nope")
    with pytest.raises(ValueError, match="no config.json"):
        TextClassifier.from_pretrained(tmp_path)


def test_pickled_weights_are_refused(tmp_path, tiny_bert):
    import shutil

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match="no .safetensors weights"):
        TextClassifier.from_pretrained(folder)


def test_encoder_without_classification_head_is_refused(tmp_path):
    folder = make_tiny_bert(tmp_path / "encoder", head=False)
    with pytest.raises(ValueError, match="no trained classification head"):
        TextClassifier.from_pretrained(folder)
    model, _ = load_sequence_classifier(folder, num_labels=3, allow_new_head=True)
    assert model.config.num_labels == 3


def test_nan_logits_are_an_error(tiny_bert):
    clf = TextClassifier.from_pretrained(tiny_bert)
    with torch.no_grad():
        clf.model.classifier.bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="non-finite logits"):
        clf.logits(["anything"])


def test_texts_must_be_a_list_of_strings(tiny_bert):
    clf = TextClassifier.from_pretrained(tiny_bert)
    with pytest.raises(TypeError, match="single str"):
        clf.logits("oops")
    with pytest.raises(TypeError, match="must be strings"):
        clf.logits([1, 2])


def test_real_minilm_loads_offline_and_runs_a_forward_pass(minilm_path):
    model, tokenizer = load_sequence_classifier(minilm_path, num_labels=2, allow_new_head=True)
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 6
    assert 22_000_000 < sum(p.numel() for p in model.parameters()) < 23_500_000
    clf = TextClassifier(model, tokenizer, max_length=32)
    logits = clf.logits(["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate"])
    assert logits.shape == (2, 2) and np.isfinite(logits).all()
