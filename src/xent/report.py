"""The report stage: the result of scoring, as plain data.

A :class:`Report` is what :func:`xent.score` returns and what every renderer
(table, JSON, CSV, Markdown) reads; :func:`build_report` makes one from a
(merged) accumulator. :meth:`Report.to_dict` produces the stable
``xent.score/1`` JSON object described in docs/json.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from xent.accumulate import Accumulator
    from xent.conventions import Convention
    from xent.frames import ReportFrames
    from xent.layout import Layout
    from xent.options import ScoreOptions

SCHEMA = "xent.score/1"


@dataclass(frozen=True)
class Aggregate:
    """The weighted mean loss over every scored sample, in the report's unit."""

    loss: float
    sum: float
    weight: float
    perplexity: float
    n_clipped: int
    #: With ``--bytes-col``: the bytes of text covered, and the summed loss in bits
    #: per byte (as lm-eval's ``bits_per_byte``: total nats / ln 2 / total bytes).
    bytes: float | None = None
    bits_per_byte: float | None = None


@dataclass(frozen=True)
class ClassLoss:
    """Loss of the samples whose true label is one class (multilabel: one label column).

    ``weight`` is the summed sample weight behind ``loss = sum / weight``;
    ``share`` is this class's part of the total summed loss.
    """

    name: str
    n: int
    loss: float
    sum: float
    weight: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        """The class as it appears in JSON (``per_class``)."""
        return {
            "class": self.name,
            "n": self.n,
            "loss": self.loss,
            "sum": self.sum,
            "share": self.share,
        }


@dataclass(frozen=True)
class SampleLoss:
    """One sample's loss. ``index`` is its 0-based row position in the input."""

    index: int
    id: Any
    label: str
    loss: float


@dataclass(frozen=True)
class Histogram:
    """Counts of per-sample losses (in the report's unit) between fixed edges.

    ``counts[i]`` counts losses in ``[edges[i], edges[i + 1])``; the last edge
    is ``inf``.
    """

    edges: list[float]
    counts: list[int]


@dataclass(frozen=True)
class Reference:
    """What the loss should be compared with, in the report's unit.

    ``uniform`` is the loss of predicting 1/K for every class; ``prior`` the
    loss of predicting the weighted label frequencies of the scored data (their
    entropy); ``d2`` the skill score 1 - loss / prior.
    """

    uniform: float
    prior: float
    d2: float


@dataclass(frozen=True)
class GateResult:
    """One quality gate: the measured value, its threshold and whether it passed."""

    gate: str
    value: float
    threshold: float
    passed: bool
    #: For a gate over groups: the groups above the threshold (highest loss first).
    failed_groups: tuple[str, ...] = ()
    n_failed: int = 0


class JsonRows:
    """A long JSON array of objects, made one at a time as it is written.

    :meth:`Report.json_object` puts one where a list could hold a million
    objects (groups, samples); :meth:`Report.to_dict` makes the list.
    """

    def __init__(
        self, rows: Callable[[], Iterator[dict[str, Any]]], n: int, source: Any = None
    ) -> None:
        self._rows, self._n = rows, n
        #: What the rows are made from (a :class:`GroupTable`, or the list of
        #: :class:`ClassLoss`), for a writer that can use it directly.
        self.source = source

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._rows()


@dataclass(frozen=True)
class GroupLoss:
    """The loss of one group of samples (``--by``).

    ``key`` maps each group column to the group's value; ``loss = sum / weight``
    (in the report's unit); ``share`` is the group's part of the total summed loss.
    """

    key: dict[str, Any]
    n: int
    loss: float
    sum: float
    weight: float
    perplexity: float
    share: float
    #: With ``--bytes-col``: the group's bytes of text and bits per byte.
    bytes: float | None = None
    bits_per_byte: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The group as it appears in JSON."""
        out = {
            "key": self.key,
            "n": self.n,
            "loss": self.loss,
            "sum": self.sum,
            "weight": self.weight,
            "perplexity": self.perplexity,
            "share": self.share,
        }
        if self.bytes is not None:
            out["bytes"] = self.bytes
            out["bits_per_byte"] = self.bits_per_byte
        return out


@dataclass(frozen=True)
class GroupSummary:
    """Figures over all groups: how many, the macro average (unweighted mean of the
    group losses) and the mean of the group perplexities."""

    n_groups: int
    macro_loss: float
    mean_perplexity: float


@dataclass
class GroupColumns:
    """A block of groups as columns: each group's key values (a tuple, one value per
    group column) and the figures of :meth:`GroupLoss.to_dict` by name, in its order."""

    keys: list[tuple[Any, ...]]
    columns: dict[str, list[Any]]

    def rows(self, names: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Each group as ``group.to_dict()`` gives it; ``names`` are the group columns."""
        figures = list(self.columns)
        for key, values in zip(self.keys, zip(*self.columns.values(), strict=True), strict=True):
            row: dict[str, Any] = {"key": dict(zip(names, key, strict=True))}
            row.update(zip(figures, values, strict=True))
            yield row


