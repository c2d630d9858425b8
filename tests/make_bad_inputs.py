"""Generate the binary and large bad inputs of the corpus in ``tests/data/bad/``.

The small text inputs are committed under ``tests/data/bad/``; what is binary
(Parquet, Arrow, NumPy, gzip), random or large is written by this script, so
the repository holds no opaque blobs. ``tests/test_bad_inputs.py`` calls
:func:`generate` once per session into a temporary directory; the manifest
``tests/data/bad/cases.toml`` refers to both kinds of file by name.

Run it by hand to look at the files::

    python tests/make_bad_inputs.py /tmp/xent-bad

Everything is deterministic (fixed seeds), so a failing case reproduces.
"""

from __future__ import annotations

import gzip
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

#: File the pickle payloads create (relative to the working directory) if they
#: are ever unpickled. xent runs in the test's directory, so the test looks there.
PICKLE_MARKER = "PICKLE_RAN"

#: Columns of the 10,000-column inputs.
WIDE_CLASSES = 10_000
WIDE_ROWS = 5

#: The uncompressed CSV reader cuts files into segments of this many bytes
#: (``xent.limits.SEGMENT_BYTES``) and infers column types from the first
#: ``xent.limits.SCHEMA_BYTES``; the "late" inputs put their trouble beyond both.
SEGMENT_BYTES = 1 << 20
SCHEMA_BYTES = 1 << 18


class _OpensAFile:
    """Unpickling this calls ``open(PICKLE_MARKER, "w")``: proof that a pickle ran."""

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (PICKLE_MARKER, "w"))


Writer = Callable[[Path], None]
GENERATORS: dict[str, Writer] = {}


def generated(*names: str) -> Callable[[Writer], Writer]:
    """Register a writer for the file (or directory) ``names[0]`` (and its companions)."""

    def register(function: Writer) -> Writer:
        for name in names:
            GENERATORS[name] = function
        return function

    return register


def _garbage(size: int = 4096, seed: int = 1234) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size))


def _table(**columns: Any) -> pa.Table:
    return pa.table(columns)


BINARY = {"label": [1, 0, 1, 0], "p": [0.9, 0.2, 0.6, 0.3]}


# --- empty files and garbage under every suffix ------------------------------------------------

_SUFFIXES = ("csv", "tsv", "jsonl", "parquet", "arrow", "npy", "npz")


def _write_empty(directory: Path) -> None:
    for suffix in _SUFFIXES:
        (directory / f"empty.{suffix}").write_bytes(b"")
    (directory / "empty.csv.gz").write_bytes(gzip.compress(b""))


generated(*[f"empty.{s}" for s in _SUFFIXES], "empty.csv.gz")(_write_empty)


def _write_garbage(directory: Path) -> None:
    for suffix in _SUFFIXES:
        (directory / f"garbage.{suffix}").write_bytes(_garbage())
    (directory / "garbage.csv.gz").write_bytes(_garbage())
    # A PNG named .csv, and binary bytes in front of a valid CSV.
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + _garbage(512, seed=7)
    (directory / "image-named.csv").write_bytes(png)
    (directory / "garbage-then-csv.csv").write_bytes(
        _garbage(300, seed=99) + b"\nlabel,p\n1,0.9\n0,0.2\n"
    )


generated(
    *[f"garbage.{s}" for s in _SUFFIXES],
    "garbage.csv.gz",
    "image-named.csv",
    "garbage-then-csv.csv",
)(_write_garbage)


# --- gzip ------------------------------------------------------------------------------------


