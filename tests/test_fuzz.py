"""Fuzzing ``xent score`` with malformed CSV bytes and arbitrary NumPy arrays.

Hypothesis generates inputs that other programs might write badly:

* CSV bytes: mutations of valid CSV files (random byte edits, deletions,
  truncation, inserted quotes, commas, tabs, line ends, NUL, byte-order marks,
  invalid UTF-8, random numeric strings), and valid CSV layouts whose cells are
  replaced by random numeric and label strings;
* NumPy arrays of random dtypes (integers, floats, booleans, unicode and byte
  strings, complex, dates), shapes (0-d, 1-d, 2-d, 3-d, empty) and values, as
  ``.npy`` pairs or an ``.npz``; and ``.npy`` files with random headers.

Each input is scored in-process (the ``invoke`` fixture) with a random choice of
options, and every run must hold to the contract (section 6):

* the exit code is 0, 2, 3 or 4: never 70 (an internal error) and never an
  uncaught exception;
* standard error never holds a traceback; a failed run prints exactly one line
  ``xent: error: ...`` and nothing on standard output;
* a run that exits 0 prints JSON whose figures are finite numbers, or ``"inf"``
  only when ``--eps 0`` turned clipping off (plus the few values that are
  undefined by nature: a per-class loss of a class with no weight, D² when the
  labels have zero entropy).

Profiles
--------
The tests use two Hypothesis settings profiles, registered here and applied to
this module only:

``xent-fuzz`` (the default, for CI)
    150 examples per test, no deadline, derandomized (the same examples on
    every run, so CI is reproducible) and no example database; the whole
    module runs in well under 60 s.

``xent-fuzz-long``
    Selected by setting the environment variable ``XENT_FUZZ_EXAMPLES``, e.g.::

        XENT_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py

    runs that many examples per test, with fresh random examples on every run
    and the example database (``.hypothesis/``), so a failure found once is
    replayed first next time.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]

ERROR_PREFIX = "xent: error: "
USER_CODES = {0, 2, 3, 4}
#: ln of the largest float64: a mean loss above it has perplexity inf.
LN_MAX_FLOAT = math.log(np.finfo(np.float64).max)

_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "xent-fuzz",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_HEALTH,
    print_blob=True,
)
settings.register_profile(
    "xent-fuzz-long",
    max_examples=int(os.environ.get("XENT_FUZZ_EXAMPLES") or 5000),
    deadline=None,
    suppress_health_check=_HEALTH,
    print_blob=True,
)
PROFILE = "xent-fuzz-long" if os.environ.get("XENT_FUZZ_EXAMPLES") else "xent-fuzz"
FUZZ = settings(settings.get_profile(PROFILE))


# --- the properties ---------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def figure_problems(report: dict[str, Any], *, eps_zero: bool) -> list[str]:
    """Figures of a successful run's JSON that are not finite where they should be."""
    problems: list[str] = []

    def need(path: str, value: Any, *allowed: str) -> None:
        if not (_is_number(value) or value in allowed):
            problems.append(f"{path} = {value!r}")

    inf = ("inf",) if eps_zero else ()
    aggregate = report["aggregate"]
    need("aggregate.loss", aggregate["loss"], *inf)
    need("aggregate.sum", aggregate["sum"], *inf)
    need("aggregate.weight", aggregate["weight"])
    big = _is_number(aggregate["loss"]) and aggregate["loss"] > LN_MAX_FLOAT / math.log(2)
    need("aggregate.perplexity", aggregate["perplexity"], *inf, *(("inf",) if big else ()))
    if not (isinstance(report["n_samples"], int) and report["n_samples"] > 0):
        problems.append(f"n_samples = {report['n_samples']!r}")
    if not (isinstance(report["n_ignored"], int) and report["n_ignored"] >= 0):
        problems.append(f"n_ignored = {report['n_ignored']!r}")
    for entry in report["per_class"]:
        where = f"per_class[{entry['class']!r}]"
        # A class with no samples, or whose samples all weigh 0, has no mean loss.
        empty = ("nan",) if entry["n"] == 0 or entry["sum"] == 0 else ()
        need(f"{where}.loss", entry["loss"], *inf, *empty)
        need(f"{where}.sum", entry["sum"], *inf)
        need(f"{where}.share", entry["share"], *(("nan",) if eps_zero else ()))
    reference = report.get("reference") or {}
    if reference:
        need("reference.uniform", reference["uniform"])
        need("reference.prior", reference["prior"])
        zero_prior = reference["prior"] == 0
        need(
            "reference.d2",
            reference["d2"],
            *(("nan",) if zero_prior else ()),
            *(("-inf",) if eps_zero else ()),
        )
    for row in report.get("top", []):
        need(f"top[{row['index']}].loss", row["loss"], *inf)
    return problems


