"""The ``xent`` command line: exit codes, stdout and stderr, as the contract states them.

Most tests call the CLI in-process (the ``invoke`` fixture); the few where the
process boundary matters (entry points, standard input, pipes, terminals) run
``python -m xent`` in a subprocess (``run_xent``). Both run in ``tmp_path``, so
the relative file names given on the command line appear as such in messages.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
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
#: -log p[i, y_i] of the rows above.
MULTICLASS_LOSSES = [-math.log(0.7), -math.log(0.8), -math.log(0.6), -math.log(0.5)]

BINARY = """\
label,p
1,0.9
0,0.2
1,0.6
0,0.3
"""
BINARY_LOSSES = [-math.log(0.9), -math.log(0.8), -math.log(0.6), -math.log(0.7)]

SCORE_OPTIONS = (
    "--labels",
    "--input-format",
    "--labels-format",
    "--label-col",
    "--label-cols",
    "--pred-cols",
    "--id-col",
    "--weight-col",
    "--pos-label",
    "--classes",
    "--task",
    "--inputs",
    "--eps",
    "--renormalize",
    "--label-smoothing",
    "--class-weights",
    "--ignore-label",
    "--unit",
    "--format",
    "--output",
    "--per-sample",
    "--top",
    "--debug",
    "--help",
)

ERROR_PREFIX = "xent: error: "
#: How a NumPy scalar prints (``np.float64(-1.0)``): never meant for a user.
NUMPY_REPR = re.compile(r"\bnp\.(float|u?int|str_|bool_|bytes_|complex)\w*\(")


def write(path: Path, text: str) -> str:
    """Write ``text`` to ``path``; return the file name (tests run in its directory)."""
    path.write_text(text, encoding="utf-8")
    return path.name


@pytest.fixture
def multiclass_csv(tmp_path: Path) -> str:
    return write(tmp_path / "mc.csv", MULTICLASS)


@pytest.fixture
def binary_csv(tmp_path: Path) -> str:
    return write(tmp_path / "bin.csv", BINARY)


def strict_json(text: str) -> Any:
    """Parse JSON as strict parsers do: bare NaN / Infinity are errors."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def assert_one_line(err: str) -> None:
    """``err`` is exactly one line, ending in a newline."""
    assert err.endswith("\n"), f"no final newline: {err!r}"
    assert "\n" not in err[:-1], f"more than one line: {err[:400]!r}"


def assert_error(
    result: Result,
    code: int,
    fragment: str | None = None,
    *,
    names: str | None = None,
    exact: str | None = None,
) -> str:
    """Check a failed run: exit ``code``, nothing on stdout, and one stderr line
    ``xent: error: ...`` with no traceback (and no NumPy scalar reprs) that matches
    the regex ``fragment``, contains the file name ``names``, or equals ``exact``.
    Returns the message without the prefix.
    """
    rc, out, err = result
    assert rc == code, f"exit {rc}, expected {code}; stderr: {err!r}"
    assert out == "", f"stdout should be empty on failure, got {out!r}"
    assert "Traceback" not in err
    assert err.startswith(ERROR_PREFIX), err
    assert_one_line(err)
    message = err[len(ERROR_PREFIX) : -1]
    assert message.strip(), "empty error message"
    assert not NUMPY_REPR.search(message), f"NumPy repr in the message: {message!r}"
    if names is not None:
        assert names in message, f"the message does not name {names!r}: {message!r}"
    if fragment is not None:
        assert re.search(fragment, message), f"{fragment!r} not found in {message!r}"
    if exact is not None:
        assert message == exact
    return message


def scripts_dir() -> Path:
    return Path(sysconfig.get_path("scripts"))


# --- exit 0: every format ----------------------------------------------------


def test_table_format(invoke: Invoke, multiclass_csv: str) -> None:
    rc, out, err = invoke(["score", multiclass_csv])
    assert rc == 0, err
    assert err == ""
    assert "\x1b" not in out
    assert "mc.csv" in out
    assert "multiclass" in out
    mean = sum(MULTICLASS_LOSSES) / 4
    assert f"{mean:.4f}" in out
    for name in ("cat", "dog", "bird"):
        assert re.search(rf"^\s*{name}\s", out, re.MULTILINE), name


