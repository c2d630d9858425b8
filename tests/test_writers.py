"""Files written by the writers users have, scored against scikit-learn's answer.

``tests/writers/`` holds predictions and labels saved the everyday way (pandas
``to_csv`` with its default index, ``to_parquet`` after ``train_test_split``,
polars, pyarrow, NumPy ``save``/``savez``/``savetxt``, R's ``write.csv`` and
``write.table``, scikit-learn's ``decision_function``), written by
``tests/writers/make_writers.py`` and ``make_r.R``. ``tests/writers/cases.json``
gives, for each case, the ``xent`` arguments and either the expected result,
``sklearn.metrics.log_loss(y, proba, labels=clf.classes_)`` computed from the
in-memory arrays with the class names and the detected index column, or the
exit code and message fragments of an input that must be refused.

Each case runs ``xent`` in-process in a temporary directory holding copies of
the files it names, so messages show the names as given.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

Result = tuple[int, str, str]

WRITERS = Path(__file__).parent / "writers"
CASES: list[dict[str, Any]] = json.loads((WRITERS / "cases.json").read_text(encoding="utf-8"))
#: Files of tests/writers/ that are not inputs of a case.
NOT_INPUTS = {"make_writers.py", "make_r.R", "cases.json"}
REL = 1e-9
MAX_BYTES = 50_000


def _inputs(args: Sequence[str]) -> list[str]:
    return [a for a in args if (WRITERS / a).is_file() and a not in NOT_INPUTS]


def _no_traceback(out: str, err: str) -> None:
    assert "Traceback" not in out
    assert "Traceback" not in err


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_writer_case(
    case: dict[str, Any], invoke: Callable[[Sequence[str]], Result], tmp_path: Path
) -> None:
    for name in _inputs(case["args"]):
        shutil.copyfile(WRITERS / name, tmp_path / name)
    code, out, err = invoke(case["args"])
    _no_traceback(out, err)
    expect = case["expect"]

    if "exit" in expect:
        assert (code, out) == (expect["exit"], ""), f"exit {code}, stderr: {err.strip()}"
        message = err.strip().splitlines()[-1] if err.strip() else ""
        assert message.startswith("xent: error:"), err
        for fragment in expect["stderr_contains"]:
            assert fragment in message, f"{fragment!r} not in {message!r}"
        return

    assert code == 0, f"exit {code}, stderr: {err.strip()}"
    report = json.loads(out)
    loss = report["aggregate"]["loss"]
    assert loss == pytest.approx(expect["loss"], rel=REL, abs=0.0), (
        f"loss {loss!r}, scikit-learn {expect['loss']!r}; classes {report['classes']}, "
        f"detected {report['detected']}"
    )
    if "classes" in expect:
        assert report["classes"] == expect["classes"]
    if "index_column" in expect:
        assert report["detected"].get("index_column") == expect["index_column"], report["detected"]


def test_every_file_is_used() -> None:
    used = {name for case in CASES for name in _inputs(case["args"])}
    files = {
        p.name
        for p in WRITERS.iterdir()
        if p.is_file() and p.name not in NOT_INPUTS and not p.name.startswith(".")
    }
    assert sorted(files - used) == []
    assert sorted(used - files) == []


def test_files_are_small() -> None:
    sizes = {
        p.name: p.stat().st_size
        for p in WRITERS.iterdir()
        if p.is_file() and p.name not in NOT_INPUTS
    }
    big = {name: size for name, size in sizes.items() if size > MAX_BYTES}
    assert big == {}


def test_case_names_are_unique_and_expectations_well_formed() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        expect = case["expect"]
        assert ("loss" in expect) != ("exit" in expect), case["name"]
        assert case["args"][0] == "score"
        assert _inputs(case["args"]), case["name"]
