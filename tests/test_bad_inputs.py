"""The corpus of bad inputs: every case's exit code, message and (when valid) number.

The cases live in ``tests/data/bad/cases.toml``: one ``[[case]]`` per input, with
the arguments of ``xent score``, the exit code the contract gives (section 6) and
a regex for the one-line message, or, for valid-but-unusual inputs, the right
answer computed here with scikit-learn (or by hand). Small text inputs are files
in ``tests/data/bad/``; binary, random and large ones are written once per session
by ``tests/make_bad_inputs.py``.

Every failing case is run twice, once plain and once with ``--output out.json``,
and must each time: exit with exactly the expected code (never 70), print nothing
on standard output, print exactly one line ``xent: error: ...`` on standard error
that names the file and matches the regex, show no traceback, and leave no file
behind (no ``out.json``, no temporary file). A valid case must exit 0 and report
the right loss (1e-9 relative) and row counts.

The last tests check the row accounting: every data row is scored, counted as
ignored, or the run fails (``n_samples + n_ignored`` = rows in the file).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import re
import shutil
import signal
import threading
import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from scipy.special import expit, softmax
from sklearn.metrics import log_loss

import make_bad_inputs

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]

DATA = Path(__file__).parent / "data" / "bad"
MANIFEST = DATA / "cases.toml"
ERROR_PREFIX = "xent: error: "
EPS = float(np.finfo(np.float64).eps)
REL = 1e-9
#: Exit codes a run may end with (section 6); 70 is always a bug, 1 needs a gate.
USER_CODES = {0, 2, 3, 4}
#: Keys a [[case]] may have; anything else is a typo in the manifest.
CASE_KEYS = {"id", "args", "exit", "message", "names", "marker", "note", "expect", "max_seconds"}
EXPECT_KEYS = {
    "y_true",
    "y_pred",
    "labels",
    "sample_weight",
    "logits",
    "method",
    "reference",
    "loss",
    "n_samples",
    "n_ignored",
    "inputs",
}

CASES: list[dict[str, Any]] = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))["case"]


def strict_json(text: str) -> Any:
    """Parse JSON as strict parsers do: bare NaN / Infinity are errors."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory holding every input written by ``make_bad_inputs``."""
    directory = tmp_path_factory.mktemp("bad-inputs")
    make_bad_inputs.generate(directory)
    return directory


def _source(name: str, generated: Path) -> Path | None:
    for directory in (DATA, generated):
        if (directory / name).exists():
            return directory / name
    return None


def _stage(args: Sequence[str], into: Path, generated: Path) -> None:
    """Copy every file named in ``args`` into ``into`` (the directory xent runs in)."""
    for arg in args:
        source = _source(arg, generated)
        if source is None:
            continue
        if source.is_dir():
            shutil.copytree(source, into / arg)
        else:
            shutil.copyfile(source, into / arg)


