"""Parity of xent's numbers with scikit-learn, SciPy and hand-written formulas.

Every figure is compared at 1e-9 relative tolerance, across every input format
and layout of the contract (§2) and every option that changes the numbers (§3).
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from scipy.special import log_expit, log_softmax
from sklearn.metrics import d2_log_loss_score, log_loss

import xent
import xent.limits

REL = 1e-9
EPS = float(np.finfo(np.float64).eps)
NAMES = ["cat", "dog", "bird", "fish", "frog", "duck", "lion", "wolf", "bear", "mole"]


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=REL, abs=0.0)


# --- writing the same table in every format ----------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _py(value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.str_):
        return str(value)
    return value


def write_text(path: Path, columns: dict[str, np.ndarray], sep: str = ",") -> Path:
    """CSV/TSV (gzip when the name ends in .gz), floats written with full precision."""
    names = list(columns)
    n = len(next(iter(columns.values())))
    lines = [sep.join(names)]
    lines += [sep.join(_cell(columns[c][i]) for c in names) for i in range(n)]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def arrow_table(columns: dict[str, np.ndarray]) -> pa.Table:
    return pa.table({name: pa.array(np.asarray(values)) for name, values in columns.items()})


def write_table(tmp_path: Path, fmt: str, columns: dict[str, np.ndarray], stem: str = "t") -> Path:
    """Write ``columns`` as one table in format ``fmt`` and return the path."""
    if fmt == "csv":
        return write_text(tmp_path / f"{stem}.csv", columns)
    if fmt == "tsv":
        return write_text(tmp_path / f"{stem}.tsv", columns, sep="\t")
    if fmt == "csv.gz":
        return write_text(tmp_path / f"{stem}.csv.gz", columns)
    table = arrow_table(columns)
    if fmt == "parquet":
        path = tmp_path / f"{stem}.parquet"
        pq.write_table(table, path)
        return path
    if fmt == "parquet-dir":
        path = tmp_path / f"{stem}_dataset"
        path.mkdir()
        n = table.num_rows
        cuts = [0, n // 3, (2 * n) // 3, n]
        for part, (lo, hi) in enumerate(itertools.pairwise(cuts)):
            pq.write_table(table.slice(lo, hi - lo), path / f"part-{part:03d}.parquet")
        return path
    if fmt == "arrow":
        path = tmp_path / f"{stem}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=97):
                writer.write_batch(batch)
        return path
    if fmt == "feather":
        path = tmp_path / f"{stem}.feather"
        feather.write_feather(table, str(path))
        return path
    if fmt == "jsonl":
        path = tmp_path / f"{stem}.jsonl"
        names = list(columns)
        n = table.num_rows
        rows = [json.dumps({c: _py(columns[c][i]) for c in names}) for i in range(n)]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        return path
    raise AssertionError(fmt)


# --- random cases ------------------------------------------------------------


class Case:
    """A random scoring problem and its sklearn reference."""

    def __init__(self, seed: int, k: int, kind: str, n: int = 240) -> None:
        rng = np.random.default_rng(seed * 1000 + k * 10 + len(kind))
        self.k = k
        self.kind = kind
        self.n = n
        self.y = rng.integers(0, 2 if k == 1 else k, n)  # class index (binary: 1 = positive)
        if k == 1:
            self.pred = rng.uniform(0.0, 1.0, n)
            self.pred_columns = {"p_pos": self.pred}
        else:
            self.pred = rng.dirichlet(np.full(k, 0.8), size=n)
            names = NAMES[:k] if kind == "str" else [str(j) for j in range(k)]
            self.pred_columns = {f"p_{c}": self.pred[:, j] for j, c in enumerate(names)}
        self.w = rng.uniform(0.1, 3.0, n)
        self.w[rng.choice(n, n // 8, replace=False)] = 0.0
        self.options: dict[str, Any] = {}
        if kind == "01" or kind == "int":
            self.label = self.y.astype(np.int64)
        elif kind == "bool":
            self.label = self.y.astype(bool)
        elif kind == "pos":
            self.label = np.where(self.y == 1, "spam", "ham")
            self.options["pos_label"] = "spam"
        elif kind == "str":
            self.label = np.asarray(NAMES[:k])[self.y]
        else:
            raise AssertionError(kind)

    @property
    def sk_labels(self) -> list[int]:
        return [0, 1] if self.k == 1 else list(range(self.k))

    def reference(self, weighted: bool, rows: np.ndarray | None = None) -> float:
        sel = np.arange(self.n) if rows is None else rows
        return log_loss(
            self.y[sel],
            y_proba=self.pred[sel],
            labels=self.sk_labels,
            sample_weight=self.w[sel] if weighted else None,
        )

    def table(self, *, with_id: bool = False, weights: bool = True) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        if with_id:
            columns["id"] = np.arange(self.n) * 7 + 3
        columns["label"] = self.label
        columns.update(self.pred_columns)
        if weights:
            columns["w"] = self.w
        return columns


KINDS = [
    (1, "01"),
    (1, "bool"),
    (1, "pos"),
    (2, "int"),
    (2, "str"),
    (3, "int"),
    (3, "str"),
    (10, "int"),
    (10, "str"),
]
TABLE_FORMATS = ["csv", "tsv", "csv.gz", "parquet", "parquet-dir", "arrow", "feather", "jsonl"]
ALL_FORMATS = [
    *TABLE_FORMATS,
    "npy",
    "npz",
    "two-files-position",
    "two-files-id",
    "two-files-id-parquet-jsonl",
    "arrays",
]


def _score_case(tmp_path: Path, case: Case, fmt: str, **extra: Any) -> tuple[xent.Report, bool]:
    """Score ``case`` read from format/layout ``fmt``; return the report and whether
    the sample weights were part of the input."""
    opts = {**case.options, **extra}
    if fmt in TABLE_FORMATS:
        path = write_table(tmp_path, fmt, case.table())
        return xent.score(str(path), weight_col="w", **opts), True
    classes = NAMES[: case.k] if case.kind == "str" else None
    if fmt == "npy":
        np.save(tmp_path / "pred.npy", case.pred)
        np.save(tmp_path / "labels.npy", case.label)
        report = xent.score(
            str(tmp_path / "pred.npy"), labels=str(tmp_path / "labels.npy"), classes=classes, **opts
        )
        return report, False
    if fmt == "npz":
        np.savez(tmp_path / "both.npz", y_true=case.label, y_pred=case.pred)
        return xent.score(str(tmp_path / "both.npz"), classes=classes, **opts), False
    if fmt == "arrays":
        report = xent.score_arrays(
            case.label, case.pred, sample_weight=case.w, classes=classes, **opts
        )
        return report, True
    table = case.table(with_id=True)
    preds = {c: v for c, v in table.items() if c != "label"}
    labels = {"id": table["id"], "label": table["label"]}
    if fmt == "two-files-position":
        p = write_text(tmp_path / "preds.csv", {c: v for c, v in preds.items() if c != "id"})
        lab = write_text(tmp_path / "labels.csv", {"label": labels["label"]})
        return xent.score(str(p), labels=str(lab), weight_col="w", **opts), True
    order = np.random.default_rng(case.n + case.k).permutation(case.n)
    shuffled = {c: v[order] for c, v in labels.items()}
    if fmt == "two-files-id":
        p = write_text(tmp_path / "preds.csv", preds)
        lab = write_text(tmp_path / "labels.csv", shuffled)
    elif fmt == "two-files-id-parquet-jsonl":
        p = write_table(tmp_path, "parquet", preds, stem="preds")
        lab = write_table(tmp_path, "jsonl", shuffled, stem="labels")
    else:
        raise AssertionError(fmt)
    return xent.score(str(p), labels=str(lab), id_col="id", weight_col="w", **opts), True


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize(("k", "kind"), KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_log_loss_parity_every_format(
    tmp_path: Path, seed: int, k: int, kind: str, fmt: str
) -> None:
    case = Case(seed, k, kind)
    report, weighted = _score_case(tmp_path, case, fmt)
    assert report.task == ("binary" if k == 1 else "multiclass")
    assert report.inputs == "probs"
    assert report.n_samples == case.n
    assert report.n_ignored == 0
    assert report.aggregate.loss == approx(case.reference(weighted))
    weight_sum = case.w.sum() if weighted else float(case.n)
    assert report.aggregate.weight == approx(weight_sum)
    assert report.aggregate.sum == approx(case.reference(weighted) * weight_sum)
    assert report.aggregate.perplexity == approx(math.exp(case.reference(weighted)))
    assert report.aggregate.n_clipped == 0
    if kind == "str":
        assert report.classes == NAMES[:k]
    if kind == "pos":
        assert report.classes == ["ham", "spam"]


# --- per class -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "arrays"])
@pytest.mark.parametrize(("k", "kind"), [(1, "01"), (1, "pos"), (3, "str"), (10, "int")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_parity(tmp_path: Path, seed: int, k: int, kind: str, fmt: str) -> None:
    case = Case(seed, k, kind)
    report, weighted = _score_case(tmp_path, case, fmt)
    n_classes = 2 if k == 1 else k
    assert len(report.per_class) == n_classes
    w = case.w if weighted else np.ones(case.n)
    for c, row in enumerate(report.per_class):
        rows = np.flatnonzero(case.y == c)
        assert row.n == len(rows)
        assert row.weight == approx(w[rows].sum())
        if w[rows].sum() > 0:
            assert row.loss == approx(case.reference(weighted, rows))
            assert row.sum == approx(case.reference(weighted, rows) * w[rows].sum())
    assert math.fsum(r.sum for r in report.per_class) == approx(report.aggregate.sum)
    assert math.fsum(r.share for r in report.per_class) == approx(1.0)
    for row in report.per_class:
        assert row.share == approx(row.sum / report.aggregate.sum)


# --- edge cases: clipping, one class, zero weights -----------------------------


def test_binary_exact_zero_and_one_are_clipped_like_sklearn(tmp_path: Path) -> None:
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-300, 1e-17, 1.0 - 1e-17, 0.3, EPS, 1.0 - EPS])
    y = np.array([0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0])
    expected = log_loss(y, y_proba=p, labels=[0, 1])
    n_outside = int(np.count_nonzero((p < EPS) | (p > 1.0 - EPS)))
    path = write_text(tmp_path / "p.csv", {"y": y, "p": p})
    for report in (xent.score(str(path)), xent.score_arrays(y, p)):
        assert report.aggregate.loss == approx(expected)
        assert report.aggregate.n_clipped == n_outside
        worst = max(report.top, key=lambda s: s.loss)
        assert worst.loss == approx(-math.log(EPS))  # 36.04 nats, never inf
        assert math.isfinite(report.aggregate.loss)


def test_multiclass_exact_zero_and_one_are_clipped_like_sklearn() -> None:
    P = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.5, 0.5, 0.0],
            [0.2, 0.3, 0.5],
            [0.0, 0.25, 0.75],
        ]
    )
    y = np.array([0, 0, 2, 2, 1, 0])
    expected = log_loss(y, y_proba=P, labels=[0, 1, 2])
    report = xent.score_arrays(y, P, per_sample=True)
    assert report.aggregate.loss == approx(expected)
    assert report.per_sample is not None
    ref = -np.log(np.clip(P, EPS, 1 - EPS)[np.arange(len(y)), y])
    assert [s.loss for s in report.per_sample] == approx(ref.tolist())
    # §3: "The number of clipped values is reported" -- the values sklearn clips,
    # i.e. every prediction value outside [eps, 1 - eps].
    assert report.aggregate.n_clipped == int(np.count_nonzero((P < EPS) | (P > 1 - EPS)))


def test_n_clipped_does_not_depend_on_how_the_same_targets_are_given() -> None:
    """Hard labels and the equivalent one-hot soft labels give the same loss and the
    same count of clipped values for the same predictions."""
    P = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.25, 0.75, 0.0]])
    y = np.array([0, 1, 1])
    hard = xent.score_arrays(y, P)
    soft = xent.score_arrays(np.eye(3)[y], P)
    assert soft.aggregate.loss == approx(hard.aggregate.loss)
    assert soft.aggregate.n_clipped == hard.aggregate.n_clipped


def test_one_class_present_multiclass(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    P = rng.dirichlet(np.ones(3), size=50)
    y = np.zeros(50, dtype=np.int64)
    w = rng.uniform(0, 2, 50)
    expected = log_loss(y, y_proba=P, labels=[0, 1, 2], sample_weight=w)
    cols = {"label": np.array(["cat"] * 50), "p_cat": P[:, 0], "p_dog": P[:, 1], "p_bird": P[:, 2]}
    path = write_table(tmp_path, "parquet", {**cols, "w": w})
    report = xent.score(str(path), weight_col="w")
    assert report.aggregate.loss == approx(expected)
    assert [c.n for c in report.per_class] == [50, 0, 0]
    assert report.per_class[0].loss == approx(expected)
    assert report.per_class[0].share == approx(1.0)
    assert report.reference.prior == 0.0


def test_one_class_present_binary() -> None:
    rng = np.random.default_rng(6)
    p = rng.uniform(size=40)
    for value in (0, 1):
        y = np.full(40, value)
        expected = log_loss(y, y_proba=p, labels=[0, 1])
        report = xent.score_arrays(y, p)
        assert report.aggregate.loss == approx(expected)
        assert report.per_class[value].n == 40
        assert report.per_class[1 - value].n == 0


def test_zero_weights_drop_out_of_every_mean() -> None:
    rng = np.random.default_rng(7)
    P = rng.dirichlet(np.ones(4), size=60)
    y = rng.integers(0, 4, 60)
    w = np.where(np.arange(60) % 3 == 0, 0.0, rng.uniform(0.5, 2.0, 60))
    P[w == 0.0] = np.array([1.0, 0.0, 0.0, 0.0])  # terrible but weightless rows
    y[w == 0.0] = 3
    expected = log_loss(y, y_proba=P, labels=[0, 1, 2, 3], sample_weight=w)
    kept = w > 0
    assert expected == approx(
        log_loss(y[kept], y_proba=P[kept], labels=[0, 1, 2, 3], sample_weight=w[kept])
    )
    report = xent.score_arrays(y, P, sample_weight=w)
    assert report.aggregate.loss == approx(expected)
    assert report.n_samples == 60
    assert report.aggregate.weight == approx(w.sum())


# --- logits ----------------------------------------------------------------------


def _ce_logits(y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    return -log_softmax(Z, axis=1)[np.arange(len(y)), y]


def _bce_logits(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.where(y == 1, -log_expit(z), -log_expit(-z))


@pytest.mark.parametrize("k", [2, 3, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multiclass_logits(tmp_path: Path, seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    Z = rng.normal(0.0, 4.0, (150, k))
    y = rng.integers(0, k, 150)
    w = rng.uniform(0, 2, 150)
    ref = _ce_logits(y, Z)
    report = xent.score_arrays(y, Z, inputs="logits", per_sample=True)
    assert report.inputs == "logits"
    assert report.aggregate.loss == approx(ref.mean())
    assert report.per_sample is not None
    assert [s.loss for s in report.per_sample] == approx(ref.tolist())
    assert report.aggregate.n_clipped == 0
    weighted = xent.score_arrays(y, Z, inputs="logits", sample_weight=w)
    assert weighted.aggregate.loss == approx(np.average(ref, weights=w))
    # auto-detection: logits are values outside [0, 1]
    cols = {"label": y, **{f"logit_{j}": Z[:, j] for j in range(k)}}
    auto = xent.score(str(write_table(tmp_path, "parquet", cols)))
    assert auto.inputs == "logits"
    assert auto.inputs_detected
    assert auto.aggregate.loss == approx(ref.mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_logits(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 5.0, 200)
    y = rng.integers(0, 2, 200)
    ref = _bce_logits(y, z)
    report = xent.score_arrays(y, z, inputs="logits")
    assert report.aggregate.loss == approx(ref.mean())
    auto = xent.score(str(write_table(tmp_path, "csv", {"y": y, "logit": z})))
    assert auto.inputs == "logits"
    assert auto.aggregate.loss == approx(ref.mean())
    for c in (0, 1):
        assert auto.per_class[c].loss == approx(ref[y == c].mean())


def test_huge_logits_are_finite_and_exact() -> None:
    Z = np.array(
        [[1e5, -1e5, 0.0], [-1e5, 1e5, 3.0], [0.0, 0.0, 1e5], [1e4, 1e4, -1e4], [-1e4, 0.0, 1e4]]
    )
    y = np.array([1, 0, 0, 2, 0])
    ref = _ce_logits(y, Z)
    report = xent.score_arrays(y, Z, inputs="logits", per_sample=True)
    assert np.all(np.isfinite(ref))
    assert math.isfinite(report.aggregate.loss)
    assert report.aggregate.loss == approx(ref.mean())
    assert report.per_sample is not None
    assert [s.loss for s in report.per_sample] == approx(ref.tolist())
    assert report.aggregate.perplexity == math.inf  # mean loss ~ 5e4 nats overflows exp

    z = np.array([1e5, -1e5, 1e5, -1e5, 1e4, -1e4, 0.0])
    yb = np.array([0, 1, 1, 0, 0, 1, 1])
    refb = _bce_logits(yb, z)
    binary = xent.score_arrays(yb, z, inputs="logits", per_sample=True)
    assert math.isfinite(binary.aggregate.loss)
    assert binary.aggregate.loss == approx(refb.mean())
    assert binary.per_sample is not None
    assert [s.loss for s in binary.per_sample] == approx(refb.tolist())


def test_auto_detects_logits_in_a_later_batch_npy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file bigger than one batch (65536 rows) whose first batch looks like
    probabilities and whose last batch holds a logit > 1."""
    monkeypatch.setattr(xent.limits, "rows_per_chunk", lambda row_bytes: 65_536)
    n = 70_000
    rng = np.random.default_rng(11)
    z = rng.uniform(0.0, 1.0, n)
    z[-5] = 7.5
    y = rng.integers(0, 2, n)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    auto = xent.score(str(tmp_path / "z.npy"), labels=str(tmp_path / "y.npy"))
    explicit = xent.score(str(tmp_path / "z.npy"), labels=str(tmp_path / "y.npy"), inputs="logits")
    assert auto.inputs == "logits"
    assert auto.aggregate.loss == approx(explicit.aggregate.loss)
    assert auto.aggregate.loss == approx(_bce_logits(y, z).mean())
    assert auto.n_samples == n


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_auto_detects_multiclass_logits_in_a_later_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """First chunk: valid probability rows; a later chunk: logits."""
    monkeypatch.setattr(xent.limits, "rows_per_chunk", lambda row_bytes: 64)
    monkeypatch.setattr(xent.limits, "BLOCK_BYTES", 4096)
    rng = np.random.default_rng(12)
    n = 1500
    Z = rng.dirichlet(np.ones(3), size=n)
    Z[-200:] = rng.normal(0.0, 3.0, (200, 3))
    y = rng.integers(0, 3, n)
    cols = {"label": y, "s_a": Z[:, 0], "s_b": Z[:, 1], "s_c": Z[:, 2]}
    path = str(write_table(tmp_path, fmt, cols))
    auto = xent.score(path, per_sample=True)
    explicit = xent.score(path, inputs="logits")
    assert auto.inputs == "logits"
    assert auto.aggregate.loss == approx(explicit.aggregate.loss)
    assert auto.aggregate.loss == approx(_ce_logits(y, Z).mean())
    assert auto.per_sample is not None
    assert [s.index for s in auto.per_sample] == list(range(n))  # no row scored twice
    assert auto.n_samples == n


