"""The ``table`` output format: a report or a comparison for a human, drawn with rich.

Every piece of input text (paths, class names, labels, ids) goes in through
:func:`data`: made printable (no escape sequence from an input reaches the
terminal) and wrapped as :class:`~rich.text.Text`, so square brackets and colons
in it are never read as rich markup or emoji codes. Colour is only a hint:
rich writes no colour or other ANSI codes when the console is not a terminal;
:func:`make_console` also honours ``NO_COLOR`` on a terminal.
"""

from __future__ import annotations

import math
import os
from typing import IO, TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.segment import Segment, Segments
from rich.table import Table
from rich.text import Text

from xent.render.text import (
    aggregate_pairs,
    count,
    edge,
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

SHARE_BAR_WIDTH = 20
"""Longest bar in the per-class table, for a share of 100%."""
HISTOGRAM_BAR_WIDTH = 40
"""Longest bar in the loss distribution, for the fullest bin."""
MIN_BAR_WIDTH = 5
"""Narrower than this, a bar column is left out."""
_EIGHTHS = " ▏▎▍▌▋▊▉"


def make_console(file: IO[str] | None = None, *, width: int | None = None) -> Console:
    """A console for results on ``file`` (standard output by default).

    Styled only on a terminal, and never when ``NO_COLOR`` is set (not even bold).
    """
    plain = bool(os.environ.get("NO_COLOR"))
    if plain:
        return Console(file=file, width=width, color_system=None, highlight=False)
    return Console(file=file, width=width, highlight=False)


def data(value: object) -> Text:
    """Input text as a table cell: printable, never read as markup."""
    return Text(printable(value))


def write_report(
    report: Report, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """Write ``report`` as a table to ``stream`` (100 columns wide unless ``terminal``)."""
    render_table(report, make_console(stream, width=None if terminal else 100), view)


def write_comparison(
    result: Comparison, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """Write a comparison as a table to ``stream``."""
    render_comparison(result, make_console(stream, width=None if terminal else 100), view)


def render_table(report: Report, console: Console, view: View | None = None) -> None:
    """Print ``report`` to ``console``: the header, aggregate and reference points,
    per-class losses, the distribution of per-sample losses, the highest-loss
    samples and, when there are any, the gates.

    The layout adapts to ``console.width``: side-by-side blocks stack and bars
    shorten on a narrow console. ``view`` sets how many classes and groups are
    listed.
    """
    from xent.render import View

    view = view or View()
    width = console.width
    context = _context(report)
    sections = [
        _header(report, width),
        _aggregate(report, width),
        *([context] if context is not None else []),
        _per_class(report, width, view.top_classes),
        *([_per_group(report, width, view.top_groups)] if report.groups is not None else []),
        _distribution(report, width),
        _top(report),
    ]
    if report.gates:
        sections.append(_gates(report))
    for i, section in enumerate(sections):
        if i:
            console.print()
        print_trimmed(console, section)


def bar(fraction: float, width: int) -> str:
    """A bar of block characters ``fraction`` of ``width`` long, in eighths of a cell.

    Any positive fraction shows at least a sliver; non-finite fractions show nothing.
    """
    if not math.isfinite(fraction) or fraction <= 0:
        return ""
    eighths = max(1, round(min(fraction, 1.0) * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def print_trimmed(console: Console, renderable: RenderableType) -> None:
    """Print ``renderable`` without the trailing spaces rich pads table lines with."""
    out: list[Segment] = []
    for line in console.render_lines(renderable, pad=False):
        while line and not line[-1].text.strip():
            line.pop()
        if line:
            last = line.pop()
            line.append(Segment(last.text.rstrip(), last.style, last.control))
        out += [*line, Segment.line()]
    console.print(Segments(out))


def _span(columns: list[list[str]], gap: int) -> int:
    """The width of columns holding these cells, ``gap`` cells apart."""
    widths = [max((cell_len(cell) for cell in column), default=0) for column in columns]
    return sum(widths) + gap * (len(columns) - 1)


def title(text: str) -> Text:
    return Text(text, style="bold")


def _pairs(pairs: list[tuple[str, str]], per_row: int, heading: list[str] | None = None) -> Table:
    """Key/value pairs laid out ``per_row`` to a line, keys dimmed."""
    grid = Table(box=None, show_header=heading is not None, header_style="bold", pad_edge=False)
    for i in range(2 * per_row):
        name = heading[i] if heading else ""
        grid.add_column(name, style="dim" if i % 2 == 0 else None, no_wrap=True)
    for start in range(0, len(pairs), per_row):
        row = [cell for pair in pairs[start : start + per_row] for cell in pair]
        grid.add_row(*[data(cell) for cell in row])
    return grid


def _per_row(pairs: list[tuple[str, str]], width: int, most: int) -> int:
    """How many pairs fit on one line of ``width`` (at least one)."""
    for per_row in range(most, 1, -1):
        columns = [[pair[i % 2] for pair in pairs[i // 2 :: per_row]] for i in range(2 * per_row)]
        if _span(columns, gap=2) <= width:
            return per_row
    return 1


def _header(report: Report, width: int) -> RenderableType:
    pairs = header_facts(report)
    per_row = _per_row(pairs, width, most=3)
    files = Table.grid(padding=(0, 2))
    # Line the file names up with the first column of the facts below them.
    files.add_column(style="dim", min_width=max(len(key) for key, _ in pairs[::per_row]))
    files.add_column(overflow="fold")
    files.add_row("file", data(report.predictions))
    if report.labels is not None:
        files.add_row("labels", data(report.labels))
    if report.index_column is not None:
        files.add_row("index", data(index_note(report)))
    return Group(title("xent score"), files, _pairs(pairs, per_row))


def _aggregate(report: Report, width: int) -> RenderableType:
    left, right = aggregate_pairs(report)
    side_by_side = [pair for both in zip(left, right, strict=True) for pair in both]
    if _per_row(side_by_side, width, most=2) == 2:
        return _pairs(side_by_side, 2, heading=["Aggregate", "", "Reference", ""])
    return Group(
        _pairs(left, 1, heading=["Aggregate", ""]),
        Text(),
        _pairs([r for r in right if r[0]], 1, heading=["Reference", ""]),
    )


def _context(report: Report) -> RenderableType | None:
    rows = metric_rows(report.metrics, report.unit)
    if not rows:
        return None
    return _pairs(rows, 1, heading=["Context", ""])


def _per_class(report: Report, width: int, most: int) -> RenderableType:
    classes, more = shown_classes(report, most)
    if not classes:
        return Text("Per class: no labels, so no classes (the values were of the true class)")
    rows = [[c.name, count(c.n), number(c.loss), percent(c.share)] for c in classes]
    header = ["class", "n", f"loss ({report.unit})", "share"]
    columns = [list(column) for column in zip(header, *rows, strict=True)]
    bar_width = min(SHARE_BAR_WIDTH, width - _span(columns, gap=3) - 3)
    table = new_table()
    table.add_column(header[0])
    for name in header[1:]:
        table.add_column(name, justify="right", no_wrap=True)
    if bar_width >= MIN_BAR_WIDTH:
        table.add_column("", no_wrap=True, overflow="crop")
    for c, row in zip(classes, rows, strict=True):
        share_bar = (
            [Text(bar(c.share, bar_width), style="cyan")] if bar_width >= MIN_BAR_WIDTH else []
        )
        table.add_row(data(row[0]), *row[1:], *share_bar)
    heading = "Per class" if not more else f"Per class (the {len(classes)} largest shares)"
    parts: list[RenderableType] = [title(heading), table]
    if more:
        parts.append(Text(f"… {count(more)} more classes (--top-classes 0 lists them all)"))
    return Group(*parts)


def shown_classes(report: Report, most: int) -> tuple[list[Any], int]:
    """The classes a human-readable report lists: all of them, or the ``most`` with the
    largest share of the loss (0: all); and how many are left out."""
    classes = list(report.per_class)
    if most <= 0 or len(classes) <= most:
        return classes, 0
    ranked = sorted(classes, key=lambda c: -c.share if c.share == c.share else 0.0)
    return ranked[:most], len(classes) - most


def shown_groups(report: Report, most: int) -> tuple[list[Any], int]:
    """The groups a human-readable report lists (highest loss first) and how many more."""
    groups = report.groups
    if groups is None:
        return [], 0
    n = len(groups) if most <= 0 else min(most, len(groups))
    return groups[:n], len(groups) - n


def _per_group(report: Report, width: int, most: int) -> RenderableType:
    assert report.groups is not None
    assert report.group_summary is not None
    groups, more = shown_groups(report, most)
    names = list(report.groups.names)
    rows = [
        [
            *(printable(key_text(v)) for v in g.key.values()),
            count(g.n),
            number(g.loss),
            percent(g.share),
        ]
        for g in groups
    ]
    header = [*names, "n", f"loss ({report.unit})", "share"]
    columns = [list(column) for column in zip(header, *rows, strict=True)] if rows else []
    bar_width = min(SHARE_BAR_WIDTH, width - _span(columns, gap=3) - 3) if rows else 0
    table = new_table()
    for name in names:
        table.add_column(data(name))
    for name in header[len(names) :]:
        table.add_column(name, justify="right", no_wrap=True)
    if bar_width >= MIN_BAR_WIDTH:
        table.add_column("", no_wrap=True, overflow="crop")
    for g, row in zip(groups, rows, strict=True):
        share_bar = (
            [Text(bar(g.share, bar_width), style="cyan")] if bar_width >= MIN_BAR_WIDTH else []
        )
        table.add_row(*(Text(cell) for cell in row[: len(names)]), *row[len(names) :], *share_bar)
    summary = report.group_summary
    facts = (
        f"{count(summary.n_groups)} groups · macro loss {number(summary.macro_loss)} "
        f"{report.unit} · mean perplexity {number(summary.mean_perplexity)}"
    )
    parts: list[RenderableType] = [title("Per group (highest loss first)"), Text(facts), table]
    if more:
        parts.append(Text(f"… {count(more)} more groups (--top-groups 0 lists them all)"))
    return Group(*parts)


def _distribution(report: Report, width: int) -> RenderableType:
    hist = report.histogram
    bins = [
        (f"[{edge(hist.edges[i])}, {edge(hist.edges[i + 1])})", count(n), n)
        for i, n in enumerate(hist.counts)
        if n
    ]
    columns = [[span for span, _, _ in bins], [shown for _, shown, _ in bins]]
    bar_width = min(HISTOGRAM_BAR_WIDTH, width - _span(columns, gap=2) - 2)
    biggest = max(hist.counts, default=0)
    table = new_table(show_header=False)
    table.add_column(justify="right", no_wrap=True)
    if bar_width >= MIN_BAR_WIDTH:
        table.add_column(no_wrap=True, overflow="crop")
    table.add_column(justify="right", no_wrap=True)
    for span, shown, n in bins:
        drawn = (
            [Text(bar(n / biggest, bar_width), style="cyan")] if bar_width >= MIN_BAR_WIDTH else []
        )
        table.add_row(Text(span), *drawn, shown)
    return Group(title(f"Per-sample loss ({report.unit})"), table)


def _top(report: Report) -> RenderableType:
    table = new_table()
    table.add_column("index", justify="right", no_wrap=True)
    if report.id_column is not None:
        table.add_column(data(report.id_column))
    table.add_column("label")
    table.add_column(f"loss ({report.unit})", justify="right", no_wrap=True)
    for s in report.top:
        ident = [data(s.id)] if report.id_column is not None else []
        table.add_row(str(s.index), *ident, data(s.label), number(s.loss))
    return Group(title(f"Highest-loss samples (top {len(report.top)})"), table)


def _gates(report: Report) -> RenderableType:
    return Group(title("Gates"), gates_table(report.gates))


def gates_table(gates: list[GateResult]) -> Table:
    """The gates with their values, thresholds and verdicts."""
    table = new_table()
    table.add_column("gate")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("threshold", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for g in gates:
        result = Text("PASS", style="bold green") if g.passed else Text("FAIL", style="bold red")
        table.add_row(data(g.gate), number(g.value), number(g.threshold), result)
    return table


def new_table(*, show_header: bool = True) -> Table:
    return Table(
        box=box.SIMPLE_HEAD if show_header else None,
        show_header=show_header,
        show_edge=False,
        pad_edge=False,
    )


def render_comparison(result: Comparison, console: Console, view: View | None = None) -> None:
    """Print a comparison: both models, the difference and its interval, per-class
    differences, per-group differences (with ``--by``), the samples that got most
    worse and the gates."""
    from xent.render import View

    view = view or View()
    b = result.base
    header = new_table(show_header=False)
    header.add_column(style="bold")
    header.add_column()
    for key, value in [
        ("base", b.predictions),
        ("candidate", result.candidate.predictions),
        ("task", f"{b.task}, {len(b.classes)} classes"),
        ("samples", f"{count(b.n_samples)} paired by {result.paired_by}"),
        *comparison_rows(result),
    ]:
        header.add_row(key, data(value))
    parts: list[RenderableType] = [title("xent compare"), header]
    per_class = new_table()
    for name in ("class", "n", "base", "candidate", "difference"):
        per_class.add_column(name, justify="left" if name == "class" else "right")
    for cls in result.per_class:
        per_class.add_row(
            data(cls.name),
            count(cls.n),
            number(cls.base),
            number(cls.candidate),
            number(cls.difference),
        )
    parts += [Text(""), title(f"Per class ({result.unit})"), per_class]
    if result.groups is not None:
        parts += [Text(""), *_group_differences(result, view.top_groups)]
    if result.most_worse:
        worse = new_table()
        worse.add_column("index", justify="right")
        if b.id_column is not None:
            worse.add_column(data(b.id_column))
        for name in ("label", "base", "candidate", "difference"):
            worse.add_column(name, justify="left" if name == "label" else "right")
        for s in result.most_worse:
            ident = [data(s.id)] if b.id_column is not None else []
            worse.add_row(
                str(s.index),
                *ident,
                data(s.label),
                number(s.base),
                number(s.candidate),
                number(s.difference),
            )
        parts += [Text(""), title("Samples that got most worse"), worse]
    if result.gates:
        parts += [Text(""), title("Gates"), gates_table(result.gates)]
    print_trimmed(console, Group(*parts))


def _group_differences(result: Comparison, most: int) -> list[RenderableType]:
    assert result.groups is not None
    n = len(result.groups) if most <= 0 else min(most, len(result.groups))
    table = new_table()
    for name in result.by:
        table.add_column(data(name))
    for name in ("n", "base", "candidate", "difference", "interval", ""):
        table.add_column(name, justify="right" if name else "left", no_wrap=True)
    for g in result.groups[:n]:
        table.add_row(
            *(data(key_text(v)) for v in g.key.values()),
            count(g.n),
            number(g.base),
            number(g.candidate),
            number(g.difference),
            f"[{number(g.ci_low)}, {number(g.ci_high)}]",
            Text(g.significant or "", style="bold red" if g.significant == "worse" else ""),
        )
    parts: list[RenderableType] = [title(f"Per group ({result.unit}, most worse first)"), table]
    if len(result.groups) > n:
        more = len(result.groups) - n
        parts.append(Text(f"… {count(more)} more groups (--top-groups 0 lists them all)"))
    return parts


def comparison_rows(result: Comparison) -> list[tuple[str, str]]:
    """The summary of a comparison as (label, value) pairs (table and Markdown)."""
    iv = result.interval
    unit = result.unit
    return [
        ("base loss", f"{number(result.base.aggregate.loss)} {unit}"),
        ("candidate loss", f"{number(result.candidate.aggregate.loss)} {unit}"),
        ("difference (cand − base)", f"{number(result.mean_difference)} {unit}"),
        (
            f"{percent(iv.confidence)} interval",
            f"[{number(iv.low)}, {number(iv.high)}] ({count(iv.resamples)} resamples)",
        ),
        (
            "samples better / worse / tied",
            f"{count(result.n_better)} / {count(result.n_worse)} / {count(result.n_tied)}",
        ),
    ]
