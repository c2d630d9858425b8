"""Quality gates: thresholds on a report, and comparison with a saved baseline.

A gate never passes silently when it cannot be evaluated: a baseline that
cannot be read, or that measured something else (another task, unit or class
set), is an error; a class with no samples under ``--max-class-loss`` is
reported as not evaluated.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

from xent.errors import InputError, UsageError
from xent.report import SCHEMA, GateResult, GroupTable, Report


@dataclass(frozen=True)
class Allowance:
    """How much a loss may rise over its baseline: absolute, or a percentage of it."""

    value: float
    relative: bool

    @classmethod
    def parse(cls, text: str, option: str = "--max-increase") -> Allowance:
        """Parse ``0.01`` (absolute, in the report's unit) or ``5%`` (relative)."""
        raw = text.strip()
        relative = raw.endswith("%")
        try:
            value = float(raw[:-1] if relative else raw)
        except ValueError:
            raise UsageError(
                f"{option} must be a number or a percentage (e.g. 0.01 or 5%), not {text!r}"
            ) from None
        if math.isnan(value) or value < 0:
            raise UsageError(f"{option} must be >= 0, not {text!r}")
        return cls(value, relative)

    def threshold(self, baseline: float) -> float:
        """The largest allowed increase over ``baseline``."""
        return abs(baseline) * self.value / 100.0 if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.relative else f"{self.value:g}"


def load_baseline(path: str) -> dict[str, Any]:
    """Read a saved ``xent score --format json`` output, keeping what the gate compares.

    A baseline is untrusted input: it is read within :data:`xent.limits.BASELINE_BYTES`,
    and its loss must be a finite, non-negative number (a gate against an infinite
    or missing loss would pass for any loss).
    """
    from xent import limits

    fix = "save a baseline with xent score ... --format json --output baseline.json"
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.BASELINE_BYTES:
                raise InputError(
                    f"{path}: the baseline is {size / 2**20:.0f} MiB, more than the "
                    f"{limits.BASELINE_BYTES / 2**20:.0f} MiB xent reads (XENT_BASELINE_BYTES); "
                    "save it without --per-sample"
                )
            raw = handle.read(limits.BASELINE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such baseline file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a baseline file") from None
    except OSError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: cannot read the baseline: {exc.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
        if isinstance(exc, RecursionError):
            reason = "nested too deeply"
        raise InputError(f"{path}: not a JSON file ({reason}); {fix}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputError(f"{path}: not an xent score report (schema {SCHEMA!r} expected); {fix}")
    aggregate = data.get("aggregate")
    loss = aggregate.get("loss") if isinstance(aggregate, dict) else None
    if isinstance(loss, bool) or not isinstance(loss, int | float | str):
        raise InputError(f"{path}: the baseline has no aggregate.loss number; {fix}")
    # xent writes a finite loss as a number, "inf" and "nan" as strings: no other string.
    if isinstance(loss, str) and loss not in ("inf", "-inf", "nan"):
        raise InputError(f"{path}: the baseline's aggregate.loss {loss!r} is not a number; {fix}")
    value = float(loss)
    if not math.isfinite(value) or value < 0:
        raise InputError(
            f"{path}: the baseline's loss is {loss!r}; a gate against it would pass for any "
            "loss, so it needs a finite loss >= 0"
        )
    kept: dict[str, Any] = {"aggregate": {"loss": value}}
    for key in ("task", "unit"):
        if key in data:
            if not isinstance(data[key], str):
                raise InputError(f"{path}: the baseline's {key!r} is not text; {fix}")
            kept[key] = data[key]
    if "classes" in data:
        classes = data["classes"]
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise InputError(f"{path}: the baseline's 'classes' is not a list of names; {fix}")
        kept["classes"] = classes
    return kept


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def check_baseline_matches(report: Report, baseline: dict[str, Any], path: str) -> None:
    """Fail unless the baseline measured the same task, unit and classes as ``report``."""
    for key, ours in (("task", report.task), ("unit", report.unit)):
        theirs = baseline.get(key)
        if theirs is None:
            raise InputError(f"{path}: the baseline has no {key!r}; it is not a complete report")
        if theirs != ours:
            raise UsageError(
                f"{path}: the baseline's {key} is {theirs!r} but this run's is {ours!r}; "
                "compare like with like (see --task, --unit)"
            )
    theirs_classes = baseline.get("classes")
    if isinstance(theirs_classes, list) and list(map(str, theirs_classes)) != report.classes:
        raise UsageError(
            f"{path}: the baseline's classes ({', '.join(map(str, theirs_classes))}) differ from "
            f"this run's ({', '.join(report.classes)})"
        )


@dataclass(frozen=True)
class GateOptions:
    """The gate options of ``xent score``."""

    max_loss: float | None = None
    max_class_loss: float | None = None
    baseline: str | None = None
    max_increase: str | None = None
    max_group_loss: float | None = None
    min_group_size: int = 1

    def check(self) -> None:
        """Fail on contradictory or invalid gate options."""
        for option, value in (
            ("--max-loss", self.max_loss),
            ("--max-class-loss", self.max_class_loss),
            ("--max-group-loss", self.max_group_loss),
        ):
            if value is not None and (math.isnan(value) or value < 0):
                raise UsageError(f"{option} must be >= 0, not {value}")
        if self.min_group_size < 1:
            raise UsageError(f"--min-group-size must be >= 1, not {self.min_group_size}")
        if self.max_increase is not None:
            Allowance.parse(self.max_increase)
            if self.baseline is None:
                raise UsageError("--max-increase needs --baseline FILE (a saved JSON report)")


@dataclass(frozen=True)
class GateNote:
    """A gate that could not be evaluated, and why."""

    gate: str
    reason: str
    #: True when the gate was evaluated on what it could (some groups were not gated).
    partial: bool = False

    def message(self) -> str:
        """The line printed on standard error."""
        return (
            f"gate {self.gate}: {self.reason}"
            if self.partial
            else (f"gate {self.gate} not evaluated: {self.reason}")
        )


def evaluate_gates(
    report: Report, options: GateOptions, baseline: dict[str, Any] | None = None
) -> tuple[list[GateResult], list[GateNote]]:
    """Evaluate every requested gate on ``report``.

    ``baseline`` is the loaded ``options.baseline`` (see :func:`load_baseline`).
    Returns the gate results (in the order max-loss, max-class-loss per class,
    max-increase) and notes on gates that could not be evaluated.
    """
    results: list[GateResult] = []
    notes: list[GateNote] = []
    loss = report.aggregate.loss
    if options.max_loss is not None:
        results.append(GateResult("max-loss", loss, options.max_loss, loss <= options.max_loss))
    if options.max_class_loss is not None:
        for cls in report.per_class:
            name = f"max-class-loss[{cls.name}]"
            if cls.n == 0 or cls.weight == 0 or math.isnan(cls.loss):
                reason = "no scored samples" if cls.n == 0 else "a total weight of 0"
                notes.append(GateNote(name, f"class {cls.name!r} has {reason}"))
                continue
            results.append(
                GateResult(
                    name, cls.loss, options.max_class_loss, cls.loss <= options.max_class_loss
                )
            )
    if options.max_group_loss is not None:
        result, note = _group_gate(report, options.max_group_loss, options.min_group_size)
        results.append(result)
        if note is not None:
            notes.append(note)
    if options.baseline is not None:
        if baseline is None:
            baseline = load_baseline(options.baseline)
        check_baseline_matches(report, baseline, options.baseline)
        base_loss = float(baseline["aggregate"]["loss"])
        allowance = Allowance.parse(options.max_increase or "0")
        threshold = allowance.threshold(base_loss)
        increase = loss - base_loss
        passed = bool(increase <= threshold) if not math.isnan(increase) else False
        results.append(GateResult("max-increase", increase, threshold, passed))
    return results, notes


#: Most groups named in a failed group gate (all are counted).
NAMED_GROUPS = 20


def gated_groups(groups: GroupTable, min_size: int) -> Any:
    """Which groups ``--max-group-loss`` gates (a boolean array, in the table's order):
    those with at least ``min_size`` samples, some weight and a loss."""
    import numpy as np

    losses = np.asarray(groups.losses, dtype=np.float64)
    gated = (np.asarray(groups.counts) >= min_size) & (np.asarray(groups.weights) > 0)
    return gated & ~np.isnan(losses)


def _group_gate(
    report: Report, threshold: float, min_size: int
) -> tuple[GateResult, GateNote | None]:
    """``--max-group-loss``: every group with at least ``min_size`` samples is at most
    ``threshold``; the value is the highest loss among them."""
    import numpy as np

    groups = report.groups
    if groups is None:
        raise UsageError("--max-group-loss needs groups: name the column with --by COLUMN")
    losses = np.asarray(groups.losses, dtype=np.float64)
    gated = gated_groups(groups, min_size)
    note = None
    n_skipped = int(len(groups) - gated.sum())
    if n_skipped:
        note = GateNote(
            "max-group-loss",
            f"{n_skipped} of {len(groups)} groups have fewer than --min-group-size "
            f"{min_size} samples (or no weight) and are not gated",
            partial=True,
        )
    failed = np.flatnonzero(gated & (losses > threshold))
    value = float(losses[gated].max()) if gated.any() else math.nan
    result = GateResult(
        "max-group-loss",
        value,
        threshold,
        passed=bool(not len(failed) and gated.any()),
        failed_groups=tuple(groups.name(int(i)) for i in failed[:NAMED_GROUPS]),
        n_failed=len(failed),
    )
    return result, note


def failure_line(gate: GateResult, unit: str) -> str:
    """One line saying why a gate failed."""
    if gate.gate == "max-group-loss":
        if not gate.n_failed:
            return "gate max-group-loss failed: no group has enough samples to be gated"
        shown = "; ".join(gate.failed_groups)
        more = (
            f" and {gate.n_failed - len(gate.failed_groups)} more"
            if gate.n_failed > len(gate.failed_groups)
            else ""
        )
        return (
            f"gate max-group-loss failed: {gate.n_failed} group(s) above {gate.threshold:.6g} "
            f"{unit}, the worst at {gate.value:.6g}: {shown}{more}"
        )
    if gate.gate == "max-increase":
        return (
            f"gate max-increase failed: the loss rose by {gate.value:.6g} {unit} over the "
            f"baseline, more than the allowed {gate.threshold:.6g}"
        )
    return f"gate {gate.gate} failed: {gate.value:.6g} {unit} > {gate.threshold:.6g}"


def comparison_failure_line(gate: GateResult, unit: str) -> str:
    """One line saying why a gate of ``xent compare`` failed."""
    if gate.gate.startswith("max-group-increase"):
        shown = "; ".join(gate.failed_groups)
        extra = gate.n_failed - len(gate.failed_groups)
        what = "significantly " if "significant" in gate.gate else ""
        return (
            f"gate {gate.gate} failed: {gate.n_failed} group(s) got {what}worse by more than "
            f"the allowance: {shown}" + (f" and {extra} more" if extra > 0 else "")
        )
    what = "the lower end of the confidence interval" if "significant" in gate.gate else "the loss"
    return (
        f"gate {gate.gate} failed: {what} rose by {gate.value:.6g} {unit} over the base, "
        f"more than the allowed {gate.threshold:.6g}"
    )
