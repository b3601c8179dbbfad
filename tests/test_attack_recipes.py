"""Recipes: registry, provenance, a hand-computed PWWS run, and independent re-checks."""

import math
import string
import sys
import warnings

import numpy as np
import pytest

from ior.attacks import (
    RECIPES,
    Attack,
    DeepWordBugGao2018,
    Outcome,
    PWWSRen2019,
    build_attack,
    get_recipe,
)
from ior.attacks.constraints import LevenshteinEditDistance, RepeatModification
from ior.attacks.constraints import StopwordModification
from ior.attacks.goal_functions import UntargetedClassification
from ior.attacks.search import GreedyWordSwapWIR
from ior.attacks.testing import BagOfWordsVictim, FakeWordNet
from ior.attacks.text import AttackedText
from ior.attacks.transformations import WordSwapWordNet
from ior.data.stopwords import ENGLISH_STOPWORDS


def test_registry():
    assert RECIPES["deepwordbug"] is RECIPES["dg"] is DeepWordBugGao2018
    assert RECIPES["pwws"] is PWWSRen2019
    assert get_recipe("dg") is DeepWordBugGao2018
    with pytest.raises(ValueError, match=r"recipe must be one of \[.*'deepwordbug', 'dg', 'pwws'.*got 'nosuch'"):
        get_recipe("nosuch")
    model = BagOfWordsVictim({"good": [0.0, 1.0]})
    assert isinstance(build_attack("dg", model, seed=1), Attack)


def test_hyperparameters_record_every_setting():
    dg = DeepWordBugGao2018.hyperparameters()
    assert dg["recipe"] == "deepwordbug" and dg["seed"] == 0
    assert dg["goal_function"]["score"] == "probability"
    assert [t["name"] for t in dg["transformation"]["transformations"]] == [
        "WordSwapNeighboringCharacterSwap", "WordSwapRandomCharacterSubstitution",
        "WordSwapRandomCharacterDeletion", "WordSwapRandomCharacterInsertion"]
    assert all(t["random_one"] for t in dg["transformation"]["transformations"])
    names = {c["name"]: c for c in dg["constraints"]}
    assert names["LevenshteinEditDistance"]["max_edit_distance"] == 30
    assert names["LevenshteinEditDistance"]["compare_against_original"] is True
    assert names["StopwordModification"]["stopwords"] == "nltk-english-179"
    assert set(names) == {"RepeatModification", "StopwordModification", "LevenshteinEditDistance"}
    assert dg["search"]["wir_method"] == "unk" and dg["search"]["unk_token"] == "[UNK]"
    pwws = PWWSRen2019.hyperparameters(score="margin")
    assert pwws["search"]["wir_method"] == "weighted-saliency"
    assert pwws["goal_function"]["score"] == "margin"
    assert {c["name"] for c in pwws["constraints"]} == {
        "RepeatModification", "StopwordModification"}
    # the built attack reports the same settings
    built = DeepWordBugGao2018.build(BagOfWordsVictim({"a": [0.0, 1.0]}), seed=5).config()
    assert built["seed"] == 5 and built["search"] == dg["search"]
    assert built["transformation"] == dg["transformation"]


def test_pwws_without_wordnet_says_how_to_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "ior.data.wordnet", None)  # make the import fail
    with pytest.raises(ValueError, match="pwws needs WordNet: pass wordnet="):
        PWWSRen2019.build(BagOfWordsVictim({"a": [0.0, 1.0]}))


