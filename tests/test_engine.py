"""Property tests of the numeric core (``xent.loss``, ``xent.accumulate``) and of ``score_arrays``.

Loss is non-negative, does not depend on row order, comes out the same whether
the rows are scored at once or in chunks merged afterwards, and every figure of
a report (aggregate, per class, top-K, histogram) agrees with the per-sample
losses it summarizes.
"""

from __future__ import annotations

import itertools
import math
import sys
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import xent
import xent.limits
from xent import accumulate
from xent import loss as engine

SETTINGS = settings(max_examples=60, deadline=None)
TIGHT = 1e-12


def close(a: float, b: float, rel: float = TIGHT) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0) or (a == b)


# --- strategies ------------------------------------------------------------------


@st.composite
def multiclass_problems(draw: Any, max_n: int = 40) -> dict[str, Any]:
    """Hard labels, a probability matrix with exact zeros and ties, logits, weights."""
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(2, 6))
    counts = draw(arrays(np.int64, (n, k), elements=st.integers(0, 6))).astype(np.float64)
    counts[np.arange(n), draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))] += 1.0
    y = draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))
    logits = draw(arrays(np.float64, (n, k), elements=st.floats(-1e4, 1e4, allow_subnormal=False)))
    w = draw(arrays(np.float64, n, elements=st.floats(0.0, 5.0, allow_subnormal=False)))
    if w.sum() == 0.0:
        w[0] = 1.0
    return {
        "n": n,
        "k": k,
        "y": y,
        "P": counts / counts.sum(axis=1, keepdims=True),
        "Z": logits,
        "w": w,
    }


@st.composite
def binary_problems(draw: Any, max_n: int = 40) -> dict[str, Any]:
    n = draw(st.integers(1, max_n))
    y = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    p = draw(arrays(np.float64, n, elements=st.floats(0.0, 1.0)))
    z = draw(arrays(np.float64, n, elements=st.floats(-1e4, 1e4, allow_subnormal=False)))
    w = draw(arrays(np.float64, n, elements=st.floats(0.0, 5.0, allow_subnormal=False)))
    if w.sum() == 0.0:
        w[0] = 1.0
    return {"n": n, "y": y, "p": p, "z": z, "w": w}


inputs_kinds = st.sampled_from(["probs", "logits", "log-probs"])
smoothing = st.sampled_from([0.0, 0.0, 0.1, 0.35])


def _values(problem: dict[str, Any], inputs: str) -> np.ndarray:
    """The prediction matrix as probabilities, logits or log-probabilities."""
    if inputs == "logits":
        return problem["Z"]
    if inputs == "log-probs":
        P = problem["P"]
        with np.errstate(divide="ignore"):
            # zero probabilities give -inf; keep the log-probs finite for score_arrays
            return np.log(np.where(P > 0, P, 1e-300))
    return problem["P"]


def _binary_values(problem: dict[str, Any], inputs: str) -> np.ndarray:
    if inputs == "logits":
        return problem["z"]
    if inputs == "log-probs":
        return np.log(np.clip(problem["p"], 1e-300, 1.0))
    return problem["p"]


def _cuts(draw: Any, n: int) -> list[int]:
    """Random chunk boundaries 0 = c0 < c1 < ... < cm = n (chunks may be one row)."""
    inner = draw(st.sets(st.integers(1, max(n - 1, 1)), max_size=6)) if n > 1 else set()
    return [0, *sorted(inner), n]


# --- engine: loss >= 0 -------------------------------------------------------------


@SETTINGS
@given(multiclass_problems(), inputs_kinds, smoothing)
def test_multiclass_loss_is_non_negative(problem: dict[str, Any], inputs: str, a: float) -> None:
    result = engine.multiclass_losses(
        problem["y"], _values(problem, inputs), inputs=inputs, label_smoothing=a
    )
    assert result.loss.shape == (problem["n"],)
    assert np.all(np.isfinite(result.loss))
    assert np.all(result.loss >= 0.0)
    if inputs == "probs" and not a:
        expected = -np.log(np.clip(problem["P"], engine.AUTO_EPS, 1 - engine.AUTO_EPS))
        expected = expected[np.arange(problem["n"]), problem["y"]]
        np.testing.assert_allclose(result.loss, expected, rtol=TIGHT, atol=0)
        assert result.loss.max() <= -math.log(engine.AUTO_EPS) * (1 + TIGHT)


