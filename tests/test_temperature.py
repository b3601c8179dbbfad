import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ior.models.probabilities import predictions, softmax_float32
from ior.models.temperature import TemperatureScaled, check_temperature, serve


class Fixed:
    num_labels = 3

    def __init__(self, logits):
        self._logits = np.asarray(logits, dtype=np.float32)

    def logits(self, texts):
        return self._logits[: len(texts)]


finite = st.floats(min_value=-50, max_value=50, allow_nan=False, width=32)
temperatures = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, (5, 3), elements=finite, unique=True), temperatures)
def test_temperature_never_reverses_the_order_of_two_logits(logits, temperature):
    # float32 division is monotone: it can round two logits into a tie (e.g. subnormals that
    # underflow), but it can never swap them.
    scaled = TemperatureScaled(Fixed(logits), temperature).logits(["x"] * 5)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        greater = logits[:, i] > logits[:, j]
        assert (scaled[:, i][greater] >= scaled[:, j][greater]).all()


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, (5, 3), elements=finite, unique=True), temperatures)
def test_temperature_never_changes_the_argmax_of_separated_logits(logits, temperature):
    top2 = np.sort(logits, axis=1)[:, -2:]
    separated = (top2[:, 1] - top2[:, 0]) > 1e-4 * np.maximum(1.0, np.abs(top2).max(axis=1))
    scaled = TemperatureScaled(Fixed(logits), temperature).logits(["x"] * 5)
    assert (predictions(scaled)[separated] == predictions(logits)[separated]).all()


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, (4, 3), elements=finite), temperatures)
def test_probabilities_are_float32_and_sum_to_one(logits, temperature):
    probs = softmax_float32(logits / np.float32(temperature))
    assert probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_extreme_temperatures_saturate_float32_probabilities():
    logits = np.array([[4.0, -4.0, 0.0]], dtype=np.float32)
    hot = softmax_float32(TemperatureScaled(Fixed(logits), 1e6).logits(["x"]))
    cold = softmax_float32(TemperatureScaled(Fixed(logits), 0.01).logits(["x"]))
    assert cold[0, 0] == np.float32(1.0)
    assert abs(float(hot[0, 0]) - 1 / 3) < 1e-5
    # The logits still know the answer the probabilities no longer show.
    assert predictions(TemperatureScaled(Fixed(logits), 1e6).logits(["x"]))[0] == 0


def test_wrapping_twice_composes():
    logits = np.array([[2.0, -1.0, 0.5]], dtype=np.float32)
    twice = TemperatureScaled(TemperatureScaled(Fixed(logits), 0.01), 100.0).logits(["x"])
    assert np.allclose(twice, logits, rtol=1e-6)


def test_serve_at_one_is_the_model_itself():
    model = Fixed([[0.0, 1.0, 2.0]])
    assert serve(model, 1.0) is model
    assert isinstance(serve(model, 2.0), TemperatureScaled)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_non_positive_or_non_finite_temperature_is_rejected(bad):
    with pytest.raises(ValueError, match="finite and > 0"):
        check_temperature(bad)


@pytest.mark.parametrize("bad", ["1", True, None])
def test_non_numeric_temperature_is_a_type_error(bad):
    with pytest.raises(TypeError, match="must be a number"):
        TemperatureScaled(Fixed([[0, 0, 0]]), bad)


def test_affine_wrappers_unwrap_and_rewrap_exactly():
    import torch

    from ior.models.temperature import (AffineMap, AffineScaled, apply_temperatures, rewrap,
                                        temperature_chain)

    class Fixed:
        num_labels = 2

        def logits(self, inputs):
            return np.asarray([[1.5, -0.5]] * len(inputs), dtype=np.float32)

    affine = AffineMap([[0.0, 1.0], [1.0, 0.0]], [0.25, 0.0])  # swaps the classes
    base = Fixed()
    model = TemperatureScaled(AffineScaled(TemperatureScaled(base, 0.01), affine), 3.0)
    found, chain = temperature_chain(model)
    assert found is base and chain == (3.0, affine, 0.01)
    expected = model.logits(["a"])
    assert np.array_equal(apply_temperatures(base.logits(["a"]), chain), expected)
    assert np.array_equal(rewrap(base, chain).logits(["a"]), expected)
    assert expected.argmax() == 1  # the map reordered the classes; a temperature never does
    as_torch = apply_temperatures(torch.tensor(base.logits(["a"])), chain)
    assert np.array_equal(as_torch.numpy(), expected)
    with pytest.raises(ValueError, match="W \\[C, C\\] and b \\[C\\]"):
        AffineMap(np.eye(2), np.zeros(3))
