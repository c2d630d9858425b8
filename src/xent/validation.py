"""Checks on prediction, target and weight values, with messages that say how to fix.

Each check looks at one chunk and raises :class:`~xent.errors.DataError`
naming the file, the row (as a person finds it) and the column of the first
offending value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from xent.errors import DataError
from xent.inputs import NotProbabilities

if TYPE_CHECKING:
    from xent.layout import Layout

FloatArray = npt.NDArray[np.float64]
Where = Callable[[int], str]

#: Multiclass probability rows must sum to 1 within ``ROW_SUM_TOLERANCE_PER_CLASS * K``
#: (at least ``ROW_SUM_TOLERANCE_MIN``). Probabilities printed with 6 significant
#: digits are each off by at most 5e-7, so their row sums stay inside it.
ROW_SUM_TOLERANCE_PER_CLASS = 1e-6
ROW_SUM_TOLERANCE_MIN = 1e-5


#: Largest magnitude of a logit, log-probability or weight: sums of a great many
#: values this large (and losses of twice this) still fit in float64.
LARGEST_VALUE = 1e150


def check_magnitude(values: FloatArray, columns: Sequence[str], where: Where, what: str) -> None:
    """Every value is at most :data:`LARGEST_VALUE` in magnitude."""
    if not values.size or (values.max() <= LARGEST_VALUE and values.min() >= -LARGEST_VALUE):
        return
    bad = np.abs(values) > LARGEST_VALUE
    if bad.any():
        row, col = _first_bad(bad)
        value = values[row, col] if values.ndim == 2 else values[row]
        raise DataError(
            f"{where(row)}, column {columns[col]!r}: {what} {float(value):g} is too large to "
            f"score in float64 (the limit is {LARGEST_VALUE:g}); check how the file was written"
        )


def row_sum_tolerance(n_classes: int) -> float:
    """How far a probability row's sum may be from 1 and still count as summing to 1."""
    return max(ROW_SUM_TOLERANCE_MIN, ROW_SUM_TOLERANCE_PER_CLASS * n_classes)


