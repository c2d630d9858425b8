"""Ids of a labels file, looked up by the ids of prediction batches (``--id-col``).

The ids of the labels are held as bytes in one fixed-width array, and an
open-addressing hash table (linear probing, at most half full) maps their
64-bit hashes to rows; it is built once, and a batch of prediction ids is
looked up with a few vectorised probes, each confirmed by comparing the bytes.
A million ids take about 60 megabytes this way, not the 150 that a Python
dictionary of strings takes, and no hash table is rebuilt per batch.

Each id is stored as its UTF-8 bytes followed by the byte 0xFF, which never
occurs in UTF-8 text, so ids that differ only in trailing NUL characters stay
different; a missing id is the single byte 0xFE (also never in UTF-8), so
missing ids match each other and nothing else.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent.errors import DataError
from xent.read.arrow import text_values

IntArray = npt.NDArray[np.int64]

_END = 0xFF
_MISSING = b"\xfe"
#: Rows padded at once (bounds the temporary index arrays).
_BLOCK_ROWS = 1 << 16
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = -1


class DuplicateId(DataError):
    """An id that appears twice among the labels: ``first`` and ``second`` are its rows."""

    def __init__(self, first: int, second: int) -> None:
        super().__init__(f"rows {first} and {second} hold the same id")
        self.first, self.second = first, second


class IdIndex:
    """The positions of a column of unique ids, for looking other ids up.

    ``ids`` are text (or bytes); building raises :class:`DuplicateId` when two are equal.
    """

    def __init__(self, ids: pa.Array | pa.ChunkedArray) -> None:
        rows, _ = _padded(ids)
        self.width = rows.shape[1]
        self._words = rows.view("<u8")
        n = len(self._words)
        self._hashes = _hash(self._words)
        self._mask = (1 << max(4, (2 * n).bit_length())) - 1
        row_type = np.int32 if n < 2**31 else np.int64  # half the memory for most files
        self._slots = np.full(self._mask + 1, _EMPTY, dtype=row_type)
        pending = np.arange(n, dtype=np.int64)
        at = (self._hashes & np.uint64(self._mask)).astype(np.int64)
        while len(pending):
            occupant = self._slots[at]
            free = occupant == _EMPTY
            # Of the rows probing the same free slot, one takes it (the last written).
            self._slots[at[free]] = pending[free]
            placed = free & (self._slots[at] == pending)
            taken = ~free
            same = np.zeros(len(pending), dtype=bool)
            same[taken] = self._same(occupant[taken], pending[taken])
            if same.any():
                self._duplicate(int(pending[np.argmax(same)]))
            # A row that lost the race for a free slot probes it again (its winner may
            # hold the same id); a row that met another id moves on.
            at = np.where(free, at, (at + 1) & self._mask)
            pending, at = pending[~placed], at[~placed]

    def __len__(self) -> int:
        return len(self._words)

    def positions(self, ids: pa.Array | pa.ChunkedArray) -> IntArray:
        """The position of each of ``ids`` among the indexed ids, -1 where it is absent."""
        rows, fits = _padded(ids, self.width)
        words = rows.view("<u8")
        hashes = _hash(words)
        found = np.full(len(words), -1, dtype=np.int64)
        todo = np.flatnonzero(fits)
        at = (hashes[todo] & np.uint64(self._mask)).astype(np.int64)
        while len(todo):
            occupant = self._slots[at]
            full = occupant != _EMPTY
            match = np.zeros(len(todo), dtype=bool)
            hit = np.flatnonzero(full)
            hit = hit[self._hashes[occupant[hit]] == hashes[todo[hit]]]
            match[hit] = (self._words[occupant[hit]] == words[todo[hit]]).all(axis=1)
            found[todo[match]] = occupant[match]
            going = full & ~match
            todo, at = todo[going], (at[going] + 1) & self._mask
        return found

    def _same(self, rows: IntArray, others: IntArray) -> npt.NDArray[np.bool_]:
        """Whether each of ``rows`` holds the same id as the matching one of ``others``."""
        same: npt.NDArray[np.bool_] = self._hashes[rows] == self._hashes[others]
        hit = np.flatnonzero(same)
        same[hit] = (self._words[rows[hit]] == self._words[others[hit]]).all(axis=1)
        return same

    def _duplicate(self, row: int) -> None:
        """Raise :class:`DuplicateId` for the id of ``row``, naming its first two rows."""
        equal = np.flatnonzero((self._words == self._words[row]).all(axis=1))
        raise DuplicateId(int(equal[0]), int(equal[1]))


def _hash(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of every row of ``words`` (a multiply-xorshift mix, then splitmix64's
    finalizer)."""
    h = np.full(len(words), _MULTIPLIER, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            h ^= words[:, j]
            h *= _MULTIPLIER
            h ^= h >> np.uint64(29)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


def _binary(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``ids`` as one binary array with 32-bit offsets where possible, nulls made 0xFE."""
    import pyarrow.compute as pc

    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks else pa.array([], pa.binary())
    target = pa.large_binary() if pa.types.is_large_string(ids.type) else pa.binary()
    values = ids.cast(target)
    if values.null_count:
        values = pc.fill_null(values, pa.scalar(_MISSING, target))
    return values


def _padded(
    ids: pa.Array | pa.ChunkedArray, width: int | None = None
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """The ids as an (n, width) uint8 array, each followed by 0xFF and zeros, and which
    ids fit in it.

    Without ``width``: wide enough for the longest id (rounded up to 8 bytes). With
    it, a longer id is cut, and marked as not fitting (it matches nothing).
    """
    values = _binary(ids)
    n = len(values)
    offset_type = np.int64 if pa.types.is_large_binary(values.type) else np.int32
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(
        offsets_buffer,
        dtype=offset_type,
        count=n + 1,
        offset=values.offset * offset_type().itemsize,
    ).astype(np.int64)
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.zeros(0, np.uint8)
    )
    lengths = np.diff(offsets)
    longest = int(lengths.max()) if n else 0
    if width is None:
        width = -(-(longest + 1) // 8) * 8
    fits = lengths < width
    lengths = np.minimum(lengths, width - 1)
    out = np.zeros((n, width), dtype=np.uint8)
    for start in range(0, n, _BLOCK_ROWS):
        end = min(n, start + _BLOCK_ROWS)
        size = lengths[start:end]
        rows = np.repeat(np.arange(start, end), size)
        first = offsets[start:end]
        # The position of each byte within its id, and where that byte is in ``data``.
        within = np.arange(len(rows)) - np.repeat(np.cumsum(size) - size, size)
        out[rows, within] = data[np.repeat(first, size) + within]
        out[np.arange(start, end), size] = _END
    return out, fits


def join_keys(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Ids as the keys of a join: trimmed text (a number and its text form join)."""
    import pyarrow.compute as pc

    values = text_values(array)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    trimmed: pa.Array = pc.utf8_trim_whitespace(values)
    return trimmed


def repeats(positions: IntArray) -> npt.NDArray[np.bool_]:
    """True at every position whose value appeared earlier in the array."""
    order = np.argsort(positions, kind="stable")
    sorted_pos = positions[order]
    dup_sorted = np.zeros(len(positions), dtype=bool)
    dup_sorted[1:] = sorted_pos[1:] == sorted_pos[:-1]
    out = np.zeros(len(positions), dtype=bool)
    out[order] = dup_sorted
    return out
