import numpy as np
import pytest

from ior.calibration.metrics import (confidence_variance, expected_calibration_error,
                                     maximum_calibration_error, negative_log_likelihood)
from ior.calibration.temperature_scaling import TemperatureScaling


def _synthetic(n=20000, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(n, classes))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (rng.random(n)[:, None] > p.cumsum(1)).sum(1)
    return z, y


@pytest.mark.parametrize("true_t", [0.01, 0.5, 3.0, 1e6])
def test_temperature_scaling_recovers_known_temperature_within_one_percent(true_t):
    z, y = _synthetic()
    # Logits of a model served at true_t: the calibrated temperature must undo it.
    served = (z / true_t).astype(np.float32)
    fit = TemperatureScaling().fit(served, y)
    assert fit.converged_
    assert fit.temperature_ * true_t == pytest.approx(1.0, rel=0.01)
    assert fit.nll_ <= fit.nll_at_one_ + 1e-12


def test_temperature_scaling_flags_separable_data_as_not_converged():
    logits = np.array([[3.0, -3.0], [-2.0, 2.0], [4.0, 0.0]])
    with pytest.warns(RuntimeWarning, match="edge of its range"):
        fit = TemperatureScaling().fit(logits, np.array([0, 1, 0]))
    assert not fit.converged_ and fit.separable_ and fit.n_samples_ == 3
    assert fit.temperature_ < 1e-10


def test_a_fit_on_a_validation_set_with_errors_is_not_separable():
    z, y = _synthetic(n=2000)
    fit = TemperatureScaling().fit(z, y)
    assert fit.converged_ and not fit.separable_


def test_cal_on_its_search_bound_is_flagged_as_such_not_as_miscalibration():
    from ior.audit.flags import compute_flags

    logits = np.array([[3.0, -3.0], [-2.0, 2.0], [4.0, 0.0]])
    common = {"zeta": 1.0, "cal_temperature": 1e-12}
    codes = {f.code: f for f in compute_flags(logits, **common, cal_converged=False, cal_separable=True,
                                               n_validation=3)}
    assert "calibration-temperature-extreme" not in codes
    assert "every one of the 3 validation examples is classified correctly" in codes[
        "calibration-not-converged"].message
    edge = compute_flags(logits, **common, cal_converged=False)
    assert "edge of the search range" in next(f.message for f in edge if f.code == "calibration-not-converged")
    converged = {f.code for f in compute_flags(logits, **common)}  # a real fit far from 1: miscalibration
    assert "calibration-temperature-extreme" in converged and "calibration-not-converged" not in converged


def test_temperature_scaling_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN or inf"):
        TemperatureScaling().fit(np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match="shape"):
        TemperatureScaling().fit(np.zeros((3, 2)), np.zeros(2, dtype=int))
    with pytest.raises(RuntimeError, match="not fitted"):
        TemperatureScaling().transform(np.zeros((1, 2)))


def test_ece_and_mce_match_a_hand_computation():
    probs = np.array([[0.95, 0.05], [0.85, 0.15], [0.40, 0.60], [0.30, 0.70], [0.55, 0.45]])
    labels = np.array([0, 1, 1, 1, 0])
    # confidences 0.95 (right), 0.85 (wrong), 0.60 (right), 0.70 (right), 0.55 (right); 10 bins:
    # (0.9,1]: |1-0.95|=0.05 n=1; (0.8,0.9]: |0-0.85|=0.85 n=1; (0.6,0.7]: |1-0.7|=0.3 n=1;
    # (0.5,0.6]: both 0.60 and 0.55, acc 1, conf 0.575 -> 0.425, n=2.
    expected_ece = (0.05 + 0.85 + 0.3 + 2 * 0.425) / 5
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(expected_ece)
    assert maximum_calibration_error(probs, labels, n_bins=10) == pytest.approx(0.85)


def test_ece_uses_given_predictions_when_probabilities_tie():
    probs = np.full((2, 2), 0.5, dtype=np.float32)
    # argmax of tied probabilities would say class 0 for both; the logits said class 1.
    assert expected_calibration_error(probs, [1, 1], predictions=[1, 1]) == pytest.approx(0.5)
    assert expected_calibration_error(probs, [1, 1]) == pytest.approx(0.5)
    assert maximum_calibration_error(probs, [0, 1], predictions=[1, 1]) == pytest.approx(0.0)


def test_confidence_variance_and_nll():
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])
    assert confidence_variance(probs) == pytest.approx(np.var([0.9, 0.7, 0.5]))
    logits = np.array([[2.0, 0.0], [0.0, 0.0]])
    expected = (np.log(1 + np.exp(-2.0)) + np.log(2.0)) / 2
    assert negative_log_likelihood(logits, [0, 1]) == pytest.approx(expected)
    assert negative_log_likelihood(logits * 1e4, [0, 0], temperature=1e4) == pytest.approx(
        negative_log_likelihood(logits, [0, 0]))


def test_metrics_reject_bad_shapes():
    with pytest.raises(ValueError, match="labels must lie"):
        expected_calibration_error([[0.5, 0.5]], [2])
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([[0.5, 0.5]], [0], n_bins=0)
    with pytest.raises(ValueError, match="empty"):
        maximum_calibration_error(np.zeros((0, 2)), np.zeros(0, dtype=int))


def _misaligned(n=3000, c=3, seed=0):
    """Logits that point one class off the label: only a map that reorders classes fixes them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    return rng.normal(size=(n, c)) + 3.0 * np.eye(c)[(y + 1) % c], y


def test_matrix_scaling_can_reorder_classes_and_vector_scaling_cannot():
    from ior.calibration.platt import MatrixScaling

    z, y = _misaligned()
    matrix = MatrixScaling().fit(z, y)
    vector = MatrixScaling(kind="vector").fit(z, y)
    assert (z.argmax(1) == y).mean() < 0.1
    assert (matrix.transform(z).argmax(1) == y).mean() > 0.85
    # A diagonal map can only scale (or negate) each logit: it cannot send class k's evidence to k - 1.
    assert (vector.transform(z).argmax(1) == y).mean() < 0.6
    assert matrix.nll_ < vector.nll_ < vector.nll_at_identity_
    assert matrix.weight_.dtype == np.float32 and matrix.weight_.shape == (3, 3)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e2])
def test_matrix_scaling_is_fitted_alike_at_any_serving_scale(scale):
    from ior.calibration.platt import MatrixScaling

    z, y = _misaligned(seed=1)
    reference = MatrixScaling().fit(z, y).transform(z)
    scaled = MatrixScaling().fit((z * scale).astype(np.float32), y).transform((z * scale).astype(np.float32))
    assert np.mean(reference.argmax(1) == scaled.argmax(1)) > 0.99
    assert np.allclose(reference, scaled, atol=0.05)


def test_matrix_scaling_stays_finite_on_separable_data_and_rejects_bad_input():
    from ior.calibration.platt import MatrixScaling

    y = np.array([0, 1] * 50)
    z = np.stack([-(2 * y - 1.0), 2 * y - 1.0], axis=1) * 3  # perfectly separable
    fit = MatrixScaling().fit(z, y)
    assert np.isfinite(fit.weight_).all() and fit.converged_
    with pytest.raises(ValueError, match="kind"):
        MatrixScaling(kind="isotonic")
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        MatrixScaling().fit(z, y + 1)
