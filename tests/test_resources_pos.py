"""Offline part-of-speech taggers for the PartOfSpeech constraint."""

from __future__ import annotations

import gzip
import importlib.metadata
import json

import pytest

from ior.resources import pos


def _has_perceptron():
    try:
        importlib.metadata.distribution(pos.PERCEPTRON_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_perceptron = pytest.mark.skipif(not _has_perceptron(), reason="denckring-en-pos not installed")


@pytest.fixture(scope="module")
def tagger():
    return pos.PerceptronTagger()


@needs_perceptron
def test_perceptron_tags_in_universal_tagset(tagger):
    assert tagger.tag(["The", "film", "is", "good"]) == ["DET", "NOUN", "VERB", "ADJ"]
    assert tagger.tag(["I", "want", "to", "leave", "quickly"]) == ["PRON", "VERB", "PRT", "VERB", "ADV"]


@needs_perceptron
def test_perceptron_uses_context(tagger):
    assert tagger.tag(["the", "evening", "walks", "were", "long"])[2] == "NOUN"
    assert tagger.tag(["she", "walks", "home"])[1] == "VERB"


def test_perceptron_inference_on_a_hand_made_table(tmp_path):
    table = {
        "classes": ["NOUN|-", "VERB|Fin", "DET|-"],
        "tagdict": {"the": "DET|-"},
        "weights": {"suf1 s": {"VERB|Fin": 1.0}, "t-1 DET|-": {"NOUN|-": 2.0}},
        "vocabulary": [],
    }
    path = tmp_path / "tagger.json.gz"
    path.write_bytes(gzip.compress(json.dumps(table).encode()))
    toy = pos.PerceptronTagger(path)
    # "the" from the tag dictionary; "dogs" after a DET: NOUN 2.0 beats VERB 1.0; "runs": VERB.
    assert toy.tag_labels(["the", "dogs", "runs"]) == ["DET|-", "NOUN|-", "VERB|Fin"]
    assert toy.tag(["the", "dogs", "runs"]) == ["DET", "NOUN", "VERB"]
    # No feature fires: the last class in sorted order, as the table's trainer decided.
    assert toy.tag_labels(["xyz"]) == ["VERB|Fin"]


class _Synset:
    def __init__(self, p):
        self._p = p

    def pos(self):
        return self._p


class PosWordNet:
    table = {"run": "nvv", "quick": "as", "quickly": "r"}

    def synsets(self, word):
        return [_Synset(p) for p in self.table.get(word.lower(), "")]


def test_wordnet_tagger_returns_pos_sets():
    t = pos.WordNetPOSTagger(PosWordNet())
    assert t.tag(["run", "quick", "quickly", "the"]) == [
        frozenset({"NOUN", "VERB"}), frozenset({"ADJ"}), frozenset({"ADV"}), frozenset({"X"})]


def test_default_tagger_falls_back_to_wordnet(monkeypatch):
    def missing():
        raise RuntimeError("not installed")

    monkeypatch.setattr(pos, "_perceptron_file", missing)
    fallback = pos.default_tagger(PosWordNet())
    assert isinstance(fallback, pos.WordNetPOSTagger)
