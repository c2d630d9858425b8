"""Context metrics computed in the scoring pass: accuracy, Brier score, calibration.

Cross-entropy alone does not say whether a model is wrong or merely unsure.
These figures, requested with ``--metrics``, come from the same chunks as the
loss and are kept as mergeable sums (:class:`MetricsAccumulator`), so they
stream and combine across chunks exactly like the loss.

Definitions (w are the sample weights; p the predicted probabilities, after
softmax or sigmoid for logits; the "confidence" is the largest class
probability and the prediction its class):

* accuracy: weighted share of samples whose predicted class is the true one
  (binary: p >= 0.5 predicts the positive class), as ``sklearn.metrics.accuracy_score``;
* brier: weighted mean of sum_c (p_c - onehot_c)^2, halved for two classes, as
  ``sklearn.metrics.brier_score_loss`` with its default ``scale_by_half="auto"``;
* ece: expected calibration error over ``bins`` equal-width confidence bins,
  sum_b (W_b / W) |accuracy_b - confidence_b|;
* entropy: weighted mean entropy of the predicted distribution, in the unit;
* the loss split: shares of the total loss from confidently wrong samples
  (wrong with confidence >= ``CONFIDENT``), confidently right ones, and the rest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

METRICS = ("accuracy", "brier", "ece", "entropy", "split")
#: Metrics of the target distribution, for soft labels and distillation:
#: KL(q || p) and the entropy H(q), with cross-entropy = H(q) + KL(q || p).
TARGET_METRICS = ("kl", "target-entropy")
#: Confidence from which a prediction counts as confident in the loss split.
CONFIDENT = 0.8
DEFAULT_BINS = 15


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """The metric names of ``--metrics`` (``all`` for every one)."""
    from xent.errors import UsageError

    if not text:
        return ()
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if "all" in names:
        return METRICS
    known = METRICS + TARGET_METRICS
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"--metrics: unknown metric {unknown[0]!r}; choose from {', '.join(known)} or all"
        )
    return tuple(dict.fromkeys(names))


def probabilities(values: FloatArray, inputs: str) -> FloatArray:
    """Prediction values as probabilities (softmax / sigmoid of logits, exp of log-probs)."""
    with np.errstate(over="ignore", under="ignore"):
        if inputs == "probs":
            return values
        if inputs == "log-probs":
            out: FloatArray = np.exp(values)
        elif values.ndim == 1:
            out = 1.0 / (1.0 + np.exp(-values))
        else:
            shifted = np.exp(values - values.max(axis=1, keepdims=True))
            out = shifted / shifted.sum(axis=1, keepdims=True)
        return out


class MetricsAccumulator:
    """Mergeable weighted sums behind the context metrics."""

    def __init__(self, n_classes: int, bins: int = DEFAULT_BINS) -> None:
        self.n_classes = n_classes
        self.bins = bins
        self._edges = np.linspace(0.0, 1.0, bins + 1)
        self.weight = 0.0
        self.correct = 0.0
        self.brier = 0.0
        self.entropy = 0.0
        self.bin_weight = np.zeros(bins)
        self.bin_confidence = np.zeros(bins)
        self.bin_correct = np.zeros(bins)
        self.bin_count = np.zeros(bins, dtype=np.int64)
        self.split = np.zeros(3)  # confidently wrong, confidently right, uncertain

    def add(
        self, p: FloatArray, y: npt.NDArray[np.int64], weight: FloatArray, loss: FloatArray
    ) -> None:
        """Add one chunk: probabilities (n,) for binary or (n, K), true class indices."""
        if p.ndim == 1:
            predicted = (p >= 0.5).astype(np.int64)
            confidence = np.where(predicted == 1, p, 1.0 - p)
            squared = 2.0 * (p - y) ** 2  # both classes' terms; halved in result()
            with np.errstate(divide="ignore", invalid="ignore"):
                entropy = -(_xlogx(p) + _xlogx(1.0 - p))
        else:
            predicted = np.argmax(p, axis=1)
            confidence = p[np.arange(len(p)), predicted]
            true_p = p[np.arange(len(p)), y]
            squared = (p**2).sum(axis=1) - 2.0 * true_p + 1.0
            with np.errstate(divide="ignore", invalid="ignore"):
                entropy = -_xlogx(p).sum(axis=1)
        right = predicted == y
        self.weight += float(weight.sum())
        self.correct += float(weight[right].sum())
        self.brier += float(weight @ squared)
        self.entropy += float(weight @ entropy)
        # A confidence on an edge opens the bin above it; 1.0 closes the last bin.
        index = np.searchsorted(self._edges, confidence, side="right") - 1
        index = np.clip(index, 0, self.bins - 1)
        self.bin_weight += np.bincount(index, weights=weight, minlength=self.bins)
        self.bin_confidence += np.bincount(index, weights=weight * confidence, minlength=self.bins)
        self.bin_correct += np.bincount(index, weights=weight * right, minlength=self.bins)
        self.bin_count += np.bincount(index, minlength=self.bins)
        confident = confidence >= CONFIDENT
        weighted_loss = weight * loss
        self.split += [
            weighted_loss[confident & ~right].sum(),
            weighted_loss[confident & right].sum(),
            weighted_loss[~confident].sum(),
        ]

    def merge(self, other: MetricsAccumulator) -> MetricsAccumulator:
        """Fold ``other`` (over disjoint rows) into this accumulator."""
        self.weight += other.weight
        self.correct += other.correct
        self.brier += other.brier
        self.entropy += other.entropy
        self.bin_weight += other.bin_weight
        self.bin_confidence += other.bin_confidence
        self.bin_correct += other.bin_correct
        self.bin_count += other.bin_count
        self.split += other.split
        return self

    def result(self, names: tuple[str, ...], unit_scale: float) -> dict[str, Any]:
        """The requested metrics as a JSON-ready dict (entropy in the report's unit)."""
        w = self.weight
        out: dict[str, Any] = {}
        if w <= 0:
            return dict.fromkeys(names, math.nan)
        if "accuracy" in names:
            out["accuracy"] = self.correct / w
        if "brier" in names:
            halve = self.n_classes < 3
            out["brier"] = self.brier / w * (0.5 if halve else 1.0)
        if "ece" in names:
            with np.errstate(divide="ignore", invalid="ignore"):
                confidence = self.bin_confidence / self.bin_weight
                accuracy = self.bin_correct / self.bin_weight
            gaps = np.where(self.bin_weight > 0, np.abs(accuracy - confidence), 0.0)
            out["ece"] = float((self.bin_weight * gaps).sum() / w)
            out["calibration"] = {
                "edges": self._edges.tolist(),
                "count": self.bin_count.tolist(),
                "weight": self.bin_weight.tolist(),
                "confidence": _or_none(confidence, self.bin_weight),
                "accuracy": _or_none(accuracy, self.bin_weight),
            }
        if "entropy" in names:
            out["entropy"] = self.entropy / w * unit_scale
        if "split" in names:
            total = float(self.split.sum())
            shares = self.split / total if total > 0 else np.zeros(3)
            out["loss_split"] = {
                "confident_threshold": CONFIDENT,
                "confidently_wrong": float(shares[0]),
                "confidently_right": float(shares[1]),
                "uncertain": float(shares[2]),
            }
        return out


def _xlogx(p: FloatArray) -> FloatArray:
    out: FloatArray = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return out


def _or_none(values: FloatArray, weight: FloatArray) -> list[float | None]:
    """Per-bin values, with None for empty bins."""
    return [float(v) if w > 0 else None for v, w in zip(values, weight, strict=True)]