@SETTINGS
@given(binary_problems(), inputs_kinds, smoothing)
def test_binary_loss_is_non_negative(problem: dict[str, Any], inputs: str, a: float) -> None:
    target = (1 - a) * problem["y"] + a / 2
    result = engine.binary_losses(target, _binary_values(problem, inputs), inputs=inputs)
    assert np.all(result.loss >= 0.0)
    assert not np.any(np.isnan(result.loss))
    if inputs != "log-probs":
        assert np.all(np.isfinite(result.loss))


@SETTINGS
@given(multiclass_problems(), inputs_kinds)
def test_soft_and_multilabel_loss_is_non_negative(problem: dict[str, Any], inputs: str) -> None:
    k = problem["k"]
    q = problem["P"][::-1].copy()  # some distribution per row
    soft = engine.soft_losses(q, _values(problem, inputs), inputs=inputs)
    assert np.all(soft.loss >= 0.0)
    onehot = np.eye(k)[problem["y"]]
    hard = engine.multiclass_losses(problem["y"], _values(problem, inputs), inputs=inputs)
    soft_hard = engine.soft_losses(onehot, _values(problem, inputs), inputs=inputs)
    np.testing.assert_allclose(soft_hard.loss, hard.loss, rtol=TIGHT, atol=1e-300)
    if inputs != "log-probs":
        ml, _ = engine.multilabel_losses(onehot, _values(problem, inputs), inputs=inputs)
        assert ml.shape == (problem["n"], k)
        assert np.all(ml >= 0.0)


# --- engine: permutation -----------------------------------------------------------


@SETTINGS
@given(multiclass_problems(), inputs_kinds, smoothing, st.randoms(use_true_random=False))
def test_per_sample_losses_follow_their_rows(
    problem: dict[str, Any], inputs: str, a: float, rnd: Any
) -> None:
    perm = np.array(rnd.sample(range(problem["n"]), problem["n"]), dtype=np.int64)
    values = _values(problem, inputs)
    whole = engine.multiclass_losses(problem["y"], values, inputs=inputs, label_smoothing=a)
    permuted = engine.multiclass_losses(
        problem["y"][perm], values[perm], inputs=inputs, label_smoothing=a
    )
    np.testing.assert_array_equal(permuted.loss, whole.loss[perm])
    assert permuted.n_clipped == whole.n_clipped


# --- engine: chunked == whole ----------------------------------------------------------


def _fill(
    acc: accumulate.Accumulator,
    y: np.ndarray,
    values: np.ndarray,
    w: np.ndarray,
    first: int,
    inputs: str,
) -> np.ndarray:
    """Add one chunk to ``acc`` the way scoring does for hard multiclass labels."""
    plan = engine.LossPlan(task="multiclass", n_classes=values.shape[1], inputs=inputs)
    scored = engine.score_chunk(plan, values, w, y=y)
    index = np.arange(first, first + len(y), dtype=np.int64)
    acc.add(scored, index=index, labels=np.array([str(c) for c in y], dtype=object))
    return scored.loss


@st.composite
def chunked_problems(draw: Any) -> tuple[dict[str, Any], list[int], int, str]:
    problem = draw(multiclass_problems(max_n=60))
    return problem, _cuts(draw, problem["n"]), draw(st.integers(0, 8)), draw(inputs_kinds)


