"""Per-sample CSV output (``--format csv``), written chunk by chunk as scoring goes."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

HEADER = ("index", "id", "label", "loss")

#: A text cell needs CSV quoting when it holds one of these.
_NEEDS_QUOTES = r'[",\r\n]|^\s|\s$'


class CsvSampleWriter:
    """Writes ``index,id,label,loss`` rows (``id`` only when there is an id column).

    Losses are written in their shortest exact decimal form, so reading them
    back gives the same float64 values; non-finite losses as ``inf`` / ``nan``.
    Chunks are formatted by pyarrow's CSV writer; a chunk whose text needs
    quoting goes through Python's ``csv`` module instead.
    """

    def __init__(self, stream: IO[str], *, with_id: bool) -> None:
        self.stream = stream
        self.with_id = with_id
        self._options = pacsv.WriteOptions(include_header=False, quoting_style="none")

    def start(self) -> None:
        """Write the header (again, after truncating, if scoring restarts)."""
        self.stream.seek(0)
        self.stream.truncate()
        header = HEADER if self.with_id else tuple(h for h in HEADER if h != "id")
        self.stream.write(",".join(header) + "\n")

    def write(
        self,
        index: npt.NDArray[np.int64],
        ids: Sequence[Any] | pa.Array | None,
        labels: Sequence[str] | npt.NDArray[Any],
        loss: npt.NDArray[np.float64],
        weight: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Append one chunk of samples (``weight`` is not written)."""
        columns: dict[str, pa.Array] = {"index": pa.array(index, type=pa.int64())}
        if self.with_id:
            columns["id"] = _as_arrow(ids, len(index))
        columns["label"] = pa.array(np.asarray(labels, dtype=object), type=pa.string())
        columns["loss"] = pa.array(loss, type=pa.float64())
        table = pa.table(columns)
        if any(_needs_quotes(table.column(c)) for c in ("id", "label") if c in columns):
            rows = zip(*(table.column(c).to_pylist() for c in columns), strict=True)
            writer = csv.writer(self.stream, lineterminator="\n")
            writer.writerows([*row[:-1], _format_loss(row[-1])] for row in rows)
            return
        self.stream.flush()
        pacsv.write_csv(table, self.stream.buffer, write_options=self._options)  # type: ignore[attr-defined]
        self.stream.buffer.flush()  # type: ignore[attr-defined]


def _as_arrow(ids: Sequence[Any] | pa.Array | None, n: int) -> pa.Array:
    if ids is None:
        return pa.nulls(n, type=pa.string())
    if isinstance(ids, pa.Array):
        return ids
    return pa.array(list(ids))


def _needs_quotes(column: pa.ChunkedArray) -> bool:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return False
    import pyarrow.compute as pc

    return bool(pc.any(pc.match_substring_regex(column, _NEEDS_QUOTES)).as_py())


def _format_loss(value: float | None) -> str:
    if value is None or value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return repr(value)
