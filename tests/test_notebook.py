"""Reports in notebooks: ``to_pandas()``, ``_repr_html_()`` and ``_repr_markdown_()``
of a ``Report`` and a ``Comparison``; and pandas stays off the command's start-up."""

from __future__ import annotations

import html
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xent
from xent.compare import Comparison, compare
from xent.gates import GateOptions, evaluate_gates
from xent.options import ScoreOptions
from xent.render.markdown import render_comparison, render_markdown
from xent.report import Report

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def grouped() -> Report:
    report = xent.score(str(EXAMPLES / "langs.csv"), by="lang", per_sample=True)
    report.gates, _ = evaluate_gates(
        report, GateOptions(max_loss=0.6, max_group_loss=0.8, min_group_size=3)
    )
    return report


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    return compare(
        str(EXAMPLES / "iris.csv"),
        str(EXAMPLES / "iris_v2.csv"),
        options=ScoreOptions(by=("label",)),
        seed=7,
        max_increase="5%",
    )


def test_report_to_pandas(grouped: Report) -> None:
    frames = grouped.to_pandas()
    data = grouped.to_dict()

    per_class = frames.per_class
    assert per_class.index.name == "class"
    assert list(per_class.index) == grouped.classes
    assert list(per_class.columns) == ["n", "loss", "sum", "weight", "share"]
    assert per_class["n"].dtype == np.int64
    for c in data["per_class"]:
        row = per_class.loc[c["class"]]
        assert (row["n"], row["loss"], row["sum"], row["share"]) == (
            c["n"],
            c["loss"],
            c["sum"],
            c["share"],
        )

    top = frames.top
    assert top.index.name == "index"
    assert list(top.columns) == ["id", "label", "loss"]
    assert list(top.index) == [s["index"] for s in data["top"]]
    assert list(top["loss"]) == [s["loss"] for s in data["top"]]

    per_sample = frames.per_sample
    assert len(per_sample) == grouped.n_samples == 18
    assert list(per_sample.index) == list(range(18))
    assert list(per_sample["id"]) == [s["id"] for s in data["per_sample"]]
    assert per_sample.loc[17, "loss"] == pytest.approx(math.log(10))

    groups = frames.groups
    assert groups.index.name == "lang"
    assert list(groups.index) == ["sw", "de", "fr", "en"]  # highest loss first
    assert list(groups.columns) == ["n", "loss", "sum", "weight", "perplexity", "share"]
    for g in data["groups"]:
        row = groups.loc[g["key"]["lang"]]
        for name in ("n", "loss", "sum", "weight", "perplexity", "share"):
            assert row[name] == pytest.approx(g[name], rel=1e-15), name

    gates = frames.gates
    assert list(gates["gate"]) == ["max-loss", "max-group-loss"]
    assert list(gates["passed"]) == [False, False]
    assert gates.loc[1, "failed_groups"] == ["lang=de"]
    assert gates.loc[1, "n_failed"] == 1


def test_to_pandas_leaves_out_what_the_report_has_not() -> None:
    frames = xent.score(str(EXAMPLES / "iris.csv")).to_pandas()
    assert frames.per_sample is None
    assert frames.groups is None
    assert frames.gates.empty
    assert list(frames.gates.columns) == [
        "gate",
        "value",
        "threshold",
        "passed",
        "failed_groups",
        "n_failed",
    ]


def test_groups_of_several_columns_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "doc,src,loss,loss_col,n_bytes\n"
        "d1,web,0,-0.5,3\nd1,web,0,-2.0,4\nd2,book,0,-0.1,5\nd2,web,0,-0.3,2\n"
    )
    # A --by column named like a figure ("loss") cannot collide: groups are the index.
    report = xent.score(
        str(tmp_path / "t.csv"),
        inputs="target-log-probs",
        pred_cols="loss_col",
        by="doc,loss",
        bytes_col="n_bytes",
    )
    groups = report.to_pandas().groups
    assert isinstance(groups.index, pd.MultiIndex)
    assert list(groups.index.names) == ["doc", "loss"]
    assert "bits_per_byte" in groups.columns
    for g in report.to_dict()["groups"]:
        row = groups.loc[tuple(g["key"].values())]
        assert row["loss"] == pytest.approx(g["loss"])
        assert row["bytes"] == g["bytes"]
        assert row["bits_per_byte"] == pytest.approx(g["bits_per_byte"], rel=1e-15)