class _TooSlow(BaseException):
    """Raised by the timer of :func:`time_limit` (not an ``Exception``: xent must not catch it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (POSIX main thread only; elsewhere no limit)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if seconds is None or not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TooSlow(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _listing(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def failure_problems(result: Result, code: int, pattern: str, name: str) -> list[str]:
    """Everything wrong with a failed run, as readable complaints (empty: all is well)."""
    rc, out, err = result
    problems = []
    if rc != code:
        problems.append(f"exit {rc}, expected {code}")
    if rc not in USER_CODES:
        problems.append(f"exit {rc} is not a user-error code (70 means a bug in xent)")
    if out:
        problems.append(f"stdout is not empty: {out[:200]!r}")
    if "Traceback" in err:
        problems.append("stderr holds a traceback")
    if not err.endswith("\n") or "\n" in err[:-1]:
        problems.append("stderr is not exactly one line")
    if not err.startswith(ERROR_PREFIX):
        problems.append(f"stderr does not start with {ERROR_PREFIX!r}")
    message = err[len(ERROR_PREFIX) :].rstrip("\n") if err.startswith(ERROR_PREFIX) else err
    if name not in message:
        problems.append(f"the message does not name {name!r}")
    if not re.search(pattern, message):
        problems.append(f"the message does not match {pattern!r}")
    if problems:
        problems.append(f"stderr: {err[:600]!r}")
    return problems


def _true_probability(y: np.ndarray[Any, Any], proba: np.ndarray[Any, Any]) -> Any:
    if proba.ndim == 1:
        return np.where(y == 1, proba, 1.0 - proba)
    return proba[np.arange(len(y)), y]


def expected_loss(expect: dict[str, Any], generated: Path) -> float:
    """The aggregate loss a valid case must report, from scikit-learn or by hand."""
    if "loss" in expect:
        return float(expect["loss"])
    if "reference" in expect:
        with np.load(generated / expect["reference"]) as reference:
            y, proba = reference["y_true"], reference["y_pred"]
        return float(log_loss(y, proba, labels=np.arange(proba.shape[1])))
    proba = np.asarray(expect["y_pred"], dtype=np.float64)
    if proba.ndim == 2:
        classes = list(expect["labels"])
        y = np.array([classes.index(v) for v in expect["y_true"]])
        labels = list(range(proba.shape[1]))
    else:
        y = np.asarray(expect["y_true"])
        labels = [0, 1]
    if expect.get("logits"):
        proba = expit(proba) if proba.ndim == 1 else softmax(proba, axis=1)
    weights = expect.get("sample_weight")
    if expect.get("method") == "hand":
        p = np.clip(_true_probability(y, proba), EPS, 1.0 - EPS)
        return float(np.average(-np.log(p), weights=weights))
    return float(log_loss(y, proba, labels=labels, sample_weight=weights))


def finite_figures(report: dict[str, Any]) -> list[str]:
    """The aggregate and per-class figures of a report that are not finite numbers."""
    bad = []
    for key in ("loss", "sum", "weight", "perplexity"):
        if not isinstance(report["aggregate"][key], int | float):
            bad.append(f"aggregate.{key} = {report['aggregate'][key]!r}")
    for entry in report["per_class"]:
        for key in ("loss", "sum", "share"):
            value = entry[key]
            if not isinstance(value, int | float) and not (entry["n"] == 0 and value == "nan"):
                bad.append(f"per_class[{entry['class']!r}].{key} = {value!r}")
    return bad


def _manifest_problems() -> list[str]:
    problems = []
    ids = [case.get("id") for case in CASES]
    problems += [f"duplicate id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for case in CASES:
        problems += [f"{case.get('id')}: unknown key {k!r}" for k in set(case) - CASE_KEYS]
        if case.get("exit") not in (0, 2, 3, 4):
            problems.append(f"{case['id']}: exit {case.get('exit')!r} is not 0, 2, 3 or 4")
        if case.get("exit") == 0:
            if "expect" not in case:
                problems.append(f"{case['id']}: a valid case needs [case.expect]")
            else:
                unknown = set(case["expect"]) - EXPECT_KEYS
                problems += [f"{case['id']}: unknown expect key {k!r}" for k in unknown]
        elif "message" not in case:
            problems.append(f"{case['id']}: a failing case needs a message regex")
    return problems


def test_manifest_is_well_formed() -> None:
    assert _manifest_problems() == []


def test_every_input_file_belongs_to_a_case(generated: Path) -> None:
    """No input lies unused, none is missing, and no name is both committed and generated."""
    committed = {p.name for p in DATA.iterdir()} - {"cases.toml", ".gitattributes"}
    produced = set(make_bad_inputs.GENERATORS)
    assert committed & produced == set()
    used = {arg for case in CASES for arg in case["args"] if _source(arg, generated)}
    used |= {case["expect"]["reference"] for case in CASES if "reference" in case.get("expect", {})}
    assert committed - used == set(), "committed inputs no case uses"
    assert produced - used == set(), "generated inputs no case uses"
    for case in CASES:
        first = case["args"][0]
        assert _source(first, generated) is not None, f"{case['id']}: no input {first!r}"


def test_pickle_payload_is_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pickled inputs really would run code if loaded, so their cases prove something."""
    make_bad_inputs.generate(tmp_path / "inputs")
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / make_bad_inputs.PICKLE_MARKER
    assert not marker.exists()
    for handle in np.load(tmp_path / "inputs" / "pickle.npy", allow_pickle=True):
        handle.close()  # each unpickled element is the file the payload opened
    assert marker.exists()
    marker.unlink()
    with np.load(tmp_path / "inputs" / "pickle.npz", allow_pickle=True) as archive:
        for handle in archive["y_true"]:
            handle.close()
    assert marker.exists()


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input(case: dict[str, Any], invoke: Invoke, tmp_path: Path, generated: Path) -> None:
    args = ["score", *case["args"]]
    _stage(case["args"], tmp_path, generated)
    before = _listing(tmp_path)
    marker = tmp_path / case["marker"] if "marker" in case else None

    if case["exit"] != 0:
        name = case.get("names", case["args"][0])
        problems = failure_problems(invoke(args), case["exit"], case["message"], name)
        with_output = invoke([*args, "--format", "json", "--output", "out.json"])
        problems += [
            f"with --output: {p}"
            for p in failure_problems(with_output, case["exit"], case["message"], name)
        ]
        left = _listing(tmp_path) - before
        if left:
            problems.append(f"files left behind: {sorted(left)}")
        if marker is not None and marker.exists():
            problems.append("the pickle payload ran: xent unpickled the input")
        assert not problems, "\n".join([case.get("note", ""), *problems])
        return

    try:
        with time_limit(case.get("max_seconds")):
            rc, out, err = invoke([*args, "--format", "json"])
    except _TooSlow as slow:
        pytest.fail(f"{case['id']}: {slow} (budget: {case['max_seconds']} s)")
    assert (rc, "Traceback" in err) == (0, False), f"exit {rc}: {err[:600]!r}"
    report = strict_json(out)
    expect = case["expect"]
    assert report["aggregate"]["loss"] == pytest.approx(
        expected_loss(expect, generated), rel=REL, abs=1e-15
    )
    n_rows = expect.get("n_samples", len(expect.get("y_true", [])) or None)
    if n_rows is not None:
        assert report["n_samples"] == n_rows
    assert report["n_ignored"] == expect.get("n_ignored", 0)
    if "inputs" in expect:
        assert report["inputs"] == expect["inputs"]
    assert finite_figures(report) == []
    rc, out, err = invoke([*args, "--format", "json", "--output", "out.json"])
    assert (rc, out) == (0, ""), err
    assert strict_json((tmp_path / "out.json").read_text())["aggregate"] == report["aggregate"]
    assert _listing(tmp_path) - before == {"out.json"}
    if marker is not None:
        assert not marker.exists()


