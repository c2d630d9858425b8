"""Quality gates of ``xent score`` (contract §5 and §6): the unattended, CI use of xent.

Every gate is run both ways, with its exit code (0 pass, 1 fail) and the exact line it
prints on standard error; the full output is still written when a gate fails; baselines
that cannot be read, or that measured something else, are errors and never a silent pass.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]

# --- inputs -----------------------------------------------------------------

MULTICLASS = """\
id,label,p_cat,p_dog,p_bird
a,cat,0.7,0.2,0.1
b,dog,0.1,0.8,0.1
c,bird,0.2,0.2,0.6
d,cat,0.5,0.25,0.25
"""
LOSSES = [-math.log(0.7), -math.log(0.8), -math.log(0.6), -math.log(0.5)]
LOSS = sum(LOSSES) / 4
CLASS_LOSS = {
    "cat": (LOSSES[0] + LOSSES[3]) / 2,
    "dog": LOSSES[1],
    "bird": LOSSES[2],
}

#: MULTICLASS with row ``a`` made worse: p(cat) 0.7 -> 0.6.
WORSE = MULTICLASS.replace("a,cat,0.7,0.2,0.1", "a,cat,0.6,0.3,0.1")
WORSE_LOSS = LOSS + (math.log(0.7) - math.log(0.6)) / 4
INCREASE = WORSE_LOSS - LOSS  # 0.0385...

#: Same classes, but no sample of class ``bird``.
NO_BIRD = """\
label,p_cat,p_dog,p_bird
cat,0.7,0.2,0.1
dog,0.1,0.8,0.1
"""

OTHER_CLASSES = """\
label,p_cat,p_dog,p_fish
cat,0.7,0.2,0.1
dog,0.1,0.8,0.1
"""

TWO_CLASSES = """\
label,p_cat,p_dog
cat,0.7,0.3
dog,0.1,0.9
"""

BINARY = """\
label,p
1,0.9
0,0.2
1,0.6
0,0.3
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name


def save_baseline(
    invoke: Invoke, tmp_path: Path, text: str = MULTICLASS, *extra: str, name: str = "base.json"
) -> str:
    """Save ``xent score --format json`` of ``text`` as a baseline, as a user would."""
    source = write(tmp_path, "baseline_preds.csv", text)
    code, _, err = invoke(["score", source, "--format", "json", "--output", name, *extra])
    assert code == 0, err
    return name


def gate_json(invoke: Invoke, args: Sequence[str]) -> tuple[int, dict[str, Any], str]:
    code, out, err = invoke([*args, "--format", "json"])
    return code, json.loads(out), err


def fmt(value: float) -> str:
    return f"{value:.6g}"


