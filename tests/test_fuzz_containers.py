"""Fuzzing the binary containers and the baseline: Arrow IPC, Parquet, JSON Lines, JSON.

``tests/test_fuzz.py`` fuzzes CSV and NumPy in-process; a crafted Arrow or JSON
input can crash the interpreter itself (SIGSEGV in pyarrow, see
``tests/test_hostile.py``), so here every input is scored by ``python -m xent``
in a subprocess, under an address-space cap (RLIMIT_AS) and a timeout.

Inputs are valid files mutated by Hypothesis: byte and bit flips, 32-bit
integers written over lengths and offsets (0, -1, 2^31 - 1, ...), insertions,
deletions, truncation, repeated chunks; for JSON Lines and baselines also
structural edits (values swapped between fields, replaced by other types,
deep nesting, huge numbers). Every run must keep to the contract:

* the exit code is 0, 1, 2, 3 or 4 (never 70, never death by a signal, never a
  hang); 2 is allowed because the README gives it to ``xent explain --row K`` of
  a row a truncated file no longer has, and to a baseline of another class set;
* standard error holds no traceback; a failed run prints exactly one line
  ``xent: error: ...`` (a passing run may print warnings, one line each);
* a run that exits 0 with ``--format json`` prints valid JSON.

Each test runs a few explicit examples (the known crashers) and 20 generated
ones, derandomized: the same inputs on every run, so CI is reproducible, and
not shrunk (each step would be a subprocess); the module takes under a minute. Set
``XENT_FUZZ_EXAMPLES=500`` for a longer run with fresh random examples (and the
example database, so a failure found once is replayed first). The cap is
``XENT_FUZZ_MEMORY_MB`` MB, by default 2048 plus 96 per CPU beyond two (pyarrow
and glibc reserve address space per thread).
"""

from __future__ import annotations

import copy
import io
import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from make_hostile import Run, run, slow

EXAMPLES = int(os.environ.get("XENT_FUZZ_EXAMPLES") or 20)
_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
if os.environ.get("XENT_FUZZ_EXAMPLES"):
    FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=_HEALTH)
else:
    # No shrinking in CI: each step of it is a subprocess run; the failing input
    # is reported as found (and derandomized, so the same on every run).
    FUZZ = settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=_HEALTH,
        phases=[Phase.explicit, Phase.generate],
    )

ALLOWED = {0, 1, 2, 3, 4}
MEMORY_CAP = (
    int(os.environ.get("XENT_FUZZ_MEMORY_MB") or 2048 + 96 * max(0, (os.cpu_count() or 2) - 2))
) << 20
TIMEOUT = 30.0


def contract_problems(result: Run, json_output: bool) -> list[str]:
    """Every way ``result`` breaks the contract (empty: it keeps it)."""
    problems = []
    if result.timed_out:
        problems.append(f"hung (killed after {TIMEOUT:g} s)")
    elif result.rc not in ALLOWED:
        problems.append(f"exit code {result.rc} is not one of {sorted(ALLOWED)}")
    if b"Traceback" in result.err:
        problems.append("a traceback on stderr")
    lines = result.err.splitlines()
    if result.rc in (2, 3, 4) and (len(lines) != 1 or not lines[0].startswith(b"xent: error: ")):
        problems.append(f"{len(lines)} stderr lines; an error is exactly one 'xent: error:' line")
    if result.rc == 0 and json_output:
        try:
            json.loads(result.out)
        except ValueError as exc:
            problems.append(f"exit 0 but stdout is not JSON: {exc}")
    return problems


def check(args: Sequence[str], cwd: Path) -> Run:
    result = run(args, cwd=cwd, memory=MEMORY_CAP, timeout=TIMEOUT)
    problems = contract_problems(result, "json" in args)
    assert not problems, f"xent {' '.join(args)}: {'; '.join(problems)}\n{result.describe()}"
    return result


# --- the valid inputs that get mutated -----------------------------------------------------------


def _table() -> pa.Table:
    rng = np.random.default_rng(2024)
    n = 12
    proba = rng.dirichlet(np.ones(3), size=n)
    labels = [["a", "b", "c"][i] for i in rng.integers(0, 3, size=n)]
    return pa.table(
        {
            "id": [f"s{i:02d}" for i in range(n)],
            "label": labels,
            "p_a": proba[:, 0],
            "p_b": proba[:, 1],
            "p_c": proba[:, 2],
        }
    )


