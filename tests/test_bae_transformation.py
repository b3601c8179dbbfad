"""WordSwapMaskedLM (method "bae") on a tiny random MLM and on a hand-made stub MLM."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ior.attacks.text import AttackedText, words_from_text
from ior.attacks.transformations.masked_lm import SwappedText, WordSwapMaskedLM
from ior.resources.mlm import MaskedLM, load_masked_lm

TEXT = "A gripping, well acted film about a lonely painter and his stubborn dog."


def make_tiny_mlm(folder, *, seed=0):
    """A 2-layer, 32-wide BertForMaskedLM with MiniLM's tokenizer, saved as safetensors."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from conftest import _minilm_path

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(_minilm_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertForMaskedLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory):
    return load_masked_lm(make_tiny_mlm(tmp_path_factory.mktemp("tiny-mlm")))


class StubMLM(torch.nn.Module):
    """Every position gets the same logits: ``scores`` for chosen token ids, -20 elsewhere."""

    def __init__(self, vocab_size, scores):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab_size, max_position_embeddings=512,
                                      model_type="bert")
        row = torch.full((vocab_size,), -20.0)
        for token_id, score in scores.items():
            row[token_id] = score
        self.register_buffer("row", row)
        self.calls = 0

    def forward(self, input_ids, **_):
        self.calls += 1
        return SimpleNamespace(logits=self.row.expand(*input_ids.shape, -1))


@pytest.fixture(scope="module")
def tokenizer(tiny_mlm):
    return tiny_mlm.tokenizer


def stub(tokenizer, ranked_tokens):
    """A MaskedLM ranking ``ranked_tokens`` first, in that order."""
    ids = tokenizer.convert_tokens_to_ids(ranked_tokens)
    scores = {i: 10.0 - 0.1 * k for k, i in enumerate(ids)}
    return MaskedLM(StubMLM(tokenizer.vocab_size, scores), tokenizer, name="stub")


def test_candidates_are_whole_words_within_budget_without_the_original(tiny_mlm):
    swap = WordSwapMaskedLM(tiny_mlm, max_candidates=50, min_confidence=0.0)
    text = AttackedText(TEXT)
    special = set(tiny_mlm.tokenizer.all_special_tokens)
    rng = np.random.default_rng(0)
    for i in range(text.num_words):
        candidates = swap(text, [i], rng)
        assert 0 < len(candidates) <= 50
        for c in candidates:
            assert isinstance(c, SwappedText) and c.newly_modified_indices == {i}
            assert c.num_words == text.num_words and c.changed_positions(text) == [i]
            new = c.words[i]
            assert new != text.words[i]
            assert "##" not in new and new not in special and not new.startswith("[unused")
            assert words_from_text(new) == [new] and any(ch.isalpha() and ch.isascii() for ch in new)


def test_candidates_are_deterministic_and_cached(tiny_mlm):
    text, rng = AttackedText(TEXT), np.random.default_rng(0)
    first = WordSwapMaskedLM(tiny_mlm, min_confidence=0.0)(text, [1, 4], rng)
    again = WordSwapMaskedLM(tiny_mlm, min_confidence=0.0, cache_size=0)(text, [4, 1], rng)
    assert [c.text for c in first] == [c.text for c in again]


def test_ranking_and_filtering_known_answer(tokenizer):
    ranked = ["##ing", "[CLS]", "[unused3]", ",", "film", "1999", "movie", "picture", "story"]
    swap = WordSwapMaskedLM(stub(tokenizer, ranked), max_candidates=4, min_confidence=0.0)
    text = AttackedText("a great film")
    # Whole words in rank order: film, 1999, movie, picture (4 = max_candidates); then the
    # original word and words without a letter are dropped.
    assert swap.replacement_words(text, [2]) == [["film", "1999", "movie", "picture"]]
    assert [c.words[2] for c in swap(text, [2], None)] == ["movie", "picture"]
    stripped = WordSwapMaskedLM(stub(tokenizer, ranked), max_candidates=2, subwords="strip")
    assert stripped.replacement_words(text, [2]) == [["ing", "film"]]


def test_min_confidence_cuts_the_ranking(tokenizer, tiny_mlm):
    mlm = stub(tokenizer, ["movie", "picture"])  # two tokens share nearly all the mass
    assert WordSwapMaskedLM(mlm, min_confidence=0.3).replacement_words(AttackedText("a film"), [1]) \
        == [["movie", "picture"]]
    # A random tiny MLM is close to uniform over 30k tokens: nothing reaches 1e-3.
    assert WordSwapMaskedLM(tiny_mlm, min_confidence=1e-3)(AttackedText(TEXT), [1], None) == []


def test_mask_cut_off_by_truncation_gives_no_candidates(tokenizer):
    swap = WordSwapMaskedLM(stub(tokenizer, ["movie"]), max_length=8)
    text = AttackedText("one two three four five six seven eight nine ten film")
    assert swap.replacement_words(text, [0, 10]) == [["movie"], []]


def test_cache_skips_the_model(tokenizer):
    mlm = stub(tokenizer, ["movie", "picture"])
    swap = WordSwapMaskedLM(mlm)
    text = AttackedText("a good film")
    swap(text, [1, 2], None)
    calls = mlm.model.calls
    swap(text, [2, 1], None)
    assert mlm.model.calls == calls


def test_bad_arguments_are_named(tiny_mlm):
    with pytest.raises(ValueError, match="method must be one of"):
        WordSwapMaskedLM(tiny_mlm, method="bert-attack")
    with pytest.raises(ValueError, match="max_candidates must be >= 1"):
        WordSwapMaskedLM(tiny_mlm, max_candidates=0)
    with pytest.raises(ValueError, match="min_confidence must be in"):
        WordSwapMaskedLM(tiny_mlm, min_confidence=1.5)
    with pytest.raises(TypeError, match="masked_lm must have"):
        WordSwapMaskedLM("bert-base-uncased")
    with pytest.raises(ValueError, match="subwords must be one of"):
        WordSwapMaskedLM(tiny_mlm, subwords="keep")