def _first_bad(mask: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """(row, column) of the first True in a 1-D or 2-D mask, in row-major order."""
    flat = int(np.argmax(mask.ravel()))
    if mask.ndim == 1:
        return flat, 0
    row, col = divmod(flat, int(mask.shape[1]))
    return row, col


def _value(v: float) -> str:
    return "NaN" if np.isnan(v) else repr(float(v))


def check_finite(values: FloatArray, columns: Sequence[str], where: Where, what: str) -> None:
    """Every value is a finite number (no NaN, no inf)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum()):  # a NaN or an inf would make the sum NaN or inf
            return
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = _first_bad(bad)
        value = values[row, col] if values.ndim == 2 else values[row]
        raise DataError(
            f"{where(row)}, column {columns[col]!r}: {what} is {_value(value)}; "
            "every value must be a finite number (fix or drop the row)"
        )


def outside_unit_interval(values: FloatArray) -> bool:
    """True when some value lies outside [0, 1]."""
    return bool(values.size) and bool((values.min() < 0.0) or (values.max() > 1.0))


#: What to try when per-class values are out of range for probabilities or log-probabilities.
LOGITS_FIX = "if the values are logits, pass --inputs logits"


def check_probabilities(
    values: FloatArray, columns: Sequence[str], where: Where, fix: str = LOGITS_FIX
) -> None:
    """Every value lies in [0, 1]."""
    if not outside_unit_interval(values):
        return
    bad = (values < 0.0) | (values > 1.0)
    if bad.any():
        row, col = _first_bad(bad)
        value = values[row, col] if values.ndim == 2 else values[row]
        raise DataError(
            f"{where(row)}, column {columns[col]!r}: {_value(value)} is not a probability "
            f"(outside [0, 1]); {fix}"
        )


def check_log_probabilities(
    values: FloatArray, columns: Sequence[str], where: Where, fix: str = LOGITS_FIX
) -> None:
    """Every value is <= 0 (a log-probability)."""
    bad = values > 0.0
    if bad.any():
        row, col = _first_bad(bad)
        value = values[row, col] if values.ndim == 2 else values[row]
        raise DataError(
            f"{where(row)}, column {columns[col]!r}: {_value(value)} is not a log-probability "
            f"(greater than 0); {fix}"
        )


def _true_class_fix(inputs: str, low: float, high: float, auto: bool) -> str:
    """What to suggest when true-class values are out of range for ``inputs``.

    The other true-class input when every value fits it (the two are easily
    mixed up); otherwise what each value must be.
    """
    if auto:
        return (
            "the values are neither all probabilities nor all log-probabilities; each must "
            "be the probability or the log-probability of the true class"
        )
    if inputs == "target-probs" and high <= 0.0:
        return "if the values are log-probabilities, pass --inputs target-log-probs"
    if inputs == "target-log-probs" and low >= 0.0 and high <= 1.0:
        return "if the values are probabilities, pass --inputs target-probs"
    what = "probability" if inputs == "target-probs" else "log-probability"
    return f"each value must be the {what} of the true class"


class RowSumError(DataError):
    """Probability rows that do not sum to 1 (an error only if they are probabilities)."""


def check_row_sums(sums: FloatArray, n_classes: int, where: Where, *, what: str, fix: str) -> None:
    """Every row sum is 1 within :func:`row_sum_tolerance`."""
    bad = np.abs(sums - 1.0) > row_sum_tolerance(n_classes)
    if bad.any():
        row = int(np.argmax(bad))
        raise RowSumError(
            f"{where(row)}: {what} sum to {sums[row]:.6g}, not 1 "
            f"(tolerance {row_sum_tolerance(n_classes):g}); {fix}"
        )


def _renormalized(values: FloatArray, where: Where) -> tuple[FloatArray, int]:
    """Divide each probability row by its sum; return the rows and how many changed."""
    sums = values.sum(axis=1)
    if (sums <= 0.0).any():
        row = int(np.argmax(sums <= 0.0))
        raise DataError(f"{where(row)}: the probabilities sum to 0; cannot renormalize the row")
    changed = int(np.count_nonzero(sums != 1.0))
    if changed == 0:
        return values, 0
    return values / sums[:, None], changed


def check_weights(weights: FloatArray, column: str, where: Where) -> None:
    """Sample weights are finite, non-negative and at most :data:`LARGEST_VALUE`."""
    check_finite(weights, [column], where, "the weight")
    if (weights > LARGEST_VALUE).any():
        row = int(np.argmax(weights > LARGEST_VALUE))
        raise DataError(
            f"{where(row)}, column {column!r}: weight {float(weights[row]):g} is too large to "
            f"sum in float64 (the limit is {LARGEST_VALUE:g}); divide every weight by the same "
            "number, which leaves every mean unchanged"
        )
    bad = weights < 0.0
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"{where(row)}, column {column!r}: weight {float(weights[row])!r} is negative; "
            "sample weights must be >= 0"
        )


def check_targets(targets: FloatArray, columns: Sequence[str], where: Where, *, soft: bool) -> None:
    """Soft targets are distributions; multilabel targets lie in [0, 1]."""
    check_finite(targets, columns, where, "the target")
    bad = (targets < 0.0) | (targets > 1.0)
    if bad.any():
        row, col = _first_bad(bad)
        raise DataError(
            f"{where(row)}, column {columns[col]!r}: target {targets[row, col]!r} is outside "
            "[0, 1]; label columns hold 0/1 indicators or target probabilities"
        )
    if soft:
        check_row_sums(
            targets.sum(axis=1),
            targets.shape[1],
            where,
            what="the target probabilities",
            fix="soft labels must be a distribution over the classes",
        )


def checked_values(
    values: FloatArray,
    layout: Layout,
    inputs: str,
    where: Where,
    *,
    renormalize: bool = False,
    auto: bool = False,
    row_sums: bool = True,
    bounds: tuple[float, float] | None = None,
) -> tuple[FloatArray, int]:
    """A chunk's prediction values, validated as ``inputs`` (and renormalized on request).

    Returns the values and how many rows were renormalized. Under ``auto``,
    values scored as probabilities raise :class:`~xent.inputs.NotProbabilities`
    when one lies outside [0, 1] or a row does not sum to 1. ``row_sums`` false
    leaves rows that do not sum to 1 to the convention (Keras divides them).
    ``bounds`` are the smallest and largest value (NaN when one is NaN), when
    the caller has them already.
    """
    columns = layout.prediction_columns
    # One pass for the smallest and one for the largest value settle most checks:
    # both within the limits means every value is finite and within them.
    if bounds is not None:
        low, high = bounds
    else:
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    within = low >= -LARGEST_VALUE and high <= LARGEST_VALUE
    if not within:
        check_finite(values, columns, where, "the prediction")
    rows = values.ndim == 2 and layout.task != "multilabel" and row_sums
    if inputs == "target-log-probs":
        if auto and high > 0.0:
            raise NotProbabilities
        if high > 0.0:
            fix = _true_class_fix(inputs, low, high, auto)
            check_log_probabilities(values, columns, where, fix)
        if not within:
            check_magnitude(values, columns, where, "log-probability")
        return values, 0
    probabilities = within and low >= 0.0 and high <= 1.0
    if inputs == "target-probs":
        if not probabilities:
            fix = _true_class_fix(inputs, low, high, auto)
            check_probabilities(values, columns, where, fix)
        return values, 0
    if inputs == "logits":
        if not within:
            check_magnitude(values, columns, where, "logit")
        return values, 0
    if inputs == "probs":
        if auto and not probabilities:
            raise NotProbabilities
        if not probabilities:
            check_probabilities(values, columns, where)
        if not rows:
            return values, 0
        if renormalize:
            return _renormalized(values, where)
        try:
            check_row_sums(
                values.sum(axis=1),
                values.shape[1],
                where,
                what="the probabilities",
                fix="pass --renormalize to divide each row by its sum, "
                "or --inputs logits if these are scores",
            )
        except RowSumError as error:
            if auto:
                raise NotProbabilities(error) from None
            raise
        return values, 0
    check_log_probabilities(values, columns, where)
    check_magnitude(values, columns, where, "log-probability")
    if rows:
        with np.errstate(under="ignore"):
            sums = np.exp(values).sum(axis=1)
        check_row_sums(
            sums,
            values.shape[1],
            where,
            what="the exponentiated log-probabilities",
            fix="check that the columns are log-softmax outputs, or pass --inputs logits",
        )
    return values, 0