class GroupTable(Sequence[GroupLoss]):
    """Every group of a report, highest loss first, held as columns.

    A sequence of :class:`GroupLoss`; a million groups cost a few arrays, and
    rows are made only when they are read.
    """

    def __init__(
        self,
        names: Sequence[str],
        keys: Sequence[Any],
        n: Any,
        loss: Any,
        total: Any,
        weight: Any,
        share: Any,
        total_bytes: Any = None,
    ) -> None:
        self.names = tuple(names)
        self._keys = keys
        self._n, self._loss, self._sum, self._weight, self._share = n, loss, total, weight, share
        self._bytes = total_bytes

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, i: int) -> GroupLoss: ...

    @overload
    def __getitem__(self, i: slice) -> list[GroupLoss]: ...

    def __getitem__(self, i: int | slice) -> GroupLoss | list[GroupLoss]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        block = self._block(i, i + 1)
        figures = {name: values[0] for name, values in block.columns.items()}
        return GroupLoss(key=dict(zip(self.names, block.keys[0], strict=True)), **figures)

    #: Set by :func:`build_report`: how many nats one unit of ``loss`` is.
    nats_per_unit = 1.0

    def blocks(self) -> Iterator[GroupColumns]:
        """The groups a block at a time, as columns of plain Python values in the order
        of :meth:`GroupLoss.to_dict`: a million groups are read in under a second."""
        size = 1 << 14
        for start in range(0, len(self), size):
            yield self._block(start, min(start + size, len(self)))

    def _block(self, start: int, end: int) -> GroupColumns:
        """Groups ``start`` to ``end`` as columns (the one place their figures are made)."""
        per_unit = self.nats_per_unit
        loss = self._loss[start:end].tolist()
        total = self._sum[start:end].tolist()
        columns: dict[str, list[Any]] = {
            "n": self._n[start:end].tolist(),
            "loss": loss,
            "sum": total,
            "weight": self._weight[start:end].tolist(),
            "perplexity": [_exp_or_inf(v * per_unit) for v in loss],
            "share": self._share[start:end].tolist(),
        }
        if self._bytes is not None:
            sizes = self._bytes[start:end].tolist()
            columns["bytes"] = sizes
            columns["bits_per_byte"] = [
                bits_per_byte(t * per_unit, b) for t, b in zip(total, sizes, strict=True)
            ]
        keys = self._keys[start:end]
        return GroupColumns([k if len(self.names) > 1 else (k,) for k in keys], columns)

    def dicts(self) -> Iterator[dict[str, Any]]:
        """Each group as it appears in JSON (what ``group.to_dict()`` gives)."""
        for block in self.blocks():
            yield from block.rows(self.names)

    @property
    def counts(self) -> Any:
        """Samples per group (a NumPy array, in the table's order)."""
        return self._n

    @property
    def losses(self) -> Any:
        """Loss per group in the report's unit (a NumPy array, in the table's order)."""
        return self._loss

    @property
    def weights(self) -> Any:
        """Summed weight per group (a NumPy array, in the table's order)."""
        return self._weight

    def name(self, i: int) -> str:
        """Group ``i`` as people read it: ``lang=en`` or ``lang=en, source=web``."""
        key = self._keys[i]
        values = key if len(self.names) > 1 else (key,)
        return group_name(dict(zip(self.names, values, strict=True)))


