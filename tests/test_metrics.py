"""``--metrics``: the context figures against scikit-learn, SciPy and NumPy references.

accuracy and the Brier score are checked against ``sklearn.metrics`` (with sample
weights; the Brier score's ``scale_by_half`` rule for two classes), the mean
predicted entropy against ``scipy.stats.entropy``, and the calibration error and
the loss split against NumPy references written out below from their definitions
in :mod:`xent.metrics`. Every figure is checked for probabilities and for logits,
and computed in many small chunks equals the one-chunk result to 1e-12.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import special, stats
from sklearn.metrics import accuracy_score, brier_score_loss

import xent
import xent.limits
from xent.metrics import CONFIDENT, METRICS
from xent.render.text import metric_rows

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
EPS = float(np.finfo(np.float64).eps)
ALL = ("accuracy", "brier", "ece", "entropy", "split")
REL = 1e-12


def close(a: float, b: float, tol: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# --- data and references ---------------------------------------------------------


def multiclass(n: int, k: int, seed: int) -> tuple[IntArray, FloatArray, FloatArray]:
    """Labels, logits and sample weights of a noisy ``k``-class problem."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.normal(0.0, 1.5, (n, k))
    z[np.arange(n), y] += rng.uniform(0.0, 3.0, n)
    w = rng.uniform(0.1, 3.0, n)
    return y, z, w