def check_run(result: Result, *, eps_zero: bool) -> dict[str, Any] | None:
    """Assert the contract's properties of one run; return the JSON report on success."""
    rc, out, err = result
    assert rc in USER_CODES, f"exit {rc}; stderr: {err[:1000]!r}"
    assert "Traceback" not in err, err[:2000]
    if rc != 0:
        assert out == "", f"stdout on failure: {out[:300]!r}"
        assert err.startswith(ERROR_PREFIX), err[:600]
        assert err.endswith("\n"), f"no final newline: {err[:600]!r}"
        assert "\n" not in err[:-1], f"not one line: {err[:600]!r}"
        return None

    def refuse(name: str) -> Any:
        raise AssertionError(f"bare {name} in the JSON output")

    report = json.loads(out, parse_constant=refuse)
    problems = figure_problems(report, eps_zero=eps_zero)
    assert not problems, f"non-finite figures: {problems}"
    return report


def run(invoke: Invoke, args: Sequence[str], options: Sequence[str]) -> dict[str, Any] | None:
    result = invoke(["score", *args, *options, "--format", "json"])
    event(f"exit {result[0]}")  # see --hypothesis-show-statistics
    return check_run(result, eps_zero=_eps_zero(options))


def _eps_zero(options: Sequence[str]) -> bool:
    options = list(options)
    if "--eps" not in options:
        return False
    return float(options[options.index("--eps") + 1]) == 0.0


OPTIONS = st.sampled_from(
    [
        [],
        [],
        ["--eps", "0"],
        ["--eps", "1e-3"],
        ["--inputs", "probs"],
        ["--inputs", "logits"],
        ["--inputs", "log-probs"],
        ["--renormalize"],
        ["--ignore-label", "a"],
        ["--ignore-label", "0"],
        ["--weight-col", "w"],
        ["--label-smoothing", "0.1"],
        ["--unit", "bits"],
        ["--id-col", "id"],
    ]
)

# --- CSV ------------------------------------------------------------------------------------

BASE_CSVS = [
    b"label,p\n1,0.9\n0,0.2\n1,0.6\n0,0.3\n",
    b"id,label,p_a,p_b,p_c,w\n1,a,0.7,0.2,0.1,1\n2,b,0.1,0.8,0.1,2\n3,c,0.2,0.2,0.6,0.5\n"
    b"4,a,0.5,0.25,0.25,1\n",
    b"label,logit_a,logit_b\r\na,1.5,-0.5\r\nb,-2,3\r\na,0.1,0.2\r\n",
    b'"label","p_x, y","p_z"\n"x, y",0.4,0.6\nz,"0.1",9e-1\n',
]

#: Strings a program might write where a number belongs.
ODD_NUMBERS = [
    "NaN",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "Infinity",
    "-Infinity",
    "null",
    "NULL",
    "None",
    "N/A",
    "NA",
    "",
    " ",
    "+0",
    "-0",
    "-0.0",
    ".5",
    "5.",
    "1e400",
    "-1e400",
    "1e-400",
    "4.9e-324",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "0x1p-2",
    "1_000",
    "1,5",
    "\u0661",
    "\u00bd",
    " 0.5",
    "0.5 ",
    "1e",
    "e1",
    "--1",
    "+-1",
    "0.5.5",
    "true",
    "false",
    "1d0",
    "\x000.5",
]

