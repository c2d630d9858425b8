"""Paired comparison of two prediction sets on the same labels (``xent compare``).

Both sets are scored with the same options; their per-sample losses are paired
by row (or by id) and the mean per-sample difference (candidate - base) gets a
bootstrap confidence interval.

The bootstrap resamples *groups* of samples: with at most
:data:`BOOTSTRAP_GROUPS` samples every sample is its own group (the ordinary
bootstrap); above that, samples are dealt at random into that many groups of
(nearly) equal size and whole groups are resampled. For independent samples
this gives the same sampling distribution of the mean, at a cost of
``bootstrap x groups`` instead of ``bootstrap x samples``: a million samples
with 1000 resamples takes about half a second, where resampling the samples
themselves takes about a minute (``benchmarks/bench_bootstrap.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent.errors import DataError, UsageError
from xent.gates import NAMED_GROUPS, Allowance
from xent.join import DuplicateId, IdIndex, repeats
from xent.options import ScoreOptions
from xent.pipeline import Samples, score
from xent.read import describe_row
from xent.read.arrow import text_values
from xent.report import GateResult, Report, gate_dict, group_name, json_safe

SCHEMA = "xent.compare/1"
#: Most groups the bootstrap resamples (see the module docstring).
BOOTSTRAP_GROUPS = 10_000
#: Resamples drawn at once (bounds memory to about RESAMPLE_BATCH x groups integers).
RESAMPLE_BATCH = 50

if TYPE_CHECKING:
    from xent.frames import ComparisonFrames

FloatArray = npt.NDArray[np.float64]


class _PairSink:
    """Keeps every sample's index, id, label, loss, weight and group keys.

    What can be implicit stays so (a million pairs of a plain file keep a loss
    and a label code each, about 9 MB a side, not 45): row indices that run on
    from 0 without a gap, weights that are all 1, and labels that are class names
    (kept as codes into the names). Ids are kept unless ``keep_ids`` is false.
    """

    def __init__(self, *, keep_ids: bool = True) -> None:
        self.keep_ids = keep_ids
        self.start()

    def start(self) -> None:
        self.n = 0
        self.index: _Column | None = None  # None: rows 0 .. n-1
        self.weight: _Column | None = None  # None: every weight is 1
        self.codes: _Column | None = _Column(np.int32)  # None: labels kept as objects
        self.class_names: npt.NDArray[Any] | None = None
        self.labels: _Column | None = None
        self.ids: list[pa.Array] = []
        self.loss = _Column(np.float64)
        self.groups: list[tuple[pa.Array, ...]] = []

    def write(self, samples: Samples) -> None:
        n = len(samples.loss)
        index = np.asarray(samples.index, dtype=np.int64)
        if self.index is None and not np.array_equal(index, np.arange(self.n, self.n + n)):
            self.index = _Column(np.int64, np.arange(self.n))
        if self.index is not None:
            self.index.append(index)
        if self.weight is None and not np.all(samples.weight == 1.0):
            self.weight = _Column(np.float64, np.ones(self.n))
        if self.weight is not None:
            self.weight.append(samples.weight)
        self._add_labels(samples)
        if samples.ids is not None and self.keep_ids:
            self.ids.append(samples.ids)
        self.loss.append(samples.loss)
        if samples.groups:
            self.groups.append(tuple(text_values(g) for g in samples.groups))
        self.n += n

    def _add_labels(self, samples: Samples) -> None:
        names, y = samples.class_names, samples.y
        if self.codes is not None:
            same_names = (
                self.class_names is None
                or names is self.class_names
                or (names is not None and np.array_equal(names, self.class_names))
            )
            if names is not None and y is not None and same_names:
                self.class_names = names
                self.codes.append(y)
                return
            # Labels that are not class names (or names that changed): objects from here on.
            before = self.codes.whole()
            self.labels = _Column(
                object, self.class_names[before] if self.class_names is not None else None
            )
            self.codes = self.class_names = None
        assert self.labels is not None
        self.labels.append(np.asarray(samples.labels, dtype=object))

    def arrays(self) -> SampleArrays:
        """Every sample kept, as whole arrays (the sink is emptied)."""
        groups = tuple(pa.concat_arrays(list(column)) for column in zip(*self.groups, strict=True))
        ids = _concat(self.ids) if self.ids else None
        self.ids = []
        arrays = SampleArrays(
            loss=self.loss.whole(),
            ids=ids,
            groups=groups,
            rows=None if self.index is None else self.index.whole(),
            weights=None if self.weight is None else self.weight.whole(),
            codes=None if self.codes is None else self.codes.whole(),
            class_names=self.class_names,
            label_values=None if self.labels is None else self.labels.whole(),
        )
        self.start()
        return arrays


class _Column:
    """Arrays appended chunk by chunk into one buffer that doubles when full.

    :meth:`whole` is a view of the buffer, not a copy: memory holds the column
    once (a buffer's untouched tail is never paged in), where gathering the
    chunks and joining them at the end would hold it twice.
    """

    def __init__(self, dtype: Any, first: npt.NDArray[Any] | None = None) -> None:
        self.buffer: npt.NDArray[Any] = np.empty(1 << 12, dtype=dtype)
        self.n = 0
        if first is not None:
            self.append(first)

    def append(self, values: npt.NDArray[Any]) -> None:
        end = self.n + len(values)
        if end > len(self.buffer):
            grown = np.empty(max(end, 2 * len(self.buffer)), dtype=self.buffer.dtype)
            grown[: self.n] = self.buffer[: self.n]
            self.buffer = grown
        self.buffer[self.n : end] = values
        self.n = end

    def whole(self) -> npt.NDArray[Any]:
        return self.buffer[: self.n]


@dataclass
class SampleArrays:
    """Every scored sample of one prediction set, in input order.

    ``rows`` (each sample's input row) is None when they are 0, 1, ... n - 1;
    ``weights`` None when every weight is 1; the labels are ``codes`` into
    ``class_names`` or, when they are not class names, ``label_values``.
    """

    loss: FloatArray
    #: The ids (Arrow arrays: a million of them take megabytes, not a hundred).
    ids: pa.Array | pa.ChunkedArray | None
    groups: tuple[pa.Array, ...] = ()
    rows: npt.NDArray[np.int64] | None = None
    weights: FloatArray | None = None
    codes: npt.NDArray[np.int32] | None = None
    class_names: npt.NDArray[Any] | None = None
    label_values: npt.NDArray[Any] | None = None

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def index(self) -> npt.NDArray[np.int64]:
        """Each sample's 0-based input row."""
        return np.arange(len(self.loss)) if self.rows is None else self.rows

    @property
    def weight(self) -> FloatArray:
        """Each sample's weight (a read-only view of 1.0 when all are 1)."""
        if self.weights is None:
            return np.broadcast_to(np.float64(1.0), len(self.loss))
        return self.weights

    @property
    def labels(self) -> npt.NDArray[Any]:
        """Each sample's label as shown (objects)."""
        if self.codes is not None and self.class_names is not None:
            shown: npt.NDArray[Any] = self.class_names[self.codes]
            return shown
        assert self.label_values is not None
        return self.label_values

    def row(self, i: int) -> int:
        """The input row of sample ``i``."""
        return i if self.rows is None else int(self.rows[i])

    def label(self, i: int) -> Any:
        """The label of sample ``i``."""
        if self.codes is not None and self.class_names is not None:
            return self.class_names[self.codes[i]]
        assert self.label_values is not None
        return self.label_values[i]

    def same_rows(self, other: SampleArrays) -> bool:
        """True when both hold the same input rows, in the same order."""
        if len(self) != len(other):
            return False
        if self.rows is None and other.rows is None:
            return True
        return bool(np.array_equal(self.index, other.index))

    def label_mismatch(self, other: SampleArrays) -> npt.NDArray[np.bool_]:
        """Where the labels of the samples (in the same order) differ."""
        if (
            self.codes is not None
            and other.codes is not None
            and self.class_names is not None
            and other.class_names is not None
            and np.array_equal(self.class_names, other.class_names)
        ):
            mismatch: npt.NDArray[np.bool_] = self.codes != other.codes
            return mismatch
        return np.asarray(self.labels != other.labels, dtype=bool)

    def take(self, order: npt.NDArray[np.int64]) -> SampleArrays:
        """The samples in the order ``order``."""
        return SampleArrays(
            loss=self.loss[order],
            ids=None if self.ids is None else self.ids.take(pa.array(order)),
            groups=tuple(g.take(pa.array(order)) for g in self.groups),
            rows=self.index[order],
            weights=None if self.weights is None else self.weights[order],
            codes=None if self.codes is None else self.codes[order],
            class_names=self.class_names,
            label_values=None if self.label_values is None else self.label_values[order],
        )


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval of the mean difference."""

    low: float
    high: float
    confidence: float
    resamples: int
    seed: int | None
    groups: int


@dataclass(frozen=True)
class ClassDifference:
    """One class's loss under each model and the difference (candidate - base)."""

    name: str
    n: int
    base: float
    candidate: float
    difference: float


@dataclass(frozen=True)
class GroupDifference:
    """One group's loss under each model, the mean paired difference (candidate -
    base) with its bootstrap interval, and whether the interval excludes 0
    (``"worse"`` or ``"better"``; None when it does not)."""

    key: dict[str, Any]
    n: int
    base: float
    candidate: float
    difference: float
    ci_low: float
    ci_high: float
    significant: str | None

    def to_dict(self) -> dict[str, Any]:
        """The group as it appears in JSON."""
        return {
            "key": self.key,
            "n": self.n,
            "base": self.base,
            "candidate": self.candidate,
            "difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "significant": self.significant,
        }


@dataclass(frozen=True)
class PairedSample:
    """One sample's loss under each model."""

    index: int
    id: Any
    label: str
    base: float
    candidate: float
    difference: float


@dataclass
class Comparison:
    """The result of ``xent compare``: both reports and their paired difference."""

    base: Report
    candidate: Report
    mean_difference: float
    interval: Interval
    n_better: int
    n_worse: int
    n_tied: int
    per_class: list[ClassDifference]
    most_worse: list[PairedSample]
    paired_by: str
    gates: list[GateResult] = field(default_factory=list)
    samples: SampleArrays | None = None
    candidate_samples: SampleArrays | None = None
    #: With ``--by``: the group columns and every group, most worse first.
    by: list[str] = field(default_factory=list)
    groups: list[GroupDifference] | None = None

    @property
    def passed(self) -> bool:
        """True when every gate passed (and when there are none)."""
        return all(g.passed for g in self.gates)

    @property
    def unit(self) -> str:
        """The unit of every loss in the comparison."""
        return self.base.unit

    def to_dict(self) -> dict[str, Any]:
        """The comparison as the ``xent.compare/1`` JSON object."""
        base, cand = self.base, self.candidate
        relative = self.mean_difference / base.aggregate.loss if base.aggregate.loss else math.nan
        out = {
            "schema": SCHEMA,
            "xent": base.version,
            "source": {
                "base": base.predictions,
                "candidate": cand.predictions,
                "labels": base.labels,
            },
            "task": base.task,
            "inputs": {"base": base.inputs, "candidate": cand.inputs},
            "unit": base.unit,
            "classes": list(base.classes),
            "n_samples": base.n_samples,
            "n_ignored": base.n_ignored,
            "paired_by": self.paired_by,
            "base": _model(base),
            "candidate": _model(cand),
            "difference": {
                "mean": self.mean_difference,
                "relative": relative,
                "ci_low": self.interval.low,
                "ci_high": self.interval.high,
                "confidence": self.interval.confidence,
                "bootstrap": self.interval.resamples,
                "bootstrap_groups": self.interval.groups,
                "seed": self.interval.seed,
            },
            "n_better": self.n_better,
            "n_worse": self.n_worse,
            "n_tied": self.n_tied,
            "per_class": [
                {
                    "class": c.name,
                    "n": c.n,
                    "base": c.base,
                    "candidate": c.candidate,
                    "difference": c.difference,
                }
                for c in self.per_class
            ],
            "most_worse": [
                {
                    "index": s.index,
                    "id": s.id,
                    "label": s.label,
                    "base": s.base,
                    "candidate": s.candidate,
                    "difference": s.difference,
                }
                for s in self.most_worse
            ],
            "gates": [gate_dict(g) for g in self.gates],
            "passed": self.passed,
        }
        if self.groups is not None:
            out["by"] = list(self.by)
            out["groups"] = [g.to_dict() for g in self.groups]
        safe: dict[str, Any] = json_safe(out)
        return safe

    def to_pandas(self) -> ComparisonFrames:
        """The comparison's tables as pandas DataFrames: ``per_class``, ``most_worse``,
        ``gates``, ``pairs`` (every paired sample) and ``groups`` (with ``--by``); see
        :class:`xent.frames.ComparisonFrames`. pandas is imported only here."""
        from xent.frames import comparison_frames

        return comparison_frames(self)

    def _repr_html_(self) -> str:
        """The comparison as HTML, for notebooks (:mod:`xent.render.html`)."""
        from xent.render.html import render_comparison

        return render_comparison(self)

    def _repr_markdown_(self) -> str:
        """The comparison as Markdown, as ``--format markdown`` writes it."""
        from xent.render.markdown import render_comparison

        return render_comparison(self)


def _model(report: Report) -> dict[str, Any]:
    return {
        "loss": report.aggregate.loss,
        "perplexity": report.aggregate.perplexity,
        "n_clipped": report.aggregate.n_clipped,
    }


def compare(
    base: str,
    candidate: str,
    *,
    options: ScoreOptions | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int | None = None,
    top: int = 5,
    max_increase: str | None = None,
    significant: bool = False,
) -> Comparison:
    """Score ``base`` and ``candidate`` against the same labels and pair them.

    Samples are paired by row, or by ``options.id_col`` when it is given.
    Pairs whose labels differ, and ids missing or repeated on one side, are a
    :class:`~xent.errors.DataError`. ``max_increase`` (``"0.01"`` or ``"5%"`` of
    the base loss) adds a gate; with ``significant`` it fails only when the
    whole confidence interval lies above the allowance.
    """
    if bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, not {bootstrap}")
    if not (0.0 < confidence < 1.0):
        raise UsageError(f"--confidence must be between 0 and 1, not {confidence}")
    allowance = Allowance.parse(max_increase) if max_increase is not None else None
    if significant and allowance is None:
        raise UsageError("--significant needs --max-increase (the allowance to test against)")
    if significant and bootstrap == 0:
        raise UsageError("--significant needs a confidence interval: --bootstrap must be > 0")
    opts = options or ScoreOptions()
    # The candidate's ids serve only to pair by id (what is shown is the base's).
    base_sink, cand_sink = _PairSink(), _PairSink(keep_ids=bool(opts.id_col))
    base_report = score(base, options=opts, sample_sink=base_sink)
    cand_report = score(candidate, options=opts, sample_sink=cand_sink)
    if cand_report.classes != base_report.classes or cand_report.task != base_report.task:
        raise DataError(
            f"{candidate}: scores a {cand_report.task} task with the classes "
            f"{', '.join(cand_report.classes)}, but {base} a {base_report.task} task with "
            f"{', '.join(base_report.classes)}; both prediction sets must score the same classes"
        )
    b, c = base_sink.arrays(), cand_sink.arrays()
    by_id = bool(opts.id_col) and b.ids is not None and c.ids is not None
    c = _align(b, c, base, candidate, by_id, cand_report)
    diff = c.loss - b.loss
    total = float(len(diff)) if b.weights is None else float(b.weights.sum())
    weighted = diff if b.weights is None else b.weights * diff
    with np.errstate(invalid="ignore"):
        mean = float(weighted.sum() / total) if total > 0 else math.nan
    interval = bootstrap_interval(
        diff, b.weights, resamples=bootstrap, confidence=confidence, seed=seed
    )
    comparison = Comparison(
        base=base_report,
        candidate=cand_report,
        mean_difference=mean,
        interval=interval,
        n_better=int(np.count_nonzero(diff < 0)),
        n_worse=int(np.count_nonzero(diff > 0)),
        n_tied=int(np.count_nonzero(diff == 0)),
        per_class=[
            ClassDifference(bc.name, bc.n, bc.loss, cc.loss, cc.loss - bc.loss)
            for bc, cc in zip(base_report.per_class, cand_report.per_class, strict=True)
        ],
        most_worse=_most_worse(b, c, diff, top),
        paired_by="id" if by_id else "row",
        samples=b,
        candidate_samples=c,
    )
    if b.groups:
        comparison.by = list(opts.by)
        comparison.groups = _group_differences(
            b, c, opts.by, bootstrap, confidence, seed, base_report.unit
        )
    if allowance is not None:
        threshold = allowance.threshold(base_report.aggregate.loss)
        value = interval.low if significant else mean
        name = "max-increase (significant)" if significant else "max-increase"
        passed = bool(value <= threshold) if not math.isnan(value) else False
        comparison.gates.append(GateResult(name, value, threshold, passed))
        if comparison.groups is not None:
            comparison.gates.append(_group_gate(comparison.groups, allowance, significant))
    return comparison


def _group_differences(
    b: SampleArrays,
    c: SampleArrays,
    by: Sequence[str],
    resamples: int,
    confidence: float,
    seed: int | None,
    unit: str,
) -> list[GroupDifference]:
    """Per group (of the base's ``--by`` columns): both losses, the mean paired
    difference and its bootstrap interval; most worse first."""
    from xent.accumulate import GroupSums

    sums = GroupSums(by)
    codes = sums.codes(b.groups)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(sums) + 1))
    seeds = np.random.SeedSequence(seed).spawn(len(sums))
    out = []
    for g, key in enumerate(sums.keys):
        rows = order[bounds[g] : bounds[g + 1]]
        w = b.weight[rows]
        total = float(w.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            base_loss = float((w * b.loss[rows]).sum() / total)
            cand_loss = float((w * c.loss[rows]).sum() / total)
            diff = c.loss[rows] - b.loss[rows]
            mean = float((w * diff).sum() / total)
        interval = bootstrap_interval(
            diff, w, resamples=resamples, confidence=confidence, seed=seeds[g]
        )
        verdict = None
        if interval.low > 0:
            verdict = "worse"
        elif interval.high < 0:
            verdict = "better"
        values = key if len(by) > 1 else (key,)
        out.append(
            GroupDifference(
                key=dict(zip(by, values, strict=True)),
                n=len(rows),
                base=base_loss,
                candidate=cand_loss,
                difference=mean,
                ci_low=interval.low,
                ci_high=interval.high,
                significant=verdict,
            )
        )
    out.sort(key=lambda d: -d.difference if d.difference == d.difference else math.inf)
    return out


@dataclass(frozen=True)
class GroupIncrease:
    """One group as ``--max-group-increase`` judges it: its ``value`` (the mean
    difference, or with ``--significant`` the low end of its interval) against
    ``allowed`` (a percentage is of the group's own base loss)."""

    group: GroupDifference
    value: float
    allowed: float

    @property
    def failed(self) -> bool:
        return self.value > self.allowed


def group_increases(
    groups: list[GroupDifference], allowance: Allowance, significant: bool
) -> list[GroupIncrease]:
    """The groups ``--max-group-increase`` judges (those with a value), in order."""
    judged = []
    for g in groups:
        value = g.ci_low if significant else g.difference
        if not math.isnan(value):
            judged.append(GroupIncrease(g, value, allowance.threshold(g.base)))
    return judged


def _group_gate(
    groups: list[GroupDifference], allowance: Allowance, significant: bool
) -> GateResult:
    """``--max-increase`` per group: with ``--significant`` a group fails when its whole
    interval lies above the allowance, otherwise when its mean difference does."""
    judged = group_increases(groups, allowance, significant)
    failed = [j.group for j in judged if j.failed]
    worst = max(judged, key=lambda j: j.value, default=None)
    name = "max-group-increase (significant)" if significant else "max-group-increase"
    names = tuple(group_name(g.key) for g in failed[:NAMED_GROUPS])
    # The threshold shown is that of the worst group (a percentage is of its base loss).
    return GateResult(
        name,
        worst.value if worst is not None else math.nan,
        worst.allowed if worst is not None else math.nan,
        passed=not failed,
        failed_groups=names,
        n_failed=len(failed),
    )


def _align(
    b: SampleArrays,
    c: SampleArrays,
    base: str,
    candidate: str,
    by_id: bool,
    cand_report: Report,
) -> SampleArrays:
    """Reorder the candidate's samples to match the base's, checking labels agree."""
    if by_id:
        assert b.ids is not None
        assert c.ids is not None
        try:
            index = IdIndex(c.ids)
        except DuplicateId as twice:
            raise DataError(
                f"{candidate}: id {c.ids[twice.second].as_py()!r} repeats; ids must be unique "
                "to pair samples"
            ) from None
        order = index.positions(b.ids)
        unpaired = (order < 0) | repeats(order)
        if unpaired.any():
            i = int(np.argmax(unpaired))
            raise DataError(
                f"{candidate}: id {b.ids[i].as_py()!r} of {base} is missing (or repeated in "
                f"{base}); both prediction sets must hold the same ids"
            )
        if len(order) < len(c.ids):
            paired = np.zeros(len(c.ids), dtype=bool)
            paired[order] = True
            j = int(np.argmin(paired))
            raise DataError(
                f"{base}: id {c.ids[j].as_py()!r} of {candidate} is missing; both sets need it"
            )
        c = c.take(order)
    elif not b.same_rows(c):
        raise DataError(
            f"{candidate}: scores {len(c)} rows but {base} scores {len(b)}; pair "
            "them by row with the same rows in both, or by id with --id-col"
        )
    mismatch = b.label_mismatch(c)
    if mismatch.any():
        i = int(np.argmax(mismatch))
        hint = "both prediction sets must be scored on the same labels"
        if not by_id and b.ids is not None and cand_report.id_column is not None:
            hint = (
                f"the rows may be in different orders: pair them by id with "
                f"--id-col {cand_report.id_column}"
            )
        raise DataError(
            f"{candidate}: {describe_row(c.row(i), cand_report.header_lines)} has label "
            f"{c.label(i)!r} but {base} has {b.label(i)!r}; {hint}"
        )
    return c


def _most_worse(b: SampleArrays, c: SampleArrays, diff: FloatArray, top: int) -> list[PairedSample]:
    if top <= 0 or len(diff) == 0:
        return []
    return [
        PairedSample(
            index=b.row(i),
            id=None if b.ids is None else b.ids[i].as_py(),
            label=str(b.label(i)),
            base=float(b.loss[i]),
            candidate=float(c.loss[i]),
            difference=float(diff[i]),
        )
        for i in _largest_positive(diff, top).tolist()
    ]


def _largest_positive(values: FloatArray, k: int, block: int = 1 << 16) -> npt.NDArray[np.int64]:
    """Indices of the ``k`` largest positive values, largest first (ties: lower
    index first), found a block at a time (no array as long as ``values``)."""
    best = np.zeros(0, dtype=np.int64)
    for start in range(0, len(values), block):
        part = values[start : start + block]
        positive = np.flatnonzero(part > 0)  # NaN is not
        if len(positive) > k:
            kth = np.partition(part[positive], len(positive) - k)[len(positive) - k]
            positive = positive[part[positive] >= kth]
        candidates = np.concatenate([best, positive + start])
        best = candidates[np.lexsort((candidates, -values[candidates]))][:k]
    return best


def _concat(arrays: list[pa.Array]) -> pa.ChunkedArray:
    """The chunks' ids as one array of one type (a chunk of only nulls takes the
    others'), without copying chunks of that type."""
    types = {a.type for a in arrays if not pa.types.is_null(a.type)}
    target = types.pop() if len(types) == 1 else pa.string()
    return pa.chunked_array([a if a.type == target else a.cast(target) for a in arrays], target)


def bootstrap_interval(
    diff: FloatArray,
    weight: FloatArray | None,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | np.random.SeedSequence | None = None,
    groups: int | None = None,
) -> Interval:
    """Percentile bootstrap interval of the weighted mean of ``diff``.

    Samples are dealt at random into at most ``groups`` groups whose weighted
    sums are resampled with replacement (see the module docstring). ``weight``
    None weighs every sample 1. The same ``seed`` gives the same interval.

    >>> d = np.array([0.1, -0.2, 0.3, 0.0])
    >>> iv = bootstrap_interval(d, np.ones(4), resamples=200, seed=1)
    >>> iv.low <= d.mean() <= iv.high
    True
    """
    n = len(diff)
    shown_seed = seed if not isinstance(seed, np.random.SeedSequence) else None
    groups = BOOTSTRAP_GROUPS if groups is None else groups
    if n == 0 or resamples == 0:
        return Interval(math.nan, math.nan, confidence, resamples, shown_seed, 0)
    rng = np.random.default_rng(seed)
    finite = np.isfinite(diff)
    # Non-finite differences (an infinite loss under --eps 0) are tracked apart: a
    # resample holding a +inf difference has an infinite mean, never inf - inf.
    all_finite = bool(finite.all())
    kept = diff if all_finite else np.where(finite, diff, 0.0)
    sums: FloatArray = kept if weight is None else weight * kept
    flags = (
        None
        if all_finite
        else np.stack([diff == np.inf, diff == -np.inf, np.isnan(diff)]).astype(np.float64)
    )
    n_groups = n
    if n > groups:
        n_groups = groups
        assignment = rng.permutation(n)
        np.remainder(assignment, n_groups, out=assignment)
        sums = np.bincount(assignment, weights=sums, minlength=n_groups).astype(np.float64)
        weights = np.bincount(assignment, weights=weight, minlength=n_groups).astype(np.float64)
        if flags is not None:
            flags = np.stack(
                [np.bincount(assignment, weights=f, minlength=n_groups) for f in flags]
            )
        del assignment  # a million samples: 8 MB not held while resampling
    else:
        weights = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    means = np.empty(resamples)
    done = 0
    offsets = None
    while done < resamples:
        batch = min(RESAMPLE_BATCH, resamples - done)
        draws = rng.integers(0, n_groups, size=(batch, n_groups))
        if offsets is None or len(offsets) != batch:
            offsets = (np.arange(batch) * n_groups)[:, None]
        draws += offsets  # each resample's counts in a row of its own
        counts = np.bincount(draws.ravel(), minlength=batch * n_groups).reshape(batch, n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            block = (counts @ sums) / (counts @ weights)
        if flags is not None:
            pos, neg, nan = (counts @ flags.T).T > 0
            block[pos] = np.inf
            block[neg] = -np.inf
            block[(pos & neg) | nan] = np.nan
        means[done : done + batch] = block
        done += batch
    alpha = (1.0 - confidence) / 2.0
    if np.isnan(means).all():
        return Interval(math.nan, math.nan, confidence, resamples, shown_seed, n_groups)
    if np.isfinite(means).all():
        low, high = np.quantile(means, [alpha, 1.0 - alpha])
    else:  # no interpolation between infinite means
        low, high = np.nanquantile(means, [alpha, 1.0 - alpha], method="inverted_cdf")
    return Interval(float(low), float(high), confidence, resamples, shown_seed, n_groups)