def binary(n: int, seed: int) -> tuple[IntArray, FloatArray, FloatArray]:
    """Labels, logits of the positive class and sample weights of a binary problem."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    z = rng.normal(0.0, 2.0, n) + 1.5 * (2 * y - 1)
    w = rng.uniform(0.1, 3.0, n)
    return y, z, w


def predicted(p: FloatArray) -> tuple[IntArray, FloatArray]:
    """Predicted class and confidence: argmax and max, or p >= 0.5 for binary."""
    if p.ndim == 1:
        label = (p >= 0.5).astype(np.int64)
        return label, np.where(label == 1, p, 1.0 - p)
    return np.argmax(p, axis=1), np.max(p, axis=1)


def ece_reference(
    p: FloatArray, y: IntArray, w: FloatArray, bins: int
) -> tuple[float, dict[str, list[Any]]]:
    """Expected calibration error over equal-width bins [e_i, e_i+1) (the last one closed)."""
    label, confidence = predicted(p)
    right = (label == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.digitize(confidence, edges[1:-1])  # bin i holds edges[i] <= c < edges[i+1]
    ece = 0.0
    table: dict[str, list[Any]] = {"count": [], "weight": [], "confidence": [], "accuracy": []}
    for b in range(bins):
        mask = index == b
        weight = float(w[mask].sum())
        table["count"].append(int(mask.sum()))
        table["weight"].append(weight)
        if weight == 0:
            table["confidence"].append(None)
            table["accuracy"].append(None)
            continue
        acc = float(np.average(right[mask], weights=w[mask]))
        conf = float(np.average(confidence[mask], weights=w[mask]))
        table["confidence"].append(conf)
        table["accuracy"].append(acc)
        ece += weight / float(w.sum()) * abs(acc - conf)
    return ece, table


def losses(y: IntArray, values: FloatArray, inputs: str) -> FloatArray:
    """Per-sample cross-entropy in nats (clipped at eps for probabilities, as xent does)."""
    rows = np.arange(len(y))
    if values.ndim == 1:
        if inputs == "logits":
            out: FloatArray = np.where(
                y == 1, np.logaddexp(0.0, -values), np.logaddexp(0.0, values)
            )
            return out
        p = np.clip(values, EPS, 1 - EPS)
        return np.asarray(-(y * np.log(p) + (1 - y) * np.log(1 - p)), dtype=np.float64)
    if inputs == "logits":
        log_p = np.asarray(special.log_softmax(values, axis=1), dtype=np.float64)
    else:
        log_p = np.log(np.clip(values, EPS, 1 - EPS))
    return -log_p[rows, y]


def split_reference(
    p: FloatArray, y: IntArray, w: FloatArray, loss: FloatArray
) -> dict[str, float]:
    """Shares of the weighted total loss: confidently wrong / right, and uncertain."""
    label, confidence = predicted(p)
    sure = confidence >= CONFIDENT
    right = label == y
    total = float((w * loss).sum())
    return {
        "confidently_wrong": float((w * loss)[sure & ~right].sum()) / total,
        "confidently_right": float((w * loss)[sure & right].sum()) / total,
        "uncertain": float((w * loss)[~sure].sum()) / total,
    }


def entropy_reference(p: FloatArray, w: FloatArray, unit: str) -> float:
    base = 2.0 if unit == "bits" else None
    dist = np.column_stack([p, 1.0 - p]) if p.ndim == 1 else p
    return float(np.average(stats.entropy(dist, base=base, axis=1), weights=w))


def check_all(
    report: xent.Report,
    y: IntArray,
    p: FloatArray,
    w: FloatArray,
    loss: FloatArray,
    bins: int,
    unit: str = "nats",
) -> None:
    """Every metric of ``report`` against its reference."""
    m = report.metrics
    assert m is not None
    label, _ = predicted(p)
    assert close(m["accuracy"], accuracy_score(y, label, sample_weight=w))
    if p.ndim == 1:
        expected_brier = brier_score_loss(y, p, sample_weight=w)
    else:
        expected_brier = brier_score_loss(y, p, sample_weight=w, labels=np.arange(p.shape[1]))
    assert close(m["brier"], expected_brier)
    ece, table = ece_reference(p, y, w, bins)
    assert close(m["ece"], ece)
    calibration = m["calibration"]
    assert calibration["edges"] == np.linspace(0.0, 1.0, bins + 1).tolist()
    assert calibration["count"] == table["count"]
    assert sum(calibration["count"]) == len(y)
    for key in ("weight", "confidence", "accuracy"):
        for got, want in zip(calibration[key], table[key], strict=True):
            assert (got is None) == (want is None)
            if want is not None:
                assert close(got, want)
    assert close(m["entropy"], entropy_reference(p, w, unit))
    split = m["loss_split"]
    assert split["confident_threshold"] == CONFIDENT
    for key, want in split_reference(p, y, w, loss).items():
        assert close(split[key], want), key
    assert close(sum(split[k] for k in ("confidently_wrong", "confidently_right", "uncertain")), 1)


# --- against the references --------------------------------------------------------


@pytest.mark.parametrize("inputs", ["probs", "logits"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bins", [15, 7])
def test_multiclass(inputs: str, weighted: bool, bins: int) -> None:
    y, z, w = multiclass(3000, 5, seed=1)
    if not weighted:
        w = np.ones_like(w)
    p = special.softmax(z, axis=1)
    values = p if inputs == "probs" else z
    report = xent.score_arrays(
        y,
        values,
        sample_weight=w if weighted else None,
        inputs=inputs,
        metrics=ALL,
        bins=bins,
    )
    assert report.inputs == inputs
    check_all(report, y, p, w, losses(y, values, inputs), bins)


@pytest.mark.parametrize("inputs", ["probs", "logits"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary(inputs: str, weighted: bool) -> None:
    y, z, w = binary(3000, seed=2)
    if not weighted:
        w = np.ones_like(w)
    p = special.expit(z)
    values = p if inputs == "probs" else z
    report = xent.score_arrays(
        y, values, sample_weight=w if weighted else None, inputs=inputs, metrics=ALL, bins=10
    )
    assert report.task == "binary"
    check_all(report, y, p, w, losses(y, values, inputs), 10)


def test_entropy_in_bits() -> None:
    y, z, w = multiclass(500, 4, seed=3)
    p = special.softmax(z, axis=1)
    report = xent.score_arrays(y, p, sample_weight=w, metrics=("entropy",), unit="bits")
    assert report.metrics is not None
    assert close(report.metrics["entropy"], entropy_reference(p, w, "bits"))
    nats = xent.score_arrays(y, p, sample_weight=w, metrics=("entropy",))
    assert nats.metrics is not None
    assert close(report.metrics["entropy"] * math.log(2), nats.metrics["entropy"])


def test_brier_scale_by_half() -> None:
    """Halved for two classes (binary or two columns), as sklearn's ``scale_by_half="auto"``."""
    y, z, w = binary(800, seed=4)
    p = special.expit(z)
    two_columns = np.column_stack([1.0 - p, p])
    full = brier_score_loss(y, two_columns, sample_weight=w, scale_by_half=False)
    half = brier_score_loss(y, two_columns, sample_weight=w, scale_by_half=True)
    assert close(half, full / 2)
    assert close(half, brier_score_loss(y, p, sample_weight=w))  # binary: (p - y)^2
    for values in (p, two_columns):
        report = xent.score_arrays(y, values, sample_weight=w, metrics=("brier",))
        assert report.metrics is not None
        assert close(report.metrics["brier"], half)
        assert close(report.metrics["brier"], brier_score_loss(y, values, sample_weight=w))
    # three classes or more: the sum over classes, not halved
    y3, z3, w3 = multiclass(800, 3, seed=5)
    p3 = special.softmax(z3, axis=1)
    report = xent.score_arrays(y3, p3, sample_weight=w3, metrics=("brier",))
    assert report.metrics is not None
    unhalved = brier_score_loss(y3, p3, sample_weight=w3, scale_by_half=False)
    assert close(report.metrics["brier"], unhalved)
    assert close(report.metrics["brier"], brier_score_loss(y3, p3, sample_weight=w3))
    assert close(
        report.metrics["brier"] / 2, brier_score_loss(y3, p3, sample_weight=w3, scale_by_half=True)
    )


