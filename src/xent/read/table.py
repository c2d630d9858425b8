"""Tables in memory: a pyarrow Table, a pandas DataFrame or a polars DataFrame.

``xent.score(df)`` reads them with the same layout rules as a file: they are
viewed as Arrow tables (pandas through ``pyarrow.Table.from_pandas``, which
records the DataFrame's index in the pandas metadata, so a saved index is
recognised as it is in a Parquet file; polars through ``to_arrow``), never
copied through CSV.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from xent import limits
from xent.errors import UsageError
from xent.read import Source
from xent.read.arrow import cast_batch, check_unique_names
from xent.read.parquet import pandas_index_columns


def is_table(value: Any) -> bool:
    """True for a pyarrow Table or RecordBatch, a pandas or a polars DataFrame."""
    if isinstance(value, pa.Table | pa.RecordBatch):
        return True
    module = type(value).__module__
    return type(value).__name__ == "DataFrame" and module.split(".")[0] in ("pandas", "polars")


def as_arrow(value: Any) -> pa.Table:
    """An in-memory table as a pyarrow Table."""
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    module = type(value).__module__.split(".")[0]
    if module == "polars":
        table: pa.Table = value.to_arrow()
        return table
    if module == "pandas":
        return pa.Table.from_pandas(value)
    raise UsageError(f"cannot score a {type(value).__name__}: give a file, a DataFrame or a Table")


def table_source(name: str, value: Any) -> Source:
    """A :class:`Source` over an in-memory table, read in batches of the chunk budget."""
    table = as_arrow(value)
    names = [str(n) for n in table.schema.names]
    if names != list(table.schema.names):
        table = table.rename_columns(names)
    check_unique_names(name, names)

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        rows = limits.rows_per_chunk(8 * max(1, len(columns)))
        for batch in table.select(list(columns)).to_batches(max_chunksize=rows):
            yield cast_batch(batch, types)

    return Source(
        name,
        "table",
        table.schema,
        open_batches,
        index_columns=pandas_index_columns(table.schema),
    )
