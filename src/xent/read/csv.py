"""CSV and TSV (optionally gzip-compressed), parsed by pyarrow in byte ranges.

An uncompressed file with ``\\n`` line ends is cut into segments of about
:data:`xent.limits.SEGMENT_BYTES` at line ends and the segments are parsed on
a thread pool, in order, at most two per thread in flight. A cut is only safe
outside quoted values, and whether a line end lies inside quotes depends on
every quote before it (a quote opens a quoted value only at the start of a
cell): so from the first segment holding a quote character on, the rest of
the file goes through pyarrow's own streaming reader, which tracks quotes
exactly. Files with quotes are slower to parse, never misread, and time stays
linear in the file size. Compressed files, files with ``\\r``-only line ends
and standard input copies that are compressed are streamed whole.

The header decides the columns. Two conventions of other tools are
recognised, and reported as the input's index columns (never scored): a first
column with an empty header or the header ``Unnamed: 0`` (pandas'
``to_csv`` with its default ``index=True``, R's ``write.csv``), and a header
one field shorter than the rows (R's ``write.table``, whose row names have no
header field), which gets an empty first column name.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from xent import limits
from xent.errors import DataError, InputError, XentError
from xent.read import ReadRequest, Source, describe_row, first_line, is_gzip
from xent.read.arrow import check_unique_names

#: Header names that mark a saved row index in the first column.
INDEX_NAMES = ("", "Unnamed: 0")

_CONVERSION = re.compile(
    r"column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+): invalid value '(.*)'"
)


@dataclass(frozen=True)
class _Header:
    """What the first lines of a file say about its columns."""

    names: list[str]
    #: Lines before the data: 1 with a header line, 0 without.
    lines: int
    #: Bytes of the longest of the first lines (the parser's block must hold a line).
    longest_line: int
    #: True when the header is one field shorter than the rows (R's row names).
    short: bool


def open_csv(name: str, path: str, fmt: str, request: ReadRequest) -> Source:
    """A :class:`Source` over a CSV or TSV file."""
    import pyarrow.csv as pacsv

    delimiter = "\t" if fmt == "tsv" else ","
    compressed = is_gzip(path)
    header = _read_header(name, path, compressed, delimiter, request.header, request.role)
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    block = max(limits.BLOCK_BYTES, 4 * header.longest_line)
    # Types are inferred from the first block of rows; the header alone may be larger.
    first = pacsv.open_csv(
        pa.input_stream(path, compression="gzip" if compressed else None),
        read_options=_read_options(header, max(limits.SCHEMA_BYTES, 4 * header.longest_line)),
        parse_options=parse,
    )
    try:
        schema = first.schema
    finally:
        first.close()
    check_unique_names(name, schema.names)
    splittable = not compressed and _lines_end_in_newline(path)

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        column_types = {c: types.get(c, schema.field(c).type) for c in columns}
        convert = pacsv.ConvertOptions(column_types=column_types, include_columns=list(columns))
        try:
            if splittable:
                yield from _parallel(name, fmt, path, header, block, parse, convert)
            else:
                yield from _stream(
                    path, compressed, 0, _read_options(header, block), parse, convert
                )
        except (pa.ArrowException, OSError) as exc:
            if isinstance(exc, XentError):
                raise
            raise _csv_error(name, fmt, exc, schema.names) from exc

    index = (schema.names[0],) if schema.names and schema.names[0] in INDEX_NAMES else ()
    return Source(
        name,
        fmt,
        schema,
        open_batches,
        header_lines=header.lines,
        text_cells=True,
        index_columns=index,
    )


def _read_options(header: _Header, block_size: int) -> Any:
    import pyarrow.csv as pacsv

    return pacsv.ReadOptions(
        column_names=header.names, skip_rows=header.lines, block_size=block_size
    )


def _lines_end_in_newline(path: str) -> bool:
    with open(path, "rb") as handle:
        sample = handle.read(limits.SCHEMA_BYTES)
    return not (b"\n" not in sample and b"\r" in sample)


def long_line(name: str) -> InputError:
    """The error for a line longer than :data:`xent.limits.LINE_BYTES`."""
    return InputError(
        f"{name}: a line is longer than {limits.LINE_BYTES >> 20} MiB, so this is not a table "
        "of predictions (or its lines do not end); XENT_LINE_BYTES raises the limit"
    )


def _decimal(text: str) -> bool:
    """True for a number written with a fraction or an exponent (``0.9``, ``1e-3``):
    data, not a column name (whole numbers such as ``0`` are pandas' column names)."""
    try:
        float(text)
    except ValueError:
        return False
    return any(ch in text for ch in ".eE") and text.strip().lower() not in ("inf", "nan")


def _read_header(
    name: str, path: str, compressed: bool, delimiter: str, has_header: bool, role: str
) -> _Header:
    """The column names, from the header line (or numbered, without one)."""
    opener = gzip.open if compressed else open
    with opener(path, "rb") as handle:
        sample = handle.read(limits.SCHEMA_BYTES)
        while sample.count(b"\n") < 3 and (more := handle.read(limits.SCHEMA_BYTES)):
            sample += more
            if len(sample) > limits.LINE_BYTES and b"\n" not in sample:
                raise long_line(name)
    text = sample.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    complete = lines[:-1] if len(lines) > 1 and not text.endswith(("\n", "\r")) else lines
    longest = max((len(line.encode("utf-8")) for line in lines), default=0)
    csv.field_size_limit(max(limits.LINE_BYTES, 1 << 17))
    records = list(csv.reader(io.StringIO("".join(complete[:3]), newline=""), delimiter=delimiter))
    if not records:
        raise InputError(f"{name}: the file is empty; it needs a header line and data rows")
    if not has_header:
        width = len(records[0])
        return _Header([str(i) for i in range(width)], 0, longest, short=False)
    names = records[0]
    if names and all(_decimal(n) for n in names):
        option = "--labels-no-header" if role == "labels" else "--no-header"
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise InputError(
            f"{name}: the first line holds numbers ({shown}), not column names; if the file "
            f"has no header line, pass {option}"
        )
    short = len(records) > 1 and len(records[1]) == len(names) + 1
    if short:
        names = ["", *names]
    return _Header(names, 1, longest, short)


def _stream(
    path: str, compressed: bool, offset: int, read: Any, parse: Any, convert: Any
) -> Iterator[pa.RecordBatch]:
    """pyarrow's streaming CSV reader over the file from byte ``offset`` on."""
    import pyarrow.csv as pacsv

    stream = pa.input_stream(path, compression="gzip" if compressed else None)
    if offset:
        stream.seek(offset)
    reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
    try:
        yield from reader
    finally:
        reader.close()


@dataclass(frozen=True)
class _Segment:
    """Whole data lines of the file, the first of them data row ``first_row``."""

    data: bytes
    first_row: int


@dataclass(frozen=True)
class _Rest:
    """Everything from byte ``offset`` on, beginning at data row ``first_row``."""

    offset: int
    first_row: int


def _segments(name: str, path: str, header_lines: int) -> Iterator[_Segment | _Rest]:
    """The data lines of a file in segments cut at line ends, then (at the first
    quote character) the rest of the file.

    Each byte is looked at a constant number of times, whatever the quotes.
    """
    with open(path, "rb") as handle:
        offset = len(handle.readline()) if header_lines else 0
        first_row = 0
        carry = b""
        while True:
            block = handle.read(limits.SEGMENT_BYTES)
            data = carry + block if carry else block
            if b'"' in block:
                yield _Rest(offset, first_row)
                return
            if not block:
                if data.strip():
                    yield _Segment(data, first_row)
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) > limits.LINE_BYTES:
                    raise long_line(name)
                carry = data
                continue
            carry = data[cut + 1 :]
            segment = data[: cut + 1]
            yield _Segment(segment, first_row)
            offset += len(segment)
            first_row += segment.count(b"\n")


