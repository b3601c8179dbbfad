"""Word embeddings: lookup, cosine neighbours, text loading; counter-fitting and its cache."""

from __future__ import annotations

import numpy as np
import pytest

from ior.data.cache import read_manifest
from ior.resources import counterfitted as cf
from ior.resources.counterfitting import (
    CounterFitConfig,
    counter_fit,
    neighbourhood_pairs,
    wordnet_constraints,
)
from ior.resources.embeddings import WordEmbedding


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_nearest_neighbours_ordered_by_cosine_without_the_word():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 8))
    emb = WordEmbedding([f"w{i}" for i in range(200)], vectors)
    nn = emb.nearest_neighbours("w3", 50)
    assert len(nn) == 50 and 3 not in nn
    sims = [_cos(vectors[3], vectors[j]) for j in nn]
    assert sims == sorted(sims, reverse=True)
    # The 50 returned are the 50 most similar of all others.
    others = sorted((_cos(vectors[3], vectors[j]) for j in range(200) if j != 3), reverse=True)
    assert sims == pytest.approx(others[:50], abs=1e-6)
    assert emb.nearest_neighbours(3, 5) == nn[:5]


def test_nearest_neighbours_of_tiny_vocabulary_is_everything_else():
    emb = WordEmbedding(["a", "b", "c"], [[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])
    assert emb.nearest_neighbours("a", 50) == [2, 1]


def test_cos_sim_and_mse_dist():
    emb = WordEmbedding(["a", "b"], [[3.0, 0.0], [0.0, 2.0]])
    assert emb.cos_sim("a", "b") == pytest.approx(0.0)
    assert emb.mse_dist("a", "b") == pytest.approx(13.0)


def test_embedding_rejects_bad_input():
    with pytest.raises(ValueError, match="distinct"):
        WordEmbedding(["a", "a"], np.eye(2))
    with pytest.raises(ValueError, match="shape"):
        WordEmbedding(["a"], np.eye(2))
    with pytest.raises(KeyError):
        WordEmbedding(["a"], [[1.0]]).word2index("b")


def test_from_text_reads_counterfitted_format_and_word2vec_header(tmp_path):
    path = tmp_path / "counter-fitted-vectors.txt"
    path.write_text("3 2\ngood 0.1 0.2\nbad -0.1 0.3\ngood 9 9\n", encoding="utf-8")
    emb = cf.load_word_embedding(path)
    assert emb.words == ["good", "bad"]
    assert emb["good"].tolist() == pytest.approx([0.1, 0.2])
    path.write_text("good 0.1 0.2\nbad 0.3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":2: expected 2 values"):
        WordEmbedding.from_text(path)


def test_counter_fitting_attracts_synonyms_repels_antonyms_preserves_the_rest():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(40, 10))
    # 0 ~ 1 synonyms that start far apart; 2 ~ 3 antonyms that start close together.
    vectors[3] = vectors[2] + 0.05 * rng.normal(size=10)
    # 4 and 5 are close, unconstrained neighbours: their closeness must be preserved.
    vectors[5] = vectors[4] + 0.05 * rng.normal(size=10)
    synonyms, antonyms = [(0, 1)], [(2, 3)]
    fitted, info = counter_fit(vectors, synonyms, antonyms, CounterFitConfig(epochs=100, lr=0.05))
    assert np.allclose(np.linalg.norm(fitted, axis=1), 1.0, atol=1e-5)
    assert _cos(fitted[0], fitted[1]) > _cos(vectors[0], vectors[1]) + 0.5
    assert _cos(fitted[2], fitted[3]) < _cos(vectors[2], vectors[3]) - 0.5
    assert _cos(fitted[4], fitted[5]) > 0.9
    assert info["loss_after"]["synonym_attract"] < info["loss_before"]["synonym_attract"]
    assert info["loss_after"]["antonym_repel"] < info["loss_before"]["antonym_repel"]
    # The antonyms start within the neighbourhood radius; like the authors' code, their two
    # ordered pairs are dropped from vector space preservation.
    assert info["pairs"] == {"synonyms": 1, "antonyms": 1,
                             "neighbourhood": len(neighbourhood_pairs(vectors, 0.2)) - 2}


def test_neighbourhood_pairs_uses_cosine_radius():
    pairs = neighbourhood_pairs(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), 0.2)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0)]


