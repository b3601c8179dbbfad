"""BAE-R assembled: each constraint as configured by the recipe, runs on the fake victim, and
an independent re-check of every adversarial output."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

from ior.attacks.constraints import RepeatModification, StopwordModification
from ior.attacks.constraints.grammaticality import PartOfSpeech
from ior.attacks.constraints.semantics import SentenceEncoderSimilarity
from ior.attacks.recipes import RECIPES, BAEGarg2019, get_recipe
from ior.attacks.recipes.bae_garg_2019 import USE_BAE_THRESHOLD, calibration_pairs
from ior.attacks.results import Outcome
from ior.attacks.suite import TextAttackSuite, canonical_attack
from ior.attacks.testing import BagOfWordsVictim
from ior.attacks.text import AttackedText
from ior.attacks.transformations.masked_lm import SwappedText
from ior.data.stopwords import ENGLISH_STOPWORDS
from ior.resources.mlm import load_masked_lm
from test_bae_transformation import make_tiny_mlm


class HashEncoder:
    """Sum of fixed pseudo-random unit vectors, one per lower-cased word: replacing one word of
    a 15-word window moves the cosine to about 14/15, around BAE's 0.936 threshold."""

    def __init__(self, dim=64):
        self.dim = dim

    def vector(self, word):
        v = np.random.default_rng(zlib.crc32(word.lower().encode())).standard_normal(self.dim)
        return v / np.linalg.norm(v)

    def encode(self, texts):
        from ior.attacks.text import words_from_text

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in words_from_text(text):
                out[row] += self.vector(w)
        return out


class LookupTagger:
    """Universal tags from a small table; any other word is an ADJ (so the random words of a
    tiny MLM may replace the victim's adjectives)."""

    TAGS = {"film": "NOUN", "dog": "NOUN", "quickly": "ADV", "runs": "VERB", "a": "DET", "the": "DET"}

    def tag(self, words):
        return [self.TAGS.get(w.lower(), "ADJ") for w in words]


LONG = ("the painter keeps a good dog in a small house near the river and walks it every "
        "morning with great care")
SHORT = "a good film"
WEIGHTS = {"good": [0.0, 3.0], "great": [0.0, 3.0], "fine": [0.0, 1.0], "care": [0.0, 1.0]}


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory):
    return load_masked_lm(make_tiny_mlm(tmp_path_factory.mktemp("tiny-mlm")))


@pytest.fixture(scope="module")
def attack(tiny_mlm):
    victim = BagOfWordsVictim(WEIGHTS, bias=[2.0, 0.0])
    return BAEGarg2019.build(victim, masked_lm=tiny_mlm, encoder=HashEncoder(), tagger=LookupTagger(),
                             encoder_threshold=USE_BAE_THRESHOLD)


def test_registered_as_bae():
    assert get_recipe("bae") is BAEGarg2019 and RECIPES["bae"] is BAEGarg2019
    assert canonical_attack("bae") == "bae" and canonical_attack("BAE") == "bae"


def test_recipe_parts_are_textattacks(attack):
    kinds = [type(c) for c in attack.pre_transformation_constraints + attack.constraints]
    assert kinds == [RepeatModification, StopwordModification, PartOfSpeech, SentenceEncoderSimilarity]
    config = attack.config()
    assert config["transformation"]["max_candidates"] == 50
    assert config["transformation"]["min_confidence"] == 0.0
    assert config["search"]["wir_method"] == "delete"
    use = attack.constraints[1]
    assert (use.metric, use.window_size, use.compare_against_original, use.threshold) == \
        ("cosine", 15, True, USE_BAE_THRESHOLD)
    assert use.skip_text_shorter_than_window and attack.constraints[0].allow_verb_noun_swap


def test_pre_transformation_constraints(attack):
    repeat, stop = attack.pre_transformation_constraints
    text = AttackedText(SHORT).replace_word_at_index(1, "fine")
    assert 1 not in repeat.modifiable_indices(text) and 2 in repeat.modifiable_indices(text)
    assert 0 not in stop.modifiable_indices(AttackedText(SHORT))  # "a" is a stopword
    assert {1, 2} <= stop.modifiable_indices(AttackedText(SHORT))


def test_part_of_speech_constraint(attack):
    pos = attack.constraints[0]
    text = AttackedText(SHORT)
    assert pos.check(text.replace_word_at_index(1, "fine"), text)          # ADJ -> ADJ
    assert not pos.check(text.replace_word_at_index(1, "quickly"), text)   # ADJ -> ADV
    assert pos.check(text.replace_word_at_index(2, "runs"), text)          # NOUN -> VERB allowed
    assert not pos.check(text.replace_word_at_index(2, "quickly"), text)   # NOUN -> ADV


def test_sentence_encoder_constraint(attack):
    use = attack.constraints[1]
    original = AttackedText(LONG)
    assert original.num_words >= 15
    i = original.words.index("dog")
    scores = {w: use.check(SwappedText(original.replace_word_at_index(i, w), i), original)
              for w in ("dog", "cat", "puppy", "hound", "wolf", "pet", "beast", "animal")}
    # With HashEncoder a swap keeps cosine ~14/15 +- noise: some pass, some fail.
    assert True in scores.values() and False in scores.values()
    failing = next(w for w, ok in scores.items() if not ok)
    short = AttackedText(SHORT)
    # Texts shorter than the window are never checked, however different the word.
    assert use.check(SwappedText(short.replace_word_at_index(2, failing), 2), short)


