"""The GitHub Action (``action.yml``) and the workflow recipe that uses it.

actionlint cannot be installed here (its PyPI package downloads a binary), so the
action's structure is checked by these tests: it is a composite action whose inputs
are all used, whose outputs come from its steps, whose ``run`` steps name their
shell, and whose scripts never paste an input into shell code. Then its ``run``
steps are run as a GitHub runner runs them (``bash --noprofile --norc -eo pipefail``,
with ``${{ ... }}`` expressions replaced by their values, and files behind
``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY``), with this environment's ``xent``:
the outputs, the summary and the exit code of a passing gate, a failing gate and
broken input are checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
DATA_REL = "examples/ci/data"

INPUTS = {
    "predictions",
    "labels",
    "max-loss",
    "max-class-loss",
    "baseline",
    "max-increase",
    "max-group-loss",
    "by",
    "args",
    "python-version",
    "xent-version",
}
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # YAML 1.1 (PyYAML) reads the key `on` as True.
    return {("on" if k is True else k): v for k, v in data.items()}


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    return load(ACTION)


# --- structure ---------------------------------------------------------------------------


def test_action_metadata(action: dict[str, Any]) -> None:
    assert isinstance(action["name"], str)
    assert isinstance(action["description"], str)
    assert len(action["description"]) <= 125  # GitHub Marketplace's limit
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == INPUTS
    for name, spec in action["inputs"].items():
        assert spec["description"], name
        assert spec["required"] is (name == "predictions"), name
        if name != "predictions":
            assert spec["default"] == "", name
    assert set(action["outputs"]) == {"loss", "passed", "report"}
    for name, spec in action["outputs"].items():
        assert spec["description"], name
        assert spec["value"] == f"${{{{ steps.score.outputs.{name} }}}}"


def test_every_input_is_used_and_no_input_is_pasted_into_a_script(
    action: dict[str, Any],
) -> None:
    steps = action["runs"]["steps"]
    used: set[str] = set()
    for step in steps:
        text = json.dumps({k: v for k, v in step.items() if k != "run"})
        used |= set(re.findall(r"inputs\.([\w-]+)", text))
        if "run" in step:
            # A value pasted into the script would run as shell code: inputs come in
            # through the environment only.
            assert "${{" not in step["run"], step.get("name")
            assert step["shell"] == "bash", step.get("name")
    assert used == INPUTS
    ids = [step["id"] for step in steps if "id" in step]
    assert ids == ["score"]
    for step in steps:
        for value in [*(step.get("env") or {}).values(), *(step.get("with") or {}).values()]:
            for expression in _EXPRESSION.findall(str(value)):
                assert re.fullmatch(
                    r"inputs\.[\w-]+|github\.action_path|runner\.temp", expression
                ), expression
    [setup] = [step for step in steps if "uses" in step]
    assert setup["uses"].startswith("actions/setup-python@v")
    assert setup["if"] == "inputs.python-version != ''"


# --- running the steps -------------------------------------------------------------------


@dataclass
class StepRun:
    code: int
    out: str
    err: str
    outputs: dict[str, str]
    summary: str


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding this environment's ``python`` and ``xent``."""
    here = Path(sys.executable).parent
    if (here / "xent").exists() and (here / "python").exists():
        return here
    shim_dir = tmp_path_factory.mktemp("bin")
    (shim_dir / "xent").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m xent "$@"\n')
    (shim_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for name in ("xent", "python"):
        (shim_dir / name).chmod(0o755)
    return shim_dir


def substitute(text: str, values: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        assert expression in values, f"unknown expression {expression}"
        return values[expression]

    return _EXPRESSION.sub(value, text)


def run_step(
    action: dict[str, Any],
    step_id_or_name: str,
    with_: Mapping[str, str],
    workdir: Path,
    path: str,
) -> StepRun:
    """Run one ``run`` step of the action as a runner does, with the inputs ``with_``."""
    [step] = [
        s
        for s in action["runs"]["steps"]
        if step_id_or_name in (s.get("id"), s.get("name")) and "run" in s
    ]
    missing = [
        name for name, spec in action["inputs"].items() if spec["required"] and name not in with_
    ]
    assert not missing, f"required inputs missing: {missing}"
    values = {f"inputs.{k}": str(spec.get("default", "")) for k, spec in action["inputs"].items()}
    values.update({f"inputs.{k}": v for k, v in with_.items()})
    values.update({"github.action_path": str(ROOT), "runner.temp": str(workdir / "runner-temp")})
    (workdir / "runner-temp").mkdir(exist_ok=True)
    output, summary = workdir / "github_output", workdir / "step_summary"
    output.write_text("")
    summary.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "_XENT"))}
    for name in ("NO_COLOR", "FORCE_COLOR", "CI"):
        env.pop(name, None)
    env.update(PATH=path, GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary))
    env.update(COLUMNS="100", PYTHONIOENCODING="utf-8", LC_ALL="C")
    env.update({k: substitute(str(v), values) for k, v in (step.get("env") or {}).items()})
    script = workdir / "step.sh"
    script.write_text(step["run"])
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        capture_output=True,
        cwd=workdir,
        env=env,
        timeout=120,
        check=False,
    )
    outputs = {}
    for line in output.read_text().splitlines():
        name, sep, value = line.partition("=")
        assert sep, f"not name=value: {line!r}"
        assert name not in outputs, f"output {name} set twice"
        outputs[name] = value
    return StepRun(
        proc.returncode, proc.stdout.decode(), proc.stderr.decode(), outputs, summary.read_text()
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / DATA_REL, tmp_path / DATA_REL)
    return tmp_path


