"""Renderers: table, JSON and Markdown output compared with golden files.

Run with ``XENT_UPDATE_GOLDEN=1`` to rewrite the golden files in ``tests/golden/``
after an intended change, then review the diff.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from xent.render.json import render_json
from xent.render.markdown import render_markdown
from xent.render.table import bar, make_console, render_table
from xent.render.text import count, edge, number, percent
from xent.report import (
    Aggregate,
    ClassLoss,
    GateResult,
    Histogram,
    Reference,
    Report,
    SampleLoss,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("XENT_UPDATE_GOLDEN") == "1"
EDGES = [0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, math.inf]
EPS = 2.220446049250313e-16


def _r(x: float) -> float:
    """Round what libm computed, so the golden files do not depend on its last bit."""
    return round(x, 12)


def _nll(p: float) -> float:
    return math.inf if p == 0 else _r(-math.log(p))


def _build(
    predictions: str,
    classes: list[str],
    labels: list[int],
    true_probs: list[float],
    *,
    unit: str = "nats",
    n_clipped: int = 0,
    per_sample: bool = False,
) -> Report:
    """A consistent Report from each sample's label and the probability it gave it.

    Every sample has weight 1; the other fields get plain defaults, to be changed
    with ``dataclasses.replace``.
    """
    scale = 1.0 if unit == "nats" else _r(math.log(2))
    losses = [_r(_nll(p) / scale) for p in true_probs]
    n, total = len(losses), sum(losses)
    mean = total / n
    per_class = []
    for k, name in enumerate(classes):
        mine = [loss for loss, y in zip(losses, labels, strict=True) if y == k]
        part = sum(mine)
        per_class.append(
            ClassLoss(name, len(mine), part / len(mine), part, len(mine), part / total)
        )
    prior = _r(-sum(c.n / n * math.log(c.n / n) for c in per_class) / scale)
    samples = [
        SampleLoss(i, None, classes[y], loss)
        for i, (y, loss) in enumerate(zip(labels, losses, strict=True))
    ]
    counts = [0] * (len(EDGES) - 1)
    for loss in losses:
        counts[min(bisect.bisect_right(EDGES, loss) - 1, len(counts) - 1)] += 1
    return Report(
        predictions=predictions,
        labels=None,
        task="binary" if len(classes) == 2 else "multiclass",
        inputs="probs",
        unit=unit,
        classes=classes,
        n_samples=n,
        n_ignored=0,
        aggregate=Aggregate(mean, total, float(n), _r(math.exp(mean * scale)), n_clipped),
        per_class=per_class,
        reference=Reference(_r(math.log(len(classes)) / scale), prior, 1 - mean / prior),
        histogram=Histogram(list(EDGES), counts),
        top=sorted(samples, key=lambda s: (-s.loss, s.index))[:5],
        per_sample=samples if per_sample else None,
        version="0.1.0",
    )


def _with_ids(report: Report, ids: list[str]) -> Report:
    """Give every sample in ``top`` and ``per_sample`` its id."""
    top = [dataclasses.replace(s, id=ids[s.index]) for s in report.top]
    every = report.per_sample or []
    per_sample = [dataclasses.replace(s, id=ids[s.index]) for s in every]
    return dataclasses.replace(report, top=top, per_sample=per_sample or None)


def binary_report() -> Report:
    """Binary probabilities with two files, an id column, clipping and per-sample rows."""
    labels = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1]
    true_probs = [0.92, 0.85, 0.64, 0.97, 0.71, 0.99, 0.33, 0.58, 1 - EPS, EPS, 0.88, 0.76]
    report = _build(
        "runs/2024-06-01/preds.csv", ["0", "1"], labels, true_probs, n_clipped=2, per_sample=True
    )
    report = dataclasses.replace(
        report,
        labels="data/labels.csv",
        inputs_detected=True,
        id_column="user_id",
        label_column="label",
        prediction_columns=["p"],
        eps=EPS,
    )
    return _with_ids(report, [f"u-{i:04d}" for i in range(1, 13)])


def multiclass_report() -> Report:
    """Multiclass logits, in bits, with ignored rows and passing gates."""
    labels = [0, 1, 2, 0, 0, 1, 2, 1, 0, 2]
    true_probs = [0.81, 0.62, 0.44, 0.95, 0.12, 0.70, 0.51, 0.90, 0.66, 0.08]
    report = _build("preds.parquet", ["cat", "dog", "bird"], labels, true_probs, unit="bits")
    gates = [
        GateResult("max-loss", report.aggregate.loss, 1.5, True),
        GateResult("max-increase", 0.0312, 0.05, True),
    ]
    return dataclasses.replace(
        report,
        inputs="logits",
        n_ignored=3,
        gates=gates,
        label_column="y",
        prediction_columns=["logit_cat", "logit_dog", "logit_bird"],
    )


def nonfinite_report() -> Report:
    """No clipping (eps 0): a zero probability gives inf; gates fail; awkward names."""
    labels = [0, 1, 2, 0, 1, 1, 0]
    true_probs = [0.9, 0.8, 0.0, 0.7, 0.6, 0.95, 0.5]
    classes = ["spam", "[bold]ham[/bold]", "a|b :smile:"]
    report = _build("exports/preds [v2].csv", classes, labels, true_probs)
    gates = [
        GateResult("max-loss", report.aggregate.loss, 0.5, False),
        GateResult("max-class-loss", max(c.loss for c in report.per_class), 2.0, False),
    ]
    return dataclasses.replace(report, gates=gates, n_renormalized=2, eps=0.0)


REPORTS: dict[str, Callable[[], Report]] = {
    "score": binary_report,
    "score_multiclass": multiclass_report,
    "score_gates_nonfinite": nonfinite_report,
}


def _table_text(report: Report) -> str:
    out = io.StringIO()
    render_table(report, Console(width=100, file=out))
    return out.getvalue()


RENDERERS: dict[str, tuple[str, Callable[[Report], str]]] = {
    "table": ("txt", _table_text),
    "markdown": ("md", render_markdown),
    "json": ("json", render_json),
}


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's terminal settings out of rich's decisions."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("fmt", RENDERERS)
@pytest.mark.parametrize("name", REPORTS)
def test_golden(name: str, fmt: str) -> None:
    suffix, render = RENDERERS[fmt]
    path = GOLDEN / f"{name}_{fmt}.{suffix}"
    rendered = render(REPORTS[name]())
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")


# --- JSON -------------------------------------------------------------------

CONTRACT_KEYS = {
    "schema", "xent", "source", "task", "inputs", "unit", "classes", "n_samples",
    "n_ignored", "aggregate", "per_class", "gates", "passed",
}  # fmt: skip
ADDED_KEYS = {"reference", "top", "detected", "histogram", "warnings", "convention"}


@pytest.mark.parametrize("name", REPORTS)
def test_json_has_the_contract_keys(name: str) -> None:
    report = REPORTS[name]()
    data = json.loads(render_json(report))
    optional = {"per_sample"} if report.per_sample is not None else set()
    assert set(data) == CONTRACT_KEYS | ADDED_KEYS | optional
    assert data["schema"] == "xent.score/1"
    assert set(data["source"]) == {"predictions", "labels"}
    assert set(data["aggregate"]) == {"loss", "sum", "weight", "perplexity", "n_clipped"}
    assert set(data["reference"]) == {"uniform", "prior", "d2"}
    for row in data["per_class"]:
        assert set(row) == {"class", "n", "loss", "sum", "share"}
    for row in data["gates"]:
        assert set(row) == {"gate", "value", "threshold", "passed"}
    for row in data.get("per_sample", []) + data["top"]:
        assert set(row) == {"index", "id", "label", "loss"}


def test_json_writes_non_finite_numbers_as_strings() -> None:
    text = render_json(nonfinite_report())
    data = json.loads(text)
    assert data["aggregate"]["loss"] == "inf"
    assert data["aggregate"]["perplexity"] == "inf"
    assert data["reference"]["d2"] == "-inf"
    assert data["per_class"][2]["share"] == "nan"
    assert data["passed"] is False
    assert "Infinity" not in text
    assert "NaN" not in text


def test_json_is_one_object_ending_in_a_newline() -> None:
    text = render_json(binary_report())
    assert text.endswith("}\n")
    assert json.loads(text)["per_sample"][0]["id"] == "u-0001"


def test_json_encodes_numpy_like_ids() -> None:
    class Scalar:
        def __init__(self, value: object) -> None:
            self.value = value

        def item(self) -> object:
            return self.value

    report = binary_report()
    report.top = [dataclasses.replace(report.top[0], id=Scalar(7))]
    report.per_sample = [dataclasses.replace(report.top[0], id=Scalar(math.nan))]
    data = json.loads(render_json(report))
    assert data["top"][0]["id"] == 7
    assert data["per_sample"][0]["id"] == "nan"


# --- table ------------------------------------------------------------------


@pytest.mark.parametrize("name", REPORTS)
def test_table_writes_no_escape_codes_off_a_terminal(name: str) -> None:
    assert "\x1b" not in _table_text(REPORTS[name]())


@pytest.mark.parametrize("width", [40, 60, 100, 160])
def test_table_fits_any_width(width: int) -> None:
    out = io.StringIO()
    render_table(nonfinite_report(), Console(width=width, file=out))
    assert all(len(line) <= width for line in out.getvalue().splitlines())


def test_table_shows_what_was_detected() -> None:
    text = _table_text(binary_report())
    assert "probs (auto-detected)" in text
    assert "user_id" in text
    assert "u-0010" in text
    assert "data/labels.csv" in text


def test_table_prints_user_text_literally() -> None:
    text = _table_text(nonfinite_report())
    assert "exports/preds [v2].csv" in text
    assert "[bold]ham[/bold]" in text
    assert "a|b :smile:" in text
    assert "FAIL" in text
    assert "renormalized" in text


def test_make_console_honours_no_color_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = _table_text(nonfinite_report())
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = io.StringIO()
    render_table(nonfinite_report(), make_console(out, width=100))
    assert "\x1b" in out.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    render_table(nonfinite_report(), make_console(out, width=100))
    assert "\x1b" not in out.getvalue()
    assert out.getvalue() == plain


def test_bar() -> None:
    assert bar(1.0, 4) == "████"
    assert bar(0.5, 4) == "██"
    assert bar(0.28, 4) == "█▏"
    assert bar(1e-9, 4) == "▏"
    assert bar(0.0, 4) == ""
    assert bar(math.nan, 4) == ""


# --- Markdown ---------------------------------------------------------------

_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")


@pytest.mark.parametrize("name", REPORTS)
def test_markdown_tables_are_rectangular(name: str) -> None:
    text = render_markdown(REPORTS[name]())
    tables = [block for block in text.split("\n\n") if block.startswith("|")]
    assert len(tables) == (3 if REPORTS[name]().gates else 2)
    for table in tables:
        widths = {len(_CELL_SEPARATOR.split(row)) for row in table.splitlines()}
        assert len(widths) == 1, table
        assert re.fullmatch(r"\|( :?-+:? \|)+", table.splitlines()[1])


def test_markdown_heading_and_gates() -> None:
    text = render_markdown(nonfinite_report())
    assert text.startswith("### xent: cross-entropy of `exports/preds [v2].csv`\n")
    assert "| max-loss | inf | 0.5000 | ❌ fail |" in text
    assert "✅ pass" in render_markdown(multiclass_report())
    assert "Gates" not in render_markdown(binary_report())


def test_json_does_not_import_rich() -> None:
    code = "import sys, xent.render.json; assert 'rich' not in sys.modules, 'rich imported'"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# --- number formatting --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.6931471805599453, "0.6931"),
        (36.04365338911715, "36.04"),
        (1234.5678, "1235"),
        (123456.7, "123457"),
        (0.001234567, "0.001235"),
        (2.220446049250313e-16, "2.220e-16"),
        (12345678.0, "1.235e+07"),
        (-0.25, "-0.2500"),
        (0.0, "0"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
    ],
)
def test_number(value: float, expected: str) -> None:
    assert number(value) == expected


def test_small_formats() -> None:
    assert percent(0.41234) == "41.2%"
    assert percent(math.nan) == "nan"
    assert edge(0.1) == "0.1"
    assert edge(10.0) == "10"
    assert edge(math.inf) == "inf"
    assert count(1234567) == "1,234,567"


def test_class_json_lines_equal_the_encoder() -> None:
    """Per-class rows are formatted directly; each line equals the C encoder's line
    for the class's dictionary: names needing escapes, NaN/inf, NumPy scalars."""
    import math

    import numpy as np

    from xent.render.json import _class_line, _row
    from xent.report import ClassLoss, json_safe

    classes = [
        ClassLoss('q"uote', 3, 0.25, 0.75, 3.0, 0.1),
        ClassLoss("\x1b[2J é✓", 0, math.nan, 0.0, 0.0, 0.0),
        ClassLoss("big", 1, math.inf, math.inf, 1.0, math.nan),
        ClassLoss("neg", 2, -math.inf, 1e-320, 2.0, 1 / 3),
        ClassLoss("numpy", np.int64(5), np.float64(0.1), np.float64(2.5), 5.0, np.float64(0.2)),  # type: ignore[arg-type]
    ]
    for c in classes:
        assert _class_line(c) == _row(json_safe(c.to_dict()))
    assert _class_line(classes[2]) == (
        '{"class": "big", "n": 1, "loss": "inf", "sum": "inf", "share": "nan"}'
    )


# --- the per-sample CSV's quoting check -------------------------------------------

_CELL_CHARS = ["a", "1", " ", "\t", '"', ",", "\r", "\n", "\x0b", "\x1c", "\xa0", "\u2003"]
_CELL_CHARS += ["é", "日", "\x85", "-"]


@given(
    values=st.lists(
        st.none() | st.text(alphabet=st.sampled_from(_CELL_CHARS), max_size=4), max_size=6
    ),
    skip=st.integers(0, 1),
)
@settings(max_examples=300, deadline=None)
def test_quote_check_agrees_with_the_cell_writer(values: list[str | None], skip: int) -> None:
    # The fast path (pyarrow's writer, no quoting) is taken only when no cell would be
    # quoted by _cell, which decides the quoting of the Python path.
    import pyarrow as pa

    from xent.render.csv import _cell, _needs_quotes

    array = pa.array(["x"] * skip + values, type=pa.string()).slice(skip)
    expected = any(v is not None and _cell(v) != v for v in values)
    assert _needs_quotes(pa.chunked_array([array], type=pa.string())) is expected
    assert _needs_quotes(pa.chunked_array([array.dictionary_encode()])) is expected
    assert _needs_quotes(pa.chunked_array([array.cast(pa.large_string())])) is expected
