"""Renderers of ``xent compare``: table, JSON (``xent.compare/1``), CSV and Markdown."""

from __future__ import annotations

import csv
import json
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from xent.compare import Comparison
from xent.render._format import count, number, percent
from xent.render.markdown import _code, _escape
from xent.render.markdown import _table as markdown_table
from xent.render.table import _print_trimmed, _table, _title
from xent.report import GateResult


def render_json(result: Comparison) -> str:
    """The comparison as indented JSON (non-finite numbers as strings)."""
    return json.dumps(result.to_dict(), indent=2, allow_nan=False, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_csv(result: Comparison, stream: IO[str]) -> None:
    """One row per paired sample: ``index,[id,]label,base,candidate,difference``."""
    b, c = result.samples, result.candidate_samples
    assert b is not None
    assert c is not None
    writer = csv.writer(stream, lineterminator="\n")
    with_id = b.ids is not None
    writer.writerow(
        ["index", *(["id"] if with_id else []), "label", "base", "candidate", "difference"]
    )
    ids = b.ids.tolist() if b.ids is not None else None
    diff = (c.loss - b.loss).tolist()
    for i, (index, label, base, cand) in enumerate(
        zip(b.index.tolist(), b.labels.tolist(), b.loss.tolist(), c.loss.tolist(), strict=True)
    ):
        ident = [ids[i]] if ids is not None else []
        writer.writerow([index, *ident, label, repr(base), repr(cand), repr(diff[i])])


def failure_line(gate: GateResult, unit: str) -> str:
    """One line saying why a compare gate failed."""
    what = "the lower end of the confidence interval" if "significant" in gate.gate else "the loss"
    return (
        f"gate {gate.gate} failed: {what} rose by {gate.value:.6g} {unit} over the base, "
        f"more than the allowed {gate.threshold:.6g}"
    )


def _summary_rows(result: Comparison) -> list[tuple[str, str]]:
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


def render_table(result: Comparison, console: Console) -> None:
    """Print the comparison for a terminal."""
    b = result.base
    header = _table(show_header=False)
    header.add_column(style="bold")
    header.add_column()
    for key, value in [
        ("base", b.predictions),
        ("candidate", result.candidate.predictions),
        ("task", f"{b.task}, {len(b.classes)} classes"),
        ("samples", f"{count(b.n_samples)} paired by {result.paired_by}"),
        *_summary_rows(result),
    ]:
        header.add_row(key, Text(value))
    parts: list[RenderableType] = [_title("xent compare"), header]
    per_class = _table()
    for name in ("class", "n", "base", "candidate", "difference"):
        per_class.add_column(name, justify="left" if name == "class" else "right")
    for cls in result.per_class:
        per_class.add_row(
            Text(cls.name),
            count(cls.n),
            number(cls.base),
            number(cls.candidate),
            number(cls.difference),
        )
    parts += [Text(""), _title(f"Per class ({result.unit})"), per_class]
    if result.most_worse:
        worse = _table()
        worse.add_column("index", justify="right")
        if b.id_column is not None:
            worse.add_column(Text(b.id_column))
        for name in ("label", "base", "candidate", "difference"):
            worse.add_column(name, justify="left" if name == "label" else "right")
        for s in result.most_worse:
            ident = [Text(str(s.id))] if b.id_column is not None else []
            worse.add_row(
                str(s.index),
                *ident,
                Text(s.label),
                number(s.base),
                number(s.candidate),
                number(s.difference),
            )
        parts += [Text(""), _title("Samples that got most worse"), worse]
    if result.gates:
        gates = _table()
        for name in ("gate", "value", "threshold", "result"):
            gates.add_column(name, justify="right" if name in ("value", "threshold") else "left")
        for g in result.gates:
            verdict = (
                Text("PASS", style="bold green") if g.passed else Text("FAIL", style="bold red")
            )
            gates.add_row(Text(g.gate), number(g.value), number(g.threshold), verdict)
        parts += [Text(""), _title("Gates"), gates]
    _print_trimmed(console, Group(*parts))


def render_markdown(result: Comparison) -> str:
    """The comparison as GitHub-flavoured Markdown."""
    b = result.base
    lines = [
        f"### xent compare: {_code(b.predictions)} → {_code(result.candidate.predictions)}",
        markdown_table(
            ["metric", "value"],
            ["l", "l"],
            [[_escape(k), _escape(v)] for k, v in _summary_rows(result)],
        ),
        "**Per class**",
        markdown_table(
            ["class", "n", "base", "candidate", "difference"],
            ["l", "r", "r", "r", "r"],
            [
                [
                    _escape(c.name),
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
        lines.append(
            markdown_table(
                ["gate", "value", "threshold", "result"],
                ["l", "r", "r", "l"],
                [
                    [
                        _escape(g.gate),
                        number(g.value),
                        number(g.threshold),
                        "✅ pass" if g.passed else "❌ fail",
                    ]
                    for g in result.gates
                ],
            )
        )
    return "\n\n".join(lines) + "\n"
