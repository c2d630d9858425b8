"""Label values to class indices, chunk by chunk.

A :class:`LabelEncoder` owns what it learns while it reads: the class names it
was given are copied, never shared. Binary labels keep the spelling they were
written with (``False``/``True``, ``no``/``yes``), and with ``--pos-label`` the
one other value seen names the negative class. Multiclass labels match the
prediction column names exactly first, then the names with their common prefix
stripped (``p_cat`` -> ``cat``); integers index the columns in order unless
the class names are themselves integers. How the rules read to a user is in
docs/layouts.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent.errors import DataError
from xent.read.arrow import distinct_codes, null_mask, numpy_view, plain_array

IntArray = npt.NDArray[np.int64]
Where = Callable[[int], str]

_INTEGER = re.compile(r"^[+-]?\d+(\.0*)?$")
TRUE_WORDS = ("true", "t", "yes")
FALSE_WORDS = ("false", "f", "no")


class Unmatched(Enum):
    """Why a label value is not a class."""

    NOT_A_CLASS = "not a class"
    THIRD_VALUE = "a third binary value"
    OUT_OF_RANGE = "an integer out of range"


class _Reject(Exception):
    def __init__(self, reason: Unmatched) -> None:
        self.reason = reason


def _distinct(array: pa.Array) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Each row's code and the distinct values the codes stand for.

    Label columns hold few distinct values, so mapping labels to classes is
    Python work on the distinct values plus one NumPy gather over the rows.
    """
    codes, dictionary = distinct_codes(array)
    return codes, dictionary.to_pylist()