def test_json_format(invoke: Invoke, multiclass_csv: str) -> None:
    rc, out, err = invoke(["score", multiclass_csv, "--format", "json"])
    assert rc == 0, err
    assert err == ""
    data = strict_json(out)
    assert out.endswith("\n")
    assert data["schema"] == "xent.score/1"
    assert data["xent"] == importlib.metadata.version("xent")
    for key in (
        "schema",
        "xent",
        "source",
        "task",
        "inputs",
        "unit",
        "classes",
        "n_samples",
        "n_ignored",
        "aggregate",
        "per_class",
        "gates",
        "passed",
        "reference",
    ):
        assert key in data, key
    assert "per_sample" not in data  # only with --per-sample
    assert data["source"] == {"predictions": "mc.csv", "labels": None}
    assert data["task"] == "multiclass"
    assert data["inputs"] == "probs"
    assert data["unit"] == "nats"
    assert data["classes"] == ["cat", "dog", "bird"]
    assert data["n_samples"] == 4
    assert data["n_ignored"] == 0
    agg = data["aggregate"]
    assert set(agg) >= {"loss", "sum", "weight", "perplexity", "n_clipped"}
    assert agg["loss"] == pytest.approx(sum(MULTICLASS_LOSSES) / 4, rel=1e-12)
    assert agg["sum"] == pytest.approx(sum(MULTICLASS_LOSSES), rel=1e-12)
    assert agg["weight"] == pytest.approx(4.0)
    assert agg["perplexity"] == pytest.approx(math.exp(agg["loss"]), rel=1e-12)
    assert agg["n_clipped"] == 0
    assert [c["class"] for c in data["per_class"]] == ["cat", "dog", "bird"]
    for row in data["per_class"]:
        assert set(row) >= {"class", "n", "loss", "sum", "share"}
    cat = data["per_class"][0]
    assert cat["n"] == 2
    assert cat["loss"] == pytest.approx((MULTICLASS_LOSSES[0] + MULTICLASS_LOSSES[3]) / 2)
    assert sum(c["share"] for c in data["per_class"]) == pytest.approx(1.0)
    assert set(data["reference"]) >= {"uniform", "prior", "d2"}
    assert data["reference"]["uniform"] == pytest.approx(math.log(3))
    assert data["gates"] == []
    assert data["passed"] is True


def test_csv_format(invoke: Invoke, multiclass_csv: str) -> None:
    rc, out, err = invoke(["score", multiclass_csv, "--format", "csv"])
    assert rc == 0, err
    assert err == ""
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["index", "id", "label", "loss"]
    assert [r[:3] for r in rows[1:]] == [
        ["0", "a", "cat"],
        ["1", "b", "dog"],
        ["2", "c", "bird"],
        ["3", "d", "cat"],
    ]
    assert [float(r[3]) for r in rows[1:]] == pytest.approx(MULTICLASS_LOSSES, rel=1e-12)


def test_markdown_format(invoke: Invoke, multiclass_csv: str) -> None:
    rc, out, err = invoke(["score", multiclass_csv, "--format", "markdown"])
    assert rc == 0, err
    assert err == ""
    assert "\x1b" not in out
    assert "mc.csv" in out
    assert re.search(r"^\|\s*class\s*\|", out, re.MULTILINE)
    assert re.search(r"^\|\s*:?-{3,}:?\s*\|", out, re.MULTILINE)  # a GFM delimiter row
    for name in ("cat", "dog", "bird"):
        assert re.search(rf"^\|\s*{name}\s*\|", out, re.MULTILINE), name
    assert f"{sum(MULTICLASS_LOSSES) / 4:.4f}" in out


def test_format_short_option(invoke: Invoke, binary_csv: str) -> None:
    rc, out, err = invoke(["score", binary_csv, "-f", "json"])
    assert rc == 0, err
    assert strict_json(out)["task"] == "binary"


# --- entry points, version, help ---------------------------------------------


