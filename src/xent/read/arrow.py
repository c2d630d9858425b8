"""Arrow arrays to NumPy, without pandas and without copies where possible.

Shared by every reader and by the decode stage. pyarrow's own ``to_numpy``
imports pandas and ``cast`` loads pyarrow.compute; these helpers view the
buffers of primitive arrays directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent.errors import InputError

FloatArray = npt.NDArray[np.float64]

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


def plain_array(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (chunked arrays are combined)."""
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks()
    return array


def numpy_view(array: pa.Array | pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """The values of an Arrow boolean or numeric array as NumPy, ignoring nulls.

    Primitive arrays are viewed in place: check ``null_count`` first, since the
    slots of nulls hold arbitrary values.
    """
    array = plain_array(array)
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


def null_mask(array: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """True where ``array`` holds a null."""
    array = plain_array(array)
    validity = array.buffers()[0]
    if validity is None or array.null_count == 0:
        if pa.types.is_null(array.type):
            return np.ones(len(array), dtype=bool)
        return np.zeros(len(array), dtype=bool)
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    mask: npt.NDArray[np.bool_] = bits[array.offset : array.offset + len(array)] == 0
    return mask


def float_column(array: pa.Array | pa.ChunkedArray) -> FloatArray:
    """A float64 NumPy array from an Arrow numeric array with no nulls.

    Float64 buffers are viewed directly, other numbers converted.
    """
    array = plain_array(array)
    if pa.types.is_decimal(array.type):
        return np.asarray([float(v) for v in array.to_pylist()], dtype=np.float64)
    values = numpy_view(array)
    if values.dtype != np.float64:
        return values.astype(np.float64)
    return values


def is_numeric(data_type: pa.DataType) -> bool:
    """True for integer, floating-point and decimal types (and all-null columns)."""
    if pa.types.is_dictionary(data_type):
        return False
    if pa.types.is_null(data_type):
        return True  # a column with no values yet (header only, or all cells empty)
    return bool(
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
    )


def text_values(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Ids or labels as a plain (not dictionary-encoded) array, binary decoded as UTF-8.

    Bytes that are not UTF-8 are replaced (U+FFFD), so an id always prints as text,
    never as a Python ``b'...'`` literal.
    """
    array = plain_array(array)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        array = pa.array(
            [None if v is None else v.decode("utf-8", errors="replace") for v in array.to_pylist()],
            type=pa.string(),
        )
    return array


def cast_batch(batch: pa.RecordBatch, types: dict[str, pa.DataType]) -> pa.RecordBatch:
    """Cast the columns named in ``types`` to floating point, or lists of it (labels and
    ids stay as read)."""
    if not types:
        return batch
    arrays = []
    for column, array in zip(batch.schema.names, batch.columns, strict=True):
        target = types.get(column)
        if target is not None and array.type != target and _numeric_target(target, array.type):
            array = array.cast(target, safe=False)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _numeric_target(target: pa.DataType, current: pa.DataType) -> bool:
    if pa.types.is_floating(target):
        return True
    return bool(
        pa.types.is_list(target)
        and pa.types.is_floating(target.value_type)
        and (pa.types.is_list(current) or pa.types.is_large_list(current))
    )


def check_unique_names(name: str, names: Sequence[str]) -> None:
    """Fail when a column name appears twice (xent finds columns by name)."""
    seen: set[str] = set()
    for column in names:
        if column in seen:
            raise InputError(
                f"{name}: column {column!r} appears twice; give every column a unique name"
            )
        seen.add(column)