def test_windowed_check_follows_the_newly_swapped_word(attack):
    """Compared with the original, a second swap differs at two positions: the window is
    centred on the new one (TextAttack's newly_modified_indices)."""
    use = attack.constraints[1]
    original = AttackedText(LONG)
    first = original.replace_word_at_index(1, "poet")
    second = SwappedText(first.replace_word_at_index(20, "love"), 20)
    assert second.changed_positions(original) == [1, 20]
    sims = use.similarities([second], original)
    # The window is the last 15 words, which do not reach the first swap.
    tail = "in a small house near the river and walks it every morning with great"
    window = HashEncoder().encode([f"{tail} care", f"{tail} love"])
    expected = window[0] @ window[1] / np.linalg.norm(window[0]) / np.linalg.norm(window[1])
    assert sims[0] == pytest.approx(expected, abs=1e-5)


def test_runs_on_the_fake_victim(attack):
    results = attack.attack_dataset([SHORT, LONG, "the"], [1, 1, 1], progress=False)
    assert results[0].outcome is Outcome.SUCCEEDED  # any replacement of "good" flips the victim
    assert results[0].adversarial_text != SHORT and results[0].words_changed == 1
    assert results[2].outcome is Outcome.SKIPPED  # already misclassified
    again = attack.attack_dataset([SHORT, LONG, "the"], [1, 1, 1], progress=False)
    assert [r.adversarial_text for r in again] == [r.adversarial_text for r in results]


def _valid_order_exists(original, final, use):
    """Some order of the swaps passes the windowed check at every step (against the original)."""
    changed = final.changed_positions(original)
    if final.num_words < use.window_size:
        return True
    for order in itertools.permutations(changed):
        text, ok = original, True
        for i in order:
            text = SwappedText(text.replace_word_at_index(i, final.words[i]), i)
            if not use.check(text, original):
                ok = False
                break
        if ok:
            return True
    return False


def test_every_adversarial_output_satisfies_the_constraints(tiny_mlm):
    texts = [LONG, SHORT, "a great and fine film that runs with good care", LONG.replace("good", "fine"),
             "a good , good and great story about a dog and a cat in a house by the sea at night"]
    victim = BagOfWordsVictim(WEIGHTS, bias=[3.5, 0.0])
    encoder, tagger = HashEncoder(), LookupTagger()
    attack = BAEGarg2019.build(victim, masked_lm=tiny_mlm, encoder=encoder, tagger=tagger,
                               encoder_threshold=USE_BAE_THRESHOLD)
    results = attack.attack_dataset(texts, [1] * len(texts), progress=False)
    succeeded = [r for r in results if r.outcome is Outcome.SUCCEEDED]
    # The run exercised what is re-checked: several swaps in a text long enough for the
    # windowed check, which rejected some candidates.
    assert any(r.words_changed >= 2 and len(r.original_text.split()) >= 15 for r in succeeded)
    scores = attack.constraints[1].last_scores.values()
    assert any(s < USE_BAE_THRESHOLD for s in scores) and any(s >= USE_BAE_THRESHOLD for s in scores)
    check_bae_outputs(succeeded, victim, encoder, tagger, tiny_mlm)


def check_bae_outputs(succeeded, victim, encoder, tagger, mlm) -> None:
    """Re-verify finished BAE examples with fresh constraint objects (not the attack's) and a fresh
    forward pass of the victim."""
    pos = PartOfSpeech(tagger, allow_verb_noun_swap=True)
    use = SentenceEncoderSimilarity(encoder, threshold=USE_BAE_THRESHOLD, metric="cosine",
                                    compare_against_original=True, window_size=15,
                                    skip_text_shorter_than_window=True)
    special = set(mlm.tokenizer.all_special_tokens)
    for r in succeeded:
        original, final = AttackedText(r.original_text), AttackedText(r.adversarial_text)
        assert final.num_words == original.num_words
        changed = final.changed_positions(original)
        assert changed and r.words_changed == len(changed)
        assert all(original.words[i] not in ENGLISH_STOPWORDS for i in changed)
        assert all(final.words[i] not in special and "##" not in final.words[i] for i in changed)
        for i in changed:  # POS is a per-word test against the original's context
            assert pos.check(SwappedText(original.replace_word_at_index(i, final.words[i]), i), original)
        assert _valid_order_exists(original, final, use)
        assert int(np.argmax(victim.logits([r.adversarial_text])[0])) != r.label


def test_suite_builds_bae_with_lazy_resources(tiny_mlm, monkeypatch):
    suite = TextAttackSuite(masked_lm=tiny_mlm, encoder=HashEncoder(), tagger=LookupTagger())
    victim = BagOfWordsVictim(WEIGHTS, bias=[2.0, 0.0])
    attack = suite.build("bae", victim)
    assert attack.transformation.masked_lm is tiny_mlm
    import ior.resources.mlm as mlm

    def fail(*args, **kwargs):
        raise AssertionError("the masked LM must not be loaded for other attacks")

    monkeypatch.setattr(mlm, "load_masked_lm", fail)
    TextAttackSuite().build("dg", victim)


def test_hyperparameters_do_not_load_resources(monkeypatch):
    import ior.resources.mlm as mlm

    monkeypatch.setattr(mlm, "load_masked_lm", lambda *a, **k: pytest.fail("loaded the MLM"))
    hp = BAEGarg2019.hyperparameters()
    assert hp["recipe"] == "bae" and hp["transformation"]["max_candidates"] == 50
    use = hp["constraints"][-1]
    assert use["metric"] == "cosine" and use["use_threshold"] == USE_BAE_THRESHOLD


def test_calibration_pairs_are_single_swaps_in_long_texts(tiny_mlm):
    pairs = calibration_pairs([LONG, SHORT], tiny_mlm, LookupTagger(), max_pairs_per_text=5)
    assert len(pairs) == 5
    for reference, candidate in pairs:
        a, b = AttackedText(reference), AttackedText(candidate)
        assert a.num_words == b.num_words == 15 and len(b.changed_positions(a)) == 1