def test_comparison_to_pandas(comparison: Comparison) -> None:
    frames = comparison.to_pandas()
    data = comparison.to_dict()
    assert list(frames.per_class.index) == comparison.base.classes
    assert list(frames.per_class.columns) == ["n", "base", "candidate", "difference"]
    assert list(frames.most_worse.index) == [s["index"] for s in data["most_worse"]]
    pairs = frames.pairs
    assert list(pairs.columns) == ["id", "label", "base", "candidate", "difference"]
    assert len(pairs) == 10
    assert (pairs["difference"] == pairs["candidate"] - pairs["base"]).all()
    weighted = pairs["difference"].mean()
    assert weighted == pytest.approx(data["difference"]["mean"], rel=1e-12)
    assert list(frames.groups.index) == [g["key"]["label"] for g in data["groups"]]
    assert list(frames.groups["significant"]) == [g["significant"] for g in data["groups"]]
    assert list(frames.gates["gate"]) == ["max-increase", "max-group-increase"]


def test_report_html(grouped: Report) -> None:
    page = grouped._repr_html_()
    assert page.startswith('<div class="xent-report"')
    assert page.rstrip().endswith("</div>")
    # Header facts, the aggregate and reference points, per class, per group, gates.
    for needle in (
        "<code>" + html.escape(grouped.predictions) + "</code>",
        "multiclass",
        "probs (auto-detected)",
        "<strong>0.6935</strong> nats",
        "uniform (1/K each)",
        "1.099 nats",
        ">Per class<",
        ">neg</td>",
        "40.4%",
        "width: 40.4%",  # the share bar
        ">Per group<",
        ">sw</td>",
        "4 groups, macro loss 1.079 nats",
        ">Highest-loss samples<",
        ">t18</td>",
        "❌ 2 of 2 failed",
        ">max-group-loss</td>",
    ):
        assert needle in page, needle
    assert "<script" not in page
    assert "<style" not in page
    assert "http" not in page


def test_report_markdown_is_the_markdown_format(grouped: Report) -> None:
    assert grouped._repr_markdown_() == render_markdown(grouped)


def test_comparison_reprs(comparison: Comparison) -> None:
    page = comparison._repr_html_()
    assert page.startswith('<div class="xent-compare"')
    for needle in (
        "0.04413 nats",
        "[-0.006518, 0.09008] (1,000 resamples)",
        ">virginica</td>",
        ">worse</td>",
        ">Samples that got most worse<",
        ">max-group-increase</td>",
    ):
        assert needle in page, needle
    assert comparison._repr_markdown_() == render_comparison(comparison)


def test_input_text_is_escaped_in_html(tmp_path: Path) -> None:
    name = '<script>alert("x")</script>'
    (tmp_path / "h.csv").write_text(
        'id,label,p_a,"p_<script>alert(""x"")</script>",grp\n'
        '"<b>1</b>",a,0.7,0.3,<i>&amp;\x1b[2J\n'
        '2,"<script>alert(""x"")</script>",0.4,0.6,<i>&amp;\x1b[2J\n'
    )
    report = xent.score(str(tmp_path / "h.csv"), by="grp")
    assert name in report.classes
    page = report._repr_html_()
    assert "<script" not in page
    assert "<b>1</b>" not in page
    assert "<i>" not in page
    assert "\x1b" not in page
    assert html.escape(name) in page
    assert "&lt;b&gt;1&lt;/b&gt;" in page
    assert "&lt;i&gt;&amp;amp;\\x1b[2J" in page  # printable, then escaped
    # Only xent's own tags are left once the escaped text is taken out.
    tags = set(re.findall(r"<(/?[a-z]+)", page))
    assert tags <= {"div", "/div", "strong", "/strong", "code", "/code", "table", "/table",
                    "thead", "/thead", "tbody", "/tbody", "tr", "/tr", "th", "/th", "td",
                    "/td", "span", "/span"}  # fmt: skip
    markdown = report._repr_markdown_()
    assert "<script>" not in markdown


def test_pandas_is_not_imported_by_the_command() -> None:
    code = (
        "import sys\n"
        "from xent import cli\n"
        "try:\n"
        "    cli.main(['score', sys.argv[1], '--format', 'json', '--max-loss', '1',"
        " '--junit', sys.argv[2]])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'jsonschema')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES / "iris.csv"), "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_html_shows_the_header_facts_of_the_table_and_markdown() -> None:
    """The HTML view names a framework convention, as the table and Markdown do."""
    report = xent.score("examples/iris.csv", like="torch")
    facts = dict(re.findall(r"<td[^>]*>([^<]+)</td><td[^>]*>([^<]*)</td>", report._repr_html_()))
    assert facts["like"] == "torch, weighted mean"
    assert facts["N"] == "10"
    assert "| like | torch, weighted mean |" in render_markdown(report)