# --- every row read is scored, ignored, or the run fails --------------------------------------

CLASSES = ["a", "b", "c"]


def _rows(n: int, seed: int, ignore: str) -> tuple[list[str], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    labels = rng.choice([*CLASSES, ignore], size=n, p=[0.3, 0.25, 0.25, 0.2]).tolist()
    labels[0] = "a"  # at least one row is scored
    proba = rng.dirichlet(np.ones(len(CLASSES)), size=n)
    return labels, proba


def _write(fmt: str, directory: Path, labels: list[str], proba: np.ndarray[Any, Any]) -> list[str]:
    """Write the rows in ``fmt``; return the arguments of ``xent score`` that read them."""
    columns = {"label": labels, **{f"p_{c}": proba[:, j] for j, c in enumerate(CLASSES)}}
    if fmt in ("csv", "csv-crlf", "tsv", "csv.gz"):
        sep = "\t" if fmt == "tsv" else ","
        end = "\r\n" if fmt == "csv-crlf" else "\n"
        lines = [sep.join(columns)]
        lines += [
            sep.join([label, *(repr(float(v)) for v in row)])
            for label, row in zip(labels, proba, strict=True)
        ]
        text = (end.join(lines) + end).encode()
        suffix = {"csv-crlf": "csv"}.get(fmt, fmt)
        path = directory / f"rows.{suffix}"
        path.write_bytes(gzip.compress(text) if fmt == "csv.gz" else text)
        return [path.name]
    if fmt == "parquet":
        pq.write_table(pa.table(columns), directory / "rows.parquet", row_group_size=10_000)
        return ["rows.parquet"]
    if fmt == "arrow":
        feather.write_feather(pa.table(columns), directory / "rows.arrow", chunksize=10_000)
        return ["rows.arrow"]
    if fmt == "jsonl":
        with open(directory / "rows.jsonl", "w") as out:
            for label, row in zip(labels, proba, strict=True):
                values = zip(CLASSES, row, strict=True)
                record = {"label": label, **{f"p_{c}": float(v) for c, v in values}}
                out.write(json.dumps(record) + "\n")
        return ["rows.jsonl"]
    assert fmt == "npy"
    np.save(directory / "rows.npy", proba)
    np.save(directory / "labels.npy", np.array(labels))
    return ["rows.npy", "--labels", "labels.npy", "--classes", ",".join(CLASSES)]


@pytest.mark.parametrize("n_rows", [1, 257, 70_001], ids=lambda n: f"{n}-rows")
@pytest.mark.parametrize(
    "fmt", ["csv", "csv-crlf", "tsv", "csv.gz", "parquet", "arrow", "jsonl", "npy"]
)
def test_every_row_is_scored_or_ignored(
    invoke: Invoke, tmp_path: Path, fmt: str, n_rows: int
) -> None:
    """``n_samples + n_ignored`` equals the rows in the file, and the loss is sklearn's
    over the rows kept (70,001 rows cross the CSV segment and Arrow batch sizes)."""
    ignore = "ignored"
    labels, proba = _rows(n_rows, seed=n_rows, ignore=ignore)
    args = _write(fmt, tmp_path, labels, proba)
    rc, out, err = invoke(["score", *args, "--ignore-label", ignore, "--format", "json"])
    assert rc == 0, err
    report = strict_json(out)
    kept = np.array([label != ignore for label in labels])
    assert report["n_samples"] + report["n_ignored"] == n_rows
    assert report["n_ignored"] == int((~kept).sum())
    y = np.array([CLASSES.index(label) for label, k in zip(labels, kept, strict=True) if k])
    expected = log_loss(y, proba[kept], labels=[0, 1, 2])
    assert report["aggregate"]["loss"] == pytest.approx(expected, rel=REL)
    assert sum(entry["n"] for entry in report["per_class"]) == report["n_samples"]


@pytest.mark.parametrize("ignore_label", ["-100", " -100 "])
def test_integer_ignore_label_rows_are_counted(
    invoke: Invoke, tmp_path: Path, ignore_label: str
) -> None:
    """The usual PyTorch ``ignore_index=-100``, in a CSV, a Parquet and an NPY input."""
    rng = np.random.default_rng(100)
    n = 5_000
    y = rng.integers(0, 3, size=n)
    y[rng.random(n) < 0.3] = -100
    y[0] = 1
    proba = rng.dirichlet(np.ones(3), size=n)
    header = "label,p_0,p_1,p_2\n"
    body = "".join(
        f"{label},{','.join(repr(float(v)) for v in row)}\n"
        for label, row in zip(y, proba, strict=True)
    )
    (tmp_path / "ints.csv").write_text(header + body)
    pq.write_table(
        pa.table({"label": y, **{f"p_{j}": proba[:, j] for j in range(3)}}),
        tmp_path / "ints.parquet",
    )
    np.save(tmp_path / "ints.npy", proba)
    np.save(tmp_path / "ints-labels.npy", y)
    kept = y != -100
    expected = log_loss(y[kept], proba[kept], labels=[0, 1, 2])
    for args in (["ints.csv"], ["ints.parquet"], ["ints.npy", "--labels", "ints-labels.npy"]):
        rc, out, err = invoke(["score", *args, "--ignore-label", ignore_label, "-f", "json"])
        assert rc == 0, f"{args}: {err}"
        report = strict_json(out)
        assert report["n_samples"] + report["n_ignored"] == n, args
        assert report["n_ignored"] == int((~kept).sum()), args
        assert report["aggregate"]["loss"] == pytest.approx(expected, rel=REL), args
        assert math.isfinite(report["aggregate"]["perplexity"])
