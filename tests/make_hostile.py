"""Crafted inputs for the adversarial suite (``tests/test_hostile.py``, round two).

Two kinds of file:

* **committed** (``tests/data/hostile/``): small inputs whose exact bytes are
  the point -- a CSV whose class names, labels and ids hold terminal escape
  sequences, and ~1 KB Arrow IPC files with a corrupt string offset or an
  out-of-range dictionary index. Regenerate them with::

      python tests/make_hostile.py            # rewrites tests/data/hostile/
      python tests/make_hostile.py /tmp/dir   # or anywhere else, to look

  The Arrow files are made by writing a valid file with pyarrow and patching
  bytes; the patch finds its target by value and refuses to write a file
  where the value is not found exactly once.

* **generated at test time** into a pytest temporary directory: everything
  large (stray quotes past the CSV segment cut, a 25,000-class header, JSON
  Lines with late floats, a zip bomb, a 100 MB baseline), everything that
  derives from the current report format (malformed baselines are edits of a
  real ``xent score --format json`` output), and files whose names hold
  escape sequences. Each ``write_*`` function below writes one and, for valid
  inputs, returns what the right answer is computed from.

Everything is deterministic (fixed seeds).

The module also holds what both hostile test modules share: :func:`run`, which
runs ``python -m xent`` in a subprocess with a timeout, an optional address-space
cap and a measure of its peak memory, and the ``slow`` marker.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from conftest import fixed_env

COMMITTED = Path(__file__).parent / "data" / "hostile"

try:
    #: Tests taking more than a few seconds; deselect them with ``-m "not slow"``.
    slow = pytest.mark.slow
except pytest.fail.Exception:
    # --strict-markers and no ``markers = ["slow: ..."]`` in pyproject.toml yet:
    # run them unmarked rather than fail the whole module's collection.
    def slow(function: Any) -> Any:
        return function


# --- budgets of the readers (with the values of the code this suite was written against) ---------


def reader_budget(name: str, default: int) -> int:
    """``SEGMENT_BYTES`` / ``SCHEMA_BYTES`` / ``BLOCK_BYTES`` of the xent being tested.

    Looked up in ``xent.limits`` (the rewrite) and then ``xent.io`` (before it);
    the default is the value the README documents.
    """
    import importlib

    for module in ("xent.limits", "xent.io"):
        try:
            value = getattr(importlib.import_module(module), name)
        except Exception:  # a module mid-rewrite may fail to import
            continue
        if isinstance(value, int) and value > 0:
            return value
    return default


SEGMENT_BYTES = reader_budget("SEGMENT_BYTES", 2 << 20)
SCHEMA_BYTES = reader_budget("SCHEMA_BYTES", 256 << 10)
BLOCK_BYTES = reader_budget("BLOCK_BYTES", 4 << 20)


# --- terminal escape sequences -------------------------------------------------------------------

#: Pieces of hostile text: what each would do if it reached a terminal raw.
CLEAR_SCREEN = "\x1b[2J"  # ESC [ 2 J: erase the screen
OSC52 = "\x1b]52;c;aGFja2Vk\x07"  # OSC 52: write "hacked" to the clipboard, BEL-terminated
C1_CSI = "\x9b31m"  # the 8-bit CSI (C1 control U+009B): red text on terminals that honour C1
CARRIAGE = "\r"  # return to column 0: overwrite what was printed
BACKSPACE = "\x08"
BELL = "\x07"

#: Class names, labels and ids of ``escapes.csv``.
ESC_CLASSES = ["cat", f"{CLEAR_SCREEN}dog", f"fox{OSC52}"]
ESC_IDS = [
    f"id{OSC52}",
    f"b{CARRIAGE}{BACKSPACE}x{C1_CSI}",
    f"c{BELL}\x00d",
    "plain",
]
ESC_LABELS = [ESC_CLASSES[0], ESC_CLASSES[1], ESC_CLASSES[2], ESC_CLASSES[1]]
ESC_PROBA = [
    [0.2, 0.5, 0.3],
    [0.6, 0.1, 0.3],
    [0.25, 0.25, 0.5],
    [0.1, 0.7, 0.2],
]


def csv_line(fields: list[str]) -> str:
    """One CSV record; a field holding a delimiter, quote, CR or LF is quoted.

    (Python's csv writer quotes only the characters of its line terminator, so
    with ``"\\n"`` it would leave a bare CR unquoted: a malformed record.)
    """
    quoted = (
        '"' + f.replace('"', '""') + '"' if any(c in f for c in ',"\r\n') else f for f in fields
    )
    return ",".join(quoted) + "\n"


def escapes_csv() -> bytes:
    """A valid multiclass CSV whose class names, labels and ids hold escape sequences."""
    lines = [csv_line(["id", "label", *(f"p_{c}" for c in ESC_CLASSES)])]
    for ident, label, row in zip(ESC_IDS, ESC_LABELS, ESC_PROBA, strict=True):
        lines.append(csv_line([ident, label, *(repr(v) for v in row)]))
    return "".join(lines).encode("utf-8")


def escapes_expected_loss() -> float:
    proba = np.array(ESC_PROBA)
    y = [ESC_CLASSES.index(label) for label in ESC_LABELS]
    return float(-np.mean(np.log(proba[np.arange(len(y)), y])))


#: ``plain.csv``: a small valid multiclass file (the iris example), for runs whose
#: point is elsewhere (baselines, outputs, signals).
PLAIN_CSV = b"""id,label,p_setosa,p_versicolor,p_virginica
1,setosa,0.97,0.02,0.01
2,setosa,0.92,0.06,0.02
3,versicolor,0.03,0.81,0.16
4,versicolor,0.05,0.62,0.33
5,versicolor,0.02,0.35,0.63
6,virginica,0.01,0.12,0.87
7,virginica,0.01,0.28,0.71
8,virginica,0.02,0.55,0.43
9,setosa,0.88,0.10,0.02
10,virginica,0.00,0.04,0.96
"""


# --- crafted Arrow IPC files ---------------------------------------------------------------------

_IPC_TABLE = {"id": ["a1", "a2", "a3", "a4"], "label": [1, 0, 1, 0], "p": [0.9, 0.2, 0.6, 0.3]}


def _patch(data: bytes, old: bytes, new: bytes, name: str) -> bytes:
    if data.count(old) != 1:
        raise RuntimeError(f"{name}: the bytes to patch occur {data.count(old)} times, not once")
    return data.replace(old, new)


def _ipc_bytes(table: pa.Table, stream: bool) -> bytes:
    sink = io.BytesIO()
    if stream:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        feather.write_feather(table, sink, compression="uncompressed")
    return sink.getvalue()


def corrupt_offset_ipc(stream: bool = False, value: int = 0x7FF00000) -> bytes:
    """The ``id`` strings' offsets [0, 2, 4, 6, 8] with the middle one replaced by ``value``.

    The last offset still fits the data buffer, so pyarrow's cheap validation
    passes and the corrupt offset is followed when the strings are read
    (SIGSEGV for a large value, ``std::length_error`` / SIGABRT for a negative one).
    """
    data = _ipc_bytes(pa.table(_IPC_TABLE), stream)
    good = struct.pack("<5i", 0, 2, 4, 6, 8)
    bad = struct.pack("<5i", 0, 2, value, 6, 8)
    return _patch(data, good, bad, "corrupt offset")


def dictionary_index_ipc(stream: bool = False) -> bytes:
    """A dictionary-encoded label column whose second index (1) points far past the dictionary."""
    labels = pa.array(["a", "b", "a", "b"]).dictionary_encode()
    table = pa.table({"label": labels, "p_a": [0.9, 0.2, 0.6, 0.3], "p_b": [0.1, 0.8, 0.4, 0.7]})
    data = _ipc_bytes(table, stream)
    return _patch(data, struct.pack("<4i", 0, 1, 0, 1), struct.pack("<4i", 0, 1000, 0, 1), "dict")


#: Committed files: name -> bytes.
COMMITTED_FILES: dict[str, Callable[[], bytes]] = {
    "escapes.csv": escapes_csv,
    "plain.csv": lambda: PLAIN_CSV,
    "corrupt-offset.arrow": lambda: corrupt_offset_ipc(),
    "corrupt-offset-negative.arrow": lambda: corrupt_offset_ipc(value=-100_000_000),
    "corrupt-offset.stream.arrow": lambda: corrupt_offset_ipc(stream=True),
    "dictionary-index.arrow": lambda: dictionary_index_ipc(),
    "dictionary-index.stream.arrow": lambda: dictionary_index_ipc(stream=True),
}


def write_committed(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in COMMITTED_FILES.items():
        (directory / name).write_bytes(make())
        written.append(directory / name)
    (directory / ".gitattributes").write_text(
        "# Byte-exact test inputs: no line-end or encoding conversion.\n* -text\n"
    )
    return written


# --- deeply nested JSON Lines --------------------------------------------------------------------


def deep_jsonl(depth: int, kind: str) -> bytes:
    """Valid JSON Lines whose unused field ``meta`` nests ``depth`` arrays or objects."""
    nests = {"array": ("[", "", "]"), "object": ('{"a":', "1", "}")}
    opening, core, closing = nests[kind]
    deep = opening * depth + core + closing * depth
    lines = [
        f'{{"label": 1, "p": 0.9, "meta": {deep}}}',
        '{"label": 0, "p": 0.2, "meta": null}',
    ]
    return ("\n".join(lines) + "\n").encode()


# --- stray quotes around the CSV segment cut -----------------------------------------------------


@dataclass
class Binary:
    """What a valid binary input must score: labels, probabilities, and sklearn's loss."""

    y: np.ndarray[Any, Any]
    p: np.ndarray[Any, Any]

    def loss(self) -> float:
        from sklearn.metrics import log_loss

        return float(log_loss(self.y, self.p, labels=[0, 1]))