def test_python_m_xent_matches_the_entry_point(
    run_xent: Callable[..., Result], tmp_path: Path
) -> None:
    write(tmp_path / "bin.csv", BINARY)
    script = shutil.which("xent", path=str(scripts_dir())) or shutil.which("xent")
    assert script is not None, "the xent console script is not installed"
    args = ["score", "bin.csv", "--format", "json"]
    via_module = run_xent(args)
    via_script = run_xent(args, command=[script])
    assert via_module[0] == 0, via_module[2]
    assert via_module == via_script
    assert strict_json(via_module[1])["task"] == "binary"
    # An error is reported the same way by both.
    bad = ["score", "missing.csv"]
    failed = run_xent(bad)
    assert failed == run_xent(bad, command=[script])
    assert_error(failed, 3, names="missing.csv")


def test_version(invoke: Invoke) -> None:
    rc, out, err = invoke(["--version"])
    assert (rc, err) == (0, "")
    assert out == f"xent {importlib.metadata.version('xent')}\n"


def test_help(invoke: Invoke) -> None:
    rc, out, err = invoke(["--help"])
    assert (rc, err) == (0, "")
    assert "Usage:" in out
    assert re.search(r"^\s+score\s", out, re.MULTILINE)
    assert "--version" in out


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_score_help_lists_every_option(invoke: Invoke, flag: str) -> None:
    rc, out, err = invoke(["score", flag])
    assert (rc, err) == (0, "")
    missing = [o for o in SCORE_OPTIONS if not re.search(rf"(?<![\w-]){o}(?![\w-])", out)]
    assert missing == []


# --- standard input ------------------------------------------------------------


def test_stdin_csv(run_xent: Callable[..., Result]) -> None:
    rc, out, err = run_xent(["score", "-", "--format", "json"], stdin=BINARY)
    assert rc == 0, err
    assert err == ""
    data = strict_json(out)
    assert data["source"]["predictions"] == "-"
    assert data["n_samples"] == 4
    assert data["aggregate"]["loss"] == pytest.approx(sum(BINARY_LOSSES) / 4, rel=1e-12)


def test_stdin_tsv(run_xent: Callable[..., Result]) -> None:
    tsv = BINARY.replace(",", "\t")
    rc, out, err = run_xent(["score", "-", "--input-format", "tsv", "--format", "csv"], stdin=tsv)
    assert rc == 0, err
    assert err == ""
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["index", "id", "label", "loss"]
    assert [r[:3] for r in rows[1:]] == [
        ["0", "", "1"],
        ["1", "", "0"],
        ["2", "", "1"],
        ["3", "", "0"],
    ]
    assert [float(r[3]) for r in rows[1:]] == pytest.approx(BINARY_LOSSES, rel=1e-12)


# --- JSON ----------------------------------------------------------------------


def test_json_nonfinite_loss_is_the_string_inf(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "zero.csv", "label,p\n1,0.9\n0,0.2\n1,0\n")
    rc, out, err = invoke(["score", name, "--eps", "0", "--format", "json", "--per-sample"])
    assert rc == 0, err
    assert "Infinity" not in out
    assert "NaN" not in out
    data = strict_json(out)
    assert data["aggregate"]["loss"] == "inf"
    assert data["aggregate"]["sum"] == "inf"
    assert data["aggregate"]["perplexity"] == "inf"
    assert data["aggregate"]["n_clipped"] == 0
    assert [s["loss"] for s in data["per_sample"]][2] == "inf"
    assert data["per_sample"][0]["loss"] == pytest.approx(-math.log(0.9))
    positive = next(c for c in data["per_class"] if c["class"] == "1")
    assert positive["loss"] == "inf"


def test_json_default_eps_clips_a_zero_probability(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "zero.csv", "label,p\n1,0.9\n0,0.2\n1,0\n")
    rc, out, err = invoke(["score", name, "--format", "json"])
    assert rc == 0, err
    data = strict_json(out)
    assert data["aggregate"]["n_clipped"] == 1
    assert math.isfinite(data["aggregate"]["loss"])


