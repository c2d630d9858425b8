"""The numeric core: per-sample cross-entropy and mergeable accumulators.

Pure NumPy, no I/O. Every function works on one chunk of rows; an
:class:`Accumulator` collects chunk results into per-class sums that merge
exactly, so chunks of one file, or shards on other machines, combine into the
same figures as one pass over everything.

All losses are in nats and float64. Hard labels are never expanded into one-hot
matrices: the probability of the true class is gathered with fancy indexing.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: eps used by ``--eps auto``: float64 machine epsilon, as scikit-learn uses.
AUTO_EPS = float(np.finfo(np.float64).eps)

#: Histogram edges of per-sample loss, in the reported unit (the last bin is open).
HISTOGRAM_EDGES: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)

PROBS = "probs"
LOGITS = "logits"
LOG_PROBS = "log-probs"


@dataclass(frozen=True)
class ChunkLosses:
    """Per-sample losses of one chunk (nats) and how many values were clipped."""

    loss: FloatArray
    n_clipped: int


def count_clipped(p: FloatArray, eps: float) -> int:
    """How many probabilities lie outside [eps, 1 - eps] (0 when eps is 0).

    This is what reports call ``n_clipped``: prediction values that clipping
    changes, counted over every prediction column as scikit-learn clips the
    whole matrix, whichever of them the loss then uses.
    """
    if eps <= 0.0:
        return 0
    return int(np.count_nonzero((p < eps) | (p > 1.0 - eps)))


def _clip(p: FloatArray, eps: float) -> tuple[FloatArray, int]:
    """Clip probabilities to [eps, 1 - eps] as ``sklearn.metrics.log_loss`` does.

    Returns the clipped copy and the number of values that changed.
    """
    if eps <= 0.0:
        return p, 0
    low, high = eps, 1.0 - eps
    n_clipped = count_clipped(p, eps)
    if n_clipped == 0:
        return p, 0
    return np.clip(p, low, high), n_clipped


def _softplus(x: FloatArray) -> FloatArray:
    """log(1 + exp(x)), exact for large |x| (no overflow, no underflow to 0 too early)."""
    return np.logaddexp(0.0, x)


def _log1mexp(log_p: FloatArray) -> FloatArray:
    """log(1 - exp(log_p)) for log_p <= 0, accurate near both ends (Mächler 2012)."""
    out = np.empty_like(log_p)
    near_zero = log_p > -math.log(2.0)
    out[near_zero] = np.log(-np.expm1(log_p[near_zero]))
    out[~near_zero] = np.log1p(-np.exp(log_p[~near_zero]))
    return out


def _log_softmax_parts(logits: FloatArray) -> FloatArray:
    """Row-wise log-sum-exp, shifted by the row maximum so exp never overflows."""
    row_max = logits.max(axis=1)
    shifted = logits - row_max[:, None]
    log_norm: FloatArray = row_max + np.log(np.exp(shifted).sum(axis=1))
    return log_norm


def binary_losses(
    target: FloatArray,
    values: FloatArray,
    *,
    inputs: str,
    eps: float = AUTO_EPS,
) -> ChunkLosses:
    """Binary cross-entropy per sample.

    Parameters
    ----------
    target : ndarray of shape (n_samples,)
        Target probability of the positive class: 0 or 1 for hard labels,
        anything in [0, 1] for smoothed or soft targets.
    values : ndarray of shape (n_samples,)
        Probability, logit or log-probability of the positive class.
    inputs : {"probs", "logits", "log-probs"}
        What ``values`` holds.
    eps : float, default=float64 machine epsilon
        Probabilities are clipped to [eps, 1 - eps]; 0 turns clipping off.
        Logits and log-probabilities are never clipped.

    Returns
    -------
    ChunkLosses
        ``-[t log p + (1 - t) log(1 - p)]`` per sample, in nats.

    Examples
    --------
    >>> binary_losses(np.array([1.0]), np.array([0.9]), inputs="probs").loss.round(4)
    array([0.1054])
    """
    hard = bool(np.all((target == 0.0) | (target == 1.0)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if inputs == LOGITS:
            if hard:
                return ChunkLosses(_softplus(np.where(target == 1.0, -values, values)), 0)
            loss = target * _softplus(-values) + (1.0 - target) * _softplus(values)
            return ChunkLosses(loss, 0)
        if inputs == LOG_PROBS:
            log_pos, log_neg = values, _log1mexp(values)
            n_clipped = 0
        else:
            if hard:
                # Gather the probability of the observed class, then clip it:
                # the same order of operations as scikit-learn's [1 - p, p] matrix.
                chosen, _ = _clip(np.where(target == 1.0, values, 1.0 - values), eps)
                return ChunkLosses(-np.log(chosen), count_clipped(values, eps))
            pos, n_clipped = _clip(values, eps)
            neg, _ = _clip(1.0 - values, eps)
            log_pos, log_neg = np.log(pos), np.log(neg)
        loss = -(_xlogy(target, log_pos) + _xlogy(1.0 - target, log_neg))
    return ChunkLosses(loss, n_clipped)


def _xlogy(weight: FloatArray, log_value: FloatArray) -> FloatArray:
    """weight * log_value, with 0 wherever weight is 0 (even when log_value is -inf)."""
    out = weight * log_value
    return np.where(weight == 0.0, 0.0, out)


def multiclass_losses(
    y_index: IntArray,
    values: FloatArray,
    *,
    inputs: str,
    eps: float = AUTO_EPS,
    label_smoothing: float = 0.0,
) -> ChunkLosses:
    """Categorical cross-entropy per sample for hard labels.

    Parameters
    ----------
    y_index : ndarray of shape (n_samples,)
        Index of the true class of each sample, in ``range(n_classes)``.
    values : ndarray of shape (n_samples, n_classes)
        Probabilities, logits or log-probabilities.
    inputs : {"probs", "logits", "log-probs"}
    eps : float
        Clipping of probabilities to [eps, 1 - eps]; 0 turns it off.
    label_smoothing : float in [0, 1)
        Targets become ``(1 - a) * onehot + a / n_classes``.

    Returns
    -------
    ChunkLosses
        ``-log p[i, y_i]`` (or the smoothed form) per sample, in nats.

    Examples
    --------
    >>> P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    >>> multiclass_losses(np.array([0, 2]), P, inputs="probs").loss.round(4)
    array([0.3567, 0.2231])
    """
    rows = np.arange(len(y_index))
    n_classes = values.shape[1]
    a = label_smoothing
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if inputs == LOGITS:
            log_norm = _log_softmax_parts(values)
            loss = log_norm - values[rows, y_index]
            if a:
                uniform = log_norm - values.sum(axis=1) / n_classes
                loss = (1.0 - a) * loss + a * uniform
            return ChunkLosses(loss, 0)
        if inputs == LOG_PROBS:
            loss = -values[rows, y_index]
            if a:
                loss = (1.0 - a) * loss - a * values.sum(axis=1) / n_classes
            return ChunkLosses(loss, 0)
        if not a:
            chosen, _ = _clip(values[rows, y_index], eps)
            return ChunkLosses(-np.log(chosen), count_clipped(values, eps))
        clipped, n_clipped = _clip(values, eps)
        log_p = np.log(clipped)
        loss = -(1.0 - a) * log_p[rows, y_index] - a * log_p.sum(axis=1) / n_classes
    return ChunkLosses(loss, n_clipped)


def soft_elements(
    targets: FloatArray, values: FloatArray, *, inputs: str, eps: float = AUTO_EPS
) -> tuple[FloatArray, int]:
    """Element-wise ``-q[i, c] log p[i, c]`` for target distributions ``q``.

    Returns the (n_samples, n_classes) matrix in nats (0 wherever q is 0) and
    the number of clipped probabilities. Its row sums are the per-sample losses;
    its column sums attribute the loss to classes.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n_clipped = 0
        if inputs == LOGITS:
            log_p = values - _log_softmax_parts(values)[:, None]
        elif inputs == LOG_PROBS:
            log_p = values
        else:
            clipped, n_clipped = _clip(values, eps)
            log_p = np.log(clipped)
        return -_xlogy(targets, log_p), n_clipped


