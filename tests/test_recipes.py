"""The CI recipes of ``examples/ci/``: they run, on their example data, as documented.

``gate.sh`` and ``worst.sh`` run under bash (and ``sh``) with the ``xent`` of this
environment on ``PATH``; their output is checked against a reference computed here
from the example CSV files. The GitLab job is parsed (with PyYAML when it is
installed, and always with the small block-YAML reader below, which is strict about
what it accepts) and the shell script of its xent step is run as the CI system
would run it: on the example data it passes (exit 0), on the regressed predictions it
fails (exit 1), on broken input it says so (exit 2). The GitHub Actions workflow uses
xent's own action (``action.yml``); both are tested in ``test_action.py``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CI = REPO / "examples" / "ci"
DATA = CI / "data"
DATA_REL = "examples/ci/data"
CLASSES = ["cat", "dog", "bird"]

#: Variables of the calling environment that would change what the recipes do.
UNSET = (
    "NO_COLOR", "FORCE_COLOR", "CI", "GITHUB_STEP_SUMMARY", "MAX_INCREASE", "MAX_LOSS",
    "MAX_CLASS_LOSS", "REPORT", "XENT", "TOP", "PREDICTIONS", "BASELINE",
)  # fmt: skip

Run = tuple[int, str, str]


# --- running the recipes --------------------------------------------------------------------


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding this environment's ``xent``: next to ``sys.executable``, or a shim."""
    here = Path(sys.executable).parent
    if (here / "xent").exists():
        return here
    shim_dir = tmp_path_factory.mktemp("bin")
    shim = shim_dir / "xent"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m xent "$@"\n')
    shim.chmod(0o755)
    return shim_dir


