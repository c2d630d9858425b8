"""The loss stage: per-sample cross-entropy of one chunk, in nats and float64.

Pure NumPy, no I/O. :func:`score_chunk` turns a chunk's prediction values and
its targets (class indices, or per-class target columns) into per-sample
losses and the per-class sums the accumulate stage adds up; the functions
below it are the formulas of each task. Hard labels are never expanded into
one-hot matrices: the probability of the true class is gathered with fancy
indexing. The formulas are written out in docs/numbers.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from xent.conventions import Convention, score_like

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: eps used by ``--eps auto``: float64 machine epsilon, as scikit-learn uses.
AUTO_EPS = float(np.finfo(np.float64).eps)

PROBS = "probs"
LOGITS = "logits"
LOG_PROBS = "log-probs"
#: The value of each row is the probability (log-probability) of its true class.
TARGET_PROBS = "target-probs"
TARGET_LOG_PROBS = "target-log-probs"


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


def softplus(x: FloatArray) -> FloatArray:
    """log(1 + exp(x)), exact for large |x| (no overflow, no underflow to 0 too early)."""
    return np.logaddexp(0.0, x)


def _log1mexp(log_p: FloatArray) -> FloatArray:
    """log(1 - exp(log_p)) for log_p <= 0, accurate near both ends (Mächler 2012)."""
    out = np.empty_like(log_p)
    near_zero = log_p > -math.log(2.0)
    out[near_zero] = np.log(-np.expm1(log_p[near_zero]))
    out[~near_zero] = np.log1p(-np.exp(log_p[~near_zero]))
    return out


def log_sum_exp(logits: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """Row-wise log Σ_j exp(x_j), shifted by the row maximum so exp never overflows.

    ``logits`` may be float16, float32 or float64; the sums are always taken in
    float64. A large block is split between two threads (NumPy releases the GIL).
    """
    return logits_norm(logits)[0]


def logits_norm(logits: npt.NDArray[np.floating[Any]]) -> tuple[FloatArray, float, float]:
    """:func:`log_sum_exp` of each row, with the smallest and largest value of the block.

    The range comes from the same pass over memory (it is what validating logits
    needs); a NaN anywhere makes the largest value NaN.
    """
    from xent import limits

    if logits.size >= PARALLEL_ELEMENTS and len(logits) > 1 and limits.THREADS > 1:
        halves = np.array_split(logits, 2)
        parts = list(_pool().map(_log_sum_exp, halves))
        (first, low, high), (second, low_2, high_2) = parts
        return np.concatenate([first, second]), min(low, low_2), _larger(high, high_2)
    return _log_sum_exp(logits)


def _larger(high: float, value: float) -> float:
    """The larger of two values, NaN once either is NaN (as ``ndarray.max``)."""
    return value if value > high or value != value else high


def _log_sum_exp(logits: npt.NDArray[np.floating[Any]]) -> tuple[FloatArray, float, float]:
    # A few rows at a time, copied (and widened to float64, exactly) into one
    # small buffer that stays in the CPU cache: the range, shift, exp and sum
    # then cost one read of the logits from memory, not a pass over memory each
    # (and no float64 copy of a float16/float32 block as large as the block).
    n, k = logits.shape
    rows = max(1, CACHE_ELEMENTS // max(1, k))
    buffer = np.empty((min(rows, n), k))
    log_norm: FloatArray = np.empty(n)
    low, high = math.inf, -math.inf
    with np.errstate(all="ignore"):  # the values are not validated yet: see the range
        for start in range(0, n, rows):
            shifted = buffer[: min(rows, n - start)]
            np.copyto(shifted, logits[start : start + rows])
            row_max = shifted.max(axis=1)
            low = min(low, float(shifted.min()))
            np.subtract(shifted, row_max[:, None], out=shifted)
            np.exp(shifted, out=shifted)
            log_norm[start : start + rows] = row_max + np.log(shifted.sum(axis=1))
            high = _larger(high, float(row_max.max()))
    return log_norm, low, high


#: Values worked on at once by :func:`_log_sum_exp` (512 KiB of float64).
CACHE_ELEMENTS = 1 << 16


#: Blocks of at least this many values are worked on by two threads.
PARALLEL_ELEMENTS = 1 << 20
_threads: list[Any] = []


def _pool() -> Any:
    """A pool of two threads for large blocks, made on first use."""
    if not _threads:
        from concurrent.futures import ThreadPoolExecutor

        _threads.append(ThreadPoolExecutor(max_workers=2, thread_name_prefix="xent-loss"))
    return _threads[0]


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
                return ChunkLosses(softplus(np.where(target == 1.0, -values, values)), 0)
            loss = target * softplus(-values) + (1.0 - target) * softplus(values)
            return ChunkLosses(loss, 0)
        if inputs == LOG_PROBS:
            log_pos, log_neg = values, _log1mexp(values)
            n_clipped = 0
        else:
            if hard:
                # Gather the probability of the observed class, then clip it:
                # the same order of operations as scikit-learn's [1 - p, p] matrix.
                # |(t - 1) + p| is p for t = 1 and exactly 1 - p for t = 0 (rounding
                # is symmetric: fl(p - 1) = -fl(1 - p)), without np.where's branches.
                chosen = np.subtract(target, 1.0)
                np.add(chosen, values, out=chosen)
                np.abs(chosen, out=chosen)
                chosen, _ = _clip(chosen, eps)
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
    log_norm: FloatArray | None = None,
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
    log_norm : ndarray of shape (n_samples,), optional
        :func:`log_sum_exp` of the logits when the caller has it already.

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
            if log_norm is None:
                log_norm = log_sum_exp(values)
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
            log_p = values - log_sum_exp(values)[:, None]
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


@dataclass(frozen=True)
class LossPlan:
    """How the losses of every chunk are computed.

    ``task`` is binary, multiclass or multilabel; ``soft`` marks per-class
    target distributions (multiclass with ``--label-cols``); ``class_weights``
    holds one weight per class (or None).
    """

    task: str
    n_classes: int
    inputs: str
    eps: float = AUTO_EPS
    label_smoothing: float = 0.0
    class_weights: FloatArray | None = None
    soft: bool = False
    #: The framework convention (``--like``); xent's own formulas by default.
    convention: Convention = field(default_factory=Convention)
    #: Also compute each sample's target entropy (for ``--metrics kl,target-entropy``).
    entropy: bool = False


@dataclass(frozen=True)
class ScoredChunk:
    """The losses of one chunk, and the per-class sums behind its report.

    ``loss`` is each sample's loss (nats) and ``weight`` its weight (sample
    weight times class weight). ``numerator`` and ``denominator`` are each
    sample's part of the aggregate's weighted sum of losses and of its sum of
    weights (for groups of samples). The per-class arrays have one entry per class:
    the weighted loss sum, the weight sum, the count of samples, and the
    weighted target mass (for the prior-only reference loss). A multilabel
    sample's loss is the mean of its K element losses, while the per-class
    (and aggregate) sums run over every (sample, label) element.
    """

    loss: FloatArray
    weight: FloatArray
    numerator: FloatArray
    denominator: FloatArray
    class_loss: FloatArray
    class_weight: FloatArray
    class_count: npt.NDArray[np.int64]
    class_mass: FloatArray
    n_clipped: int
    #: Each sample's weighted target entropy, when the plan asks for it.
    entropy: FloatArray | None = None


def _true_class_values(plan: LossPlan, values: FloatArray, weights: FloatArray) -> ScoredChunk:
    """Losses when each value is the probability (log-probability) of the true class.

    ``-ln p`` (probabilities clipped to [eps, 1 - eps] as for full rows) or
    ``-ln p`` given as ``ln p``. The per-class sums are kept by label value
    elsewhere (the classes are not known in advance), so they are empty here.
    """
    n_clipped = 0
    with np.errstate(divide="ignore"):
        if plan.inputs == TARGET_PROBS:
            chosen, n_clipped = _clip(values, plan.eps)
            loss = -np.log(chosen)
        else:
            loss = -values
    loss = loss + 0.0
    empty = np.zeros(0)
    return ScoredChunk(
        loss=loss,
        weight=weights,
        numerator=weights * loss,
        denominator=weights,
        class_loss=empty,
        class_weight=empty,
        class_count=np.zeros(0, dtype=np.int64),
        class_mass=empty,
        n_clipped=n_clipped,
    )


def score_chunk(
    plan: LossPlan,
    values: FloatArray,
    weights: FloatArray,
    *,
    y: IntArray | None = None,
    targets: FloatArray | None = None,
    log_norm: FloatArray | None = None,
) -> ScoredChunk:
    """Losses of one chunk: ``values`` are its validated prediction values, ``y``
    the class index of each sample (hard labels) or ``targets`` its per-class
    target columns (soft or multilabel). ``log_norm`` is :func:`logits_norm`'s
    per-row result for multiclass logits, when the caller has it already."""
    k, a, cw = plan.n_classes, plan.label_smoothing, plan.class_weights
    if plan.inputs in (TARGET_PROBS, TARGET_LOG_PROBS):
        return _true_class_values(plan, values, weights)
    if not plan.convention.own or plan.entropy:
        return score_like(plan.convention, plan, values, weights, y=y, targets=targets)
    if targets is not None:
        if plan.task == "multilabel":
            elements, n_clipped = multilabel_losses(
                targets, values, inputs=plan.inputs, eps=plan.eps, label_smoothing=a
            )
            w = np.broadcast_to(weights[:, None] * (cw if cw is not None else 1.0), elements.shape)
            smoothed = (1 - a) * targets + a / 2 if a else targets
            weighted = w * elements
            return ScoredChunk(
                loss=elements.mean(axis=1) + 0.0,
                weight=weights,
                numerator=weighted.sum(axis=1),
                denominator=w.sum(axis=1),
                class_loss=weighted.sum(axis=0),
                class_weight=w.sum(axis=0),
                class_count=np.full(k, len(elements), dtype=np.int64),
                class_mass=(w * smoothed).sum(axis=0),
                n_clipped=n_clipped,
            )
        q = (1 - a) * targets + a / k if a else targets
        if cw is not None:
            weights = weights * (targets @ cw)
        elements, n_clipped = soft_elements(q, values, inputs=plan.inputs, eps=plan.eps)
        loss = elements.sum(axis=1) + 0.0
        return ScoredChunk(
            loss=loss,
            weight=weights,
            numerator=weights * loss,
            denominator=weights,
            class_loss=weights @ elements,
            class_weight=weights @ q,
            class_count=np.count_nonzero(targets > 0, axis=0).astype(np.int64),
            class_mass=weights @ q,
            n_clipped=n_clipped,
        )
    assert y is not None
    if cw is not None:
        weights = weights * cw[y]
    # Every weight 1 (no weight column, no class weights) is the common case: the
    # weighted sums are then plain counts and sums, bit for bit, at half the passes.
    unit = not a and bool(np.all(weights == 1.0))
    class_count = np.bincount(y, minlength=k).astype(np.int64)
    class_weight = (
        class_count.astype(np.float64)
        if unit
        else np.bincount(y, weights=weights, minlength=k).astype(np.float64)
    )
    if plan.task == "binary" and values.ndim == 1:
        target = y.astype(np.float64)
        if a:
            target = (1 - a) * target + a / 2
        result = binary_losses(target, values, inputs=plan.inputs, eps=plan.eps)
        mass_pos = float(class_count[1]) if unit else float(weights @ target)
        mass = np.array([float(weights.sum()) - mass_pos, mass_pos])
    else:
        result = multiclass_losses(
            y, values, inputs=plan.inputs, eps=plan.eps, label_smoothing=a, log_norm=log_norm
        )
        mass = class_weight.copy()
        if a:
            mass = (1 - a) * mass + a / k * float(weights.sum())
    loss = result.loss + 0.0  # -log(1) is -0.0; write it as 0
    numerator = loss if unit else weights * loss
    return ScoredChunk(
        loss=loss,
        weight=weights,
        numerator=numerator,
        denominator=weights,
        class_loss=np.bincount(y, weights=numerator, minlength=k).astype(np.float64),
        class_weight=class_weight,
        class_count=class_count,
        class_mass=mass,
        n_clipped=result.n_clipped,
    )