def soft_losses(
    targets: FloatArray,
    values: FloatArray,
    *,
    inputs: str,
    eps: float = AUTO_EPS,
    label_smoothing: float = 0.0,
) -> ChunkLosses:
    """Cross-entropy ``-sum_c q[i, c] log p[i, c]`` against a target distribution per row.

    ``targets`` and ``values`` both have shape (n_samples, n_classes); targets
    are smoothed as ``(1 - a) * q + a / n_classes`` when ``label_smoothing`` is a.
    """
    q = targets
    if label_smoothing:
        q = (1.0 - label_smoothing) * targets + label_smoothing / targets.shape[1]
    elements, n_clipped = soft_elements(q, values, inputs=inputs, eps=eps)
    return ChunkLosses(elements.sum(axis=1), n_clipped)


def multilabel_losses(
    targets: FloatArray,
    values: FloatArray,
    *,
    inputs: str,
    eps: float = AUTO_EPS,
    label_smoothing: float = 0.0,
) -> tuple[FloatArray, int]:
    """Binary cross-entropy of every (sample, label) element.

    Returns the (n_samples, n_labels) matrix of element losses in nats and the
    number of clipped values. A sample's loss is the mean of its row.
    """
    t = targets
    if label_smoothing:
        t = (1.0 - label_smoothing) * targets + label_smoothing / 2.0
    flat = binary_losses(t.ravel(), values.ravel(), inputs=inputs, eps=eps)
    return flat.loss.reshape(targets.shape), flat.n_clipped


