"""The decode stage: batches of the read stage into typed :class:`Chunk` objects.

A chunk holds, for the rows it keeps, the prediction values as one float64
matrix (float16/float32 NumPy arrays may stay in their type, for the logits
pass that widens them a few rows at a time), the sample weights, the ids, and
the labels (or per-class targets), taken from the same table or from a separate
labels file aligned by position or joined on an id column. Rows whose label is
ignored leave here, before any check (their cells may be empty). Chunk rows carry
input-wide indices; error messages name rows of the file that holds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent import limits
from xent.errors import DataError
from xent.join import DuplicateId, IdIndex, repeats
from xent.labels import ignored_rows
from xent.layout import Layout
from xent.read import Source, describe_row
from xent.read.arrow import float_column, null_mask, numpy_view, plain_array, text_values

if TYPE_CHECKING:
    from xent.read.numpy import ArrayData

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Where = Callable[[int], str]


@dataclass(frozen=True)
class Chunk:
    """The samples of one chunk of rows, decoded.

    ``rows`` are the input-wide 0-based indices of the samples kept (ignored
    rows are left out); ``n_read`` counts every row read, kept or not.
    ``values`` is (n,) for one prediction column, (n, K) otherwise, in float64
    (but see ``native_floats`` of :func:`chunks`). Exactly one
    of ``labels`` (a label value per sample) and ``targets`` ((n, K) per-class
    targets) is set. ``ids`` are plain text or numbers. ``groups`` holds the
    group key columns (one array per ``--by`` column, none without ``--by``).
    ``where(i)`` names sample i in the predictions, ``label_where(i)`` in the
    file of the labels.
    """

    rows: IntArray
    n_read: int
    values: FloatArray
    weights: FloatArray
    ids: pa.Array | None
    labels: pa.Array | None
    targets: FloatArray | None
    where: Where
    label_where: Where
    groups: tuple[pa.Array, ...] = ()
    #: Bytes of text per sample (``--bytes-col``); for list rows, a row's bytes
    #: are carried by its first scored element.
    bytes: FloatArray | None = None


def chunks(
    source: Source,
    layout: Layout,
    *,
    ignore: Sequence[str] = (),
    first_index: int = 0,
    native_floats: bool = False,
) -> Iterator[Chunk]:
    """Decoded chunks of ``source`` with their labels (see :class:`Chunk`).

    ``first_index`` is the input-wide index of the source's first row (for
    shards of a dataset). With ``native_floats``, the values of a float16 or
    float32 NumPy array stay in that type (for a consumer that widens them
    block by block, as :func:`xent.loss.logits_norm` does); otherwise values
    are always float64.
    """
    if layout.sequence:
        yield from _sequence_chunks(source, layout, ignore, first_index)
        return
    arrays = source.arrays
    if arrays is not None and not layout.label_id_column and _natural_columns(arrays, layout):
        yield from _array_chunks(source, arrays, layout, ignore, first_index, native_floats)
        return
    yield from _table_chunks(source, layout, ignore, first_index)


def _natural_columns(arrays: ArrayData, layout: Layout) -> bool:
    """True when the layout reads the arrays' own columns (no selection by name)."""
    return (
        set(layout.prediction_columns) <= set(arrays.prediction_names)
        and layout.weight_column in (None, "__weight__")
        and not layout.group_columns
    )


