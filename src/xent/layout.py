"""Which column is the label, which are predictions, and what the classes are.

:func:`resolve_layout` reads only the schemas of the inputs (and the options);
the values are read later, chunk by chunk. The rules, as a user reads them,
are in docs/layouts.md. In short: the label column is found by name; the
prediction columns are every numeric column of the predictions file that has
no other role; a saved row index (pandas' or R's) never has a role but the id;
a separate labels file never takes a column away from the predictions file.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pyarrow as pa

from xent.errors import InputError, UsageError
from xent.read import Source
from xent.read.arrow import is_numeric

#: Label column names found automatically, case-insensitively, in this order.
LABEL_NAMES = ("label", "labels", "y", "y_true", "target", "class", "truth")
#: Id column name found automatically, case-insensitively.
ID_NAME = "id"
#: Prefixes stripped from prediction column names to give class names.
KNOWN_PREFIXES = ("proba_", "probs_", "prob_", "p_", "pred_", "logits_", "logit_", "label:")

TASKS = ("auto", "binary", "multiclass", "multilabel")
#: The name of the default groups: the rows of list columns (without an id
#: column), the items along the first axis of arrays of any rank.
ROW_GROUP = "row"


@dataclass(frozen=True)
class LayoutRequest:
    """The options that decide the layout (as given on the command line)."""

    task: str = "auto"
    label_col: str | None = None
    label_cols: str | None = None
    pred_cols: str | tuple[str, ...] | None = None
    id_col: str | None = None
    weight_col: str | None = None
    bytes_col: str | None = None
    pos_label: str | None = None
    classes: tuple[str, ...] | None = None
    by: tuple[str, ...] = ()
    #: What the values are (``--inputs``): the ``target-`` inputs hold the
    #: probability (or log-probability) of each row's true class.
    inputs: str = "auto"

    @property
    def target(self) -> bool:
        """True when the values are asked to be those of each row's true class."""
        return self.inputs.startswith("target-")


@dataclass(frozen=True)
class Layout:
    """The resolved roles of the input columns.

    ``label_source`` holds the labels (the predictions source itself in the
    one-table layout). ``classes`` are the class names from the prediction
    columns (prefix stripped); ``column_names`` the columns' own names, which
    labels may also use. ``soft`` marks per-class target columns holding a
    distribution per row. ``index_column`` is the saved row index that was
    recognised in the predictions (shown as the id when there is no other).
    ``group_columns`` name the columns whose values group the rows (``--by``).
    """

    task: str
    classes: tuple[str, ...]
    prediction_columns: tuple[str, ...]
    label_source: Source
    label_column: str | None = None
    label_columns: tuple[str, ...] = ()
    id_column: str | None = None
    label_id_column: str | None = None
    weight_column: str | None = None
    #: Bytes of text covered by each row (``--bytes-col``), for bits per byte.
    bytes_column: str | None = None
    index_column: str | None = None
    pos_label: str | None = None
    soft: bool = False
    separate_labels: bool = False
    warnings: tuple[str, ...] = ()
    #: The ``--by`` columns: (column name, True when it is in the labels file).
    group_columns: tuple[tuple[str, bool], ...] = ()
    #: Each value is the probability or log-probability of the true class (no
    #: per-class columns): the classes are the label values, if there are labels.
    target: bool = False
    #: The prediction column holds a list per row: each element is a sample, and
    #: each row (named by its id, else its number) is a group.
    sequence: bool = False
    #: Without ``--by``, the name of the groups the input has of itself: the rows of
    #: list columns, the items (first axis) of arrays of any rank.
    default_group: str | None = None
    #: The floating-point type the predictions were stored in (float16, float32 or
    #: float64): scikit-learn clips at its machine epsilon.
    prediction_dtype: str = "float64"

    @property
    def n_classes(self) -> int:
        """Number of classes (binary: 2)."""
        return len(self.classes)

    @property
    def binary_column(self) -> bool:
        """True when one prediction column holds the positive class's value."""
        return self.task == "binary" and len(self.prediction_columns) == 1

    @property
    def group_names(self) -> tuple[str, ...]:
        """The names of the group key columns: ``--by``, else (for list columns) the
        id column or ``row``."""
        if self.group_columns:
            return tuple(name for name, _ in self.group_columns)
        return (self.default_group,) if self.default_group else ()

    @property
    def column_names(self) -> tuple[str, ...]:
        """The names labels may use for the classes, besides :attr:`classes`."""
        return self.classes if self.binary_column else self.prediction_columns


def split_list(text: str | None) -> list[str]:
    """Split a comma list option into trimmed, non-empty items."""
    if not text:
        return []
    return [item.strip() for item in text.split(",") if item.strip()]


