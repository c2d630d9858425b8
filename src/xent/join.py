"""Distinct keys numbered by a hash table in NumPy: the ids of a join, the groups of ``--by``.

A :class:`KeyTable` holds text keys as bytes in one fixed-width array and an
open-addressing hash table (linear probing, at most half full) from their
64-bit hashes to their numbers, given in order of first sight. Keys are added
and looked up a whole array at a time, with a few vectorised probes each
confirmed by comparing the bytes, so no Python object is made per key: a
million ids take tens of megabytes, not the hundred and more of a Python
dictionary of strings, and a batch is looked up without rebuilding anything.

:class:`IdIndex` is the index of a labels file on ``--id-col`` (and of the
candidate's ids when ``compare`` pairs by id); ``GroupSums`` numbers the groups
of one text column with a :class:`KeyTable`.

Each key is stored as its UTF-8 bytes followed by the byte 0xFF, which never
occurs in UTF-8 text, so keys that differ only in trailing NUL characters stay
different; a missing key (null) is the single byte 0xFE (also never in UTF-8),
so missing keys match each other and nothing else. A key of 128 bytes or more
is held as the byte 0xFD and a 256-bit BLAKE2 digest of it: the table's width,
and so its memory, is bounded whatever the input holds (two different keys
would need the same cryptographic digest to be taken for one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent.errors import DataError
from xent.read.arrow import text_buffers, text_values

IntArray = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]

_END = 0xFF
_MISSING = b"\xfe"
#: Keys this long or longer are held as 0xFD and a 256-bit BLAKE2 digest of their
#: bytes, so that one long key cannot widen every key of the table.
_LONG_KEY = 128
_DIGEST = b"\xfd"
#: Rows padded at once (bounds the temporary index arrays).
_BLOCK_ROWS = 1 << 16
#: Ids indexed or looked up at once by :class:`IdIndex`.
_INDEX_ROWS = 1 << 18
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = -1


class KeyTable:
    """Distinct text keys, numbered 0, 1, ... in the order they are first added."""

    def __init__(self, capacity: int = 0) -> None:
        """An empty table; ``capacity``, the number of keys expected, is allocated at
        once (the table grows past it by doubling)."""
        rows = max(64, capacity)
        self._words: Words = np.zeros((rows, 1), dtype=np.uint64)
        self._hashes: Words = np.zeros(rows, dtype=np.uint64)
        self._slots = _empty_slots(rows)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, keys: pa.Array | pa.ChunkedArray) -> IntArray:
        """The number of each of ``keys``, adding those not seen before (equal keys get
        one number)."""
        words, _ = self._encoded(keys, grow=True)
        hashes = _hash(words)
        found = self._find(words, hashes)
        new = np.flatnonzero(found < 0)
        ordered = np.sort(hashes[new])
        if not (ordered[1:] == ordered[:-1]).any():  # distinct hashes: distinct keys
            found[new] = self._store(words[new], hashes[new])
        else:
            # Equal new keys share the number of the first of them.
            _, first, inverse = np.unique(
                _rows_as_bytes(words[new]), return_index=True, return_inverse=True
            )
            order = np.argsort(first, kind="stable")  # numbers in order of first sight
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            chosen = new[first[order]]
            numbers = self._store(words[chosen], hashes[chosen])
            found[new] = numbers[rank[inverse.reshape(-1)]]
        return found

    def find(self, keys: pa.Array | pa.ChunkedArray) -> IntArray:
        """The number of each of ``keys``, -1 for a key never added."""
        words, fits = self._encoded(keys, grow=False)
        found = np.full(len(words), -1, dtype=np.int64)
        todo = np.flatnonzero(fits)
        found[todo] = self._find(words[todo], _hash(words[todo]))
        return found

    def _encoded(self, keys: pa.Array | pa.ChunkedArray, grow: bool) -> tuple[Words, Any]:
        """``keys`` as rows of words of the table's width (widened first if ``grow`` and
        a key is longer), and which keys fit in that width."""
        rows, fits = _padded(keys, None if grow else self._words.shape[1] * 8)
        width = rows.shape[1] // 8
        if width > self._words.shape[1]:
            self._widen(width)
        elif width < self._words.shape[1]:
            wider = np.zeros((len(rows), self._words.shape[1] * 8), dtype=np.uint8)
            wider[:, : rows.shape[1]] = rows
            rows = wider
        return rows.view("<u8"), fits

    def _widen(self, width: int) -> None:
        """Make room for longer keys: the stored keys are padded and hashed again."""
        words = np.zeros((len(self._words), width), dtype=np.uint64)
        words[:, : self._words.shape[1]] = self._words
        self._words = words
        self._hashes[: self._n] = _hash(words[: self._n])
        self._slots[:] = _EMPTY
        self._place(np.arange(self._n, dtype=np.int64))

    def _store(self, words: Words, hashes: Words) -> IntArray:
        """Add distinct new keys (with their hashes); their numbers."""
        start, m = self._n, len(words)
        if start + m > len(self._words):
            size = max(start + m, 2 * len(self._words))
            grown = np.zeros((size, self._words.shape[1]), dtype=np.uint64)
            grown[:start] = self._words[:start]
            grown_hashes = np.zeros(size, dtype=np.uint64)
            grown_hashes[:start] = self._hashes[:start]
            self._words, self._hashes = grown, grown_hashes
        self._words[start : start + m] = words
        self._hashes[start : start + m] = hashes
        self._n = start + m
        numbers = np.arange(start, start + m, dtype=np.int64)
        if 2 * self._n > len(self._slots):
            self._slots = _empty_slots(self._n)
            self._place(np.arange(self._n, dtype=np.int64))
        else:
            self._place(numbers)
        return numbers

    def _place(self, numbers: IntArray) -> None:
        """Put keys (distinct, and not yet in the table) in free slots."""
        mask = np.uint64(len(self._slots) - 1)
        at = (self._hashes[numbers] & mask).astype(np.int64)
        pending = numbers
        while len(pending):
            free = self._slots[at] == _EMPTY
            # Of the keys probing the same free slot, one takes it (the last written);
            # the others probe it again, and move on once it is taken.
            self._slots[at[free]] = pending[free]
            placed = free & (self._slots[at] == pending)
            at = np.where(free, at, (at + 1) & int(mask))
            pending, at = pending[~placed], at[~placed]

    def _find(self, words: Words, hashes: Words) -> IntArray:
        """The number of each key of ``words`` (of the table's width), -1 where absent."""
        mask = len(self._slots) - 1
        found = np.full(len(words), -1, dtype=np.int64)
        todo = np.arange(len(words), dtype=np.int64)
        at = (hashes & np.uint64(mask)).astype(np.int64)
        while len(todo):
            occupant = self._slots[at]
            full = occupant != _EMPTY
            match = np.zeros(len(todo), dtype=bool)
            hit = np.flatnonzero(full)
            hit = hit[self._hashes[occupant[hit]] == hashes[todo[hit]]]
            match[hit] = (self._words[occupant[hit]] == words[todo[hit]]).all(axis=1)
            found[todo[match]] = occupant[match]
            going = full & ~match
            todo, at = todo[going], (at[going] + 1) & mask
        return found


def _empty_slots(keys: int) -> npt.NDArray[np.int32] | IntArray:
    """Free slots for ``keys`` keys: a power of two, at least twice as many, holding key
    numbers as 32-bit integers (half the memory) unless there could be more than 2**31."""
    size = 128
    while size < 2 * keys:
        size *= 2
    if size <= 1 << 31:
        return np.full(size, _EMPTY, dtype=np.int32)
    return np.full(size, _EMPTY, dtype=np.int64)


class DuplicateId(DataError):
    """An id that appears twice among the labels: ``first`` and ``second`` are its rows."""

    def __init__(self, first: int, second: int) -> None:
        super().__init__(f"rows {first} and {second} hold the same id")
        self.first, self.second = first, second


class IdIndex:
    """The positions of a column of unique ids, for looking other ids up.

    ``ids`` are text, bytes or numbers, compared as :func:`join_keys`; building raises
    :class:`DuplicateId` when two are equal. Ids are indexed and looked up
    :data:`_INDEX_ROWS` at a time, so the memory beyond the table itself stays
    small whatever the number of ids.
    """

    def __init__(self, ids: pa.Array | pa.ChunkedArray) -> None:
        self._table = KeyTable(capacity=len(ids))
        for start in range(0, len(ids), _INDEX_ROWS):
            numbers = self._table.add(join_keys(ids.slice(start, _INDEX_ROWS)))
            if len(self._table) < start + len(numbers):
                # The ids before the first repeat are unique, so each is numbered by its
                # position, and the repeat by the position of its first appearance.
                second = int(np.argmax(numbers != np.arange(start, start + len(numbers))))
                raise DuplicateId(int(numbers[second]), start + second)

    def positions(self, ids: pa.Array | pa.ChunkedArray) -> IntArray:
        """The position of each of ``ids`` among the indexed ids, -1 where it is absent."""
        found = np.empty(len(ids), dtype=np.int64)
        for start in range(0, len(ids), _INDEX_ROWS):
            block = ids.slice(start, _INDEX_ROWS)
            found[start : start + len(block)] = self._table.find(join_keys(block))
        return found


def _rows_as_bytes(words: Words) -> npt.NDArray[np.void]:
    """Each row of ``words`` as one opaque value, compared byte by byte."""
    rows = np.ascontiguousarray(words)
    return rows.view(np.dtype((np.void, rows.shape[1] * 8))).reshape(-1)


def _hash(words: Words) -> Words:
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
    long = pc.greater_equal(pc.binary_length(values), _LONG_KEY)
    if pc.any(long).as_py():
        import hashlib

        digests = [
            _DIGEST + hashlib.blake2b(value, digest_size=32).digest()
            for value in values.filter(long).to_pylist()
        ]
        values = pc.replace_with_mask(values, long, pa.array(digests, target))
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
    offsets, data = text_buffers(values)
    offsets = offsets.astype(np.int64)
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
