"""The goal function: softmax in float32, success by argmax of logits, query counting."""

import numpy as np
import pytest

from ior.attacks.goal_functions import UntargetedClassification
from ior.attacks.testing import BagOfWordsVictim
from ior.attacks.text import AttackedText


class FixedLogits:
    """Returns the same logits row for every text; records calls."""

    def __init__(self, row, dtype=np.float32):
        self.row = np.asarray(row, dtype=dtype)
        self.num_labels = self.row.shape[-1]
        self.calls = []

    def logits(self, texts):
        self.calls.append(list(texts))
        return np.tile(self.row, (len(texts), 1))


def texts(*strings):
    return [AttackedText(s) for s in strings]


def test_repeated_texts_are_one_query():
    victim = BagOfWordsVictim({"good": [0.0, 1.0]})
    goal = UntargetedClassification(victim)
    goal.init_example(AttackedText("good"), 1)
    assert goal.num_queries == 1
    results, over = goal.get_results(texts("a", "a", "b", "good"))
    assert len(results) == 4 and over is False
    assert goal.num_queries == 3
    assert victim.calls[-1] == ["a", "b"]  # one call, only the unseen texts
    goal.get_results(texts("b", "a"))
    assert goal.num_queries == 3 and len(victim.calls) == 2
    # a new example starts a new cache and count
    goal.init_example(AttackedText("a"), 1)
    assert goal.num_queries == 1 and len(victim.calls) == 3


def test_count_repeats_mimics_textattack():
    goal = UntargetedClassification(BagOfWordsVictim({"x": [0.0, 1.0]}), count_repeats=True)
    goal.init_example(AttackedText("x"), 1)
    goal.get_results(texts("a", "a", "x"))
    assert goal.num_queries == 4


def test_batches_are_at_most_batch_size():
    victim = BagOfWordsVictim({"x": [0.0, 1.0]})
    goal = UntargetedClassification(victim, batch_size=2)
    goal.init_example(AttackedText("x"), 1)
    goal.get_results(texts("a", "b", "c", "d", "e"))
    assert [len(c) for c in victim.calls[1:]] == [2, 2, 1]


def test_query_budget_truncates_and_reports_exhaustion():
    goal = UntargetedClassification(BagOfWordsVictim({"x": [0.0, 1.0]}), query_budget=3)
    goal.init_example(AttackedText("x"), 1)
    results, over = goal.get_results(texts("x", "a", "b", "c"))
    assert [r.text.text for r in results] == ["x", "a", "b"]
    assert over is True and goal.num_queries == 3


def test_probability_score_is_float32_one_minus_softmax():
    goal = UntargetedClassification(FixedLogits([1.0, 3.0, -2.0]))
    result = goal.init_example(AttackedText("t"), 1)
    logits = np.array([1.0, 3.0, -2.0], dtype=np.float32)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert result.probs.dtype == np.float32 and result.score.dtype == np.float32
    np.testing.assert_allclose(result.probs, expected, rtol=1e-6)
    assert result.score == np.float32(1.0) - result.probs[1]
    assert result.prediction == 1 and not result.succeeded
    assert result.confidence == pytest.approx(expected.max(), rel=1e-6)


def test_margin_score_from_logits():
    goal = UntargetedClassification(FixedLogits([1.0, 3.0, -2.0]), score="margin")
    assert goal.init_example(AttackedText("t"), 1).score == np.float32(-2.0)
    assert goal.init_example(AttackedText("t"), 2).score == np.float32(5.0)


def test_success_is_argmax_of_logits_not_of_tied_probabilities():
    # At an extreme temperature the float32 probabilities tie exactly ...
    victim = FixedLogits([0.0, 1e-9])
    goal = UntargetedClassification(victim)
    result = goal.init_example(AttackedText("t"), 1)
    assert result.probs[0] == result.probs[1] == np.float32(0.5)
    assert int(np.argmax(result.probs)) == 0  # what TextAttack would call a misclassification
    # ... but the logits still say class 1, so the example is correctly classified.
    assert result.prediction == 1 and result.succeeded is False
    assert goal.init_example(AttackedText("t"), 0).succeeded is True


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_logits_raise(bad):
    goal = UntargetedClassification(FixedLogits([0.0, bad]))
    with pytest.raises(ValueError, match="model returned non-finite logits"):
        goal.init_example(AttackedText("t"), 0)


def test_malformed_logits_raise():
    class WrongShape(FixedLogits):
        def logits(self, texts):
            return np.zeros((len(texts), 3), dtype=np.float32)

    with pytest.raises(ValueError, match=r"shape \(1, 3\), expected \(1, 2\)"):
        UntargetedClassification(WrongShape([0.0, 1.0])).init_example(AttackedText("t"), 0)
    with pytest.raises(TypeError, match="dtype int64, expected float"):
        UntargetedClassification(FixedLogits([0, 1], dtype=np.int64)).init_example(
            AttackedText("t"), 0)


def test_float64_logits_are_cast_to_float32():
    result = UntargetedClassification(FixedLogits([0.0, 1.0], dtype=np.float64)).init_example(
        AttackedText("t"), 1)
    assert result.logits.dtype == np.float32 and result.probs.dtype == np.float32


def test_bad_arguments_are_named():
    victim = FixedLogits([0.0, 1.0])
    with pytest.raises(ValueError, match=r"one of \('probability', 'margin'\), got 'p'"):
        UntargetedClassification(victim, score="p")
    with pytest.raises(ValueError, match="label must be in \\[0, 2\\), got 2"):
        UntargetedClassification(victim).init_example(AttackedText("t"), 2)
    with pytest.raises(ValueError, match="query_budget must be >= 1"):
        UntargetedClassification(victim, query_budget=0)
    with pytest.raises(TypeError, match="num_labels"):
        UntargetedClassification(object())
    with pytest.raises(RuntimeError, match="init_example"):
        UntargetedClassification(victim).get_results(texts("t"))
