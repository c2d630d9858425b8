"""What the prediction values are: the ``--inputs auto`` decision, written once.

Under ``--inputs auto`` the values are probabilities when every one lies in
[0, 1], logits otherwise. A pass scores them as probabilities and raises
:class:`NotProbabilities` as soon as a value says otherwise; :func:`decide`
then scores again as logits. A probability row that does not sum to 1 is only
an error if the values are probabilities, so it is held back until the rest
of the input has been looked at. Score, compare, explain and the Dask engine
all go through :func:`decide`.

Deciding "logits" changes the number, so it is checked: a prediction column
whose values are all integers (a row counter, a saved index, a fold number) is
not a column of logits, and the decision is refused with an error naming it.
List columns hold one value per token, the true class's: under ``auto`` they
are log-probabilities when no value is above 0, probabilities otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from xent.errors import DataError, InputError

T = TypeVar("T")


class NotProbabilities(Exception):
    """A pass scoring values as probabilities under ``--inputs auto`` found they may not be.

    ``row_sum_error`` is set when a row did not sum to 1 (the values may still
    be probabilities, badly normalised); otherwise a value lay outside [0, 1].
    """

    def __init__(self, row_sum_error: DataError | None = None) -> None:
        super().__init__(str(row_sum_error or "a value outside [0, 1]"))
        self.row_sum_error = row_sum_error


@dataclass(frozen=True)
class Decided(Generic[T]):
    """The result of a pass, and what the values were taken to be."""

    inputs: str
    detected: bool
    result: T


#: What ``auto`` tries, in order: for per-class columns, and for true-class values.
CLASS_COLUMNS = ("probs", "logits")
TRUE_CLASS = ("target-log-probs", "target-probs")


def decide(
    requested: str,
    attempt: Callable[[str], T],
    any_outside_unit_interval: Callable[[], bool],
    choices: tuple[str, str] = CLASS_COLUMNS,
) -> Decided[T]:
    """Run ``attempt(inputs)`` with the inputs ``requested``, deciding ``auto``.

    Under ``auto`` the first of ``choices`` is tried; ``attempt`` raises
    :class:`NotProbabilities` when the values cannot be that, and the second is
    taken. ``any_outside_unit_interval`` looks at every value (called only to
    settle a row-sum failure of probabilities).
    """
    if requested != "auto":
        return Decided(requested, False, attempt(requested))
    first, second = choices
    try:
        return Decided(first, True, attempt(first))
    except NotProbabilities as signal:
        if signal.row_sum_error is not None and not any_outside_unit_interval():
            raise signal.row_sum_error from None
    return Decided(second, True, attempt(second))


class Evidence:
    """What a pass under ``--inputs auto`` saw that the decision must be checked against.

    For logits: which prediction columns hold only whole numbers. For
    true-class log-probabilities: whether any value is below 0 (all zeros
    could as well be probabilities of 0).
    """

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.integer = np.ones(len(self.columns), dtype=bool)
        self.negative = False

    def add(self, values: npt.NDArray[np.float64], inputs: str) -> None:
        """Look at one chunk of prediction values ((n,) or (n, K)) scored as ``inputs``."""
        if not len(values):
            return
        if inputs == "logits" and self.integer.any():
            matrix = values.reshape(len(values), -1)
            self.integer &= (matrix == np.rint(matrix)).all(axis=0)
        elif inputs == "target-log-probs" and not self.negative:
            self.negative = bool(values.min() < 0.0)

    def merge(self, other: Evidence) -> None:
        """Fold in what a pass over other rows of the same input saw."""
        self.integer &= other.integer
        self.negative |= other.negative

    def check(self, name: str, inputs: str) -> None:
        """Refuse a decision the values do not support (see the module docstring)."""
        if inputs == "logits" and self.integer.any():
            column = self.columns[int(np.argmax(self.integer))]
            raise InputError(
                f"{name}: column {column!r} holds only whole numbers, so the file would be "
                "scored as logits; if it is an id, index or counter, name it with --id-col or "
                "leave it out with --pred-cols; if the values really are logits, pass "
                "--inputs logits"
            )
        if inputs == "target-log-probs" and not self.negative:
            raise InputError(
                f"{name}: every value of {self.columns[0]!r} is 0, which could be log-"
                "probabilities (each true class certain) or probabilities (each impossible); "
                "pass --inputs target-log-probs or --inputs target-probs"
            )
