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


def decide(
    requested: str,
    attempt: Callable[[str], T],
    any_outside_unit_interval: Callable[[], bool],
) -> Decided[T]:
    """Run ``attempt(inputs)`` with the inputs ``requested``, deciding ``auto``.

    ``attempt`` raises :class:`NotProbabilities` (only under ``auto``) when the
    values cannot all be probabilities; ``any_outside_unit_interval`` looks at
    every value (called only to settle a row-sum failure).
    """
    if requested != "auto":
        return Decided(requested, False, attempt(requested))
    try:
        return Decided("probs", True, attempt("probs"))
    except NotProbabilities as signal:
        if signal.row_sum_error is not None and not any_outside_unit_interval():
            raise signal.row_sum_error from None
    return Decided("logits", True, attempt("logits"))


class IntegerColumns:
    """Tracks which prediction columns hold only integer values (over a whole pass)."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.integer = np.ones(len(self.columns), dtype=bool)

    def add(self, values: npt.NDArray[np.float64]) -> None:
        """Look at one chunk of prediction values ((n,) or (n, K))."""
        if not self.integer.any() or not len(values):
            return
        matrix = values.reshape(len(values), -1)
        self.integer &= (matrix == np.rint(matrix)).all(axis=0)

    def merge(self, other: IntegerColumns) -> None:
        """Fold in the columns of a pass over other rows of the same input."""
        self.integer &= other.integer

    def check_logits(self, name: str) -> None:
        """Refuse logits that are whole numbers in some column (see the module docstring)."""
        if not self.integer.any():
            return
        column = self.columns[int(np.argmax(self.integer))]
        raise InputError(
            f"{name}: column {column!r} holds only whole numbers, so the file would be "
            "scored as logits; if it is an id, index or counter, name it with --id-col or "
            "leave it out with --pred-cols; if the values really are logits, pass --inputs logits"
        )