@dataclass
class Report:
    """Everything ``xent score`` measured and what it detected in the input."""

    predictions: str
    labels: str | None
    task: str
    inputs: str
    unit: str
    classes: list[str]
    n_samples: int
    n_ignored: int
    aggregate: Aggregate
    per_class: list[ClassLoss]
    reference: Reference
    histogram: Histogram
    top: list[SampleLoss]
    per_sample: list[SampleLoss] | None = None
    gates: list[GateResult] = field(default_factory=list)
    id_column: str | None = None
    #: The saved row index recognised in the predictions (pandas' index, R's row names).
    index_column: str | None = None
    label_column: str | None = None
    prediction_columns: list[str] = field(default_factory=list)
    inputs_detected: bool = False
    n_renormalized: int = 0
    eps: float = 0.0
    version: str = ""
    metrics: dict[str, Any] | None = None
    #: Confidence bins (edges, count, weight, confidence, accuracy) when computed.
    calibration: dict[str, Any] | None = None
    #: Header lines before the data in the predictions file (None: not a text format).
    header_lines: int | None = None
    #: Things the user should know that do not stop scoring (printed on stderr).
    warnings: list[str] = field(default_factory=list)
    #: The ``--by`` columns, every group (highest loss first) and their summary.
    by: list[str] = field(default_factory=list)
    groups: GroupTable | None = None
    group_summary: GroupSummary | None = None
    #: The convention the numbers follow: ``like`` and ``reduction``.
    convention: dict[str, str] = field(
        default_factory=lambda: {"like": "sklearn", "reduction": "weighted-mean"}
    )

    @property
    def passed(self) -> bool:
        """True when every gate passed (and when there are none)."""
        return all(gate.passed for gate in self.gates)

    def to_dict(self) -> dict[str, Any]:
        """The report as the ``xent.score/1`` JSON object.

        Non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"``
        so that every JSON parser reads the result.
        """
        out = self.json_object()
        for name, value in out.items():
            if isinstance(value, JsonRows):
                out[name] = [json_safe(row) for row in value]
        return out

    def json_object(self) -> dict[str, Any]:
        """The ``xent.score/1`` object as the JSON renderer writes it: like
        :meth:`to_dict`, but each long array of objects (``per_class``, ``groups``,
        ``per_sample``) a :class:`JsonRows`, whose objects may hold non-finite floats."""
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "xent": self.version,
            "source": {"predictions": self.predictions, "labels": self.labels},
            "task": self.task,
            "inputs": self.inputs,
            "unit": self.unit,
            "classes": list(self.classes),
            "n_samples": self.n_samples,
            "n_ignored": self.n_ignored,
            "convention": dict(self.convention),
            "aggregate": {
                "loss": self.aggregate.loss,
                "sum": self.aggregate.sum,
                "weight": self.aggregate.weight,
                "perplexity": self.aggregate.perplexity,
                "n_clipped": self.aggregate.n_clipped,
                **(
                    {"bytes": self.aggregate.bytes, "bits_per_byte": self.aggregate.bits_per_byte}
                    if self.aggregate.bytes is not None
                    else {}
                ),
            },
            "per_class": JsonRows(
                lambda: (c.to_dict() for c in self.per_class), len(self.per_class), self.per_class
            ),
            "reference": {
                "uniform": self.reference.uniform,
                "prior": self.reference.prior,
                "d2": self.reference.d2,
            },
            "top": [_sample_dict(s) for s in self.top],
            "detected": {
                "inputs_auto": self.inputs_detected,
                "label_column": self.label_column,
                "prediction_columns": list(self.prediction_columns),
                "id_column": self.id_column,
                "index_column": self.index_column,
                "eps": self.eps,
                "n_renormalized": self.n_renormalized,
            },
            "histogram": {
                "edges": list(self.histogram.edges),
                "counts": list(self.histogram.counts),
            },
        }
        if self.metrics is not None:
            out["metrics"] = self.metrics
        if self.groups is not None and self.group_summary is not None:
            out["by"] = list(self.by)
            out["groups"] = JsonRows(self.groups.dicts, len(self.groups), source=self.groups)
            out["group_summary"] = {
                "n_groups": self.group_summary.n_groups,
                "macro_loss": self.group_summary.macro_loss,
                "mean_perplexity": self.group_summary.mean_perplexity,
            }
        if self.per_sample is not None:
            per_sample = self.per_sample
            out["per_sample"] = JsonRows(lambda: map(_sample_dict, per_sample), len(per_sample))
        out["warnings"] = list(self.warnings)
        out["gates"] = [gate_dict(g) for g in self.gates]
        out["passed"] = self.passed
        safe: dict[str, Any] = json_safe(out)
        return safe

    def to_pandas(self) -> ReportFrames:
        """The report's tables as pandas DataFrames: ``per_class``, ``top``, ``gates``,
        and ``per_sample`` (when kept) and ``groups`` (with groups); see
        :class:`xent.frames.ReportFrames`. pandas is imported only here."""
        from xent.frames import report_frames

        return report_frames(self)

    def _repr_html_(self) -> str:
        """The report as HTML, for notebooks (:mod:`xent.render.html`)."""
        from xent.render.html import render_report

        return render_report(self)

    def _repr_markdown_(self) -> str:
        """The report as Markdown, as ``--format markdown`` writes it."""
        from xent.render.markdown import render_markdown

        return render_markdown(self)


