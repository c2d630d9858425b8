"""The JSON Schemas of ``xent.score/1``, ``xent.compare/1`` and ``xent.explain/1``.

They ship in the package (``src/xent/schemas/``), ``xent schema NAME`` prints them,
and ``tests/conftest.py`` validates every JSON object the ``invoke`` and ``run_xent``
fixtures see against them. These tests check the schemas themselves: that they are
valid JSON Schemas, that they accept what xent writes (also reports saved by earlier
versions) and refuse what it never writes, and that the package carries them.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from conftest import check_json_output
from xent.schema import SCHEMAS, load_schema, schema_name, schema_text, validate

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
Invoke = Callable[[Sequence[str]], tuple[int, str, str]]


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_schemas_are_valid_json_schemas(name: str) -> None:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == SCHEMAS[name]
    assert schema["properties"]["schema"] == {"const": SCHEMAS[name]}
    assert set(schema["required"]) <= set(schema["properties"])


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_xent_schema_prints_the_packaged_file(invoke: Invoke, name: str) -> None:
    code, out, err = invoke(["schema", name])
    assert (code, err) == (0, "")
    packaged = ROOT / "src" / "xent" / "schemas" / f"{name}.json"
    assert out == packaged.read_text(encoding="utf-8") == schema_text(name)
    assert json.loads(out)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_xent_schema_usage(invoke: Invoke) -> None:
    code, out, err = invoke(["schema", "report"])
    assert (code, out) == (2, "")
    assert err == "xent: error: NAME must be one of score, compare, explain, not 'report'\n"
    code, _, err = invoke(["schema"])
    assert code == 2
    assert "Usage: xent schema" in err


def documented_objects() -> list[tuple[str, dict[str, Any]]]:
    """Every whole JSON output shown in docs/json.md, and the saved example baselines."""
    found = []
    text = (ROOT / "docs" / "json.md").read_text(encoding="utf-8")
    for block in re.findall(r"```console\n\$ [^\n]*\n(\{\n.*?\n\})\n```", text, flags=re.S):
        found.append(("docs/json.md", json.loads(block)))
    for path in ("examples/baseline.json", "examples/ci/data/baseline.json"):
        found.append((path, json.loads((ROOT / path).read_text(encoding="utf-8"))))
    return found


def test_documented_outputs_conform() -> None:
    objects = documented_objects()
    assert {schema_name(value) for _, value in objects} == {"score", "explain"}
    for where, value in objects:
        validate(value)
        if where.startswith("docs/"):  # written by this version: every current key
            check_json_output(json.dumps(value), where)


def test_a_baseline_of_xent_0_1_validates() -> None:
    # examples/ci/data/baseline.json was saved before convention, warnings and
    # detected.index_column existed: the schema is additive, so it is still valid.
    old = json.loads((ROOT / "examples/ci/data/baseline.json").read_text(encoding="utf-8"))
    assert "convention" not in old
    assert "warnings" not in old
    assert "index_column" not in old["detected"]
    validate(old)


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A report with every optional part: metrics, groups, per-sample losses, gates."""
    cwd = tmp_path_factory.mktemp("full")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "xent",
            "score",
            str(ROOT / "examples" / "langs.csv"),
            "--by",
            "lang",
            "--per-sample",
            "--metrics",
            "all",
            "--max-loss",
            "1",
            "--max-class-loss",
            "1",
            "--max-group-loss",
            "1",
            "-f",
            "json",
        ],
        capture_output=True,
        cwd=cwd,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    value: dict[str, Any] = json.loads(proc.stdout)
    validate(value)
    return value