def _variants(table: pa.Table) -> dict[str, pa.Table]:
    return {
        "plain": table,
        "dictionary-labels": table.set_column(
            1, "label", pa.array(table["label"].to_pylist()).dictionary_encode()
        ),
        "large-strings": table.set_column(
            0, "id", pa.array(table["id"].to_pylist(), pa.large_string())
        ),
        "float32": table.set_column(2, "p_a", table["p_a"].cast(pa.float32())),
    }


def _ipc(table: pa.Table, kind: str) -> bytes:
    sink = io.BytesIO()
    if kind == "stream":
        with pa.ipc.new_stream(sink, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=5):
                writer.write_batch(batch)
    else:
        compression = {"file": "uncompressed", "file-lz4": "lz4", "file-zstd": "zstd"}[kind]
        feather.write_feather(table, sink, compression=compression, chunksize=5)
    return sink.getvalue()


def _parquet(table: pa.Table, kind: str) -> bytes:
    sink = io.BytesIO()
    options: dict[str, Any] = {"row_group_size": 5}
    if kind == "none":
        options["compression"] = "none"
    elif kind == "zstd":
        options["compression"] = "zstd"
    elif kind == "no-dictionary":
        options["use_dictionary"] = False
    elif kind == "page-v2":
        options["data_page_version"] = "2.0"
    pq.write_table(table, sink, **options)
    return sink.getvalue()


TABLE = _table()
IPC_BASES = {
    f"{variant}/{kind}": _ipc(table, kind)
    for variant, table in _variants(TABLE).items()
    for kind in ("file", "stream", "file-lz4", "file-zstd")
}
PARQUET_BASES = {
    f"{variant}/{kind}": _parquet(table, kind)
    for variant, table in _variants(TABLE).items()
    for kind in ("snappy", "none", "zstd", "no-dictionary", "page-v2")
}
RECORDS: list[dict[str, Any]] = TABLE.to_pylist()


