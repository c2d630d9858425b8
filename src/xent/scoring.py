"""Scoring a file or arrays: reader -> layout -> validation -> engine -> report.

:func:`score` is the library entry point behind ``xent score``. It streams the
input in chunks; per-sample rows are handed to an optional sink as they are
computed, so nothing proportional to the input size is kept unless asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent import engine, validation
from xent.errors import DataError, InputError, UsageError
from xent.io import Source, array_source, float_column, null_mask, numpy_view, open_source
from xent.layout import LabelEncoder, Layout, resolve_layout
from xent.report import (
    Aggregate,
    ClassLoss,
    Histogram,
    Reference,
    Report,
    SampleLoss,
)

FloatArray = npt.NDArray[np.float64]

INPUTS = ("auto", "probs", "logits", "log-probs")
UNITS = ("nats", "bits")


@dataclass
class ScoreOptions:
    """Every option of ``xent score`` that changes what is read or computed.

    The names and meanings follow the command-line options (``--label-col`` is
    ``label_col``); see the README for each.
    """

    labels: str | None = None
    input_format: str | None = None
    labels_format: str | None = None
    label_col: str | None = None
    label_cols: str | None = None
    #: A comma list or glob of column names, or a sequence of exact names.
    pred_cols: str | Sequence[str] | None = None
    id_col: str | None = None
    weight_col: str | None = None
    pos_label: str | None = None
    classes: list[str] | None = None
    task: str = "auto"
    inputs: str = "auto"
    eps: float | str = "auto"
    renormalize: bool = False
    label_smoothing: float = 0.0
    class_weights: dict[str, float] = field(default_factory=dict)
    ignore_label: str | None = None
    unit: str = "nats"
    top: int = 5
    per_sample: bool = False
    metrics: tuple[str, ...] = ()
    bins: int = 15
    #: Keep the calibration bins (for a reliability diagram) even without --metrics ece.
    calibration: bool = False

    def checked(self) -> ScoreOptions:
        """Validate option values; return a copy with ``eps`` resolved to a float."""
        if self.inputs not in INPUTS:
            raise UsageError(f"--inputs must be one of {', '.join(INPUTS)}, not {self.inputs!r}")
        if self.unit not in UNITS:
            raise UsageError(f"--unit must be nats or bits, not {self.unit!r}")
        eps = self.eps
        if isinstance(eps, str):
            if eps.strip().lower() == "auto":
                eps = engine.AUTO_EPS
            else:
                try:
                    eps = float(eps)
                except ValueError:
                    raise UsageError(f"--eps must be 'auto' or a number, not {eps!r}") from None
        if not (0.0 <= eps < 0.5):
            raise UsageError(f"--eps must be in [0, 0.5), not {eps}")
        if not (0.0 <= self.label_smoothing < 1.0):
            raise UsageError(f"--label-smoothing must be in [0, 1), not {self.label_smoothing}")
        if self.top < 0:
            raise UsageError(f"--top must be >= 0, not {self.top}")
        if not 1 <= self.bins <= 1000:
            raise UsageError(f"--bins must be between 1 and 1000, not {self.bins}")
        for name, weight in self.class_weights.items():
            if not (math.isfinite(weight) and weight >= 0.0):
                raise UsageError(f"--class-weights: weight of {name!r} must be >= 0, not {weight}")
        return replace(self, eps=float(eps))


class SampleSink(Protocol):
    """Receives per-sample losses chunk by chunk, in input order."""

    def start(self) -> None:
        """Called before the first chunk, and again if scoring restarts."""

    def write(
        self,
        index: npt.NDArray[np.int64],
        ids: Sequence[Any] | None,
        labels: Sequence[str] | npt.NDArray[Any],
        loss: FloatArray,
        weight: FloatArray,
    ) -> None:
        """One chunk of samples; ``loss`` is in the report's unit, ``weight`` the
        sample weight (times the class weight)."""


class _CollectSamples:
    """A sink that keeps every sample, for ``per_sample`` in the report."""

    def __init__(self) -> None:
        self.samples: list[SampleLoss] = []

    def start(self) -> None:
        self.samples = []

    def write(
        self,
        index: npt.NDArray[np.int64],
        ids: Sequence[Any] | None,
        labels: Sequence[str] | npt.NDArray[Any],
        loss: FloatArray,
        weight: FloatArray,
    ) -> None:
        id_list = _python_ids(ids) if ids is not None else [None] * len(index)
        self.samples.extend(
            SampleLoss(int(i), d, str(lab), float(v))
            for i, d, lab, v in zip(index.tolist(), id_list, labels, loss.tolist(), strict=True)
        )


class _Tee:
    def __init__(self, sinks: list[SampleSink]) -> None:
        self.sinks = sinks

    def start(self) -> None:
        for sink in self.sinks:
            sink.start()

    def write(self, *args: Any) -> None:
        for sink in self.sinks:
            sink.write(*args)


class _SwitchToLogits(Exception):
    """Raised under ``--inputs auto`` when a value outside [0, 1] shows up."""


class InputsAreLogits(Exception):
    """Scoring as probabilities under ``--inputs auto`` found the values are logits."""


class _RowSumsUnderAuto(Exception):
    """Raised under ``--inputs auto`` when a probability row does not sum to 1."""

    def __init__(self, error: DataError) -> None:
        super().__init__(str(error))
        self.error = error


def _any_outside_unit_interval(source: Source, layout: Layout) -> bool:
    """True when some prediction value in ``source`` lies outside [0, 1]."""
    types = {c: pa.float64() for c in layout.prediction_columns}
    for batch in source.batches(layout.prediction_columns, types):
        for column in layout.prediction_columns:
            array = batch.column(column)
            if array.null_count:
                continue
            if validation.outside_unit_interval(float_column(array)):
                return True
    return False


@dataclass
class _Chunk:
    """One chunk of rows, decoded: 0-based row indices and float64 values."""

    rows: npt.NDArray[np.int64]
    values: FloatArray
    weights: FloatArray
    ids: pa.Array | None
    label: pa.Array | None = None
    targets: FloatArray | None = None
    where: Callable[[int], str] = str
    label_where: Callable[[int], str] = str


def score(
    predictions: str,
    *,
    options: ScoreOptions | None = None,
    sample_sink: SampleSink | None = None,
    progress: Callable[[int], None] | None = None,
    **option_values: Any,
) -> Report:
    """Score a predictions file (or ``-`` for standard input) against its labels.

    Options are given as a :class:`ScoreOptions` or as keyword arguments of the
    same names, e.g. ``score("preds.csv", labels="y.csv", unit="bits")``.
    ``sample_sink`` receives per-sample losses as they are computed; ``progress``
    is called with the number of rows done after each chunk.

    Raises :class:`~xent.errors.UsageError`, :class:`~xent.errors.InputError`
    or :class:`~xent.errors.DataError` (see :mod:`xent.errors`).
    """
    opts = replace(options or ScoreOptions(), **option_values).checked()
    pred_source, label_source = open_sources(predictions, opts)
    return score_source(pred_source, label_source, opts, sample_sink=sample_sink, progress=progress)


def open_sources(predictions: str, opts: ScoreOptions) -> tuple[Source, Source | None]:
    """Open the predictions and, when ``opts.labels`` names one, the labels file."""
    pred_source = open_source(
        predictions, input_format=opts.input_format, classes=opts.classes, role="predictions"
    )
    label_source = None
    if opts.labels is not None:
        label_source = open_source(
            opts.labels, input_format=opts.labels_format, classes=opts.classes, role="labels"
        )
    return pred_source, label_source


def score_arrays(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    options: ScoreOptions | None = None,
    **option_values: Any,
) -> Report:
    """Score in-memory arrays, with the same options as :func:`score`.

    ``y_true`` has shape (N,) (class indices, 0/1, booleans or strings) or
    (N, K) (soft or multilabel targets); ``y_pred`` has shape (N,) or (N, K).

    >>> round(score_arrays([1, 0], [0.9, 0.2]).aggregate.loss, 6)
    0.164252
    """
    opts = replace(options or ScoreOptions(), **option_values).checked()
    label = np.asarray(y_true)
    pred = np.asarray(y_pred)
    source = array_source("<arrays>", "npy", pred=pred, label=label, classes=opts.classes)
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=np.float64)
        if weights.shape != (pred.shape[0],):
            raise DataError(
                f"<arrays>: sample_weight has shape {weights.shape}; expected ({pred.shape[0]},)"
            )
        source = _with_column(source, "__weight__", weights)
        opts = replace(opts, weight_col="__weight__")
    return score_source(source, None, opts)


def _with_column(source: Source, name: str, values: FloatArray) -> Source:
    inner = source.open_batches

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        start = 0
        others = [c for c in columns if c != name]
        for batch in inner(others, types):
            chunk = values[start : start + batch.num_rows]
            start += batch.num_rows
            arrays = [batch.column(c) for c in others]
            if name in columns:
                arrays.append(pa.array(chunk))
            yield pa.RecordBatch.from_arrays(
                arrays, names=[*others, *([name] if name in columns else [])]
            )

    return replace(
        source, schema=source.schema.append(pa.field(name, pa.float64())), open_batches=open_batches
    )


def layout_of(predictions: Source, labels: Source | None, opts: ScoreOptions) -> Layout:
    """The column roles of ``predictions`` (and ``labels``) under the layout options."""
    return resolve_layout(
        predictions,
        labels,
        task=opts.task,
        label_col=opts.label_col,
        label_cols=opts.label_cols,
        pred_cols=opts.pred_cols,
        id_col=opts.id_col,
        weight_col=opts.weight_col,
        pos_label=opts.pos_label,
        classes=opts.classes,
    )


def score_source(
    pred_source: Source,
    label_source: Source | None,
    opts: ScoreOptions,
    *,
    sample_sink: SampleSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Score already-opened sources (see :func:`score`); ``opts`` must be checked."""
    layout = layout_of(pred_source, label_source, opts)
    collector = _CollectSamples() if opts.per_sample else None
    sinks: list[SampleSink] = [s for s in (sample_sink, collector) if s is not None]
    sink = _Tee(sinks) if sinks else None
    inputs = "probs" if opts.inputs == "auto" else opts.inputs
    try:
        accumulator, classes = accumulate(
            pred_source, layout, opts, inputs, sink=sink, progress=progress
        )
    except InputsAreLogits:
        inputs = "logits"
        accumulator, classes = accumulate(
            pred_source, layout, opts, inputs, sink=sink, progress=progress
        )
    report = build_report(
        pred_source,
        label_source.name if label_source is not None else None,
        layout,
        classes,
        opts,
        inputs,
        accumulator,
    )
    if collector is not None:
        report.per_sample = collector.samples
    return report