@SETTINGS
@given(chunked_problems(), st.booleans())
def test_chunked_accumulators_merge_into_the_whole(
    args: tuple[dict[str, Any], list[int], int, str], reverse: bool
) -> None:
    problem, cuts, top_k, inputs = args
    k, y, w = problem["k"], problem["y"], problem["w"]
    values = _values(problem, inputs)
    whole = accumulate.Accumulator(k, top_k=top_k)
    whole_loss = _fill(whole, y, values, w, 0, inputs)

    parts = []
    chunk_losses = []
    for lo, hi in itertools.pairwise(cuts):
        acc = accumulate.Accumulator(k, top_k=top_k)
        chunk_losses.append(_fill(acc, y[lo:hi], values[lo:hi], w[lo:hi], lo, inputs))
        parts.append(acc)
    np.testing.assert_array_equal(np.concatenate(chunk_losses), whole_loss)
    if reverse:
        parts.reverse()
    merged = accumulate.Accumulator(k, top_k=top_k)
    for part in parts:
        merged.merge(part)

    np.testing.assert_allclose(merged.loss_sum, whole.loss_sum, rtol=TIGHT, atol=0)
    np.testing.assert_allclose(merged.weight_sum, whole.weight_sum, rtol=TIGHT, atol=0)
    np.testing.assert_allclose(merged.target_mass, whole.target_mass, rtol=TIGHT, atol=0)
    np.testing.assert_array_equal(merged.count, whole.count)
    np.testing.assert_array_equal(merged.histogram, whole.histogram)
    assert merged.n_samples == whole.n_samples == problem["n"]
    assert merged.n_clipped == whole.n_clipped
    assert merged.worst() == whole.worst()
    # and both equal the K largest losses, ties going to the earliest row
    order = sorted(range(problem["n"]), key=lambda i: (-whole_loss[i], i))[:top_k]
    assert [(i, float(whole_loss[i])) for i in order] == [(i, v) for i, _, _, v in whole.worst()]


# --- score_arrays: figures agree with the per-sample losses -----------------------------


def _score(problem: dict[str, Any], inputs: str, weighted: bool, **options: Any) -> xent.Report:
    return xent.score_arrays(
        problem["y"],
        _values(problem, inputs),
        sample_weight=problem["w"] if weighted else None,
        inputs=inputs,
        per_sample=True,
        **options,
    )


@SETTINGS
@given(multiclass_problems(), inputs_kinds, st.booleans(), smoothing, st.integers(0, 8))
def test_report_figures_agree_with_per_sample_losses(
    problem: dict[str, Any], inputs: str, weighted: bool, a: float, top: int
) -> None:
    report = _score(problem, inputs, weighted, label_smoothing=a, top=top)
    assert report.per_sample is not None
    loss = np.array([s.loss for s in report.per_sample])
    n = problem["n"]
    w = problem["w"] if weighted else np.ones(n)
    y = problem["y"]

    assert [s.index for s in report.per_sample] == list(range(n))
    assert np.all(loss >= 0.0)
    # mean of per-sample == aggregate
    assert close(report.aggregate.loss, float(np.average(loss, weights=w)))
    assert close(report.aggregate.weight, float(w.sum()))
    # per-class sums add up to the total, per-class means are over the class's rows
    assert close(math.fsum(c.sum for c in report.per_class), report.aggregate.sum)
    for c, row in enumerate(report.per_class):
        rows = y == c
        assert row.n == int(rows.sum())
        assert close(row.sum, float((w[rows] * loss[rows]).sum()) + 0.0)
        if w[rows].sum() > 0:
            assert close(row.loss, float(np.average(loss[rows], weights=w[rows])))
    if report.aggregate.sum > 0:
        assert close(math.fsum(c.share for c in report.per_class), 1.0, rel=1e-9)
    # top-K == the K largest per-sample losses (ties: earliest row first)
    order = sorted(range(n), key=lambda i: (-loss[i], i))[:top]
    assert [s.index for s in report.top] == order
    assert [s.loss for s in report.top] == [float(loss[i]) for i in order]
    # histogram counts add to n and bin the per-sample losses
    edges = np.asarray(report.histogram.edges)
    assert sum(report.histogram.counts) == report.n_samples == n
    bins = np.searchsorted(edges[:-1], loss, side="right") - 1
    expected = np.bincount(np.clip(bins, 0, None), minlength=len(edges) - 1)
    assert report.histogram.counts == expected.tolist()


@SETTINGS
@given(binary_problems(), inputs_kinds, st.booleans(), st.integers(0, 6))
def test_binary_report_figures_agree_with_per_sample_losses(
    problem: dict[str, Any], inputs: str, weighted: bool, top: int
) -> None:
    n = problem["n"]
    w = problem["w"] if weighted else np.ones(n)
    report = xent.score_arrays(
        problem["y"],
        _binary_values(problem, inputs),
        sample_weight=problem["w"] if weighted else None,
        inputs=inputs,
        per_sample=True,
        top=top,
    )
    assert report.per_sample is not None
    loss = np.array([s.loss for s in report.per_sample])
    assert np.all(loss >= 0.0)
    assert close(report.aggregate.loss, float(np.average(loss, weights=w)))
    assert close(math.fsum(c.sum for c in report.per_class), report.aggregate.sum)
    order = sorted(range(n), key=lambda i: (-loss[i], i))[:top]
    assert [s.index for s in report.top] == order
    assert sum(report.histogram.counts) == n