def strip_common_prefix(names: Sequence[str]) -> list[str]:
    """Class names from column names: drop one prefix that every name shares.

    A known prefix (``p_``, ``prob_``, ``proba_``, ``pred_``, ``logit_``, ...) is
    tried first, then any shared prefix ending in ``_``, ``:`` or ``.``.

    >>> strip_common_prefix(["p_cat", "p_dog"])
    ['cat', 'dog']
    >>> strip_common_prefix(["class_0", "class_1"])
    ['0', '1']
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


def find_column(source: Source, name: str, option: str) -> str:
    """The column ``name`` (matched case-insensitively when that is unambiguous)."""
    if name in source.column_names:
        return name
    folded = [c for c in source.column_names if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise InputError(
        f"{source.name}: no column {name!r} (given by {option}); "
        f"columns are: {', '.join(c or repr(c) for c in source.column_names)}"
    )


def _has_column(source: Source, name: str) -> bool:
    return name in source.column_names or any(
        c.lower() == name.lower() for c in source.column_names
    )


def _find_label_column(source: Source) -> str | None:
    found = [c for n in LABEL_NAMES for c in source.column_names if c.lower() == n]
    if len(found) > 1:
        raise InputError(
            f"{source.name}: several columns could be the label ({', '.join(found)}); "
            "choose one with --label-col"
        )
    return found[0] if found else None


def select_columns(source: Source, pattern_list: str, option: str) -> list[str]:
    """Columns named by a comma list of names and globs, in the order given."""
    selected: list[str] = []
    for item in split_list(pattern_list):
        if any(ch in item for ch in "*?["):
            matches = [c for c in source.column_names if fnmatch.fnmatchcase(c, item)]
            if not matches:
                raise InputError(f"{source.name}: no column matches {item!r} (given by {option})")
            selected.extend(m for m in matches if m not in selected)
        else:
            column = find_column(source, item, option)
            if column not in selected:
                selected.append(column)
    if not selected:
        raise UsageError(f"{option} names no columns")
    return selected


def resolve_layout(
    predictions: Source, labels: Source | None, request: LayoutRequest | None = None
) -> Layout:
    """Decide the role of every column from the schemas and the options.

    Raises :class:`~xent.errors.InputError` for a missing or ambiguous column
    and :class:`~xent.errors.UsageError` for options that contradict each other.
    """
    r = request or LayoutRequest()
    if r.task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)}, not {r.task!r}")
    label_source = labels or predictions
    index = predictions.index_columns[0] if predictions.index_columns else None

    # Id and weight columns of the predictions; the id column of the labels.
    id_column = _id_column(predictions, r.id_col)
    label_id_column = None
    if labels is not None and r.id_col:
        if _has_column(labels, r.id_col):
            label_id_column = find_column(labels, r.id_col, "--id-col")
        elif id_column is not None:
            raise InputError(
                f"{labels.name}: no id column {r.id_col!r} to join on; add it or drop --id-col "
                "to align the two files by row position"
            )
    weight_column = None
    if r.weight_col:
        in_labels_only = labels is not None and _has_column(labels, r.weight_col)
        if in_labels_only and not _has_column(predictions, r.weight_col):
            raise UsageError(
                f"--weight-col {r.weight_col!r} must be a column of the predictions file"
            )
        weight_column = find_column(predictions, r.weight_col, "--weight-col")

    # Labels: per-class columns, one named column, or one found by name.
    label_columns: list[str] = []
    label_column: str | None = None
    label_reserved = set(label_source.index_columns) | (
        {label_id_column} if label_id_column else set()
    )
    if labels is None:
        label_reserved |= {c for c in (id_column, weight_column) if c}
    if r.label_cols:
        label_columns = select_columns(label_source, r.label_cols, "--label-cols")
    elif label_source.label_columns:
        label_columns = list(label_source.label_columns)
    elif r.label_col:
        label_column = find_column(label_source, r.label_col, "--label-col")
    else:
        label_column = _find_label_column(label_source)
        if label_column is None and labels is not None:
            # A labels file's one remaining column is its label column, whatever its name.
            rest = [c for c in labels.column_names if c not in label_reserved]
            if len(rest) == 1:
                label_column = rest[0]
        if label_column is None and not _target_request(predictions, r):
            hint = "" if labels is None else " of the --labels file"
            raise InputError(
                f"{label_source.name}: no label column found{hint} (looked for "
                f"{', '.join(LABEL_NAMES)}); name it with --label-col"
            )

    groups = _group_columns(predictions, labels, r.by)
    bytes_column = find_column(predictions, r.bytes_col, "--bytes-col") if r.bytes_col else None
    # Prediction columns: every numeric column of the predictions with no other role.
    reserved = {c for c in (id_column, weight_column) if c} | set(predictions.index_columns)
    reserved |= {name for name, in_labels in groups if not in_labels}
    reserved |= {bytes_column} if bytes_column else set()
    if labels is None:
        reserved |= {label_column} if label_column else set()
        reserved |= set(label_columns)
    if isinstance(r.pred_cols, str) and r.pred_cols:
        prediction_columns = select_columns(predictions, r.pred_cols, "--pred-cols")
    elif r.pred_cols:
        # Exact names (not patterns), e.g. the columns another shard was read with.
        prediction_columns = [find_column(predictions, c, "--pred-cols") for c in r.pred_cols]
    elif predictions.prediction_columns:
        prediction_columns = list(predictions.prediction_columns)
    else:
        # A list column (a value per token) is the prediction column when there is one.
        prediction_columns = [
            f.name for f in predictions.schema if f.name not in reserved and is_number_list(f.type)
        ] or [f.name for f in predictions.schema if f.name not in reserved and is_numeric(f.type)]
    clash = (reserved - set(predictions.index_columns)).intersection(prediction_columns)
    if clash:
        raise UsageError(
            f"column {sorted(clash)[0]!r} cannot be both a prediction and a label/id/weight column"
        )
    if not prediction_columns:
        raise InputError(
            f"{predictions.name}: no numeric prediction columns found; name them with --pred-cols"
        )

    sequence = any(is_number_list(predictions.schema.field(c).type) for c in prediction_columns)
    if sequence or r.target:
        layout = _target_layout(
            predictions,
            labels,
            r,
            prediction_columns,
            label_column,
            label_columns,
            id_column if id_column is not None else index,
            index,
            weight_column,
            groups,
            sequence,
        )
        return replace(layout, bytes_column=bytes_column)
    task = _task(r.task, prediction_columns, label_columns)
    if label_column is not None:
        _check_label_type(label_source, label_column)
    classes = _class_names(prediction_columns, r.classes, predictions)
    layout = Layout(
        task=task,
        classes=tuple(classes),
        prediction_columns=tuple(prediction_columns),
        label_source=label_source,
        label_column=label_column,
        id_column=id_column if id_column is not None else index,
        label_id_column=label_id_column,
        weight_column=weight_column,
        index_column=index,
        pos_label=r.pos_label,
        separate_labels=labels is not None,
        warnings=tuple(_warnings(predictions, labels, r, id_column)),
        group_columns=groups,
        default_group=(
            ROW_GROUP if predictions.arrays is not None and predictions.arrays.group_size else None
        ),
    )
    if label_columns:
        if task == "binary":
            raise UsageError("--label-cols needs --task multilabel or a multiclass layout")
        matched = _match_label_columns(label_source, label_columns, classes, task)
        layout = replace(layout, label_columns=tuple(matched), soft=task != "multilabel")
    elif task == "multilabel":
        raise UsageError("--task multilabel needs --label-cols naming one 0/1 column per label")
    if task == "binary" and len(prediction_columns) == 1:
        names = ("0", "1") if r.pos_label is None else (f"not {r.pos_label}", r.pos_label)
        layout = replace(layout, classes=names)
    return replace(
        layout,
        bytes_column=bytes_column,
        prediction_dtype=_stored_dtype(predictions, prediction_columns),
    )


def _stored_dtype(source: Source, columns: Sequence[str]) -> str:
    """The narrowest float type the prediction values were stored in (float64 for text)."""
    if source.arrays is not None and source.arrays.predictions is not None:
        kind = source.arrays.predictions.dtype
        return str(kind) if str(kind) in ("float16", "float32") else "float64"
    types = {source.schema.field(c).type for c in columns}
    if types and all(pa.types.is_float32(t) or pa.types.is_float16(t) for t in types):
        return "float16" if all(pa.types.is_float16(t) for t in types) else "float32"
    return "float64"


def is_number_list(data_type: pa.DataType) -> bool:
    """True for a list of numbers (one value per token of a sequence)."""
    return bool(
        (pa.types.is_list(data_type) or pa.types.is_large_list(data_type))
        and is_numeric(data_type.value_type)
    )


def _target_request(predictions: Source, r: LayoutRequest) -> bool:
    """True when the values will be true-class probabilities: asked for, or a list column."""
    if r.target:
        return True
    names = split_list(r.pred_cols) if isinstance(r.pred_cols, str) else list(r.pred_cols or ())
    listed = [f.name for f in predictions.schema if is_number_list(f.type)]
    if names:
        return any(name in listed for name in names)
    return bool(listed)


def _target_layout(
    predictions: Source,
    labels: Source | None,
    r: LayoutRequest,
    prediction_columns: list[str],
    label_column: str | None,
    label_columns: list[str],
    id_column: str | None,
    index: str | None,
    weight_column: str | None,
    groups: tuple[tuple[str, bool], ...],
    sequence: bool,
) -> Layout:
    """The layout of true-class values: one value per row, or a list of them per row."""
    what = "a list column" if sequence else "--inputs target-probs / target-log-probs"
    if len(prediction_columns) != 1:
        raise UsageError(
            f"{what} needs exactly one prediction column, the value of each row's true "
            f"class; found {len(prediction_columns)} ({', '.join(prediction_columns)}): "
            "choose one with --pred-cols"
        )
    if sequence and r.inputs not in ("auto", "target-probs", "target-log-probs"):
        raise UsageError(
            f"column {prediction_columns[0]!r} holds a list per row, the value of each "
            f"token's true class, so --inputs {r.inputs} does not apply; pass --inputs "
            "target-log-probs or --inputs target-probs (or leave --inputs out)"
        )
    if label_columns:
        raise UsageError(f"{what} takes one label per sample, not --label-cols")
    if r.task not in ("auto", "multiclass"):
        raise UsageError(
            f"{what} scores the true class of each sample: --task {r.task} does not apply"
        )
    label_source = labels or predictions
    if label_column is not None:
        label_type = label_source.schema.field(label_column).type
        if sequence and not pa.types.is_list(label_type) and not pa.types.is_large_list(label_type):
            raise InputError(
                f"{label_source.name}: column {label_column!r} holds one value per row, but "
                f"the predictions hold a list per row; give a list column of labels "
                "(--label-col) or none"
            )
        if not sequence:
            _check_label_type(label_source, label_column)
    if sequence and labels is not None:
        raise UsageError("list columns are read from one file: put the labels beside them")
    return Layout(
        task="multiclass",
        classes=(),
        prediction_columns=tuple(prediction_columns),
        label_source=label_source,
        label_column=label_column,
        id_column=id_column,
        weight_column=weight_column,
        index_column=index,
        separate_labels=labels is not None,
        warnings=tuple(_warnings(predictions, labels, r, id_column)),
        group_columns=groups,
        target=True,
        sequence=sequence,
        default_group=(id_column or ROW_GROUP) if sequence else None,
    )


def _group_columns(
    predictions: Source, labels: Source | None, by: Sequence[str]
) -> tuple[tuple[str, bool], ...]:
    """Find each ``--by`` column in the predictions, or else in the labels file."""
    found: list[tuple[str, bool]] = []
    for name in by:
        if _has_column(predictions, name) or labels is None:
            column = find_column(predictions, name, "--by")
            in_labels = False
        elif _has_column(labels, name):
            column = find_column(labels, name, "--by")
            in_labels = True
        else:
            raise InputError(
                f"{predictions.name}: no column {name!r} (given by --by) in the predictions or "
                f"in {labels.name}"
            )
        if (column, in_labels) in found:
            raise UsageError(f"--by names the column {column!r} twice")
        found.append((column, in_labels))
    return tuple(found)


def _id_column(predictions: Source, id_col: str | None) -> str | None:
    if id_col:
        return find_column(predictions, id_col, "--id-col")
    by_lower = {c.lower(): c for c in predictions.column_names}
    return by_lower.get(ID_NAME)


def _task(task: str, prediction_columns: list[str], label_columns: list[str]) -> str:
    n_pred = len(prediction_columns)
    if task == "auto":
        return "binary" if n_pred == 1 and not label_columns else "multiclass"
    if task == "binary" and n_pred > 2:
        raise UsageError(
            f"--task binary needs one prediction column (or two), got {n_pred}: "
            f"{', '.join(prediction_columns)}"
        )
    if task == "multiclass" and n_pred == 1 and not label_columns:
        raise UsageError(
            "--task multiclass needs one prediction column per class; one column is binary"
        )
    return task


def _check_label_type(source: Source, column: str) -> None:
    label_type = source.schema.field(column).type
    if pa.types.is_dictionary(label_type):
        label_type = label_type.value_type
    if pa.types.is_binary(label_type) or pa.types.is_large_binary(label_type):
        raise InputError(
            f"{source.name}: column {column!r} holds bytes that are not UTF-8 "
            "text; save the file as UTF-8"
        )
    if pa.types.is_nested(label_type) or not (
        is_numeric(label_type)
        or pa.types.is_boolean(label_type)
        or pa.types.is_string(label_type)
        or pa.types.is_large_string(label_type)
    ):
        raise InputError(
            f"{source.name}: column {column!r} holds {label_type} values; "
            "labels must be numbers, booleans or text (one per row)"
        )


def _warnings(
    predictions: Source, labels: Source | None, r: LayoutRequest, id_column: str | None
) -> list[str]:
    if labels is None or r.id_col or id_column is None:
        return []
    if _has_column(labels, ID_NAME):
        return [
            f"both {predictions.name} and {labels.name} have an {id_column!r} column but "
            f"rows are paired by position; pass --id-col {id_column} to join on it"
        ]
    return []


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
