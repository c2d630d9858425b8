"""The Arrow helpers of ``xent.read.arrow``: ``distinct_codes``, which codes label
and group columns, and ``arrow_view``, which hands NumPy numbers to Arrow.

``distinct_codes`` has three paths (dictionary arrays, text of at most two bytes
coded from its bytes, anything else dictionary-encoded by pyarrow); each must
give pyarrow's own dictionary encoding: the same codes and the same values, in
the order they first appear.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xent.read.arrow import arrow_view, distinct_codes

#: Values of zero, one and two bytes (one non-ASCII character is two bytes), and longer.
SHORT = st.sampled_from(["", "0", "1", "a", "b", "7", "10", "99", "é", "ab", "yes", "cat", "ñu"])


def _assert_like_pyarrow(array: pa.Array) -> None:
    codes, dictionary = distinct_codes(array)
    expected = array.dictionary_encode()
    assert dictionary.to_pylist() == expected.dictionary.to_pylist()
    valid = [i for i, v in enumerate(array.to_pylist()) if v is not None]
    assert [int(codes[i]) for i in valid] == [expected.indices[i].as_py() for i in valid]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(SHORT, min_size=1, max_size=300), skip=st.integers(0, 3))
def test_distinct_codes_equal_dictionary_encoding(values: list[str], skip: int) -> None:
    # A slice starts at an offset into the buffers, as a batch of a larger read does.
    array = pa.array(["xx"] * skip + values, type=pa.string()).slice(skip)
    _assert_like_pyarrow(array)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.sampled_from(["0", "1", "2"]), min_size=1, max_size=5000),
    late=st.sampled_from(["3", "4", "12"]),
)
def test_a_value_first_seen_late_keeps_its_place(values: list[str], late: str) -> None:
    # The order of first sight is searched in growing prefixes: a value met only in
    # the last row must still come last.
    _assert_like_pyarrow(pa.array([*values, late], type=pa.string()))


def test_nulls_and_dictionaries_take_pyarrow_paths() -> None:
    with_null = pa.array(["1", None, "0", "1"], type=pa.string())
    _assert_like_pyarrow(with_null)
    encoded = pa.array(["b", "a", "b"]).dictionary_encode()
    codes, dictionary = distinct_codes(encoded)
    assert codes.tolist() == [0, 1, 0]
    assert dictionary.to_pylist() == ["b", "a"]


def test_one_byte_labels_are_coded_in_order_of_first_sight() -> None:
    codes, dictionary = distinct_codes(pa.array(["7", "3", "7", "0", "3"]))
    assert dictionary.to_pylist() == ["7", "3", "0"]
    assert codes.tolist() == [0, 1, 0, 2, 1]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.float64, np.float32])
def test_arrow_view_equals_pa_array(dtype: type[np.generic]) -> None:
    values = (np.arange(12) * 7 - 20).astype(dtype)
    swapped = values.astype(values.dtype.newbyteorder(">"))
    for view in (values, values[::3], values[5:], swapped):  # strided, offset, big-endian
        assert arrow_view(view).equals(pa.array(view.astype(view.dtype.newbyteorder("="))))


def test_arrow_view_special_floats() -> None:
    values = np.array([np.inf, -np.inf, np.nan, -0.0, 5e-324])
    assert arrow_view(values).to_pylist()[:2] == [np.inf, -np.inf]
    assert np.isnan(arrow_view(values)[2].as_py())
    assert arrow_view(values).to_pylist()[3:] == [-0.0, 5e-324]


@pytest.mark.parametrize("values", [np.array([True, False]), np.array(["a"], dtype=object)])
def test_arrow_view_refuses_what_is_not_a_number(values: np.ndarray) -> None:
    with pytest.raises(TypeError, match="arrow_view takes numbers"):
        arrow_view(values)