NUMERIC_STRINGS = st.one_of(
    st.sampled_from(ODD_NUMBERS),
    st.floats().map(repr),
    st.floats(min_value=-50, max_value=50).map(lambda x: f"{x:.3e}"),
    st.floats(min_value=0, max_value=1).map(lambda x: f"{x:.6g}"),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.from_regex(r"[+-]?[0-9]{0,3}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
)

TOKENS = st.one_of(
    st.sampled_from(
        [
            b'"',
            b'""',
            b",",
            b",,",
            b"\t",
            b"\n",
            b"\r\n",
            b"\r",
            b"\x00",
            b"\xef\xbb\xbf",
            b"\xff\xfe",
            b"\xe9",
            b"\xc3",
            b" ",
            b"\\",
            b"#",
            b"'",
        ]
    ),
    NUMERIC_STRINGS.map(lambda s: s.encode("utf-8")),
    st.binary(min_size=1, max_size=8),
)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[bytes, list[tuple[Any, ...]]]:
    """A base CSV and a list of edits to apply to it."""
    base = draw(st.sampled_from(BASE_CSVS))
    position = st.integers(min_value=0, max_value=10_000)
    edit = st.one_of(
        st.tuples(st.just("replace"), position, st.integers(0, 255)),
        st.tuples(st.just("insert"), position, TOKENS),
        st.tuples(st.just("delete"), position, st.integers(1, 12)),
        st.tuples(st.just("truncate"), position),
        st.tuples(st.just("field"), position, NUMERIC_STRINGS),
    )
    return base, draw(st.lists(edit, min_size=1, max_size=6))


def apply_mutations(data: bytes, edits: Sequence[tuple[Any, ...]]) -> bytes:
    for op, *args in edits:
        at = args[0] % (len(data) + 1)
        if op == "replace" and data:
            at = args[0] % len(data)
            data = data[:at] + bytes([args[1]]) + data[at + 1 :]
        elif op == "insert":
            data = data[:at] + args[1] + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + args[1] :]
        elif op == "truncate":
            data = data[:at]
        elif op == "field":
            parts = re.split(rb"([,\t\n])", data)
            cells = range(0, len(parts), 2)
            parts[cells[args[0] % len(cells)]] = args[1].encode("utf-8")
            data = b"".join(parts)
    return data


@FUZZ
@given(mutation=mutations(), options=OPTIONS)
def test_fuzz_mutated_csv(
    invoke: Invoke, tmp_path: Path, mutation: tuple[bytes, list[Any]], options: list[str]
) -> None:
    base, edits = mutation
    (tmp_path / "fuzz.csv").write_bytes(apply_mutations(base, edits))
    run(invoke, ["fuzz.csv"], options)


LABEL_STRINGS = st.one_of(
    st.sampled_from(
        [
            "a",
            "b",
            "c",
            " a",
            "b ",
            "\ta\t",
            "A",
            "0",
            "1",
            "2",
            "3",
            "-1",
            "1.0",
            "1.5",
            "+1",
            "true",
            "NaN",
            "null",
            "",
            "d",
            "x",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_characters=',"\r\n'), max_size=4),
)


@st.composite
def cell_tables(draw: st.DrawFn) -> tuple[bytes, int, list[str]]:
    """A well-formed CSV (header, label, three probability columns, weights) whose
    cells are partly replaced by random strings; and its number of data rows."""
    n = draw(st.integers(min_value=1, max_value=8))
    rng_rows = []
    for _ in range(n):
        label = draw(st.sampled_from(["a", "b", "c"]))
        k = draw(st.integers(0, 2))
        probs = ["0.1", "0.1", "0.1"]
        probs[k] = "0.8"
        rng_rows.append([label, *probs, "1"])
    cells = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 4)), max_size=6))
    for row, column in cells:
        strategy = LABEL_STRINGS if column == 0 else NUMERIC_STRINGS.filter(_no_separator)
        rng_rows[row][column] = draw(strategy)
    end = draw(st.sampled_from(["\n", "\r\n"]))
    lines = ["label,p_a,p_b,p_c,w", *(",".join(row) for row in rng_rows)]
    labels = [row[0] for row in rng_rows]
    return (end.join(lines) + end).encode("utf-8"), n, labels


def _no_separator(text: str) -> bool:
    return not any(ch in text for ch in ',"\r\n')


@FUZZ
@given(table=cell_tables(), options=OPTIONS)
@example(
    table=(b"label,p_a,p_b,p_c,w\na,-1e308,1e308,0,1\nb,0.1,0.8,0.1,1\n", 2, ["a", "b"]),
    options=[],
).via("logits of +-1e308: the loss 2e308 is not a float64")
@example(
    table=(b"label,p_a,p_b,p_c,w\na,-1e308,0,0,1\nb,0,-1e308,0,1\nc,0,0,0,1\n", 3, ["a", "b", "c"]),
    options=[],
).via("two finite losses of 1e308 whose sum overflows")
@example(
    table=(b"label,p_a,p_b,p_c,w\nb,0.1,0.1,0.8,1e308\na,0.1,0.1,0.8,1e308\n", 2, ["b", "a"]),
    options=[],
).via("weights near the float64 maximum: weight x loss overflows")
def test_fuzz_csv_cells(
    invoke: Invoke, tmp_path: Path, table: tuple[bytes, int, list[str]], options: list[str]
) -> None:
    """Cells of a well-formed table replaced by odd strings: on success every row is
    scored or ignored (the table's shape is intact, so its row count is known)."""
    data, n_rows, _ = table
    (tmp_path / "cells.csv").write_bytes(data)
    report = run(invoke, ["cells.csv", "--weight-col", "w"], options)
    if report is not None:
        assert report["n_samples"] + report["n_ignored"] == n_rows


