"""Attack plumbing: skips, warnings, reproducibility, results and their summary."""

import json
import math
import warnings

import pytest

from ior.attacks import (
    Attack,
    AttackResult,
    DeepWordBugGao2018,
    Outcome,
    summarize,
)
from ior.attacks.search import GreedyWordSwapWIR
from ior.attacks.testing import BagOfWordsVictim
from ior.attacks.transformations import WordSwapRandomCharacterDeletion

WEIGHTS = {
    "good": [0.0, 1.0], "great": [0.0, 1.0], "fine": [0.0, 1.0], "lovely": [0.0, 1.0],
    "bad": [1.0, 0.0], "awful": [1.0, 0.0], "dull": [0.5, 0.0],
}
TEXTS = [
    "A good, great film, if dull.",
    "Dull and awful; bad, though fine.",
    "The lovely cast is fine, good and great, but dull.",
    "bad",  # misclassified below (label 1)
    "It was good -- not bad, not awful.",
]
LABELS = [1, 0, 1, 1, 0]


def victim():
    return BagOfWordsVictim(WEIGHTS)


def test_empty_texts_are_skipped_without_querying_and_warned_once():
    model = victim()
    attack = DeepWordBugGao2018.build(model)
    with pytest.warns(UserWarning, match="skipped 2 empty or whitespace-only") as record:
        results = attack.attack_dataset(["", "good film", " \n\t"], [1, 1, 0], progress=False)
    assert len([w for w in record if "empty" in str(w.message)]) == 1
    for r in (results[0], results[2]):
        assert r.outcome is Outcome.SKIPPED and r.skip_reason == "empty text"
        assert r.queries == 0 and r.original_prediction is None
    assert all(text.strip() for call in model.calls for text in call)
    with pytest.warns(UserWarning, match="empty"):
        assert attack.attack("   ", 0).skip_reason == "empty text"


def test_misclassified_examples_are_skipped_after_one_query():
    result = DeepWordBugGao2018.build(victim()).attack("bad", 1)
    assert result.outcome is Outcome.SKIPPED and result.skip_reason == "misclassified"
    assert result.queries == 1
    assert result.adversarial_text == "bad" and result.adversarial_prediction == 0


def test_results_do_not_depend_on_order_or_on_other_examples():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = DeepWordBugGao2018.build(victim(), seed=3).attack_dataset(
            TEXTS, LABELS, progress=False)
    lone = DeepWordBugGao2018.build(victim(), seed=3)
    lone.attack(TEXTS[0], LABELS[0], example_index=9)  # a different example first
    assert lone.attack(TEXTS[2], LABELS[2], example_index=2) == batch[2]
    assert DeepWordBugGao2018.build(victim(), seed=3).attack_dataset(
        TEXTS, LABELS, progress=False) == batch


def test_attack_dataset_outcomes_and_progress_bar(capsys):
    results = DeepWordBugGao2018.build(victim()).attack_dataset(
        TEXTS, LABELS, progress=True, desc="dg")
    assert [r.outcome for r in results] == [
        Outcome.SUCCEEDED, Outcome.SUCCEEDED, Outcome.SUCCEEDED, Outcome.SKIPPED,
        Outcome.SUCCEEDED]
    err = capsys.readouterr().err
    assert "dg" in err and "success=" in err
    for r in results:
        if r.outcome is Outcome.SUCCEEDED:
            assert r.adversarial_prediction != r.label
            assert r.adversarial_text != r.original_text and r.words_changed >= 1


def test_attack_dataset_checks_lengths():
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        DeepWordBugGao2018.build(victim()).attack_dataset(["a", "b"], [0], progress=False)


def test_attack_rejects_bad_inputs():
    attack = DeepWordBugGao2018.build(victim())
    with pytest.raises(TypeError, match="text must be a str"):
        attack.attack(None, 0)
    with pytest.raises(ValueError, match=r"label must be in \[0, 2\), got 5"):
        attack.attack("good", 5)
    with pytest.raises(TypeError, match="transformation must be a Transformation"):
        Attack(attack.goal_function, "swap", [], GreedyWordSwapWIR())
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        DeepWordBugGao2018.build(victim(), seed=-1)
    with pytest.raises(TypeError, match="constraints must be"):
        Attack(attack.goal_function, WordSwapRandomCharacterDeletion(), [3], GreedyWordSwapWIR())


def make(outcome, label=1, pred=1, queries=10, conf=0.9, adv_conf=0.6, skip=None):
    return AttackResult(
        original_text="t", adversarial_text="t", label=label, original_prediction=pred,
        adversarial_prediction=pred, original_confidence=conf, adversarial_confidence=adv_conf,
        original_true_prob=conf, adversarial_true_prob=adv_conf, queries=queries,
        words_changed=0, outcome=outcome, skip_reason=skip)


def test_summarize_by_hand():
    results = [
        make(Outcome.SUCCEEDED, queries=10),
        make(Outcome.FAILED, queries=20),
        make(Outcome.FAILED, queries=30),
        make(Outcome.SKIPPED, pred=0, queries=1, skip="misclassified"),
        AttackResult("", "", 1, None, None, None, None, None, None, 0, 0, Outcome.SKIPPED,
                     "empty text"),
    ]
    s = summarize(results)
    assert (s.n, s.n_skipped_empty, s.n_skipped_misclassified, s.n_attacked) == (5, 1, 1, 3)
    assert s.clean_accuracy == 3 / 4
    assert s.adversarial_accuracy == 2 / 4  # misclassified examples are not robust
    assert s.attack_success_rate == 1 / 3
    assert s.mean_queries == 20.0
    assert s.mean_confidence_clean == pytest.approx(0.9)
    assert s.mean_confidence_adversarial == pytest.approx(0.6)
    empty = summarize([])
    assert empty.n == 0 and math.isnan(empty.clean_accuracy) and math.isnan(empty.mean_queries)


def test_result_to_dict_is_json_ready():
    result = DeepWordBugGao2018.build(victim()).attack(TEXTS[0], 1)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["outcome"] == "succeeded" and data["label"] == 1
    assert set(data) == {
        "original_text", "adversarial_text", "label", "original_prediction",
        "adversarial_prediction", "original_confidence", "adversarial_confidence",
        "original_true_prob", "adversarial_true_prob", "queries", "words_changed", "outcome",
        "skip_reason"}
    assert json.loads(json.dumps(summarize([result]).to_dict()))["attack_success_rate"] == 1.0
    with pytest.raises(TypeError, match="AttackResult"):
        summarize(["x"])
