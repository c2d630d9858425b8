"""HTML of a report or a comparison, for notebooks (``Report._repr_html_()``).

One self-contained fragment: the header facts, the aggregate and reference points,
the per-class table with share bars, the per-group table (with ``--by``), the
highest-loss samples and the gates, styled inline (no stylesheet, no script, no
external resource). Every piece of input text (paths, class names, labels, ids,
group values) is made printable and escaped with :func:`html.escape`, so a class
named ``<script>`` is shown, never run.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

from xent.render.text import (
    aggregate_pairs,
    count,
    header_facts,
    index_note,
    metric_rows,
    number,
    percent,
    printable,
)
from xent.report import GateResult, Report, key_text

if TYPE_CHECKING:
    from xent.compare import Comparison
    from xent.render import View

_BOX = "font-family: sans-serif; font-size: 13px; line-height: 1.4"
_TABLE = "border-collapse: collapse; margin: 0.3em 0 0.8em 0"
_CELL = "padding: 0.1em 0.8em 0.1em 0; text-align: {align}; vertical-align: top"
_HEAD = "padding: 0.1em 0.8em 0.1em 0; text-align: {align}; border-bottom: 1px solid #999"
_BAR = "display: inline-block; height: 0.8em; background: #4c8bd6; width: {width:.1f}%"
_BAR_BOX = "width: 8em; min-width: 8em"


def text(value: object) -> str:
    """Input text as HTML: printable (control characters as ``\\x1b``), then escaped."""
    return html.escape(printable(value))


def render_report(report: Report, view: View | None = None) -> str:
    """A score report as an HTML fragment."""
    from xent.render import View
    from xent.render.table import shown_classes, shown_groups

    view = view or View()
    unit = report.unit
    parts = [f'<div class="xent-report" style="{_BOX}">']
    parts.append(f"<strong>xent score</strong>: <code>{text(report.predictions)}</code>")
    facts = []
    if report.labels is not None:
        facts.append(("labels", f"<code>{text(report.labels)}</code>"))
    if report.index_column is not None:
        facts.append(("index", text(index_note(report))))
    facts += [(name, text(value)) for name, value in header_facts(report)]
    parts.append(_pairs(facts, per_row=3))
    left, right = aggregate_pairs(report)
    left = [(name, text(value)) for name, value in left]
    left[0] = ("loss", f"<strong>{number(report.aggregate.loss)}</strong> {text(unit)}")
    right = [(name, text(value)) for name, value in right]
    parts += [
        "<div><strong>Aggregate</strong> and reference points</div>",
        _pairs([pair for both in zip(left, right, strict=True) for pair in both], per_row=2),
    ]
    context = [(name, text(value)) for name, value in metric_rows(report.metrics, unit)]
    if context:
        parts += ["<div><strong>Context</strong></div>", _pairs(context)]
    classes, more = shown_classes(report, view.top_classes)
    if classes:
        heading = "Per class" if not more else f"Per class (the {len(classes)} largest shares)"
        rows = [
            [text(c.name), count(c.n), number(c.loss), percent(c.share), _bar(c.share)]
            for c in classes
        ]
        parts += [
            f"<div><strong>{heading}</strong></div>",
            _table(["class", "n", f"loss ({text(unit)})", "share", ""], "lrrrb", rows),
        ]
        if more:
            parts.append(f"<div>… {count(more)} more classes</div>")
    if report.groups is not None and report.group_summary is not None:
        groups, more = shown_groups(report, view.top_groups)
        summary = report.group_summary
        names = list(report.groups.names)
        rows = [
            [
                *(text(key_text(v)) for v in g.key.values()),
                count(g.n),
                number(g.loss),
                percent(g.share),
                _bar(g.share),
            ]
            for g in groups
        ]
        parts += [
            "<div><strong>Per group</strong> (highest loss first): "
            f"{count(summary.n_groups)} groups, macro loss {number(summary.macro_loss)} "
            f"{text(unit)}, mean perplexity {number(summary.mean_perplexity)}</div>",
            _table(
                [*(text(n) for n in names), "n", f"loss ({text(unit)})", "share", ""],
                "l" * len(names) + "rrrb",
                rows,
            ),
        ]
        if more:
            parts.append(f"<div>… {count(more)} more groups</div>")
    if report.top:
        ident = report.id_column is not None
        header = ["index", *([text(report.id_column)] if ident else []), "label"]
        rows = [
            [
                str(s.index),
                *([text(s.id)] if ident else []),
                text(s.label),
                number(s.loss),
            ]
            for s in report.top
        ]
        parts += [
            f"<div><strong>Highest-loss samples</strong> (top {len(report.top)})</div>",
            _table([*header, f"loss ({text(unit)})"], "r" + "l" * (len(header) - 1) + "r", rows),
        ]
    if report.gates:
        parts += _gates(report.gates)
    parts.append("</div>")
    return "\n".join(parts) + "\n"


def render_comparison(result: Comparison, view: View | None = None) -> str:
    """A comparison as an HTML fragment."""
    from xent.render import View
    from xent.render.table import comparison_rows

    view = view or View()
    b = result.base
    parts = [f'<div class="xent-compare" style="{_BOX}">']
    parts.append(
        f"<strong>xent compare</strong>: <code>{text(b.predictions)}</code> → "
        f"<code>{text(result.candidate.predictions)}</code>"
    )
    facts = [
        ("task", f"{text(b.task)}, {count(len(b.classes))} classes"),
        ("samples", f"{count(b.n_samples)} paired by {text(result.paired_by)}"),
        *((name, text(value)) for name, value in comparison_rows(result)),
    ]
    parts.append(_pairs(facts, per_row=1))
    rows = [
        [text(c.name), count(c.n), number(c.base), number(c.candidate), number(c.difference)]
        for c in result.per_class
    ]
    parts += [
        f"<div><strong>Per class</strong> ({text(result.unit)})</div>",
        _table(["class", "n", "base", "candidate", "difference"], "lrrrr", rows),
    ]
    if result.groups is not None:
        most = view.top_groups
        n = len(result.groups) if most <= 0 else min(most, len(result.groups))
        rows = [
            [
                *(text(key_text(v)) for v in g.key.values()),
                count(g.n),
                number(g.base),
                number(g.candidate),
                number(g.difference),
                f"[{number(g.ci_low)}, {number(g.ci_high)}]",
                text(g.significant or ""),
            ]
            for g in result.groups[:n]
        ]
        header = [*(text(name) for name in result.by), "n", "base", "candidate", "difference"]
        parts += [
            f"<div><strong>Per group</strong> ({text(result.unit)}, most worse first)</div>",
            _table([*header, "interval", "significant"], "l" * len(result.by) + "rrrrrl", rows),
        ]
        if len(result.groups) > n:
            parts.append(f"<div>… {count(len(result.groups) - n)} more groups</div>")
    if result.most_worse:
        ident = b.id_column is not None
        rows = [
            [
                str(s.index),
                *([text(s.id)] if ident else []),
                text(s.label),
                number(s.base),
                number(s.candidate),
                number(s.difference),
            ]
            for s in result.most_worse
        ]
        header = ["index", *([text(b.id_column)] if ident else []), "label"]
        parts += [
            "<div><strong>Samples that got most worse</strong></div>",
            _table(
                [*header, "base", "candidate", "difference"],
                "r" + "l" * (len(header) - 1) + "rrr",
                rows,
            ),
        ]
    if result.gates:
        parts += _gates(result.gates)
    parts.append("</div>")
    return "\n".join(parts) + "\n"


def _gates(gates: list[GateResult]) -> list[str]:
    failed = sum(not g.passed for g in gates)
    line = f"❌ {failed} of {len(gates)} failed" if failed else f"✅ all {len(gates)} passed"
    rows = [
        [
            text(g.gate),
            number(g.value),
            number(g.threshold),
            "✅ pass" if g.passed else '<span style="color: #c00">❌ fail</span>',
        ]
        for g in gates
    ]
    return [
        f"<div><strong>Gates</strong>: {line}</div>",
        _table(["gate", "value", "threshold", "result"], "lrrl", rows),
    ]


def _bar(fraction: float) -> str:
    """A share as a bar ``fraction`` of the cell wide (nothing for a non-finite share)."""
    if not math.isfinite(fraction) or fraction <= 0:
        return ""
    width = min(fraction, 1.0) * 100
    return f'<span style="{_BAR.format(width=width)}"></span>'


def _pairs(pairs: list[tuple[str, str]], per_row: int = 1) -> str:
    """Facts as a table of name/value columns, ``per_row`` pairs to a row; names are
    xent's own, values already HTML."""
    name_style = f"{_CELL.format(align='left')}; color: #666"
    value_style = f"{_CELL.format(align='left')}; padding-right: 2em"
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td style="{name_style}">{html.escape(name)}</td>'
            f'<td style="{value_style}">{value}</td>'
            for name, value in pairs[start : start + per_row]
        )
        + "</tr>"
        for start in range(0, len(pairs), per_row)
    )
    return f'<table style="{_TABLE}">{rows}</table>'


def _table(header: list[str], align: str, rows: list[list[str]]) -> str:
    """A table of HTML cells; ``align`` holds ``l``, ``r`` or ``b`` (a column of bars)
    per column."""
    styles = [
        _CELL.format(align="right" if a == "r" else "left") + (f"; {_BAR_BOX}" if a == "b" else "")
        for a in align
    ]
    head = "".join(
        f'<th style="{_HEAD.format(align="right" if a == "r" else "left")}">{cell}</th>'
        for cell, a in zip(header, align, strict=True)
    )
    body = [
        "<tr>"
        + "".join(
            f'<td style="{style}">{cell}</td>' for cell, style in zip(row, styles, strict=True)
        )
        + "</tr>"
        for row in rows
    ]
    return (
        f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