def _jsonl(records: Sequence[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


COMMANDS = st.sampled_from(
    [
        ["score", "{}", "--format", "json"],
        ["score", "{}", "--format", "json", "--top", "20"],
        ["score", "{}", "--format", "csv"],
        ["score", "{}", "--format", "json", "--id-col", "id", "--labels", "{}"],
        ["explain", "{}", "--row", "3"],
    ]
)


# --- byte-level mutations ------------------------------------------------------------------------

INTERESTING_32 = [0, 1, 7, 8, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF8]

EDITS = st.one_of(
    st.tuples(st.just("byte"), st.integers(-4096, 1 << 16), st.integers(0, 255)),
    st.tuples(st.just("bit"), st.integers(-4096, 1 << 16), st.integers(0, 7)),
    st.tuples(st.just("int32"), st.integers(-4096, 1 << 16), st.sampled_from(INTERESTING_32)),
    st.tuples(st.just("int64"), st.integers(-4096, 1 << 16), st.sampled_from([-1, 1 << 40])),
    st.tuples(st.just("insert"), st.integers(-4096, 1 << 16), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(-4096, 1 << 16), st.integers(1, 64)),
    st.tuples(st.just("repeat"), st.integers(-4096, 1 << 16), st.integers(1, 256)),
    st.tuples(st.just("truncate"), st.integers(-4096, 1 << 16)),
)


def mutate(data: bytes, edits: Sequence[tuple[Any, ...]]) -> bytes:
    """Apply ``edits``; positions wrap around the data (negative: from the end)."""
    buffer = bytearray(data)
    for op, position, *rest in edits:
        if not buffer:
            break
        at = position % len(buffer)
        if op == "byte":
            buffer[at] = rest[0]
        elif op == "bit":
            buffer[at] ^= 1 << rest[0]
        elif op == "int32":
            at -= at % 4
            buffer[at : at + 4] = struct.pack("<I", rest[0])[: len(buffer) - at]
        elif op == "int64":
            at -= at % 8
            buffer[at : at + 8] = struct.pack("<q", rest[0])[: len(buffer) - at]
        elif op == "insert":
            buffer[at:at] = rest[0]
        elif op == "delete":
            del buffer[at : at + rest[0]]
        elif op == "repeat":
            buffer[at:at] = buffer[at : at + rest[0]]
        elif op == "truncate":
            del buffer[at:]
    return bytes(buffer)


def _args(command: list[str], name: str) -> list[str]:
    """``command`` with ``{}`` filled: the fuzzed file, or the valid labels beside it."""
    filled, used = [], False
    for arg in command:
        if arg == "{}":
            filled.append(name if not used else "labels.jsonl")
            used = True
        else:
            filled.append(arg)
    return filled


@pytest.fixture
def labels_beside(tmp_path: Path) -> Path:
    """A valid labels file (id, label) for the two-file commands."""
    rows = [{"id": r["id"], "label": r["label"]} for r in RECORDS]
    (tmp_path / "labels.jsonl").write_bytes(_jsonl(rows))
    return tmp_path


#: Where the ``id`` strings' offsets (0, 3, 6, ...) start in the plain IPC file: the
#: explicit example overwrites the third with a huge value (SIGSEGV in pyarrow).
OFFSETS_AT = IPC_BASES["plain/file"].find(struct.pack("<4i", 0, 3, 6, 9))
assert OFFSETS_AT > 0


@slow
@FUZZ
@example(
    base="plain/file", edits=[("int32", OFFSETS_AT + 8, 0x7FF00000)], command=["score", "{}"]
).via("a string offset far outside its buffer")
@given(
    base=st.sampled_from(sorted(IPC_BASES)),
    edits=st.lists(EDITS, min_size=1, max_size=4),
    command=COMMANDS,
)
def test_fuzz_arrow_ipc(
    labels_beside: Path, base: str, edits: list[tuple[Any, ...]], command: list[str]
) -> None:
    (labels_beside / "fuzz.arrow").write_bytes(mutate(IPC_BASES[base], edits))
    check(_args(command, "fuzz.arrow"), labels_beside)


@slow
@FUZZ
@given(
    base=st.sampled_from(sorted(PARQUET_BASES)),
    edits=st.lists(EDITS, min_size=1, max_size=4),
    command=COMMANDS,
)
def test_fuzz_parquet(
    labels_beside: Path, base: str, edits: list[tuple[Any, ...]], command: list[str]
) -> None:
    (labels_beside / "fuzz.parquet").write_bytes(mutate(PARQUET_BASES[base], edits))
    check(_args(command, "fuzz.parquet"), labels_beside)


# --- structural mutations of JSON ----------------------------------------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "a", "nan", "inf", "-inf", "1e999", "0.5", " 1 ", "\x1b[2J", "\x00"]),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2),
    st.integers(1, 500).map(lambda depth: json.loads("[" * depth + "]" * depth)),
)
#: Raw JSON text spliced in where a value was (what json.dumps cannot produce).
ODD_TOKENS = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "9" * 5000, "[" * 50_000 + "]" * 50_000, '"\\ud800"']
)


@st.composite
def record_edits(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Edits of a list of JSON records: set a field, drop one, swap two, splice a token."""
    row = st.integers(0, len(RECORDS) - 1)
    key = st.sampled_from([*RECORDS[0], "extra"])
    edit = st.one_of(
        st.tuples(st.just("set"), row, key, ODD_VALUES),
        st.tuples(st.just("drop"), row, key),
        st.tuples(st.just("swap"), row, key, key),
        st.tuples(st.just("token"), row, key, ODD_TOKENS),
        st.tuples(st.just("duplicate"), row),
        st.tuples(st.just("blank-line"), row),
    )
    return draw(st.lists(edit, min_size=1, max_size=4))


def edit_records(records: list[dict[str, Any]], edits: Sequence[tuple[Any, ...]]) -> bytes:
    records = copy.deepcopy(records)
    tokens: dict[str, str] = {}
    extra_lines: dict[int, str] = {}
    for op, i, *rest in edits:
        record = records[i]
        if op == "set":
            record[rest[0]] = rest[1]
        elif op == "drop":
            record.pop(rest[0], None)
        elif op == "swap":
            a, b = rest
            record[a], record[b] = record.get(b), record.get(a)
        elif op == "token":
            marker = f"@@token{len(tokens)}@@"
            tokens[marker] = rest[1]
            record[rest[0]] = marker
        elif op == "duplicate":
            extra_lines[i] = json.dumps(record)
        elif op == "blank-line":
            extra_lines[i] = ""
    lines = []
    for i, record in enumerate(records):
        text = json.dumps(record)
        for marker, token in tokens.items():
            text = text.replace(json.dumps(marker), token)
        lines.append(text)
        if i in extra_lines:
            lines.append(extra_lines[i])
    return ("\n".join(lines) + "\n").encode()


@slow
@FUZZ
@example(
    edits=[("token", 0, "extra", "[" * 50_000 + "]" * 50_000)],
    byte_edits=[],
    command=["score", "{}", "--format", "json"],
).via("50,000 nested arrays in a field xent does not use")
@given(
    edits=record_edits(),
    byte_edits=st.lists(EDITS, max_size=2),
    command=COMMANDS,
)
def test_fuzz_json_lines(
    labels_beside: Path,
    edits: list[tuple[Any, ...]],
    byte_edits: list[tuple[Any, ...]],
    command: list[str],
) -> None:
    data = mutate(edit_records(RECORDS, edits), byte_edits)
    (labels_beside / "fuzz.jsonl").write_bytes(data)
    check(_args(command, "fuzz.jsonl"), labels_beside)


# --- baselines -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The scored table as JSON Lines, and xent's own JSON report of it (the baseline)."""
    directory = tmp_path_factory.mktemp("baseline")
    (directory / "scored.jsonl").write_bytes(_jsonl(RECORDS))
    result = run(["score", "scored.jsonl", "--format", "json", "--top", "3"], cwd=directory)
    assert result.rc == 0, result.describe()
    return directory / "scored.jsonl", json.loads(result.out)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indices) into a JSON value."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return document