def environment(bin_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.update({"COLUMNS": "100", "PYTHONIOENCODING": "utf-8", "LC_ALL": "C"})
    env.update(extra or {})
    return env


def run(
    command: Sequence[str], cwd: Path, bin_dir: Path, extra: Mapping[str, str] | None = None
) -> Run:
    proc = subprocess.run(
        list(command),
        capture_output=True,
        cwd=cwd,
        env=environment(bin_dir, extra),
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A scratch copy of the repository layout the recipes expect (``examples/ci/data``)."""
    shutil.copytree(DATA, tmp_path / DATA_REL)
    return tmp_path


# --- a reference from the example data ------------------------------------------------------


def reference(path: Path) -> list[tuple[int, str, str, float]]:
    """``(index, id, label, loss)`` of every row of an example predictions file."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        (i, row["id"], row["label"], -math.log(float(row[f"p_{row['label']}"])))
        for i, row in enumerate(rows)
    ]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def test_example_data_and_baseline_agree(bin_dir: Path, workdir: Path) -> None:
    """``baseline.json`` is the saved report of ``main.csv``, and the examples show both
    outcomes: ``pr.csv`` passes the recipes' gates, ``regressed.csv`` fails them."""
    baseline = json.loads((DATA / "baseline.json").read_text())
    assert baseline["schema"] == "xent.score/1"
    assert baseline["classes"] == CLASSES
    main = reference(DATA / "main.csv")
    assert baseline["aggregate"]["loss"] == pytest.approx(mean([r[3] for r in main]), rel=1e-9)
    code, out, err = run(
        ["xent", "score", f"{DATA_REL}/main.csv", "--format", "json"], workdir, bin_dir
    )
    assert code == 0, err
    fresh = json.loads(out)
    for key in ("task", "unit", "classes", "n_samples", "aggregate", "per_class"):
        assert fresh[key] == baseline[key], key
    pr = mean([r[3] for r in reference(DATA / "pr.csv")])
    regressed = mean([r[3] for r in reference(DATA / "regressed.csv")])
    base_loss = baseline["aggregate"]["loss"]
    assert pr - base_loss <= 0.02 * base_loss
    assert pr <= 0.5
    assert regressed - base_loss > 0.02 * base_loss


# --- gate.sh --------------------------------------------------------------------------------

GATES = {"MAX_LOSS": "0.5", "MAX_CLASS_LOSS": "0.8"}


def gate(
    bin_dir: Path, workdir: Path, predictions: str, *args: str, shell: str = "bash", **env: str
) -> Run:
    extra = {"REPORT": "report.md", **GATES, **env}
    command = [shell, str(CI / "gate.sh"), predictions, f"{DATA_REL}/baseline.json", *args]
    return run(command, workdir, bin_dir, extra)


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_gate_sh_passes(bin_dir: Path, workdir: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    summary = workdir / "summary.md"
    code, out, err = gate(
        bin_dir, workdir, f"{DATA_REL}/pr.csv", shell=shell, GITHUB_STEP_SUMMARY=str(summary)
    )
    assert (code, err) == (0, "")
    assert out == (
        f"gate: PASS: {DATA_REL}/pr.csv is within 2% of {DATA_REL}/baseline.json "
        "(report: report.md)\n"
    )
    report = (workdir / "report.md").read_text()
    assert report.startswith(f"### xent: cross-entropy of `{DATA_REL}/pr.csv`")
    assert "**Gates**: ✅ all 5 passed" in report
    assert summary.read_text() == report


def test_gate_sh_reports_a_regression(bin_dir: Path, workdir: Path) -> None:
    code, out, err = gate(bin_dir, workdir, f"{DATA_REL}/regressed.csv")
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert [line.split(" failed:")[0] for line in lines[:-1]] == [
        "xent: gate max-loss",
        "xent: gate max-class-loss[bird]",
        "xent: gate max-increase",
    ]
    assert lines[-1] == (
        f"gate: FAIL: {DATA_REL}/regressed.csv regressed against {DATA_REL}/baseline.json; "
        "see the lines above and report.md"
    )
    report = (workdir / "report.md").read_text()
    assert "**Gates**: ❌ 3 of 5 failed" in report
    assert "| max-increase |" in report


def test_gate_sh_absolute_allowance_and_extra_options(bin_dir: Path, workdir: Path) -> None:
    # An absolute allowance of 0.2 nats lets the regressed loss (+0.168) through; the
    # caller's own option (--id-col) is passed on to xent.
    code, out, err = gate(
        bin_dir,
        workdir,
        f"{DATA_REL}/regressed.csv",
        "--id-col",
        "id",
        MAX_INCREASE="0.2",
        MAX_LOSS="",
        MAX_CLASS_LOSS="",
    )
    assert (code, err) == (0, "")
    assert "within 0.2 of" in out
    assert "**Gates**: ✅ all 1 passed" in (workdir / "report.md").read_text()


BAD_PROBS = "id,label,p_cat,p_dog,p_bird\nimg-1,cat,0.5,0.2,0.1\n"  # sums to 0.8


@pytest.mark.parametrize(
    ("predictions", "env", "baseline_text", "code"),
    [
        ("missing.csv", {}, None, 3),
        ("bad.csv", {}, None, 4),
        (f"{DATA_REL}/pr.csv", {"MAX_INCREASE": "-1"}, None, 2),
        (f"{DATA_REL}/pr.csv", {"MAX_LOSS": "lots"}, None, 2),
        (f"{DATA_REL}/pr.csv", {}, "not json", 3),
        (f"{DATA_REL}/pr.csv", {}, "another-task", 2),
    ],
    ids=[
        "missing-file",
        "invalid-data",
        "bad-allowance",
        "bad-max-loss",
        "unreadable-baseline",
        "baseline-of-another-task",
    ],
)
def test_gate_sh_tells_broken_input_from_a_regression(
    bin_dir: Path,
    workdir: Path,
    predictions: str,
    env: dict[str, str],
    baseline_text: str | None,
    code: int,
) -> None:
    (workdir / "bad.csv").write_text(BAD_PROBS)
    baseline = workdir / DATA_REL / "baseline.json"
    if baseline_text == "another-task":
        (workdir / "binary.csv").write_text("label,p\n1,0.9\n0,0.2\n")
        made = run(
            ["xent", "score", "binary.csv", "--format", "json", "-o", str(baseline)],
            workdir,
            bin_dir,
        )
        assert made[0] == 0
    elif baseline_text is not None:
        baseline.write_text(baseline_text)
    (workdir / "report.md").write_text("a stale report of an earlier run\n")
    got, out, err = gate(bin_dir, workdir, predictions, **env)
    assert got == code
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("xent: error: ")
    assert lines[1] == (
        f"gate: ERROR: broken input (xent exit {code}): the model was not judged; fix the job"
    )
    assert not (workdir / "report.md").exists()


def test_gate_sh_usage(bin_dir: Path, workdir: Path) -> None:
    code, out, err = run(["bash", str(CI / "gate.sh"), "only-one-argument"], workdir, bin_dir)
    assert (code, out) == (2, "")
    assert err.startswith("usage: ")


def test_gate_sh_with_another_xent_command(bin_dir: Path, workdir: Path) -> None:
    # XENT may be a command with arguments; PATH need not hold xent at all.
    extra = {"XENT": f"{sys.executable} -m xent", "PATH": "/usr/bin:/bin", **GATES}
    command = ["bash", str(CI / "gate.sh"), f"{DATA_REL}/pr.csv", f"{DATA_REL}/baseline.json"]
    proc = subprocess.run(
        command,
        capture_output=True,
        cwd=workdir,
        env={**environment(bin_dir), **extra, "REPORT": "r.md"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert (workdir / "r.md").exists()


# --- worst.sh -----------------------------------------------------------------------------------


def parse_worst(out: str) -> tuple[list[list[str]], list[list[str]]]:
    worst, _, per_label = out.partition("\n\n")
    return (
        [line.split(",") for line in worst.splitlines()],
        [line.split("\t") for line in per_label.splitlines()],
    )


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_worst_sh(bin_dir: Path, workdir: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    code, out, err = run(
        [shell, str(CI / "worst.sh"), f"{DATA_REL}/regressed.csv"], workdir, bin_dir
    )
    assert (code, err) == (0, "")
    worst, per_label = parse_worst(out)
    rows = reference(DATA / "regressed.csv")

    assert worst[0] == ["index", "id", "label", "loss"]
    expected = sorted(rows, key=lambda r: (-r[3], r[0]))[:10]
    assert [(int(i), ident, label) for i, ident, label, _ in worst[1:]] == [
        (i, ident, label) for i, ident, label, _ in expected
    ]
    assert [float(r[3]) for r in worst[1:]] == pytest.approx([r[3] for r in expected], rel=1e-12)

    assert per_label[0] == ["label", "n", "mean_loss"]
    by_label = {c: [r[3] for r in rows if r[2] == c] for c in CLASSES}
    expected_labels = sorted(CLASSES, key=lambda c: -mean(by_label[c]))
    assert [r[0] for r in per_label[1:]] == expected_labels
    for label, n, value in per_label[1:]:
        assert int(n) == len(by_label[label])
        assert float(value) == pytest.approx(mean(by_label[label]), abs=5e-7)
    assert expected_labels[0] == "bird"  # the class the regressed model got worse on


def test_worst_sh_top_and_a_file_without_ids(bin_dir: Path, workdir: Path) -> None:
    with (DATA / "pr.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    no_ids = "\n".join(",".join(row[1:]) for row in rows) + "\n"
    (workdir / "no_ids.csv").write_text(no_ids)
    code, out, err = run(
        ["bash", str(CI / "worst.sh"), "no_ids.csv"], workdir, bin_dir, {"TOP": "3"}
    )
    assert (code, err) == (0, "")
    worst, per_label = parse_worst(out)
    assert worst[0] == ["index", "id", "label", "loss"]
    expected = sorted(reference(DATA / "pr.csv"), key=lambda r: (-r[3], r[0]))[:3]
    assert [(int(r[0]), r[1], r[2]) for r in worst[1:]] == [(r[0], "", r[2]) for r in expected]
    assert sorted(r[0] for r in per_label[1:]) == sorted(CLASSES)
    assert sum(int(r[1]) for r in per_label[1:]) == len(rows) - 1


def test_worst_sh_passes_xent_errors_on(bin_dir: Path, workdir: Path) -> None:
    code, out, err = run(["bash", str(CI / "worst.sh"), "missing.csv"], workdir, bin_dir)
    assert (code, out) == (3, "")
    assert err.startswith("xent: error: missing.csv")
    code, out, err = run(["bash", str(CI / "worst.sh")], workdir, bin_dir)
    assert (code, out) == (2, "")
    assert err.startswith("usage: ")


# --- the YAML recipes -------------------------------------------------------------------------


class YamlSubsetError(ValueError):
    """The text uses YAML this reader does not accept."""


def load_block_yaml(text: str) -> Any:
    """Read the block-style YAML the recipes use: mappings, ``-`` lists, ``|`` literal
    blocks, plain and quoted scalars, comments. Anything else is an error, so a file
    this reads is well-formed YAML meaning what the reader says it means."""
    if "\t" in text:
        raise YamlSubsetError("tab characters")
    lines = text.splitlines()
    start = _skip(lines, 0)
    if start == len(lines):
        return None
    value, end = _block(lines, start)
    if _skip(lines, end) != len(lines):
        raise YamlSubsetError(f"line {end + 1}: unexpected indentation")
    return value


def _skip(lines: list[str], i: int) -> int:
    while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
        i += 1
    return i


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _block(lines: list[str], i: int) -> tuple[Any, int]:
    if _is_item(lines[i].strip()):
        return _list(lines, i, _indent(lines[i]))
    return _mapping(lines, i, _indent(lines[i]))


_KEY = re.compile(r"^([A-Za-z_$][\w$.-]*|\"[^\"]*\"|'[^']*'):(?: +(.*))?$")


def _mapping(lines: list[str], i: int, indent: int) -> tuple[dict[Any, Any], int]:
    out: dict[Any, Any] = {}
    while (i := _skip(lines, i)) < len(lines) and _indent(lines[i]) == indent:
        text = lines[i].strip()
        match = _KEY.match(text)
        if match is None or _is_item(text):
            raise YamlSubsetError(f"line {i + 1}: expected 'key: value', got {text!r}")
        key, rest = _scalar(match.group(1)), _uncomment(match.group(2) or "")
        if key in out:
            raise YamlSubsetError(f"line {i + 1}: duplicate key {key!r}")
        if rest in ("|", "|-"):
            out[key], i = _literal(lines, i + 1, indent, rest)
        elif rest:
            out[key], i = _scalar(rest), i + 1
        else:
            j = _skip(lines, i + 1)
            if j < len(lines) and _indent(lines[j]) > indent:
                out[key], i = _block(lines, j)
            else:
                out[key], i = None, i + 1
    if i < len(lines) and _indent(lines[i]) > indent:
        raise YamlSubsetError(f"line {i + 1}: unexpected indentation")
    return out, i


def _list(lines: list[str], i: int, indent: int) -> tuple[list[Any], int]:
    out: list[Any] = []
    while (i := _skip(lines, i)) < len(lines) and _indent(lines[i]) == indent:
        text = lines[i].strip()
        if not _is_item(text):
            raise YamlSubsetError(f"line {i + 1}: expected '- item', got {text!r}")
        rest = text[1:].strip()
        item: Any
        if _uncomment(rest) in ("|", "|-"):
            item, i = _literal(lines, i + 1, indent, _uncomment(rest))
        elif not rest:
            j = _skip(lines, i + 1)
            if j == len(lines) or _indent(lines[j]) <= indent:
                raise YamlSubsetError(f"line {i + 1}: empty list item")
            item, i = _block(lines, j)
        elif _KEY.match(rest):
            # The item is a mapping whose first key is on the dash's line.
            lines[i] = " " * (indent + 2) + rest
            item, i = _mapping(lines, i, indent + 2)
        else:
            item, i = _scalar(_uncomment(rest)), i + 1
        out.append(item)
    if i < len(lines) and _indent(lines[i]) > indent:
        raise YamlSubsetError(f"line {i + 1}: unexpected indentation")
    return out, i


def _literal(lines: list[str], i: int, parent: int, style: str) -> tuple[str, int]:
    body: list[str] = []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > parent):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
    if not body:
        raise YamlSubsetError(f"line {i}: empty literal block")
    width = _indent(body[0])
    if any(line.strip() and _indent(line) < width for line in body):
        raise YamlSubsetError(f"line {i}: literal block less indented than its first line")
    text = "\n".join(line[width:] for line in body)
    return (text + "\n" if style == "|" else text), i


def _uncomment(text: str) -> str:
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end < 0:
            raise YamlSubsetError(f"unterminated quote in {text!r}")
        rest = text[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise YamlSubsetError(f"text after a quoted scalar: {text!r}")
        return text[: end + 1]
    cut = text.find(" #")
    return (text if cut < 0 else text[:cut]).strip()


def _scalar(text: str) -> Any:
    text = _uncomment(text.strip())
    if text[:1] == '"':
        if "\\" in text:
            raise YamlSubsetError(f"escapes in {text!r}")
        return text[1:-1]
    if text[:1] == "'":
        return text[1:-1]
    if text[:1] in ("[", "{", "&", "*", "!", "%", "@", "`", ">", "|"):
        raise YamlSubsetError(f"unsupported YAML in {text!r}")
    if ": " in text or text.endswith(":"):
        raise YamlSubsetError(f"a plain scalar with ': ' in {text!r}")
    if text in ("null", "~", ""):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text


def load_recipe(name: str) -> dict[str, Any]:
    text = (CI / name).read_text(encoding="utf-8")
    data = load_block_yaml(text)
    assert isinstance(data, dict)
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return data
    # PyYAML reads YAML 1.1, where the key `on` is the boolean true.
    official = {("on" if k is True else k): v for k, v in yaml.safe_load(text).items()}
    assert official == data
    return data


def test_block_yaml_reader_rejects_what_it_does_not_understand() -> None:
    assert load_block_yaml("a: 1\nb:\n  - x\n  - k: v\n    w: 2\nc: |\n  one\n   two\n") == {
        "a": 1,
        "b": ["x", {"k": "v", "w": 2}],
        "c": "one\n two\n",
    }
    for bad in ("a: [1, 2]\n", "a: 1\n  b: 2\n", "a: 1\na: 2\n", "a:\n\t- x\n", "- a\nb: 1\n"):
        with pytest.raises(YamlSubsetError):
            load_block_yaml(bad)


def run_script(
    bin_dir: Path, workdir: Path, script: str, env: Mapping[str, Any], **override: str
) -> Run:
    """Run a CI step's script as GitHub and GitLab runners do: bash, -e, -o pipefail."""
    path = workdir / "step.sh"
    path.write_text(script)
    values = {k: str(v) for k, v in env.items()}
    values.update(override)
    return run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)], workdir, bin_dir, values
    )


def test_gitlab_ci_job(bin_dir: Path, workdir: Path) -> None:
    jobs = load_recipe("gitlab-ci.yml")
    [(job_name, job)] = jobs.items()
    assert not job_name.startswith(".")
    assert job["stage"] == "test"
    assert str(job["image"]).startswith("python:3.")
    assert any("merge_request_event" in rule["if"] for rule in job["rules"])
    assert any("pip install" in line for line in job["before_script"])
    assert job["artifacts"]["when"] == "always"
    assert "xent-report.md" in job["artifacts"]["paths"]
    variables = job["variables"]
    for key in ("PREDICTIONS", "BASELINE"):
        assert (REPO / variables[key]).is_file(), variables[key]
    script = "\n".join(job["script"]) + "\n"
    assert "xent score" in script

    code, out, err = run_script(bin_dir, workdir, script, variables)
    assert (code, err) == (0, "")
    assert out.startswith("xent: every gate passed\n### xent: cross-entropy of")
    assert "**Gates**: ✅ all 5 passed" in (workdir / "xent-report.md").read_text()

    code, out, err = run_script(
        bin_dir, workdir, script, variables, PREDICTIONS=f"{DATA_REL}/regressed.csv"
    )
    assert code == 1
    assert out.startswith("xent: REGRESSION:")
    assert "**Gates**: ❌ 3 of 5 failed" in out

    (workdir / "xent-report.md").unlink()
    code, out, err = run_script(bin_dir, workdir, script, variables, MAX_INCREASE="five")
    assert code == 2
    assert out.startswith("xent: BROKEN INPUT (exit 2)")
    assert "--max-increase" in err
    assert not (workdir / "xent-report.md").exists()