def _array_chunks(
    source: Source,
    arrays: ArrayData,
    layout: Layout,
    ignore: Sequence[str],
    first_index: int,
    native_floats: bool,
) -> Iterator[Chunk]:
    """Chunks straight from NumPy arrays: no Arrow columns in between."""
    position = {name: j for j, name in enumerate(arrays.prediction_names)}
    selected = [position[c] for c in layout.prediction_columns]
    natural = selected == list(range(len(arrays.prediction_names)))
    width = len(selected)
    dtype = arrays.predictions.dtype if arrays.predictions is not None else None
    native = native_floats and dtype in _NATIVE_FLOATS
    item_bytes = dtype.itemsize if native and dtype is not None else 8
    step = limits.rows_per_chunk(item_bytes * width + 16)
    align = _LabelRows(layout) if layout.separate_labels else None
    offset = 0
    for pred_block, label_block in arrays.row_blocks(step):
        assert pred_block is not None
        n = len(pred_block)
        keep = np.arange(n, dtype=np.int64)
        labels: pa.Array | None = None
        targets: FloatArray | None = None
        label_where = _describe(source, offset, keep)
        if align is not None:
            table, label_where = align.take(n, offset, label_where)
            if layout.label_columns:
                targets = _matrix(table, layout.label_columns, label_where)
            else:
                assert layout.label_column is not None
                labels = plain_array(table.column(layout.label_column))
        elif layout.label_columns:
            assert label_block is not None
            targets = _numbers(source, label_block, offset, layout.label_columns)
        elif label_block is not None:
            labels = _label_array(label_block)
        if labels is not None:
            dropped = ignored_rows(labels, ignore)
            if dropped is not None:
                keep = np.flatnonzero(~dropped)
                labels = labels.take(pa.array(keep))
                label_where = _renumbered(label_where, keep)
        block = pred_block if pred_block.ndim == 1 or natural else pred_block[:, selected]
        if len(keep) < n:
            block = block[keep]
            if targets is not None:
                targets = targets[keep]
        if native:
            values = np.ascontiguousarray(block)
        else:
            values = _numbers(source, block, offset, layout.prediction_columns)
        if arrays.weights is not None:
            weights = np.asarray(arrays.weights[offset : offset + n], dtype=np.float64)[keep]
        else:
            weights = np.ones(len(keep))
        where = _describe(source, offset, keep)
        groups: tuple[pa.Array, ...] = ()
        if arrays.group_size:
            groups = (pa.array((keep + offset) // arrays.group_size),)
        yield Chunk(
            rows=keep + (first_index + offset),
            n_read=n,
            values=values,
            weights=weights,
            ids=None,
            labels=labels,
            targets=targets,
            where=where,
            label_where=label_where,
            groups=groups,
        )
        offset += n
    if align is not None:
        align.finish(offset, source)


#: Array types kept as they are under ``native_floats`` (native byte order only).
_NATIVE_FLOATS = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64))


def _numbers(
    source: Source, block: np.ndarray[Any, Any], offset: int, columns: Sequence[str]
) -> FloatArray:
    """An array block as float64; text that is not a number is invalid data naming its row."""
    if block.dtype.kind in "US":
        for i, row in enumerate(block.reshape(len(block), -1).tolist()):
            for j, text in enumerate(row):
                try:
                    float(text)
                except ValueError:
                    raise DataError(
                        f"{source.name}: {describe_row(offset + i, None)}, column "
                        f"{columns[j]!r}: {text!r} is not a number; predictions must be numeric"
                    ) from None
    if block.dtype == np.float64 and block.dtype.isnative:
        return np.ascontiguousarray(block)
    return block.astype(np.float64)


def _label_array(block: np.ndarray[Any, Any]) -> pa.Array:
    if block.dtype.byteorder == ">":
        block = block.astype(block.dtype.newbyteorder("="))
    if block.dtype.kind == "S":
        block = np.char.decode(block, "utf-8", errors="replace")
    if block.dtype.kind == "U":
        return pa.array(block.tolist(), type=pa.string())
    return pa.array(block)


def _table_chunks(
    source: Source, layout: Layout, ignore: Sequence[str], first_index: int
) -> Iterator[Chunk]:
    same_table = not layout.separate_labels
    columns = list(layout.prediction_columns)
    types: dict[str, pa.DataType] = {c: pa.float64() for c in columns}
    for extra in (layout.id_column, layout.weight_column, layout.bytes_column):
        if extra is not None and extra not in columns:
            columns.append(extra)
    for numeric in (layout.weight_column, layout.bytes_column):
        if numeric:
            types[numeric] = pa.float64()
    label_names = [layout.label_column] if layout.label_column else list(layout.label_columns)
    if same_table:
        columns.extend(c for c in label_names if c not in columns)
        types.update(_label_types(source, layout))
    if source.text_cells and layout.id_column is not None:
        # Ids are text: a column that starts with numbers may hold names further down.
        types[layout.id_column] = pa.string()
    for name, in_labels in layout.group_columns:
        if not in_labels and name not in columns:
            columns.append(name)
            if source.text_cells:
                types[name] = _TEXT_KEYS

    align = (
        (_LabelJoin if layout.label_id_column else _LabelRows)(layout) if not same_table else None
    )
    offset = 0
    for batch in source.batches(columns, types):
        n = batch.num_rows
        keep = np.arange(n, dtype=np.int64)
        where = _describe(source, offset, keep)
        label_batch, label_where = batch, where
        if align is not None:
            label_batch, label_where = align.take(n, offset, where, batch)
        if layout.label_column:
            dropped = ignored_rows(label_batch.column(layout.label_column), ignore)
            if dropped is not None:
                # Ignored rows leave before any check: their cells may be empty.
                keep = np.flatnonzero(~dropped)
                batch, label_batch = _take(batch, keep), _take(label_batch, keep)
                where = _describe(source, offset, keep)
                label_where = _renumbered(label_where, keep)
        weights = (
            _vector(batch, layout.weight_column, where, "the weight")
            if layout.weight_column
            else np.ones(len(keep))
        )
        yield Chunk(
            rows=keep + (first_index + offset),
            n_read=n,
            values=_matrix(batch, layout.prediction_columns, where),
            weights=weights,
            ids=(
                text_values(batch.column(layout.id_column))
                if layout.id_column is not None
                else None
            ),
            labels=(
                plain_array(label_batch.column(layout.label_column))
                if layout.label_column
                else None
            ),
            targets=(
                _matrix(label_batch, layout.label_columns, label_where)
                if layout.label_columns
                else None
            ),
            where=where,
            label_where=label_where,
            groups=tuple(
                plain_array((label_batch if in_labels else batch).column(name))
                for name, in_labels in layout.group_columns
            ),
            bytes=(_row_bytes(batch, layout.bytes_column, where) if layout.bytes_column else None),
        )
        offset += n
    if align is not None:
        align.finish(offset, source)