@SETTINGS
@given(multiclass_problems(), inputs_kinds, st.booleans(), st.randoms(use_true_random=False))
def test_report_is_invariant_to_row_order(
    problem: dict[str, Any], inputs: str, weighted: bool, rnd: Any
) -> None:
    n = problem["n"]
    perm = np.array(rnd.sample(range(n), n), dtype=np.int64)
    shuffled = {
        **problem,
        "y": problem["y"][perm],
        "P": problem["P"][perm],
        "Z": problem["Z"][perm],
        "w": problem["w"][perm],
    }
    a = _score(problem, inputs, weighted)
    b = _score(shuffled, inputs, weighted)
    assert close(a.aggregate.loss, b.aggregate.loss)
    assert close(a.aggregate.sum, b.aggregate.sum)
    assert a.aggregate.n_clipped == b.aggregate.n_clipped
    for ca, cb in zip(a.per_class, b.per_class, strict=True):
        assert ca.n == cb.n
        assert close(ca.sum, cb.sum)
    assert a.histogram.counts == b.histogram.counts
    assert close(a.reference.prior, b.reference.prior)
    assert sorted(s.loss for s in a.top) == sorted(s.loss for s in b.top)


@st.composite
def batched(draw: Any) -> tuple[dict[str, Any], int, str, bool]:
    problem = draw(multiclass_problems(max_n=60))
    return problem, draw(st.integers(1, 16)), draw(inputs_kinds), draw(st.booleans())


@SETTINGS
@given(batched())
def test_score_arrays_in_batches_equals_one_batch(
    args: tuple[dict[str, Any], int, str, bool],
) -> None:
    problem, batch_rows, inputs, weighted = args
    whole = _score(problem, inputs, weighted)
    with mock.patch.object(xent.limits, "rows_per_chunk", return_value=batch_rows):
        chunked = _score(problem, inputs, weighted)
    assert close(chunked.aggregate.loss, whole.aggregate.loss)
    assert close(chunked.aggregate.sum, whole.aggregate.sum)
    assert chunked.aggregate.n_clipped == whole.aggregate.n_clipped
    assert chunked.n_samples == whole.n_samples
    for cc, cw in zip(chunked.per_class, whole.per_class, strict=True):
        assert cc.n == cw.n
        assert close(cc.sum, cw.sum)
    assert close(chunked.reference.prior, whole.reference.prior)
    assert chunked.histogram.counts == whole.histogram.counts
    assert chunked.top == whole.top
    assert chunked.per_sample == whole.per_sample


@SETTINGS
@given(multiclass_problems(), st.sampled_from(["probs", "logits"]))
def test_bits_are_nats_over_ln2(problem: dict[str, Any], inputs: str) -> None:
    nats = _score(problem, inputs, True)
    bits = _score(problem, inputs, True, unit="bits")
    ln2 = math.log(2.0)
    assert close(bits.aggregate.loss, nats.aggregate.loss / ln2)
    assert close(bits.aggregate.perplexity, nats.aggregate.perplexity)
    # exp overflows only above ln(max float) = 709.78
    loss = nats.aggregate.loss
    expected = math.exp(loss) if loss <= math.log(sys.float_info.max) else math.inf
    assert close(nats.aggregate.perplexity, expected)
    assert sum(bits.histogram.counts) == problem["n"]


@pytest.mark.parametrize("shape", [(1, 3), (37, 5000), (3, 70_000), (1000, 2)])
def test_log_sum_exp_matches_scipy_over_cache_blocks(shape: tuple[int, int]) -> None:
    """Rows are worked on a few at a time (the last block short); every row equals
    scipy's logsumexp, with large and -inf logits."""
    from scipy.special import logsumexp

    from xent.loss import log_sum_exp

    rng = np.random.default_rng(sum(shape))
    logits = rng.standard_normal(shape) * 30
    logits[0, 0] = 700.0  # exp overflows without the shift
    if shape[1] > 2:
        logits[-1, 1] = -np.inf
    np.testing.assert_allclose(log_sum_exp(logits), logsumexp(logits, axis=1), rtol=1e-14)