def _class_weight_vector(layout: Layout, weights: dict[str, float]) -> FloatArray | None:
    if not weights:
        return None
    vector = np.ones(layout.n_classes)
    for name, value in weights.items():
        if name not in layout.classes:
            raise UsageError(
                f"--class-weights: {name!r} is not a class; classes are {', '.join(layout.classes)}"
            )
        vector[layout.classes.index(name)] = value
    return vector


def accumulate(
    source: Source,
    layout: Layout,
    opts: ScoreOptions,
    inputs: str,
    *,
    first_index: int = 0,
    sink: SampleSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[engine.Accumulator, list[str]]:
    """Score every row of ``source`` into a mergeable accumulator.

    ``inputs`` is what the values are taken to be; under ``opts.inputs ==
    "auto"`` a value outside [0, 1] (or a row not summing to 1 in a file with
    such a value) raises :class:`InputsAreLogits`, and the caller scores
    again as logits. ``first_index`` is the input-wide index of the first row
    (for shards of a dataset). Returns the accumulator and the class names
    (binary ``--pos-label`` names the negative class from the data).
    """
    try:
        accumulator, encoder = _run(source, layout, opts, inputs, sink, progress, first_index)
    except _SwitchToLogits:
        raise InputsAreLogits from None
    except UnicodeDecodeError as exc:
        names = " or ".join(dict.fromkeys([source.name, layout.label_source.name]))
        raise InputError(
            f"{names}: holds text that is not UTF-8 "
            f"(byte {exc.object[exc.start : exc.start + 1]!r}); save the file as UTF-8"
        ) from None
    except _RowSumsUnderAuto as pending:
        # A row not summing to 1 is only an error if the values are probabilities,
        # which --inputs auto decides from every value: look at the rest first.
        if _any_outside_unit_interval(source, layout):
            raise InputsAreLogits from None
        raise pending.error from None
    return accumulator, list(encoder.classes)


def _run(
    source: Source,
    layout: Layout,
    opts: ScoreOptions,
    inputs: str,
    sink: SampleSink | None,
    progress: Callable[[int], None] | None,
    first_index: int = 0,
) -> tuple[engine.Accumulator, LabelEncoder]:
    assert isinstance(opts.eps, float)
    encoder = LabelEncoder(layout)
    accumulator = engine.Accumulator(
        layout.n_classes,
        top_k=opts.top,
        histogram_edges_nats=engine.histogram_edges_nats(opts.unit),
    )
    if opts.metrics and layout.label_columns:
        raise UsageError(
            "--metrics needs one true class per sample (binary or multiclass labels), "
            "not --label-cols"
        )
    if (opts.metrics or opts.calibration) and not layout.label_columns:
        from xent.metrics import MetricsAccumulator

        accumulator.metrics = MetricsAccumulator(layout.n_classes, opts.bins)
    class_weights = _class_weight_vector(layout, opts.class_weights)
    to_unit = 1.0 / math.log(2.0) if opts.unit == "bits" else 1.0
    if sink is not None:
        sink.start()
    rows_done = 0
    for chunk, n_read in decoded_chunks(source, layout, encoder, opts, first_index):
        rows_done += n_read
        accumulator.n_ignored += n_read - len(chunk.rows)
        if len(chunk.rows):
            labels, loss, weight = _score_chunk(
                chunk, layout, encoder, opts, inputs, class_weights, accumulator
            )
            if sink is not None:
                sink.write(chunk.rows, chunk.ids, labels, loss * to_unit, weight)
        if progress is not None:
            progress(rows_done)
    return accumulator, encoder


def _score_chunk(
    chunk: _Chunk,
    layout: Layout,
    encoder: LabelEncoder,
    opts: ScoreOptions,
    inputs: str,
    class_weights: FloatArray | None,
    acc: engine.Accumulator,
) -> tuple[npt.NDArray[Any], FloatArray, FloatArray]:
    """Validate one chunk, compute its losses and add them to ``acc``.

    Returns the label shown for each sample (class name, or the row's classes),
    the per-sample losses in nats and the per-sample weights.
    """
    assert isinstance(opts.eps, float)
    values = _checked_values(chunk, layout, inputs, opts, acc)
    n_classes = layout.n_classes
    a = opts.label_smoothing
    weights = chunk.weights
    classes = np.asarray(layout.classes, dtype=object)
    if layout.label_columns:
        assert chunk.targets is not None
        targets = chunk.targets
        validation.check_targets(targets, layout.label_columns, chunk.label_where, soft=layout.soft)
        if layout.task == "multilabel":
            elements, n_clipped = engine.multilabel_losses(
                targets, values, inputs=inputs, eps=opts.eps, label_smoothing=a
            )
            w = weights[:, None] * (class_weights if class_weights is not None else 1.0)
            w = np.broadcast_to(w, elements.shape)
            smoothed = (1 - a) * targets + a / 2 if a else targets
            acc.add_class_sums(
                (w * elements).sum(axis=0),
                w.sum(axis=0),
                np.full(n_classes, len(elements), dtype=np.int64),
                (w * smoothed).sum(axis=0),
            )
            loss = elements.mean(axis=1)
            shown = np.array(["|".join(classes[row > 0.5]) for row in targets], dtype=object)
        else:
            q = (1 - a) * targets + a / n_classes if a else targets
            if class_weights is not None:
                weights = weights * (targets @ class_weights)
            elements, n_clipped = engine.soft_elements(q, values, inputs=inputs, eps=opts.eps)
            loss = elements.sum(axis=1)
            acc.add_class_sums(
                weights @ elements,
                weights @ q,
                np.count_nonzero(targets > 0, axis=0).astype(np.int64),
                weights @ q,
            )
            shown = classes[np.argmax(targets, axis=1)]
    else:
        assert chunk.label is not None
        y = encoder.encode(chunk.label, chunk.label_where, layout.label_column or "label")
        if class_weights is not None:
            weights = weights * class_weights[y]
        if encoder.binary:
            target = y.astype(np.float64)
            if a:
                target = (1 - a) * target + a / 2
            result = engine.binary_losses(target, values, inputs=inputs, eps=opts.eps)
            mass_pos = float(weights @ target)
            mass = np.array([float(weights.sum()) - mass_pos, mass_pos])
        else:
            result = engine.multiclass_losses(
                y, values, inputs=inputs, eps=opts.eps, label_smoothing=a
            )
            mass = np.bincount(y, weights=weights, minlength=n_classes)
            if a:
                mass = (1 - a) * mass + a / n_classes * float(weights.sum())
        loss, n_clipped = result.loss, result.n_clipped
        if acc.metrics is not None:
            from xent.metrics import probabilities

            acc.metrics.add(probabilities(values, inputs), y, weights, loss)
        loss_sum, weight_sum, count = engine.class_sums(y, loss, weights, n_classes)
        acc.add_class_sums(loss_sum, weight_sum, count, mass)
        shown = classes[y]
    loss = loss + 0.0  # -log(1) is -0.0; write it as 0
    acc.n_clipped += n_clipped
    acc.add_samples(loss, first_index=chunk.rows, labels=shown, ids=chunk.ids)
    return shown, loss, weights


def _checked_values(
    chunk: _Chunk, layout: Layout, inputs: str, opts: ScoreOptions, acc: engine.Accumulator
) -> FloatArray:
    """The chunk's prediction values, validated for ``inputs`` (and renormalized)."""
    values = chunk.values
    columns = layout.prediction_columns
    validation.check_finite(values, columns, chunk.where, "the prediction")
    if inputs == "logits":
        validation.check_magnitude(values, columns, chunk.where, "logit")
        return values
    if inputs == "probs":
        if opts.inputs == "auto" and validation.outside_unit_interval(values):
            raise _SwitchToLogits
        validation.check_probabilities(values, columns, chunk.where)
        if values.ndim == 2 and layout.task != "multilabel":
            if opts.renormalize:
                values, changed = validation.renormalize(values, chunk.where)
                acc.n_renormalized += changed
            else:
                try:
                    validation.check_row_sums(
                        values.sum(axis=1),
                        values.shape[1],
                        chunk.where,
                        what="the probabilities",
                        fix="pass --renormalize to divide each row by its sum, "
                        "or --inputs logits if these are scores",
                    )
                except DataError as error:
                    if opts.inputs == "auto":
                        raise _RowSumsUnderAuto(error) from None
                    raise
        return values
    validation.check_log_probabilities(values, columns, chunk.where)
    validation.check_magnitude(values, columns, chunk.where, "log-probability")
    if values.ndim == 2 and layout.task != "multilabel":
        with np.errstate(under="ignore"):
            sums = np.exp(values).sum(axis=1)
        validation.check_row_sums(
            sums,
            values.shape[1],
            chunk.where,
            what="the exponentiated log-probabilities",
            fix="check that the columns are log-softmax outputs, or pass --inputs logits",
        )
    return values


def decoded_chunks(
    source: Source,
    layout: Layout,
    encoder: LabelEncoder,
    opts: ScoreOptions,
    first_index: int = 0,
) -> Iterator[tuple[_Chunk, int]]:
    """Decoded chunks of the predictions with their labels, and the rows read for each.

    Chunk rows carry input-wide indices starting at ``first_index``; messages
    name rows of ``source`` itself.
    """
    same_table = not layout.separate_labels
    columns = list(layout.prediction_columns)
    types: dict[str, pa.DataType] = {c: pa.float64() for c in columns}
    for extra in (layout.id_column, layout.weight_column):
        if extra and extra not in columns:
            columns.append(extra)
    if layout.weight_column:
        types[layout.weight_column] = pa.float64()
    label_names = [layout.label_column] if layout.label_column else list(layout.label_columns)
    if same_table:
        columns.extend(c for c in label_names if c not in columns)
    if source.format in ("csv", "tsv") and layout.label_column:
        # Labels are read as dictionary-encoded text: a column of mixed names and
        # numbers stays readable, and mapping them to classes touches each
        # distinct value once.
        types[layout.label_column] = pa.dictionary(pa.int32(), pa.string())
    if source.format in ("csv", "tsv") and layout.id_column:
        # Ids are text: a column that starts with numbers may hold names further down.
        types[layout.id_column] = pa.string()
    for c in layout.label_columns:
        types[c] = pa.float64()

    labels = _LabelRows(layout, opts) if not same_table else None
    offset = 0
    for batch in source.batches(columns, types):
        n = batch.num_rows
        rows = np.arange(n, dtype=np.int64)
        where = _describe(source, offset, rows)
        label_batch, label_where = batch, where
        if labels is not None:
            label_batch, label_where = labels.take(batch, offset, where)
        if layout.label_column:
            ignored = encoder.ignore_mask(
                label_batch.column(layout.label_column), opts.ignore_label
            )
            if ignored is not None:
                # Ignored rows leave before any check: their cells may be empty.
                rows = np.flatnonzero(~ignored)
                batch, label_batch = _take(batch, rows), _take(label_batch, rows)
                where = _describe(source, offset, rows)
                label_where = _renumbered(label_where, rows)
        chunk = _Chunk(
            rows=rows + (first_index + offset),
            values=_matrix(batch, layout.prediction_columns, where),
            weights=(
                _vector(batch, layout.weight_column, where, "the weight")
                if layout.weight_column
                else np.ones(len(rows))
            ),
            ids=(_id_values(batch.column(layout.id_column)) if layout.id_column else None),
            where=where,
            label_where=label_where,
        )
        if layout.weight_column:
            validation.check_weights(chunk.weights, layout.weight_column, where)
        if layout.label_column:
            chunk.label = label_batch.column(layout.label_column)
        else:
            chunk.targets = _matrix(label_batch, layout.label_columns, label_where)
        offset += n
        yield chunk, n
    if labels is not None:
        labels.finish(offset, source.name)


def _describe(source: Source, offset: int, rows: npt.NDArray[np.int64]) -> Callable[[int], str]:
    """Name row i of a chunk (its rows are ``rows`` of the batch read at ``offset``)."""

    def where(i: int) -> str:
        return f"{source.name}: {source.where(offset + int(rows[i]))}"

    return where


def _renumbered(where: Callable[[int], str], rows: npt.NDArray[np.int64]) -> Callable[[int], str]:
    return lambda i: where(int(rows[i]))


def _take(batch: pa.RecordBatch | pa.Table, rows: npt.NDArray[np.int64]) -> Any:
    return batch.take(pa.array(rows, type=pa.int64()))


def _vector(
    batch: pa.RecordBatch, column: str, where: Callable[[int], str], what: str
) -> FloatArray:
    array = batch.column(column)
    if array.null_count:
        row = int(np.argmax(null_mask(array)))
        raise DataError(
            f"{where(row)}, column {column!r}: {what} is missing; fill the cell or drop the row"
        )
    if not (
        pa.types.is_floating(array.type)
        or pa.types.is_integer(array.type)
        or pa.types.is_decimal(array.type)
    ):
        raise DataError(
            f"{where(0)}, column {column!r}: {what} column holds {array.type} values, not numbers"
        )
    return float_column(array)


def _matrix(
    batch: pa.RecordBatch, columns: Sequence[str], where: Callable[[int], str]
) -> FloatArray:
    if len(columns) == 1:
        return np.array(_vector(batch, columns[0], where, "the prediction"), dtype=np.float64)
    out = np.empty((batch.num_rows, len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        out[:, j] = _vector(batch, column, where, "the value")
    return out


def _id_values(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _python_ids(ids: Sequence[Any] | pa.Array) -> list[Any]:
    """Ids as Python values (from an Arrow array or any sequence)."""
    if isinstance(ids, pa.Array):
        return list(ids.to_pylist())
    return list(ids)


class _LabelRows:
    """Labels from a separate file, aligned to prediction chunks by position or by id."""

    def __init__(self, layout: Layout, opts: ScoreOptions) -> None:
        self.layout = layout
        source = layout.label_source
        names = [layout.label_column] if layout.label_column else list(layout.label_columns)
        if layout.label_id_column and layout.label_id_column not in names:
            names.append(layout.label_id_column)
        types: dict[str, pa.DataType] = {c: pa.float64() for c in layout.label_columns}
        if source.format in ("csv", "tsv"):
            types.update({c: pa.string() for c in names if c not in layout.label_columns})
        self.table = source.read_all(names, types)
        self.by_id = bool(layout.label_id_column and layout.id_column)
        self.seen = np.zeros(self.table.num_rows, dtype=bool)
        if self.by_id:
            assert layout.label_id_column is not None
            self.ids = _string_ids(self.table.column(layout.label_id_column))
            positions: dict[str, int] = {}
            for i, key in enumerate(self.ids.to_pylist()):
                if key in positions:
                    raise DataError(
                        f"{source.name}: {source.where(i)}: id {key!r} appears twice in the "
                        f"labels (first at {source.where(positions[key])}); ids must be unique"
                    )
                positions[key] = i

    def take(
        self, batch: pa.RecordBatch, offset: int, where: Callable[[int], str]
    ) -> tuple[pa.Table, Callable[[int], str]]:
        """The label rows matching one prediction batch, and how to name them."""
        n = batch.num_rows
        source = self.layout.label_source
        if not self.by_id:
            if offset + n > self.table.num_rows:
                raise DataError(
                    f"{where(self.table.num_rows - offset)}: the predictions have more rows than "
                    f"the labels in {source.name} ({self.table.num_rows}); both files need one "
                    "row per sample (or join them with --id-col)"
                )
            self.seen[offset : offset + n] = True
            return self.table.slice(offset, n), self._where(np.arange(offset, offset + n))
        assert self.layout.id_column is not None
        pred_ids = _string_ids(batch.column(self.layout.id_column))
        import pyarrow.compute as pc

        index = pc.index_in(pred_ids, value_set=self.ids)
        if index.null_count:
            row = int(np.argmax(null_mask(index)))
            raise DataError(
                f"{where(row)}: id {pred_ids[row].as_py()!r} has no label in {source.name}; "
                "every prediction needs a label row with the same id"
            )
        positions = numpy_view(index).astype(np.int64)
        repeated = self.seen[positions] | _repeats(positions)
        if repeated.any():
            row = int(np.argmax(repeated))
            raise DataError(
                f"{where(row)}: id {pred_ids[row].as_py()!r} appears more than once in the "
                "predictions; ids must be unique"
            )
        self.seen[positions] = True
        return self.table.take(pa.array(positions)), self._where(positions)

    def _where(self, positions: npt.NDArray[np.int64]) -> Callable[[int], str]:
        source = self.layout.label_source
        return lambda i: f"{source.name}: {source.where(int(positions[i]))}"

    def finish(self, n_pred_rows: int, pred_name: str) -> None:
        """Fail when some label row was never matched by a prediction."""
        if self.seen.all():
            return
        source = self.layout.label_source
        first = int(np.argmax(~self.seen))
        if self.by_id:
            raise DataError(
                f"{source.name}: {source.where(first)}: id {self.ids[first].as_py()!r} has no "
                f"prediction in {pred_name}; every label needs a prediction row with the same id"
            )
        raise DataError(
            f"{source.name}: has {self.table.num_rows} label rows but {pred_name} has "
            f"{n_pred_rows} prediction rows; both files need one row per sample"
        )


def _string_ids(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    import pyarrow.compute as pc

    return pc.utf8_trim_whitespace(array)


def _repeats(positions: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """True at every position whose value appeared earlier in the array."""
    order = np.argsort(positions, kind="stable")
    sorted_pos = positions[order]
    dup_sorted = np.zeros(len(positions), dtype=bool)
    dup_sorted[1:] = sorted_pos[1:] == sorted_pos[:-1]
    out = np.zeros(len(positions), dtype=bool)
    out[order] = dup_sorted
    return out


def _exp_or_inf(x: float) -> float:
    """exp(x), or inf where it overflows float64."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def build_report(
    pred_source: Source,
    labels_name: str | None,
    layout: Layout,
    classes: list[str],
    opts: ScoreOptions,
    inputs: str,
    acc: engine.Accumulator,
) -> Report:
    """The report of a (merged) accumulator over ``pred_source``."""
    from xent import __version__

    if acc.n_samples == 0:
        if acc.n_ignored:
            raise DataError(
                f"{pred_source.name}: all {acc.n_ignored} rows have the ignored label "
                f"{opts.ignore_label!r}; nothing is left to score"
            )
        raise DataError(f"{pred_source.name}: no data rows to score")
    total_sum = float(acc.loss_sum.sum())
    total_weight = float(acc.weight_sum.sum())
    if total_weight <= 0.0:
        raise DataError(
            f"{pred_source.name}: the weights of the scored rows add up to 0; nothing to average"
        )
    scale = 1.0 / math.log(2.0) if opts.unit == "bits" else 1.0
    mean_nats = total_sum / total_weight
    with np.errstate(divide="ignore", invalid="ignore"):
        class_loss = acc.loss_sum / acc.weight_sum
        share = acc.loss_sum / total_sum if total_sum else np.zeros_like(acc.loss_sum)
    per_class = [
        ClassLoss(
            name=name,
            n=int(acc.count[c]),
            loss=float(class_loss[c]) * scale,
            sum=float(acc.loss_sum[c]) * scale,
            weight=float(acc.weight_sum[c]),
            share=float(share[c]),
        )
        for c, name in enumerate(classes)
    ]
    if layout.task == "multilabel":
        prior = float(
            np.mean(
                [
                    engine.binary_entropy_nats(float(m / w)) if w > 0 else math.nan
                    for m, w in zip(acc.target_mass, acc.weight_sum, strict=True)
                ]
            )
        )
        uniform = math.log(2.0)
    else:
        prior = engine.entropy_nats(acc.target_mass)
        uniform = math.log(layout.n_classes)
    d2 = 1.0 - mean_nats / prior if prior > 0 else math.nan
    edges = list(engine.HISTOGRAM_EDGES)
    return Report(
        predictions=pred_source.name,
        labels=labels_name,
        task=layout.task,
        inputs=inputs,
        unit=opts.unit,
        classes=classes,
        n_samples=acc.n_samples,
        n_ignored=acc.n_ignored,
        aggregate=Aggregate(
            loss=mean_nats * scale,
            sum=total_sum * scale,
            weight=total_weight,
            perplexity=_exp_or_inf(mean_nats),
            n_clipped=acc.n_clipped,
        ),
        per_class=per_class,
        reference=Reference(uniform=uniform * scale, prior=prior * scale, d2=d2),
        histogram=Histogram(edges=[*edges, math.inf], counts=acc.histogram.tolist()),
        top=[SampleLoss(index=i, id=d, label=lab, loss=v * scale) for i, d, lab, v in acc.worst()],
        id_column=layout.id_column,
        label_column=layout.label_column,
        prediction_columns=list(layout.prediction_columns),
        inputs_detected=opts.inputs == "auto",
        n_renormalized=acc.n_renormalized,
        eps=float(opts.eps) if inputs == "probs" else 0.0,
        metrics=(acc.metrics.result(opts.metrics, scale) if acc.metrics and opts.metrics else None),
        calibration=(acc.metrics.result(("ece",), scale)["calibration"] if acc.metrics else None),
        header_lines=pred_source.header_lines,
        warnings=list(layout.warnings),
        version=__version__,
    )