def system_path(bin_dir: Path) -> str:
    return f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"


GATES = {
    "baseline": f"{DATA_REL}/baseline.json",
    "max-increase": "2%",
    "max-loss": "0.5",
    "max-class-loss": "0.8",
}


def test_score_step_passes(action: dict[str, Any], bin_dir: Path, workdir: Path) -> None:
    inputs = {"predictions": f"{DATA_REL}/pr.csv", **GATES, "args": "--junit 'gates .xml'"}
    run = run_step(action, "score", inputs, workdir, system_path(bin_dir))
    assert (run.code, run.err) == (0, ""), run.err
    report = Path(run.outputs["report"])
    assert report == workdir / "runner-temp" / "xent" / "report.json"
    data = json.loads(report.read_text())
    assert run.outputs == {
        "loss": repr(data["aggregate"]["loss"]),
        "report": str(report),
        "passed": "true",
    }
    assert data["passed"] is True
    assert [g["gate"] for g in data["gates"]] == [
        "max-loss",
        "max-class-loss[cat]",
        "max-class-loss[dog]",
        "max-class-loss[bird]",
        "max-increase",
    ]
    assert run.out == f"xent: every gate passed (loss {data['aggregate']['loss']!r})\n"
    assert run.summary.startswith(f"### xent: cross-entropy of `{DATA_REL}/pr.csv`")
    assert "**Gates**: ✅ all 5 passed" in run.summary
    # The words of `args` reach xent, quotes honoured.
    assert (workdir / "gates .xml").read_text().startswith("<?xml")


def test_score_step_fails_on_a_failed_gate(
    action: dict[str, Any], bin_dir: Path, workdir: Path
) -> None:
    inputs = {"predictions": f"{DATA_REL}/regressed.csv", **GATES}
    run = run_step(action, "score", inputs, workdir, system_path(bin_dir))
    assert run.code == 1
    data = json.loads(Path(run.outputs["report"]).read_text())
    assert data["passed"] is False
    assert run.outputs["passed"] == "false"
    assert float(run.outputs["loss"]) == data["aggregate"]["loss"]
    assert run.out == (
        "::error title=xent quality gate::a gate failed: the predictions regressed; "
        "see the job summary\n"
    )
    # xent's own lines name the failed gates, once (the Markdown run is quiet).
    assert [line.split(" failed:")[0] for line in run.err.splitlines()] == [
        "xent: gate max-loss",
        "xent: gate max-class-loss[bird]",
        "xent: gate max-increase",
    ]
    assert "**Gates**: ❌ 3 of 5 failed" in run.summary


