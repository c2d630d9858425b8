"""The ``markdown`` output format: GitHub-flavoured Markdown for pull-request comments
and ``$GITHUB_STEP_SUMMARY``, for a score report or a comparison."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from xent.render.text import (
    count,
    index_note,
    markdown_code,
    markdown_escape,
    metric_rows,
    number,
    percent,
    uniform_label,
)
from xent.report import GateResult, Report

if TYPE_CHECKING:
    from xent.compare import Comparison


def write_report(report: Report, stream: IO[str], *, terminal: bool = False) -> None:
    """Write ``report`` as Markdown."""
    stream.write(render_markdown(report))


def write_comparison(result: Comparison, stream: IO[str], *, terminal: bool = False) -> None:
    """Write a comparison as Markdown."""
    stream.write(render_comparison(result))


def render_markdown(report: Report) -> str:
    """The report as Markdown: a heading, a summary table, the per-class table and,
    when there are gates, a gates table."""
    parts = [
        f"### xent: cross-entropy of {markdown_code(report.predictions)}",
        _summary(report),
        "**Per class**",
        _per_class(report),
    ]
    if report.gates:
        parts += [_gates_line(report.gates), _gates(report.gates)]
    return "\n\n".join(parts) + "\n"


def _summary(report: Report) -> str:
    unit = f" {report.unit}"
    rows = []
    if report.labels is not None:
        rows.append(["labels", markdown_code(report.labels, in_table=True)])
    if report.index_column is not None:
        rows.append(["index", markdown_escape(index_note(report))])
    rows.append(["task", f"{report.task}, {count(len(report.classes))} classes"])
    inputs = report.inputs + (" (auto-detected)" if report.inputs_detected else "")
    rows += [
        ["inputs", inputs],
        ["unit", report.unit],
        ["samples", count(report.n_samples)],
        ["ignored", count(report.n_ignored)],
        ["clipped", count(report.aggregate.n_clipped)],
    ]
    if report.n_renormalized:
        rows.append(["renormalized rows", count(report.n_renormalized)])
    rows += [
        ["**loss**", f"**{number(report.aggregate.loss)}**{unit}"],
        ["perplexity", number(report.aggregate.perplexity)],
        [
            uniform_label(report.task).replace("uniform", "uniform reference"),
            number(report.reference.uniform) + unit,
        ],
        ["prior reference (label entropy)", number(report.reference.prior) + unit],
        ["D² (1 − loss / prior)", number(report.reference.d2)],
    ]
    rows += [[name, value] for name, value in metric_rows(report.metrics, report.unit)]
    return _table(["metric", "value"], ["l", "l"], rows)


def _per_class(report: Report) -> str:
    rows = [
        [markdown_escape(c.name), count(c.n), number(c.loss), percent(c.share)]
        for c in report.per_class
    ]
    return _table(["class", "n", f"loss ({report.unit})", "share"], ["l", "r", "r", "r"], rows)


def _gates_line(gates: list[GateResult]) -> str:
    failed = sum(not g.passed for g in gates)
    if failed:
        return f"**Gates**: ❌ {failed} of {len(gates)} failed"
    return f"**Gates**: ✅ all {len(gates)} passed"


def _gates(gates: list[GateResult]) -> str:
    rows = [
        [
            markdown_escape(g.gate),
            number(g.value),
            number(g.threshold),
            "✅ pass" if g.passed else "❌ fail",
        ]
        for g in gates
    ]
    return _table(["gate", "value", "threshold", "result"], ["l", "r", "r", "l"], rows)


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table; ``align`` holds ``l`` or ``r`` per column."""
    rule = [":---" if a == "l" else "---:" for a in align]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *rows])


def render_comparison(result: Comparison) -> str:
    """A comparison as GitHub-flavoured Markdown."""
    from xent.render.table import comparison_rows

    b = result.base
    lines = [
        f"### xent compare: {markdown_code(b.predictions)} → "
        f"{markdown_code(result.candidate.predictions)}",
        _table(
            ["metric", "value"],
            ["l", "l"],
            [[markdown_escape(k), markdown_escape(v)] for k, v in comparison_rows(result)],
        ),
        "**Per class**",
        _table(
            ["class", "n", "base", "candidate", "difference"],
            ["l", "r", "r", "r", "r"],
            [
                [
                    markdown_escape(c.name),
                    count(c.n),
                    number(c.base),
                    number(c.candidate),
                    number(c.difference),
                ]
                for c in result.per_class
            ],
        ),
    ]
    if result.gates:
        failed = sum(not g.passed for g in result.gates)
        lines.append("**Gates**: " + ("✅ all passed" if not failed else f"❌ {failed} failed"))
        lines.append(_gates(result.gates))
    return "\n\n".join(lines) + "\n"