# --- NumPy arrays -----------------------------------------------------------------------------

DTYPES = st.sampled_from(
    [
        "i1",
        "i2",
        "<i4",
        ">i8",
        "u1",
        "<u8",
        "f2",
        "<f4",
        ">f8",
        "?",
        "c8",
        "<c16",
        "<U1",
        "<U6",
        "S4",
        "M8[D]",
        "m8[s]",
    ]
)


def _elements(dtype: np.dtype[Any]) -> st.SearchStrategy[Any] | None:
    """Mostly probabilities for float arrays; the dtype's own values otherwise."""
    if dtype.kind == "f":
        width = 8 * dtype.itemsize
        return st.one_of(
            st.floats(min_value=0, max_value=1, width=width),
            st.floats(width=width),
        )
    if dtype.kind == "U":
        length = dtype.itemsize // 4
        return st.one_of(NUMERIC_STRINGS, st.sampled_from(["a", "b", "c", " a ", "0", "1"])).map(
            lambda s: s.replace("\x00", "")[:length]
        )
    return None


@st.composite
def npy_arrays(draw: st.DrawFn, n: int) -> np.ndarray[Any, Any]:
    """An array of a random dtype; shape (n,), (n, k) or anything (0-d, 3-d, empty)."""
    dtype = np.dtype(draw(DTYPES))
    shape = draw(
        st.one_of(
            st.just((n,)),
            st.integers(0, 4).map(lambda k: (n, k)),
            st.just(()),
            array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
        )
    )
    return draw(arrays(dtype, shape, elements=_elements(dtype)))


@st.composite
def array_inputs(draw: st.DrawFn) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], str]:
    n = draw(st.integers(min_value=0, max_value=6))
    pred = draw(npy_arrays(n))
    label = draw(npy_arrays(n))
    container = draw(st.sampled_from(["npy", "npz", "npz-other-names"]))
    return pred, label, container


ARRAY_OPTIONS = st.sampled_from(
    [
        [],
        [],
        ["--eps", "0"],
        ["--classes", "a,b,c"],
        ["--classes", "a,b"],
        ["--ignore-label", "0"],
        ["--inputs", "logits"],
        ["--inputs", "probs"],
        ["--renormalize"],
        ["--task", "multilabel"],
        ["--label-smoothing", "0.2"],
        ["--pos-label", "1"],
    ]
)


@FUZZ
@given(inputs=array_inputs(), options=ARRAY_OPTIONS)
@example(inputs=(np.array(["0.9", "high"]), np.array([1, 0]), "npy"), options=[]).via(
    "a unicode prediction array that holds a word"
)
@example(inputs=(np.array([0.2, 0.7, 0.6]), np.array([[1], [0], [1]]), "npy"), options=[]).via(
    "labels saved as a column vector, shape (N, 1)"
)
def test_fuzz_npy_arrays(
    invoke: Invoke,
    tmp_path: Path,
    inputs: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], str],
    options: list[str],
) -> None:
    pred, label, container = inputs
    if container == "npy":
        np.save(tmp_path / "pred.npy", pred)
        np.save(tmp_path / "label.npy", label)
        args = ["pred.npy", "--labels", "label.npy"]
    elif container == "npz":
        np.savez(tmp_path / "both.npz", y_pred=pred, y_true=label)
        args = ["both.npz"]
    else:
        np.savez(tmp_path / "both.npz", predictions=pred, target=label)
        args = ["both.npz"]
    run(invoke, args, options)


# --- NumPy headers --------------------------------------------------------------------------

DESCRS = st.one_of(
    st.sampled_from(
        [
            "<f8",
            ">f8",
            "<f4",
            "<f2",
            "<i8",
            "|u1",
            "|b1",
            "<U3",
            "|S2",
            "|O",
            "<c16",
            "|V8",
            "<M8[D]",
            "<f16",
            "f8",
            "<x8",
            "",
            "<U0",
            "<U-1",
            "<f8<f8",
        ]
    ),
    st.text(max_size=6),
)
SHAPE_TEXT = st.one_of(
    st.lists(st.integers(min_value=-2, max_value=10**12), max_size=4).map(
        lambda dims: "(" + "".join(f"{d}, " for d in dims) + ")"
    ),
    st.lists(st.integers(min_value=0, max_value=6), max_size=3).map(
        lambda dims: "(" + "".join(f"{d}, " for d in dims) + ")"
    ),
    st.sampled_from(["(3,)", "(3, 2)", "()", "[3]", "3", "(1e3,)", "(None,)", "('a',)", "(3"]),
)