def _delete(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return document


#: Edits of a baseline: (which path, delete it?, the new value). The path is
#: picked by index among all paths of the document as it is at that point.
BASELINE_EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.booleans(), ODD_VALUES), max_size=3)


@slow
@FUZZ
@example(edits=[], token="9" * 5000, allowance="5%", byte_edits=[]).via(
    "a 5000-digit integer loss (over Python's int-string limit)"
)
@example(edits=[], token="[" * 50_000 + "]" * 50_000, allowance="5%", byte_edits=[]).via(
    "50,000 nested arrays (deeper than Python's recursion limit)"
)
@given(
    edits=BASELINE_EDITS,
    token=st.none() | ODD_TOKENS,
    allowance=st.sampled_from(["5%", "0", "0.01", "1000%"]),
    byte_edits=st.lists(EDITS, max_size=2),
)
def test_fuzz_baseline(
    tmp_path: Path,
    real_baseline: tuple[Path, dict[str, Any]],
    edits: list[tuple[int, bool, Any]],
    token: str | None,
    allowance: str,
    byte_edits: list[tuple[Any, ...]],
) -> None:
    scored, report = real_baseline
    document: Any = copy.deepcopy(report)
    for index, delete, value in edits:
        paths = _paths(document)
        path = paths[index % len(paths)]
        document = _delete(document, path) if delete and path else _set(document, path, value)
    text = json.dumps(document).encode()
    if token is not None:
        # The raw token becomes the loss; the old loss moves to a key of its own.
        text = text.replace(b'"loss": ', b'"loss": ' + token.encode() + b', "_was": ', 1)
    (tmp_path / "scored.jsonl").write_bytes(scored.read_bytes())
    (tmp_path / "base.json").write_bytes(mutate(text, byte_edits))
    check(
        ["score", "scored.jsonl", "--baseline", "base.json", "--max-increase", allowance],
        tmp_path,
    )


# --- the helpers themselves ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ([("byte", 0, 65)], b"Abcdefgh"),
        ([("bit", -1, 0)], b"abcdefgi"),
        ([("int32", 5, 0)], b"abcd\0\0\0\0"),
        ([("insert", 2, b"XY")], b"abXYcdefgh"),
        ([("delete", 1, 3)], b"aefgh"),
        ([("repeat", 6, 5)], b"abcdefghgh"),
        ([("truncate", 3)], b"abc"),
    ],
)
def test_mutate(edits: list[tuple[Any, ...]], expected: bytes) -> None:
    assert mutate(b"abcdefgh", edits) == expected


def test_bases_are_valid(labels_beside: Path) -> None:
    """Unmutated, every base input scores (so mutations start from valid files)."""
    for name, data in [
        ("base.arrow", IPC_BASES["plain/file"]),
        ("base.parquet", PARQUET_BASES["plain/snappy"]),
        ("base.jsonl", _jsonl(RECORDS)),
    ]:
        (labels_beside / name).write_bytes(data)
        result = check(["score", name, "--format", "json"], labels_beside)
        assert result.rc == 0, result.describe()
