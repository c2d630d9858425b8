"""Which column is the label, which are predictions, and what the classes are.

:func:`resolve_layout` reads only the schemas of the inputs; label values are
turned into class indices chunk by chunk by a :class:`LabelEncoder`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xent.errors import DataError, InputError, UsageError
from xent.io import Source

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
    by_lower = {c.lower(): c for c in source.column_names}
    found = [by_lower[n] for n in LABEL_NAMES if n in by_lower]
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
    pred_cols: str | None = None,
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
    if pred_cols:
        prediction_columns = _select_columns(predictions, pred_cols, "--pred-cols")
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

    names = _class_names(prediction_columns, classes, predictions)
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


def _as_plain(array: pa.Array) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _trimmed_strings(array: pa.Array) -> pa.Array:
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    return pc.utf8_trim_whitespace(array)


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
        self._class_array = pa.array(self.classes, type=pa.string())
        self._class_ints = (
            pa.array([int(float(c)) for c in self.classes], type=pa.int64())
            if self.classes_are_integers
            else None
        )
        self.negative_label: str | None = None

    def ignore_mask(self, array: pa.Array, ignore_label: str | None) -> np.ndarray[Any, Any] | None:
        """Boolean mask of rows whose label equals ``ignore_label`` (None when nothing to drop)."""
        if ignore_label is None:
            return None
        array = _as_plain(array)
        if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
            try:
                value = float(ignore_label)
            except ValueError:
                return None
            mask = pc.equal(array, pa.scalar(value).cast(array.type, safe=False))
        elif pa.types.is_boolean(array.type):
            lowered = ignore_label.strip().lower()
            if lowered not in _TRUE + _FALSE:
                return None
            mask = pc.equal(array, lowered in _TRUE)
        else:
            mask = pc.equal(_trimmed_strings(array.cast(pa.string())), ignore_label.strip())
        result = np.asarray(pc.fill_null(mask, False).to_pylist(), dtype=bool)
        return result if result.any() else None

    def encode(self, array: pa.Array, where: Any, column: str) -> np.ndarray[Any, Any]:
        """Class index per row (int64). ``where(i)`` describes row i for error messages."""
        array = _as_plain(array)
        if array.null_count:
            row = _first_true(np.asarray(array.is_null().to_pylist(), dtype=bool))
            raise DataError(
                f"{where(row)}, column {column!r}: the label is missing; "
                "every scored row needs a label (or drop it with --ignore-label)"
            )
        if self.binary:
            return self._encode_binary(array, where, column)
        return self._encode_multiclass(array, where, column)

    def _encode_multiclass(self, array: pa.Array, where: Any, column: str) -> np.ndarray[Any, Any]:
        t = array.type
        if pa.types.is_boolean(t):
            array = array.cast(pa.int64())
            t = array.type
        if pa.types.is_floating(t):
            values = array.to_numpy(zero_copy_only=False)
            fractional = ~np.isfinite(values) | (values != np.round(values))
            if fractional.any():
                row = _first_true(fractional)
                raise DataError(
                    f"{where(row)}, column {column!r}: label {values[row]!r} is not a class; "
                    f"classes are {', '.join(self.classes)}"
                )
            array = pa.array(values.astype(np.int64))
            t = array.type
        if pa.types.is_integer(t):
            values = np.asarray(array.cast(pa.int64()).to_numpy(zero_copy_only=False))
            if self._class_ints is not None:
                index = pc.index_in(array.cast(pa.int64()), value_set=self._class_ints)
                return self._check_found(index, values.astype(str), where, column)
            bad = (values < 0) | (values >= len(self.classes))
            if bad.any():
                row = _first_true(bad)
                raise DataError(
                    f"{where(row)}, column {column!r}: label {values[row]} is out of range; "
                    f"integer labels index the {len(self.classes)} classes "
                    f"0..{len(self.classes) - 1}"
                )
            return values.astype(np.int64)
        strings = _trimmed_strings(array.cast(pa.string()))
        index = pc.index_in(strings, value_set=self._class_array)
        if index.null_count and not self.classes_are_integers:
            # Integer strings index the classes in order when the classes are not integers.
            texts = strings.to_pylist()
            found: list[int | None] = index.to_pylist()
            for row, position in enumerate(found):
                text = texts[row]
                if position is None and _INTEGER.match(text):
                    number = int(float(text))
                    found[row] = number if 0 <= number < len(self.classes) else None
            return self._check_found(pa.array(found, type=pa.int64()), texts, where, column)
        return self._check_found(index, None, where, column)

    def _check_found(
        self, index: pa.Array, shown: Any, where: Any, column: str
    ) -> np.ndarray[Any, Any]:
        if index.null_count:
            missing = np.asarray(index.is_null().to_pylist(), dtype=bool)
            row = _first_true(missing)
            value = _plain(shown[row]) if shown is not None else None
            raise DataError(
                f"{where(row)}, column {column!r}: label {value!r} is not one of the classes "
                f"({_preview(self.classes)}); check the label values or the prediction "
                "column names (--pred-cols, --classes)"
            )
        return np.asarray(index.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)

    def _encode_binary(self, array: pa.Array, where: Any, column: str) -> np.ndarray[Any, Any]:
        pos = self.layout.pos_label
        t = array.type
        if pa.types.is_boolean(t):
            if pos is not None and pos.strip().lower() in _FALSE:
                return np.asarray(pc.invert(array).cast(pa.int64()).to_numpy(zero_copy_only=False))
            return np.asarray(array.cast(pa.int64()).to_numpy(zero_copy_only=False))
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            values = np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False))
            if pos is not None:
                try:
                    positive = float(pos)
                except ValueError:
                    positive = None
                if positive is not None:
                    return self._two_values(values == positive, values.astype(str), where, column)
            bad = (values != 0.0) & (values != 1.0)
            if bad.any():
                row = _first_true(bad)
                raise DataError(
                    f"{where(row)}, column {column!r}: binary label {_number(values[row])} is "
                    "not 0 or 1; name the positive class with --pos-label"
                )
            return values.astype(np.int64)
        strings = np.asarray(_trimmed_strings(array.cast(pa.string())).to_pylist(), dtype=object)
        if pos is not None:
            return self._two_values(strings == pos.strip(), strings, where, column)
        lowered = np.char.lower(strings.astype(str))
        one = np.isin(lowered, ("1", "1.0", *_TRUE))
        zero = np.isin(lowered, ("0", "0.0", *_FALSE))
        bad = ~(one | zero)
        if bad.any():
            row = _first_true(bad)
            raise DataError(
                f"{where(row)}, column {column!r}: binary label {strings[row]!r} is not 0/1 or "
                "true/false; name the positive class with --pos-label"
            )
        return one.astype(np.int64)

    def _two_values(
        self, positive: np.ndarray[Any, Any], shown: np.ndarray[Any, Any], where: Any, column: str
    ) -> np.ndarray[Any, Any]:
        negatives = shown[~positive]
        if len(negatives):
            if self.negative_label is None:
                self.negative_label = str(negatives[0])
                self.classes[0] = self.negative_label
            other = negatives != self.negative_label
            if other.any():
                row = int(np.flatnonzero(~positive)[_first_true(other)])
                raise DataError(
                    f"{where(row)}, column {column!r}: a third label value {shown[row]!r} "
                    f"besides {self.negative_label!r} and --pos-label "
                    f"{self.layout.pos_label!r}; binary labels take two values"
                )
        return positive.astype(np.int64)


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