@pytest.mark.slow
@pytest.mark.parametrize(
    ("inputs", "code", "error"),
    [
        ({"predictions": "missing.csv"}, 3, "xent: error: missing.csv: no such file"),
        ({"predictions": f"{DATA_REL}/pr.csv", "max-loss": "lots"}, 2, "--max-loss must be"),
        ({"predictions": f"{DATA_REL}/pr.csv", "args": "--by 'lang"}, 2, "cannot be split"),
    ],
    ids=["missing-file", "bad-gate", "bad-args"],
)
def test_score_step_reports_broken_input(
    action: dict[str, Any],
    bin_dir: Path,
    workdir: Path,
    inputs: dict[str, str],
    code: int,
    error: str,
) -> None:
    run = run_step(action, "score", inputs, workdir, system_path(bin_dir))
    assert run.code == code
    assert run.outputs == {"passed": "false"}
    assert run.summary == ""
    assert error in run.err
    assert run.out.startswith(f"::error title=xent::broken input (exit {code})")


@pytest.mark.slow
def test_score_step_groups(action: dict[str, Any], bin_dir: Path, workdir: Path) -> None:
    shutil.copy(ROOT / "examples" / "langs.csv", workdir / "langs.csv")
    inputs = {"predictions": "langs.csv", "by": "lang", "max-group-loss": "2.5"}
    run = run_step(action, "score", inputs, workdir, system_path(bin_dir))
    assert run.code == 0, run.err
    data = json.loads(Path(run.outputs["report"]).read_text())
    assert data["by"] == ["lang"]
    assert [g["gate"] for g in data["gates"]] == ["max-group-loss"]
    assert "**Per group**" in run.summary


@pytest.mark.parametrize(
    ("version", "requirement"),
    [("", str(ROOT)), ("0.2.0", "xent==0.2.0"), ("xent[plot]>=0.2", "xent[plot]>=0.2")],
    ids=["the-action-checkout", "a-version", "a-requirement"],
)
def test_install_step(
    action: dict[str, Any], tmp_path: Path, version: str, requirement: str
) -> None:
    # A stand-in python records what would be installed (nothing is downloaded).
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    log = tmp_path / "pip.log"
    (fake / "python").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\n')
    (fake / "python").chmod(0o755)
    inputs = {"predictions": "p.csv", "xent-version": version}
    run = run_step(action, "Install xent", inputs, tmp_path, f"{fake}{os.pathsep}/usr/bin:/bin")
    assert (run.code, run.err) == (0, "")
    assert log.read_text().splitlines() == [
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        requirement,
    ]


# --- the workflow recipe ----------------------------------------------------------------------


def test_workflow_recipe_uses_the_action(
    action: dict[str, Any], bin_dir: Path, workdir: Path
) -> None:
    workflow = load(WORKFLOW)
    assert "pull_request" in workflow["on"]
    [(_, job)] = workflow["jobs"].items()
    assert job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    [step] = [s for s in steps if s.get("uses") == "./"]
    with_ = {k: str(v) for k, v in step["with"].items()}
    assert set(with_) <= INPUTS
    for key in ("predictions", "baseline"):
        assert (ROOT / with_[key]).is_file(), with_[key]
    # What the later step keeps is what the action writes.
    [keep] = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert keep["if"] == "always()"
    assert f"${{{{ steps.{step['id']}.outputs.report }}}}" in keep["with"]["path"]
    assert "xent-gates.xml" in keep["with"]["path"]
    assert "--junit xent-gates.xml" in with_["args"]

    run = run_step(action, "score", with_, workdir, system_path(bin_dir))
    assert (run.code, run.err) == (0, "")
    assert run.outputs["passed"] == "true"
    assert "**Gates**: ✅ all 5 passed" in run.summary
    assert (workdir / "xent-gates.xml").is_file()