def _sequence_chunks(
    source: Source, layout: Layout, ignore: Sequence[str], first_index: int
) -> Iterator[Chunk]:
    """Chunks of a list column: every element is a sample, every row a group.

    Samples are numbered across the whole input, element by element; a null
    element (a token with no value, such as the first one) is left out and
    counted with the ignored samples. Row values (id, weight, ``--by`` columns)
    apply to every element of their row.
    """
    import pyarrow.compute as pc

    column = layout.prediction_columns[0]
    columns = [column]
    types: dict[str, pa.DataType] = {column: pa.list_(pa.float64())}
    for extra in (
        layout.label_column,
        layout.id_column,
        layout.weight_column,
        layout.bytes_column,
    ):
        if extra is not None and extra not in columns:
            columns.append(extra)
    for numeric in (layout.weight_column, layout.bytes_column):
        if numeric:
            types[numeric] = pa.float64()
    for name, _ in layout.group_columns:
        if name not in columns:
            columns.append(name)
    offset = 0  # rows read
    element = 0  # elements read
    for batch in source.batches(columns, types):
        n_rows = batch.num_rows
        lists = plain_array(batch.column(column))
        lengths = pc.fill_null(pc.list_value_length(lists), 0)
        parents = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
        flat = plain_array(pc.list_flatten(lists))
        first_of_row = np.concatenate([[0], np.cumsum(numpy_view(lengths))[:-1]]).astype(np.int64)
        keep = np.flatnonzero(~null_mask(flat)) if flat.null_count else np.arange(len(flat))
        labels = None
        if layout.label_column:
            label_lists = plain_array(batch.column(layout.label_column))
            _check_lengths(source, layout, lists, label_lists, offset)
            labels = plain_array(pc.list_flatten(label_lists))
            dropped = ignored_rows(labels.take(pa.array(keep)), ignore)
            if dropped is not None:
                keep = keep[~dropped]
            labels = labels.take(pa.array(keep))
        owner = parents[keep]  # the row of each kept element
        positions = keep - first_of_row[owner]

        def where(
            i: int, owner: IntArray = owner, positions: IntArray = positions, base: int = offset
        ) -> str:
            row = base + int(owner[i])
            return f"{source.name}: {source.where(row)}, element {int(positions[i]) + 1}"

        take = pa.array(owner)
        every = np.arange(n_rows, dtype=np.int64)
        weights = np.ones(len(owner))
        if layout.weight_column:
            row_weights = _vector(
                batch, layout.weight_column, _describe(source, offset, every), "the weight"
            )
            weights = row_weights[owner]
        sample_bytes = None
        if layout.bytes_column:
            row_bytes = _row_bytes(batch, layout.bytes_column, _describe(source, offset, every))
            first = np.ones(len(owner), dtype=bool)
            first[1:] = owner[1:] != owner[:-1]
            sample_bytes = np.where(first, row_bytes[owner], 0.0)
        if layout.group_columns:
            groups = tuple(
                plain_array(batch.column(name)).take(take) for name, _ in layout.group_columns
            )
        elif layout.id_column is not None:
            groups = (text_values(batch.column(layout.id_column)).take(take),)
        else:
            groups = (pa.array(owner + first_index + offset),)
        yield Chunk(
            rows=keep + (first_index + element),
            n_read=len(flat),
            values=np.array(float_column(flat.take(pa.array(keep))), dtype=np.float64),
            weights=weights,
            ids=text_values(batch.column(layout.id_column)).take(take)
            if layout.id_column is not None
            else None,
            labels=labels,
            targets=None,
            where=where,
            label_where=where,
            groups=groups,
            bytes=sample_bytes,
        )
        offset += n_rows
        element += len(flat)


