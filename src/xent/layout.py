"""Which column is the label, which are predictions, and what the classes are.

:func:`resolve_layout` reads only the schemas of the inputs; label values are
turned into class indices chunk by chunk by a :class:`LabelEncoder`.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from xent.errors import DataError, InputError, UsageError
from xent.io import Source, null_mask, numpy_view

#: Label column names found automatically, case-insensitively, in this order.
LABEL_NAMES = ("label", "labels", "y", "y_true", "target", "class", "truth")
#: Id column name found automatically, case-insensitively.
ID_NAME = "id"
#: Prefixes stripped from prediction column names to give class names.
KNOWN_PREFIXES = ("proba_", "probs_", "prob_", "p_", "pred_", "logits_", "logit_", "label:")

TASKS = ("auto", "binary", "multiclass", "multilabel")

_INTEGER = re.compile(r"^[+-]?\d+(\.0*)?$")
_TRUE = ("true", "t", "yes")
_FALSE = ("false", "f", "no")


@dataclass
class Layout:
    """The resolved roles of the input columns.

    ``label_source`` is the source that holds the labels (the predictions
    source itself for the one-table layout). ``soft`` marks per-class target
    columns holding a distribution per row; ``task`` is what is reported.
    """

    task: str
    classes: list[str]
    prediction_columns: list[str]
    label_source: Source
    label_column: str | None = None
    label_columns: list[str] = field(default_factory=list)
    id_column: str | None = None
    label_id_column: str | None = None
    weight_column: str | None = None
    pos_label: str | None = None
    soft: bool = False
    separate_labels: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        """Number of classes (binary: 2)."""
        return len(self.classes)


def split_list(text: str | None) -> list[str]:
    """Split a comma list option into trimmed, non-empty items."""
    if not text:
        return []
    return [item.strip() for item in text.split(",") if item.strip()]


def strip_common_prefix(names: Sequence[str]) -> list[str]:
    """Class names from column names: drop one prefix that every name shares.

    A known prefix (``p_``, ``prob_``, ``proba_``, ``pred_``, ``logit_``, ...) is
    tried first, then any shared prefix ending in ``_``, ``:`` or ``.``.
    """
    if len(names) < 2:
        return [_strip_known(n) for n in names]
    for prefix in KNOWN_PREFIXES:
        if all(n.lower().startswith(prefix) and len(n) > len(prefix) for n in names):
            return [n[len(prefix) :] for n in names]
    common = _common_prefix(names)
    cut = max(common.rfind("_"), common.rfind(":"), common.rfind("."))
    if cut >= 0 and all(len(n) > cut + 1 for n in names):
        return [n[cut + 1 :] for n in names]
    return list(names)


def _strip_known(name: str) -> str:
    for prefix in KNOWN_PREFIXES:
        if name.lower().startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


def _common_prefix(names: Sequence[str]) -> str:
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]


def _find_column(source: Source, name: str, option: str) -> str:
    if name in source.column_names:
        return name
    folded = [c for c in source.column_names if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise InputError(
        f"{source.name}: no column {name!r} (given by {option}); "
        f"columns are: {', '.join(source.column_names)}"
    )


def _find_label_column(source: Source, *, only_column_fallback: bool) -> str | None:
    found = [c for n in LABEL_NAMES for c in source.column_names if c.lower() == n]
    if len(found) > 1:
        raise InputError(
            f"{source.name}: several columns could be the label ({', '.join(found)}); "
            "choose one with --label-col"
        )
    if found:
        return found[0]
    if only_column_fallback and len(source.column_names) == 1:
        return source.column_names[0]
    return None


def _is_numeric(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        return False
    if pa.types.is_null(data_type):
        return True  # a column with no values yet (header only, or all cells empty)
    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
    )


def _select_columns(source: Source, pattern_list: str, option: str) -> list[str]:
    selected: list[str] = []
    for item in split_list(pattern_list):
        if any(ch in item for ch in "*?["):
            matches = [c for c in source.column_names if fnmatch.fnmatchcase(c, item)]
            if not matches:
                raise InputError(f"{source.name}: no column matches {item!r} (given by {option})")
            selected.extend(m for m in matches if m not in selected)
        else:
            column = _find_column(source, item, option)
            if column not in selected:
                selected.append(column)
    if not selected:
        raise UsageError(f"{option} names no columns")
    return selected


def resolve_layout(
    predictions: Source,
    labels: Source | None,
    *,
    task: str = "auto",
    label_col: str | None = None,
    label_cols: str | None = None,
    pred_cols: str | Sequence[str] | None = None,
    id_col: str | None = None,
    weight_col: str | None = None,
    pos_label: str | None = None,
    classes: Sequence[str] | None = None,
) -> Layout:
    """Decide the role of every column from the schemas and the options.

    Raises :class:`~xent.errors.InputError` for a missing or ambiguous column
    and :class:`~xent.errors.UsageError` for options that contradict each other.
    """
    if task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)}, not {task!r}")
    label_source = labels or predictions

    # Labels: a list of per-class columns, one named column, or one found by name.
    label_columns: list[str] = []
    label_column: str | None = None
    if label_cols:
        label_columns = _select_columns(label_source, label_cols, "--label-cols")
    elif label_source.label_columns:
        label_columns = list(label_source.label_columns)
    elif label_col:
        label_column = _find_column(label_source, label_col, "--label-col")
    else:
        label_column = _find_label_column(label_source, only_column_fallback=labels is not None)
        if label_column is None:
            hint = "" if labels is None else " of the --labels file"
            raise InputError(
                f"{label_source.name}: no label column found{hint} (looked for "
                f"{', '.join(LABEL_NAMES)}); name it with --label-col"
            )

    # Id and weight columns.
    id_column = _optional_column(predictions, id_col, "--id-col")
    label_id_column = None
    if labels is not None and id_col:
        label_id_column = _optional_column(labels, id_col, "--id-col", required=False)
        if id_column is not None and label_id_column is None:
            raise InputError(
                f"{labels.name}: no id column {id_col!r} to join on; add it or drop --id-col "
                "to align the two files by row position"
            )
    weight_column = None
    if weight_col:
        holder = predictions if weight_col in predictions.column_names else label_source
        weight_column = _find_column(holder, weight_col, "--weight-col")
        if holder is not predictions and labels is not None:
            raise UsageError(
                f"--weight-col {weight_col!r} must be a column of the predictions file"
            )

    # Prediction columns.
    reserved = {c for c in (label_column, id_column, weight_column) if c} | set(label_columns)
    if isinstance(pred_cols, str) and pred_cols:
        prediction_columns = _select_columns(predictions, pred_cols, "--pred-cols")
    elif pred_cols:
        # Exact names (not patterns), e.g. the columns another shard was read with.
        prediction_columns = [_find_column(predictions, c, "--pred-cols") for c in pred_cols]
    elif predictions.prediction_columns:
        prediction_columns = list(predictions.prediction_columns)
    else:
        prediction_columns = [
            f.name
            for f in predictions.schema
            if f.name not in reserved
            and _is_numeric(f.type)
            and not (labels is None and label_column is None and f.name in label_columns)
        ]
    clash = reserved.intersection(prediction_columns) if labels is None else set()
    if clash:
        raise UsageError(
            f"column {sorted(clash)[0]!r} cannot be both a prediction and a label/id/weight column"
        )
    if not prediction_columns:
        raise InputError(
            f"{predictions.name}: no numeric prediction columns found; name them with --pred-cols"
        )

    n_pred = len(prediction_columns)
    if task == "auto":
        task = "binary" if n_pred == 1 and not label_columns else "multiclass"
    if task == "binary" and n_pred > 2:
        raise UsageError(
            f"--task binary needs one prediction column (or two), got {n_pred}: "
            f"{', '.join(prediction_columns)}"
        )
    if task == "multiclass" and n_pred == 1 and not label_columns:
        raise UsageError(
            "--task multiclass needs one prediction column per class; one column is binary"
        )

    if label_column is not None:
        label_type = label_source.schema.field(label_column).type
        if pa.types.is_dictionary(label_type):
            label_type = label_type.value_type
        if pa.types.is_binary(label_type) or pa.types.is_large_binary(label_type):
            raise InputError(
                f"{label_source.name}: column {label_column!r} holds bytes that are not UTF-8 "
                "text; save the file as UTF-8"
            )
        if pa.types.is_nested(label_type) or not (
            _is_numeric(label_type)
            or pa.types.is_boolean(label_type)
            or pa.types.is_string(label_type)
            or pa.types.is_large_string(label_type)
        ):
            raise InputError(
                f"{label_source.name}: column {label_column!r} holds {label_type} values; "
                "labels must be numbers, booleans or text (one per row)"
            )
    names = _class_names(prediction_columns, classes, predictions)
    warnings = []
    if labels is not None and not id_col and id_column is not None:
        in_labels = _optional_column(labels, None, "--id-col")
        if in_labels is not None:
            warnings.append(
                f"both {predictions.name} and {labels.name} have an {id_column!r} column but "
                f"rows are paired by position; pass --id-col {id_column} to join on it"
            )
    layout = Layout(
        task=task,
        classes=names,
        prediction_columns=prediction_columns,
        label_source=label_source,
        label_column=label_column,
        id_column=id_column,
        label_id_column=label_id_column,
        weight_column=weight_column,
        pos_label=pos_label,
        separate_labels=labels is not None,
        warnings=warnings,
    )
    if label_columns:
        layout.label_columns = _match_label_columns(label_source, label_columns, names, task)
        layout.soft = task != "multilabel"
        if task == "binary":
            raise UsageError("--label-cols needs --task multilabel or a multiclass layout")
    elif task == "multilabel":
        raise UsageError("--task multilabel needs --label-cols naming one 0/1 column per label")
    if task == "binary" and n_pred == 1:
        layout.classes = ["0", "1"] if pos_label is None else [f"not {pos_label}", pos_label]
    return layout


def _optional_column(
    source: Source, name: str | None, option: str, *, required: bool = True
) -> str | None:
    if name:
        if (
            not required
            and name not in source.column_names
            and not any(c.lower() == name.lower() for c in source.column_names)
        ):
            return None
        return _find_column(source, name, option)
    by_lower = {c.lower(): c for c in source.column_names}
    return by_lower.get(ID_NAME)


def _class_names(
    prediction_columns: list[str], classes: Sequence[str] | None, source: Source
) -> list[str]:
    if classes and source.prediction_columns:
        return list(prediction_columns)  # NumPy columns are already named by --classes
    if classes:
        if len(classes) != len(prediction_columns):
            raise UsageError(
                f"--classes names {len(classes)} classes but there are "
                f"{len(prediction_columns)} prediction columns"
            )
        return list(classes)
    names = strip_common_prefix(prediction_columns)
    if len(set(names)) != len(names):
        return list(prediction_columns)
    return names


def _match_label_columns(
    source: Source, label_columns: list[str], classes: list[str], task: str
) -> list[str]:
    """Order the per-class label columns like the prediction columns, by class name."""
    if len(label_columns) != len(classes):
        raise InputError(
            f"{source.name}: {len(label_columns)} label columns for {len(classes)} prediction "
            "columns; give one label column per class"
        )
    stripped = strip_common_prefix(label_columns)
    by_name = dict(zip(stripped, label_columns, strict=True))
    if set(stripped) == set(classes):
        return [by_name[c] for c in classes]
    if stripped == [str(i) for i in range(len(classes))] or source.label_columns:
        return label_columns  # positional label columns (e.g. from a NumPy array)
    kind = "label" if task == "multilabel" else "target"
    raise InputError(
        f"{source.name}: {kind} columns ({', '.join(label_columns)}) do not match the "
        f"prediction classes ({', '.join(classes)}); name them after the same classes"
    )


# --- label values -------------------------------------------------------------


def _plain_array(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array


def _distinct(array: pa.Array) -> tuple[np.ndarray[Any, Any], list[Any]]:
    """Each row's code and the distinct values the codes stand for.

    Label columns hold few distinct values, so mapping labels to classes is
    Python work on the distinct values plus one NumPy gather over the rows.
    CSV label columns are read dictionary-encoded and need no extra pass.
    """
    if not pa.types.is_dictionary(array.type):
        array = array.dictionary_encode()
    return numpy_view(array.indices).astype(np.intp), array.dictionary.to_pylist()


class LabelEncoder:
    """Turns label values of one chunk into class indices (binary: 0/1).

    Keeps state across chunks only for binary ``--pos-label`` (the one
    negative value seen), so every chunk maps the same way.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.classes = layout.classes
        self.binary = layout.task == "binary" and len(layout.prediction_columns) == 1
        self.classes_are_integers = all(_INTEGER.match(c) for c in self.classes)
        self._position = {name: i for i, name in enumerate(self.classes)}
        self._integer_position = (
            {int(float(c)): i for i, c in enumerate(self.classes)}
            if self.classes_are_integers
            else {}
        )
        self.negative_label: str | None = None

    def ignore_mask(self, array: pa.Array, ignore_label: str | None) -> np.ndarray[Any, Any] | None:
        """Boolean mask of rows whose label equals ``ignore_label`` (None when nothing to drop)."""
        if ignore_label is None:
            return None
        array = _plain_array(array)
        wanted = ignore_label.strip()
        valid = ~null_mask(array)
        t = array.type
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            try:
                mask = numpy_view(array) == float(wanted)
            except ValueError:
                return None
        elif pa.types.is_boolean(t):
            if wanted.lower() not in _TRUE + _FALSE:
                return None
            mask = numpy_view(array) == (wanted.lower() in _TRUE)
        else:
            codes, values = _distinct(array)
            matches = np.array([_text(v) == wanted for v in values] + [False], dtype=bool)
            mask = matches[np.where(valid, codes, len(values))]
        mask &= valid
        return mask if mask.any() else None

    def encode(self, array: pa.Array, where: Any, column: str) -> np.ndarray[Any, Any]:
        """Class index per row (int64). ``where(i)`` describes row i for error messages."""
        array = _plain_array(array)
        if array.null_count:
            row = _first_true(null_mask(array))
            raise DataError(
                f"{where(row)}, column {column!r}: the label is missing; "
                "every scored row needs a label (or drop it with --ignore-label)"
            )
        t = array.type
        if pa.types.is_boolean(t):
            flags = numpy_view(array).astype(np.int64)
            if self.binary:
                pos = self.layout.pos_label
                return 1 - flags if pos is not None and pos.strip().lower() in _FALSE else flags
            return self._encode_numbers(flags.astype(np.float64), where, column)
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            return self._encode_numbers(numpy_view(array).astype(np.float64), where, column)
        codes, values = _distinct(array)
        texts = [_text(v) for v in values]
        lookup = np.array([self._index_of_text(v) for v in texts], dtype=np.int64)
        index = lookup[codes] if len(lookup) else np.zeros(0, dtype=np.int64)
        if (index < 0).any():
            row = _first_true(index < 0)
            self._reject(texts[codes[row]], int(index[row]), row, where, column)
        return index

    def _index_of_text(self, text: str) -> int:
        """Class index of a label written as text; negative when it is not a class."""
        if self.binary:
            pos = self.layout.pos_label
            if pos is None:
                lowered = text.lower()
                if lowered in ("1", "1.0", *_TRUE):
                    return 1
                return 0 if lowered in ("0", "0.0", *_FALSE) else -1
            if text == pos.strip():
                return 1
            return self._negative(text)
        if text in self._position:
            return self._position[text]
        if self.classes_are_integers and _INTEGER.match(text):
            return self._integer_position.get(int(float(text)), -1)
        if _INTEGER.match(text):
            # Integer labels index the classes in order when the classes are not integers.
            number = int(float(text))
            return number if 0 <= number < len(self.classes) else -3
        return -1

    def _negative(self, text: str) -> int:
        """0 for the one label value that is not --pos-label; -2 for a third value."""
        if self.negative_label is None:
            self.negative_label = text
            self.classes[0] = text
        return 0 if text == self.negative_label else -2

    def _encode_numbers(
        self, values: np.ndarray[Any, Any], where: Any, column: str
    ) -> np.ndarray[Any, Any]:
        fractional = ~np.isfinite(values) | (values != np.round(values))
        if self.binary:
            pos = self.layout.pos_label
            if pos is not None:
                try:
                    positive = float(pos)
                except ValueError:
                    positive = math.nan
                if not math.isnan(positive):
                    index = np.where(values == positive, 1, 0)
                    negatives = np.unique(values[index == 0])
                    for value in negatives.tolist():
                        code = self._negative(_number(value))
                        if code < 0:
                            row = _first_true(values == value)
                            self._reject(_number(value), code, row, where, column)
                    return index.astype(np.int64)
            bad = (values != 0.0) & (values != 1.0)
            if bad.any():
                row = _first_true(bad)
                raise DataError(
                    f"{where(row)}, column {column!r}: binary label {_number(values[row])} is "
                    "not 0 or 1; name the positive class with --pos-label"
                )
            return values.astype(np.int64)
        if fractional.any():
            row = _first_true(fractional)
            self._reject(_number(values[row]), -1, row, where, column)
        numbers = values.astype(np.int64)
        if self.classes_are_integers:
            class_ints = np.array([int(float(c)) for c in self.classes], dtype=np.int64)
            order = np.argsort(class_ints, kind="stable")
            ranked = class_ints[order]
            slot = np.clip(np.searchsorted(ranked, numbers), 0, len(ranked) - 1)
            found = ranked[slot] == numbers
            if not found.all():
                row = _first_true(~found)
                self._reject(str(numbers[row]), -1, row, where, column)
            return order[slot].astype(np.int64)
        bad = (numbers < 0) | (numbers >= len(self.classes))
        if bad.any():
            row = _first_true(bad)
            self._reject(str(numbers[row]), -3, row, where, column)
        return numbers

    def _reject(self, value: str, code: int, row: int, where: Any, column: str) -> None:
        """Raise the error for a label that is not a class (``code`` says why)."""
        place = f"{where(row)}, column {column!r}"
        if self.binary and code == -2:
            raise DataError(
                f"{place}: a third label value {value!r} besides {self.negative_label!r} and "
                f"--pos-label {self.layout.pos_label!r}; binary labels take two values"
            )
        if self.binary:
            raise DataError(
                f"{place}: binary label {value!r} is not 0/1 or true/false; "
                "name the positive class with --pos-label"
            )
        if code == -3:
            raise DataError(
                f"{place}: label {value} is out of range; integer labels index the "
                f"{len(self.classes)} classes 0..{len(self.classes) - 1}"
            )
        raise DataError(
            f"{place}: label {value!r} is not one of the classes "
            f"({_preview(self.classes)}); check the label values or the prediction "
            "column names (--pred-cols, --classes)"
        )


def _text(value: Any) -> str:
    """A label value as trimmed text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).strip()


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (so messages show 5, not np.int64(5))."""
    return value.item() if hasattr(value, "item") else value


def _first_true(mask: np.ndarray[Any, Any]) -> int:
    return int(np.argmax(mask))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _preview(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
