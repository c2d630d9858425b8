"""Parquet: one file, or a directory of files read in sorted path order.

Files are read with a buffered stream (pages, not whole column chunks) and
pre-buffering off, in batches of an eighth of :func:`xent.limits.rows_per_chunk`
rows, so memory stays near the CSV reader's even when a file is a single row group. The
pandas metadata that ``DataFrame.to_parquet`` stores names the columns that
hold the DataFrame's index (``__index_level_0__``, or the index's own name):
they are the source's index columns, never scored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from xent import limits
from xent.errors import InputError
from xent.read import ReadRequest, Source, first_line
from xent.read.arrow import cast_batch, check_unique_names

#: Bytes the Parquet reader buffers per column when reading pages.
_BUFFER_BYTES = 1 << 20
#: How many times a batch's values the decoding of a batch holds, about (measured on
#: a one-row-group file written by pandas).
_DECODE_FACTOR = 8


def open_parquet(name: str, path: str, fmt: str, request: ReadRequest) -> Source:
    """A :class:`Source` over a Parquet file or a dataset directory."""
    files = dataset_files(name, path) if os.path.isdir(path) else [path]
    shards = [(shard_name(name, path, file), file) for file in files]
    return parquet_source(name, shards, lambda file: file)


def parquet_source(
    name: str, shards: Sequence[tuple[str, Any]], opener: Callable[[Any], Any]
) -> Source:
    """A source over Parquet files: ``shards`` pairs each shown name with what
    ``opener`` turns into a path or an open binary file."""
    import pyarrow.parquet as pq

    first_name, first = shards[0]
    try:
        schema = pq.ParquetFile(opener(first)).schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{first_name}: cannot read as parquet: {first_line(exc)}") from exc
    check_unique_names(name, schema.names)

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        # Decoding holds several times a batch's values (pages, levels, builders), so
        # batches are an eighth of a chunk: memory stays near the other readers'.
        rows = limits.rows_per_chunk(8 * max(1, len(columns)) * _DECODE_FACTOR)
        for shown, file in shards:
            try:
                with pq.ParquetFile(
                    opener(file), pre_buffer=False, buffer_size=_BUFFER_BYTES
                ) as parquet:
                    present = set(parquet.schema_arrow.names)
                    missing = [c for c in columns if c not in present]
                    if missing:
                        raise InputError(
                            f"{shown}: has no column {missing[0]!r}; every file of the "
                            "dataset needs the same columns"
                        )
                    for batch in parquet.iter_batches(batch_size=rows, columns=list(columns)):
                        yield cast_batch(batch, types)
            except (pa.ArrowException, OSError) as exc:
                if isinstance(exc, InputError):
                    raise
                raise InputError(f"{shown}: cannot read as parquet: {first_line(exc)}") from exc

    return Source(name, "parquet", schema, open_batches, index_columns=pandas_index_columns(schema))


def pandas_index_columns(schema: pa.Schema) -> tuple[str, ...]:
    """The columns that pandas' metadata declares as the DataFrame's index."""
    raw = (schema.metadata or {}).get(b"pandas")
    if not raw:
        return ()
    try:
        declared = json.loads(raw).get("index_columns", [])
    except (ValueError, AttributeError):
        return ()
    if not isinstance(declared, list):
        return ()
    # A RangeIndex is stored as a description (a dict), not as a column.
    return tuple(c for c in declared if isinstance(c, str) and c in schema.names)


def dataset_files(name: str, directory: str) -> list[str]:
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


def shard_name(name: str, directory: str, file: str) -> str:
    """How a file of a dataset is named in messages: the dataset's name plus its path in it."""
    if file == directory:
        return name
    return os.path.join(name, os.path.relpath(file, directory))