def _row_bytes(batch: Any, column: str, where: Where) -> FloatArray:
    """The ``--bytes-col`` values of a batch: finite and non-negative."""
    values = _vector(batch, column, where, "the byte count")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"{where(row)}, column {column!r}: byte count {float(values[row])!r} is not a "
            "number of bytes (>= 0)"
        )
    return values


def _check_lengths(
    source: Source, layout: Layout, values: pa.Array, labels: pa.Array, offset: int
) -> None:
    """Every row's list of labels is as long as its list of values."""
    import pyarrow.compute as pc

    ours = numpy_view(pc.fill_null(pc.list_value_length(values), 0))
    theirs = numpy_view(pc.fill_null(pc.list_value_length(labels), 0))
    bad = np.flatnonzero(ours != theirs)
    if len(bad):
        row = int(bad[0])
        raise DataError(
            f"{source.name}: {source.where(offset + row)}: {layout.prediction_columns[0]!r} holds "
            f"{int(ours[row])} values but {layout.label_column!r} holds {int(theirs[row])} "
            "labels; each element needs its label"
        )


#: How text cells of label and group columns are read: dictionary-encoded, so
#: that mapping them to classes or groups touches each distinct value once.
_TEXT_KEYS = pa.dictionary(pa.int32(), pa.string())


def _label_types(source: Source, layout: Layout) -> dict[str, pa.DataType]:
    """How the label column(s) are read: labels as text, targets as floats."""
    types: dict[str, pa.DataType] = {c: pa.float64() for c in layout.label_columns}
    if source.text_cells and layout.label_column:
        # Labels are read as text: a column of mixed names and numbers stays readable.
        # Plain text reads faster than dictionary-encoded text, and short labels are
        # coded from their bytes (read.arrow.distinct_codes).
        types[layout.label_column] = pa.string()
    if source.text_cells and layout.separate_labels:
        types.update({name: _TEXT_KEYS for name, in_labels in layout.group_columns if in_labels})
    return types


def _describe(source: Source, offset: int, rows: IntArray) -> Where:
    """Name row i of a chunk (its rows are ``rows`` of the batch read at ``offset``)."""

    def where(i: int) -> str:
        return f"{source.name}: {source.where(offset + int(rows[i]))}"

    return where


def _renumbered(where: Where, rows: IntArray) -> Where:
    return lambda i: where(int(rows[i]))


def _take(batch: pa.RecordBatch | pa.Table, rows: IntArray) -> Any:
    return batch.take(pa.array(rows, type=pa.int64()))


def _vector(batch: Any, column: str, where: Where, what: str) -> FloatArray:
    array = batch.column(column)
    if array.null_count:
        row = int(np.argmax(null_mask(array)))
        raise DataError(
            f"{where(row)}, column {column!r}: {what} is missing; fill the cell or drop the row"
        )
    if not (
        pa.types.is_floating(array.type)
        or pa.types.is_integer(array.type)
        or pa.types.is_decimal(array.type)
    ):
        raise DataError(
            f"{where(0)}, column {column!r}: {what} column holds {_kind(array.type)}, not numbers"
        )
    return float_column(array)


def _kind(data_type: pa.DataType) -> str:
    """What a column holds, in words."""
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "text"
    if pa.types.is_boolean(data_type):
        return "true/false values"
    if pa.types.is_nested(data_type):
        return "lists or records"
    return f"{data_type} values"