def error_line(err: str) -> str:
    """The one error line of a failed run (no traceback, nothing else)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xent: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- each gate, both ways ---------------------------------------------------------


@pytest.mark.parametrize(("threshold", "passes"), [(0.5, True), (0.4, False), (0.1, False)])
def test_max_loss(invoke: Invoke, tmp_path: Path, threshold: float, passes: bool) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = invoke(["score", preds, "--max-loss", repr(threshold)])
    assert out  # the report is written either way
    if passes:
        assert (code, err) == (0, "")
    else:
        assert code == 1
        assert err == f"xent: gate max-loss failed: {fmt(LOSS)} nats > {fmt(threshold)}\n"


def test_max_loss_equal_to_the_loss_passes(invoke: Invoke, tmp_path: Path) -> None:
    # "must be <= X": the loss as written in the JSON report is its own threshold.
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    _, data, _ = gate_json(invoke, ["score", preds])
    loss = data["aggregate"]["loss"]
    code, data, err = gate_json(invoke, ["score", preds, "--max-loss", repr(loss)])
    assert (code, err) == (0, "")
    assert data["gates"] == [{"gate": "max-loss", "value": loss, "threshold": loss, "passed": True}]
    nudged = math.nextafter(loss, 0.0)
    code, _, err = invoke(["score", preds, "--max-loss", repr(nudged)])
    assert code == 1
    assert err == f"xent: gate max-loss failed: {fmt(loss)} nats > {fmt(nudged)}\n"


def test_max_class_loss_passes(invoke: Invoke, tmp_path: Path) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = invoke(["score", preds, "--max-class-loss", "0.53"])
    assert (code, err) == (0, "")
    assert "max-class-loss[cat]" in out


def test_max_class_loss_fails_with_one_line_per_failing_class(
    invoke: Invoke, tmp_path: Path
) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, _, err = invoke(["score", preds, "--max-class-loss", "0.3"])
    assert code == 1
    assert err.splitlines() == [
        f"xent: gate max-class-loss[cat] failed: {fmt(CLASS_LOSS['cat'])} nats > 0.3",
        f"xent: gate max-class-loss[bird] failed: {fmt(CLASS_LOSS['bird'])} nats > 0.3",
    ]


@pytest.mark.parametrize(("allowance", "passes"), [("0.05", True), ("0.03", False)])
def test_max_increase_absolute(
    invoke: Invoke, tmp_path: Path, allowance: str, passes: bool
) -> None:
    baseline = save_baseline(invoke, tmp_path)
    preds = write(tmp_path, "preds.csv", WORSE)
    code, out, err = invoke(["score", preds, "--baseline", baseline, "--max-increase", allowance])
    assert out
    if passes:
        assert (code, err) == (0, "")
    else:
        assert code == 1
        assert err == (
            f"xent: gate max-increase failed: the loss rose by {fmt(INCREASE)} nats over the "
            f"baseline, more than the allowed {fmt(float(allowance))}\n"
        )


@pytest.mark.parametrize(("allowance", "passes"), [("10%", True), ("5%", False)])
def test_max_increase_relative(
    invoke: Invoke, tmp_path: Path, allowance: str, passes: bool
) -> None:
    baseline = save_baseline(invoke, tmp_path)
    preds = write(tmp_path, "preds.csv", WORSE)
    code, data, err = gate_json(
        invoke, ["score", preds, "--baseline", baseline, "--max-increase", allowance]
    )
    threshold = LOSS * float(allowance[:-1]) / 100
    [gate] = data["gates"]
    assert gate["gate"] == "max-increase"
    assert gate["value"] == pytest.approx(INCREASE, rel=1e-12)
    assert gate["threshold"] == pytest.approx(threshold, rel=1e-12)
    assert gate["passed"] is passes
    assert data["passed"] is passes
    if passes:
        assert (code, err) == (0, "")
    else:
        assert code == 1
        assert err == (
            f"xent: gate max-increase failed: the loss rose by {fmt(INCREASE)} nats over the "
            f"baseline, more than the allowed {fmt(threshold)}\n"
        )


def test_max_increase_percent_is_relative_and_plain_number_is_absolute(
    invoke: Invoke, tmp_path: Path
) -> None:
    # The increase is 0.0385: within an absolute 0.05, beyond 5% of the 0.446 baseline.
    baseline = save_baseline(invoke, tmp_path)
    preds = write(tmp_path, "preds.csv", WORSE)
    args = ["score", preds, "--baseline", baseline, "--max-increase"]
    code_abs, abs_data, _ = gate_json(invoke, [*args, "0.05"])
    code_rel, rel_data, _ = gate_json(invoke, [*args, "5%"])
    assert abs_data["gates"][0]["threshold"] == 0.05
    assert rel_data["gates"][0]["threshold"] == pytest.approx(0.05 * LOSS, rel=1e-12)
    assert (code_abs, code_rel) == (0, 1)
    # " 5% " with spaces, and "0%", are read the same way.
    code, data, _ = gate_json(invoke, [*args, " 5% "])
    assert (code, data["gates"][0]["threshold"]) == (1, rel_data["gates"][0]["threshold"])
    code, data, _ = gate_json(invoke, [*args, "0%"])
    assert (code, data["gates"][0]["threshold"]) == (1, 0.0)


def test_baseline_without_max_increase_allows_no_increase(invoke: Invoke, tmp_path: Path) -> None:
    baseline = save_baseline(invoke, tmp_path)
    same = write(tmp_path, "same.csv", MULTICLASS)
    code, data, err = gate_json(invoke, ["score", same, "--baseline", baseline])
    assert (code, err) == (0, "")
    assert data["gates"] == [
        {"gate": "max-increase", "value": 0.0, "threshold": 0.0, "passed": True}
    ]
    worse = write(tmp_path, "worse.csv", WORSE)
    code, data, err = gate_json(invoke, ["score", worse, "--baseline", baseline])
    assert code == 1
    assert data["gates"][0]["threshold"] == 0.0
    assert "gate max-increase failed" in err


def test_an_improvement_passes_any_allowance(invoke: Invoke, tmp_path: Path) -> None:
    baseline = save_baseline(invoke, tmp_path, WORSE)
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, data, err = gate_json(
        invoke, ["score", preds, "--baseline", baseline, "--max-increase", "0%"]
    )
    assert (code, err) == (0, "")
    assert data["gates"][0]["value"] == pytest.approx(-INCREASE, rel=1e-12)


def test_baseline_in_bits_against_a_run_in_bits(invoke: Invoke, tmp_path: Path) -> None:
    baseline = save_baseline(invoke, tmp_path, MULTICLASS, "--unit", "bits")
    preds = write(tmp_path, "preds.csv", WORSE)
    code, data, _ = gate_json(
        invoke, ["score", preds, "--unit", "bits", "--baseline", baseline, "--max-increase", "0.05"]
    )
    # 0.0385 nats is 0.0556 bits: over an absolute 0.05 in bits.
    assert code == 1
    assert data["gates"][0]["value"] == pytest.approx(INCREASE / math.log(2), rel=1e-12)


def test_baseline_with_an_infinite_loss_is_refused(invoke: Invoke, tmp_path: Path) -> None:
    """A gate against an infinite baseline loss would pass for any loss: refused (exit 3)."""
    text = MULTICLASS.replace("c,bird,0.2,0.2,0.6", "c,bird,0.5,0.5,0.0")
    baseline = save_baseline(invoke, tmp_path, text, "--eps", "0")
    assert json.loads((tmp_path / baseline).read_text())["aggregate"]["loss"] == "inf"
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = invoke(["score", preds, "--baseline", baseline, "--max-increase", "0"])
    assert code == 3
    assert out == ""
    assert err == (
        f"xent: error: {baseline}: the baseline's loss is 'inf'; a gate against it would pass "
        "for any loss, so it needs a finite loss >= 0\n"
    )


# --- several gates, JSON entries ---------------------------------------------------


def test_json_gate_entries_in_order(invoke: Invoke, tmp_path: Path) -> None:
    baseline = save_baseline(invoke, tmp_path)
    preds = write(tmp_path, "preds.csv", WORSE)
    code, data, err = gate_json(
        invoke,
        [
            "score", preds,
            "--max-loss", "1",
            "--max-class-loss", "0.52",
            "--baseline", baseline,
            "--max-increase", "5%",
        ],
    )  # fmt: skip
    assert code == 1
    gates = data["gates"]
    assert [g["gate"] for g in gates] == [
        "max-loss",
        "max-class-loss[cat]",
        "max-class-loss[dog]",
        "max-class-loss[bird]",
        "max-increase",
    ]
    for g in gates:
        assert list(g) == ["gate", "value", "threshold", "passed"]
        assert isinstance(g["passed"], bool)
    worse_cat = (-math.log(0.6) + LOSSES[3]) / 2
    expected = [
        ("max-loss", WORSE_LOSS, 1.0, True),
        ("max-class-loss[cat]", worse_cat, 0.52, False),
        ("max-class-loss[dog]", CLASS_LOSS["dog"], 0.52, True),
        ("max-class-loss[bird]", CLASS_LOSS["bird"], 0.52, True),
        ("max-increase", INCREASE, 0.05 * LOSS, False),
    ]
    for g, (name, value, threshold, passed) in zip(gates, expected, strict=True):
        assert g["gate"] == name
        assert g["value"] == pytest.approx(value, rel=1e-12)
        assert g["threshold"] == pytest.approx(threshold, rel=1e-12)
        assert g["passed"] is passed
    assert data["passed"] is False
    assert err.splitlines() == [
        f"xent: gate max-class-loss[cat] failed: {fmt(worse_cat)} nats > 0.52",
        f"xent: gate max-increase failed: the loss rose by {fmt(INCREASE)} nats over the "
        f"baseline, more than the allowed {fmt(0.05 * LOSS)}",
    ]


def test_json_without_gates(invoke: Invoke, tmp_path: Path) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, data, err = gate_json(invoke, ["score", preds])
    assert (code, err) == (0, "")
    assert data["gates"] == []
    assert data["passed"] is True


def test_json_all_gates_pass(invoke: Invoke, tmp_path: Path) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, data, err = gate_json(
        invoke, ["score", preds, "--max-loss", "0.5", "--max-class-loss", "0.6"]
    )
    assert (code, err) == (0, "")
    assert [g["passed"] for g in data["gates"]] == [True] * 4
    assert data["passed"] is True


# --- the output is still written when a gate fails ------------------------------------


def check_output(fmt_name: str, text: str) -> None:
    """``text`` is the complete output of a failing-gate run in format ``fmt_name``."""
    if fmt_name == "json":
        data = json.loads(text)
        assert data["passed"] is False
        assert data["aggregate"]["loss"] == pytest.approx(LOSS, rel=1e-12)
        assert len(data["per_class"]) == 3
    elif fmt_name == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["index", "id", "label", "loss"]
        assert [float(r[3]) for r in rows[1:]] == pytest.approx(LOSSES, rel=1e-12)
    elif fmt_name == "markdown":
        assert "**Per class**" in text
        assert "| max-loss | 0.4459 | 0.1000 | ❌ fail |" in text
    else:
        assert "Per class" in text
        assert "Highest-loss samples" in text
        assert re.search(r"max-loss\s+0\.4459\s+0\.1000\s+FAIL", text)


@pytest.mark.parametrize("fmt_name", ["json", "table", "markdown", "csv"])
def test_output_is_written_when_a_gate_fails(invoke: Invoke, tmp_path: Path, fmt_name: str) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = invoke(["score", preds, "--max-loss", "0.1", "--format", fmt_name])
    assert code == 1
    assert err == f"xent: gate max-loss failed: {fmt(LOSS)} nats > 0.1\n"
    check_output(fmt_name, out)

    code, out, err = invoke(
        ["score", preds, "--max-loss", "0.1", "--format", fmt_name, "--output", "report.out"]
    )
    assert code == 1
    assert out == ""
    assert err == f"xent: gate max-loss failed: {fmt(LOSS)} nats > 0.1\n"
    check_output(fmt_name, (tmp_path / "report.out").read_text(encoding="utf-8"))


def test_gate_exit_codes_across_the_process_boundary(
    run_xent: Callable[..., Result], tmp_path: Path
) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = run_xent(["score", preds, "--max-loss", "0.1", "--format", "json"])
    assert code == 1
    assert json.loads(out)["passed"] is False
    assert err == f"xent: gate max-loss failed: {fmt(LOSS)} nats > 0.1\n"
    code, out, err = run_xent(["score", preds, "--max-loss", "1", "--format", "json"])
    assert (code, err) == (0, "")
    assert json.loads(out)["passed"] is True


# --- a class absent from the data ------------------------------------------------------


def test_max_class_loss_on_a_class_without_samples_is_not_evaluated(
    invoke: Invoke, tmp_path: Path
) -> None:
    preds = write(tmp_path, "preds.csv", NO_BIRD)
    code, data, err = gate_json(invoke, ["score", preds, "--max-class-loss", "1"])
    assert code == 0
    assert err == (
        "xent: gate max-class-loss[bird] not evaluated: class 'bird' has no scored samples\n"
    )
    assert [g["gate"] for g in data["gates"]] == ["max-class-loss[cat]", "max-class-loss[dog]"]
    assert data["passed"] is True


def test_class_not_evaluated_beside_a_failing_class(invoke: Invoke, tmp_path: Path) -> None:
    preds = write(tmp_path, "preds.csv", NO_BIRD)
    code, _, err = invoke(["score", preds, "--max-class-loss", "0.3"])
    assert code == 1
    assert err.splitlines() == [
        "xent: gate max-class-loss[bird] not evaluated: class 'bird' has no scored samples",
        f"xent: gate max-class-loss[cat] failed: {fmt(-math.log(0.7))} nats > 0.3",
    ]


def test_max_class_loss_on_a_class_of_zero_weight_is_not_evaluated(
    invoke: Invoke, tmp_path: Path
) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, data, err = gate_json(
        invoke, ["score", preds, "--class-weights", "bird=0", "--max-class-loss", "0.6"]
    )
    assert code == 0
    assert err.startswith("xent: gate max-class-loss[bird] not evaluated: ")
    assert len(err.splitlines()) == 1
    assert [g["gate"] for g in data["gates"]] == ["max-class-loss[cat]", "max-class-loss[dog]"]


def test_max_class_loss_per_label_of_a_multilabel_task(invoke: Invoke, tmp_path: Path) -> None:
    preds = write(
        tmp_path,
        "ml.csv",
        "y_a,y_b,p_a,p_b\n1,0,0.9,0.2\n0,1,0.2,0.5\n1,1,0.6,0.9\n",
    )
    loss_a = -(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3
    loss_b = -(math.log(0.8) + math.log(0.5) + math.log(0.9)) / 3
    code, data, err = gate_json(
        invoke,
        ["score", preds, "--task", "multilabel", "--label-cols", "y_a,y_b", "--max-class-loss",
         "0.3"],
    )  # fmt: skip
    assert code == 1
    assert [(g["gate"], g["passed"]) for g in data["gates"]] == [
        ("max-class-loss[a]", True),
        ("max-class-loss[b]", False),
    ]
    assert data["gates"][0]["value"] == pytest.approx(loss_a, rel=1e-12)
    assert err == f"xent: gate max-class-loss[b] failed: {fmt(loss_b)} nats > 0.3\n"


# --- gates in markdown and table output --------------------------------------------------


def test_gates_in_markdown(invoke: Invoke, tmp_path: Path) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, _ = invoke(
        [
            "score", preds, "--format", "markdown",
            "--max-loss", "0.1", "--max-class-loss", "0.52",
        ]
    )  # fmt: skip
    assert code == 1
    assert "**Gates**: ❌ 2 of 4 failed" in out
    gates = out[out.index("**Gates**") :]
    assert "| gate | value | threshold | result |\n| :--- | ---: | ---: | :--- |\n" in gates
    assert "| max-loss | 0.4459 | 0.1000 | ❌ fail |" in gates
    assert r"| max-class-loss\[cat\] | 0.5249 | 0.5200 | ❌ fail |" in gates
    assert r"| max-class-loss\[dog\] | 0.2231 | 0.5200 | ✅ pass |" in gates
    assert r"| max-class-loss\[bird\] | 0.5108 | 0.5200 | ✅ pass |" in gates

    code, out, _ = invoke(["score", preds, "--format", "markdown", "--max-loss", "1"])
    assert code == 0
    assert "**Gates**: ✅ all 1 passed" in out
    assert "| max-loss | 0.4459 | 1.000 | ✅ pass |" in out

    code, out, _ = invoke(["score", preds, "--format", "markdown"])
    assert "Gates" not in out


def test_gates_in_table(invoke: Invoke, tmp_path: Path) -> None:
    baseline = save_baseline(invoke, tmp_path)
    preds = write(tmp_path, "preds.csv", WORSE)
    code, out, _ = invoke(
        [
            "score", preds, "--max-loss", "1", "--max-class-loss", "0.52",
            "--baseline", baseline, "--max-increase", "5%",
        ]
    )  # fmt: skip
    assert code == 1
    assert "\x1b" not in out
    gates = out[out.index("\nGates\n") :]
    assert re.search(r"gate\s+value\s+threshold\s+result", gates)
    assert re.search(r"max-loss\s+0\.4845\s+1\.000\s+PASS", gates)
    assert re.search(r"max-class-loss\[cat\]\s+0\.6020\s+0\.5200\s+FAIL", gates)
    assert re.search(r"max-class-loss\[dog\]\s+0\.2231\s+0\.5200\s+PASS", gates)
    assert re.search(r"max-increase\s+0\.03854\s+0\.02230\s+FAIL", gates)

    code, out, _ = invoke(["score", preds])
    assert "Gates" not in out


# --- baselines that cannot be used --------------------------------------------------------


def test_missing_baseline_file(invoke: Invoke, tmp_path: Path) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = invoke(
        ["score", preds, "--baseline", "nope.json", "--max-increase", "1%", "-o", "r.json"]
    )
    assert (code, out) == (3, "")
    assert error_line(err) == "xent: error: nope.json: no such baseline file"
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all\n", "not a JSON file"),
        (b"", "not a JSON file"),
        (b"\xff\xfe\x00garbage", "not a JSON file"),
        (b"[1, 2, 3]", "not an xent score report"),
        (b'{"loss": 0.3}', "not an xent score report"),
        (b'{"schema": "xent.score/2", "aggregate": {"loss": 0.3}}', "not an xent score report"),
        (b'{"schema": "xent.score/1", "task": "multiclass"}', "no aggregate.loss"),
        (b'{"schema": "xent.score/1", "aggregate": {"loss": null}}', "no aggregate.loss"),
    ],
    ids=["text", "empty", "binary", "array", "no-schema", "schema-2", "no-loss", "null-loss"],
)
def test_unreadable_baseline(invoke: Invoke, tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "base.json").write_bytes(content)
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = invoke(
        ["score", preds, "--baseline", "base.json", "--max-increase", "1%", "-o", "r.json"]
    )
    assert (code, out) == (3, "")
    line = error_line(err)
    assert line.startswith("xent: error: base.json: ")
    assert message in line
    assert not (tmp_path / "r.json").exists()


def test_a_compare_report_is_not_a_baseline(invoke: Invoke, tmp_path: Path) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    worse = write(tmp_path, "worse.csv", WORSE)
    code, _, _ = invoke(["compare", preds, worse, "--format", "json", "-o", "cmp.json"])
    assert code == 0
    code, _, err = invoke(["score", preds, "--baseline", "cmp.json"])
    assert code == 3
    assert "cmp.json: not an xent score report (schema 'xent.score/1' expected)" in error_line(err)


def test_baseline_with_a_malformed_loss_is_unreadable(invoke: Invoke, tmp_path: Path) -> None:
    # A baseline whose aggregate.loss is a string other than "inf"/"nan" is a malformed
    # file (exit 3), like one with no loss at all -- not an internal error (exit 70).
    baseline = save_baseline(invoke, tmp_path)
    data = json.loads((tmp_path / baseline).read_text())
    data["aggregate"]["loss"] = "0.3 nats"
    (tmp_path / baseline).write_text(json.dumps(data))
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, _, err = invoke(["score", preds, "--baseline", baseline, "--max-increase", "1%"])
    assert "internal error" not in err
    assert code == 3, err
    assert error_line(err).startswith(f"xent: error: {baseline}: ")


@pytest.mark.parametrize(
    ("baseline_text", "extra", "message"),
    [
        (
            BINARY,
            [],
            "base.json: the baseline's task is 'binary' but this run's is 'multiclass'",
        ),
        (
            MULTICLASS,
            ["--unit", "bits"],
            "base.json: the baseline's unit is 'bits' but this run's is 'nats'",
        ),
        (
            OTHER_CLASSES,
            [],
            "base.json: the baseline's classes (cat, dog, fish) differ from this run's "
            "(cat, dog, bird)",
        ),
        (
            TWO_CLASSES,
            [],
            "base.json: the baseline's classes (cat, dog) differ from this run's (cat, dog, bird)",
        ),
    ],
    ids=["task", "unit", "class-names", "class-count"],
)
def test_baseline_that_measured_something_else(
    invoke: Invoke, tmp_path: Path, baseline_text: str, extra: list[str], message: str
) -> None:
    baseline = save_baseline(invoke, tmp_path, baseline_text, *extra)
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = invoke(
        ["score", preds, "--baseline", baseline, "--max-increase", "100%", "-o", "r.json"]
    )
    assert (code, out) == (2, "")
    assert message in error_line(err)
    assert not (tmp_path / "r.json").exists()


def test_baseline_classes_in_another_order_differ(invoke: Invoke, tmp_path: Path) -> None:
    reordered = """\