class _Lemma:
    def __init__(self, name, antonyms=()):
        self._name, self._antonyms = name, list(antonyms)

    def name(self):
        return self._name

    def antonyms(self):
        return self._antonyms


class _Synset:
    def __init__(self, name, lemmas):
        self._name, self._lemmas = name, lemmas

    def lemmas(self):
        return self._lemmas

    def name(self):
        return self._name

    def pos(self):
        return self._name.split(".")[1]


class FakeWordNetRelations:
    """``all_synsets()`` with lemmas and lemma antonyms, like NLTK's reader."""

    def __init__(self):
        bad = _Lemma("bad")
        good = _Lemma("good", [bad])
        bad._antonyms = [good]
        self._synsets = [
            _Synset("good.a.01", [good, _Lemma("Fine"), _Lemma("well_made")]),
            _Synset("bad.a.01", [bad, _Lemma("awful")]),
            _Synset("film.n.01", [_Lemma("film"), _Lemma("movie"), _Lemma("picture")]),
            # A rare sense of "film" (its second noun sense) shared with "coating".
            _Synset("coating.n.01", [_Lemma("coating"), _Lemma("film")]),
        ]

    def all_synsets(self):
        return iter(self._synsets)

    def synsets(self, name):
        """Senses in WordNet order: a lemma's synsets in the order listed above."""
        return [s for s in self._synsets if name in {l.name().lower() for l in s.lemmas()}]


def test_wordnet_constraints_pairs_within_vocabulary():
    vocab = ["good", "fine", "bad", "awful", "film", "movie", "zebra", "coating"]
    synonyms, antonyms = wordnet_constraints(FakeWordNetRelations(), vocab)
    # "picture" and "well_made" are not in the vocabulary.
    assert synonyms == [(0, 1), (2, 3), (4, 5), (4, 7)]
    assert antonyms == [(0, 2)]
    frequent, _ = wordnet_constraints(FakeWordNetRelations(), vocab, max_sense_rank=1)
    assert frequent == [(0, 1), (2, 3), (4, 5)]  # coating.n.01 is film's second sense
    with pytest.raises(ValueError, match="max_sense_rank must be an int >= 1"):
        wordnet_constraints(FakeWordNetRelations(), vocab, max_sense_rank=0)


def _tiny_glove():
    rng = np.random.default_rng(0)
    words = ["good", "fine", "bad", "awful", "film", "movie", "1999", "well-made", "zebra", "plot"]
    return words, rng.normal(size=(len(words), 6)).astype(np.float32)


def test_prepare_counterfitted_writes_manifest_and_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setattr(cf, "load_glove", _tiny_glove)
    config = CounterFitConfig(epochs=20)
    first = cf.prepare_counterfitted(tmp_path, wordnet=FakeWordNetRelations(), config=config,
                                     vocabulary_size=6)
    assert first["cached"] is False
    assert first["counts"]["vocabulary"] == 6 and first["counts"]["synonyms"] == 3
    manifest = read_manifest(cf.counterfitted_dir(tmp_path))
    assert manifest["resource"] == cf.RESOURCE
    assert set(manifest["files"]) == {"vectors.npy", "words.txt"}
    assert set(manifest["quality"]["before"]) == {"synonym_share", "antonym_share"}
    emb = cf.load_counterfitted(tmp_path)
    # Non-alphabetic GloVe entries are skipped; frequency order is kept.
    assert emb.words == ["good", "fine", "bad", "awful", "film", "movie"]
    assert emb.cos_sim("good", "fine") > emb.cos_sim("good", "bad")
    again = cf.prepare_counterfitted(tmp_path, wordnet=FakeWordNetRelations(), config=config,
                                     vocabulary_size=6)
    assert again["cached"] is True and again["sha256"] == first["sha256"]
    changed = cf.prepare_counterfitted(tmp_path, wordnet=FakeWordNetRelations(),
                                       config=CounterFitConfig(epochs=21), vocabulary_size=6)
    assert changed["cached"] is False


def test_load_counterfitted_explains_how_to_prepare(tmp_path):
    with pytest.raises(RuntimeError, match="ior data prepare"):
        cf.load_counterfitted(tmp_path)
