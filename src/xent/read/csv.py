"""CSV and TSV (optionally gzip-compressed), parsed by pyarrow's streaming reader.

Files are parsed by pyarrow's streaming reader, in blocks of
:data:`xent.limits.BLOCK_BYTES`, on its own threads; it tracks quoted values
exactly (a quote opens a quoted value only at the start of a cell), so time stays
linear in the file size whatever the quotes. It always allows line breaks inside
quoted values: on a file with no quote that costs nothing measurable, where a
pass over the file to find a quote cost 20 ms per 200 MB from the page cache and
0.18 s from disk.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from xent import limits
from xent.errors import DataError, InputError, XentError
from xent.read import ReadRequest, Source, describe_row, first_line, is_gzip
from xent.read.arrow import check_unique_names

#: The cells pyarrow reads as missing: only empty ones. Its default list (``NA``,
#: ``null``, ``NaN``, ...) costs comparisons on every cell of every number column
#: (0.05 s per 1e7 rows); ``nan`` is read as NaN, which validation refuses.
NULL_VALUES = [""]

#: Other spellings of a missing value (pandas' and pyarrow's), named as missing
#: when a number column holds one.
MISSING_WORDS = frozenset(
    [
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "None",
        "n/a",
        "null",
    ]
)

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
    block = _block_bytes(header)
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

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        column_types = {c: types.get(c, schema.field(c).type) for c in columns}
        convert = pacsv.ConvertOptions(
            column_types=column_types, include_columns=list(columns), null_values=NULL_VALUES
        )
        read = _read_options(header, block)
        try:
            yield from _stream(path, compressed, read, parse, convert)
        except (pa.ArrowException, OSError) as exc:
            if isinstance(exc, XentError):
                raise
            raise _csv_error(name, fmt, exc, header, path, compressed, parse) from exc

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


#: Rows a parser block should hold at least, so that the work per batch (per column
#: of a wide file) is spread over enough rows. Larger blocks parse a wide file
#: faster but cost memory: pyarrow holds several dozen blocks' worth while parsing
#: (measured on 1e5 rows x 1,000 columns: 128 rows per block, 1.1x the time of
#: pyarrow's own default reader, 190 MB; 512 rows, 0.8x but 550 MB).
_BLOCK_ROWS = 128


def _block_bytes(header: _Header) -> int:
    """The parser's block size: :data:`xent.limits.BLOCK_BYTES`, grown for long lines to
    hold :data:`_BLOCK_ROWS` of them (but no more rows than a chunk, and no more than a
    quarter of :data:`xent.limits.CHUNK_BYTES`), and always at least four of the longest
    line seen."""
    rows = min(_BLOCK_ROWS, limits.rows_per_chunk(8 * max(1, len(header.names))))
    wide = min(rows * header.longest_line, limits.CHUNK_BYTES // 4)
    return max(limits.BLOCK_BYTES, wide, 4 * header.longest_line)


def _read_options(header: _Header, block_size: int) -> Any:
    import pyarrow.csv as pacsv

    return pacsv.ReadOptions(
        column_names=header.names, skip_rows=header.lines, block_size=block_size
    )


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
    path: str, compressed: bool, read: Any, parse: Any, convert: Any
) -> Iterator[pa.RecordBatch]:
    """One pass of pyarrow's streaming CSV reader (parsing on its own threads)."""
    import pyarrow.csv as pacsv

    stream = pa.input_stream(path, compression="gzip" if compressed else None)
    reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
    try:
        yield from reader
    finally:
        reader.close()


def _csv_error(
    name: str,
    fmt: str,
    exc: BaseException,
    header: _Header,
    path: str,
    compressed: bool,
    parse: Any,
) -> Exception:
    """Translate a pyarrow CSV error into xent's: a value that is not a number is invalid
    data (exit 4) naming its row, found by reading the column again as text."""
    match = _CONVERSION.search(str(exc))
    if not match:
        return InputError(f"{name}: cannot read as {fmt}: {first_line(exc)}")
    index, value = int(match.group(1)), match.group(3)
    column = header.names[index] if index < len(header.names) else f"#{index}"
    row = _find(path, compressed, header, parse, column, value)
    where = f"{describe_row(row, header.lines)}, " if row is not None else ""
    if value.strip() in MISSING_WORDS:
        return DataError(
            f"{name}: {where}column {column!r}: the value is missing (the cell reads "
            f"{value!r}); fill the cell or drop the row"
        )
    return DataError(
        f"{name}: {where}column {column!r}: {value!r} is not a number; fix the value, or "
        "leave the column out with --pred-cols"
    )


def _find(
    path: str, compressed: bool, header: _Header, parse: Any, column: str, value: str
) -> int | None:
    """The first data row whose ``column`` reads ``value`` (None if it cannot be found)."""
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(include_columns=[column], column_types={column: pa.string()})
    read = _read_options(header, _block_bytes(header))
    row = 0
    try:
        for batch in _stream(path, compressed, read, parse, convert):
            texts: list[str | None] = batch.column(0).to_pylist()
            if value in texts:
                return row + texts.index(value)
            row += batch.num_rows
    except (pa.ArrowException, OSError):
        return None
    return None