STRAY = b'a 12" pizza'

#: Where the quotes go: (kind, anchor, offset). ``anchor`` "cut" is the first
#: segment cut C (byte ``len(header) + SEGMENT_BYTES``, where the splitting
#: reader's first block ends), "schema" is just past the type-inference window
#: (byte ``SCHEMA_BYTES + 4096``). ``kind`` "stray" makes the line holding that
#: byte an unquoted id with one quote (``a 12" pizza-K``); "quoted-newline"
#: makes it a properly quoted id holding a line break, the break being the
#: last one before the byte.
STRAY_CASES: dict[str, list[tuple[str, str, int]]] = {
    # The reported case: one stray quote just past the type-inference window.
    "after-schema-window": [("stray", "schema", 0)],
    "line-before-cut": [("stray", "cut", -40)],
    "line-after-cut": [("stray", "cut", +40)],
    "line-across-cut": [("stray", "cut", 0)],
    "two-around-cut": [("stray", "cut", -300), ("stray", "cut", +300)],
    "three-around-cut": [("stray", "cut", -300), ("stray", "cut", -10), ("stray", "cut", +300)],
    # A stray quote early flips the parity of everything after it, so a parity
    # count takes the line break inside the quoted value at the cut for a record end.
    "stray-then-quoted-newline-at-cut": [("stray", "schema", 0), ("quoted-newline", "cut", 0)],
    "quoted-newline-at-cut": [("quoted-newline", "cut", 0)],
}