def test_auto_detects_logits_when_first_chunk_is_in_unit_interval_but_not_normalized(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§2: probabilities only when *every* value lies in [0, 1]. Logits of a first
    chunk that happen to lie in [0, 1] (rows not summing to 1) must not stop the
    detection of a later value > 1."""
    monkeypatch.setattr(xent.limits, "rows_per_chunk", lambda row_bytes: 100)
    rng = np.random.default_rng(13)
    Z = np.vstack([rng.uniform(0.0, 1.0, (100, 3)), rng.normal(0.0, 3.0, (100, 3))])
    y = rng.integers(0, 3, 200)
    np.save(tmp_path / "z.npy", Z)
    np.save(tmp_path / "y.npy", y)
    explicit = xent.score(str(tmp_path / "z.npy"), labels=str(tmp_path / "y.npy"), inputs="logits")
    auto = xent.score(str(tmp_path / "z.npy"), labels=str(tmp_path / "y.npy"))
    assert auto.inputs == "logits"
    assert auto.aggregate.loss == approx(explicit.aggregate.loss)
    assert auto.aggregate.loss == approx(_ce_logits(y, Z).mean())


def test_auto_detects_binary_logits_in_a_later_csv_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xent.limits, "BLOCK_BYTES", 2048)
    rng = np.random.default_rng(14)
    z = rng.uniform(0.0, 1.0, 3000)
    z[2900] = -3.0
    y = rng.integers(0, 2, 3000)
    path = str(write_table(tmp_path, "csv", {"label": y, "score": z}))
    auto = xent.score(path)
    assert auto.inputs == "logits"
    assert auto.aggregate.loss == approx(xent.score(path, inputs="logits").aggregate.loss)
    assert auto.aggregate.loss == approx(_bce_logits(y, z).mean())


# --- log-probabilities -------------------------------------------------------------


@pytest.mark.parametrize("k", [3, 10])
def test_multiclass_log_probs(tmp_path: Path, k: int) -> None:
    rng = np.random.default_rng(k)
    LP = np.log(rng.dirichlet(np.ones(k), size=120))
    y = rng.integers(0, k, 120)
    ref = -LP[np.arange(120), y]
    report = xent.score_arrays(y, LP, inputs="log-probs")
    assert report.inputs == "log-probs"
    assert report.aggregate.loss == approx(ref.mean())
    cols = {"label": y, **{f"logp_{j}": LP[:, j] for j in range(k)}}
    from_file = xent.score(str(write_table(tmp_path, "feather", cols)), inputs="log-probs")
    assert from_file.aggregate.loss == approx(ref.mean())


def test_binary_log_probs() -> None:
    rng = np.random.default_rng(21)
    p = rng.uniform(0.01, 0.99, 100)
    lp = np.log(p)
    y = rng.integers(0, 2, 100)
    ref = np.where(y == 1, -lp, -np.log1p(-np.exp(lp)))
    report = xent.score_arrays(y, lp, inputs="log-probs")
    assert report.aggregate.loss == approx(ref.mean())


# --- label smoothing -------------------------------------------------------------


@pytest.mark.parametrize("a", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("k", [3, 10])
def test_label_smoothing_multiclass_probs(a: float, k: int) -> None:
    rng = np.random.default_rng(k)
    P = rng.dirichlet(np.ones(k), size=100)
    P[0] = np.eye(k)[0]  # zeros get clipped before the log
    y = rng.integers(0, k, 100)
    w = rng.uniform(0, 2, 100)
    q = (1 - a) * np.eye(k)[y] + a / k
    ref = -(q * np.log(np.clip(P, EPS, 1 - EPS))).sum(axis=1)
    report = xent.score_arrays(y, P, label_smoothing=a, sample_weight=w)
    assert report.aggregate.loss == approx(np.average(ref, weights=w))
    for c in range(k):
        rows = y == c
        if rows.any():
            assert report.per_class[c].loss == approx(np.average(ref[rows], weights=w[rows]))


@pytest.mark.parametrize("a", [0.1, 0.2])
@pytest.mark.parametrize("k", [2, 5])
def test_label_smoothing_multiclass_logits_like_torch(a: float, k: int) -> None:
    rng = np.random.default_rng(k + 100)
    Z = rng.normal(0.0, 3.0, (100, k))
    y = rng.integers(0, k, 100)
    logp = log_softmax(Z, axis=1)
    # torch.nn.functional.cross_entropy(..., label_smoothing=a)
    ref = (1 - a) * -logp[np.arange(100), y] + a * (-logp).mean(axis=1)
    report = xent.score_arrays(y, Z, inputs="logits", label_smoothing=a)
    assert report.aggregate.loss == approx(ref.mean())
    lp_report = xent.score_arrays(y, logp, inputs="log-probs", label_smoothing=a)
    assert lp_report.aggregate.loss == approx(ref.mean())


@pytest.mark.parametrize("a", [0.1, 0.25])
def test_label_smoothing_binary(a: float) -> None:
    rng = np.random.default_rng(31)
    p = rng.uniform(0, 1, 150)
    p[:3] = [0.0, 1.0, 0.5]
    y = rng.integers(0, 2, 150)
    t = (1 - a) * y + a / 2
    pc = np.clip(p, EPS, 1 - EPS)
    ref = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
    assert xent.score_arrays(y, p, label_smoothing=a).aggregate.loss == approx(ref.mean())
    z = rng.normal(0, 4, 150)
    ref_z = -(t * log_expit(z) + (1 - t) * log_expit(-z))
    report = xent.score_arrays(y, z, inputs="logits", label_smoothing=a)
    assert report.aggregate.loss == approx(ref_z.mean())


# --- soft labels and multilabel --------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "npz", "arrays"])
def test_soft_labels(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(41)
    k, n = 4, 80
    P = rng.dirichlet(np.ones(k), size=n)
    Q = rng.dirichlet(np.ones(k) * 0.5, size=n)
    ref = -(Q * np.log(P)).sum(axis=1)
    names = NAMES[:k]
    if fmt == "arrays":
        report = xent.score_arrays(Q, P, classes=names)
    elif fmt == "npz":
        np.savez(tmp_path / "soft.npz", y_true=Q, y_pred=P)
        report = xent.score(str(tmp_path / "soft.npz"), classes=names)
    else:
        cols = {
            **{f"q_{c}": Q[:, j] for j, c in enumerate(names)},
            **{f"p_{c}": P[:, j] for j, c in enumerate(names)},
        }
        path = write_table(tmp_path, fmt, cols)
        report = xent.score(str(path), label_cols="q_*", pred_cols="p_*")
    assert report.task == "multiclass"
    assert report.aggregate.loss == approx(ref.mean())
    assert math.fsum(c.sum for c in report.per_class) == approx(report.aggregate.sum)


def test_soft_labels_with_smoothing_and_weights() -> None:
    rng = np.random.default_rng(42)
    k, n, a = 3, 60, 0.2
    P = rng.dirichlet(np.ones(k), size=n)
    Q = rng.dirichlet(np.ones(k), size=n)
    w = rng.uniform(0, 2, n)
    q = (1 - a) * Q + a / k
    ref = -(q * np.log(P)).sum(axis=1)
    report = xent.score_arrays(Q, P, sample_weight=w, label_smoothing=a)
    assert report.aggregate.loss == approx(np.average(ref, weights=w))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "arrow", "npy", "arrays"])
def test_multilabel(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(51)
    k, n = 5, 90
    P = rng.uniform(0, 1, (n, k))
    P[0, 0], P[1, 1] = 0.0, 1.0
    Y = rng.integers(0, 2, (n, k))
    Pc = np.clip(P, EPS, 1 - EPS)
    elements = -(Y * np.log(Pc) + (1 - Y) * np.log(1 - Pc))
    names = NAMES[:k]
    if fmt == "arrays":
        report = xent.score_arrays(Y, P, task="multilabel", classes=names, per_sample=True)
    elif fmt == "npy":
        np.save(tmp_path / "p.npy", P)
        np.save(tmp_path / "y.npy", Y)
        report = xent.score(
            str(tmp_path / "p.npy"),
            labels=str(tmp_path / "y.npy"),
            task="multilabel",
            classes=names,
            per_sample=True,
        )
    else:
        cols = {
            **{f"y_{c}": Y[:, j] for j, c in enumerate(names)},
            **{f"p_{c}": P[:, j] for j, c in enumerate(names)},
        }
        path = write_table(tmp_path, fmt, cols)
        report = xent.score(
            str(path), task="multilabel", label_cols="y_*", pred_cols="p_*", per_sample=True
        )
    assert report.task == "multilabel"
    assert report.classes == names
    assert report.aggregate.loss == approx(elements.mean())
    flat = log_loss(Y.ravel(), y_proba=P.ravel(), labels=[0, 1])
    assert report.aggregate.loss == approx(flat)
    for j, row in enumerate(report.per_class):
        assert row.loss == approx(log_loss(Y[:, j], y_proba=P[:, j], labels=[0, 1]))
        assert row.n == n
    assert report.per_sample is not None
    assert [s.loss for s in report.per_sample] == approx(elements.mean(axis=1).tolist())
    assert math.fsum(c.sum for c in report.per_class) == approx(report.aggregate.sum)


def test_multilabel_weighted() -> None:
    rng = np.random.default_rng(52)
    k, n = 3, 70
    P = rng.uniform(0, 1, (n, k))
    Y = rng.integers(0, 2, (n, k))
    w = rng.uniform(0, 2, n)
    flat = log_loss(Y.ravel(), y_proba=P.ravel(), labels=[0, 1], sample_weight=np.repeat(w, k))
    report = xent.score_arrays(Y, P, task="multilabel", sample_weight=w)
    assert report.aggregate.loss == approx(flat)
    for j, row in enumerate(report.per_class):
        assert row.loss == approx(
            log_loss(Y[:, j], y_proba=P[:, j], labels=[0, 1], sample_weight=w)
        )


# --- class weights and ignored labels ----------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "arrays"])
def test_class_weights(tmp_path: Path, fmt: str) -> None:
    case = Case(3, 3, "str")
    cw = {"cat": 2.0, "bird": 0.5}
    per_label = np.array([cw.get(c, 1.0) for c in NAMES[:3]])[case.y]
    report, weighted = _score_case(tmp_path, case, fmt, class_weights=cw)
    w = per_label * (case.w if weighted else 1.0)
    expected = log_loss(case.y, y_proba=case.pred, labels=[0, 1, 2], sample_weight=w)
    assert report.aggregate.loss == approx(expected)
    assert report.aggregate.weight == approx(w.sum())
    for c, row in enumerate(report.per_class):
        rows = case.y == c
        assert row.loss == approx(
            log_loss(case.y[rows], y_proba=case.pred[rows], labels=[0, 1, 2], sample_weight=w[rows])
        )


def test_class_weights_binary() -> None:
    case = Case(4, 1, "pos")
    report = xent.score_arrays(case.label, case.pred, pos_label="spam", class_weights={"spam": 3.0})
    w = np.where(case.y == 1, 3.0, 1.0)
    assert report.aggregate.loss == approx(
        log_loss(case.y, y_proba=case.pred, labels=[0, 1], sample_weight=w)
    )


@pytest.mark.parametrize(
    "fmt", ["csv", "parquet", "jsonl", "two-files-id", "two-files-position", "arrays"]
)
def test_ignore_label_integer(tmp_path: Path, fmt: str) -> None:
    case = Case(5, 3, "int")
    ignored = np.zeros(case.n, dtype=bool)
    ignored[::5] = True
    case.label = np.where(ignored, -100, case.label)
    report, weighted = _score_case(tmp_path, case, fmt, ignore_label="-100")
    kept = np.flatnonzero(~ignored)
    assert report.n_ignored == int(ignored.sum())
    assert report.n_samples == len(kept)
    assert report.aggregate.loss == approx(case.reference(weighted, kept))
    assert sum(c.n for c in report.per_class) == len(kept)


@pytest.mark.parametrize("fmt", ["csv", "feather", "npz"])
def test_ignore_label_string(tmp_path: Path, fmt: str) -> None:
    case = Case(6, 3, "str")
    ignored = np.zeros(case.n, dtype=bool)
    ignored[3::7] = True
    case.label = np.where(ignored, "unknown", case.label)
    report, weighted = _score_case(tmp_path, case, fmt, ignore_label="unknown", per_sample=True)
    kept = np.flatnonzero(~ignored)
    assert report.n_ignored == int(ignored.sum())
    assert report.aggregate.loss == approx(case.reference(weighted, kept))
    assert report.per_sample is not None
    assert [s.index for s in report.per_sample] == kept.tolist()


def test_ignore_label_binary() -> None:
    case = Case(7, 1, "01")
    label = case.label.copy()
    label[:10] = -1
    report = xent.score_arrays(label, case.pred, ignore_label="-1", sample_weight=case.w)
    assert report.n_ignored == 10
    assert report.aggregate.loss == approx(case.reference(True, np.arange(10, case.n)))


# --- units -----------------------------------------------------------------------


@pytest.mark.parametrize(("k", "kind"), [(1, "01"), (3, "str")])
def test_bits(tmp_path: Path, k: int, kind: str) -> None:
    case = Case(8, k, kind)
    nats, _ = _score_case(tmp_path, case, "arrays", per_sample=True)
    bits, _ = _score_case(tmp_path, case, "arrays", per_sample=True, unit="bits")
    ln2 = math.log(2.0)
    expected = case.reference(True)
    assert bits.unit == "bits"
    assert bits.aggregate.loss == approx(expected / ln2)
    assert bits.aggregate.sum == approx(nats.aggregate.sum / ln2)
    assert bits.aggregate.perplexity == approx(math.exp(expected))
    assert nats.aggregate.perplexity == approx(math.exp(expected))
    for b, n in zip(bits.per_class, nats.per_class, strict=True):
        assert b.loss == approx(n.loss / ln2)
        assert b.share == approx(n.share)
    assert bits.reference.prior == approx(nats.reference.prior / ln2)
    assert bits.reference.uniform == approx(math.log(2 if k == 1 else k) / ln2)
    assert bits.reference.d2 == approx(nats.reference.d2)
    assert bits.per_sample is not None
    assert nats.per_sample is not None
    assert [s.loss for s in bits.per_sample] == approx([s.loss / ln2 for s in nats.per_sample])
    assert [s.loss for s in bits.top] == approx([s.loss / ln2 for s in nats.top])


# --- reference points --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "npy", "arrays"])
@pytest.mark.parametrize(("k", "kind"), [(1, "01"), (3, "str"), (10, "int")])
@pytest.mark.parametrize("seed", [0, 1])
def test_reference_points(tmp_path: Path, seed: int, k: int, kind: str, fmt: str) -> None:
    case = Case(seed, k, kind)
    report, weighted = _score_case(tmp_path, case, fmt)
    w = case.w if weighted else np.ones(case.n)
    freq = np.bincount(case.y, weights=w, minlength=len(case.sk_labels)) / w.sum()
    nz = freq[freq > 0]
    assert report.reference.prior == approx(float(-(nz * np.log(nz)).sum()))
    assert report.reference.uniform == approx(math.log(len(case.sk_labels)))
    d2 = d2_log_loss_score(
        case.y, y_proba=case.pred, labels=case.sk_labels, sample_weight=w if weighted else None
    )
    assert report.reference.d2 == approx(d2)


# --- eps ----------------------------------------------------------------------------


def test_eps_zero_gives_inf() -> None:
    P = np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]])
    y = np.array([0, 2])
    report = xent.score_arrays(y, P, eps=0, per_sample=True)
    assert report.aggregate.loss == math.inf
    assert report.aggregate.n_clipped == 0
    assert report.per_sample is not None
    assert report.per_sample[0].loss == math.inf
    assert report.per_sample[1].loss == approx(-math.log(0.5))
    assert report.per_class[0].loss == math.inf
    binary = xent.score_arrays(np.array([1, 0]), np.array([0.0, 0.4]), eps=0.0)
    assert binary.aggregate.loss == math.inf
    # a zero probability on a wrong class costs nothing without clipping
    fine = xent.score_arrays(np.array([1, 2]), P, eps="0")
    assert fine.aggregate.loss == approx(-(math.log(0.5) + math.log(0.5)) / 2)


@pytest.mark.parametrize(("k", "kind"), [(1, "01"), (3, "int"), (10, "str")])
def test_eps_custom(tmp_path: Path, k: int, kind: str) -> None:
    case = Case(9, k, kind)
    e = 1e-7
    if k == 1:
        case.pred[:6] = [0.0, 1.0, 1e-9, 1 - 1e-9, 0.0, 1.0]
        case.y[:6] = [1, 0, 1, 0, 0, 1]
        case.label = case.y.astype(np.int64)
        pc = np.clip(case.pred, e, 1 - e)
        ref = -np.log(np.where(case.y == 1, pc, 1 - pc))
    else:
        case.pred[0] = np.eye(k)[0]
        case.y[0] = 1
        case.label = np.asarray(NAMES[:k])[case.y] if kind == "str" else case.y
        pc = np.clip(case.pred, e, 1 - e)
        ref = -np.log(pc[np.arange(case.n), case.y])
    report, weighted = _score_case(tmp_path, case, "csv", eps=e)
    assert weighted
    assert report.aggregate.loss == approx(np.average(ref, weights=case.w))
    assert max(s.loss for s in report.top) == approx(ref.max())


# --- label encodings beyond the random matrix ----------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "npz"])
def test_binary_two_integer_values_with_pos_label(tmp_path: Path, fmt: str) -> None:
    case = Case(10, 1, "01")
    label = np.where(case.y == 1, 7, 3)
    if fmt == "npz":
        np.savez(tmp_path / "b.npz", y_true=label, y_pred=case.pred)
        report = xent.score(str(tmp_path / "b.npz"), pos_label="7")
        weighted = False
    else:
        path = write_table(tmp_path, fmt, {"target": label, "p": case.pred, "w": case.w})
        report = xent.score(str(path), pos_label="7", weight_col="w")
        weighted = True
    assert report.aggregate.loss == approx(case.reference(weighted))
    assert report.classes[1] == "7"
    assert report.per_class[1].n == int(case.y.sum())


@pytest.mark.parametrize("fmt", ["csv", "parquet", "arrow"])
def test_integer_labels_index_named_columns(tmp_path: Path, fmt: str) -> None:
    """§2: integer labels 0..K-1 index the columns in order when the class names are
    not integers; when they are, labels match them by value."""
    case = Case(11, 3, "int")
    named = {
        "y": case.y,
        "prob_cat": case.pred[:, 0],
        "prob_dog": case.pred[:, 1],
        "prob_bird": case.pred[:, 2],
    }
    report = xent.score(str(write_table(tmp_path, fmt, named, stem="named")))
    assert report.classes == ["cat", "dog", "bird"]
    assert report.aggregate.loss == approx(case.reference(False))
    # class names 10, 20, 30: the label 20 is the second column, not an index
    valued = {
        "y": np.array([10, 20, 30])[case.y],
        "p_10": case.pred[:, 0],
        "p_20": case.pred[:, 1],
        "p_30": case.pred[:, 2],
    }
    report = xent.score(str(write_table(tmp_path, fmt, valued, stem="valued")))
    assert report.classes == ["10", "20", "30"]
    assert report.aggregate.loss == approx(case.reference(False))
    # class names in a shuffled column order: matched by name, not position
    shuffled = {
        "y": np.asarray(NAMES[:3])[case.y],
        "p_bird": case.pred[:, 2],
        "p_cat": case.pred[:, 0],
        "p_dog": case.pred[:, 1],
    }
    report = xent.score(str(write_table(tmp_path, fmt, shuffled, stem="shuffled")))
    assert report.aggregate.loss == approx(case.reference(False))


@pytest.mark.parametrize("mean_loss", [1.5, 700.0, 709.0, 709.7, 709.8, 5e4])
def test_perplexity_is_exp_of_the_mean_loss_until_it_overflows(mean_loss: float) -> None:
    """Perplexity = exp(mean loss in nats); inf only where exp overflows (> 709.78)."""
    z = np.array([[0.0, mean_loss]])  # loss of class 0: log(1 + e^L) = L (+ e^-L)
    report = xent.score_arrays(np.array([0]), z, inputs="logits")
    loss = float(np.logaddexp(0.0, mean_loss))
    assert report.aggregate.loss == approx(loss)
    expected = math.exp(loss) if loss < math.log(np.finfo(np.float64).max) else math.inf
    assert report.aggregate.perplexity == approx(expected)
    bits = xent.score_arrays(np.array([0]), z, inputs="logits", unit="bits")
    assert bits.aggregate.perplexity == approx(expected)