# --- PWWS by hand -----------------------------------------------------------------------
HAND_WEIGHTS = {
    "great": [0.0, 2.0], "movie": [0.0, 1.0],
    "big": [0.0, 1.0], "outstanding": [0.0, 2.5],
    "film": [0.0, 0.8], "flick": [2.5, 0.0],
}
HAND_WORDNET = FakeWordNet({
    "great": [["great", "big", "outstanding"]],
    "movie": [["movie", "film", "flick"]],
})


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_pwws_picks_the_hand_computed_swap():
    # Two classes, so p(1) = sigmoid(l1 - l0). On "great movie", l1 - l0 = 3.
    saliency = {"great": 1 - sigmoid(1.0), "movie": 1 - sigmoid(2.0)}  # word -> [UNK]
    best_swap = {
        "great": max(1 - sigmoid(1 + 1), 1 - sigmoid(2.5 + 1)),  # big, outstanding
        "movie": max(1 - sigmoid(2 + 0.8), 1 - sigmoid(2 - 2.5)),  # film, flick
    }
    z = sum(math.exp(s) for s in saliency.values())
    importance = {w: math.exp(saliency[w]) / z * best_swap[w] for w in saliency}
    assert importance["movie"] > importance["great"]  # although "great" is more salient
    # so PWWS swaps "movie" first, and its best synonym "flick" already flips the class:
    assert sigmoid(2 - 2.5) < 0.5

    model = BagOfWordsVictim(HAND_WEIGHTS)
    result = PWWSRen2019.build(model, wordnet=HAND_WORDNET).attack("great movie", 1)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.adversarial_text == "great flick"
    assert result.adversarial_true_prob == pytest.approx(sigmoid(-0.5), rel=1e-6)
    # clean + 2 [UNK] probes + 4 synonym candidates; the search re-uses cached scores
    assert result.queries == 7

    # Ranking by saliency alone ("unk") visits "great" first and changes two words.
    unk = Attack(
        UntargetedClassification(BagOfWordsVictim(HAND_WEIGHTS)),
        WordSwapWordNet(HAND_WORDNET),
        [RepeatModification(), StopwordModification()],
        GreedyWordSwapWIR("unk"),
    ).attack("great movie", 1)
    assert unk.adversarial_text == "big flick" and unk.words_changed == 2


def test_pwws_query_count_with_textattack_counting():
    attack = PWWSRen2019.build(BagOfWordsVictim(HAND_WEIGHTS), wordnet=HAND_WORDNET)
    attack.goal_function.count_repeats = True
    # TextAttack also counts the 2 cached candidates the search scores again
    assert attack.attack("great movie", 1).queries == 9


# --- independent re-checks of every output ----------------------------------------------
SENTIMENT = {
    "good": [0.0, 1.0], "great": [0.0, 1.2], "fine": [0.0, 0.7], "lovely": [0.0, 0.9],
    "moving": [0.0, 0.8], "bad": [1.0, 0.0], "awful": [1.3, 0.0], "dull": [0.8, 0.0],
    "boring": [1.1, 0.0], "mess": [0.9, 0.0],
}
SENTENCES = [  # with no bias, a text is positive iff its positive weights outweigh the rest
    ("A good, great and lovely film -- moving, too.", 1),
    ("Dull, boring: an awful mess of a fine movie.", 0),
    ("It's fine. Good, even; the cast is lovely and the score is great!", 1),
    ("Not bad, but dull and boring in a good way.", 0),
    ("The film is good and the actors are great.", 1),
    ("What a bad, bad, bad and awful mess, though the cast is fine.", 0),
]


def one_character_edit(old, new):
    """True if ``new`` is ``old`` with one neighbour swap, substitution, deletion or
    insertion of an ASCII letter."""
    if len(new) == len(old):
        diff = [i for i in range(len(old)) if old[i] != new[i]]
        if len(diff) == 1:
            return new[diff[0]] in string.ascii_letters
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and old[diff[0]] == new[diff[1]] and old[diff[1]] == new[diff[0]])
    if len(new) == len(old) - 1:
        return any(old[:i] + old[i + 1:] == new for i in range(len(old)))
    if len(new) == len(old) + 1:
        return any(new[:i] + new[i + 1:] == old and new[i] in string.ascii_letters
                   for i in range(len(new)))
    return False


