"""``--junit FILE``: the gates of ``xent score`` and ``xent compare`` as JUnit XML.

Every file is validated against the JUnit schema that Jenkins reads
(``tests/data/junit/jenkins-junit.xsd``: the format of the Jenkins xunit-plugin's
``junit-10.xsd``, written out for these tests) with ``xmlschema``, and read back with
``junitparser``, a JUnit parser from PyPI, whose counts, names and failures are
checked against the run's own JSON output.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
XSD = Path(__file__).resolve().parent / "data" / "junit" / "jenkins-junit.xsd"

Invoke = Callable[[Sequence[str]], tuple[int, str, str]]


@pytest.fixture(scope="module")
def schema() -> Any:
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(XSD))


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path


def read_junit(path: Path, schema: Any) -> Any:
    """Validate ``path`` against the JUnit schema and parse it with junitparser: the one
    test suite it holds."""
    junitparser = pytest.importorskip("junitparser")
    schema.validate(str(path))
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert len(suites) == 1
    return suites[0]


def cases(suite: Any) -> dict[str, Any]:
    found = {case.name: case for case in suite}
    assert len(found) == len(list(suite)), "test case names are unique"
    return found


def failure(case: Any) -> Any:
    """The ``<failure>`` of a test case, or None when it passed."""
    import junitparser

    failures = [r for r in case.result if isinstance(r, junitparser.Failure)]
    assert len(failures) <= 1
    assert not [r for r in case.result if not isinstance(r, junitparser.Failure)]
    return failures[0] if failures else None


def test_score_gates_are_test_cases(invoke: Invoke, examples: Path, schema: Any) -> None:
    code, out, err = invoke(
        [
            "score",
            "examples/iris.csv",
            "--max-loss",
            "0.3",
            "--max-class-loss",
            "0.5",
            "--format",
            "json",
            "--junit",
            "gates.xml",
        ]
    )
    assert code == 1
    report = json.loads(out)
    suite = read_junit(examples / "gates.xml", schema)
    assert suite.name == "xent score examples/iris.csv"
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (4, 2, 0, 0)
    found = cases(suite)
    assert (
        list(found)
        == [g["gate"] for g in report["gates"]]
        == [
            "max-loss",
            "max-class-loss[setosa]",
            "max-class-loss[versicolor]",
            "max-class-loss[virginica]",
        ]
    )
    for gate in report["gates"]:
        case = found[gate["gate"]]
        assert case.classname == "xent.score"
        failed = failure(case)
        assert (failed is None) == gate["passed"]
        if failed is not None:
            # The message is the gate's line on standard error; the text has the numbers.
            assert f"xent: {failed.message}" in err.splitlines()
            assert failed.type == gate["gate"].partition("[")[0]
            assert f"value: {gate['value']!r} nats" in failed.text
            assert f"threshold: {gate['threshold']!r} nats" in failed.text
        else:
            assert f"value: {gate['value']!r} nats" in case.system_out
    properties = {p.name: p.value for p in suite.properties()}
    assert float(properties["loss"]) == report["aggregate"]["loss"]
    assert properties["unit"] == "nats"
    assert properties["n_samples"] == "10"


def test_a_run_without_gates_is_one_passing_case(
    invoke: Invoke, examples: Path, schema: Any
) -> None:
    code, out, _ = invoke(["score", "examples/iris.csv", "-f", "json", "--junit", "j.xml"])
    assert code == 0
    loss = json.loads(out)["aggregate"]["loss"]
    suite = read_junit(examples / "j.xml", schema)
    assert (suite.tests, suite.failures) == (1, 0)
    [case] = list(suite)
    assert case.name == "score"
    assert failure(case) is None
    assert case.system_out == f"loss {loss!r} nats over 10 samples\n"


def test_group_gate_has_a_case_per_gated_group(invoke: Invoke, examples: Path, schema: Any) -> None:
    code, out, err = invoke(
        [
            "score",
            "examples/langs.csv",
            "--by",
            "lang",
            "--max-group-loss",
            "0.8",
            "--min-group-size",
            "3",
            "--format",
            "json",
            "--junit",
            "groups.xml",
        ]
    )
    assert code == 1
    report = json.loads(out)
    suite = read_junit(examples / "groups.xml", schema)
    found = cases(suite)
    # sw has one sample, fewer than --min-group-size 3: not gated, no case of its own.
    gated = [g for g in report["groups"] if g["n"] >= 3]
    assert list(found) == ["max-group-loss"] + [
        f"max-group-loss[lang={g['key']['lang']}]" for g in gated
    ]
    assert (suite.tests, suite.failures) == (4, 2)
    gate = failure(found["max-group-loss"])
    assert f"xent: {gate.message}" in err.splitlines()
    assert "groups failed: 1\n" in gate.text
    assert "groups not gated: 1 (fewer than --min-group-size 3 samples" in gate.text
    for group in gated:
        case = found[f"max-group-loss[lang={group['key']['lang']}]"]
        failed = failure(case)
        assert (failed is not None) == (group["loss"] > 0.8)
        text = failed.text if failed is not None else case.system_out
        assert f"loss: {group['loss']!r} nats\nthreshold: 0.8 nats\nsamples: {group['n']}" in text
    assert failure(found["max-group-loss[lang=de]"]).message == (
        "group lang=de: loss 1.09351 nats > 0.8"
    )


def test_baseline_gate(invoke: Invoke, examples: Path, schema: Any) -> None:
    args = ["score", "examples/iris_v2.csv", "--baseline", "examples/baseline.json"]
    code, _, err = invoke([*args, "--max-increase", "5%", "--junit", "b.xml"])
    assert code == 1
    [case] = list(read_junit(examples / "b.xml", schema))
    assert case.name == "max-increase"
    assert f"xent: {failure(case).message}" in err.splitlines()
    assert "increase: 0.04412559286472" in failure(case).text
    code, _, _ = invoke([*args, "--max-increase", "0.05", "--junit", "b.xml"])
    assert code == 0
    [case] = list(read_junit(examples / "b.xml", schema))
    assert failure(case) is None


def test_compare_gates(invoke: Invoke, examples: Path, schema: Any) -> None:
    code, out, err = invoke(
        [
            "compare",
            "examples/iris.csv",
            "examples/iris_v2.csv",
            "--seed",
            "7",
            "--by",
            "label",
            "--max-increase",
            "5%",
            "-f",
            "json",
            "--junit",
            "compare.xml",
        ]
    )
    assert code == 1
    result = json.loads(out)
    suite = read_junit(examples / "compare.xml", schema)
    assert suite.name == "xent compare examples/iris.csv examples/iris_v2.csv"
    found = cases(suite)
    groups = {f"max-group-increase[label={g['key']['label']}]": g for g in result["groups"]}
    assert list(found) == ["max-increase", "max-group-increase", *groups]
    for gate in result["gates"]:
        failed = failure(found[gate["gate"]])
        assert (failed is None) == gate["passed"]
        if failed is not None:
            assert f"xent: {failed.message}" in err.splitlines()
    # A group fails exactly when xent compare named it among the failed groups.
    [group_gate] = [g for g in result["gates"] if g["gate"] == "max-group-increase"]
    failed_groups = {f"max-group-increase[{name}]" for name in group_gate["failed_groups"]}
    assert {name for name in groups if failure(found[name]) is not None} == failed_groups
    assert (suite.tests, suite.failures) == (5, 2 + len(failed_groups))
    assert failed_groups == {
        "max-group-increase[label=virginica]",
        "max-group-increase[label=setosa]",
    }
    text = failure(found["max-group-increase[label=setosa]"]).text
    setosa = groups["max-group-increase[label=setosa]"]
    assert f"increase: {setosa['difference']!r} nats\n" in text
    assert f"interval: [{setosa['ci_low']!r}, {setosa['ci_high']!r}]\n" in text


def test_compare_significant_and_no_gates(invoke: Invoke, examples: Path, schema: Any) -> None:
    base = ["compare", "examples/iris.csv", "examples/iris_v2.csv", "--seed", "7"]
    code, out, _ = invoke([*base, "--max-increase", "5%", "--significant", "--junit", "s.xml"])
    assert code == 0
    [case] = list(read_junit(examples / "s.xml", schema))
    assert case.name == "max-increase (significant)"
    assert failure(case) is None
    code, out, _ = invoke([*base, "-f", "json", "--junit", "n.xml"])
    assert code == 0
    [case] = list(read_junit(examples / "n.xml", schema))
    assert case.name == "compare"
    mean = json.loads(out)["difference"]["mean"]
    assert case.system_out.startswith(f"difference (candidate - base): {mean!r} nats\n")


HOSTILE = 'id,label,p_a,"p_<script>alert(""x"")</script>",p_b&c\x1b[2J\n'


def test_input_text_is_escaped(invoke: Invoke, tmp_path: Path, schema: Any) -> None:
    rows = [
        "1,a,0.7,0.2,0.1",
        '2,"<script>alert(""x"")</script>",0.6,0.3,0.1',
        "3,b&c\x1b[2J,0.1,0.1,0.8",
    ]
    (tmp_path / "hostile <&>.csv").write_text(HOSTILE + "\n".join(rows) + "\n")
    code, _, _ = invoke(["score", "hostile <&>.csv", "--max-class-loss", "0.5", "--junit", "h.xml"])
    assert code == 1
    data = (tmp_path / "h.xml").read_bytes()
    assert b"<script>" not in data
    assert b"\x1b" not in data
    suite = read_junit(tmp_path / "h.xml", schema)
    assert suite.name == "xent score hostile <&>.csv"
    assert list(cases(suite)) == [
        "max-class-loss[a]",
        'max-class-loss[<script>alert("x")</script>]',
        "max-class-loss[b&c\\x1b[2J]",
    ]
    # The standard library's parser reads the same thing.
    root = ET.fromstring(data)
    assert root.find("testsuite/testcase[2]").get("name") == (  # type: ignore[union-attr]
        'max-class-loss[<script>alert("x")</script>]'
    )


def test_junit_is_written_atomically(invoke: Invoke, examples: Path) -> None:
    # A run that fails leaves no file, and an existing one untouched.
    (examples / "old.xml").write_text("old")
    code, _, err = invoke(["score", "examples/logits.csv", "--junit", "old.xml"])
    assert code == 4, err
    assert (examples / "old.xml").read_text() == "old"
    code, _, err = invoke(["score", "examples/logits.csv", "--junit", "new.xml"])
    assert code == 4
    assert not (examples / "new.xml").exists()
    assert not [p.name for p in examples.iterdir() if p.name.startswith(".xent-")]
    # A directory that does not exist fails before scoring, as --output does.
    code, _, err = invoke(["score", "examples/iris.csv", "--junit", "nowhere/j.xml"])
    assert code == 74
    assert err == (
        "xent: error: nowhere/j.xml: the output directory does not exist; create it first\n"
    )


def test_junit_beside_any_format_and_output(invoke: Invoke, examples: Path) -> None:
    args = ["score", "examples/iris.csv", "--max-loss", "1"]
    for fmt in ("table", "json", "csv", "markdown"):
        code, out, _ = invoke([*args, "-f", fmt, "--junit", f"{fmt}.xml"])
        assert code == 0
        assert out
        assert (examples / f"{fmt}.xml").read_text().startswith("<?xml")
    code, out, _ = invoke([*args, "-f", "json", "-o", "r.json", "--junit", "-"])
    assert code == 0
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="xent"')
    assert json.loads((examples / "r.json").read_text())["passed"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--junit", "-"],
            "--junit - and the result would both go to standard output; give --output FILE, "
            "or --junit a file name",
        ),
        (
            ["--junit", "same.xml", "-o", "same.xml"],
            "--junit same.xml and --output same.xml are the same file",
        ),
        (
            ["--junit", "examples/iris.csv"],
            "--junit examples/iris.csv is one of the inputs (examples/iris.csv); writing the "
            "result there would replace it: give another file name",
        ),
    ],
    ids=["both-on-stdout", "same-as-output", "an-input"],
)
def test_junit_usage_errors(invoke: Invoke, examples: Path, extra: list[str], message: str) -> None:
    before = (examples / "examples" / "iris.csv").read_bytes()
    code, out, err = invoke(["score", "examples/iris.csv", *extra])
    assert (code, out) == (2, "")
    assert err == f"xent: error: {message}\n"
    assert (examples / "examples" / "iris.csv").read_bytes() == before
    assert not (examples / "same.xml").exists()
    code, _, err = invoke(["compare", "examples/iris.csv", "examples/iris_v2.csv", *extra])
    assert code == 2
    assert err == f"xent: error: {message}\n"