def _parallel(
    name: str, fmt: str, path: str, header: _Header, block: int, parse: Any, convert: Any
) -> Iterator[pa.RecordBatch]:
    """Parse segments of an uncompressed file on every core, yielding batches in order."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.csv as pacsv

    def parse_segment(segment: _Segment) -> pa.Table:
        read = pacsv.ReadOptions(
            column_names=header.names,
            use_threads=False,
            block_size=max(block, len(segment.data) + 1),
        )
        return pacsv.read_csv(
            pa.BufferReader(segment.data),
            read_options=read,
            parse_options=parse,
            convert_options=convert,
        )

    def result(future: Any, segment: _Segment) -> list[pa.RecordBatch]:
        try:
            return list(future.result().to_batches())
        except pa.ArrowInvalid as exc:
            raise _locate_error(name, fmt, exc, segment, header.names, parse) from exc

    threads = max(1, min(limits.THREADS, limits.PARSE_THREADS))
    if threads == 1:
        for piece in _segments(name, path, header.lines):
            if isinstance(piece, _Rest):
                read = pacsv.ReadOptions(column_names=header.names, block_size=block)
                try:
                    yield from _stream(path, False, piece.offset, read, parse, convert)
                except pa.ArrowInvalid as exc:
                    raise _csv_error(name, fmt, exc, header.names, piece.first_row) from exc
                return
            try:
                table = parse_segment(piece)
            except pa.ArrowInvalid as exc:
                raise _locate_error(name, fmt, exc, piece, header.names, parse) from exc
            yield from table.to_batches()
        return
    pending: deque[tuple[Any, _Segment]] = deque()
    rest: _Rest | None = None
    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            for piece in _segments(name, path, header.lines):
                if isinstance(piece, _Rest):
                    rest = piece
                    break
                pending.append((pool.submit(parse_segment, piece), piece))
                if len(pending) >= 2 * threads:
                    yield from result(*pending.popleft())
            while pending:
                yield from result(*pending.popleft())
        finally:
            for future, _ in pending:
                future.cancel()
    if rest is not None:
        read = pacsv.ReadOptions(column_names=header.names, block_size=block)
        try:
            yield from _stream(path, False, rest.offset, read, parse, convert)
        except pa.ArrowInvalid as exc:
            raise _csv_error(name, fmt, exc, header.names, rest.first_row) from exc


def _locate_error(
    name: str,
    fmt: str,
    exc: BaseException,
    segment: _Segment,
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
            pa.BufferReader(segment.data),
            read_options=pacsv.ReadOptions(
                column_names=list(names), block_size=len(segment.data) + 1
            ),
            parse_options=parse,
            convert_options=pacsv.ConvertOptions(
                include_columns=[column], column_types={column: pa.string()}
            ),
        )
        .column(0)
        .to_pylist()
    )
    row = next((i for i, text in enumerate(texts) if text == value), None)
    where = f"{describe_row(segment.first_row + row, 1)}, " if row is not None else ""
    return DataError(
        f"{name}: {where}column {column!r}: {value!r} is not a number; fix the value, or "
        "leave the column out with --pred-cols"
    )


def _csv_error(
    name: str, fmt: str, exc: BaseException, columns: list[str], first_row: int | None = None
) -> Exception:
    """Translate a pyarrow CSV error into xent's: a bad value is invalid data (exit 4)."""
    match = _CONVERSION.search(str(exc))
    if match:
        index, value = int(match.group(1)), match.group(3)
        column = columns[index] if index < len(columns) else f"#{index}"
        return DataError(
            f"{name}: column {column!r}: {value!r} is not a number; "
            "fix the value or leave the column out with --pred-cols"
        )
    after = f" (after data row {first_row})" if first_row else ""
    return InputError(f"{name}: cannot read as {fmt}{after}: {first_line(exc)}")
