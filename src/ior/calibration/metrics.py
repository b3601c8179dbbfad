"""Calibration metrics: pure functions of probabilities and labels.

ECE and MCE follow Naeini et al. (2015) with equal-width confidence bins that are open on the left
and closed on the right, ``(k/B, (k+1)/B]``. Confidence is the probability of the predicted class;
pass ``predictions`` computed from logits when probabilities may tie (extreme temperatures).
"""

from __future__ import annotations

import numpy as np


def _check(probs, labels, predictions):
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape [N, C], got {probs.shape}")
    if labels.shape != (probs.shape[0],):
        raise ValueError(f"labels must have shape [{probs.shape[0]}], got {labels.shape}")
    if probs.shape[0] == 0:
        raise ValueError("probs is empty: no examples to measure")
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise ValueError(f"labels must lie in [0, {probs.shape[1] - 1}]")
    preds = probs.argmax(axis=1) if predictions is None else np.asarray(predictions)
    if preds.shape != labels.shape:
        raise ValueError(f"predictions must have shape {labels.shape}, got {preds.shape}")
    confidence = probs[np.arange(len(preds)), preds]
    return confidence, (preds == labels).astype(np.float64)


def _bin_sums(confidence, correct, n_bins):
    """Per equal-width bin: count, sum of confidences, sum of correct predictions."""
    if not isinstance(n_bins, (int, np.integer)) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    index = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    return (np.bincount(index, minlength=n_bins), np.bincount(index, weights=confidence, minlength=n_bins),
            np.bincount(index, weights=correct, minlength=n_bins))


def _bin_gaps(confidence, correct, n_bins):
    counts, conf_sum, acc_sum = _bin_sums(confidence, correct, n_bins)
    filled = counts > 0
    gaps = np.abs(acc_sum[filled] - conf_sum[filled]) / counts[filled]
    return gaps, counts[filled]


def reliability_bins(probs, labels, *, n_bins=15, predictions=None) -> list[dict]:
    """The reliability diagram behind ECE/MCE: per equal-width bin ``(lo, hi]``, its count, mean
    confidence and accuracy (None for an empty bin).

    >>> [b["n"] for b in reliability_bins([[0.9, 0.1], [0.6, 0.4]], [0, 1], n_bins=2)]
    [0, 2]
    """
    confidence, correct = _check(probs, labels, predictions)
    counts, conf_sum, acc_sum = _bin_sums(confidence, correct, n_bins)
    return [{"lo": k / n_bins, "hi": (k + 1) / n_bins, "n": int(counts[k]),
             "confidence": float(conf_sum[k] / counts[k]) if counts[k] else None,
             "accuracy": float(acc_sum[k] / counts[k]) if counts[k] else None} for k in range(n_bins)]


def expected_calibration_error(probs, labels, *, n_bins=15, predictions=None) -> float:
    """ECE: bin-size-weighted mean of |accuracy − confidence| over equal-width bins.

    Parameters
    ----------
    probs : array [N, C]
    labels : int array [N]
    n_bins : int
    predictions : int array [N], optional
        Predicted classes (default: argmax of ``probs``).

    Examples
    --------
    >>> expected_calibration_error([[0.9, 0.1], [0.6, 0.4]], [0, 1], n_bins=10)
    0.35
    """
    confidence, correct = _check(probs, labels, predictions)
    gaps, counts = _bin_gaps(confidence, correct, n_bins)
    return float(np.round(np.sum(gaps * counts) / counts.sum(), 12))


def maximum_calibration_error(probs, labels, *, n_bins=15, predictions=None) -> float:
    """MCE: the largest |accuracy − confidence| over non-empty equal-width bins."""
    confidence, correct = _check(probs, labels, predictions)
    gaps, _ = _bin_gaps(confidence, correct, n_bins)
    return float(np.round(gaps.max(), 12))


def confidence_variance(probs, *, predictions=None) -> float:
    """Variance over inputs of the predicted-class confidence (ζ of Eq. 5)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"probs must have shape [N, C] with N > 0, got {probs.shape}")
    preds = probs.argmax(axis=1) if predictions is None else np.asarray(predictions)
    return float(np.var(probs[np.arange(len(preds)), preds]))


def negative_log_likelihood(logits, labels, *, temperature=1.0) -> float:
    """Mean NLL of ``softmax(logits / temperature)``, computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    labels = np.asarray(labels)
    top = z.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))
