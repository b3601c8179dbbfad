"""TextFooler's transformation and constraints, each on hand-made valid and violating cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ior.attacks.constraints.grammaticality import PartOfSpeech
from ior.attacks.constraints.semantics import (
    SentenceEncoderSimilarity,
    WordEmbeddingDistance,
    swapped_indices,
    text_window_around_index,
)
from ior.attacks.text import AttackedText
from ior.attacks.transformations.embedding import WordSwapEmbedding, recover_word_case
from ior.resources.embeddings import WordEmbedding


def _emb():
    # cos(good, fine) = 0.8, cos(good, okay) = 0.5, cos(good, poor) = 0.3, cos(good, bad) = -1
    vectors = {
        "good": [1.0, 0.0], "fine": [0.8, 0.6], "okay": [0.5, math.sqrt(0.75)],
        "poor": [0.3, math.sqrt(0.91)], "bad": [-1.0, 0.0], "film": [0.0, 1.0],
    }
    return WordEmbedding(list(vectors), list(vectors.values()))


# ---------------------------------------------------------------- WordSwapEmbedding


def test_embedding_swap_orders_by_cosine_caps_and_excludes_the_word():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(120)]
    vectors = rng.normal(size=(120, 5))
    emb = WordEmbedding(words, vectors)
    swap = WordSwapEmbedding(emb, max_candidates=50)
    out = swap.replacement_words("w7", None)
    assert len(out) == 50 and "w7" not in out
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = [float(unit[7] @ unit[int(w[1:])]) for w in out]
    assert sims == sorted(sims, reverse=True)
    assert min(sims) >= sorted((float(unit[7] @ u) for u in np.delete(unit, 7, 0)))[-50]


def test_embedding_swap_recovers_case_and_skips_unknown_words():
    swap = WordSwapEmbedding(_emb(), max_candidates=2)
    assert swap.replacement_words("Good", None) == ["Fine", "Okay"]
    assert swap.replacement_words("GOOD", None) == ["FINE", "OKAY"]
    assert swap.replacement_words("unknown", None) == []
    texts = swap(AttackedText("a Good film"), [1], None)
    assert [t.text for t in texts] == ["a Fine film", "a Okay film"]
    assert recover_word_case("movie", "fIlm") == "movie"


def test_embedding_swap_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_candidates must be >= 1, got 0"):
        WordSwapEmbedding(_emb(), max_candidates=0)
    with pytest.raises(TypeError, match="word2index"):
        WordSwapEmbedding(object())


# ---------------------------------------------------------------- WordEmbeddingDistance


def test_word_embedding_distance_rejects_cosine_below_min():
    c = WordEmbeddingDistance(_emb(), min_cos_sim=0.5)
    t = AttackedText("a good film")
    assert c.check(t.replace_word_at_index(1, "fine"), t)
    assert not c.check(t.replace_word_at_index(1, "poor"), t)
    assert not c.check(t.replace_word_at_index(1, "Bad"), t)  # lower-cased before lookup


def test_word_embedding_distance_unknown_words_and_mse():
    t = AttackedText("a good film")
    assert WordEmbeddingDistance(_emb(), min_cos_sim=0.5).check(t.replace_word_at_index(1, "zzz"), t)
    strict = WordEmbeddingDistance(_emb(), min_cos_sim=0.5, include_unknown_words=False)
    assert not strict.check(t.replace_word_at_index(1, "zzz"), t)
    mse = WordEmbeddingDistance(_emb(), max_mse_dist=0.5)
    assert mse.check(t.replace_word_at_index(1, "fine"), t)  # (0.2)^2 + 0.6^2 = 0.4
    assert not mse.check(t.replace_word_at_index(1, "bad"), t)
    with pytest.raises(ValueError, match="exactly one of min_cos_sim and max_mse_dist"):
        WordEmbeddingDistance(_emb())


def test_word_embedding_distance_against_original_checks_every_swap():
    c = WordEmbeddingDistance(_emb(), min_cos_sim=0.5)
    original = AttackedText("good good film")
    two = original.replace_word_at_index(0, "fine").replace_word_at_index(1, "poor")
    assert swapped_indices(two, original) == [0, 1]
    assert not c.check(two, original)


# ---------------------------------------------------------------- PartOfSpeech


class LookupTagger:
    """Context-aware toy tagger: 'run' is a NOUN after 'a', else a VERB."""

    tags = {"good": "ADJ", "fine": "ADJ", "quickly": "ADV", "a": "DET", "the": "DET",
            "walk": "VERB", "stroll": "NOUN"}

    def __init__(self):
        self.calls = []

    def tag(self, words):
        self.calls.append(list(words))
        out = []
        for i, w in enumerate(words):
            if w == "run":
                out.append("NOUN" if i and words[i - 1] == "a" else "VERB")
            else:
                out.append(self.tags.get(w, "NOUN"))
        return out


def test_part_of_speech_rejects_mismatch_and_keeps_match():
    c = PartOfSpeech(LookupTagger())
    t = AttackedText("a good film")
    assert c.check(t.replace_word_at_index(1, "fine"), t)
    assert not c.check(t.replace_word_at_index(1, "quickly"), t)


def test_part_of_speech_verb_noun_swap_is_optional():
    t = AttackedText("we walk home")
    assert PartOfSpeech(LookupTagger()).check(t.replace_word_at_index(1, "stroll"), t)
    assert not PartOfSpeech(LookupTagger(), allow_verb_noun_swap=False).check(
        t.replace_word_at_index(1, "stroll"), t)


def test_part_of_speech_tags_in_the_reference_context_window():
    tagger = LookupTagger()
    c = PartOfSpeech(tagger, allow_verb_noun_swap=False)
    t = AttackedText("one two three four five six seven eight nine")
    assert c.check(t.replace_word_at_index(5, "stroll"), t)  # NOUN -> NOUN
    # 4 words before, 3 after, with the new word in place of the old.
    assert ["two", "three", "four", "five", "stroll", "seven", "eight", "nine"] in tagger.calls
    assert ["two", "three", "four", "five", "six", "seven", "eight", "nine"] in tagger.calls
    # Context decides: "run" after "a" is a NOUN, so swapping in a VERB is rejected.
    ctx = AttackedText("a film a run")
    assert not c.check(ctx.replace_word_at_index(3, "walk"), ctx)


def test_part_of_speech_accepts_tag_sets():
    class Sets:
        def tag(self, words):
            table = {"run": {"NOUN", "VERB"}, "sprint": {"VERB"}, "blue": {"ADJ"}}
            return [frozenset(table.get(w, {"X"})) for w in words]

    c = PartOfSpeech(Sets(), allow_verb_noun_swap=False)
    t = AttackedText("the run")
    assert c.check(t.replace_word_at_index(1, "sprint"), t)
    assert not c.check(t.replace_word_at_index(1, "blue"), t)


# ---------------------------------------------------------------- SentenceEncoderSimilarity


class HashEncoder:
    """Deterministic toy encoder: each word contributes a fixed random vector; records inputs."""

    def __init__(self, dim=16):
        self.dim, self.seen = dim, []

    def _vec(self, word):
        seed = sum(ord(ch) * 31 ** i for i, ch in enumerate(word)) % (2**32)
        return np.random.default_rng(seed).normal(size=self.dim)

    def encode(self, texts):
        self.seen.extend(texts)
        return np.stack([sum((self._vec(w) for w in t.split()), np.zeros(self.dim)) for t in texts])


def _words(n):
    return " ".join(f"w{i}" for i in range(n))


def test_sentence_similarity_below_threshold_is_rejected():
    enc = HashEncoder()
    t = AttackedText("good film")
    cand = t.replace_word_at_index(1, "zebra")
    c = SentenceEncoderSimilarity(enc, threshold=0.99, metric="cosine")
    sim = float(c.similarities([cand], t)[0])
    assert sim < 0.99 and not c.check(cand, t)
    loose = SentenceEncoderSimilarity(enc, threshold=sim - 1e-4, metric="cosine")
    assert loose.check(cand, t)


def test_angular_metric_is_one_minus_angle_over_pi():
    class Fixed:
        def encode(self, texts):
            return np.array([[1.0, 0.0] if t == "a b" else [math.cos(0.5), math.sin(0.5)] for t in texts])

    t = AttackedText("a b")
    cand = t.replace_word_at_index(1, "c")
    c = SentenceEncoderSimilarity(Fixed(), threshold=0.840845057, metric="angular")
    assert float(c.similarities([cand], t)[0]) == pytest.approx(1 - 0.5 / math.pi, abs=1e-6)
    assert SentenceEncoderSimilarity(Fixed(), threshold=0.85, metric="angular").check(cand, t) is False
    assert SentenceEncoderSimilarity(Fixed(), threshold=0.84, metric="angular").check(cand, t) is True


def test_window_encodes_only_words_around_the_swap():
    enc = HashEncoder()
    t = AttackedText(_words(40))
    cand = t.replace_word_at_index(20, "zebra")
    c = SentenceEncoderSimilarity(enc, threshold=0.0, window_size=15)
    c.check(cand, t)
    assert enc.seen == [" ".join(f"w{i}" for i in range(13, 28)),
                        " ".join(["w13"] + [f"w{i}" for i in range(14, 20)] + ["zebra"]
                                 + [f"w{i}" for i in range(21, 28)])]
    # At the ends the window shifts instead of shrinking (TextAttack's rule).
    assert text_window_around_index(t, 2, 15) == _words(15)
    assert text_window_around_index(t, 39, 15) == " ".join(f"w{i}" for i in range(25, 40))


def test_window_makes_far_changes_invisible():
    enc = HashEncoder()
    original = AttackedText(_words(40))
    # The current text already differs far away (index 0); the new swap is at 30.
    current = original.replace_word_at_index(0, "elephant")
    cand = current.replace_word_at_index(30, "zebra")
    windowed = SentenceEncoderSimilarity(enc, threshold=0.0, window_size=15,
                                         compare_against_original=False)
    assert "elephant" not in " ".join(windowed._pair(cand, current))


def test_skip_text_shorter_than_window():
    class Exploding:
        def encode(self, texts):
            raise AssertionError("short texts must not be encoded")

    short = AttackedText(_words(14))
    cand = short.replace_word_at_index(3, "zebra")
    c = SentenceEncoderSimilarity(Exploding(), threshold=0.999, window_size=15,
                                  skip_text_shorter_than_window=True)
    assert c.check(cand, short)
    long = AttackedText(_words(15))
    strict = SentenceEncoderSimilarity(HashEncoder(), threshold=0.999, window_size=15,
                                       skip_text_shorter_than_window=True)
    assert not strict.check(long.replace_word_at_index(3, "zebra"), long)


def test_windowed_check_against_original_needs_the_new_position():
    original = AttackedText(_words(20))
    two = original.replace_word_at_index(2, "a").replace_word_at_index(10, "b")
    c = SentenceEncoderSimilarity(HashEncoder(), threshold=0.0, window_size=15)
    with pytest.raises(ValueError, match="newly swapped position"):
        c.check(two, original)


def test_max_euclidean_metric_and_batched_checks():
    enc = HashEncoder()
    t = AttackedText("good film")
    cands = [t.replace_word_at_index(1, w) for w in ("zebra", "film")]
    dist = -float(SentenceEncoderSimilarity(enc, threshold=1.0, metric="max_euclidean")
                  .similarities(cands[:1], t)[0])
    assert dist > 0
    c = SentenceEncoderSimilarity(enc, threshold=dist / 2, metric="max_euclidean")
    assert c.check_many(cands, t) == [False, True]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"metric": "dot"}, ValueError, "metric must be one of"),
        ({"window_size": 0}, ValueError, "window_size must be >= 1, got 0"),
        ({"skip_text_shorter_than_window": True}, ValueError, "needs a window_size"),
        ({"threshold": "high"}, TypeError, "threshold must be a float"),
    ],
)
def test_sentence_similarity_validates_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SentenceEncoderSimilarity(HashEncoder(), **kwargs)
