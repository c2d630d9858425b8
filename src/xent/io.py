"""Reading predictions and labels, in chunks, from every supported format.

Every reader presents its input as a :class:`Source`: a schema and an iterator
of Arrow record batches, re-startable (a second pass opens the file again).
This is the only module that touches the pyarrow and NumPy file readers; the
rest of xent sees column batches, never whole DataFrames, so inputs of any
size stream through in bounded memory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from xent.errors import InputError


def _arrow_without_pandas() -> None:
    """Let pyarrow know up front that xent hands it no pandas objects.

    pyarrow checks the arguments of every array constructor for pandas types,
    importing pandas (0.2-0.5 s) the first time to do so. Making that first
    check fail leaves pyarrow's answer cached as "no pandas" for these checks;
    conversions that really need pandas still import it when called.
    """
    if "pandas" in sys.modules:
        return
    blocker = _BlockPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(blocker)


class _BlockPandas:
    """An import hook under which ``import pandas`` fails (used only by the function above)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(name)


_arrow_without_pandas()


def use_lean_memory_pool() -> None:
    """Make pyarrow allocate from jemalloc where it is built in.

    Arrow's default pool (mimalloc) keeps freed chunk buffers; jemalloc returns
    them, which measured 20-25 MB less peak memory on a 1e6 x 10 CSV at the
    same speed. The command line calls this; the library leaves the choice to
    its caller.
    """
    with contextlib.suppress(NotImplementedError, pa.ArrowException):
        pa.set_memory_pool(pa.jemalloc_memory_pool())


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

#: Rows per batch for formats whose reader does not choose its own batch size.
BATCH_ROWS = 65_536
#: Bytes per block for the CSV and JSON Lines parsers.
BLOCK_BYTES = 1 << 22
#: Bytes read to infer the column types of a CSV file.
SCHEMA_BYTES = 1 << 18
#: Bytes of an uncompressed CSV file parsed as one unit by one thread.
SEGMENT_BYTES = 1 << 21
#: Most threads parsing CSV segments at once.
PARSE_THREADS = 4

#: Array names looked up in an ``.npz`` archive, in order of preference.
NPZ_LABEL_NAMES = ("y_true", "labels", "y", "target")
NPZ_PRED_NAMES = ("y_pred", "proba", "probs", "predictions", "logits")

#: Name of the label column in tables made from NumPy arrays.
ARRAY_LABEL_COLUMN = "label"


@dataclass
class Source:
    """A table read in record batches.

    ``name`` is the path as the user gave it (``-`` for standard input).
    ``header_lines`` is 1 for text formats with a header line (so data row r,
    counted from 1, is line r + 1), and ``None`` for formats without lines.
    ``label_columns`` / ``prediction_columns`` are set for NumPy inputs, whose
    layout is known from the array shapes.
    """

    name: str
    format: str
    schema: pa.Schema
    open_batches: Callable[[Sequence[str], dict[str, pa.DataType]], Iterator[pa.RecordBatch]]
    header_lines: int | None = None
    label_columns: list[str] = field(default_factory=list)
    prediction_columns: list[str] = field(default_factory=list)

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
        schema = batches[0].schema if batches else None
        if schema is None:
            fields = [self.schema.field(c) for c in columns]
            return pa.table(
                {f.name: pa.array([], (types or {}).get(f.name, f.type)) for f in fields}
            )
        return pa.Table.from_batches(batches, schema=schema)


def describe_row(row: int, header_lines: int | None) -> str:
    """0-based data row ``row`` as a person finds it: 1-based, with its line in text files."""
    if header_lines is None:
        return f"row {row + 1} (index {row})"
    return f"data row {row + 1} (line {row + 1 + header_lines})"