def stray_quote_csv(case: str) -> tuple[bytes, Binary]:
    """A valid binary CSV of ~2.7 MB (id, label, p) with the quotes of ``case``.

    The first :data:`SCHEMA_BYTES` after the header hold no quote, so xent's
    splitting reader is the one used. Returns the bytes and the right answer.
    """
    rng = np.random.default_rng(sum(map(ord, case)))
    n = max(150_000, (SEGMENT_BYTES + SCHEMA_BYTES) // 14 + 20_000)
    p = np.round(rng.uniform(0.02, 0.98, n), 6)
    y = (rng.random(n) < p).astype(np.int64)
    header = b"id,label,p\n"
    lines = [b"r%d,%d,%s\n" % (i, y[i], repr(float(p[i])).encode()) for i in range(n)]
    cut = len(header) + SEGMENT_BYTES
    for kind, anchor, offset in STRAY_CASES[case]:
        starts = np.cumsum([len(header), *(len(line) for line in lines)])[:-1]
        target = (SCHEMA_BYTES + 4096 if anchor == "schema" else cut) + offset
        k = int(np.searchsorted(starts, target, side="right") - 1)
        tail = b"%d,%s\n" % (y[k], repr(float(p[k])).encode())
        if kind == "stray":
            lines[k] = STRAY + b"-%d," % k + tail
        else:
            # A quoted id whose line break is the last one before ``target``.
            before = max(1, int(target - starts[k]) - 2)
            lines[k] = b'"' + b"x" * before + b'\nyy",' + tail
    data = header + b"".join(lines)
    assert b'"' not in data[len(header) : SCHEMA_BYTES + len(header)], "quote in schema window"
    return data, Binary(y=y, p=p)


def stray_quote_labels_csv() -> tuple[bytes, Binary]:
    """Binary labels ``salad`` / ``12" pizza`` (positive): a stray quote on half the rows
    after the first :data:`SCHEMA_BYTES` (all ``salad`` there). Score with
    ``--pos-label '12" pizza'``."""
    rng = np.random.default_rng(12)
    n = max(200_000, (SEGMENT_BYTES + SCHEMA_BYTES) // 10 + 20_000)
    p = np.round(rng.uniform(0.02, 0.98, n), 6)
    y = (rng.random(n) < p).astype(np.int64)
    quiet = SCHEMA_BYTES // 10 + 1_000  # rows of at least 10 bytes each
    y[:quiet] = 0
    names = {0: b"salad", 1: b'12" pizza'}
    lines = [b"%s,%s\n" % (names[int(y[i])], repr(float(p[i])).encode()) for i in range(n)]
    return b"label,p\n" + b"".join(lines), Binary(y=y, p=p)


# --- valid input refused -------------------------------------------------------------------------


def wide_header_csv(classes: int = 25_000, rows: int = 4) -> tuple[bytes, np.ndarray, np.ndarray]:
    """``label,prob_0,...,prob_24999``: a header of ~275 KB (over the 256 KiB window)."""
    rng = np.random.default_rng(classes)
    proba = rng.dirichlet(np.ones(classes), size=rows)
    y = rng.integers(0, classes, size=rows)
    lines = ["label," + ",".join(f"prob_{j}" for j in range(classes))]
    for label, row in zip(y, proba, strict=True):
        lines.append(f"{label}," + ",".join(repr(float(v)) for v in row))
    return ("\n".join(lines) + "\n").encode(), y, proba


def long_names_csv() -> tuple[bytes, list[str], np.ndarray, list[str]]:
    """Three classes whose names are 100,000 characters each: a 300 KB header, few columns."""
    names = [c * 100_000 for c in "abc"]
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    labels = [names[0], names[1], names[2]]
    lines = ["label," + ",".join(f"p_{n}" for n in names)]
    for label, row in zip(labels, proba, strict=True):
        lines.append(label + "," + ",".join(repr(float(v)) for v in row))
    return ("\n".join(lines) + "\n").encode(), labels, proba, names


def late_float_jsonl(block: int = BLOCK_BYTES) -> tuple[bytes, Binary]:
    """JSON Lines whose first ``block`` bytes (and more) hold only 0/1 integer predictions."""
    line = b'{"label": %d, "p": %d}\n'
    n = block // len(line % (0, 0)) + 5_000
    y = np.tile([1, 0], n // 2 + 1)[:n]
    p = y.astype(np.float64)
    body = b"".join(line % (v, v) for v in y)
    tail_y = np.array([1, 0, 1])
    tail_p = np.array([0.5, 0.25, 0.75])
    body += b"".join(
        b'{"label": %d, "p": %s}\n' % (a, repr(float(b)).encode())
        for a, b in zip(tail_y, tail_p, strict=True)
    )
    return body, Binary(y=np.concatenate([y, tail_y]), p=np.concatenate([p, tail_p]))


def late_text_id_jsonl(block: int = BLOCK_BYTES) -> tuple[bytes, Binary]:
    """JSON Lines whose ids are integers for the first block and more, then text."""
    line = b'{"id": %d, "label": %d, "p": 0.75}\n'
    n = block // len(line % (0, 0)) + 5_000
    y = np.tile([1, 0], n // 2 + 1)[:n]
    body = b"".join(line % (i, v) for i, v in enumerate(y))
    body += b'{"id": "x-1", "label": 0, "p": 0.25}\n{"id": "x-2", "label": 1, "p": 0.75}\n'
    return body, Binary(
        y=np.concatenate([y, [0, 1]]), p=np.concatenate([np.full(n, 0.75), [0.25, 0.75]])
    )


def long_id_csv(size: int) -> tuple[bytes, Binary]:
    """A CSV whose first record holds an id of ``size`` bytes."""
    body = b"id,label,p\n" + b"x" * size + b",1,0.75\nb,0,0.25\nc,1,0.5\n"
    return body, Binary(y=np.array([1, 0, 1]), p=np.array([0.75, 0.25, 0.5]))


def binary_id_parquet(path: Path, ids: list[bytes], large: bool = False) -> Binary:
    """Parquet whose id column is BINARY (bytes, not strings)."""
    y = np.array([1, 0, 1][: len(ids)])
    p = np.array([0.9, 0.2, 0.6][: len(ids)])
    kind = pa.large_binary() if large else pa.binary()
    pq.write_table(pa.table({"id": pa.array(ids, kind), "label": y, "p": p}), path)
    return Binary(y=y, p=p)


# --- memory --------------------------------------------------------------------------------------


def npz_bomb(path: Path, rows: int = 60_000_000) -> None:
    """A ~0.6 MB ``.npz`` whose two members inflate to ``rows`` x 9 bytes (540 MB).

    The predictions are a float64 array of zeros except the first value, 5.0:
    with ``--inputs probs`` that is invalid at row 1, so a reader that streams the
    member fails at once; one that inflates the member first has used ~500 MB
    by then.
    """

    def member(archive: zipfile.ZipFile, name: str, dtype: str, first: bytes) -> None:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": (rows,)}
        )
        total = rows * np.dtype(dtype).itemsize
        with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
            out.write(header.getvalue())
            out.write(first)
            total -= len(first)
            chunk = bytes(4 << 20)
            while total > 0:
                out.write(chunk[: min(total, len(chunk))])
                total -= min(total, len(chunk))

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        member(archive, "y_pred", "<f8", struct.pack("<d", 5.0))
        member(archive, "y_true", "|i1", b"\x01")


def huge_baseline(path: Path, base: dict[str, Any], size: int = 100 << 20) -> None:
    """A valid baseline (``base``) padded with a ``samples`` list to ``size`` bytes."""
    head = json.dumps(base)
    assert head.endswith("}")
    row = '{"index": 1, "id": "abcdef", "label": "setosa", "loss": 0.123456789012345},'
    count = max(1, (size - len(head)) // len(row))
    with open(path, "w", encoding="utf-8") as out:
        out.write(head[:-1] + ', "samples": [')
        block = row * 10_000
        for _ in range(count // 10_000):
            out.write(block)
        out.write(row * (count % 10_000))
        out.write('{"index": 0}]}')


# --- malformed baselines -------------------------------------------------------------------------


def baseline_variants(base: dict[str, Any]) -> dict[str, bytes]:
    """Malformed edits of a real baseline ``base``: name -> file bytes. Each must be refused
    with exit 3 and one line naming the file."""
    variants: dict[str, bytes] = {}

    def edit(name: str, change: Callable[[dict[str, Any]], Any]) -> None:
        data = copy.deepcopy(base)
        change(data)
        variants[name] = json.dumps(data).encode()

    def set_loss(value: Any) -> Callable[[dict[str, Any]], Any]:
        return lambda d: d["aggregate"].__setitem__("loss", value)

    variants["not-an-object-list"] = json.dumps([base]).encode()
    variants["not-an-object-string"] = b'"xent.score/1"'
    variants["not-an-object-null"] = b"null"
    variants["not-an-object-number"] = b"0.5"
    edit("schema-compare", lambda d: d.__setitem__("schema", "xent.compare/1"))
    edit("schema-missing", lambda d: d.pop("schema"))
    edit("aggregate-missing", lambda d: d.pop("aggregate"))
    edit("aggregate-list", lambda d: d.__setitem__("aggregate", [d["aggregate"]["loss"]]))
    edit("loss-missing", lambda d: d["aggregate"].pop("loss"))
    edit("loss-string-number", set_loss(str(base["aggregate"]["loss"])))
    edit("loss-string-word", set_loss("low"))
    edit("loss-bool", set_loss(True))
    edit("loss-null", set_loss(None))
    edit("loss-list", set_loss([0.3]))
    edit("loss-inf-string", set_loss("inf"))
    edit("loss-minus-inf-string", set_loss("-inf"))
    edit("loss-nan-string", set_loss("nan"))
    edit("loss-negative", set_loss(-1.0))
    edit("classes-string", lambda d: d.__setitem__("classes", ",".join(d["classes"])))
    edit("classes-object", lambda d: d.__setitem__("classes", dict.fromkeys(d["classes"], 1)))
    edit("classes-null", lambda d: d.__setitem__("classes", None))
    edit("classes-number", lambda d: d.__setitem__("classes", 3))
    edit("task-list", lambda d: d.__setitem__("task", [d["task"]]))
    edit("unit-number", lambda d: d.__setitem__("unit", 2))
    text = json.dumps(base)
    loss_text = f'"loss": {json.dumps(base["aggregate"]["loss"])}'
    assert loss_text in text
    variants["loss-NaN-token"] = text.replace(loss_text, '"loss": NaN', 1).encode()
    variants["loss-Infinity-token"] = text.replace(loss_text, '"loss": Infinity', 1).encode()
    variants["loss-5000-digit-integer"] = text.replace(
        loss_text, '"loss": ' + "9" * 5000, 1
    ).encode()
    variants["deep-array"] = (text[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()
    variants["deep-object"] = (
        text[:-1] + ', "x": ' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}"
    ).encode()
    task = json.dumps(base["task"]).encode()
    variants["non-utf8"] = text.encode().replace(task, task[:-1] + b'\xff\xfe"', 1)
    variants["latin-1"] = (
        text.encode().replace(b'"nats"', b'"n\xe4ts"').replace(b'"bits"', b'"b\xefts"')
    )
    variants["utf-16"] = text.encode("utf-16")
    variants["empty"] = b""
    variants["truncated"] = text.encode()[: len(text) // 2]
    variants["trailing-garbage"] = text.encode() + b"\n{"
    return variants


# --- running xent in a subprocess ----------------------------------------------------------------


#: Seconds a run may take before it counts as hung.
TIMEOUT = 60.0


@dataclass
class Run:
    """The outcome of one process: exit code (negative: killed by that signal), output,
    time taken, peak resident memory (bytes) and whether the timeout killed it."""

    args: list[str]
    rc: int
    out: bytes
    err: bytes
    seconds: float
    peak_rss: int
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.timed_out:
            how = f"still running after {self.seconds:.0f} s (killed)"
        elif self.rc < 0:
            how = f"killed by {signal.Signals(-self.rc).name}"
        else:
            how = f"exit {self.rc}"
        peak = f"{self.peak_rss >> 20} MB" if self.peak_rss >= 0 else "unknown"
        return (
            f"{how}; {self.seconds:.1f} s; peak RSS {peak}; "
            f"stderr {self.err[:700]!r}; stdout {self.out[:200]!r}"
        )


#: A small launcher between pytest and xent. ``wait4`` reports the peak RSS of a
#: process over its whole life, and a child forked from pytest starts with
#: pytest's memory (~200 MB with scikit-learn and pyarrow loaded) counted in it:
#: forked from this small interpreter instead, xent's own peak is what is measured.
#: It also sets RLIMIT_AS in the child, writes the child's peak RSS (KiB) to the
#: file named by its first argument, and ends as the child did (same code or signal).
LAUNCHER = """
import os, resource, signal, sys
report, limit, *command = sys.argv[1:]
pid = os.fork()
if pid == 0:
    try:
        if limit != "0":
            resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as out:
    out.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
if code < 0:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    stdin: bytes | None = b"",
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
    memory: int | None = None,
    shell: str | None = None,
) -> Run:
    """Run ``python -m xent ARGS`` (through :data:`LAUNCHER`); kill it on timeout.

    ``memory`` caps its address space (RLIMIT_AS, bytes). ``shell`` wraps the
    command as ``sh -c 'exec "$@" SHELL'`` so that redirections such as ``>&-``
    (a closed stdout) apply to xent itself.
    """
    command = [sys.executable, "-m", "xent", *args]
    if shell is not None:
        command = ["sh", "-c", f'exec "$@" {shell}', "sh", *command]
    handle, report = tempfile.mkstemp(prefix="rss-", dir=cwd.parent)
    os.close(handle)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", LAUNCHER, report, str(memory or 0), *command],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=fixed_env(env),
        start_new_session=True,
    )
    result = collect(proc, list(args), stdin, started, timeout)
    try:
        result.peak_rss = int(Path(report).read_text()) * 1024
    except (OSError, ValueError):
        result.peak_rss = -1  # the launcher was killed (timeout) before it could say
    Path(report).unlink(missing_ok=True)
    return result


def collect(
    proc: subprocess.Popen[bytes],
    args: list[str],
    stdin: bytes | None,
    started: float,
    timeout: float,
    before_reading: Callable[[], None] | None = None,
) -> Run:
    """Feed stdin, drain stdout and stderr, reap with ``wait4``; kill the group on timeout."""
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    def drain(stream: Any, into: list[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for block in iter(lambda: stream.read1(1 << 16), b""):
                into.append(block)

    def feed() -> None:
        with contextlib.suppress(OSError, ValueError):
            if stdin:
                proc.stdin.write(stdin)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]

    killed = threading.Event()

    def kill() -> None:
        killed.set()
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)

    watchdog = threading.Timer(timeout, kill)
    watchdog.start()
    threads = []
    if proc.stdin is not None:
        threads.append(threading.Thread(target=feed, daemon=True))
    if before_reading is not None:
        before_reading()
    threads += [
        threading.Thread(target=drain, args=(proc.stdout, chunks["out"]), daemon=True),
        threading.Thread(target=drain, args=(proc.stderr, chunks["err"]), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        if proc.returncode is None:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            peak = usage.ru_maxrss * 1024
        else:  # already reaped by Popen (e.g. by send_signal's poll)
            peak = -1
    finally:
        watchdog.cancel()
    seconds = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    return Run(
        args=args,
        rc=proc.returncode,
        out=b"".join(chunks["out"]),
        err=b"".join(chunks["err"]),
        seconds=seconds,
        peak_rss=peak,
        timed_out=killed.is_set(),
    )


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else COMMITTED
    written = write_committed(directory)
    print(f"wrote {len(written)} files to {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
