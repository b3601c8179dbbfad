"""The mean-pooling sentence encoder and the threshold carry-over from USE."""

from __future__ import annotations

import numpy as np
import pytest

from ior.resources.embeddings import WordEmbedding
from ior.resources.encoder_calibration import (
    MeanWordVectorEncoder,
    calibrate_threshold,
    calibration_pairs,
    match_rejection_rate,
)
from ior.resources.sentence_encoder import MeanPoolingEncoder


def test_mean_pooling_ignores_padding_and_normalises(tiny_bert):
    enc = MeanPoolingEncoder(tiny_bert, batch_size=8)
    alone = MeanPoolingEncoder(tiny_bert).encode(["a film"])
    batch = enc.encode(["a film", "a much longer sentence about a film that needs padding"])
    assert batch.shape == (2, 32) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0], alone[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert enc.encode(["a film"]) is not None and len(enc._cache) == 2  # cached, not re-encoded


def test_mean_pooling_matches_a_hand_computed_mean(tiny_bert):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(tiny_bert), AutoModel.from_pretrained(tiny_bert)
    with torch.inference_mode():
        hidden = model(**tok(["good film"], return_tensors="pt")).last_hidden_state[0]
    expected = hidden.mean(dim=0)
    expected = (expected / expected.norm()).numpy()
    np.testing.assert_allclose(MeanPoolingEncoder(tiny_bert).encode(["good film"])[0], expected,
                               atol=1e-5)


def test_encoder_rejects_a_single_string(tiny_bert):
    with pytest.raises(TypeError, match="not a single str"):
        MeanPoolingEncoder(tiny_bert).encode("good film")


def test_match_rejection_rate_known_answers():
    reference = np.array([0.1, 0.2, 0.3, 0.9])  # 3 of 4 below 0.5
    target = np.array([0.6, 0.7, 0.8, 0.95])
    out = match_rejection_rate(reference, 0.5, target)
    assert out["rejection_rate"] == 0.75
    assert out["threshold"] == 0.95 and out["target_rejection_rate"] == 0.75
    none = match_rejection_rate(reference, 0.05, target)
    assert none["rejection_rate"] == 0.0 and none["target_rejection_rate"] == 0.0
    assert none["threshold"] < 0.6
    with pytest.raises(ValueError, match="at least one"):
        match_rejection_rate(np.array([]), 0.5, target)


class _Tagger:
    def tag(self, words):
        return ["ADJ" if w in {"good", "fine", "great"} else "NOUN" for w in words]


def test_calibration_pairs_follow_textfooler_candidates():
    emb = WordEmbedding(["good", "fine", "great", "bad"],
                        [[1.0, 0.0], [0.9, 0.3], [0.8, 0.5], [-1.0, 0.1]])
    text = "it was a good one " * 4  # 20 words
    pairs = calibration_pairs([text, "good"], emb, _Tagger(), frozenset({"it", "was", "a"}),
                              max_pairs_per_text=50)
    # 4 positions of "good" x 2 neighbours (bad fails cosine >= 0.5); "one" has no vector.
    assert len(pairs) == 8
    assert all(len(a.split()) == len(b.split()) == 15 for a, b in pairs)
    assert all("bad" not in b for _, b in pairs)
    report = calibrate_threshold(pairs, MeanWordVectorEncoder(emb), MeanWordVectorEncoder(emb))
    assert report["pairs"] == 8 and report["rejection_rate"] == report["target_rejection_rate"]


def test_centred_mean_word_vectors_remove_the_shared_component():
    emb = WordEmbedding(["x", "y", "common"], [[1.0, 0.0, 5.0], [0.0, 1.0, 5.0], [0.0, 0.0, 5.0]])
    enc = MeanWordVectorEncoder(emb)
    raw = enc.encode(["x common", "y common"])
    assert float(raw[0] @ raw[1] / np.linalg.norm(raw[0]) / np.linalg.norm(raw[1])) > 0.9
    centred = enc.fit_center(["x common", "y common"]).encode(["x common", "y common"])
    np.testing.assert_allclose(centred, [[0.25, -0.25, 0.0], [-0.25, 0.25, 0.0]], atol=1e-6)
    with pytest.raises(ValueError, match="at least one text"):
        enc.fit_center([])
