"""The ``markdown`` output format: GitHub-flavoured Markdown for pull-request comments
and ``$GITHUB_STEP_SUMMARY``, for a score report or a comparison."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from xent.render.text import (
    DEFAULT_CONVENTION,
    convention_text,
    count,
    index_note,
    markdown_code,
    markdown_escape,
    metric_rows,
    number,
    percent,
    reference,
    uniform_label,
)
from xent.report import GateResult, Report, key_text

if TYPE_CHECKING:
    from xent.compare import Comparison
    from xent.render import View


def write_report(
    report: Report, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """Write ``report`` as Markdown."""
    stream.write(render_markdown(report, view))


def write_comparison(
    result: Comparison, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """Write a comparison as Markdown."""
    stream.write(render_comparison(result, view))


def render_markdown(report: Report, view: View | None = None) -> str:
    """The report as Markdown: a heading, a summary table, the per-class table, the
    worst groups (with ``--by``) and, when there are gates, a gates table."""
    from xent.render import View
    from xent.render.table import shown_classes

    view = view or View()
    classes, more = shown_classes(report, view.top_classes)
    parts = [
        f"### xent: cross-entropy of {markdown_code(report.predictions)}",
        _summary(report),
        "**Per class**" if not more else f"**Per class** (the {len(classes)} largest shares)",
        _per_class(report, classes),
    ]
    if more:
        parts.append(f"… {count(more)} more classes")
    if report.groups is not None:
        parts += _per_group(report, view.top_groups)
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
    if report.convention != DEFAULT_CONVENTION:
        rows.append(["like", convention_text(report.convention)])
    rows += [
        ["**loss**", f"**{number(report.aggregate.loss)}**{unit}"],
        ["perplexity", number(report.aggregate.perplexity)],
        *(
            [["bits per byte", number(report.aggregate.bits_per_byte)]]
            if report.aggregate.bits_per_byte is not None
            else []
        ),
        [
            uniform_label(report.task).replace("uniform", "uniform reference"),
            reference(report.reference.uniform, unit),
        ],
        ["prior reference (label entropy)", reference(report.reference.prior, unit)],
        ["D² (1 − loss / prior)", number(report.reference.d2)],
    ]
    rows += [[name, value] for name, value in metric_rows(report.metrics, report.unit)]
    return _table(["metric", "value"], ["l", "l"], rows)


def _per_group(report: Report, most: int) -> list[str]:
    from xent.render.table import shown_groups

    assert report.groups is not None
    assert report.group_summary is not None
    groups, more = shown_groups(report, most)
    summary = report.group_summary
    names = list(report.groups.names)
    rows = [
        [
            *(markdown_escape(key_text(v)) for v in g.key.values()),
            count(g.n),
            number(g.loss),
            percent(g.share),
        ]
        for g in groups
    ]
    parts = [
        f"**Per group** (highest loss first): {count(summary.n_groups)} groups, macro loss "
        f"{number(summary.macro_loss)} {report.unit}, mean perplexity "
        f"{number(summary.mean_perplexity)}",
        _table(
            [*(markdown_escape(n) for n in names), "n", f"loss ({report.unit})", "share"],
            ["l"] * len(names) + ["r", "r", "r"],
            rows,
        ),
    ]
    if more:
        parts.append(f"… {count(more)} more groups")
    return parts


def _per_class(report: Report, classes: list[Any]) -> str:
    rows = [
        [markdown_escape(c.name), count(c.n), number(c.loss), percent(c.share)] for c in classes
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


def render_comparison(result: Comparison, view: View | None = None) -> str:
    """A comparison as GitHub-flavoured Markdown."""
    from xent.render import View
    from xent.render.table import comparison_rows

    view = view or View()
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
    if result.groups is not None:
        most = view.top_groups
        n = len(result.groups) if most <= 0 else min(most, len(result.groups))
        lines.append(f"**Per group** ({result.unit}, most worse first)")
        lines.append(
            _table(
                [
                    *(markdown_escape(b) for b in result.by),
                    "n",
                    "base",
                    "candidate",
                    "difference",
                    "interval",
                    "significant",
                ],
                ["l"] * len(result.by) + ["r", "r", "r", "r", "r", "l"],
                [
                    [
                        *(markdown_escape(key_text(v)) for v in g.key.values()),
                        count(g.n),
                        number(g.base),
                        number(g.candidate),
                        number(g.difference),
                        f"[{number(g.ci_low)}, {number(g.ci_high)}]",
                        g.significant or "",
                    ]
                    for g in result.groups[:n]
                ],
            )
        )
        if len(result.groups) > n:
            lines.append(f"… {count(len(result.groups) - n)} more groups")
    if result.gates:
        failed = sum(not g.passed for g in result.gates)
        lines.append("**Gates**: " + ("✅ all passed" if not failed else f"❌ {failed} failed"))
        lines.append(_gates(result.gates))
    return "\n\n".join(lines) + "\n"