def key_text(value: Any) -> str:
    """A group key value as people read it (a null key is ``(null)``)."""
    return "(null)" if value is None else str(value)


def group_name(key: dict[str, Any]) -> str:
    """A group as people read it: ``lang=en`` or ``lang=en, source=web``."""
    return ", ".join(f"{name}={key_text(value)}" for name, value in key.items())


def gate_dict(gate: GateResult) -> dict[str, Any]:
    """A gate as it appears in JSON (``failed_groups`` only for gates over groups)."""
    out: dict[str, Any] = {
        "gate": gate.gate,
        "value": gate.value,
        "threshold": gate.threshold,
        "passed": gate.passed,
    }
    if gate.gate.startswith("max-group"):
        out["failed_groups"] = list(gate.failed_groups)
        out["n_failed"] = gate.n_failed
    return out


def _sample_dict(sample: SampleLoss) -> dict[str, Any]:
    return {"index": sample.index, "id": sample.id, "label": sample.label, "loss": sample.loss}


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by the strings ``"inf"``, ``"-inf"`` and ``"nan"``, recursively."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def bits_per_byte(nats: float, n_bytes: float) -> float:
    """Summed loss in bits per byte of text (NaN when there are no bytes)."""
    return nats / math.log(2.0) / n_bytes if n_bytes > 0 else math.nan


