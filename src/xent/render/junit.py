"""JUnit XML: the gates of a score report or a comparison as a test report (``--junit FILE``).

Jenkins, GitLab and most CI systems read JUnit XML and show it as test results.
Each gate is a test case: ``max-loss``, one ``max-class-loss[CLASS]`` per class,
``max-increase``, ``max-group-loss`` (and, for the group gate, one
``max-group-loss[GROUP]`` per gated group), or for ``xent compare``
``max-increase`` and ``max-group-increase`` (one per group too). A failed gate is
a ``<failure>`` whose message is the line xent prints on standard error and whose
text gives the value and the threshold. A run without gates is one passing test
case, ``score`` or ``compare``, holding the loss.

The file follows the schema of the Jenkins JUnit plugins (``junit-10.xsd``), a
``<testsuites>`` element holding one ``<testsuite>``; the test suite validates it
(tests/data/junit/). It is written as it is made, so a million groups never build
a tree in memory, and it holds no time stamp: the same inputs give the same bytes.
Text from the inputs (paths, class names, group values) is made printable first
and escaped, so no input can break the XML.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from xent.render.text import printable, printable_lines

if TYPE_CHECKING:
    from xent.compare import Comparison, GroupDifference
    from xent.report import GateResult, Report


@dataclass(frozen=True)
class Case:
    """One test case: its name, and the failure message and text when it failed (or
    the text of a passing case, written as its ``system-out``)."""

    name: str
    failure: str | None = None
    text: str = ""


def write_report(report: Report, stream: IO[str], *, min_group_size: int = 1) -> None:
    """Write the gates of ``report`` (a score report, gates evaluated) as JUnit XML.

    ``min_group_size`` is the ``--min-group-size`` of the group gate: smaller groups
    are not gated, and get no test case of their own."""
    _write(
        stream,
        suite=f"xent score {report.predictions}",
        classname="xent.score",
        file=report.predictions,
        properties=_properties(report),
        cases=_report_cases(report, min_group_size),
    )


def write_comparison(result: Comparison, stream: IO[str], *, max_increase: str | None) -> None:
    """Write the gates of a comparison as JUnit XML (``max_increase``: the allowance
    of ``--max-increase``, which the per-group test cases are checked against)."""
    base = result.base
    properties = [
        ("base", base.predictions),
        ("candidate", result.candidate.predictions),
        ("task", base.task),
        ("unit", base.unit),
        ("n_samples", str(base.n_samples)),
        ("base_loss", _exact(base.aggregate.loss)),
        ("candidate_loss", _exact(result.candidate.aggregate.loss)),
        ("difference", _exact(result.mean_difference)),
    ]
    _write(
        stream,
        suite=f"xent compare {base.predictions} {result.candidate.predictions}",
        classname="xent.compare",
        file=result.candidate.predictions,
        properties=properties,
        cases=_comparison_cases(result, max_increase),
    )


def _write(
    stream: IO[str],
    *,
    suite: str,
    classname: str,
    file: str,
    properties: list[tuple[str, str]],
    cases: Iterator[Case],
) -> None:
    """One ``<testsuites>`` with one ``<testsuite>``. The counts come first in the file
    and are known last, so the test cases are drafted in a temporary file (in memory
    up to a MiB) and copied after the header."""
    tests = failures = 0
    classname = _attr(classname)
    with tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8") as body:
        for case in cases:
            tests += 1
            head = f"    <testcase name={_attr(case.name)} classname={classname}"
            if case.failure is not None:
                failures += 1
                body.write(
                    f"{head}>\n      <failure message={_attr(case.failure)} "
                    f"type={_attr(_kind(case.name))}>{_text(case.text)}</failure>\n"
                    "    </testcase>\n"
                )
            elif case.text:
                body.write(f"{head}>\n      <system-out>{_text(case.text)}</system-out>\n")
                body.write("    </testcase>\n")
            else:
                body.write(f"{head}/>\n")
        counts = f'tests="{tests}" failures="{failures}" errors="0"'
        stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        stream.write(f'<testsuites name="xent" {counts}>\n')
        stream.write(
            f'  <testsuite name={_attr(suite)} {counts} skipped="0" package="xent" '
            f"file={_attr(file)}>\n"
        )
        stream.write("    <properties>\n")
        for name, value in properties:
            stream.write(f"      <property name={_attr(name)} value={_attr(value)}/>\n")
        stream.write("    </properties>\n")
        body.seek(0)
        shutil.copyfileobj(body, stream, 1 << 20)
    stream.write("  </testsuite>\n</testsuites>\n")


def _properties(report: Report) -> list[tuple[str, str]]:
    out = [
        ("predictions", report.predictions),
        ("task", report.task),
        ("inputs", report.inputs),
        ("unit", report.unit),
        ("n_samples", str(report.n_samples)),
        ("loss", _exact(report.aggregate.loss)),
    ]
    if report.labels is not None:
        out.insert(1, ("labels", report.labels))
    return out


def _report_cases(report: Report, min_group_size: int) -> Iterator[Case]:
    from xent.gates import failure_line

    unit = report.unit
    if not report.gates:
        yield Case(
            "score",
            text=f"loss {_exact(report.aggregate.loss)} {unit} over {report.n_samples} samples\n",
        )
        return
    gated = _gated(report, min_group_size)
    for gate in report.gates:
        case = _gate_case(gate, failure_line(gate, unit), unit)
        if gate.gate == "max-group-loss" and report.groups is not None:
            skipped = len(report.groups) - len(gated)
            if skipped:
                note = (
                    f"groups not gated: {skipped} (fewer than --min-group-size "
                    f"{min_group_size} samples, or no weight)\n"
                )
                case = Case(case.name, case.failure, case.text + note)
        yield case
        if gate.gate == "max-group-loss":
            yield from _group_cases(report, gate.threshold, gated)


def _gate_case(gate: GateResult, line: str, unit: str) -> Case:
    text = f"value: {_exact(gate.value)} {unit}\nthreshold: {_exact(gate.threshold)} {unit}\n"
    if gate.gate.startswith("max-group"):
        text += f"groups failed: {gate.n_failed}\n"
    if gate.gate.startswith("max-increase") or gate.gate.startswith("max-group-increase"):
        text = text.replace("value:", "increase:").replace("threshold:", "allowed:")
    return Case(gate.gate, None if gate.passed else line, text)


def _gated(report: Report, min_size: int) -> list[int]:
    """The positions of the groups ``--max-group-loss`` gates."""
    import numpy as np

    from xent.gates import gated_groups

    if report.groups is None:
        return []
    positions: list[int] = np.flatnonzero(gated_groups(report.groups, min_size)).tolist()
    return positions


def _group_cases(report: Report, threshold: float, gated: list[int]) -> Iterator[Case]:
    """One case per gated group of the report (``gated``: their positions), in its
    order (highest loss first)."""
    groups = report.groups
    if groups is None:
        return
    counts, losses = groups.counts, groups.losses
    unit = report.unit
    for i in gated:
        loss = float(losses[i])
        name = groups.name(i)
        text = (
            f"loss: {_exact(loss)} {unit}\nthreshold: {_exact(threshold)} {unit}\n"
            f"samples: {int(counts[i])}\n"
        )
        failure = None
        if loss > threshold:
            failure = f"group {name}: loss {loss:.6g} {unit} > {threshold:.6g}"
        yield Case(f"max-group-loss[{name}]", failure, text)


def _comparison_cases(result: Comparison, max_increase: str | None) -> Iterator[Case]:
    from xent.gates import comparison_failure_line

    unit = result.unit
    if not result.gates:
        iv = result.interval
        yield Case(
            "compare",
            text=f"difference (candidate - base): {_exact(result.mean_difference)} {unit}\n"
            f"interval ({iv.confidence:g}): [{_exact(iv.low)}, {_exact(iv.high)}]\n",
        )
        return
    for gate in result.gates:
        yield _gate_case(gate, comparison_failure_line(gate, unit), unit)
        if gate.gate.startswith("max-group-increase") and result.groups and max_increase:
            significant = "significant" in gate.gate
            yield from _group_increase_cases(result.groups, max_increase, significant, unit)


def _group_increase_cases(
    groups: list[GroupDifference], max_increase: str, significant: bool, unit: str
) -> Iterator[Case]:
    """One case per group of a comparison, judged as ``xent compare`` judges it
    (:func:`xent.compare.group_increases`)."""
    from xent.compare import group_increases
    from xent.gates import Allowance
    from xent.report import group_name

    what = "lower end of the interval" if significant else "increase"
    for judged in group_increases(groups, Allowance.parse(max_increase), significant):
        g, value, allowed = judged.group, judged.value, judged.allowed
        name = group_name(g.key)
        text = (
            f"{what}: {_exact(value)} {unit}\nallowed: {_exact(allowed)} {unit}\n"
            f"base: {_exact(g.base)} {unit}\ncandidate: {_exact(g.candidate)} {unit}\n"
            f"interval: [{_exact(g.ci_low)}, {_exact(g.ci_high)}]\nsamples: {g.n}\n"
        )
        failure = None
        if judged.failed:
            failure = f"group {name}: the {what} {value:.6g} {unit} is above {allowed:.6g}"
        yield Case(f"max-group-increase[{name}]", failure, text)


def _kind(name: str) -> str:
    """The gate a case belongs to: its name without the ``[...]`` of a class or group."""
    return name.partition("[")[0]


def _exact(value: float) -> str:
    """A number with every digit (``repr``), ``inf`` and ``nan`` as such."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _attr(value: str) -> str:
    """An attribute value, quoted: printable (no character XML forbids), escaped."""
    return quoteattr(printable(value))


def _text(value: str) -> str:
    """Element text: each line printable, escaped."""
    return escape(printable_lines(value))