def test_class_weights_weight_every_metric() -> None:
    y, z, _ = multiclass(1000, 3, seed=6)
    p = special.softmax(z, axis=1)
    cw = np.array([2.0, 0.5, 1.0])
    report = xent.score_arrays(y, p, metrics=ALL, class_weights={"0": 2.0, "1": 0.5})
    check_all(report, y, p, cw[y], losses(y, p, "probs"), 15)


def test_ignored_rows_are_left_out() -> None:
    """examples/logits.csv with --ignore-label -100: the six kept rows only."""
    z = np.array(
        [
            [3.2, -1.0, 0.4],
            [-0.5, 2.1, 0.0],
            [0.3, 0.1, 1.9],
            [1.5, 1.2, -2.0],
            [40.0, -5.0, -20.0],
            [0.0, 4.5, -1.5],
        ]
    )
    y = np.array([0, 1, 2, 0, 2, 0])
    report = xent.score(str(EXAMPLES / "logits.csv"), ignore_label="-100", metrics=ALL)
    assert report.n_samples == 6
    assert report.n_ignored == 2
    check_all(report, y, special.softmax(z, axis=1), np.ones(6), losses(y, z, "logits"), 15)


def test_binary_half_is_a_positive_prediction() -> None:
    report = xent.score_arrays([1, 0], [0.5, 0.5], metrics=("accuracy", "ece"), bins=4)
    assert report.metrics is not None
    assert report.metrics["accuracy"] == 0.5
    assert report.metrics["calibration"]["count"] == [0, 0, 2, 0]  # confidence 0.5
    assert report.metrics["ece"] == 0.0


def test_confidence_one_is_in_the_last_bin() -> None:
    report = xent.score_arrays([0, 1], [[1.0, 0.0], [0.0, 1.0]], metrics=("ece",), bins=5)
    assert report.metrics is not None
    assert report.metrics["calibration"]["count"] == [0, 0, 0, 0, 2]
    assert report.metrics["ece"] == 0.0


def test_confidence_on_an_edge_is_in_the_bin_that_edge_opens() -> None:
    p = np.array([[0.58, 0.21, 0.21], [0.29, 0.71, 0.0]])
    report = xent.score_arrays([0, 1], p, metrics=("ece",), bins=100)
    assert report.metrics is not None
    count = report.metrics["calibration"]["count"]
    assert count[58] == 1
    assert count[71] == 1
    _, table = ece_reference(p, np.array([0, 1]), np.ones(2), 100)
    assert count == table["count"]


# --- chunks ---------------------------------------------------------------------------


@pytest.mark.parametrize("inputs", ["probs", "logits"])
def test_chunked_equals_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: str) -> None:
    y, z, _ = multiclass(5003, 6, seed=7)
    values = special.softmax(z, axis=1) if inputs == "probs" else z
    np.save(tmp_path / "pred.npy", values)
    np.save(tmp_path / "y.npy", y)

    def run() -> tuple[dict[str, Any], int]:
        chunks: list[int] = []
        report = xent.score(
            str(tmp_path / "pred.npy"),
            labels=str(tmp_path / "y.npy"),
            metrics=ALL,
            bins=12,
            progress=chunks.append,
        )
        assert report.metrics is not None
        return report.metrics, len(chunks)

    whole, n_whole = run()
    monkeypatch.setattr(xent.limits, "rows_per_chunk", lambda row_bytes: 97)
    chunked, n_chunked = run()
    assert n_whole == 1
    assert n_chunked == math.ceil(5003 / 97)
    assert_same(whole, chunked)
    check_all_from_dict(whole, y, values, inputs, 12)


