"""Text shared by the renderers: numbers as people read them, and input text made safe.

Every piece of text that comes from an input (paths, column and class names,
labels, ids) and reaches a terminal, a table, Markdown or a message goes
through :func:`printable` first: a class name holding an escape sequence
(clear the screen, write the clipboard) is shown as ``\x1b[2J``, never sent.
"""

from __future__ import annotations

import math
import re
from typing import Any


def printable(text: object) -> str:
    """``text`` on one line, with every character that is not printable shown as its
    Python escape: control characters (ESC, BEL, CR, C1 codes), line and paragraph
    separators, and invisible format characters such as bidirectional overrides.

    >>> printable("cat\x1b[2J")
    'cat\\x1b[2J'
    >>> printable("line\nbreak")
    'line\\nbreak'
    """
    value = str(text)
    if value.isprintable():
        return value
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in value
    )


def printable_lines(text: str) -> str:
    """Text with each line (ended by ``\\n``) made :func:`printable`: a carriage return or
    other line break inside a line is shown as an escape."""
    return "\n".join(printable(line) for line in text.split("\n"))


_MARKDOWN_SPECIAL = re.compile(r"([\\`*|<>\[\]])")


def markdown_escape(text: object) -> str:
    """Input text for a Markdown table cell: printable, with markup characters escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", printable(text))


def markdown_code(text: object, *, in_table: bool = False) -> str:
    """Input text as an inline code span, fenced so that backticks inside survive.

    In a table cell a ``|`` must be escaped even inside a code span.
    """
    value = printable(text)
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    if in_table:
        value = value.replace("|", r"\|")
    return f"{fence}{pad}{value}{pad}{fence}"


SIGNIFICANT = 4
"""Significant digits shown for every loss-like number."""


def number(value: float, digits: int = SIGNIFICANT) -> str:
    """Format ``value`` with ``digits`` significant digits.

    Fixed-point between 1e-4 and 1e6 (``0.6931``, ``36.04``, ``1234``), scientific
    outside that range (``2.220e-16``); ``inf``, ``-inf`` and ``nan`` as such.
    """
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if not -4 <= magnitude < 6:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{max(0, digits - 1 - magnitude)}f}"


def percent(fraction: float) -> str:
    """A fraction as a percentage with one decimal (``0.4123`` -> ``41.2%``)."""
    if not math.isfinite(fraction):
        return number(fraction)
    return f"{100 * fraction:.1f}%"


def edge(value: float) -> str:
    """A histogram edge, as short as it can be written (``0.1``, ``10``, ``inf``)."""
    if not math.isfinite(value):
        return number(value)
    return f"{value:g}"


def count(value: int) -> str:
    """An integer count with thousands separators (``12,345``)."""
    return f"{value:,}"


def metric_rows(metrics: dict[str, Any] | None, unit: str) -> list[tuple[str, str]]:
    """The context metrics of a report as (label, value) pairs, in a fixed order."""
    if not metrics:
        return []
    rows: list[tuple[str, str]] = []
    if "accuracy" in metrics:
        rows.append(("accuracy", percent(metrics["accuracy"])))
    if "brier" in metrics:
        rows.append(("Brier score", number(metrics["brier"])))
    if "ece" in metrics:
        bins = len(metrics.get("calibration", {}).get("count", []))
        rows.append((f"calibration error (ECE, {bins} bins)", number(metrics["ece"])))
    if "entropy" in metrics:
        rows.append(("mean predicted entropy", f"{number(metrics['entropy'])} {unit}"))
    split = metrics.get("loss_split")
    if split:
        cut = split["confident_threshold"]
        rows += [
            (f"loss share: confidently wrong (p ≥ {cut:g})", percent(split["confidently_wrong"])),
            (f"loss share: confidently right (p ≥ {cut:g})", percent(split["confidently_right"])),
            (f"loss share: uncertain (p < {cut:g})", percent(split["uncertain"])),
        ]
    return rows


def reference(value: float, unit: str) -> str:
    """A reference figure with its unit, or ``n/a`` when it is not known (NaN)."""
    if math.isnan(value):
        return "n/a"
    return number(value) + unit


#: The convention of a report that says nothing about it.
DEFAULT_CONVENTION = {"like": "sklearn", "reduction": "weighted-mean"}
_REDUCTIONS = {"weighted-mean": "weighted mean", "mean": "mean over N", "sum": "sum"}


def convention_text(convention: dict[str, str]) -> str:
    """``torch, mean over N``: the framework convention and reduction of a report."""
    reduction = _REDUCTIONS.get(convention["reduction"], convention["reduction"])
    return f"{convention['like']}, {reduction}"


def index_note(report: Any) -> str:
    """What the report says about a saved row index it recognised in the predictions."""
    used = ", shown as the id" if report.id_column == report.index_column else ""
    return f"column {report.index_column!r} is a saved row index: not scored{used}"


def uniform_label(task: str) -> str:
    """What the uniform reference predicts: 1/K per class, or 1/2 per label (multilabel)."""
    return "uniform (1/2 per label)" if task == "multilabel" else "uniform (1/K each)"


def header_facts(report: Any) -> list[tuple[str, str]]:
    """The facts a report's header shows, as (name, text) pairs: task, inputs, unit,
    N, K, clipped, ignored, and the rows renormalized and convention when they apply."""
    inputs = report.inputs + (" (auto-detected)" if report.inputs_detected else "")
    facts = [
        ("task", report.task),
        ("inputs", inputs),
        ("unit", report.unit),
        ("N", count(report.n_samples)),
        ("K", count(len(report.classes)) if report.classes else "—"),
        ("clipped", count(report.aggregate.n_clipped)),
        ("ignored", count(report.n_ignored)),
    ]
    if report.n_renormalized:
        facts.append(("renormalized", count(report.n_renormalized)))
    if report.convention != DEFAULT_CONVENTION:
        facts.append(("like", convention_text(report.convention)))
    return facts


def aggregate_pairs(report: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The aggregate figures and the reference points of a report, as (name, text)
    pairs, the second list padded to the length of the first."""
    agg, ref, unit = report.aggregate, report.reference, f" {report.unit}"
    left = [
        ("loss", number(agg.loss) + unit),
        ("sum", number(agg.sum)),
        ("weight", number(agg.weight)),
        ("perplexity", number(agg.perplexity)),
    ]
    if agg.bits_per_byte is not None:
        left.append(("bits per byte", number(agg.bits_per_byte)))
    right = [
        (uniform_label(report.task), reference(ref.uniform, unit)),
        ("prior (label entropy)", reference(ref.prior, unit)),
        (
            "D² (1 − loss / prior)",
            reference(ref.d2, "") if report.inputs.startswith("target-") else number(ref.d2),
        ),
    ]
    right += [("", "")] * (len(left) - len(right))
    return left, right