def label_text(value: Any) -> str:
    """A label value as trimmed text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).strip()


def ignored_rows(
    array: pa.Array | pa.ChunkedArray, ignored: Sequence[str]
) -> npt.NDArray[np.bool_] | None:
    """True for rows whose label is one of ``ignored`` (None when no row is)."""
    if not ignored:
        return None
    array = plain_array(array)
    wanted = [v.strip() for v in ignored]
    valid = ~null_mask(array)
    t = array.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        numbers = []
        for text in wanted:
            try:
                numbers.append(float(text))
            except ValueError:
                continue
        if not numbers:
            return None
        mask = np.isin(numpy_view(array), numbers)
    elif pa.types.is_boolean(t):
        flags = [w.lower() in TRUE_WORDS for w in wanted if w.lower() in TRUE_WORDS + FALSE_WORDS]
        if not flags:
            return None
        mask = np.isin(numpy_view(array), flags)
    else:
        codes, values = _distinct(array)
        matches = np.array([label_text(v) in wanted for v in values] + [False], dtype=bool)
        mask = matches[np.where(valid, codes, len(values))]
    mask &= valid
    return mask if mask.any() else None


class LabelEncoder:
    """Turns the label values of one chunk into class indices (binary: 0/1).

    ``classes`` are the class names from the prediction columns (for one binary
    column: the names of the negative and positive class); ``column_names`` the
    columns' own names, matched before ``classes`` when they differ.
    """

    def __init__(
        self,
        classes: Sequence[str],
        *,
        binary: bool,
        pos_label: str | None = None,
        column_names: Sequence[str] | None = None,
    ) -> None:
        self._classes = list(classes)
        self.binary = binary
        self.pos_label = pos_label.strip() if pos_label is not None else None
        self._columns = list(column_names) if column_names is not None else list(classes)
        self._exact = {name: i for i, name in enumerate(self._columns)}
        self._stripped = {name: i for i, name in enumerate(self._classes)}
        self._integers = all(_INTEGER.match(c) for c in self._classes)
        self._integer_position = (
            {int(float(c)): i for i, c in enumerate(self._classes)} if self._integers else {}
        )
        if self._integers:
            class_ints = np.array([int(float(c)) for c in self._classes], dtype=np.int64)
            self._order = np.argsort(class_ints, kind="stable")
            self._ranked = class_ints[self._order]
        self._negative: str | None = None
        self._spelled: list[str | None] = [None, None]
        self._matched_column_name = False
        self._matched_stripped_name = False

    @property
    def classes(self) -> list[str]:
        """The class names, as the labels read so far named them."""
        if self.binary:
            if self.pos_label is not None:
                negative = self._negative if self._negative is not None else self._classes[0]
                return [negative, self.pos_label]
            spelled_negative, spelled_positive = self._spelled
            if spelled_negative is None and spelled_positive is not None:
                spelled_negative = counterpart(spelled_positive)
            if spelled_positive is None and spelled_negative is not None:
                spelled_positive = counterpart(spelled_negative)
            return [spelled_negative or "0", spelled_positive or "1"]
        if self._matched_column_name and not self._matched_stripped_name:
            return list(self._columns)
        return list(self._classes)

    def encode(self, array: pa.Array | pa.ChunkedArray, where: Where, column: str) -> IntArray:
        """Class index per row. ``where(i)`` describes row i for error messages."""
        array = plain_array(array)
        if array.null_count:
            row = int(np.argmax(null_mask(array)))
            raise DataError(
                f"{where(row)}, column {column!r}: the label is missing; "
                "every scored row needs a label (or drop it with --ignore-label)"
            )
        t = array.type
        if pa.types.is_boolean(t):
            flags = numpy_view(array).astype(np.int64)
            if self.binary:
                if self.pos_label is not None:
                    negative = self.pos_label.lower() in (*FALSE_WORDS, "0", "0.0")
                    return 1 - flags if negative else flags
                for value in (0, 1):
                    if self._spelled[value] is None and (flags == value).any():
                        self._spelled[value] = "True" if value else "False"
                return flags
            return self._encode_numbers(flags.astype(np.float64), where, column)
        if pa.types.is_integer(t):
            integers = numpy_view(array).astype(np.int64, copy=False)
            return self._encode_numbers(integers, where, column)
        if pa.types.is_floating(t):
            return self._encode_numbers(numpy_view(array).astype(np.float64), where, column)
        codes, values = _distinct(array)
        texts = [label_text(v) for v in values]
        lookup = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            try:
                lookup[i] = self._index_of_text(text)
            except _Reject as reject:
                rows = np.flatnonzero(codes == i)
                if len(rows):
                    self._reject(text, reject.reason, int(rows[0]), where, column)
                lookup[i] = 0  # a dictionary value no row uses
        return lookup[codes] if len(lookup) else np.zeros(0, dtype=np.int64)

    def _index_of_text(self, text: str) -> int:
        """Class index of a label written as text (raises :class:`_Reject`)."""
        if self.binary:
            if self.pos_label is not None:
                return 1 if text == self.pos_label else self._learn_negative(text)
            lowered = text.lower()
            if lowered in ("1", "1.0", *TRUE_WORDS):
                value = 1
            elif lowered in ("0", "0.0", *FALSE_WORDS):
                value = 0
            else:
                raise _Reject(Unmatched.NOT_A_CLASS)
            if self._spelled[value] is None:
                self._spelled[value] = text
            return value
        if text in self._exact:
            if self._columns[self._exact[text]] != self._classes[self._exact[text]]:
                self._matched_column_name = True
            return self._exact[text]
        if text in self._stripped:
            self._matched_stripped_name = True
            return self._stripped[text]
        if _INTEGER.match(text):
            number = int(float(text))
            if self._integers:
                if number in self._integer_position:
                    return self._integer_position[number]
                raise _Reject(Unmatched.NOT_A_CLASS)
            # Integer labels index the classes in order when the classes are not integers.
            if 0 <= number < len(self._classes):
                return number
            raise _Reject(Unmatched.OUT_OF_RANGE)
        raise _Reject(Unmatched.NOT_A_CLASS)

    def _learn_negative(self, text: str) -> int:
        """0 for the one label value that is not --pos-label; a third value is refused."""
        if self._negative is None:
            self._negative = text
        if text == self._negative:
            return 0
        raise _Reject(Unmatched.THIRD_VALUE)

    def _encode_numbers(
        self, values: npt.NDArray[np.float64] | IntArray, where: Where, column: str
    ) -> IntArray:
        """Class indices of numeric labels (int64, or float64 that must be whole)."""
        if self.binary:
            if self.pos_label is not None:
                try:
                    positive = float(self.pos_label)
                except ValueError:
                    positive = math.nan
                if not math.isnan(positive):
                    index = np.where(values == positive, 1, 0)
                    for value in np.unique(values[index == 0]).tolist():
                        try:
                            self._learn_negative(_number(value))
                        except _Reject as reject:
                            row = int(np.argmax(values == value))
                            self._reject(_number(value), reject.reason, row, where, column)
                    return index.astype(np.int64)
            bad = (values != 0.0) & (values != 1.0)
            if bad.any():
                row = int(np.argmax(bad))
                raise DataError(
                    f"{where(row)}, column {column!r}: binary label {_number(values[row])} is "
                    "not 0 or 1; name the positive class with --pos-label"
                )
            for value in (0, 1):
                if self._spelled[value] is None and (values == value).any():
                    self._spelled[value] = str(value)
            return values.astype(np.int64, copy=False)
        fractional = (
            ~np.isfinite(values) | (values != np.round(values))
            if values.dtype.kind == "f"
            else np.zeros(0, dtype=bool)
        )
        if fractional.any():
            row = int(np.argmax(fractional))
            self._reject(_number(values[row]), Unmatched.NOT_A_CLASS, row, where, column)
        numbers = values.astype(np.int64, copy=False)
        if self._integers:
            slot = np.clip(np.searchsorted(self._ranked, numbers), 0, len(self._ranked) - 1)
            found = self._ranked[slot] == numbers
            if not found.all():
                row = int(np.argmax(~found))
                self._reject(str(numbers[row]), Unmatched.NOT_A_CLASS, row, where, column)
            return self._order[slot].astype(np.int64)
        bad = (numbers < 0) | (numbers >= len(self._classes))
        if bad.any():
            row = int(np.argmax(bad))
            self._reject(str(numbers[row]), Unmatched.OUT_OF_RANGE, row, where, column)
        return numbers

    def _reject(self, value: str, reason: Unmatched, row: int, where: Where, column: str) -> None:
        """Raise the error for a label that is not a class."""
        place = f"{where(row)}, column {column!r}"
        if self.binary and reason is Unmatched.THIRD_VALUE:
            raise DataError(
                f"{place}: a third label value {value!r} besides {self._negative!r} and "
                f"--pos-label {self.pos_label!r}; binary labels take two values"
            )
        if self.binary:
            raise DataError(
                f"{place}: binary label {value!r} is not 0/1 or true/false; "
                "name the positive class with --pos-label"
            )
        # A whole number that is no class is most often padding (-100, 255) to skip.
        skip = (
            f"if {value} marks samples to skip (padding), pass --ignore-label {value}"
            if _INTEGER.match(value)
            else ""
        )
        if reason is Unmatched.OUT_OF_RANGE:
            raise DataError(
                f"{place}: label {value} is out of range; integer labels index the "
                f"{len(self._classes)} classes 0..{len(self._classes) - 1}"
                + (f"; {skip}" if skip else "")
            )
        check = "check the label values or the prediction column names (--pred-cols, --classes)"
        raise DataError(
            f"{place}: label {value!r} is not one of the classes ({_preview(self._classes)}); "
            + (f"{skip}; otherwise {check}" if skip else check)
        )


_PAIRS = {"true": "false", "t": "f", "yes": "no", "y": "n", "1": "0", "1.0": "0.0"}
_PAIRS.update({v: k for k, v in _PAIRS.items()})


def counterpart(text: str) -> str:
    """The other binary label of the pair ``text`` belongs to, in the same case."""
    other = _PAIRS.get(text.lower(), "")
    if text.isupper():
        return other.upper()
    return other.capitalize() if text[:1].isupper() else other


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _preview(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
