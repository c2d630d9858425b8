"""Arrow IPC files and streams (Feather v2).

IPC data is used in place, so a crafted file could point offsets or
dictionary indices outside its buffers: every batch is fully validated before
any of its values is touched, and an invalid one is an unreadable input.
Large batches are handed on in slices of :func:`xent.limits.rows_per_chunk`
rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from xent import limits
from xent.errors import InputError
from xent.read import ReadRequest, Source, first_line
from xent.read.arrow import cast_batch, check_unique_names
from xent.read.parquet import pandas_index_columns


def open_ipc(name: str, path: str, fmt: str, request: ReadRequest) -> Source:
    """A :class:`Source` over an Arrow IPC file or stream."""

    def open_reader() -> Any:
        try:
            return pa.ipc.open_file(pa.memory_map(path))
        except pa.ArrowInvalid:
            return pa.ipc.open_stream(pa.OSFile(path))

    schema = open_reader().schema
    check_unique_names(name, schema.names)

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        rows = limits.rows_per_chunk(8 * max(1, len(columns)))
        try:
            reader = open_reader()
            if isinstance(reader, pa.ipc.RecordBatchFileReader):
                batches: Iterator[pa.RecordBatch] = (
                    reader.get_batch(i) for i in range(reader.num_record_batches)
                )
            else:
                batches = iter(reader)
            for batch in batches:
                selected = batch.select(list(columns))
                selected.validate(full=True)
                for start in range(0, selected.num_rows, rows):
                    yield cast_batch(selected.slice(start, rows), types)
        except (pa.ArrowException, OSError) as exc:
            # pyarrow reports a damaged IPC message as a plain OSError, too.
            raise InputError(f"{name}: cannot read as arrow: {first_line(exc)}") from exc

    return Source(name, "arrow", schema, open_batches, index_columns=pandas_index_columns(schema))
