"""A report or a comparison as pandas DataFrames (``Report.to_pandas()``, and a comparison's).

pandas is imported here, only when a frame is asked for, never by the command line.
Every loss is in the report's unit; sample rows are indexed by their 0-based row in
the input (``index``, as in ``--format csv``), classes by name, and groups by their
``--by`` columns (a MultiIndex for several), so no column name of the input can
collide with a figure's column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xent.compare import Comparison, SampleArrays
    from xent.report import GateResult, GroupTable, Report, SampleLoss


@dataclass(frozen=True)
class ReportFrames:
    """The tables of a score report (``Report.to_pandas()``), each a pandas DataFrame.

    - ``per_class``: one row per class, indexed by ``class``: ``n``, ``loss``, ``sum``,
      ``weight``, ``share``.
    - ``top``: the highest-loss samples, highest first, indexed by ``index``: ``id``,
      ``label``, ``loss``.
    - ``gates``: one row per gate: ``gate``, ``value``, ``threshold``, ``passed``,
      ``failed_groups``, ``n_failed`` (empty without gates).
    - ``per_sample``: every sample in input order, indexed by ``index``: ``id``,
      ``label``, ``loss``; None unless the report kept them (``per_sample=True``).
    - ``groups``: every group, highest loss first, indexed by the ``--by`` columns:
      ``n``, ``loss``, ``sum``, ``weight``, ``perplexity``, ``share`` (and ``bytes``,
      ``bits_per_byte`` with ``bytes_col``); None without groups.
    """

    per_class: Any
    top: Any
    gates: Any
    per_sample: Any = None
    groups: Any = None


@dataclass(frozen=True)
class ComparisonFrames:
    """The tables of a comparison (``Comparison.to_pandas()``), each a pandas DataFrame.

    - ``per_class``: one row per class, indexed by ``class``: ``n``, ``base``,
      ``candidate``, ``difference``.
    - ``most_worse``: the samples whose loss rose the most, largest first, indexed by
      ``index``: ``id``, ``label``, ``base``, ``candidate``, ``difference``.
    - ``gates``: one row per gate, as in :class:`ReportFrames`.
    - ``pairs``: every paired sample in the base's input order, indexed by ``index``:
      ``id``, ``label``, ``base``, ``candidate``, ``difference`` (the rows of
      ``xent compare --format csv``); None when the comparison kept no samples.
    - ``groups``: every group, most worse first, indexed by the ``--by`` columns:
      ``n``, ``base``, ``candidate``, ``difference``, ``ci_low``, ``ci_high``,
      ``significant``; None without ``--by``.
    """

    per_class: Any
    most_worse: Any
    gates: Any
    pairs: Any = None
    groups: Any = None


def report_frames(report: Report) -> ReportFrames:
    """The DataFrames of a score report."""
    import pandas as pd

    per_class = pd.DataFrame(
        {
            "n": pd.Series([c.n for c in report.per_class], dtype="int64"),
            "loss": pd.Series([c.loss for c in report.per_class], dtype="float64"),
            "sum": pd.Series([c.sum for c in report.per_class], dtype="float64"),
            "weight": pd.Series([c.weight for c in report.per_class], dtype="float64"),
            "share": pd.Series([c.share for c in report.per_class], dtype="float64"),
        }
    )
    per_class.index = pd.Index([c.name for c in report.per_class], dtype="object", name="class")
    return ReportFrames(
        per_class=per_class,
        top=_samples(report.top),
        gates=gates_frame(report.gates),
        per_sample=None if report.per_sample is None else _samples(report.per_sample),
        groups=None if report.groups is None else _groups(report.groups),
    )


def comparison_frames(result: Comparison) -> ComparisonFrames:
    """The DataFrames of a comparison."""
    import pandas as pd

    per_class = pd.DataFrame(
        {
            "n": pd.Series([c.n for c in result.per_class], dtype="int64"),
            "base": pd.Series([c.base for c in result.per_class], dtype="float64"),
            "candidate": pd.Series([c.candidate for c in result.per_class], dtype="float64"),
            "difference": pd.Series([c.difference for c in result.per_class], dtype="float64"),
        }
    )
    per_class.index = pd.Index([c.name for c in result.per_class], dtype="object", name="class")
    worse = result.most_worse
    most_worse = pd.DataFrame(
        {
            "id": pd.Series([s.id for s in worse], dtype="object"),
            "label": pd.Series([s.label for s in worse], dtype="object"),
            "base": pd.Series([s.base for s in worse], dtype="float64"),
            "candidate": pd.Series([s.candidate for s in worse], dtype="float64"),
            "difference": pd.Series([s.difference for s in worse], dtype="float64"),
        }
    )
    most_worse.index = pd.Index([s.index for s in worse], dtype="int64", name="index")
    groups = None
    if result.groups is not None:
        rows = result.groups
        groups = pd.DataFrame(
            {
                "n": pd.Series([g.n for g in rows], dtype="int64"),
                "base": pd.Series([g.base for g in rows], dtype="float64"),
                "candidate": pd.Series([g.candidate for g in rows], dtype="float64"),
                "difference": pd.Series([g.difference for g in rows], dtype="float64"),
                "ci_low": pd.Series([g.ci_low for g in rows], dtype="float64"),
                "ci_high": pd.Series([g.ci_high for g in rows], dtype="float64"),
                "significant": pd.Series([g.significant for g in rows], dtype="object"),
            }
        )
        groups.index = _key_index(result.by, [tuple(g.key.values()) for g in rows])
    pairs = None
    if result.samples is not None and result.candidate_samples is not None:
        pairs = _pairs(result.samples, result.candidate_samples)
    return ComparisonFrames(
        per_class=per_class,
        most_worse=most_worse,
        gates=gates_frame(result.gates),
        pairs=pairs,
        groups=groups,
    )


def gates_frame(gates: list[GateResult]) -> Any:
    """One row per gate."""
    import pandas as pd

    return pd.DataFrame(
        {
            "gate": pd.Series([g.gate for g in gates], dtype="object"),
            "value": pd.Series([g.value for g in gates], dtype="float64"),
            "threshold": pd.Series([g.threshold for g in gates], dtype="float64"),
            "passed": pd.Series([g.passed for g in gates], dtype="bool"),
            "failed_groups": pd.Series([list(g.failed_groups) for g in gates], dtype="object"),
            "n_failed": pd.Series([g.n_failed for g in gates], dtype="int64"),
        }
    )


def _samples(samples: list[SampleLoss]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "id": pd.Series([s.id for s in samples], dtype="object"),
            "label": pd.Series([s.label for s in samples], dtype="object"),
            "loss": pd.Series([s.loss for s in samples], dtype="float64"),
        }
    )
    frame.index = pd.Index([s.index for s in samples], dtype="int64", name="index")
    return frame


def _pairs(base: SampleArrays, candidate: SampleArrays) -> Any:
    import numpy as np
    import pandas as pd

    n = len(base.index)
    ids = (
        np.asarray(base.ids.to_pylist(), dtype=object)
        if base.ids is not None
        else np.full(n, None, dtype=object)
    )
    frame = pd.DataFrame(
        {
            "id": pd.Series(ids, dtype="object"),
            "label": pd.Series(base.labels, dtype="object"),
            "base": pd.Series(base.loss, dtype="float64"),
            "candidate": pd.Series(candidate.loss, dtype="float64"),
            "difference": pd.Series(candidate.loss - base.loss, dtype="float64"),
        }
    )
    frame.index = pd.Index(base.index, dtype="int64", name="index")
    return frame


def _groups(groups: GroupTable) -> Any:
    """Every group of a report, from the table's columns (no row objects are made, so a
    million groups cost a few arrays)."""
    import numpy as np
    import pandas as pd

    # The table's own columns (see GroupTable.__getitem__ for how a row is made of them).
    total = np.asarray(groups._sum, dtype=np.float64)
    loss = np.asarray(groups.losses, dtype=np.float64)
    with np.errstate(over="ignore"):
        perplexity = np.exp(loss * groups.nats_per_unit)
    columns: dict[str, Any] = {
        "n": pd.Series(np.asarray(groups.counts), dtype="int64"),
        "loss": pd.Series(loss, dtype="float64"),
        "sum": pd.Series(total, dtype="float64"),
        "weight": pd.Series(np.asarray(groups.weights), dtype="float64"),
        "perplexity": pd.Series(perplexity, dtype="float64"),
        "share": pd.Series(np.asarray(groups._share), dtype="float64"),
    }
    if groups._bytes is not None:
        n_bytes = np.asarray(groups._bytes, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_byte = np.where(
                n_bytes > 0, total * groups.nats_per_unit / math.log(2.0) / n_bytes, np.nan
            )
        columns["bytes"] = pd.Series(n_bytes, dtype="float64")
        columns["bits_per_byte"] = pd.Series(per_byte, dtype="float64")
    frame = pd.DataFrame(columns)
    keys = groups._keys
    rows = [tuple(k) for k in keys] if len(groups.names) > 1 else [(k,) for k in keys]
    frame.index = _key_index(list(groups.names), rows)
    return frame


def _key_index(names: list[str], rows: list[tuple[Any, ...]]) -> Any:
    """The index of a group table: the one ``--by`` column, or a MultiIndex of several."""
    import pandas as pd

    if len(names) == 1:
        return pd.Index([r[0] for r in rows], dtype="object", name=names[0])
    if not rows:
        return pd.MultiIndex.from_arrays([[] for _ in names], names=names)
    return pd.MultiIndex.from_tuples(rows, names=names)