@dataclass(order=True)
class _Worst:
    loss: float
    index: int
    id: Any = field(compare=False)
    label: str = field(compare=False)


class Accumulator:
    """Mergeable sums behind every figure of a report.

    Per class it keeps the weighted loss sum, the weight sum, the row count and
    the target mass (summed weighted target probability, for the prior-only
    reference loss); overall the clipped and renormalized counts, a histogram of
    per-sample losses and the ``top_k`` highest-loss samples. Two accumulators
    over disjoint rows :meth:`merge` into the accumulator of their union.
    """

    def __init__(
        self, n_classes: int, *, top_k: int = 5, histogram_edges_nats: Sequence[float] = ()
    ) -> None:
        self.n_classes = n_classes
        self.top_k = top_k
        self.loss_sum = np.zeros(n_classes)
        self.weight_sum = np.zeros(n_classes)
        self.target_mass = np.zeros(n_classes)
        self.count = np.zeros(n_classes, dtype=np.int64)
        self.edges = np.asarray(histogram_edges_nats or _nats_edges(1.0), dtype=np.float64)
        self.histogram = np.zeros(len(self.edges), dtype=np.int64)
        self.n_samples = 0
        self.n_ignored = 0
        self.n_clipped = 0
        self.n_renormalized = 0
        self._worst: list[_Worst] = []
        #: Optional context metrics (a mergeable ``xent.metrics.MetricsAccumulator``).
        self.metrics: Any = None

    def add_samples(
        self,
        sample_loss: FloatArray,
        *,
        first_index: int | npt.NDArray[np.int64],
        labels: Sequence[str] | npt.NDArray[Any],
        ids: Sequence[Any] | None = None,
    ) -> None:
        """Count samples in the histogram and the top-K list.

        ``first_index`` is the 0-based input row of the first sample, or an
        array with every sample's row index when rows were dropped.
        """
        n = len(sample_loss)
        self.n_samples += n
        if n == 0:
            return
        finite_or_inf = np.where(np.isnan(sample_loss), np.inf, sample_loss)
        bins = np.searchsorted(self.edges, finite_or_inf, side="right") - 1
        self.histogram += np.bincount(np.clip(bins, 0, None), minlength=len(self.edges))
        self._offer_worst(finite_or_inf, first_index, labels, ids)

    def _offer_worst(
        self,
        loss: FloatArray,
        first_index: int | npt.NDArray[np.int64],
        labels: Sequence[str] | npt.NDArray[Any],
        ids: Sequence[Any] | None,
    ) -> None:
        k = self.top_k
        if k <= 0:
            return
        candidates = _largest(loss, k)
        for i in candidates.tolist():
            index = first_index + i if isinstance(first_index, int) else int(first_index[i])
            ident: Any = None if ids is None else ids[i]
            if hasattr(ident, "as_py"):  # an Arrow scalar
                ident = ident.as_py()
            entry = _Worst(float(loss[i]), -index, ident, str(labels[i]))
            # Ties keep the earliest row: the index is stored negated so it loses.
            if len(self._worst) < k:
                heapq.heappush(self._worst, entry)
            elif entry > self._worst[0]:
                heapq.heapreplace(self._worst, entry)

    def add_class_sums(
        self,
        loss_sum: FloatArray,
        weight_sum: FloatArray,
        count: npt.NDArray[np.int64],
        target_mass: FloatArray,
    ) -> None:
        """Add per-class sums computed over one chunk."""
        self.loss_sum += loss_sum
        self.weight_sum += weight_sum
        self.count += count
        self.target_mass += target_mass

    def merge(self, other: Accumulator) -> Accumulator:
        """Fold ``other`` (over disjoint rows) into this accumulator and return it."""
        if other.n_classes != self.n_classes:
            raise ValueError("cannot merge accumulators with different class counts")
        self.add_class_sums(other.loss_sum, other.weight_sum, other.count, other.target_mass)
        self.histogram += other.histogram
        self.n_samples += other.n_samples
        self.n_ignored += other.n_ignored
        self.n_clipped += other.n_clipped
        self.n_renormalized += other.n_renormalized
        if self.metrics is not None and other.metrics is not None:
            self.metrics.merge(other.metrics)
        for entry in other._worst:
            if len(self._worst) < self.top_k:
                heapq.heappush(self._worst, entry)
            elif entry > self._worst[0]:
                heapq.heapreplace(self._worst, entry)
        return self

    def worst(self) -> list[tuple[int, Any, str, float]]:
        """The top-K samples as (index, id, label, loss), highest loss first."""
        ordered = sorted(self._worst, reverse=True)
        return [(-w.index, w.id, w.label, w.loss) for w in ordered]