def _exp_or_inf(x: float) -> float:
    """exp(x), or inf where it overflows float64."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def build_report(
    predictions: str,
    labels: str | None,
    layout: Layout,
    classes: list[str],
    opts: ScoreOptions,
    inputs: str,
    acc: Accumulator,
    *,
    header_lines: int | None = None,
    inputs_detected: bool = False,
    convention: Convention | None = None,
) -> Report:
    """The report of a (merged) accumulator over the input named ``predictions``.

    The convention's reduction divides every summed loss: by the summed weight
    (weighted-mean), by the number of samples, or elements of a multilabel
    sample (mean), or not at all (sum).
    """
    import numpy as np

    from xent.conventions import Convention

    convention = convention or Convention()
    elements = layout.n_classes if layout.task == "multilabel" else 1

    def reduce(total: Any, weight: Any, count: Any) -> Any:
        if convention.reduction == "sum":
            return total
        if convention.reduction == "mean":
            return total / count
        return total / weight

    from xent import __version__
    from xent.accumulate import HISTOGRAM_EDGES, binary_entropy_nats, entropy_nats
    from xent.errors import DataError

    if acc.n_samples == 0:
        if acc.n_ignored:
            ignored = ", ".join(repr(v) for v in opts.ignore_label)
            which = f"the ignored label {ignored}"
            if len(opts.ignore_label) > 1:
                which = f"one of the ignored labels {ignored}"
            raise DataError(
                f"{predictions}: all {acc.n_ignored} rows have {which}; nothing is left to score"
            )
        raise DataError(f"{predictions}: no data rows to score")
    if layout.target:
        # No fixed classes: the aggregate is over every sample, the classes are the
        # label values seen (if there are labels).
        total_sum, total_weight = acc.total_loss, acc.total_weight
    else:
        total_sum = float(acc.loss_sum.sum())
        total_weight = float(acc.weight_sum.sum())
    if total_weight <= 0.0 and convention.reduction == "weighted-mean":
        raise DataError(
            f"{predictions}: the weights of the scored rows add up to 0; nothing to average"
        )
    scale = 1.0 / math.log(2.0) if opts.unit == "bits" else 1.0
    total_count = acc.n_samples * elements
    loss_nats = reduce(total_sum, total_weight, total_count)
    # Perplexity and the reference points are of a mean loss (of a sum's weighted mean).
    mean_nats = loss_nats if convention.reduction != "sum" else total_sum / total_weight
    labels_seen = acc.label_sums
    if layout.target and labels_seen is not None:
        loss_sum, weight_sum, count = (
            labels_seen.loss_sum,
            labels_seen.weight_sum,
            labels_seen.count,
        )
    else:
        loss_sum, weight_sum, count = acc.loss_sum, acc.weight_sum, acc.count
    with np.errstate(divide="ignore", invalid="ignore"):
        class_loss = reduce(loss_sum, weight_sum, count)
        share = loss_sum / total_sum if total_sum else np.zeros_like(loss_sum)
    per_class = [
        ClassLoss(
            name=name,
            n=int(count[c]),
            loss=float(class_loss[c]) * scale,
            sum=float(loss_sum[c]) * scale,
            weight=float(weight_sum[c]),
            share=float(share[c]),
        )
        for c, name in enumerate(classes)
    ]
    if layout.task == "multilabel":
        prior = float(
            np.mean(
                [
                    binary_entropy_nats(float(m / w)) if w > 0 else math.nan
                    for m, w in zip(acc.target_mass, acc.weight_sum, strict=True)
                ]
            )
        )
        uniform = math.log(2.0)
    elif layout.target:
        # The number of classes is not known: there is no uniform reference.
        prior = entropy_nats(weight_sum) if len(weight_sum) else math.nan
        uniform = math.nan
    else:
        prior = entropy_nats(acc.target_mass)
        uniform = math.log(layout.n_classes)
    d2 = 1.0 - mean_nats / prior if prior > 0 else math.nan
    metrics = acc.metrics
    groups, summary = _groups(acc, scale, total_sum, reduce, elements)
    metric_values = (
        metrics.result(opts.metrics, scale) if metrics is not None and opts.metrics else None
    )
    if any(m in ("kl", "target-entropy") for m in opts.metrics):
        entropy = reduce(acc.total_entropy, total_weight, total_count) * scale
        metric_values = dict(metric_values or {})
        metric_values["target_entropy"] = entropy
        metric_values["kl"] = loss_nats * scale - entropy
    return Report(
        predictions=predictions,
        labels=labels,
        task=layout.task,
        inputs=inputs,
        unit=opts.unit,
        classes=classes,
        n_samples=acc.n_samples,
        n_ignored=acc.n_ignored,
        aggregate=Aggregate(
            loss=loss_nats * scale,
            sum=total_sum * scale,
            weight=total_weight,
            perplexity=_exp_or_inf(mean_nats),
            n_clipped=acc.n_clipped,
            bytes=acc.total_bytes,
            bits_per_byte=(
                None if acc.total_bytes is None else bits_per_byte(total_sum, acc.total_bytes)
            ),
        ),
        per_class=per_class,
        reference=Reference(uniform=uniform * scale, prior=prior * scale, d2=d2),
        histogram=Histogram(edges=[*HISTOGRAM_EDGES, math.inf], counts=acc.histogram.tolist()),
        top=[SampleLoss(index=i, id=d, label=lab, loss=v * scale) for i, d, lab, v in acc.worst()],
        id_column=layout.id_column,
        index_column=layout.index_column,
        label_column=layout.label_column,
        prediction_columns=list(layout.prediction_columns),
        inputs_detected=inputs_detected,
        n_renormalized=acc.n_renormalized,
        eps=convention.eps if inputs in ("probs", "target-probs") else 0.0,
        metrics=metric_values,
        calibration=(metrics.result(("ece",), scale)["calibration"] if metrics else None),
        header_lines=header_lines,
        warnings=list(layout.warnings),
        version=__version__,
        by=list(layout.group_names),
        groups=groups,
        group_summary=summary,
        convention={"like": convention.like, "reduction": convention.reduction},
    )


def _groups(
    acc: Accumulator,
    scale: float,
    total_sum: float,
    reduce: Callable[[Any, Any, Any], Any],
    elements: int,
) -> tuple[GroupTable | None, GroupSummary | None]:
    """The groups of an accumulator, highest loss first, and their summary."""
    import numpy as np

    sums = acc.groups
    if sums is None:
        return None, None
    with np.errstate(divide="ignore", invalid="ignore"):
        loss_nats = reduce(sums.loss_sum, sums.weight_sum, sums.count * elements)
        share = sums.loss_sum / total_sum if total_sum else np.zeros_like(sums.loss_sum)
    # Highest loss first; a group with no weight (NaN) last; ties in order of appearance.
    order = np.lexsort(
        (
            np.arange(len(sums)),
            np.isnan(loss_nats),
            -np.nan_to_num(loss_nats, nan=0.0, posinf=np.inf),
        )
    )
    every_key = sums.keys
    keys = [every_key[i] for i in order.tolist()]
    table = GroupTable(
        sums.names,
        keys,
        sums.count[order],
        loss_nats[order] * scale,
        sums.loss_sum[order] * scale,
        sums.weight_sum[order],
        share[order],
        None if sums.bytes_sum is None else sums.bytes_sum[order],
    )
    table.nats_per_unit = 1.0 / scale
    finite = loss_nats[~np.isnan(loss_nats)]
    with np.errstate(over="ignore"):
        perplexities = np.exp(finite)
    summary = GroupSummary(
        n_groups=len(sums),
        macro_loss=float(finite.mean() * scale) if len(finite) else math.nan,
        mean_perplexity=float(perplexities.mean()) if len(finite) else math.nan,
    )
    return table, summary
