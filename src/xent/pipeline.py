"""Scoring a file or arrays: read -> decode -> loss -> accumulate -> report.

:func:`score` is the library entry point behind ``xent score``. It streams the
input in chunks (:mod:`xent.decode`), scores each (:mod:`xent.loss`), adds the
results up (:mod:`xent.accumulate`) and builds the :class:`~xent.report.Report`.
Per-sample losses go to an optional :class:`SampleSink` as they are computed,
so nothing proportional to the input size is kept unless asked for. The map
of the stages is in docs/architecture.md.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent import validation
from xent.accumulate import Accumulator, GroupSums, histogram_edges_nats
from xent.conventions import Convention
from xent.decode import Chunk, chunks
from xent.errors import DataError, InputError, UsageError, XentError
from xent.inputs import CLASS_COLUMNS, TRUE_CLASS, Evidence, decide
from xent.labels import LabelEncoder, label_text
from xent.layout import Layout, resolve_layout
from xent.loss import LOGITS, LossPlan, logits_norm, score_chunk
from xent.options import ScoreOptions
from xent.read import ReadRequest, Source, detect_format, first_line, open_source
from xent.read.arrow import text_values
from xent.report import Report, SampleLoss, build_report

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")


@dataclass(frozen=True)
class Samples:
    """One chunk of scored samples, as sinks receive them.

    ``index`` holds each sample's 0-based input row, ``ids`` its id (plain
    text or numbers, or None without an id column), ``labels`` the label shown
    for it, ``loss`` its loss in the report's unit and ``weight`` its weight
    (sample weight times class weight). ``values`` are the prediction values
    as read (before any renormalization), and ``y`` (class indices) or
    ``targets`` (per-class targets) what they were scored against. ``groups``
    holds the group key columns (``--by``). ``class_names``, when given, are the
    names that ``labels`` takes from ``y`` (``labels == class_names[y]``), for a
    sink that writes labels as codes.
    """

    index: npt.NDArray[np.int64]
    ids: pa.Array | None
    labels: npt.NDArray[Any]
    loss: FloatArray
    weight: FloatArray
    values: FloatArray
    y: npt.NDArray[np.int64] | None = None
    targets: FloatArray | None = None
    groups: tuple[pa.Array, ...] = ()
    class_names: npt.NDArray[Any] | None = None

    def id_values(self) -> list[Any]:
        """The ids as Python values (None for every sample without an id column)."""
        if self.ids is None:
            return [None] * len(self.index)
        return list(self.ids.to_pylist())


class SampleSink(Protocol):
    """Receives per-sample losses chunk by chunk, in input order."""

    def start(self) -> None:
        """Called before the first chunk, and again if scoring restarts."""

    def write(self, samples: Samples) -> None:
        """One chunk of samples."""


class CollectSamples:
    """A sink that keeps every sample, for ``per_sample`` in the report."""

    def __init__(self) -> None:
        self.samples: list[SampleLoss] = []

    def start(self) -> None:
        self.samples = []

    def write(self, samples: Samples) -> None:
        self.samples.extend(
            SampleLoss(i, d, str(label), v)
            for i, d, label, v in zip(
                samples.index.tolist(),
                samples.id_values(),
                samples.labels,
                samples.loss.tolist(),
                strict=True,
            )
        )


class Tee:
    """A sink that hands every chunk to several sinks."""

    def __init__(self, sinks: Sequence[SampleSink]) -> None:
        self.sinks = list(sinks)

    def start(self) -> None:
        for sink in self.sinks:
            sink.start()

    def write(self, samples: Samples) -> None:
        for sink in self.sinks:
            sink.write(samples)


@dataclass
class Pass:
    """What one pass over an input added up: the sums, the class names as the labels
    named them, and the evidence an ``--inputs auto`` decision is checked against."""

    accumulator: Accumulator
    classes: list[str]
    evidence: Evidence
    convention: Convention


def score(
    predictions: Any,
    *,
    options: ScoreOptions | None = None,
    sample_sink: SampleSink | None = None,
    progress: Callable[[int], None] | None = None,
    **option_values: Any,
) -> Report:
    """Score predictions against their labels.

    ``predictions`` is a file (any format), ``-`` for standard input, or a table in
    memory: a pandas or polars DataFrame, or a pyarrow Table, read with the same
    layout rules as a file. ``labels`` may likewise be a file or a table.
    Options are given as a :class:`~xent.options.ScoreOptions` or as keyword
    arguments of the same names, e.g. ``score("preds.csv", labels="y.csv",
    unit="bits")``. ``sample_sink`` receives per-sample losses as they are
    computed; ``progress`` is called with the number of rows done after each
    chunk.

    Raises :class:`~xent.errors.UsageError`, :class:`~xent.errors.InputError`
    or :class:`~xent.errors.DataError` (see :mod:`xent.errors`).

    >>> import pyarrow as pa
    >>> table = pa.table({"label": ["a", "b"], "p_a": [0.8, 0.3], "p_b": [0.2, 0.7]})
    >>> round(score(table).aggregate.loss, 6)
    0.289909
    """
    from xent.read.table import is_table, table_source

    labels = option_values.get("labels", options.labels if options else None)
    label_table = labels if is_table(labels) else None
    if label_table is not None:
        option_values["labels"] = "<labels>"
    elif labels is not None:
        option_values["labels"] = _path(labels, "labels")
    if not is_table(predictions):
        predictions = _path(predictions, "predictions")
    opts = replace(options or ScoreOptions(), **option_values).checked()
    if is_table(predictions) or label_table is not None:
        pred_source = (
            table_source("<table>", predictions)
            if is_table(predictions)
            else _open(predictions, opts, "predictions")
        )
        label_source = None
        if label_table is not None:
            label_source = table_source("<labels>", label_table)
        elif opts.labels is not None:
            label_source = _open(opts.labels, opts, "labels")
    else:
        pred_source, label_source = open_sources(predictions, opts)
    return score_source(pred_source, label_source, opts, sample_sink=sample_sink, progress=progress)


def open_sources(predictions: str, opts: ScoreOptions) -> tuple[Source, Source | None]:
    """Open the predictions and, when ``opts.labels`` names one, the labels file.

    Two NumPy files are paired by their shapes (arrays of any rank), so each is
    opened knowing the other's shape.
    """
    pred_format = detect_format(predictions, opts.input_format)
    label_format = detect_format(opts.labels, opts.labels_format) if opts.labels else None
    pred_partner = label_partner = None
    numpy = ("npy", "npz")
    if (
        opts.labels is not None
        and label_format in numpy
        and pred_format in numpy
        and os.path.isfile(opts.labels)
        and os.path.isfile(predictions)
    ):
        from xent.read.numpy import numpy_shape

        pred_partner = numpy_shape(opts.labels, opts.labels, label_format, "labels")
        label_partner = numpy_shape(predictions, predictions, pred_format, "predictions")
    pred_source = open_source(
        predictions,
        input_format=pred_format,
        request=ReadRequest(
            classes=opts.classes,
            role="predictions",
            header=not opts.no_header,
            class_axis=opts.class_axis,
            partner_shape=pred_partner,
        ),
    )
    label_source = None
    if opts.labels is not None:
        label_source = open_source(
            opts.labels,
            input_format=label_format,
            request=ReadRequest(
                classes=opts.classes,
                role="labels",
                header=not opts.labels_no_header,
                class_axis=opts.class_axis,
                partner_shape=label_partner,
            ),
        )
    return pred_source, label_source


def _path(value: Any, what: str) -> str:
    """A file name given as text or a path; anything else is a usage error."""
    if isinstance(value, str | os.PathLike):
        return str(os.fspath(value))
    raise UsageError(
        f"{what}: cannot score a {type(value).__name__}; give a file name, a pandas or polars "
        "DataFrame, or a pyarrow Table"
    )


def _open(path: str, opts: ScoreOptions, role: str) -> Source:
    """Open one file of a layout whose other half is a table in memory."""
    fmt = opts.input_format if role == "predictions" else opts.labels_format
    header = not (opts.no_header if role == "predictions" else opts.labels_no_header)
    return open_source(
        path,
        input_format=fmt,
        request=ReadRequest(
            classes=opts.classes, role=role, header=header, class_axis=opts.class_axis
        ),
    )


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
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=np.float64)
        if weights.shape != (pred.shape[0],):
            raise DataError(
                f"<arrays>: sample_weight has shape {weights.shape}; expected ({pred.shape[0]},)"
            )
        opts = replace(opts, weight_col="__weight__")
    from xent.read.numpy import array_source

    source = array_source(
        "<arrays>", "npy", pred=pred, label=label, classes=opts.classes, weights=weights
    )
    return score_source(source, None, opts)


def layout_of(predictions: Source, labels: Source | None, opts: ScoreOptions) -> Layout:
    """The column roles of ``predictions`` (and ``labels``) under the layout options."""
    return resolve_layout(predictions, labels, opts.layout_request())


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
    if opts.need_groups and not layout.group_names:
        raise UsageError("--max-group-loss needs groups: name the column with --by COLUMN")
    collector = CollectSamples() if opts.per_sample else None
    sinks: list[SampleSink] = [s for s in (sample_sink, collector) if s is not None]
    sink = Tee(sinks) if sinks else None
    decided = decide(
        opts.inputs,
        lambda inputs: run_pass(pred_source, layout, opts, inputs, sink=sink, progress=progress),
        lambda: any_outside_unit_interval(pred_source, layout, opts.ignore_label),
        choices=TRUE_CLASS if layout.sequence else CLASS_COLUMNS,
    )
    if decided.detected:
        decided.result.evidence.check(pred_source.name, decided.inputs)
    report = build_report(
        pred_source.name,
        label_source.name if label_source is not None else None,
        layout,
        decided.result.classes,
        opts,
        decided.inputs,
        decided.result.accumulator,
        header_lines=pred_source.header_lines,
        inputs_detected=decided.detected,
        convention=decided.result.convention,
    )
    if collector is not None:
        report.per_sample = collector.samples
    return report


def any_outside_unit_interval(source: Source, layout: Layout, ignore: Sequence[str]) -> bool:
    """True when some prediction value in ``source`` lies outside [0, 1]."""
    for chunk in chunks(source, layout, ignore=ignore):
        finite = chunk.values[np.isfinite(chunk.values)]
        if validation.outside_unit_interval(finite):
            return True
    return False


def run_pass(
    source: Source,
    layout: Layout,
    opts: ScoreOptions,
    inputs: str,
    *,
    first_index: int = 0,
    sink: SampleSink | None = None,
    progress: Callable[[int], None] | None = None,
) -> Pass:
    """Score every row of ``source`` into a mergeable accumulator.

    ``inputs`` is what the values are taken to be; under ``opts.inputs ==
    "auto"`` a pass raises :class:`~xent.inputs.NotProbabilities` when they may
    not be that. ``first_index`` is the input-wide index of the first row (for
    shards of a dataset).
    """
    scorer = _ChunkScorer(layout, opts, inputs, sink)
    if sink is not None:
        sink.start()
    rows_done = 0
    decoded = chunks(
        source,
        layout,
        ignore=opts.ignore_label,
        first_index=first_index,
        native_floats=scorer.widens,
    )
    try:
        for chunk in prefetched(decoded):
            rows_done += chunk.n_read
            scorer.add(chunk)
            if progress is not None:
                progress(rows_done)
    except DataError:
        if scorer.watching and inputs == "logits":
            # Taking the values for logits went wrong; a column of whole numbers
            # (an index or a counter scored as a class) is the likelier cause.
            scorer.evidence.check(source.name, inputs)
        raise
    except pa.ArrowException as exc:
        # A reader's error that no reader named: the input is damaged.
        if isinstance(exc, XentError):
            raise
        names_of = " or ".join(dict.fromkeys([source.name, layout.label_source.name]))
        raise InputError(f"{names_of}: cannot be read: {first_line(exc)}") from None
    except UnicodeDecodeError as exc:
        names_of = " or ".join(dict.fromkeys([source.name, layout.label_source.name]))
        raise InputError(
            f"{names_of}: holds text that is not UTF-8 "
            f"(byte {exc.object[exc.start : exc.start + 1]!r}); save the file as UTF-8"
        ) from None
    return Pass(scorer.accumulator, scorer.classes(), scorer.evidence, scorer.convention)


class _ChunkScorer:
    """One pass's state: validates, encodes and scores each chunk, adds it up and
    hands its samples to the sink."""

    def __init__(
        self, layout: Layout, opts: ScoreOptions, inputs: str, sink: SampleSink | None
    ) -> None:
        from xent.conventions import convention_for, parse_pos_weight
        from xent.metrics import TARGET_METRICS

        predicted = [m for m in opts.metrics if m not in TARGET_METRICS]
        if predicted and (layout.label_columns or layout.target):
            raise UsageError(
                f"--metrics {predicted[0]} needs each sample's predicted distribution and one "
                "true class (binary or multiclass columns), not --label-cols or true-class values"
            )
        entropy = any(m in TARGET_METRICS for m in opts.metrics)
        if entropy and layout.target:
            raise UsageError("--metrics kl,target-entropy need the predicted distribution")
        if layout.target and (opts.label_smoothing or opts.class_weights or opts.renormalize):
            raise UsageError(
                "true-class values give no other class: --label-smoothing, --class-weights "
                "and --renormalize need one column per class"
            )
        self.layout, self.opts, self.inputs, self.sink = layout, opts, inputs, sink
        self.encoder = LabelEncoder(
            layout.classes,
            binary=layout.binary_column,
            pos_label=layout.pos_label,
            column_names=layout.column_names,
        )
        acc = self.accumulator = Accumulator(
            layout.n_classes, top_k=opts.top, histogram_edges_nats=histogram_edges_nats(opts.unit)
        )
        if layout.group_names:
            acc.groups = GroupSums(layout.group_names)
        if layout.target and layout.label_column:
            acc.label_sums = GroupSums([layout.label_column])
        if (predicted or opts.calibration) and not (layout.label_columns or layout.target):
            from xent.metrics import MetricsAccumulator

            acc.metrics = MetricsAccumulator(layout.n_classes, opts.bins)
        convention = convention_for(
            like=opts.like,
            reduction=opts.reduction,
            eps=None if opts.eps_auto else opts.clip_eps,
            dtype=layout.prediction_dtype,
            task=layout.task,
            soft=layout.soft,
            inputs=inputs,
            pos_weight=parse_pos_weight(opts.pos_weight, layout.classes),
            focal_gamma=opts.focal_gamma,
            focal_alpha=opts.focal_alpha,
        )
        self.convention = convention
        self.plan = LossPlan(
            task=layout.task,
            n_classes=layout.n_classes,
            inputs=inputs,
            eps=convention.eps,
            label_smoothing=opts.label_smoothing,
            class_weights=_class_weight_vector(layout, opts.class_weights),
            soft=layout.soft,
            convention=convention,
            entropy=entropy,
        )
        self.evidence = Evidence(layout.prediction_columns)
        self.watching = opts.inputs == "auto"
        self.to_unit = 1.0 / math.log(2.0) if opts.unit == "bits" else 1.0
        self._names: npt.NDArray[Any] | None = None  # the class names, as of the last chunk
        self._class_list: list[str] = []  # ... and the list they were made from
        # Multiclass logits with hard labels and nothing else that reads the
        # values: the log-softmax pass widens float16/float32 arrays to float64
        # a few rows at a time and gives the range that validation needs, so a
        # chunk is read from memory once (loss.logits_norm).
        self.widens = (
            inputs == LOGITS
            and self.plan.convention.own
            and not self.plan.entropy
            and not self.plan.label_smoothing
            and layout.task != "multilabel"
            and len(layout.prediction_columns) > 1
            and not (layout.label_columns or layout.target or layout.sequence)
            and sink is None
            and acc.metrics is None
        )

    def classes(self) -> list[str]:
        """The class names (for true-class values: the label values, by label sums)."""
        if self.layout.target:
            sums = self.accumulator.label_sums
            return [label_text(k) for k in sums.keys] if sums is not None else []
        return self.encoder.classes

    def add(self, chunk: Chunk) -> None:
        """Score one chunk and add it up."""
        layout, acc = self.layout, self.accumulator
        acc.n_ignored += chunk.n_read - len(chunk.rows)
        if not len(chunk.rows):
            return
        log_norm, bounds = None, None
        if self.widens:
            log_norm, low, high = logits_norm(chunk.values)
            bounds = (low, high)
        values, renormalized = validation.checked_values(
            chunk.values,
            layout,
            self.inputs,
            chunk.where,
            renormalize=self.opts.renormalize,
            auto=self.watching,
            row_sums=not self.convention.normalize_rows,
            bounds=bounds,
        )
        acc.n_renormalized += renormalized
        if self.watching:
            self.evidence.add(values, self.inputs)
        y = None
        if chunk.targets is not None:
            validation.check_targets(
                chunk.targets, layout.label_columns, chunk.label_where, soft=layout.soft
            )
        elif chunk.labels is not None and not layout.target:
            y = self.encoder.encode(chunk.labels, chunk.label_where, layout.label_column or "label")
        if layout.weight_column:
            validation.check_weights(chunk.weights, layout.weight_column, chunk.where)
        scored = score_chunk(
            self.plan, values, chunk.weights, y=y, targets=chunk.targets, log_norm=log_norm
        )
        shown = self._shown(chunk, y)
        acc.add(
            scored,
            index=chunk.rows,
            labels=shown,
            ids=chunk.ids,
            groups=chunk.groups,
            label_values=chunk.labels if layout.target else None,
            sample_bytes=chunk.bytes,
        )
        if acc.metrics is not None and y is not None:
            from xent.metrics import probabilities

            acc.metrics.add(probabilities(values, self.inputs), y, scored.weight, scored.loss)
        if self.sink is not None:
            self.sink.write(
                Samples(
                    chunk.rows,
                    chunk.ids,
                    shown,
                    scored.loss * self.to_unit,
                    scored.weight,
                    chunk.values,
                    y,
                    chunk.targets,
                    chunk.groups,
                    self._names if y is not None and not layout.target else None,
                )
            )

    def _shown(self, chunk: Chunk, y: npt.NDArray[np.int64] | None) -> npt.NDArray[Any]:
        """The label shown for each sample: its class, its classes joined by ``|``
        (multilabel), or its label value (true-class values)."""
        if self.layout.target:
            if chunk.labels is None:
                return np.full(len(chunk.rows), "", dtype=object)
            return np.array(
                [label_text(v) for v in text_values(chunk.labels).to_pylist()], dtype=object
            )
        classes = self.encoder.classes
        if self._names is None or classes != self._class_list:
            self._names = np.asarray(classes, dtype=object)
            self._class_list = classes
        names = self._names
        if y is not None:
            shown: npt.NDArray[Any] = names[y]
            return shown
        targets = chunk.targets
        assert targets is not None
        if self.layout.task == "multilabel":
            return np.array(["|".join(names[row > 0.5]) for row in targets], dtype=object)
        picked: npt.NDArray[Any] = names[np.argmax(targets, axis=1)]
        return picked


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The items of ``items``, produced by a background thread up to ``depth`` ahead.

    Reading and decoding the next chunk (file reads and conversions, which
    release the GIL) overlaps with scoring this one. An exception in the
    producer is raised here, at the item where it happened; leaving the loop
    early stops the producer.
    """
    import queue
    import threading

    from xent import limits

    if limits.THREADS < 2:
        yield from items
        return
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="xent-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


def _class_weight_vector(layout: Layout, weights: Any) -> FloatArray | None:
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
