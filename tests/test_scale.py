"""Chunked, parallel and streamed reading give the figures of a whole-file read.

Batch, block and segment sizes are shrunk so that chunk borders fall inside
the test files (mid-line for the CSV byte ranges); every path must agree with
an in-memory score of the same arrays to 1e-12 relative.
"""

from __future__ import annotations

import gzip
import itertools
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xent
import xent.limits

N, K = 1_000, 4


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    logits = rng.normal(size=(N, K)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = rng.integers(0, K, N)
    return probs, y, logits


def _csv_text(probs: np.ndarray, y: np.ndarray, newline: str = "\n") -> str:
    header = "id,label," + ",".join(f"p_{k}" for k in range(K))
    rows = [f"{i},{y[i]}," + ",".join(repr(float(v)) for v in probs[i]) for i in range(len(y))]
    return newline.join([header, *rows]) + newline


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xent.limits, "BLOCK_BYTES", 997)  # about 10 rows, cut mid-line
    monkeypatch.setattr(xent.limits, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(xent.limits, "rows_per_chunk", lambda row_bytes: 37)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def _assert_same(report: xent.Report, whole: xent.Report) -> None:
    assert report.n_samples == whole.n_samples == N
    assert _close(report.aggregate.loss, whole.aggregate.loss)
    assert _close(report.aggregate.sum, whole.aggregate.sum)
    assert report.aggregate.n_clipped == whole.aggregate.n_clipped
    for ours, theirs in zip(report.per_class, whole.per_class, strict=True):
        assert ours.n == theirs.n
        assert _close(ours.loss, theirs.loss)
    assert [(s.index, s.label) for s in report.top] == [(s.index, s.label) for s in whole.top]
    assert report.histogram.counts == whole.histogram.counts


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_parallel_csv_segments_equal_whole(
    tmp_path: Path, data: tuple, small_chunks: None, newline: str
) -> None:
    probs, y, _ = data
    path = tmp_path / "p.csv"
    path.write_bytes(_csv_text(probs, y, newline).encode())
    whole = xent.score_arrays(y, probs)
    _assert_same(xent.score(str(path)), whole)


def test_csv_without_final_newline(tmp_path: Path, data: tuple, small_chunks: None) -> None:
    probs, y, _ = data
    path = tmp_path / "p.csv"
    path.write_text(_csv_text(probs, y).rstrip("\n"))
    _assert_same(xent.score(str(path)), xent.score_arrays(y, probs))


def test_gzip_stream_equals_whole(tmp_path: Path, data: tuple, small_chunks: None) -> None:
    probs, y, _ = data
    path = tmp_path / "p.csv.gz"
    path.write_bytes(gzip.compress(_csv_text(probs, y).encode()))
    _assert_same(xent.score(str(path)), xent.score_arrays(y, probs))


def test_parquet_directory_equals_whole(tmp_path: Path, data: tuple, small_chunks: None) -> None:
    probs, y, _ = data
    shards = tmp_path / "shards"
    shards.mkdir()
    cuts = [0, 1, 300, 301, 777, N]  # uneven shards, one of a single row
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        table = pa.table({"label": y[a:b], **{f"p_{k}": probs[a:b, k] for k in range(K)}})
        pq.write_table(table, shards / f"part-{i:03d}.parquet", row_group_size=50)
    (shards / "_SUCCESS").write_text("")
    _assert_same(xent.score(str(shards)), xent.score_arrays(y, probs))


def test_npy_row_chunks_equal_whole(tmp_path: Path, data: tuple, small_chunks: None) -> None:
    probs, y, _ = data
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", y)
    report = xent.score(str(tmp_path / "p.npy"), labels=str(tmp_path / "y.npy"))
    _assert_same(report, xent.score_arrays(y, probs))


def test_fortran_order_npy(tmp_path: Path, data: tuple, small_chunks: None) -> None:
    probs, y, _ = data
    np.save(tmp_path / "p.npy", np.asfortranarray(probs))
    np.save(tmp_path / "y.npy", y)
    report = xent.score(str(tmp_path / "p.npy"), labels=str(tmp_path / "y.npy"))
    _assert_same(report, xent.score_arrays(y, probs))


def test_chunked_logits_equal_whole(tmp_path: Path, data: tuple, small_chunks: None) -> None:
    _, y, logits = data
    path = tmp_path / "z.csv"
    path.write_text(_csv_text(logits, y))
    whole = xent.score_arrays(y, logits, inputs="logits")
    _assert_same(xent.score(str(path), inputs="logits"), whole)


def test_per_sample_csv_rows_stream_in_order(
    tmp_path: Path, data: tuple, small_chunks: None
) -> None:
    from xent.cli import main

    probs, y, _ = data
    path = tmp_path / "p.csv"
    path.write_text(_csv_text(probs, y))
    out = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(path), "--format", "csv", "--output", str(out)])
    assert exit_info.value.code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "index,id,label,loss"
    rows = [line.split(",") for line in lines[1:]]
    assert [int(r[0]) for r in rows] == list(range(N))
    expected = -np.log(probs[np.arange(N), y])
    np.testing.assert_allclose([float(r[3]) for r in rows], expected, rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("split", [False, True])
def test_float_arrays_widened_block_by_block_equal_float64(
    tmp_path: Path,
    data: tuple,
    small_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    dtype: str,
    split: bool,
) -> None:
    """float16/float32 logits stay in their type until the log-softmax widens a few
    rows at a time; the figures equal float64 arithmetic on the widened values
    (rows far from 0, one row of equal values, one row of one huge value)."""
    import xent.loss
    import xent.pipeline

    _, y, logits = data
    values = logits.copy()
    values[3] += 300.0 if dtype != "float16" else 60.0
    values[4] = 7.0
    values[5, 1] = 6e4
    stored = values.astype(dtype)
    np.save(tmp_path / "z.npy", stored)
    np.save(tmp_path / "y.npy", y)
    seen: list[np.dtype] = []
    widened = xent.loss.logits_norm

    def spy(block: np.ndarray) -> tuple:
        seen.append(block.dtype)
        return widened(block)

    monkeypatch.setattr(xent.pipeline, "logits_norm", spy)
    if split:
        monkeypatch.setattr(xent.loss, "PARALLEL_ELEMENTS", 64)
        monkeypatch.setattr(xent.limits, "THREADS", 2)
    report = xent.score(str(tmp_path / "z.npy"), labels=str(tmp_path / "y.npy"), inputs="logits")
    assert set(seen) == {np.dtype(dtype)}
    exact = stored.astype(np.float64)
    top = exact.max(axis=1, keepdims=True)
    losses = (top[:, 0] + np.log(np.exp(exact - top).sum(axis=1))) - exact[np.arange(N), y]
    assert _close(report.aggregate.loss, float(losses.mean()))
    _assert_same(report, xent.score_arrays(y, exact, inputs="logits"))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize(
    ("bad", "shown"), [(math.nan, "NaN"), (math.inf, "inf"), (-math.inf, "-inf")]
)
def test_non_finite_logits_in_narrow_arrays_name_their_row(
    tmp_path: Path,
    data: tuple,
    small_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dtype: str,
    bad: float,
    shown: str,
) -> None:
    """The range the widening pass finds settles validation: a NaN or an infinity
    (in either half of a block split between threads) is exit 4 naming row and column."""
    import xent.loss
    from xent.cli import main

    _, y, logits = data
    stored = logits.astype(dtype)
    stored[700, 2] = bad
    np.save(tmp_path / "z.npy", stored)
    np.save(tmp_path / "y.npy", y)
    monkeypatch.setattr(xent.loss, "PARALLEL_ELEMENTS", 64)
    monkeypatch.setattr(xent.limits, "THREADS", 2)
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(tmp_path / "z.npy"), "--labels", str(tmp_path / "y.npy"),
              "--inputs", "logits"])  # fmt: skip
    assert exit_info.value.code == 4
    assert capsys.readouterr().err == (
        f"xent: error: {tmp_path / 'z.npy'}: row 701 (index 700), column '2': "
        f"the prediction is {shown}; "
        "every value must be a finite number (fix or drop the row)\n"
    )