@st.composite
def npy_files(draw: st.DrawFn) -> bytes:
    """``.npy`` bytes with a random header: descr, fortran_order, shape, version, length,
    a body of random size; or a valid file with random bytes of its header changed."""
    if draw(st.booleans()):
        valid = draw(st.sampled_from([np.array([0.9, 0.2, 0.6]), np.full((3, 2), 0.5)]))
        buffer = io.BytesIO()
        np.save(buffer, valid)
        data = bytearray(buffer.getvalue())
        for at, value in draw(
            st.lists(st.tuples(st.integers(0, 127), st.integers(0, 255)), min_size=1, max_size=4)
        ):
            data[at % len(data)] = value
        return bytes(data)
    descr = draw(DESCRS)
    fortran = draw(st.sampled_from(["False", "True", "0", "None", "'x'"]))
    shape = draw(SHAPE_TEXT)
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    if draw(st.booleans()):
        header = draw(
            st.sampled_from(
                [header[:-3], header.replace("'descr'", "'desc'"), header + " junk", "{}", ""]
            )
        )
    major = draw(st.sampled_from([1, 2, 3, 9]))
    encoded = header.encode("utf-8", errors="replace")
    size_format = "<H" if major == 1 else "<I"
    prefix_len = 6 + 2 + struct.calcsize(size_format)
    padding = -(prefix_len + len(encoded) + 1) % 64
    encoded += b" " * padding + b"\n"
    declared = len(encoded) + draw(st.sampled_from([0, 0, 0, -1, 1, 1000]))
    magic = b"\x93NUMPY" + bytes([major, 0])
    body = draw(st.one_of(st.binary(max_size=64), st.just(np.full(6, 0.5).tobytes())))
    return magic + struct.pack(size_format, max(declared, 0)) + encoded + body


@FUZZ
@example(
    data=b"\x93NUMPY\x01\x00v\x00\x00'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"
    + b" " * 60
    + b"\n"
    + np.array([0.9, 0.2, 0.6]).tobytes(),
    role="predictions",
    options=[],
).via("the header's opening brace overwritten")
@given(
    data=npy_files(),
    role=st.sampled_from(["predictions", "labels"]),
    options=st.sampled_from([[], ["--eps", "0"], ["--classes", "a,b"]]),
)
def test_fuzz_npy_headers(
    invoke: Invoke, tmp_path: Path, data: bytes, role: str, options: list[str]
) -> None:
    (tmp_path / "odd.npy").write_bytes(data)
    np.save(tmp_path / "pred3.npy", np.array([0.9, 0.2, 0.6]))
    np.save(tmp_path / "labels3.npy", np.array([1, 0, 1]))
    if role == "predictions":
        args = ["odd.npy", "--labels", "labels3.npy"]
    else:
        args = ["pred3.npy", "--labels", "odd.npy"]
    run(invoke, args, options)


def test_profiles_are_registered() -> None:
    """The CI profile is bounded; the long one follows ``XENT_FUZZ_EXAMPLES``."""
    ci = settings.get_profile("xent-fuzz")
    assert ci.max_examples == 150
    assert ci.deadline is None
    assert ci.derandomize
    long_run = settings.get_profile("xent-fuzz-long")
    expected = int(os.environ.get("XENT_FUZZ_EXAMPLES") or 5000)
    assert long_run.max_examples == expected
    assert FUZZ.max_examples == (expected if os.environ.get("XENT_FUZZ_EXAMPLES") else 150)


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ([("truncate", 3)], b"lab"),
        ([("insert", 0, b'"')], b'"label,p\n'),
        ([("field", 1, "nan")], b"label,nan\n"),
        ([("replace", 0, 76)], b"Label,p\n"),
        ([("delete", 5, 2)], b"label\n"),
    ],
)
def test_apply_mutations(edits: list[tuple[Any, ...]], expected: bytes) -> None:
    """The mutation helper does what the fuzzer means it to."""
    assert apply_mutations(b"label,p\n", edits) == expected