# --- CSV output ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "header"),
    [(MULTICLASS, ["index", "id", "label", "loss"]), (BINARY, ["index", "id", "label", "loss"])],
    ids=["with-id", "without-id"],
)
def test_csv_losses_match_json_per_sample(
    invoke: Invoke, tmp_path: Path, text: str, header: list[str]
) -> None:
    name = write(tmp_path / "preds.csv", text)
    rc, out, err = invoke(["score", name, "--format", "csv"])
    assert (rc, err) == (0, ""), err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == ",".join(header)
    n_input = len(text.strip().splitlines()) - 1
    assert [int(r["index"]) for r in rows] == list(range(n_input))

    rc, out, err = invoke(["score", name, "--format", "json", "--per-sample"])
    assert (rc, err) == (0, ""), err
    samples = strict_json(out)["per_sample"]
    assert [s["index"] for s in samples] == list(range(n_input))
    assert [float(r["loss"]) for r in rows] == [s["loss"] for s in samples]
    assert [r["label"] for r in rows] == [str(s["label"]) for s in samples]
    assert [r["id"] for r in rows] == ["" if s["id"] is None else str(s["id"]) for s in samples]


# --- --output -----------------------------------------------------------------------


def _temp_leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if re.match(r"\.xent-.*\.tmp$", p.name))


@pytest.fixture
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point :mod:`tempfile` at an empty directory, to see what a run leaves there."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_output_file(
    invoke: Invoke, tmp_path: Path, multiclass_csv: str, private_tempdir: Path, fmt: str
) -> None:
    rc, out, err = invoke(["score", multiclass_csv, "--format", fmt, "--output", "result.out"])
    assert (rc, out, err) == (0, "", "")
    written = (tmp_path / "result.out").read_text(encoding="utf-8")
    rc, expected, _ = invoke(["score", multiclass_csv, "--format", fmt])
    assert rc == 0
    assert written == expected
    assert _temp_leftovers(tmp_path) == []
    assert list(private_tempdir.iterdir()) == []


def test_output_short_option(invoke: Invoke, tmp_path: Path, binary_csv: str) -> None:
    rc, out, err = invoke(["score", binary_csv, "-f", "json", "-o", "r.json"])
    assert (rc, out, err) == (0, "", "")
    assert strict_json((tmp_path / "r.json").read_text())["task"] == "binary"


BAD_ROW_LAST = "label,p\n" + "1,0.9\n0,0.2\n" * 50 + "1,1.5\n"


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_failed_run_writes_no_output_file(
    invoke: Invoke, tmp_path: Path, private_tempdir: Path, fmt: str
) -> None:
    name = write(tmp_path / "bad.csv", BAD_ROW_LAST)
    result = invoke(["score", name, "--inputs", "probs", "--format", fmt, "--output", "r.out"])
    assert_error(result, 4, names="bad.csv")
    assert not (tmp_path / "r.out").exists()
    assert _temp_leftovers(tmp_path) == []
    assert list(private_tempdir.iterdir()) == []


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_failed_run_leaves_an_existing_output_untouched(
    invoke: Invoke, tmp_path: Path, fmt: str
) -> None:
    name = write(tmp_path / "bad.csv", BAD_ROW_LAST)
    target = tmp_path / "r.out"
    target.write_bytes(b"previous result\n")
    before = target.stat()
    result = invoke(["score", name, "--inputs", "probs", "--format", fmt, "--output", "r.out"])
    assert_error(result, 4, names="bad.csv")
    assert target.read_bytes() == b"previous result\n"
    assert target.stat().st_ino == before.st_ino
    assert _temp_leftovers(tmp_path) == []