def refused(value: dict[str, Any]) -> str:
    with pytest.raises(jsonschema.ValidationError) as info:
        validate(value)
    return str(info.value.message)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda r: r.pop("aggregate"), "'aggregate' is a required property"),
        (lambda r: r.update(task="regression"), "'regression' is not one of"),
        (lambda r: r.update(inputs="scores"), "'scores' is not one of"),
        (lambda r: r.update(unit="furlongs"), "'furlongs' is not one of"),
        (lambda r: r["aggregate"].update(loss="Infinity"), "'Infinity' is not valid"),
        (lambda r: r["aggregate"].update(loss=None), "None is not valid"),
        (lambda r: r["aggregate"].update(n_clipped=-1), "-1 is less than the minimum of 0"),
        (lambda r: r["per_class"][0].update(n=1.5), "1.5 is not of type 'integer'"),
        (lambda r: r["top"][0].pop("label"), "'label' is a required property"),
        (lambda r: r["convention"].update(like="jax"), "'jax' is not one of"),
        (lambda r: r.update(passed=True), "False was expected"),
        (lambda r: r["gates"].append({**r["gates"][0], "gate": "max-fun"}), "does not match"),
        (lambda r: r["gates"][-1].pop("n_failed"), "'n_failed' is a required property"),
        (lambda r: r.pop("group_summary"), "'group_summary' is a dependency of 'by'"),
        (lambda r: r["aggregate"].update(bytes=3.0), "'bits_per_byte' is a dependency"),
        (lambda r: r["metrics"]["calibration"].update(accuracy=["x"]), "'x' is not valid"),
        (lambda r: r["groups"][0].update(key={"lang": ["en"]}), "is not of type"),
    ],
)
def test_the_score_schema_refuses_what_xent_never_writes(
    full_report: dict[str, Any], change: Callable[[dict[str, Any]], Any], why: str
) -> None:
    assert full_report["passed"] is False
    broken = copy.deepcopy(full_report)
    change(broken)
    assert why in refused(broken)


def test_the_score_schema_allows_added_keys_and_non_finite_strings(
    full_report: dict[str, Any],
) -> None:
    value = copy.deepcopy(full_report)
    value["a_key_of_a_later_version"] = {"anything": [1, "two"]}
    value["aggregate"]["something_new"] = 1
    value["per_class"][0]["loss"] = "inf"
    value["reference"]["d2"] = "nan"
    value["top"][0]["id"] = None
    validate(value)


def test_the_compare_and_explain_schemas_refuse(invoke: Invoke, tmp_path: Path) -> None:
    examples = ROOT / "examples"
    code, out, _ = invoke(
        [
            "compare",
            str(examples / "iris.csv"),
            str(examples / "iris_v2.csv"),
            "--seed",
            "7",
            "--by",
            "label",
            "--max-increase",
            "5%",
            "-f",
            "json",
        ]
    )
    assert code == 1
    result = json.loads(out)
    for change, why in [
        (lambda r: r.update(paired_by="name"), "'name' is not one of"),
        (lambda r: r["difference"].update(seed="7"), "'7' is not of type"),
        (lambda r: r["groups"][0].update(significant="maybe"), "'maybe' is not one of"),
        (lambda r: r["gates"][0].update(gate="max-loss"), "'max-loss' is not one of"),
        (lambda r: r.pop("groups"), "'groups' is a dependency of 'by'"),
        (lambda r: r.update(passed=True), "False was expected"),
    ]:
        broken = copy.deepcopy(result)
        change(broken)
        assert why in refused(broken)
    code, out, _ = invoke(["explain", str(examples / "iris.csv"), "--row", "4", "--json"])
    assert code == 0
    explained = json.loads(out)
    validate(explained)
    for key in ("steps", "loss", "formula"):
        broken = copy.deepcopy(explained)
        broken.pop(key)
        assert f"'{key}' is a required property" in refused(broken)


def test_the_fixture_hook_fails_a_test_on_a_bad_output(full_report: dict[str, Any]) -> None:
    broken = copy.deepcopy(full_report)
    broken["unit"] = "furlongs"
    with pytest.raises(pytest.fail.Exception, match="does not conform to its schema at unit"):
        check_json_output(json.dumps(broken))
    current = copy.deepcopy(full_report)
    current.pop("warnings")
    with pytest.raises(AssertionError, match="without"):
        check_json_output(json.dumps(current))
    check_json_output('{"schema": "something else/1"}')  # not xent's: left alone
    check_json_output("index,id,label,loss\n")


@pytest.mark.slow
def test_the_wheel_carries_the_schemas(tmp_path: Path) -> None:
    """``pip install .`` installs the schemas: they are package data of the wheel (built
    as pip builds it, in an isolated environment with the build backend of pyproject)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    [wheel] = tmp_path.glob("xent-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in SCHEMAS:
            member = f"xent/schemas/{name}.json"
            assert member in names
            assert archive.read(member).decode() == schema_text(name)