label,p_bird,p_cat,p_dog
cat,0.1,0.7,0.2
dog,0.1,0.1,0.8
"""
    baseline = save_baseline(invoke, tmp_path, reordered)
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, _, err = invoke(["score", preds, "--baseline", baseline])
    assert code == 2
    assert "classes (bird, cat, dog) differ" in error_line(err)


# --- bad gate options ----------------------------------------------------------------------


def test_max_increase_needs_a_baseline(invoke: Invoke, tmp_path: Path) -> None:
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = invoke(["score", preds, "--max-increase", "0.01"])
    assert (code, out) == (2, "")
    assert error_line(err) == (
        "xent: error: --max-increase needs --baseline FILE (a saved JSON report)"
    )


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--max-loss", "-1"], "--max-loss"),
        (["--max-loss", "-0.001"], "--max-loss"),
        (["--max-loss", "abc"], "--max-loss"),
        (["--max-loss", "nan"], "--max-loss"),
        (["--max-loss", ""], "--max-loss"),
        (["--max-class-loss", "-0.5"], "--max-class-loss"),
        (["--max-class-loss", "0.5x"], "--max-class-loss"),
        (["--max-class-loss", "nan"], "--max-class-loss"),
        (["--baseline", "base.json", "--max-increase", "-1"], "--max-increase"),
        (["--baseline", "base.json", "--max-increase", "-5%"], "--max-increase"),
        (["--baseline", "base.json", "--max-increase", "x%"], "--max-increase"),
        (["--baseline", "base.json", "--max-increase", "5%%"], "--max-increase"),
        (["--baseline", "base.json", "--max-increase", "%"], "--max-increase"),
        (["--baseline", "base.json", "--max-increase", ""], "--max-increase"),
        (["--baseline", "base.json", "--max-increase", "five"], "--max-increase"),
        (["--baseline", "base.json", "--max-increase", "nan"], "--max-increase"),
        (["--baseline", "base.json", "--max-increase", "0.01 nats"], "--max-increase"),
    ],
)
def test_bad_thresholds_are_usage_errors(
    invoke: Invoke, tmp_path: Path, args: list[str], option: str
) -> None:
    save_baseline(invoke, tmp_path)
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, out, err = invoke(["score", preds, *args, "-o", "r.json"])
    assert (code, out) == (2, "")
    assert option in error_line(err)
    assert not (tmp_path / "r.json").exists()


def test_zero_thresholds_are_allowed(invoke: Invoke, tmp_path: Path) -> None:
    baseline = save_baseline(invoke, tmp_path)
    preds = write(tmp_path, "preds.csv", MULTICLASS)
    code, data, _ = gate_json(
        invoke,
        ["score", preds, "--max-loss", "0", "--max-class-loss", "0", "--baseline", baseline,
         "--max-increase", "0"],
    )  # fmt: skip
    assert code == 1
    assert [g["passed"] for g in data["gates"]] == [False, False, False, False, True]