def detect_format(path: str, input_format: str | None) -> str:
    """The format named by ``input_format``, or the one implied by the path's suffix."""
    if input_format:
        fmt = input_format.lower().lstrip(".")
        fmt = {"feather": "arrow", "ipc": "arrow", "ndjson": "jsonl", "pq": "parquet"}.get(fmt, fmt)
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
    path: str,
    *,
    input_format: str | None = None,
    classes: Sequence[str] | None = None,
    role: str = "predictions",
) -> Source:
    """Open ``path`` (or ``-`` for standard input) as a :class:`Source`.

    ``classes`` names the columns of 2-D NumPy arrays; ``role`` is
    ``"predictions"`` or ``"labels"`` and decides how a lone NumPy array is
    presented (prediction columns or the label column).
    """
    fmt = detect_format(path, input_format)
    if path == "-":
        path_to_read = _spool_stdin()
    else:
        path_to_read = path
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file or directory")
        if os.path.isdir(path) and fmt != "parquet":
            raise InputError(f"{path}: is a directory; only Parquet datasets can be directories")
    try:
        if fmt in ("csv", "tsv"):
            return _csv_source(path, path_to_read, fmt)
        if fmt == "parquet":
            return _parquet_source(path, path_to_read)
        if fmt == "arrow":
            return _arrow_source(path, path_to_read)
        if fmt == "jsonl":
            return _jsonl_source(path, path_to_read)
        return _numpy_source(path, path_to_read, fmt, classes, role)
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


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line error reports."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


_stdin_copy: str | None = None


def _spool_stdin() -> str:
    """Copy standard input to a temporary file once, so it can be read twice."""
    global _stdin_copy
    if _stdin_copy is None:
        handle, name = tempfile.mkstemp(prefix="xent-stdin-")
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        _stdin_copy = name
        import atexit

        atexit.register(_remove_quietly, name)
    return _stdin_copy


