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


def arrow_view(values: np.ndarray[Any, Any]) -> pa.Array:
    """A 1-D NumPy array of a numeric type as an Arrow array over the same memory.

    ``pa.array`` on a NumPy array first checks for masked arrays, which imports
    ``numpy.ma`` (10 ms) the first time; the CSV writer would pay that once per
    run for nothing.
    """
    if values.dtype.kind not in "iuf":
        raise TypeError(f"arrow_view takes numbers, not {values.dtype}")
    values = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))
    arrow_type = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(values)])


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


def text_buffers(array: pa.Array) -> tuple[npt.NDArray[Any], npt.NDArray[np.uint8]]:
    """The offsets (``len(array) + 1`` of them: value ``i`` is ``data[offsets[i] :
    offsets[i + 1]]``) and the bytes of a string or binary array, viewed in place
    (int32 offsets, int64 for the large types)."""
    _, offsets_buffer, data_buffer = array.buffers()
    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    offset_type = np.int64 if large else np.int32
    offsets = np.frombuffer(
        offsets_buffer,
        dtype=offset_type,
        count=len(array) + 1,
        offset=array.offset * np.dtype(offset_type).itemsize,
    )
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(0, np.uint8)
    return offsets, data


#: Keys of the text values of at most two bytes: 0 for the empty text, else
#: ``(first byte + 1) * 257 + (second byte + 1, or 0)``.
_SHORT_KEYS = 257 * 257


def distinct_codes(array: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.intp], pa.Array]:
    """Each row's code and the distinct values the codes stand for (a dictionary,
    in the order the values first appear, as pyarrow's dictionary encoding has it).

    Label and group columns hold few distinct values. A dictionary-encoded
    array is used as it is. A text column whose values are at most two bytes
    long (``0``/``1``, class numbers below 100) is coded from its bytes by
    NumPy (1e7 one-byte labels in 0.05 s, where pyarrow's dictionary encoding
    takes 0.26 s; two-byte ones 1.6 times as fast), and reading text is faster
    than reading it dictionary-encoded; any other array is dictionary-encoded by
    pyarrow. Codes of null rows are arbitrary: check ``null_count`` first.
    """
    array = plain_array(array)
    if pa.types.is_dictionary(array.type):
        return numpy_view(array.indices).astype(np.intp), array.dictionary
    short = _short_text_codes(array)
    if short is not None:
        return short
    encoded = array.dictionary_encode()
    return numpy_view(encoded.indices).astype(np.intp), encoded.dictionary


def _short_text_codes(array: pa.Array) -> tuple[npt.NDArray[np.intp], pa.Array] | None:
    """:func:`distinct_codes` from the bytes of a text array with no value longer
    than two bytes (None for any other array)."""
    n = len(array)
    if array.type != pa.string() or array.null_count or n == 0:
        return None
    offsets, data = text_buffers(array)
    lengths = np.diff(offsets)
    longest = lengths.max()
    if longest > 2:
        return None
    keys: npt.NDArray[Any]
    if longest == 1 and lengths.min() == 1:
        # One byte each (0/1, digits): the bytes themselves are the keys.
        start = int(offsets[0])
        keys, size = data[start : start + n], 256
    else:
        keys, size = np.zeros(n, dtype=np.intp), _SHORT_KEYS
        if len(data):
            starts = offsets[:-1]
            first = data.take(starts, mode="clip").astype(np.intp) + 1
            second = data.take(starts + 1, mode="clip").astype(np.intp) + 1
            keys = np.where(lengths > 0, first * 257, 0) + np.where(lengths > 1, second, 0)
    present = _first_seen(keys, int(np.count_nonzero(np.bincount(keys, minlength=size))))
    table = np.zeros(size, dtype=np.intp)
    table[present] = np.arange(len(present))
    texts = [_key_text(key, size) for key in present.tolist()]
    return table[keys], pa.array(texts, type=pa.string())


def _key_text(key: int, size: int) -> str:
    """The text a key of :func:`_short_text_codes` stands for (a byte when there are
    256 keys, else :data:`_SHORT_KEYS`' two-byte form)."""
    raw = bytes([key]) if size == 256 else bytes(b - 1 for b in (key // 257, key % 257) if b)
    return raw.decode("utf-8", errors="replace")


def _first_seen(keys: npt.NDArray[Any], distinct: int) -> npt.NDArray[Any]:
    """The ``distinct`` values of ``keys`` in the order they first appear, found in
    prefixes growing eightfold (the values of a label column usually all appear
    within its first rows)."""
    m = 64
    while True:
        seen, first = np.unique(keys[:m], return_index=True)
        if len(seen) == distinct or m >= len(keys):
            ordered: npt.NDArray[Any] = seen[np.argsort(first)]
            return ordered
        m *= 8


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