def _matrix(batch: Any, columns: Sequence[str], where: Where) -> FloatArray:
    if len(columns) == 1:
        return np.array(_vector(batch, columns[0], where, "the prediction"), dtype=np.float64)
    if isinstance(batch, pa.RecordBatch):
        chosen = batch.select(list(columns))
        if all(pa.types.is_float64(t) for t in chosen.schema.types) and not any(
            a.null_count for a in chosen.columns
        ):
            # One copy in C++, row by row: far cheaper than a copy per column when
            # there are many columns.
            matrix: FloatArray = np.asarray(chosen.to_tensor(row_major=True))
            return matrix
    out = np.empty((batch.num_rows, len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        out[:, j] = _vector(batch, column, where, "the value")
    return out


class _LabelRows:
    """Labels from a separate file, aligned to prediction batches by row position.

    The labels file is read in step with the predictions, so it is never held
    whole.
    """

    def __init__(self, layout: Layout) -> None:
        self.source = layout.label_source
        names = [layout.label_column] if layout.label_column else list(layout.label_columns)
        names += [n for n, in_labels in layout.group_columns if in_labels and n not in names]
        self.batches = self.source.batches(names, _label_types(self.source, layout))
        self.pending: list[pa.RecordBatch] = []
        self.buffered = 0
        self.taken = 0

    def take(self, n: int, offset: int, where: Where, batch: Any = None) -> tuple[pa.Table, Where]:
        """The next ``n`` label rows (for the prediction rows from ``offset`` on), and
        how to name them."""
        while self.buffered < n:
            more = next(self.batches, None)
            if more is None:
                hint = (
                    f"; if {self.source.name} has no header line, pass --labels-no-header"
                    if self.source.header_lines
                    else ""
                )
                raise DataError(
                    f"{where(self.buffered)}: the predictions have more rows than the labels in "
                    f"{self.source.name} ({self.taken + self.buffered}); both files need one row "
                    f"per sample, or join them with --id-col{hint}"
                )
            self.pending.append(more)
            self.buffered += more.num_rows
        table = pa.Table.from_batches(self.pending)
        rows, rest = table.slice(0, n), table.slice(n)
        self.pending = rest.to_batches() if rest.num_rows else []
        self.buffered -= n
        start = self.taken
        self.taken += n
        source = self.source
        return rows.combine_chunks(), lambda i: f"{source.name}: {source.where(start + i)}"

    def finish(self, n_pred_rows: int, predictions: Source) -> None:
        """Fail when label rows are left over."""
        left = self.buffered + sum(b.num_rows for b in self.batches)
        if left:
            total = self.taken + left
            hint = ""
            if left == 1 and predictions.header_lines:
                hint = f"; if {predictions.name} has no header line, pass --no-header"
            raise DataError(
                f"{self.source.name}: has {total} label rows but {predictions.name} has "
                f"{n_pred_rows} prediction rows; both files need one row per sample{hint}"
            )


class _LabelJoin:
    """Labels from a separate file, joined to prediction batches on an id column.

    The labels file is read whole once and its ids indexed once
    (:class:`~xent.join.IdIndex`); each prediction batch then looks its ids up
    there.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        source = self.source = layout.label_source
        assert layout.label_id_column is not None
        names = [layout.label_column] if layout.label_column else list(layout.label_columns)
        names += [n for n, in_labels in layout.group_columns if in_labels and n not in names]
        needed = list(names)
        if layout.label_id_column not in names:
            names.append(layout.label_id_column)
        types = _label_types(source, layout)
        if source.text_cells:
            types[layout.label_id_column] = pa.string()
        table = source.read_all(names, types)
        self.ids = table.column(layout.label_id_column)
        # Only the columns needed are taken per batch (the ids are kept for messages).
        self.table = table.select(needed)
        try:
            self.index = IdIndex(self.ids)
        except DuplicateId as twice:
            raise DataError(
                f"{source.name}: {source.where(twice.second)}: id {self._id(twice.second)!r} "
                f"appears twice in the labels (first at {source.where(twice.first)}); ids must "
                "be unique"
            ) from None
        self.seen = np.zeros(self.table.num_rows, dtype=bool)

    def _id(self, row: int) -> Any:
        """The id of label row ``row``, as read."""
        return self.ids[row].as_py()

    def take(self, n: int, offset: int, where: Where, batch: Any = None) -> tuple[pa.Table, Where]:
        """The label rows matching the ids of one prediction ``batch``, and how to name them."""
        assert self.layout.id_column is not None
        ids = batch.column(self.layout.id_column)
        positions = self.index.positions(ids)
        if (positions < 0).any():
            row = int(np.argmax(positions < 0))
            raise DataError(
                f"{where(row)}: id {ids[row].as_py()!r} has no label in {self.source.name}; "
                "every prediction needs a label row with the same id"
            )
        repeated = self.seen[positions] | repeats(positions)
        if repeated.any():
            row = int(np.argmax(repeated))
            raise DataError(
                f"{where(row)}: id {ids[row].as_py()!r} appears more than once in the "
                "predictions; ids must be unique"
            )
        self.seen[positions] = True
        source = self.source
        return (
            self.table.take(pa.array(positions)),
            lambda i: f"{source.name}: {source.where(int(positions[i]))}",
        )

    def finish(self, n_pred_rows: int, predictions: Source) -> None:
        """Fail when some label row was never matched by a prediction."""
        if self.seen.all():
            return
        first = int(np.argmax(~self.seen))
        raise DataError(
            f"{self.source.name}: {self.source.where(first)}: id {self._id(first)!r} has no "
            f"prediction in {predictions.name}; every label needs a prediction row with the same id"
        )
