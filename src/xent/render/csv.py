"""The ``csv`` output format: one row per sample.

``xent score --format csv`` streams ``index,id,label,loss`` rows while scoring
(:class:`CsvSampleWriter` is a sample sink), always with these four columns
(``id`` empty when the input has no id column) so that column positions never
shift. ``xent compare --format csv`` writes one row per paired sample.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from xent.read.arrow import arrow_view, text_buffers, text_values
from xent.report import Report

if TYPE_CHECKING:
    from xent.compare import Comparison
    from xent.pipeline import Samples
    from xent.render import View

HEADER = ("index", "id", "label", "loss")

#: A text cell needs CSV quoting when it holds one of these.
_NEEDS_QUOTES = r'[",\r\n]|^\s|\s$'
_QUOTE = re.compile(_NEEDS_QUOTES)


class CsvSampleWriter:
    """A sample sink writing ``index,id,label,loss`` rows.

    Losses are written in their shortest exact decimal form, so reading them
    back gives the same float64 values; non-finite losses as ``inf`` / ``nan``.
    Chunks are formatted by pyarrow's CSV writer; a chunk whose text needs
    quoting goes through Python's ``csv`` module instead.
    """

    def __init__(self, stream: IO[str], *, by: tuple[str, ...] = ()) -> None:
        self.stream = stream
        self.by = by
        # A group column named like one of the four is written as group:NAME.
        groups = [f"group:{name}" if name in HEADER else name for name in by]
        self.header = [*HEADER[:2], *groups, *HEADER[2:]]
        self._options = pacsv.WriteOptions(include_header=False, quoting_style="none")

    def start(self) -> None:
        """Write the header (again, after truncating, if scoring restarts)."""
        self.stream.seek(0)
        self.stream.truncate()
        write_rows(self.stream, [self.header])

    def write(self, samples: Samples) -> None:
        """Append one chunk of samples."""
        n = len(samples.index)
        columns = [
            arrow_view(samples.index.astype(np.int64, copy=False)),
            samples.ids if samples.ids is not None else pa.nulls(n, pa.string()),
            *(text_values(g) for g in samples.groups[: len(self.by)]),
            _labels(samples),
            arrow_view(samples.loss.astype(np.float64, copy=False)),
        ]
        table = pa.table(columns, names=[f"c{i}" for i in range(len(columns))])
        if any(_needs_quotes(column) for column in table.columns[1:-1]):
            rows = zip(*(column.to_pylist() for column in table.columns), strict=True)
            write_rows(self.stream, ([*row[:-1], _format_loss(row[-1])] for row in rows))
            return
        self.stream.flush()
        pacsv.write_csv(table, self.stream.buffer, write_options=self._options)  # type: ignore[attr-defined]
        self.stream.buffer.flush()  # type: ignore[attr-defined]


def write_report(
    report: Report, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """Nothing more to write: the rows were streamed by :class:`CsvSampleWriter`."""


def write_comparison(
    result: Comparison, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """One row per paired sample: ``index,id,label,base,candidate,difference``."""
    b, c = result.samples, result.candidate_samples
    assert b is not None
    assert c is not None
    ids: list[Any] = b.ids.to_pylist() if b.ids is not None else [None] * len(b.index)
    diff = (c.loss - b.loss).tolist()
    rows = (
        [index, ids[i], label, repr(base), repr(cand), repr(diff[i])]
        for i, (index, label, base, cand) in enumerate(
            zip(b.index.tolist(), b.labels.tolist(), b.loss.tolist(), c.loss.tolist(), strict=True)
        )
    )
    write_rows(stream, [["index", "id", "label", "base", "candidate", "difference"]])
    write_rows(stream, rows)


def write_rows(stream: IO[str], rows: Iterable[Sequence[Any]]) -> None:
    """CSV rows ending in ``\n``; a cell holding a quote, a comma, a line break (``\r`` or
    ``\n``) or leading or trailing space is quoted. (Python's ``csv`` module leaves a
    lone ``\r`` unquoted when lines end in ``\n``, which would cut the record.)"""
    stream.writelines(",".join(_cell(v) for v in row) + "\n" for row in rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    if _QUOTE.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _labels(samples: Samples) -> pa.Array:
    """The labels column: codes into the class names when the samples have them (no
    Python object per row), else the labels as text."""
    if samples.class_names is not None and samples.y is not None:
        return pa.DictionaryArray.from_arrays(
            arrow_view(samples.y.astype(np.int32)),
            pa.array(samples.class_names.tolist(), type=pa.string()),
        )
    return pa.array(np.asarray(samples.labels, dtype=object), type=pa.string())


def _needs_quotes(column: pa.ChunkedArray) -> bool:
    """True when a cell of a text column needs quoting (see :data:`_NEEDS_QUOTES`)."""
    if pa.types.is_dictionary(column.type):
        return any(_needs_quotes(pa.chunked_array([c.dictionary])) for c in column.chunks)
    if not pa.types.is_string(column.type):
        if not pa.types.is_large_string(column.type):
            return False
        column = column.cast(pa.string())
    return any(_chunk_needs_quotes(chunk) for chunk in column.chunks)


#: For each byte, whether it may start or end a value that needs quoting: 1 for
#: ASCII whitespace (what ``\s`` matches below 128), 2 for a byte of a
#: multi-byte character (which may be a Unicode space: the regex decides).
_EDGE_BYTES = np.zeros(256, dtype=np.uint8)
_EDGE_BYTES[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = 1
_EDGE_BYTES[128:] = 2


def _chunk_needs_quotes(chunk: pa.Array) -> bool:
    """:func:`_needs_quotes` of one text array, from its bytes: a search for each of
    the four characters, and a look at the first and last byte of every value.
    Only a value that starts or ends with a non-ASCII character is left to the
    regex, as :func:`_cell` applies it (so Unicode spaces count, as they do there)."""
    n = len(chunk)
    if n == 0:
        return False
    offsets, data = text_buffers(chunk)
    text = data[offsets[0] : offsets[-1]].tobytes()
    if any(mark in text for mark in (b'"', b",", b"\r", b"\n")):
        return True
    starts, ends = offsets[:-1], offsets[1:]
    filled = ends > starts
    edges = np.concatenate([data[starts[filled]], data[ends[filled] - 1]])
    kinds = _EDGE_BYTES[edges]
    if (kinds == 1).any():
        return True
    unsure = np.flatnonzero(kinds == 2)
    if not len(unsure):
        return False
    rows = np.flatnonzero(filled)[unsure % np.count_nonzero(filled)]
    texts = chunk.take(pa.array(np.unique(rows))).to_pylist()
    return any(_QUOTE.search(text) for text in texts if text is not None)


def _format_loss(value: float | None) -> str:
    if value is None or value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return repr(value)