def assert_same(a: Any, b: Any) -> None:
    """Equal structure; floats equal to 1e-12."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, z in zip(a, b, strict=True):
            assert_same(x, z)
    elif isinstance(a, float):
        assert close(a, b)
    else:
        assert a == b


def check_all_from_dict(
    metrics: dict[str, Any], y: IntArray, values: FloatArray, inputs: str, bins: int
) -> None:
    p = special.softmax(values, axis=1) if inputs == "logits" else values
    label, _ = predicted(p)
    assert close(metrics["accuracy"], accuracy_score(y, label))
    ece, _ = ece_reference(p, y, np.ones(len(y)), bins)
    assert close(metrics["ece"], ece)


# --- the command line ----------------------------------------------------------------


@pytest.fixture
def iris(tmp_path: Path) -> Path:
    target = tmp_path / "iris.csv"
    target.write_bytes((EXAMPLES / "iris.csv").read_bytes())
    return target


def test_cli_json_matches_the_library(invoke: Invoke, iris: Path) -> None:
    code, out, err = invoke(
        ["score", "iris.csv", "--metrics", "accuracy,brier,ece,entropy,split", "--bins", "10",
         "--format", "json"]
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads(out)["metrics"]
    expected = xent.score(str(iris), metrics=ALL, bins=10).metrics
    assert metrics == expected
    assert metrics["accuracy"] == 0.8
    assert len(metrics["calibration"]["count"]) == 10


def test_cli_all_is_every_metric(invoke: Invoke, iris: Path) -> None:
    code, out, _ = invoke(["score", "iris.csv", "--metrics", "all", "--format", "json"])
    assert code == 0
    metrics = json.loads(out)["metrics"]
    assert set(metrics) == {"accuracy", "brier", "ece", "calibration", "entropy", "loss_split"}
    assert set(METRICS) == set(ALL)


def test_without_metrics_there_are_none(invoke: Invoke, iris: Path) -> None:
    code, out, _ = invoke(["score", "iris.csv", "--format", "json"])
    assert code == 0
    assert "metrics" not in json.loads(out)
    code, out, _ = invoke(["score", "iris.csv"])
    assert code == 0
    assert "accuracy" not in out
    assert "Brier" not in out


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_outputs_show_the_metric_lines(invoke: Invoke, iris: Path, fmt: str) -> None:
    code, out, err = invoke(
        ["score", "iris.csv", "--metrics", "all", "--bins", "10", "--format", fmt]
    )
    assert code == 0, err
    report = xent.score(str(iris), metrics=ALL, bins=10)
    rows = metric_rows(report.metrics, report.unit)
    assert [label for label, _ in rows] == [
        "accuracy",
        "Brier score",
        "calibration error (ECE, 10 bins)",
        "mean predicted entropy",
        "loss share: confidently wrong (p ≥ 0.8)",
        "loss share: confidently right (p ≥ 0.8)",
        "loss share: uncertain (p < 0.8)",
    ]
    lines = out.splitlines()
    for label, value in rows:
        if fmt == "markdown":
            assert f"| {label} | {value} |" in lines
        else:
            assert any(
                re.fullmatch(rf"{re.escape(label)}\s+{re.escape(value)}", ln) for ln in lines
            )
    assert dict(rows)["accuracy"] == "80.0%"


def test_metrics_with_label_cols_is_a_usage_error(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "soft.csv").write_bytes((EXAMPLES / "soft.csv").read_bytes())
    code, out, err = invoke(["score", "soft.csv", "--label-cols", "q_*", "--metrics", "accuracy"])
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "--metrics" in err
    assert "--label-cols" in err


@pytest.mark.parametrize("value", ["bogus", "accuracy,bogus"])
def test_unknown_metric_is_a_usage_error(invoke: Invoke, iris: Path, value: str) -> None:
    code, out, err = invoke(["score", "iris.csv", "--metrics", value])
    assert code == 2
    assert out == ""
    assert err == (
        "xent: error: --metrics: unknown metric 'bogus'; "
        "choose from accuracy, brier, ece, entropy, split, kl, target-entropy or all\n"
    )


@pytest.mark.parametrize("bins", ["0", "1001"])
def test_bins_out_of_range_is_a_usage_error(invoke: Invoke, iris: Path, bins: str) -> None:
    code, _, err = invoke(["score", "iris.csv", "--metrics", "ece", "--bins", bins])
    assert code == 2
    assert "--bins" in err
    assert err.count("\n") == 1
