"""``xent explain``: the worked loss of one sample.

(a) docs/cross-entropy.md cannot drift: its console examples are run and compared.
(b) The loss ``explain`` reports is the loss ``score --format csv`` gives that row,
    exactly (both parsed as floats and compared with ``==``), for every task,
    input kind and option that changes a loss.
(c) Hand-computed values.
(d) Errors: one line, exit code 2.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shlex
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "cross-entropy.md"
DOC_EXAMPLES = REPO / "docs" / "examples"
EXAMPLES = REPO / "examples"

# --- (a) the documentation -------------------------------------------------------------


def console_blocks(text: str) -> list[tuple[int, list[tuple[str, str]]]]:
    """Each ```console block: its line number and (command, expected output) pairs.

    A line starting with ``$ `` is a command; the lines up to the next command or
    the end of the block are its output.
    """
    blocks = []
    for match in re.finditer(r"^```console\n(.*?)^```$", text, flags=re.S | re.M):
        line = text.count("\n", 0, match.start()) + 1
        pairs: list[tuple[str, str]] = []
        for chunk in re.split(r"^(?=\$ )", match.group(1), flags=re.M):
            if not chunk:
                continue
            command, _, output = chunk.partition("\n")
            assert command.startswith("$ "), f"line {line}: output before any command"
            pairs.append((command[2:], output))
        blocks.append((line, pairs))
    return blocks


DOC_BLOCKS = console_blocks(DOC.read_text(encoding="utf-8"))
EXPLAIN_BLOCKS = [b for b in DOC_BLOCKS if b[1] and b[1][0][0].startswith("xent explain ")]


def test_the_doc_has_worked_examples() -> None:
    commands = [c for _, pairs in DOC_BLOCKS for c, _ in pairs]
    assert len(EXPLAIN_BLOCKS) >= 10
    assert all(c.startswith("xent ") for c in commands)
    text = DOC.read_text(encoding="utf-8")
    # the contract's example and the files it promises
    assert "H = -[1·ln(0.9) + 0·ln(0.1)] = 0.1054 nats" in text
    for name in ("binary.csv", "animals.csv", "logits.csv"):
        assert f"docs/examples/{name}" in text
    assert "--label-smoothing" in " ".join(commands)
    assert "--inputs" in text


@pytest.mark.parametrize("block", DOC_BLOCKS, ids=[f"line{line}" for line, _ in DOC_BLOCKS])
def test_doc_examples_are_real(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, block: tuple[int, list[tuple[str, str]]]
) -> None:
    """Every console block (all run xent explain or xent score) prints what the doc says."""
    monkeypatch.chdir(REPO)
    _, pairs = block
    for command, expected in pairs:
        args = shlex.split(command)
        assert args[0] == "xent"
        code, out, err = invoke(args[1:])
        assert code == 0, f"{command}: exit {code}: {err}"
        assert out + err == expected, command


# --- (b) explain == score, row by row ------------------------------------------------

BINARY_LOGITS = "id,label,z\nn1,1,2.5\nn2,0,-800\nn3,0,800\nn4,1,-37.5\nn5,1,0\n"
MULTI_EDGES = (
    "label,p_a,p_b,p_c\n"
    "a,1,0,0\n"  # p = 1 on the truth
    "b,1,0,0\n"  # p = 0 on the truth
    "c,0.5,0.5,0\n"
    "a,0.2,0.3,0.5\n"
)
BINARY_EDGES = "label,p\n1,1\n0,0\n1,0\n0,1\n1,0.5\n"
UNNORMALISED = "label,p_x,p_y,p_z\nx,0.5,0.3,0.1\ny,0.2,0.2,0.2\nz,0.3,0.3,0.4\nx,0.9,0.2,0.1\n"
MULTILABEL_LOGITS = "y_a,y_b,z_a,z_b\n1,0,3.0,-2.0\n0,1,40,-40\n1,1,0.0,0.5\n"


def _log_probs() -> str:
    rng = np.random.default_rng(5)
    z = rng.normal(0, 3, (6, 4))
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    y = rng.integers(0, 4, 6)
    lines = ["label,lp_0,lp_1,lp_2,lp_3"]
    lines += [f"{y[i]}," + ",".join(repr(float(v)) for v in log_p[i]) for i in range(6)]
    return "\n".join(lines) + "\n"


def _binary_log_probs() -> str:
    values = [-0.1, -2.3, -1e-9, -50.0, -0.6931471805599453]
    return "label,lp\n" + "".join(f"{i % 2},{v!r}\n" for i, v in enumerate(values))


#: name -> (file to copy or text to write, options)
FILES: dict[str, str | Path] = {
    "binary.csv": DOC_EXAMPLES / "binary.csv",
    "animals.csv": DOC_EXAMPLES / "animals.csv",
    "logits.csv": DOC_EXAMPLES / "logits.csv",
    "soft.csv": EXAMPLES / "soft.csv",
    "soft2.csv": DOC_EXAMPLES / "soft.csv",
    "multilabel.csv": EXAMPLES / "multilabel.csv",
    "weighted.csv": EXAMPLES / "weighted.csv",
    "spam.csv": EXAMPLES / "spam.csv",
    "confident.csv": EXAMPLES / "confident.csv",
    "ex_logits.csv": EXAMPLES / "logits.csv",
    "preds_only.csv": EXAMPLES / "preds_only.csv",
    "labels.csv": EXAMPLES / "labels.csv",
    "preds.npy": EXAMPLES / "preds.npy",
    "labels.npy": EXAMPLES / "labels.npy",
    "iris.csv": EXAMPLES / "iris.csv",
    "binary_logits.csv": BINARY_LOGITS,
    "multi_edges.csv": MULTI_EDGES,
    "binary_edges.csv": BINARY_EDGES,
    "unnormalised.csv": UNNORMALISED,
    "multilabel_logits.csv": MULTILABEL_LOGITS,
    "log_probs.csv": _log_probs(),
    "binary_log_probs.csv": _binary_log_probs(),
}

#: case id -> (file, options)
CASES: dict[str, tuple[str, list[str]]] = {
    # tasks
    "binary": ("binary.csv", []),
    "binary-pos-label": ("spam.csv", ["--pos-label", "spam"]),
    "multiclass": ("animals.csv", []),
    "multiclass-iris": ("iris.csv", []),
    "soft": ("soft.csv", ["--label-cols", "q_*"]),
    "soft-zero-targets": ("soft2.csv", ["--label-cols", "q_*"]),
    "multilabel": ("multilabel.csv", ["--task", "multilabel", "--label-cols", "y_*"]),
    # input kinds
    "logits": ("logits.csv", []),
    "logits-forced": ("animals.csv", ["--inputs", "logits"]),
    "binary-logits": ("binary_logits.csv", []),
    "multilabel-logits": (
        "multilabel_logits.csv",
        ["--task", "multilabel", "--label-cols", "y_*", "--inputs", "logits"],
    ),
    "log-probs": ("log_probs.csv", ["--inputs", "log-probs"]),
    "binary-log-probs": ("binary_log_probs.csv", ["--inputs", "log-probs"]),
    # label smoothing
    "smoothing": ("animals.csv", ["--label-smoothing", "0.1"]),
    "smoothing-binary": ("binary.csv", ["--label-smoothing", "0.2"]),
    "smoothing-logits": ("logits.csv", ["--label-smoothing", "0.3"]),
    "smoothing-soft": ("soft.csv", ["--label-cols", "q_*", "--label-smoothing", "0.05"]),
    "smoothing-multilabel": (
        "multilabel.csv",
        ["--task", "multilabel", "--label-cols", "y_*", "--label-smoothing", "0.1"],
    ),
    "smoothing-edges": ("multi_edges.csv", ["--label-smoothing", "0.1"]),
    # weights
    "weights": ("weighted.csv", ["--weight-col", "w"]),
    "class-weights": ("animals.csv", ["--class-weights", "cat=2,dog=0.5"]),
    "both-weights": ("weighted.csv", ["--weight-col", "w", "--class-weights", "dog=3"]),
    # clipping, p = 0 and 1
    "eps-auto-binary": ("binary_edges.csv", []),
    "eps-auto-multiclass": ("multi_edges.csv", []),
    "eps-zero-binary": ("binary_edges.csv", ["--eps", "0"]),
    "eps-zero-multiclass": ("multi_edges.csv", ["--eps", "0"]),
    "eps-large": ("binary.csv", ["--eps", "1e-3"]),
    "eps-large-multiclass": ("animals.csv", ["--eps", "0.04"]),
    "eps-confident": ("confident.csv", []),
    # units
    "bits": ("animals.csv", ["--unit", "bits"]),
    "bits-logits": ("logits.csv", ["--unit", "bits"]),
    "bits-binary": ("binary.csv", ["--unit", "bits"]),
    # rows not summing to 1
    "renormalize": ("unnormalised.csv", ["--renormalize"]),
    # ignored rows
    "ignore-label": ("ex_logits.csv", ["--ignore-label", "-100"]),
    "ignore-label-name": ("animals.csv", ["--ignore-label", "bird"]),
    # labels in a second file
    "labels-by-position": ("preds_only.csv", ["--labels", "labels.csv"]),
    "labels-by-id": ("preds_only.csv", ["--labels", "labels.csv", "--id-col", "id"]),
    "labels-npy": ("preds.npy", ["--labels", "labels.npy"]),
    "labels-npy-named": ("preds.npy", ["--labels", "labels.npy", "--classes", "a,b,c"]),
}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name, content in FILES.items():
        if isinstance(content, Path):
            shutil.copy(content, tmp_path / name)
        else:
            (tmp_path / name).write_text(content)
    return tmp_path


def score_csv(invoke: Invoke, name: str, options: list[str]) -> list[dict[str, str]]:
    code, out, err = invoke(["score", name, *options, "--format", "csv"])
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


def explain_json(invoke: Invoke, name: str, options: list[str], *select: str) -> dict[str, object]:
    code, out, err = invoke(["explain", name, *options, *select, "--json"])
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    assert result["schema"] == "xent.explain/1"
    return result


def as_float(value: object) -> float:
    assert isinstance(value, float | int | str), value
    return float(value)


@pytest.mark.parametrize("case", list(CASES))
def test_explain_equals_score(invoke: Invoke, files: Path, case: str) -> None:
    name, options = CASES[case]
    rows = score_csv(invoke, name, options)
    assert len(rows) >= 2
    for row in rows:
        result = explain_json(invoke, name, options, "--row", row["index"])
        assert result["index"] == int(row["index"])
        assert as_float(result["loss"]) == float(row["loss"]), (case, row)
        assert result["label"] == row["label"]
        if row["id"]:
            assert str(result["id"]) == row["id"]
        else:
            assert result["id"] is None
        # the text form ends with the same loss, to full precision
        code, text, _ = invoke(["explain", name, *options, "--row", row["index"]])
        assert code == 0
        last = text.splitlines()[-1]
        assert last.startswith("loss = ")
        assert float(last.split()[2]) == float(row["loss"])


@pytest.mark.parametrize(
    ("case", "name", "options"),
    [
        ("id-column", "animals.csv", []),
        ("id-column-weights", "weighted.csv", ["--weight-col", "w"]),
        ("id-joined-labels", "preds_only.csv", ["--labels", "labels.csv", "--id-col", "id"]),
        ("id-multilabel", "multilabel.csv", ["--task", "multilabel", "--label-cols", "y_*"]),
    ],
)
def test_explain_by_id_equals_score(
    invoke: Invoke, files: Path, case: str, name: str, options: list[str]
) -> None:
    rows = score_csv(invoke, name, options)
    assert "id" in rows[0], case
    for row in rows:
        result = explain_json(invoke, name, options, "--id", row["id"])
        assert result["index"] == int(row["index"])
        assert str(result["id"]) == row["id"]
        assert as_float(result["loss"]) == float(row["loss"])


def test_explicit_id_column(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "img.csv").write_text("image,label,p\nx7,1,0.25\nx8,0,0.25\nx9,1,0.75\n")
    rows = score_csv(invoke, "img.csv", ["--id-col", "image"])
    for row in rows:
        result = explain_json(invoke, "img.csv", ["--id-col", "image"], "--id", row["id"])
        assert as_float(result["loss"]) == float(row["loss"])
    result = explain_json(invoke, "img.csv", ["--id-col", "image"], "--id", "x9")
    assert result["index"] == 2
    assert as_float(result["loss"]) == -math.log(0.75)


def test_infinite_losses_are_explained(invoke: Invoke, files: Path) -> None:
    for row in ("2", "3"):  # p = 0 on a positive, p = 1 on a negative
        result = explain_json(invoke, "binary_edges.csv", ["--eps", "0"], "--row", row)
        assert result["loss"] == "inf"
        code, text, _ = invoke(["explain", "binary_edges.csv", "--eps", "0", "--row", row])
        assert code == 0
        assert "= ∞ nats" in text
        assert text.endswith("loss = inf nats\n")
    result = explain_json(invoke, "binary_edges.csv", ["--eps", "0"], "--row", "1")
    assert as_float(result["loss"]) == 0.0  # p = 0 on a negative: no loss


def test_clipping_is_noted(invoke: Invoke, files: Path) -> None:
    result = explain_json(invoke, "binary_edges.csv", [], "--row", "2")
    assert as_float(result["loss"]) == -math.log(np.finfo(np.float64).eps)
    assert round(as_float(result["loss"]), 2) == 36.04
    notes = result["notes"]
    assert isinstance(notes, list)
    assert any("clipped" in str(n) for n in notes)


# --- (c) hand-computed values ---------------------------------------------------------


def test_binary_worked_example(invoke: Invoke, tmp_path: Path) -> None:
    """The reference text's example: y = 1, p = 0.9 gives -ln(0.9) ≈ 0.105."""
    (tmp_path / "one.csv").write_text("label,p\n1,0.9\n")
    result = explain_json(invoke, "one.csv", [], "--row", "0")
    loss = as_float(result["loss"])
    assert loss == -math.log(0.9)
    # 0.1053605156578263 is -ln(9/10) rounded to 16 digits; -ln of the float64
    # nearest 0.9 is one unit in the last place below it.
    assert loss == pytest.approx(0.1053605156578263, rel=0, abs=2e-17)
    assert round(loss, 3) == 0.105
    assert result["formula"] == "H = -[y·ln(p) + (1 - y)·ln(1 - p)]"
    assert result["steps"] == ["H = -[1·ln(0.9) + 0·ln(0.1)] = 0.1054 nats"]
    code, text, _ = invoke(["explain", "one.csv", "--row", "0"])
    assert code == 0
    assert "H = -[1·ln(0.9) + 0·ln(0.1)] = 0.1054 nats" in text


def test_multiclass_worked_example(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "three.csv").write_text("label,p_0,p_1,p_2\n0,0.7,0.2,0.1\n")
    result = explain_json(invoke, "three.csv", [], "--row", "0")
    assert as_float(result["loss"]) == -math.log(0.7)
    assert str(result["formula"]).startswith("H = -Σ_c q_c·ln(p_c)")
    assert result["steps"] == ["H = -ln(0.7) = 0.3567 nats"]


def test_logits_worked_example(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "z.csv").write_text("label,z_0,z_1,z_2\n0,2,1,0.1\n")
    # Whole-number logits are only taken as logits when asked for (a column of whole
    # numbers is more often an index or a counter).
    result = explain_json(invoke, "z.csv", ["--inputs", "logits"], "--row", "0")
    assert result["inputs"] == "logits"
    loss = as_float(result["loss"])
    assert loss == 0.41703001627783376
    assert loss == pytest.approx(math.log(math.exp(2) + math.exp(1) + math.exp(0.1)) - 2, rel=1e-15)
    assert "ln Σ_j e^(z_j) = ln(e^(2) + e^(1) + e^(0.1)) = 2.417" in result["steps"]  # type: ignore[operator]


def test_large_logits_do_not_overflow(invoke: Invoke, files: Path) -> None:
    result = explain_json(invoke, "logits.csv", [], "--row", "2")
    assert as_float(result["loss"]) == 2000.0
    result = explain_json(invoke, "binary_logits.csv", [], "--row", "2")  # y = 0, z = 800
    assert as_float(result["loss"]) == 800.0


def test_smoothed_and_soft_worked_examples(invoke: Invoke, files: Path) -> None:
    smoothed = explain_json(invoke, "animals.csv", ["--label-smoothing", "0.1"], "--row", "0")
    q = np.array([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3])
    expected = float(-(q * np.log([0.7, 0.2, 0.1])).sum())
    assert as_float(smoothed["loss"]) == pytest.approx(expected, rel=1e-15)
    soft = explain_json(invoke, "soft2.csv", ["--label-cols", "q_*"], "--row", "0")
    assert as_float(soft["loss"]) == pytest.approx(
        -(0.8 * math.log(0.7) + 0.2 * math.log(0.2)), rel=1e-15
    )
    multilabel = explain_json(
        invoke, "multilabel.csv", ["--task", "multilabel", "--label-cols", "y_*"], "--row", "2"
    )
    expected = -(math.log(0.7) + math.log(0.9) + math.log(0.6)) / 3
    assert as_float(multilabel["loss"]) == pytest.approx(expected, rel=1e-15)


def test_bits_are_nats_over_ln_2(invoke: Invoke, files: Path) -> None:
    bits = explain_json(invoke, "binary.csv", ["--unit", "bits"], "--row", "0")
    assert bits["unit"] == "bits"
    assert as_float(bits["loss"]) == pytest.approx(-math.log2(0.9), rel=1e-15)


def test_weight_is_reported(invoke: Invoke, files: Path) -> None:
    result = explain_json(
        invoke, "weighted.csv", ["--weight-col", "w", "--class-weights", "cat=4"], "--row", "1"
    )
    assert result["weight"] == 8.0  # sample weight 2, class weight 4


# --- (d) errors -------------------------------------------------------------------------


def assert_usage_error(result: Result, *fragments: str) -> None:
    code, out, err = result
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("xent: error: ")
    for fragment in fragments:
        assert fragment in err


def test_row_out_of_range(invoke: Invoke, files: Path) -> None:
    assert_usage_error(
        invoke(["explain", "binary.csv", "--row", "5"]),
        "--row 5",
        "binary.csv",
        "5 rows",
        "indices 0..4",
    )
    assert_usage_error(invoke(["explain", "binary.csv", "--row", "-1"]), "--row", "-1")


def test_row_of_an_ignored_sample(invoke: Invoke, files: Path) -> None:
    assert_usage_error(
        invoke(["explain", "ex_logits.csv", "--ignore-label", "-100", "--row", "3"]),
        "--row 3",
        "ignored label",
    )
    # the rows around it are fine
    assert invoke(["explain", "ex_logits.csv", "--ignore-label", "-100", "--row", "4"])[0] == 0


def test_row_and_id_together(invoke: Invoke, files: Path) -> None:
    assert_usage_error(
        invoke(["explain", "animals.csv", "--row", "1", "--id", "a2"]), "--row", "--id"
    )


def test_neither_row_nor_id(invoke: Invoke, files: Path) -> None:
    assert_usage_error(invoke(["explain", "animals.csv"]), "--row", "--id")


def test_unknown_id(invoke: Invoke, files: Path) -> None:
    assert_usage_error(
        invoke(["explain", "animals.csv", "--id", "zebra"]), "'zebra'", "animals.csv", "'id'"
    )


def test_id_of_an_ignored_sample(invoke: Invoke, files: Path) -> None:
    code, out, err = invoke(["explain", "animals.csv", "--ignore-label", "bird", "--id", "a3"])
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "'a3'" in err
