"""The ``markdown`` output format: GitHub-flavoured Markdown for pull-request comments
and ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import re

from xent.render._format import count, metric_rows, number, percent, uniform_label
from xent.report import Report

_SPECIAL = re.compile(r"([\\`*|<>\[\]])")


def render_markdown(report: Report) -> str:
    """The report as Markdown: a heading, a summary table, the per-class table and,
    when there are gates, a gates table."""
    parts = [
        f"### xent: cross-entropy of {_code(report.predictions)}",
        _summary(report),
        "**Per class**",
        _per_class(report),
    ]
    if report.gates:
        parts += [_gates_line(report), _gates(report)]
    return "\n\n".join(parts) + "\n"


def _summary(report: Report) -> str:
    unit = f" {report.unit}"
    rows = []
    if report.labels is not None:
        rows.append(["labels", _code(report.labels, in_table=True)])
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
        [_escape(c.name), count(c.n), number(c.loss), percent(c.share)] for c in report.per_class
    ]
    return _table(["class", "n", f"loss ({report.unit})", "share"], ["l", "r", "r", "r"], rows)


def _gates_line(report: Report) -> str:
    failed = sum(not g.passed for g in report.gates)
    if failed:
        return f"**Gates**: ❌ {failed} of {len(report.gates)} failed"
    return f"**Gates**: ✅ all {len(report.gates)} passed"


def _gates(report: Report) -> str:
    rows = [
        [
            _escape(g.gate),
            number(g.value),
            number(g.threshold),
            "✅ pass" if g.passed else "❌ fail",
        ]
        for g in report.gates
    ]
    return _table(["gate", "value", "threshold", "result"], ["l", "r", "r", "l"], rows)


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table; ``align`` holds ``l`` or ``r`` per column."""
    rule = [":---" if a == "l" else "---:" for a in align]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *rows])


def _escape(text: str) -> str:
    """Escape the characters that would break a table cell or turn into markup."""
    return _SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def _code(text: str, *, in_table: bool = False) -> str:
    """``text`` as an inline code span, fenced so that backticks inside survive.

    In a table cell a ``|`` must be escaped even inside a code span.
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    if in_table:
        text = text.replace("|", r"\|")
    return f"{fence}{pad}{text}{pad}{fence}"