def test_failed_run_with_unreadable_input_writes_no_output(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke(["score", "missing.csv", "--output", "r.out"])
    assert_error(result, 3, names="missing.csv")
    assert not (tmp_path / "r.out").exists()
    assert _temp_leftovers(tmp_path) == []


# --- no ANSI codes -----------------------------------------------------------------------


@pytest.mark.parametrize("env", [{}, {"NO_COLOR": "1"}], ids=["piped", "piped-NO_COLOR"])
def test_no_ansi_when_piped(
    run_xent: Callable[..., Result], tmp_path: Path, env: dict[str, str]
) -> None:
    write(tmp_path / "mc.csv", MULTICLASS)
    rc, out, err = run_xent(["score", "mc.csv"], env=env)
    assert rc == 0, err
    assert "cat" in out
    assert "\x1b" not in out
    assert "\x1b" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_no_ansi_on_a_terminal_with_no_color(tmp_path: Path) -> None:
    import pty

    from conftest import fixed_env

    write(tmp_path / "mc.csv", MULTICLASS)
    master, slave = pty.openpty()
    env = fixed_env({"NO_COLOR": "1", "TERM": "xterm-256color"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "xent", "score", "mc.csv"],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, err
    out = b"".join(chunks)
    assert b"cat" in out
    assert b"\x1b" not in out


# --- exit 2: usage errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--bogus"], r"No such option: --bogus"),
        (
            ["--inputs", "banana"],
            r"^--inputs must be one of auto, probs, logits, log-probs, target-probs, "
            r"target-log-probs, not 'banana'$",
        ),
        (["--unit", "furlongs"], r"^--unit must be nats or bits, not 'furlongs'$"),
        (["--eps", "-1"], r"^--eps must be in \[0, 0\.5\), not -1(\.0)?$"),
        (["--eps", "tiny"], r"^--eps must be 'auto' or a number, not 'tiny'$"),
        (["--label-smoothing", "1.5"], r"^--label-smoothing must be in \[0, 1\), not 1\.5$"),
        (["--label-smoothing", "abc"], r"--label-smoothing"),
        (["--top", "x"], r"--top"),
        (["--class-weights", "cat"], r"^--class-weights: 'cat' is not NAME=WEIGHT; example: "),
        (["--class-weights", "cat=heavy"], r"^--class-weights: 'cat=heavy' is not NAME=WEIGHT"),
        (["--class-weights", "cat=-1"], r"^--class-weights: weight of 'cat' must be >= 0"),
        (
            ["--class-weights", "zebra=2"],
            r"^--class-weights: 'zebra' is not a class; classes are cat, dog, bird$",
        ),
        (["--task", "multilabel"], r"^--task multilabel needs --label-cols"),
        (["--task", "regression"], r"^--task must be one of auto, binary, multiclass, multilabel"),
        (["--format", "xml"], r"^--format must be one of table, json, csv, markdown, not 'xml'$"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_usage_errors(invoke: Invoke, multiclass_csv: str, args: list[str], fragment: str) -> None:
    assert_error(invoke(["score", multiclass_csv, *args]), 2, fragment)


def test_unknown_command(invoke: Invoke) -> None:
    assert_error(invoke(["scroe", "mc.csv"]), 2, r"scroe")


@pytest.mark.parametrize("args", [["score"], []], ids=["score-without-file", "no-command"])
def test_missing_arguments_show_help_not_a_multiline_error(invoke: Invoke, args: list[str]) -> None:
    """``no_args_is_help``: help may be shown (exit 0 or 2); an error message is one line."""
    rc, out, err = invoke(args)
    assert rc in (0, 2)
    assert "Traceback" not in err
    assert "Usage:" in out + err
    if ERROR_PREFIX in err:
        assert err.startswith(ERROR_PREFIX)
        assert_one_line(err)


# --- exit 3: unreadable input --------------------------------------------------------------------


def test_missing_file(invoke: Invoke) -> None:
    assert_error(invoke(["score", "nope.csv"]), 3, exact="nope.csv: no such file or directory")


def test_missing_labels_file(invoke: Invoke, binary_csv: str) -> None:
    assert_error(invoke(["score", binary_csv, "--labels", "y.csv"]), 3, names="y.csv")


def test_unknown_suffix(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "preds.xyz", BINARY)
    assert_error(invoke(["score", name]), 3, r"--input-format", names="preds.xyz")
    # ... and the same file is read once the format is given.
    rc, out, err = invoke(["score", name, "--input-format", "csv", "-f", "json"])
    assert rc == 0, err
    assert strict_json(out)["n_samples"] == 4


def test_unknown_input_format(invoke: Invoke, binary_csv: str) -> None:
    message = assert_error(invoke(["score", binary_csv, "--input-format", "xls"]), 3)
    assert "xls" in message


def test_directory_that_is_not_parquet(invoke: Invoke, tmp_path: Path) -> None:
    folder = tmp_path / "preds"
    folder.mkdir()
    write(folder / "part-0.csv", BINARY)
    assert_error(invoke(["score", "preds"]), 3, r"parquet", names="preds")


def test_empty_csv_file(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    assert_error(invoke(["score", "empty.csv"]), 3, r"(?i)empty", names="empty.csv")


def test_no_label_column(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "nolabel.csv", "truthiness,p\n1,0.5\n0,0.2\n")
    assert_error(invoke(["score", name]), 3, r"no label column.*--label-col", names="nolabel.csv")


def test_label_col_not_found(invoke: Invoke, multiclass_csv: str) -> None:
    assert_error(
        invoke(["score", multiclass_csv, "--label-col", "nope"]),
        3,
        exact="mc.csv: no column 'nope' (given by --label-col); "
        "columns are: id, label, p_cat, p_dog, p_bird",
    )


def test_pred_cols_glob_matches_nothing(invoke: Invoke, multiclass_csv: str) -> None:
    assert_error(
        invoke(["score", multiclass_csv, "--pred-cols", "q_*"]),
        3,
        r"'q_\*'.*--pred-cols",
        names="mc.csv",
    )


def test_object_npy_is_refused(invoke: Invoke, tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_error(invoke(["score", "obj.npy"]), 3, r"(?i)pickle|object", names="obj.npy")


def test_object_npz_is_refused(invoke: Invoke, tmp_path: Path) -> None:
    np.savez(
        tmp_path / "obj.npz",
        y_pred=np.array([0.5, 0.4]),
        y_true=np.array([{"a": 1}, {"b": 2}], dtype=object),
    )
    assert_error(invoke(["score", "obj.npz"]), 3, r"(?i)pickle|object", names="obj.npz")


class _OpensAFile:
    """Unpickling this calls ``open(path, "w")``: proof that a pickle was loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


@pytest.mark.parametrize("role", ["predictions", "labels"])
def test_pickle_in_npy_is_never_loaded(invoke: Invoke, tmp_path: Path, role: str) -> None:
    marker = tmp_path / "PWNED"
    evil = np.array([_OpensAFile(str(marker))], dtype=object)
    np.save(tmp_path / "evil.npy", evil, allow_pickle=True)
    assert not marker.exists()
    if role == "predictions":
        args = ["score", "evil.npy"]
    else:
        np.save(tmp_path / "p.npy", np.array([0.5]))
        args = ["score", "p.npy", "--labels", "evil.npy"]
    assert_error(invoke(args), 3, r"(?i)pickle|object", names="evil.npy")
    assert not marker.exists(), "xent unpickled the array: code from the file ran"


def test_truncated_parquet(invoke: Invoke, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    full = tmp_path / "full.parquet"
    pq.write_table(pa.table({"label": [0, 1] * 500, "p": [0.3, 0.6] * 500}), full)
    data = full.read_bytes()
    (tmp_path / "half.parquet").write_bytes(data[: len(data) // 2])
    rc, out, err = invoke(["score", "full.parquet", "-f", "json"])
    assert rc == 0, err
    assert strict_json(out)["n_samples"] == 1000
    assert_error(invoke(["score", "half.parquet"]), 3, r"(?i)parquet", names="half.parquet")


def test_binary_garbage_named_csv(invoke: Invoke, tmp_path: Path) -> None:
    rng = random.Random(1234)
    (tmp_path / "garbage.csv").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    assert_error(invoke(["score", "garbage.csv"]), 3, names="garbage.csv")


def test_error_message_does_not_echo_control_characters(invoke: Invoke, tmp_path: Path) -> None:
    """A malformed row quoted in a message must not put raw control bytes (ESC, NUL,
    BEL) on the user's terminal."""
    (tmp_path / "ctl.csv").write_bytes(b"label\n\x1b[2J\x1b[31m\x07,\x00\xff,0\n")
    message = assert_error(invoke(["score", "ctl.csv"]), 3, names="ctl.csv")
    controls = sorted({f"\\x{ord(ch):02x}" for ch in message if ord(ch) < 32 or ord(ch) == 127})
    assert controls == [], f"raw control characters in the message: {controls}"


# --- exit 4: invalid data ---------------------------------------------------------------------


def test_nan_prediction(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "nan.csv", "label,p_a,p_b\na,0.5,0.5\nb,nan,0.5\na,0.2,0.8\n")
    assert_error(
        invoke(["score", name]), 4, r"data row 2 \(line 3\), column 'p_a'", names="nan.csv"
    )


def test_nan_prediction_npy(invoke: Invoke, tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", np.array([[0.5, 0.5], [np.nan, 0.5]]))
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    message = assert_error(invoke(["score", "p.npy", "--labels", "y.npy"]), 4, names="p.npy")
    assert re.search(r"(?i)\bnan\b", message)


def test_infinite_prediction(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "inf.csv", "label,p\n0,0.5\n1,inf\n")
    assert_error(
        invoke(["score", name]), 4, r"data row 2 \(line 3\), column 'p': .*\binf\b", names="inf.csv"
    )


def test_probability_above_one(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "big.csv", "label,p_a,p_b\na,0.5,0.5\nb,1.2,0.1\n")
    assert_error(
        invoke(["score", name, "--inputs", "probs"]),
        4,
        r"data row 2 \(line 3\), column 'p_a': 1\.2 .*--inputs logits",
        names="big.csv",
    )


def test_row_not_summing_to_one(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "sum.csv", "label,p_a,p_b,p_c\na,0.5,0.5,0\nb,0.3,0.3,0.3\n")
    assert_error(
        invoke(["score", name]),
        4,
        r"data row 2 \(line 3\): .*sum to 0\.9\b.*--renormalize",
        names="sum.csv",
    )
    rc, out, err = invoke(["score", name, "--renormalize", "-f", "json"])
    assert rc == 0, err
    data = strict_json(out)
    assert data["aggregate"]["loss"] == pytest.approx((math.log(2) + math.log(3)) / 2)


@pytest.mark.parametrize(
    ("rows", "label"),
    [
        ("a,0.5,0.5\nzzz,0.5,0.5\n", "zzz"),
        # Two unknown one-byte labels: the first in the file is named.
        ("a,0.5,0.5\nz,0.5,0.5\ny,0.5,0.5\n", "z"),
    ],
)
def test_unknown_label(invoke: Invoke, tmp_path: Path, rows: str, label: str) -> None:
    name = write(tmp_path / "unk.csv", "label,p_a,p_b\n" + rows)
    assert_error(
        invoke(["score", name]),
        4,
        rf"data row 2 \(line 3\), column 'label': label '{label}' is not one of the classes",
        names="unk.csv",
    )


def test_labels_first_seen_decide_the_negative_class(invoke: Invoke, tmp_path: Path) -> None:
    # One-byte labels are coded from their bytes; the value seen first still names the
    # negative class, and the third value is the one refused (not "b" before "c").
    name = write(tmp_path / "abc.csv", "label,p\na,0.9\nc,0.2\nb,0.3\n")
    assert_error(
        invoke(["score", name, "--pos-label", "a"]),
        4,
        r"data row 3 \(line 4\), column 'label': a third label value 'b' besides 'c' and "
        r"--pos-label 'a'",
        names="abc.csv",
    )


@pytest.mark.parametrize(
    ("cell", "fragment"),
    [
        ("NA", r"column 'p': the value is missing \(the cell reads 'NA'\); fill the cell"),
        ("null", r"column 'p': the value is missing \(the cell reads 'null'\); fill the cell"),
        ("#N/A", r"column 'p': the value is missing \(the cell reads '#N/A'\); fill the cell"),
        ("", r"column 'p': the prediction is missing; fill the cell or drop the row"),
        ("nan", r"column 'p': the prediction is NaN; every value must be a finite number"),
        ("NaN", r"column 'p': the prediction is NaN; every value must be a finite number"),
    ],
)
def test_missing_number_spellings(invoke: Invoke, tmp_path: Path, cell: str, fragment: str) -> None:
    name = write(tmp_path / "gap.csv", f"label,p\n1,0.9\n0,{cell}\n")
    assert_error(invoke(["score", name]), 4, r"data row 2 \(line 3\), " + fragment, names="gap.csv")


def test_integer_label_out_of_range_csv(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "oor.csv", "label,p_a,p_b\n0,0.5,0.5\n5,0.5,0.5\n")
    assert_error(
        invoke(["score", name]),
        4,
        r"data row 2 \(line 3\), column 'label': label '?5'? ",
        names="oor.csv",
    )


def test_integer_label_out_of_range_npy(invoke: Invoke, tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", np.array([[0.5, 0.5], [0.2, 0.8], [0.1, 0.9]]))
    np.save(tmp_path / "y.npy", np.array([0, 1, 5]))
    assert_error(invoke(["score", "p.npy", "--labels", "y.npy"]), 4, r"label '?5'? ", names="y.npy")


def test_negative_weight(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "w.csv", "label,p,w\n0,0.5,1\n1,0.5,-1\n")
    assert_error(
        invoke(["score", name, "--weight-col", "w"]),
        4,
        r"data row 2 \(line 3\), column 'w': weight -1(\.0)? is negative",
        names="w.csv",
    )


@pytest.mark.parametrize(("n_pred", "n_labels"), [(2, 3), (3, 2)])
def test_files_of_different_lengths(
    invoke: Invoke, tmp_path: Path, n_pred: int, n_labels: int
) -> None:
    write(tmp_path / "p.csv", "p\n" + "0.5\n" * n_pred)
    write(tmp_path / "y.csv", "label\n" + "1\n" * n_labels)
    message = assert_error(invoke(["score", "p.csv", "--labels", "y.csv"]), 4)
    assert "p.csv" in message
    assert "y.csv" in message
    assert re.search(rf"\b{n_labels}\b", message)


def test_id_missing_from_labels(invoke: Invoke, tmp_path: Path) -> None:
    write(tmp_path / "p.csv", "id,p\na,0.5\nb,0.4\n")
    write(tmp_path / "y.csv", "id,label\na,0\nc,1\n")
    message = assert_error(
        invoke(["score", "p.csv", "--labels", "y.csv", "--id-col", "id"]),
        4,
        r"data row 2 \(line 3\): id 'b' has no label",
        names="p.csv",
    )
    assert "y.csv" in message


def test_label_id_without_prediction(invoke: Invoke, tmp_path: Path) -> None:
    write(tmp_path / "p.csv", "id,p\na,0.5\n")
    write(tmp_path / "y.csv", "id,label\na,0\nc,1\n")
    assert_error(
        invoke(["score", "p.csv", "--labels", "y.csv", "--id-col", "id"]),
        4,
        r"id 'c' has no prediction",
        names="y.csv",
    )


def test_repeated_id_in_predictions(invoke: Invoke, tmp_path: Path) -> None:
    write(tmp_path / "p.csv", "id,p\na,0.5\na,0.4\n")
    write(tmp_path / "y.csv", "id,label\na,0\nb,1\n")
    assert_error(
        invoke(["score", "p.csv", "--labels", "y.csv", "--id-col", "id"]),
        4,
        r"data row 2 \(line 3\): id 'a' appears more than once",
        names="p.csv",
    )


def test_repeated_id_in_labels(invoke: Invoke, tmp_path: Path) -> None:
    write(tmp_path / "p.csv", "id,p\na,0.5\nb,0.4\n")
    write(tmp_path / "y.csv", "id,label\na,0\na,1\n")
    assert_error(
        invoke(["score", "p.csv", "--labels", "y.csv", "--id-col", "id"]),
        4,
        r"data row 2 \(line 3\): id 'a' appears twice",
        names="y.csv",
    )


def test_every_row_ignored(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "ign.csv", "label,p\n-100,0.5\n-100,0.4\n")
    assert_error(
        invoke(["score", name, "--ignore-label", "-100"]),
        4,
        exact="ign.csv: all 2 rows have the ignored label '-100'; nothing is left to score",
    )


def test_some_rows_ignored(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "ign.csv", "label,p\n-100,0.5\n1,0.9\n0,0.2\n")
    rc, out, err = invoke(["score", name, "--ignore-label", "-100", "-f", "json"])
    assert rc == 0, err
    data = strict_json(out)
    assert (data["n_samples"], data["n_ignored"]) == (2, 1)


def test_header_only_csv(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "hdr.csv", "label,p\n")
    assert_error(invoke(["score", name]), 4, r"no data rows", names="hdr.csv")


def test_header_only_csv_with_pred_cols(invoke: Invoke, tmp_path: Path) -> None:
    name = write(tmp_path / "hdr.csv", "label,p\n")
    assert_error(invoke(["score", name, "--pred-cols", "p"]), 4, r"no data rows", names="hdr.csv")