def _largest(values: FloatArray, k: int) -> IntArray:
    """Indices of the ``k`` largest values; among equal values the earliest win."""
    if len(values) <= k:
        return np.arange(len(values))
    kth = np.partition(values, len(values) - k)[len(values) - k]
    above = np.flatnonzero(values > kth)
    ties = np.flatnonzero(values == kth)[: k - len(above)]
    return np.concatenate([above, ties])


def class_sums(
    class_index: IntArray,
    sample_loss: FloatArray,
    weight: FloatArray,
    n_classes: int,
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Weighted loss sums, weight sums and counts per true class, by ``bincount``."""
    loss_sum: FloatArray = np.bincount(
        class_index, weights=weight * sample_loss, minlength=n_classes
    ).astype(np.float64)
    weight_sum: FloatArray = np.bincount(class_index, weights=weight, minlength=n_classes).astype(
        np.float64
    )
    count = np.bincount(class_index, minlength=n_classes).astype(np.int64)
    return loss_sum, weight_sum, count


def _nats_edges(nats_per_unit: float) -> list[float]:
    return [edge * nats_per_unit for edge in HISTOGRAM_EDGES]


def histogram_edges_nats(unit: str) -> list[float]:
    """The histogram edges of :data:`HISTOGRAM_EDGES` (given in ``unit``) in nats."""
    return _nats_edges(math.log(2.0) if unit == "bits" else 1.0)


def entropy_nats(mass: FloatArray) -> float:
    """Entropy of the distribution proportional to ``mass`` (0·log 0 = 0), in nats."""
    total = float(mass.sum())
    if total <= 0.0:
        return math.nan
    f = mass[mass > 0] / total
    return float(-(f * np.log(f)).sum())


def binary_entropy_nats(p: float) -> float:
    """Entropy of a Bernoulli(p) variable in nats."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log(p) + (1.0 - p) * math.log1p(-p))
