"""``--summary FILE``: the Markdown of a run, written beside its ``--format`` output.

One run of ``xent score`` or ``xent compare`` gives both the output of its format and
exactly what ``--format markdown`` prints for the same arguments, so a CI job reads
its predictions once. The file is written atomically, like ``--output`` and
``--junit``, and no two outputs may share standard output or a file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

Invoke = Callable[[Sequence[str]], tuple[int, str, str]]

SCORE = ["score", "examples/iris.csv", "--by", "label", "--top-classes", "2"]
COMPARE = ["compare", "examples/iris.csv", "examples/iris_v2.csv", "--seed", "7"]


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path


@pytest.mark.parametrize("args", [SCORE, COMPARE], ids=["score", "compare"])
@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_summary_is_the_markdown_of_the_same_run(
    invoke: Invoke, examples: Path, args: list[str], fmt: str
) -> None:
    code, markdown, _ = invoke([*args, "-f", "markdown"])
    assert code == 0
    code, alone, _ = invoke([*args, "-f", fmt])
    assert code == 0
    code, out, err = invoke([*args, "-f", fmt, "--summary", "s.md"])
    assert (code, err) == (0, "")
    assert out == alone
    assert (examples / "s.md").read_text(encoding="utf-8") == markdown
    assert markdown.startswith("#")


def test_summary_beside_per_sample_csv(invoke: Invoke, examples: Path) -> None:
    code, markdown, _ = invoke(["score", "examples/iris.csv", "-f", "markdown"])
    assert code == 0
    code, out, _ = invoke(["score", "examples/iris.csv", "-f", "csv", "--summary", "s.md"])
    assert code == 0
    assert out.splitlines()[0] == "index,id,label,loss"
    assert len(out.splitlines()) == 11  # the header and iris's ten samples
    assert (examples / "s.md").read_text(encoding="utf-8") == markdown


def test_summary_to_standard_output_beside_a_file(invoke: Invoke, examples: Path) -> None:
    code, markdown, _ = invoke(["score", "examples/iris.csv", "-f", "markdown"])
    args = ["score", "examples/iris.csv", "-f", "json", "-o", "r.json", "--summary", "-"]
    code, out, _ = invoke([*args, "--junit", "g.xml"])
    assert code == 0
    assert out == markdown
    assert json.loads((examples / "r.json").read_text())["n_samples"] == 10
    assert (examples / "g.xml").read_text().startswith("<?xml")


def test_a_failed_gate_writes_the_summary_and_broken_input_none(
    invoke: Invoke, examples: Path
) -> None:
    code, _, err = invoke(["score", "examples/iris.csv", "--max-loss", "0.3", "--summary", "s.md"])
    assert code == 1
    assert err == "xent: gate max-loss failed: 0.33468 nats > 0.3\n"
    assert "max-loss" in (examples / "s.md").read_text(encoding="utf-8")
    # A run that cannot score leaves no file, and an earlier one untouched.
    (examples / "old.md").write_text("old")
    code, _, _ = invoke(["score", "examples/logits.csv", "--summary", "old.md"])
    assert code == 4
    assert (examples / "old.md").read_text() == "old"
    code, _, _ = invoke(["score", "examples/logits.csv", "--summary", "new.md"])
    assert code == 4
    assert not (examples / "new.md").exists()
    assert not [p.name for p in examples.iterdir() if p.name.startswith(".xent-")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--summary", "-"],
            "--summary - and the result would both go to standard output; give --output FILE, "
            "or --summary a file name",
        ),
        (
            ["-o", "r.json", "--junit", "-", "--summary", "-"],
            "--summary - and --junit - would both go to standard output; give --junit a file "
            "name, or --summary a file name",
        ),
        (
            ["--summary", "same.md", "-o", "same.md"],
            "--summary same.md and --output same.md are the same file",
        ),
        (
            ["--summary", "same.md", "--junit", "same.md"],
            "--summary same.md and --junit same.md are the same file",
        ),
        (
            ["--summary", "examples/iris.csv"],
            "--summary examples/iris.csv is one of the inputs (examples/iris.csv); writing "
            "the result there would replace it: give another file name",
        ),
    ],
    ids=["both-on-stdout", "with-junit-on-stdout", "same-as-output", "same-as-junit", "an-input"],
)
def test_summary_usage_errors(
    invoke: Invoke, examples: Path, extra: list[str], message: str
) -> None:
    before = (examples / "examples" / "iris.csv").read_bytes()
    for args in (["score", "examples/iris.csv"], COMPARE):
        code, out, err = invoke([*args, *extra])
        assert (code, out) == (2, "")
        assert err == f"xent: error: {message}\n"
    assert (examples / "examples" / "iris.csv").read_bytes() == before
    assert not (examples / "same.md").exists()