@generated("header-only.csv.gz", "ragged.csv.gz", "crlf.csv.gz", "bom.csv.gz", "truncated.csv.gz")
def _write_gzip(directory: Path) -> None:
    (directory / "header-only.csv.gz").write_bytes(gzip.compress(b"label,p\n"))
    (directory / "ragged.csv.gz").write_bytes(gzip.compress(b"label,p\n1,0.9\n0,0.2,7\n"))
    text = b"label,p_a,p_b,p_c\r\na,0.7,0.2,0.1\r\nb,0.1,0.8,0.1\r\nc,0.2,0.2,0.6\r\n"
    (directory / "crlf.csv.gz").write_bytes(gzip.compress(text))
    (directory / "bom.csv.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + text))
    full = gzip.compress(b"label,p\n" + b"1,0.9\n0,0.2\n" * 2000)
    (directory / "truncated.csv.gz").write_bytes(full[: len(full) // 2])


# --- large CSV files: trouble past the type-inference window and the segment cut ------------


def _rows_of(row: bytes, size: int) -> bytes:
    return row * (size // len(row) + 1)


@generated("late-text-pred.csv", "late-text-pred.csv.gz")
def _write_late_text_pred(directory: Path) -> None:
    """A prediction that is not a number, after ~400 KB of good rows (data row 65,537)."""
    body = b"label,p\n" + b"1,0.5\n" * 65_536 + b"0,abc\n" + b"1,0.5\n" * 10
    (directory / "late-text-pred.csv").write_bytes(body)
    (directory / "late-text-pred.csv.gz").write_bytes(gzip.compress(body))


@generated("late-text-id.csv")
def _write_late_text_id(directory: Path) -> None:
    """Numeric ids for the first ~1 MB, then textual ones: a valid id column."""
    rows = b"".join(b"%d,1,0.75\n" % i for i in range(100_000))
    (directory / "late-text-id.csv").write_bytes(
        b"id,label,p\n" + rows + b"x-1,0,0.25\nx-2,1,0.75\n"
    )


@generated("quoted-newline-at-cut.csv")
def _write_quoted_newline_at_cut(directory: Path) -> None:
    """A quoted id holding a line break, placed across the reader's 1 MiB segment cut.

    The same kind of value in a small file (``quoted-newline.csv``) scores.
    """
    header = b"id,label,p\n"
    row = b"0,1,0.75\n"
    n_before = (SEGMENT_BYTES - len(header)) // len(row) - 2
    before = row * n_before
    # The quoted value starts before the cut and its line break is the last one
    # before the cut, so the first segment ends inside the quotes.
    used = len(header) + len(before)
    first_part = SEGMENT_BYTES - used - 4
    quoted = b'"' + b"x" * first_part + b"\n" + b"y" * 40 + b'",0,0.25\n'
    (directory / "quoted-newline-at-cut.csv").write_bytes(header + before + quoted + row * 9)


# --- 10,000 columns ----------------------------------------------------------------------------


def _wide() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(10_000)
    proba = rng.dirichlet(np.ones(WIDE_CLASSES), size=WIDE_ROWS)
    labels = rng.integers(0, WIDE_CLASSES, size=WIDE_ROWS)
    return labels, proba


@generated("wide-10000.csv", "wide-10000.tsv", "wide-10000.parquet", "wide-10000.ref.npz")
def _write_wide(directory: Path) -> None:
    labels, proba = _wide()
    names = [f"p_{j}" for j in range(WIDE_CLASSES)]
    for suffix, sep in (("csv", ","), ("tsv", "\t")):
        lines = [sep.join(["label", *names])]
        for y, row in zip(labels, proba, strict=True):
            lines.append(sep.join([str(int(y)), *(repr(float(v)) for v in row)]))
        (directory / f"wide-10000.{suffix}").write_text("\n".join(lines) + "\n")
    columns: dict[str, Any] = {"label": labels.astype(np.int64)}
    columns.update({name: proba[:, j] for j, name in enumerate(names)})
    pq.write_table(pa.table(columns), directory / "wide-10000.parquet")
    np.savez(directory / "wide-10000.ref.npz", y_true=labels, y_pred=proba)


# --- Parquet ------------------------------------------------------------------------------------

_MULTI = {
    "label": ["a", "b", "a", "c"],
    "p_a": [0.7, 0.1, 0.5, 0.2],
    "p_b": [0.2, 0.8, 0.25, 0.2],
    "p_c": [0.1, 0.1, 0.25, 0.6],
}


@generated(
    "null-label.parquet",
    "null-pred.parquet",
    "null-weight.parquet",
    "nan-pred.parquet",
    "inf-pred.parquet",
    "negative-weight.parquet",
    "nan-weight.parquet",
    "label-out-of-range.parquet",
    "above-one.parquet",
    "rows-not-summing.parquet",
    "single-row.parquet",
    "all-ignored.parquet",
    "zero-rows.parquet",
    "dup-columns.parquet",
    "dictionary-labels.parquet",
    "dictionary-labels-whitespace.parquet",
    "nested-extra.parquet",
    "nested-pred.parquet",
    "nested-label-list.parquet",
    "nested-label-struct.parquet",
    "nested-labels-only.parquet",
    "unknown-label.parquet",
    "truncated-half.parquet",
    "truncated-tail.parquet",
    "footer-only.parquet",
    "labels.parquet",
)
def _write_parquet(directory: Path) -> None:
    def put(name: str, table: pa.Table) -> None:
        pq.write_table(table, directory / name)

    put("null-label.parquet", _table(label=pa.array([1, None, 1, 0]), p=BINARY["p"]))
    put("null-pred.parquet", _table(label=BINARY["label"], p=pa.array([0.9, 0.2, None, 0.3])))
    put("null-weight.parquet", _table(**BINARY, w=pa.array([1.0, None, 1.0, 1.0])))
    put("nan-pred.parquet", _table(label=BINARY["label"], p=[0.9, float("nan"), 0.6, 0.3]))
    put("inf-pred.parquet", _table(label=BINARY["label"], p=[0.9, 0.2, float("inf"), 0.3]))
    put("negative-weight.parquet", _table(**BINARY, w=[1.0, 2.0, -0.5, 1.0]))
    put("nan-weight.parquet", _table(**BINARY, w=[1.0, float("nan"), 1.0, 1.0]))
    put(
        "label-out-of-range.parquet",
        _table(label=[0, 1, 2, 5], **{k: v for k, v in _MULTI.items() if k != "label"}),
    )
    put("above-one.parquet", _table(label=BINARY["label"], p=[0.9, 1.25, 0.6, 0.3]))
    put(
        "rows-not-summing.parquet",
        _table(label=["a", "b"], p_a=[0.7, 0.3], p_b=[0.3, 0.3], p_c=[0.0, 0.3]),
    )
    put("single-row.parquet", _table(label=["b"], p_a=[0.25], p_b=[0.5], p_c=[0.25]))
    put("all-ignored.parquet", _table(label=[-100, -100, -100], p=[0.2, 0.4, 0.6]))
    put(
        "zero-rows.parquet",
        _table(label=pa.array([], pa.int64()), p=pa.array([], pa.float64())),
    )
    pq.write_table(
        pa.Table.from_arrays(
            [pa.array([1, 0]), pa.array([0.9, 0.2]), pa.array([0.8, 0.1])],
            names=["label", "p", "p"],
        ),
        directory / "dup-columns.parquet",
    )
    preds = {k: v for k, v in _MULTI.items() if k != "label"}
    put(
        "dictionary-labels.parquet",
        _table(label=pa.array(_MULTI["label"]).dictionary_encode(), **preds),
    )
    put(
        "dictionary-labels-whitespace.parquet",
        _table(label=pa.array([" a", "b ", "\ta", "c"]).dictionary_encode(), **preds),
    )
    put(
        "nested-extra.parquet",
        _table(
            **BINARY,
            meta=pa.array(
                [{"x": 1, "tags": ["u"]}, {"x": 2, "tags": []}, None, {"x": 4, "tags": ["v", "w"]}]
            ),
        ),
    )
    nested = pa.array([[v] for v in BINARY["p"]])
    put("nested-pred.parquet", _table(label=BINARY["label"], p=nested))
    put(
        "nested-label-list.parquet",
        _table(label=pa.array([[1], [0], [1], [0]]), p=BINARY["p"]),
    )
    put(
        "nested-label-struct.parquet",
        _table(label=pa.array([{"y": 1}, {"y": 0}, {"y": 1}, {"y": 0}]), p=BINARY["p"]),
    )
    put("nested-labels-only.parquet", _table(label=pa.array([[1], [0], [1], [0]])))
    put("unknown-label.parquet", _table(label=["a", "b", "z", "c"], **preds))
    put("labels.parquet", _table(label=BINARY["label"]))
    put("full.parquet", _table(label=[0, 1] * 500, p=[0.25, 0.75] * 500))
    data = (directory / "full.parquet").read_bytes()
    (directory / "full.parquet").unlink()
    (directory / "truncated-half.parquet").write_bytes(data[: len(data) // 2])
    (directory / "truncated-tail.parquet").write_bytes(data[:-9])
    (directory / "footer-only.parquet").write_bytes(data[:4] + data[-8:])


@generated("dataset-mixed-types", "dataset-with-garbage", "dataset-empty")
def _write_parquet_datasets(directory: Path) -> None:
    mixed = directory / "dataset-mixed-types"
    mixed.mkdir()
    pq.write_table(_table(label=[0, 1], p=[0.2, 0.7]), mixed / "part-0.parquet")
    pq.write_table(_table(label=[0, 1], p=["low", "high"]), mixed / "part-1.parquet")
    garbage = directory / "dataset-with-garbage"
    garbage.mkdir()
    pq.write_table(_table(label=[0, 1], p=[0.2, 0.7]), garbage / "part-0.parquet")
    (garbage / "part-1.parquet").write_bytes(_garbage(64))
    (directory / "dataset-empty").mkdir()


# --- Arrow IPC ------------------------------------------------------------------------------------


@generated(
    "zero-rows.arrow",
    "dup-columns.arrow",
    "null-pred.arrow",
    "truncated.arrow",
    "nested-label.arrow",
)
def _write_arrow(directory: Path) -> None:
    feather.write_feather(
        _table(label=pa.array([], pa.int64()), p=pa.array([], pa.float64())),
        directory / "zero-rows.arrow",
    )
    feather.write_feather(
        pa.Table.from_arrays(
            [pa.array([1, 0]), pa.array([0.9, 0.2]), pa.array([0.8, 0.1])],
            names=["label", "p", "p"],
        ),
        directory / "dup-columns.arrow",
    )
    feather.write_feather(
        _table(label=BINARY["label"], p=pa.array([0.9, None, 0.6, 0.3])),
        directory / "null-pred.arrow",
    )
    feather.write_feather(
        _table(label=pa.array([[1], [0], [1], [0]]), p=BINARY["p"]),
        directory / "nested-label.arrow",
    )
    full = directory / "full.arrow"
    feather.write_feather(_table(label=[0, 1] * 300, p=[0.25, 0.75] * 300), full)
    data = full.read_bytes()
    full.unlink()
    (directory / "truncated.arrow").write_bytes(data[: len(data) // 2])


# --- NumPy ------------------------------------------------------------------------------------


def _npy_bytes(array: np.ndarray[Any, Any]) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npy_with_header(header: bytes, body: np.ndarray[Any, Any]) -> bytes:
    """Format-1.0 ``.npy`` bytes with the header text given as is."""
    padded = header + b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(padded).to_bytes(2, "little") + padded + body.tobytes()


@generated(
    "pickle.npy",
    "pickle.npz",
    "pred-3d.npy",
    "labels-3d.npy",
    "pred-0d.npy",
    "pred-k0.npy",
    "lying-header.npy",
    "truncated-body.npy",
    "truncated-header.npy",
    "complex.npy",
    "datetime.npy",
    "structured.npy",
    "text-pred.npy",
    "numeric-text-pred.npy",
    "nan-pred.npy",
    "inf-pred.npy",
    "neginf-pred.npy",
    "negative-pred.npy",
    "rows-not-summing.npy",
    "pred2.npy",
    "pred3.npy",
    "pred4.npy",
    "pred4x3.npy",
    "labels2.npy",
    "labels4.npy",
    "labels4-out-of-range.npy",
    "labels4-negative.npy",
    "labels4-nan.npy",
    "labels4-ignored.npy",
    "labels4-strings-whitespace.npy",
    "labels4-strings-unknown.npy",
    "labels5.npy",
    "single-pred.npy",
    "single-label.npy",
    "zero-pred.npy",
    "zero-labels.npy",
    "labels4-column.npy",
    "huge-shape.npy",
    "corrupt-header.npy",
)
def _write_npy(directory: Path) -> None:
    def put(name: str, array: np.ndarray[Any, Any]) -> None:
        np.save(directory / name, array)

    evil = np.array([_OpensAFile(), _OpensAFile()], dtype=object)
    np.save(directory / "pickle.npy", evil, allow_pickle=True)
    np.savez(directory / "pickle.npz", y_pred=np.array([0.25, 0.75]), y_true=evil)
    put("pred-3d.npy", np.full((4, 2, 2), 0.5))
    put("labels-3d.npy", np.zeros((4, 1, 1), dtype=np.int64))
    put("pred-0d.npy", np.array(0.5))
    put("pred-k0.npy", np.zeros((4, 0)))
    put("complex.npy", np.array([0.9 + 0j, 0.2, 0.6, 0.3]))
    put("datetime.npy", np.array(["2024-01-01"] * 4, dtype="datetime64[D]"))
    put("structured.npy", np.zeros(4, dtype=[("p", "f8"), ("q", "f8")]))
    put("text-pred.npy", np.array(["0.9", "0.2", "high", "0.3"]))
    put("numeric-text-pred.npy", np.array(["0.9", " 2e-1", "+0.6", "3E-1"]))
    put("nan-pred.npy", np.array([0.9, np.nan, 0.6, 0.3]))
    put("inf-pred.npy", np.array([0.9, 0.2, np.inf, 0.3]))
    put("neginf-pred.npy", np.array([[0.5, 0.5], [-np.inf, 1.0], [0.5, 0.5], [0.5, 0.5]]))
    put("negative-pred.npy", np.array([0.9, -0.2, 0.6, 0.3]))
    put("rows-not-summing.npy", np.array([[0.7, 0.3], [0.6, 0.6], [0.5, 0.5], [0.5, 0.5]]))
    put("pred2.npy", np.array([0.9, 0.2]))
    put("pred3.npy", np.array([0.9, 0.2, 0.6]))
    put("pred4.npy", np.array(BINARY["p"]))
    put("pred4x3.npy", np.array([_MULTI[c] for c in ("p_a", "p_b", "p_c")]).T.copy())
    put("labels2.npy", np.array([1, 0]))
    put("labels4.npy", np.array(BINARY["label"]))
    put("labels4-out-of-range.npy", np.array([0, 1, 3, 2]))
    put("labels4-negative.npy", np.array([0, -1, 2, 2]))
    put("labels4-nan.npy", np.array([1.0, 0.0, np.nan, 0.0]))
    put("labels4-ignored.npy", np.array([-100, -100, -100, -100]))
    put("labels4-strings-whitespace.npy", np.array([" a", "b ", " a ", "c"]))
    put("labels4-strings-unknown.npy", np.array(["a", "b", "a", "z"]))
    put("labels5.npy", np.array([1, 0, 1, 0, 1]))
    put("single-pred.npy", np.array([[0.25, 0.75]]))
    put("single-label.npy", np.array([1]))
    put("zero-pred.npy", np.zeros((0, 3)))
    put("zero-labels.npy", np.zeros((0,), dtype=np.int64))

    good = _npy_bytes(np.full((100, 3), 1 / 3))
    header_end = good.index(b"\n") + 1
    (directory / "truncated-body.npy").write_bytes(good[: header_end + 1000])
    (directory / "truncated-header.npy").write_bytes(good[:40])
    lying = good.replace(b"(100, 3)", b"(900, 3)")
    assert lying != good
    (directory / "lying-header.npy").write_bytes(lying)
    # The header of a 4-element array claims 10^20-odd elements (the byte count overflows).
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (631607735, 163, 17559, 12376), }"
    (directory / "huge-shape.npy").write_bytes(_npy_with_header(header, np.array(BINARY["p"])))
    # The header dict lost its opening brace: not a Python literal.
    header = b"'descr': '<f8', 'fortran_order': False, 'shape': (4,), }"
    (directory / "corrupt-header.npy").write_bytes(_npy_with_header(header, np.array(BINARY["p"])))
    put("labels4-column.npy", np.array(BINARY["label"]).reshape(-1, 1))


@generated(
    "no-arrays.npz",
    "wrong-names.npz",
    "pred-only.npz",
    "truncated.npz",
    "pred-3d.npz",
    "length-mismatch.npz",
    "single-row.npz",
    "zero-rows.npz",
)
def _write_npz(directory: Path) -> None:
    np.savez(directory / "no-arrays.npz")
    np.savez(directory / "wrong-names.npz", a=np.array([0.9, 0.2]), b=np.array([1, 0]))
    np.savez(directory / "pred-only.npz", y_pred=np.array([0.9, 0.2]))
    np.savez(directory / "pred-3d.npz", y_pred=np.full((2, 2, 2), 0.5), y_true=np.array([0, 1]))
    np.savez(directory / "length-mismatch.npz", y_pred=np.array([0.9, 0.2]), y=np.array([1, 0, 1]))
    np.savez(directory / "single-row.npz", proba=np.array([[0.2, 0.8]]), labels=np.array([1]))
    np.savez(
        directory / "zero-rows.npz", y_pred=np.zeros((0,)), y_true=np.zeros((0,), dtype=np.int64)
    )
    full = directory / "full.npz"
    np.savez(full, y_pred=np.full(500, 0.5), y_true=np.zeros(500, dtype=np.int64))
    data = full.read_bytes()
    full.unlink()
    (directory / "truncated.npz").write_bytes(data[: len(data) // 2])


# --- running ----------------------------------------------------------------------------------


def generate(directory: Path) -> dict[str, Path]:
    """Write every generated input into ``directory``; return name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    for function in dict.fromkeys(GENERATORS.values()):
        function(directory)
    paths = {name: directory / name for name in GENERATORS}
    missing = [name for name, path in paths.items() if not path.exists()]
    if missing:
        raise RuntimeError(f"generators did not write: {', '.join(missing)}")
    return paths


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/make_bad_inputs.py DIRECTORY", file=sys.stderr)
        return 2
    paths = generate(Path(argv[0]))
    print(f"wrote {len(paths)} inputs to {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