def reference_levenshtein(a, b):
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[-1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def changed_words(result):
    original = AttackedText(result.original_text)
    adversarial = AttackedText(result.adversarial_text)
    assert original.num_words == adversarial.num_words
    return [(original.words[i], adversarial.words[i])
            for i in adversarial.changed_positions(original)]


def check_deepwordbug_output(result, max_edit_distance):
    for old, new in changed_words(result):
        assert old not in ENGLISH_STOPWORDS
        assert one_character_edit(old, new), (old, new)  # so changed once, not twice
    distance = reference_levenshtein(result.original_text, result.adversarial_text)
    assert distance <= max_edit_distance


@pytest.mark.parametrize("seed", [0, 1])
def test_every_deepwordbug_output_satisfies_the_recipe_constraints(seed):
    attack = DeepWordBugGao2018.build(BagOfWordsVictim(SENTIMENT), seed=seed)
    texts, labels = zip(*SENTENCES)
    results = attack.attack_dataset(texts, labels, progress=False)
    assert sum(r.outcome is Outcome.SUCCEEDED for r in results) >= 5
    for r in results:
        check_deepwordbug_output(r, 30)


def test_a_tight_edit_distance_budget_is_respected():
    attack = DeepWordBugGao2018.build(BagOfWordsVictim(SENTIMENT), seed=0)
    (levenshtein,) = [c for c in attack.constraints if isinstance(c, LevenshteinEditDistance)]
    levenshtein.max_edit_distance = 1
    texts, labels = zip(*SENTENCES)
    results = attack.attack_dataset(texts, labels, progress=False)
    assert any(r.outcome is Outcome.FAILED for r in results)
    for r in results:
        check_deepwordbug_output(r, 1)


def test_every_pwws_output_swaps_non_stopwords_for_synonyms():
    synonyms = {
        "good": [["good", "beneficial", "dear"]], "great": [["great", "big", "bully"]],
        "lovely": [["lovely", "endearing"]], "film": [["film", "movie", "flick"]],
        "awful": [["awful", "awesome", "amazing"]], "boring": [["boring", "drilling"]],
        "mess": [["mess", "muss", "fix"]], "dull": [["dull", "blunt", "sluggish"]],
        "the": [["the", "thee"]],
    }
    weights = {**SENTIMENT, "amazing": [0.0, 2.0], "flick": [1.0, 0.0], "fix": [0.0, 1.0],
               "thee": [5.0, 0.0]}
    attack = PWWSRen2019.build(BagOfWordsVictim(weights), wordnet=FakeWordNet(synonyms))
    texts, labels = zip(*SENTENCES)
    results = attack.attack_dataset(texts, labels, progress=False)
    assert sum(r.outcome is Outcome.SUCCEEDED for r in results) >= 3
    for r in results:
        for old, new in changed_words(r):
            assert old not in ENGLISH_STOPWORDS  # so "the" -> "thee" never happens
            assert new in {n for s in synonyms[old.lower()] for n in s} - {old}


# --- the real WordNet, when available -----------------------------------------------------
@pytest.fixture(scope="module")
def real_wordnet():
    from ior.data.wordnet import load_wordnet

    try:
        return load_wordnet()
    except RuntimeError as exc:  # `make test` prepares it first; a bare pytest run may not have
        pytest.skip(str(exc))


def test_real_wordnet_synonyms(real_wordnet):
    words = WordSwapWordNet(real_wordnet).replacement_words("good")
    assert {"beneficial", "well", "honest"} <= set(words)
    assert "good" not in words and not any("_" in w for w in words)
    assert words == sorted(words)


def test_pwws_with_real_wordnet(real_wordnet):
    model = BagOfWordsVictim({"good": [0.0, 1.0], "great": [0.0, 1.0]}, bias=[1.5, 0.0])
    result = PWWSRen2019.build(model, wordnet=real_wordnet).attack("A good and great film.", 1)
    # one unknown synonym already flips [1.5, 2] to [1.5, 1]
    assert result.outcome is Outcome.SUCCEEDED and result.words_changed == 1
    synonyms = WordSwapWordNet(real_wordnet)
    for old, new in changed_words(result):
        assert new in synonyms.replacement_words(old)


def test_hyperparameters_record_the_resources_that_ran():
    """A --word-embeddings run was logged with the default vectors: the record names what ran."""
    from ior.attacks.suite import TextAttackSuite
    from ior.resources.embeddings import WordEmbedding

    vectors = WordEmbedding(["good", "fine", "bad"], np.eye(3, dtype=np.float32), name="my-counter-fitted.txt")
    suite = TextAttackSuite(embedding=vectors, progress=False)
    recorded = suite.hyperparameters("textfooler")["transformation"]["embedding"]
    assert recorded == {"name": "my-counter-fitted.txt", "vocabulary": 3, "dim": 3}
    default = TextAttackSuite(progress=False).hyperparameters("textfooler")["transformation"]["embedding"]
    assert default == "counter-fitted GloVe-6B-50d + WordNet (ior)"
