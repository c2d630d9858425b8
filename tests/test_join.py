"""The NumPy hash table behind joins on --id-col and text groups of --by."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xent.join import DuplicateId, IdIndex, KeyTable

# Short keys drawn from a small alphabet repeat often; NUL and long keys test the padding.
keys = st.one_of(
    st.none(),
    st.text(alphabet="ab\x00é", max_size=3),
    st.text(alphabet="xyz", min_size=20, max_size=40),
    st.text(alphabet="xé", min_size=62, max_size=130),  # about the 128-byte digest edge
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(keys, max_size=300), min_size=1, max_size=5))
def test_keys_are_numbered_in_order_of_first_sight(batches: list[list[str | None]]) -> None:
    table, reference = KeyTable(), {}
    for batch in batches:
        expected = [reference.setdefault(key, len(reference)) for key in batch]
        assert table.add(pa.array(batch, pa.string())).tolist() == expected
        assert len(table) == len(reference)
    probe = [*reference, "never added", "z" * 100]
    assert table.find(pa.array(probe, pa.string())).tolist() == [*reference.values(), -1, -1]


def test_many_keys_grow_the_table_and_keep_their_numbers() -> None:
    rng = np.random.default_rng(7)
    table, reference = KeyTable(), {}
    for _ in range(10):
        batch = [f"id-{n}" * (n % 4 + 1) for n in rng.integers(0, 20_000, size=10_000).tolist()]
        expected = [reference.setdefault(key, len(reference)) for key in batch]
        assert table.add(pa.array(batch)).tolist() == expected
    assert len(table) == len(reference) > 10_000


def test_trailing_nul_and_missing_keys_are_distinct_keys() -> None:
    table = KeyTable()
    assert table.add(pa.array(["a", "a\x00", None, "", None])).tolist() == [0, 1, 2, 3, 2]


def test_dictionary_and_large_string_keys_match_plain_ones() -> None:
    table = KeyTable()
    table.add(pa.array(["u", "v"]))
    assert table.find(pa.array(["v", "u"], pa.large_string())).tolist() == [1, 0]
    assert table.find(pa.array(["v", "w"]).dictionary_encode()).tolist() == [1, -1]


def test_an_id_index_gives_positions_and_names_a_repeated_id() -> None:
    index = IdIndex(pa.array(["r1", "r2", "r3"]))
    assert index.positions(pa.array(["r3", "nope", "r1"])).tolist() == [2, -1, 0]
    with pytest.raises(DuplicateId) as caught:
        IdIndex(pa.array(["x", "y", "z", "y", "x"]))
    assert (caught.value.first, caught.value.second) == (1, 3)


def test_long_keys_are_held_by_digest_and_do_not_widen_the_table() -> None:
    """A key of 128 bytes or more is held as a digest: keys that differ only in their
    last byte stay apart, equal ones meet, and one 2 MB key leaves the table narrow."""
    long_a, long_b = "x" * 2_000_000 + "a", "x" * 2_000_000 + "b"
    edge = "y" * 127  # one byte short of a digest
    table = KeyTable()
    numbers = table.add(pa.array(["short", long_a, long_b, edge, long_a, edge + "z"]))
    assert numbers.tolist() == [0, 1, 2, 3, 1, 4]
    assert table.find(pa.array([long_b, "x" * 2_000_000, edge, None])).tolist() == [2, -1, 3, -1]
    assert table._words.shape[1] * 8 <= 128
    index = IdIndex(pa.array([long_a, "r2", long_b]))
    assert index.positions(pa.array([long_b, long_a, "r2"])).tolist() == [2, 0, 1]


@settings(max_examples=150, deadline=None)
@given(
    ids=st.lists(st.text(alphabet="ab é", max_size=4), max_size=40),
    probe=st.lists(st.text(alphabet="ab é", max_size=4), max_size=40),
    block=st.integers(1, 9),
    chunks=st.integers(1, 3),
)
def test_an_id_index_built_and_probed_in_blocks_is_the_whole_index(
    ids: list[str], probe: list[str], block: int, chunks: int
) -> None:
    """However the ids fall into blocks (and Arrow chunks), positions and the repeated
    id named are those of the ids taken whole, compared trimmed (as join keys)."""
    cut = len(ids) // chunks
    column = pa.chunked_array(
        [ids[i * cut : (i + 1) * cut if i < chunks - 1 else None] for i in range(chunks)],
        pa.string(),
    )
    trimmed = [i.strip() for i in ids]
    first_of: dict[str, int] = {}
    repeat = next(
        ((first_of[t], j) for j, t in enumerate(trimmed) if first_of.setdefault(t, j) != j),
        None,
    )
    with mock.patch("xent.join._INDEX_ROWS", block):
        if repeat is not None:
            with pytest.raises(DuplicateId) as caught:
                IdIndex(column)
            assert (caught.value.first, caught.value.second) == repeat
            return
        index = IdIndex(column)
        positions = index.positions(pa.array(probe, pa.string())).tolist()
    assert positions == [first_of.get(p.strip(), -1) for p in probe]


def test_a_table_made_for_its_keys_never_grows() -> None:
    """With its capacity given, the table holds that many keys in the arrays it started
    with (no doubling); its slots hold 32-bit key numbers."""
    keys = pa.array([f"k{n}" for n in range(5_000)])
    table = KeyTable(capacity=5_000)
    words, slots = table._words, table._slots
    assert table.add(keys).tolist() == list(range(5_000))
    assert table._slots is slots
    assert len(table._words) == len(words) == 5_000
    assert slots.dtype == np.int32
    assert len(slots) == 16_384  # a power of two, at least twice the keys
    assert table.find(pa.array(["k4999", "k0", "k5000"])).tolist() == [4_999, 0, -1]
