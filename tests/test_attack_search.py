"""Greedy WIR search: float32 saturation, strict improvement, tie orders."""

import numpy as np
import pytest

from ior.attacks import Attack, DeepWordBugGao2018, Outcome
from ior.attacks.constraints import RepeatModification, StopwordModification
from ior.attacks.goal_functions import UntargetedClassification
from ior.attacks.search import GreedyWordSwapWIR
from ior.attacks.testing import BagOfWordsVictim
from ior.attacks.text import AttackedText
from ior.attacks.transformations import (
    CompositeTransformation,
    WordSwapNeighboringCharacterSwap,
    WordSwapRandomCharacterDeletion,
    WordSwapRandomCharacterInsertion,
    WordSwapRandomCharacterSubstitution,
)

TEXT = "The film was good, great and fine."
POSITIVE = {"good": [0.0, 1.0], "great": [0.0, 1.0], "fine": [0.0, 1.0]}
BIAS = [1.5, 0.0]
# logits = scale * ([1.5, 0] + 1 per positive word): [1.5, 3] on TEXT, so label 1 is right.
# Knocking out one positive word gives [1.5, 2], two give [1.5, 1]: the class flips.


def victim(scale):
    return BagOfWordsVictim(POSITIVE, bias=BIAS, scale=scale)


def every_single_edit(text):
    composite = CompositeTransformation([
        cls(random_one=False) for cls in (
            WordSwapNeighboringCharacterSwap, WordSwapRandomCharacterSubstitution,
            WordSwapRandomCharacterDeletion, WordSwapRandomCharacterInsertion)
    ])
    return composite(text, range(text.num_words), np.random.default_rng(0))


def test_saturated_victim_gives_every_candidate_the_same_score():
    # Hand check: at scale 1000 the logits are [1500, 3000]; exp(-1500) underflows to 0 in
    # float32, so p(true) is exactly 1.0, and stays 1.0 after any single edit ([1500, 2000]).
    goal = UntargetedClassification(victim(1000.0))
    initial = goal.init_example(AttackedText(TEXT), 1)
    assert initial.probs[1] == np.float32(1.0) and initial.score == np.float32(0.0)
    candidates = every_single_edit(initial.text)
    results, _ = goal.get_results(candidates)
    assert len(results) > 50
    assert all(r.score == initial.score for r in results)
    assert all(r.probs[1] == np.float32(1.0) for r in results)


def test_saturation_makes_deepwordbug_fail_though_examples_exist():
    result = DeepWordBugGao2018.build(victim(1000.0), seed=0).attack(TEXT, 1)
    assert result.outcome is Outcome.FAILED
    assert result.adversarial_text == TEXT and result.words_changed == 0
    assert result.original_confidence == 1.0


def test_moderate_confidence_deepwordbug_succeeds():
    result = DeepWordBugGao2018.build(victim(1.0), seed=0).attack(TEXT, 1)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.words_changed == 2
    assert result.adversarial_prediction == 0
    assert result.adversarial_true_prob < 0.5


def test_margin_score_pierces_saturation():
    # The margin ranks words and candidates exactly as the probability does at a moderate
    # scale, so it finds the same adversarial text.
    moderate = DeepWordBugGao2018.build(victim(1.0), seed=0).attack(TEXT, 1)
    saturated = DeepWordBugGao2018.build(victim(1000.0), seed=0, score="margin").attack(TEXT, 1)
    assert saturated.outcome is Outcome.SUCCEEDED
    assert saturated.adversarial_text == moderate.adversarial_text


def deletion_attack(model, wir_method="unk"):
    return Attack(
        UntargetedClassification(model),
        WordSwapRandomCharacterDeletion(random_one=False),
        [RepeatModification(), StopwordModification()],
        GreedyWordSwapWIR(wir_method),
    )


def test_equal_best_scores_keep_the_first_text_in_text_order():
    # Deleting any letter of "good" makes it unknown: "ood", "god", "goo" tie, and the
    # candidates are sorted by text, so "god fun" is kept.
    model = BagOfWordsVictim({"good": [0.0, 1.0]}, bias=[0.5, 0.0])
    result = deletion_attack(model).attack("good fun", 1)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.adversarial_text == "god fun"


def test_equally_important_words_are_visited_in_ascending_position():
    model = BagOfWordsVictim({"fine": [0.0, 1.0], "good": [0.0, 1.0]}, bias=[1.5, 0.0])
    # Both words matter equally; knocking out either one flips the class.
    assert deletion_attack(model).attack("good fine", 1).adversarial_text == "god fine"
    assert deletion_attack(model).attack("fine good", 1).adversarial_text == "fie good"


@pytest.mark.parametrize("wir_method", ["unk", "delete", "weighted-saliency"])
def test_more_important_word_is_attacked_first(wir_method):
    model = BagOfWordsVictim({"good": [0.0, 1.0], "superb": [0.0, 3.0]}, bias=[2.5, 0.0])
    result = deletion_attack(model, wir_method).attack("good superb", 1)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.adversarial_text.startswith("good ")  # "superb" alone flips it


def test_no_candidate_that_improves_means_nothing_is_kept():
    # Only the stopword "not" carries weight and it may not be modified; edits of "zz"
    # leave every score unchanged, so the search keeps nothing.
    model = BagOfWordsVictim({"not": [0.0, 1.0]})
    result = deletion_attack(model).attack("not zz", 1)
    assert result.outcome is Outcome.FAILED and result.adversarial_text == "not zz"
    assert result.queries == 3  # "not zz", "not [UNK]", "not z" (both deletions give it)


def test_rank_words_orders_by_unk_score():
    model = BagOfWordsVictim({"ok": [0.0, 1.0], "superb": [0.0, 3.0], "good": [0.0, 2.0]})
    attack = deletion_attack(model)
    initial = attack.goal_function.init_example(AttackedText("ok superb good"), 1)
    order, over = attack.search.rank_words(initial, attack.search_context())
    assert order.tolist() == [1, 2, 0] and over is False


def test_unknown_wir_method_is_rejected():
    with pytest.raises(ValueError, match="wir_method must be one of"):
        GreedyWordSwapWIR("gradient")


class _Similarities:
    """A search context that only knows the sentence-encoder similarity of some candidates."""

    def __init__(self, scores):
        self.scores = scores

    def similarity(self, text):
        return self.scores.get(text)


def _ranked(*rows):
    from types import SimpleNamespace

    return [SimpleNamespace(text=text, succeeded=ok) for text, ok in rows]


def test_a_succeeding_step_keeps_the_most_similar_success_as_textattack_does():
    pick = GreedyWordSwapWIR._most_similar_success
    ranked = _ranked(("a", True), ("b", True), ("c", True), ("d", False))
    # "c" is the most similar success; "d" is more similar still but did not succeed.
    assert pick(ranked, _Similarities({"a": 0.90, "b": 0.95, "c": 0.99, "d": 1.0})).text == "c"
    # Equal similarities: the first (best-scoring) of them.
    assert pick(ranked, _Similarities({"a": 0.90, "b": 0.95, "c": 0.95})).text == "b"
    # No similarity for a candidate (no sentence encoder): stop there, as TextAttack's KeyError does.
    assert pick(ranked, _Similarities({"a": 0.90})).text == "a"
    assert pick(ranked, _Similarities({})).text == "a"
    assert pick(ranked, object()).text == "a"  # a context without similarities
