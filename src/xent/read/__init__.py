"""The read stage: every supported format presented as a :class:`Source`.

A source is a schema and a re-startable iterator of Arrow record batches (a
second pass opens the file again), read in a byte budget (:mod:`xent.limits`),
so inputs of any size stream through in bounded memory. Each format has its
own module; :func:`open_source` picks one by the file's suffix. To add a
format, write a module with an ``open_<format>(name, path, request)``
function returning a :class:`Source` and list it in :data:`_SUFFIXES` and
:func:`_reader`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from xent.errors import InputError

if TYPE_CHECKING:
    from xent.read.numpy import ArrayData

FORMATS = ("csv", "tsv", "parquet", "npy", "npz", "arrow", "jsonl")

_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npy": "npy",
    ".npz": "npz",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_ALIASES = {"feather": "arrow", "ipc": "arrow", "ndjson": "jsonl", "pq": "parquet"}

#: Opens the batches of the named columns, converted to the given types.
OpenBatches = Callable[[Sequence[str], dict[str, pa.DataType]], Iterator[pa.RecordBatch]]


@dataclass(frozen=True)
class Source:
    """A table read in record batches.

    ``name`` is the path as the user gave it (``-`` for standard input).
    ``header_lines`` is 1 for text formats with a header line (so data row r,
    counted from 1, is line r + 1), 0 for JSON Lines and ``None`` for formats
    without lines. ``text_cells`` is true when every cell is text (CSV, TSV):
    labels and ids are then read as text. ``index_columns`` are columns that
    hold a saved row index (pandas' index, R's row names): never scored.
    ``label_columns`` / ``prediction_columns`` are set for NumPy inputs,
    whose layout is known from the array shapes; ``arrays`` gives the decode
    stage direct access to their arrays.
    """

    name: str
    format: str
    schema: pa.Schema
    open_batches: OpenBatches
    header_lines: int | None = None
    text_cells: bool = False
    index_columns: tuple[str, ...] = ()
    label_columns: tuple[str, ...] = ()
    prediction_columns: tuple[str, ...] = ()
    arrays: ArrayData | None = None

    @property
    def column_names(self) -> list[str]:
        """The table's column names, in order."""
        return list(self.schema.names)

    def batches(
        self, columns: Sequence[str], types: dict[str, pa.DataType] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Record batches holding ``columns``, converted to ``types`` where given."""
        return self.open_batches(list(columns), dict(types or {}))

    def where(self, row: int) -> str:
        """Describe 0-based data row ``row`` as a person finds it in the file."""
        return describe_row(row, self.header_lines)

    def read_all(
        self, columns: Sequence[str], types: dict[str, pa.DataType] | None = None
    ) -> pa.Table:
        """Every batch of ``columns`` as one table (for small inputs such as labels)."""
        batches = list(self.batches(columns, types))
        if not batches:
            return pa.table(
                {c: pa.array([], (types or {}).get(c, self.schema.field(c).type)) for c in columns}
            )
        return pa.Table.from_batches(batches, schema=batches[0].schema)


@dataclass(frozen=True)
class ReadRequest:
    """What a reader needs to know beyond the path.

    ``classes`` names the columns of 2-D NumPy arrays; ``role`` is
    ``"predictions"`` or ``"labels"`` and decides how a lone NumPy array is
    presented (prediction columns or the label column); ``header`` is false
    for a CSV or TSV file without a header line.
    """

    classes: tuple[str, ...] | None = None
    role: str = "predictions"
    header: bool = True
    #: NumPy: where the class axis of predictions of any rank is (1 or -1).
    class_axis: int | None = None
    #: NumPy: the shape of the array in the other file of a two-file layout.
    partner_shape: tuple[int, ...] | None = None


def describe_row(row: int, header_lines: int | None) -> str:
    """0-based data row ``row`` as a person finds it: 1-based, with its line in text files."""
    if header_lines is None:
        return f"row {row + 1} (index {row})"
    return f"data row {row + 1} (line {row + 1 + header_lines})"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line error reports."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def is_gzip(path: str) -> bool:
    """True when the file starts with the gzip magic bytes (whatever its name says)."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def detect_format(path: str, input_format: str | None) -> str:
    """The format named by ``input_format``, or the one implied by the path's suffix."""
    if input_format:
        fmt = input_format.lower().lstrip(".")
        fmt = _ALIASES.get(fmt, fmt)
        if fmt not in FORMATS:
            raise InputError(
                f"unknown input format {input_format!r}: use one of {', '.join(FORMATS)}"
            )
        return fmt
    if path == "-":
        return "csv"
    if os.path.isdir(path):
        return "parquet"
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise InputError(
        f"{path}: cannot tell the format from the file name; "
        f"give --input-format ({', '.join(FORMATS)})"
    )


def open_source(
    path: str, *, input_format: str | None = None, request: ReadRequest | None = None
) -> Source:
    """Open ``path`` (or ``-`` for standard input) as a :class:`Source`."""
    request = request or ReadRequest()
    fmt = detect_format(path, input_format)
    if path == "-":
        from xent.read.stdin import spooled_stdin

        path_to_read = spooled_stdin()
    else:
        path_to_read = path
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise InputError(f"{path}: no such file or directory") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot open: {exc.strerror}") from None
        if stat.S_ISDIR(mode) and fmt != "parquet":
            raise InputError(f"{path}: is a directory; only Parquet datasets can be directories")
        if stat.S_ISFIFO(mode):
            # A named pipe can be read once: it is copied like standard input.
            from xent.read.stdin import spooled_stdin

            path_to_read = spooled_stdin(path)
        elif not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise InputError(
                f"{path}: is a device, not a file; save the data to a file, or pipe it to "
                "standard input (-)"
            )
    try:
        return _reader(fmt)(path, path_to_read, fmt, request)
    except pa.ArrowException as exc:
        raise InputError(f"{path}: cannot read as {fmt}: {first_line(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: is not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at "
            f"offset {exc.start}); save the file as UTF-8"
        ) from exc
    except (OSError, EOFError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: cannot read as {fmt}: {first_line(exc)}") from exc


def _reader(fmt: str) -> Callable[[str, str, str, ReadRequest], Source]:
    """The function that opens files of ``fmt`` (its module is imported on first use)."""
    if fmt in ("csv", "tsv"):
        from xent.read.csv import open_csv

        return open_csv
    if fmt == "parquet":
        from xent.read.parquet import open_parquet

        return open_parquet
    if fmt == "arrow":
        from xent.read.ipc import open_ipc

        return open_ipc
    if fmt == "jsonl":
        from xent.read.jsonl import open_jsonl

        return open_jsonl
    from xent.read.numpy import open_numpy

    return open_numpy


def use_lean_memory_pool() -> None:
    """Make pyarrow allocate from jemalloc where it is built in.

    Arrow's default pool (mimalloc) keeps freed chunk buffers; jemalloc returns
    them, which measured 20-25 MB less peak memory on a 1e6 x 10 CSV at the
    same speed. Under a tight address-space limit (``ulimit -v``) the system
    allocator is used instead, with one thread everywhere: jemalloc's background
    threads and every thread's stack count against the limit. The command line
    calls this; the library leaves the choice to its caller.
    """
    import contextlib

    from xent import limits

    if limits.address_space_is_tight():
        limits.THREADS = 1
        with contextlib.suppress(NotImplementedError, pa.ArrowException):
            pa.set_memory_pool(pa.system_memory_pool())
            pa.set_cpu_count(1)
            pa.set_io_thread_count(1)
        return
    with contextlib.suppress(NotImplementedError, pa.ArrowException):
        pa.set_memory_pool(pa.jemalloc_memory_pool())


class _BlockPandas:
    """An import hook under which ``import pandas`` fails (used only below)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(name)


def _arrow_without_pandas() -> None:
    """Let pyarrow know up front that xent hands it no pandas objects.

    pyarrow checks the arguments of every array constructor for pandas types,
    importing pandas (0.2-0.5 s) the first time to do so. Making that first
    check fail leaves pyarrow's answer cached as "no pandas" for these checks;
    conversions that really need pandas still import it when called.
    """
    import sys

    if "pandas" in sys.modules:
        return
    blocker = _BlockPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(blocker)


_arrow_without_pandas()