def _remove_quietly(name: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(name)


# --- CSV and TSV ------------------------------------------------------------


def _csv_source(name: str, path: str, fmt: str) -> Source:
    import pyarrow.csv as pacsv

    delimiter = "\t" if fmt == "tsv" else ","
    # Quoted values may hold line breaks; segment cuts below respect quotes too.
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    compressed = _is_compressed(path)

    first = pacsv.open_csv(
        pa.input_stream(path, compression="gzip" if compressed else None),
        read_options=pacsv.ReadOptions(block_size=SCHEMA_BYTES),
        parse_options=parse,
    )
    try:
        schema = first.schema
    finally:
        first.close()
    _check_unique_names(name, schema.names)
    # Split into byte ranges only where lines end in \n and the first block has no
    # quote characters (a quote inside an unquoted value would mislead the cut
    # finder); \r-only, quoted and compressed files go through pyarrow's
    # streaming reader.
    splittable = not compressed and _plain_lines(path)

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        column_types = {c: types.get(c, schema.field(c).type) for c in columns}
        convert = pacsv.ConvertOptions(column_types=column_types, include_columns=list(columns))
        try:
            if splittable:
                yield from _parallel_csv(name, fmt, path, schema.names, parse, convert)
            else:
                yield from _stream_csv(path, compressed, parse, convert)
        except pa.ArrowException as exc:
            raise _csv_error(name, fmt, exc, schema.names) from exc

    return Source(name, fmt, schema, open_batches, header_lines=1)


def _is_compressed(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _plain_lines(path: str) -> bool:
    with open(path, "rb") as handle:
        sample = handle.read(SCHEMA_BYTES)
    if b"\n" not in sample and b"\r" in sample:
        return False
    body = sample[sample.find(b"\n") + 1 :]  # the header may quote its names
    return b'"' not in body


def _stream_csv(path: str, compressed: bool, parse: Any, convert: Any) -> Iterator[pa.RecordBatch]:
    """One pass of pyarrow's streaming CSV reader (for input that cannot be split)."""
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        pa.input_stream(path, compression="gzip" if compressed else None),
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        parse_options=parse,
        convert_options=convert,
    )
    try:
        yield from reader
    finally:
        reader.close()


def _parallel_csv(
    name: str, fmt: str, path: str, names: Sequence[str], parse: Any, convert: Any
) -> Iterator[pa.RecordBatch]:
    """Parse byte ranges of an uncompressed CSV file on every core, yielding batches in order.

    The file is cut at line ends outside quoted values into segments of about
    :data:`SEGMENT_BYTES`; at most two segments per thread are in flight, so
    memory stays bounded.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.csv as pacsv

    read_options = pacsv.ReadOptions(
        column_names=list(names), use_threads=False, block_size=BLOCK_BYTES
    )

    def parse_segment(segment: bytes) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(segment),
            read_options=read_options,
            parse_options=parse,
            convert_options=convert,
        )

    def result(future: Any, segment: bytes, first_row: int) -> list[pa.RecordBatch]:
        try:
            return list(future.result().to_batches())
        except pa.ArrowInvalid as exc:
            raise _locate_csv_error(name, fmt, exc, segment, first_row, names, parse) from exc

    threads = max(1, min(os.cpu_count() or 1, PARSE_THREADS))
    pending: deque[tuple[Any, bytes, int]] = deque()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            for segment, first_row in _segments(path, parse.delimiter):
                pending.append((pool.submit(parse_segment, segment), segment, first_row))
                if len(pending) >= 2 * threads:
                    yield from result(*pending.popleft())
            while pending:
                yield from result(*pending.popleft())
        finally:
            for future, _, _ in pending:
                future.cancel()


def _segments(path: str, delimiter: str) -> Iterator[tuple[bytes, int]]:
    """The data lines of a CSV file (after its header line) in chunks cut at record ends.

    Yields each chunk with the 0-based data row it starts at. A line end inside
    a quoted value is not a cut: a cut needs an even number of quote characters
    before it (escaped quotes come in pairs).
    """
    first_row = 0
    with open(path, "rb") as handle:
        handle.readline()
        carry = b""
        while True:
            block = handle.read(SEGMENT_BYTES)
            if not block:
                if carry.strip():
                    yield carry, first_row
                return
            data = carry + block if carry else block
            cut = data.rfind(b"\n")
            while cut >= 0 and data.count(b'"', 0, cut) % 2:
                cut = data.rfind(b"\n", 0, cut)
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            segment = data[: cut + 1]
            yield segment, first_row
            quoted = b'"' in segment
            first_row += _records(segment, delimiter) if quoted else segment.count(b"\n")


def _records(segment: bytes, delimiter: str) -> int:
    """Records in a CSV segment whose quoted values may hold line breaks."""
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        pa.BufferReader(segment),
        read_options=pacsv.ReadOptions(autogenerate_column_names=True),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            include_columns=["f0"], column_types={"f0": pa.string()}
        ),
    )
    return int(table.num_rows)


def _locate_csv_error(
    name: str,
    fmt: str,
    exc: BaseException,
    segment: bytes,
    first_row: int,
    names: Sequence[str],
    parse: Any,
) -> Exception:
    """The error of a failed segment, naming the data row (found by reading it as text)."""
    import pyarrow.csv as pacsv

    match = _CONVERSION.search(str(exc))
    if not match:
        return _csv_error(name, fmt, exc, list(names))
    column = names[int(match.group(1))]
    value = match.group(3)
    texts = (
        pacsv.read_csv(
            pa.BufferReader(segment),
            read_options=pacsv.ReadOptions(column_names=list(names)),
            parse_options=parse,
            convert_options=pacsv.ConvertOptions(
                include_columns=[column], column_types={column: pa.string()}
            ),
        )
        .column(0)
        .to_pylist()
    )
    row = next((i for i, text in enumerate(texts) if text == value), None)
    where = f"{describe_row(first_row + row, 1)}, " if row is not None else ""
    from xent.errors import DataError

    return DataError(
        f"{name}: {where}column {column!r}: {value!r} is not a number; fix the value, or "
        "leave the column out with --pred-cols"
    )


_CONVERSION = re.compile(
    r"column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+): invalid value '(.*)'"
)


def _csv_error(name: str, fmt: str, exc: BaseException, columns: list[str]) -> Exception:
    """Translate a pyarrow CSV error into xent's: a bad value is invalid data (exit 4)."""
    from xent.errors import DataError

    match = _CONVERSION.search(str(exc))
    if match:
        index, _, value = int(match.group(1)), match.group(2), match.group(3)
        column = columns[index] if index < len(columns) else f"#{index}"
        return DataError(
            f"{name}: column {column!r}: {value!r} is not a number; "
            "fix the value or leave the column out with --pred-cols"
        )
    return InputError(f"{name}: cannot read as {fmt}: {first_line(exc)}")


def _check_unique_names(name: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for column in names:
        if column in seen:
            raise InputError(
                f"{name}: column {column!r} appears twice; give every column a unique name"
            )
        seen.add(column)


# --- Parquet ----------------------------------------------------------------


def _parquet_source(name: str, path: str) -> Source:
    """A Parquet file, or a directory of them (read in sorted path order).

    Each file is read row group by row group with pre-buffering off, which
    keeps memory near one row group rather than the whole file.
    """
    import pyarrow.parquet as pq

    files = _parquet_files(name, path) if os.path.isdir(path) else [path]
    try:
        schema = pq.ParquetFile(files[0]).schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"{_shard_name(name, path, files[0])}: cannot read as parquet: {first_line(exc)}"
        ) from exc
    _check_unique_names(name, schema.names)

    def open_files(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        for file in files:
            shard = _shard_name(name, path, file)
            try:
                with pq.ParquetFile(file, pre_buffer=False) as parquet:
                    present = set(parquet.schema_arrow.names)
                    missing = [c for c in columns if c not in present]
                    if missing:
                        raise InputError(
                            f"{shard}: has no column {missing[0]!r}; every file of the "
                            "dataset needs the same columns"
                        )
                    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(columns)):
                        yield _cast_batch(batch, types)
            except (pa.ArrowException, OSError) as exc:
                if isinstance(exc, InputError):
                    raise
                raise InputError(f"{shard}: cannot read as parquet: {first_line(exc)}") from exc

    return Source(name, "parquet", schema, open_files)


def _parquet_files(name: str, directory: str) -> list[str]:
    """The data files of a Parquet dataset directory, skipping hidden and ``_`` files."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found += [
            os.path.join(root, f)
            for f in sorted(files)
            if not f.startswith((".", "_")) and f.lower().endswith((".parquet", ".pq", ".parq"))
        ]
    if not found:
        raise InputError(f"{name}: directory holds no .parquet files")
    return found


def _shard_name(name: str, directory: str, file: str) -> str:
    if file == directory:
        return name
    return os.path.join(name, os.path.relpath(file, directory))


def _cast_batch(batch: pa.RecordBatch, types: dict[str, pa.DataType]) -> pa.RecordBatch:
    """Cast the columns named in ``types`` (numeric targets only; labels stay as read)."""
    if not types:
        return batch
    arrays = []
    for column, array in zip(batch.schema.names, batch.columns, strict=True):
        target = types.get(column)
        if target is not None and array.type != target and pa.types.is_floating(target):
            array = array.cast(target, safe=False)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


# --- Arrow IPC / Feather ----------------------------------------------------


def _arrow_source(name: str, path: str) -> Source:
    def open_reader() -> Any:
        try:
            return pa.ipc.open_file(pa.memory_map(path))
        except pa.ArrowInvalid:
            return pa.ipc.open_stream(pa.OSFile(path))

    schema = open_reader().schema
    _check_unique_names(name, schema.names)

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        reader = open_reader()
        try:
            if isinstance(reader, pa.ipc.RecordBatchFileReader):
                batches: Iterator[pa.RecordBatch] = (
                    reader.get_batch(i) for i in range(reader.num_record_batches)
                )
            else:
                batches = iter(reader)
            for batch in batches:
                yield _cast_batch(batch.select(list(columns)), types)
        except pa.ArrowException as exc:
            raise InputError(f"{name}: cannot read as arrow: {first_line(exc)}") from exc

    return Source(name, "arrow", schema, open_batches)


# --- JSON Lines -------------------------------------------------------------


def _jsonl_source(name: str, path: str) -> Source:
    import pyarrow.json as pajson

    def open_reader(schema: pa.Schema | None = None) -> Any:
        read = pajson.ReadOptions(block_size=BLOCK_BYTES)
        parse = pajson.ParseOptions(explicit_schema=schema) if schema is not None else None
        stream = pa.input_stream(path, compression="gzip" if _is_compressed(path) else None)
        return pajson.open_json(stream, read_options=read, parse_options=parse)

    first = open_reader()
    schema = first.schema
    first.close()

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        reader = open_reader(schema)
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowException as exc:
                    raise InputError(f"{name}: cannot read as jsonl: {first_line(exc)}") from exc
                yield _cast_batch(batch.select(list(columns)), types)
        finally:
            reader.close()

    return Source(name, "jsonl", schema, open_batches, header_lines=0)


# --- NumPy ------------------------------------------------------------------


class NpyRows:
    """The rows of a C-order ``.npy`` file, read on demand: never the whole array.

    Slicing ``rows[start:stop]`` reads just those rows from disk, so scoring a
    file of any size holds one chunk in memory (a memory map would keep every
    page it touched resident). Fortran-order files are memory-mapped instead.
    """

    def __init__(self, name: str, path: str) -> None:
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # e.g. a header whose shape overflows
                header = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc) or "object" in str(exc).lower():
                raise InputError(
                    f"{name}: holds Python objects (a pickle), which xent never loads; "
                    "save numbers or fixed-width strings instead (np.save(path, arr.astype(str)))"
                ) from exc
            raise InputError(f"{name}: not a valid .npy file: {first_line(exc)}") from exc
        except Exception as exc:  # a malformed header fails in many ways inside NumPy
            raise InputError(f"{name}: not a valid .npy file: {first_line(exc)}") from exc
        self.path = path
        self.shape: tuple[int, ...] = tuple(header.shape)
        self.ndim = header.ndim
        self.dtype = header.dtype
        self._offset = int(getattr(header, "offset", 0))
        self._mapped = header if (header.ndim > 1 and not header.flags.c_contiguous) else None
        if not isinstance(header, np.memmap):
            self._mapped = header  # 0-d or empty arrays are loaded, not mapped
        self._row_items = int(np.prod(self.shape[1:])) if self.ndim > 1 else 1

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __getitem__(self, rows: slice) -> np.ndarray[Any, Any]:
        if self._mapped is not None:
            return np.array(self._mapped[rows])
        start, stop, _ = rows.indices(len(self))
        count = max(0, stop - start) * self._row_items
        with open(self.path, "rb") as handle:
            handle.seek(self._offset + start * self._row_items * self.dtype.itemsize)
            data = np.fromfile(handle, dtype=self.dtype, count=count)
        return data.reshape((max(0, stop - start), *self.shape[1:]))


def _load_npz(name: str, path: str) -> dict[str, np.ndarray[Any, Any]]:
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError(
                f"{name}: an array holds Python objects (a pickle), which xent never loads; "
                "save numbers or fixed-width strings instead"
            ) from exc
        raise InputError(f"{name}: not a valid .npz file: {first_line(exc)}") from exc
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise InputError(f"{name}: not a valid .npz file: {first_line(exc)}") from exc


def _numpy_source(
    name: str, path: str, fmt: str, classes: Sequence[str] | None, role: str
) -> Source:
    label: Any = None
    pred: Any = None
    if fmt == "npy":
        array = NpyRows(name, path)
        if role == "labels":
            label = array[:]
        else:
            pred = array
    else:
        arrays = _load_npz(name, path)
        label = next((arrays[k] for k in NPZ_LABEL_NAMES if k in arrays), None)
        pred = next((arrays[k] for k in NPZ_PRED_NAMES if k in arrays), None)
        if role == "labels" and label is None and len(arrays) == 1:
            label = next(iter(arrays.values()))
        if role == "predictions" and pred is None:
            raise InputError(
                f"{name}: no predictions array; name it one of {', '.join(NPZ_PRED_NAMES)} "
                f"(found: {', '.join(arrays) or 'none'})"
            )
        if role == "labels" and label is None:
            raise InputError(
                f"{name}: no labels array; name it one of {', '.join(NPZ_LABEL_NAMES)} "
                f"(found: {', '.join(arrays) or 'none'})"
            )
    return array_source(name, fmt, pred=pred, label=label, classes=classes)


def array_source(
    name: str,
    fmt: str,
    *,
    pred: Any,
    label: Any,
    classes: Sequence[str] | None = None,
) -> Source:
    """A :class:`Source` over NumPy arrays (or :class:`NpyRows`), read in row chunks.

    Predictions of shape (N, K) become K columns named by ``classes`` (or
    ``0..K-1``); a 1-D prediction array becomes the single column ``p``.
    Labels of shape (N,) become the column ``label``; of shape (N, K) the
    columns ``label:<class>``.
    """
    if label is not None and label.ndim == 2 and label.shape[1] == 1:
        label = np.asarray(label).reshape(-1)  # a column vector of labels
    arrays = {role: a for role, a in (("predictions", pred), ("labels", label)) if a is not None}
    for role, array in arrays.items():
        if array.dtype.hasobject:
            raise InputError(f"{name}: {role} hold Python objects; use numbers or strings")
        if array.dtype.kind not in "biufUS":
            raise InputError(
                f"{name}: {role} have dtype {array.dtype}, which xent cannot score; "
                "use numbers (or strings for labels)"
            )
        if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] == 0):
            raise InputError(
                f"{name}: {role} array has shape {array.shape}; expected (N,) or (N, K)"
            )
    if len({a.shape[0] for a in arrays.values()}) > 1:
        from xent.errors import DataError

        raise DataError(
            f"{name}: predictions have {arrays['predictions'].shape[0]} rows but labels have "
            f"{arrays['labels'].shape[0]}; both arrays must have one row per sample"
        )
    # Each column is (role, column index or None for a 1-D array).
    columns: dict[str, tuple[str, int | None]] = {}
    if pred is not None:
        if pred.ndim == 1:
            columns["p"] = ("predictions", None)
        else:
            names = _array_class_names(name, pred, classes)
            columns.update({c: ("predictions", j) for j, c in enumerate(names)})
    prediction_columns = list(columns)
    label_columns: list[str] = []
    if label is not None:
        if label.ndim == 1:
            columns[ARRAY_LABEL_COLUMN] = ("labels", None)
        else:
            for j, class_name in enumerate(_array_class_names(name, label, classes)):
                columns[f"label:{class_name}"] = ("labels", j)
                label_columns.append(f"label:{class_name}")
    schema = pa.schema(
        [pa.field(c, _arrow_type(arrays[role].dtype)) for c, (role, _) in columns.items()]
    )
    n_rows = next(iter(arrays.values())).shape[0] if arrays else 0

    def open_batches(
        names: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        roles = {columns[c][0] for c in names}
        for start in range(0, n_rows, BATCH_ROWS):
            stop = min(start + BATCH_ROWS, n_rows)
            blocks = {role: np.asarray(arrays[role][start:stop]) for role in roles}
            out = []
            for column in names:
                role, j = columns[column]
                chunk = blocks[role] if j is None else blocks[role][:, j]
                target = types.get(column)
                if target is not None and pa.types.is_floating(target):
                    chunk = _as_numbers(name, chunk, start, column)
                out.append(_numpy_to_arrow(np.ascontiguousarray(chunk)))
            yield pa.RecordBatch.from_arrays(out, names=list(names))

    source = Source(name, fmt, schema, open_batches)
    source.label_columns = label_columns
    source.prediction_columns = prediction_columns
    return source


def _as_numbers(
    name: str, chunk: np.ndarray[Any, Any], start: int, column: str
) -> np.ndarray[Any, Any]:
    """A column as float64; text that is not a number is invalid data naming its row."""
    if chunk.dtype.kind not in "US":
        return chunk.astype(np.float64)
    from xent.errors import DataError

    for i, text in enumerate(chunk.tolist()):
        try:
            float(text)
        except ValueError:
            raise DataError(
                f"{name}: {describe_row(start + i, None)}, column {column!r}: {text!r} is not "
                "a number; predictions must be numeric"
            ) from None
    return chunk.astype(np.float64)


def _numpy_to_arrow(array: np.ndarray[Any, Any]) -> pa.Array:
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype.kind == "S":
        array = np.char.decode(array, "utf-8", errors="replace")
    if array.dtype.kind == "U":
        return pa.array(array.tolist(), type=pa.string())
    return pa.array(array)


def _array_class_names(
    name: str, array: np.ndarray[Any, Any], classes: Sequence[str] | None
) -> list[str]:
    width = 1 if array.ndim == 1 else array.shape[1]
    if classes is None or array.ndim == 1:
        return [str(j) for j in range(width)]
    if len(classes) != width:
        from xent.errors import UsageError

        raise UsageError(
            f"{name}: --classes names {len(classes)} classes but the array has {width} columns"
        )
    return list(classes)


def _arrow_type(dtype: np.dtype[Any]) -> pa.DataType:
    if dtype.kind in "US":
        return pa.string()
    return pa.from_numpy_dtype(dtype.newbyteorder("=") if dtype.byteorder == ">" else dtype)


# --- Arrow arrays to NumPy --------------------------------------------------


_NUMPY_TYPES: dict[pa.DataType, type[np.generic]] = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float16(): np.float16,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def numpy_view(array: pa.Array | pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """The values of an Arrow boolean or numeric array as NumPy, ignoring nulls.

    Primitive arrays are viewed in place (``Array.to_numpy`` would import
    pandas; ``cast`` would import pyarrow.compute): check ``null_count`` first,
    since the slots of nulls hold arbitrary values.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    n, offset = len(array), array.offset
    data = array.buffers()[1] if len(array.buffers()) > 1 else None
    if pa.types.is_boolean(array.type):
        if data is None:
            return np.zeros(n, dtype=bool)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[offset : offset + n].astype(bool)
    dtype = _NUMPY_TYPES.get(array.type)
    if dtype is None:
        return np.asarray(array.to_pylist())
    if data is None:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=n, offset=offset * np.dtype(dtype).itemsize)


def null_mask(array: pa.Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """True where ``array`` holds a null."""
    validity = array.buffers()[0]
    if validity is None or array.null_count == 0:
        if pa.types.is_null(array.type):
            return np.ones(len(array), dtype=bool)
        return np.zeros(len(array), dtype=bool)
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    mask: np.ndarray[Any, np.dtype[np.bool_]] = bits[array.offset : array.offset + len(array)] == 0
    return mask


def float_column(array: pa.Array | pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A float64 NumPy array from an Arrow numeric array with no nulls.

    Float64 buffers are viewed directly, other numbers converted (see :func:`numpy_view`).
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_decimal(array.type):
        return np.asarray([float(v) for v in array.to_pylist()], dtype=np.float64)
    values = numpy_view(array)
    if values.dtype != np.float64:
        return values.astype(np.float64)
    return values
