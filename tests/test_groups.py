"""Reports by group (``--by``): per-group figures, their outputs, the group gate,
``compare --by`` and the Dask engine.

Figures are checked against independent computations at 1e-12 relative:
pandas ``groupby`` with ``sklearn.metrics.log_loss`` per group (binary and
multiclass probabilities, weights, ignored labels), a log-softmax from SciPy
(logits), and, for the options scikit-learn lacks (class weights, label
smoothing, multilabel, soft labels), xent itself scoring each group's rows
written to a file of their own. Tiny chunks (``xent.limits``) check that a
group met in several chunks is merged into one.

Tests that state the contract where xent does not meet it yet are left failing
on purpose (no xfail): each names the bug in its docstring.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import log_softmax
from sklearn.metrics import log_loss

import xent
from xent import limits

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]

try:
    #: Tests taking more than a few seconds; deselect them with ``-m "not slow"``.
    slow = pytest.mark.slow
except pytest.fail.Exception:
    # --strict-markers and no ``markers = ["slow: ..."]`` in pyproject.toml yet:
    # run them unmarked rather than fail the whole module's collection.
    def slow(function: Any) -> Any:
        return function


REL = 1e-12
CLASSES = ("cat", "dog", "bird")
TAGS = ("news", "sport", "tech")
#: Group sizes (uneven; ``sw`` is small) and how noisy each group's predictions are.
SIZES = {"en": 80, "fr": 60, "de": 45, "ja": 30, "sw": 12}
NOISE = {"en": 0.5, "fr": 0.9, "de": 1.4, "ja": 2.0, "sw": 2.8}
SOURCES = ("web", "books", "news")


# --------------------------------------------------------------------------- helpers


def close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def assert_close(a: float, b: float, what: str = "", rel: float = REL) -> None:
    assert close(a, b, rel), f"{what}: {a!r} != {b!r} (relative {abs(a - b) / abs(b):.3g})"


def run_json(invoke: Invoke, args: Sequence[str]) -> dict[str, Any]:
    code, out, err = invoke([*args, "--format", "json"])
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def key_of(group: dict[str, Any], by: Sequence[str]) -> Any:
    """A JSON group's key as pandas names it: the value, or a tuple for several columns."""
    assert list(group["key"]) == list(by)
    values = tuple(group["key"][c] for c in by)
    return values[0] if len(by) == 1 else values


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _langs(rng: np.random.Generator) -> np.ndarray:
    langs = np.concatenate([np.full(n, lang) for lang, n in SIZES.items()]).astype(object)
    rng.shuffle(langs)
    return langs


def make_frame(task: str, seed: int = 0, *, weights: bool = False) -> pd.DataFrame:
    """Rows of five languages whose predictions get noisier from ``en`` to ``sw``.

    ``task``: ``binary`` (label 0/1, column ``p``), ``multiclass`` (labels cat, dog,
    bird; ``p_*``), ``logits`` (labels 0-2; raw scores ``z_*``), ``multilabel``
    (``y_*`` 0/1, ``p_*``) or ``soft`` (``q_*`` distributions, ``p_*``). Every frame
    has ``id``, ``lang`` and ``src`` (a second group column); ``w`` with ``weights``.
    """
    rng = np.random.default_rng(seed)
    lang = _langs(rng)
    n = len(lang)
    noise = np.array([NOISE[v] for v in lang])
    columns: dict[str, Any] = {
        "id": [f"r{i:03d}" for i in range(n)],
        "lang": lang,
        "src": rng.choice(SOURCES, n).astype(object),
    }
    if weights:
        w = rng.uniform(0.2, 3.0, n)
        w[::17] = 0.0  # weightless rows count in n, not in the loss
        columns["w"] = w
    if task == "binary":
        y = rng.integers(0, 2, n)
        logit = (2 * y - 1) * 1.2 + noise * rng.normal(size=n)
        columns["label"] = y
        columns["p"] = 1.0 / (1.0 + np.exp(-logit))
    elif task in ("multiclass", "logits"):
        y = rng.integers(0, 3, n)
        z = rng.normal(size=(n, 3)) * noise[:, None]
        z[np.arange(n), y] += 1.5
        if task == "logits":
            columns["label"] = y
            columns.update({f"z_{j}": z[:, j] for j in range(3)})
        else:
            columns["label"] = np.array(CLASSES, dtype=object)[y]
            p = _softmax(z)
            columns.update({f"p_{c}": p[:, j] for j, c in enumerate(CLASSES)})
    elif task == "multilabel":
        targets = rng.integers(0, 2, (n, 3))
        logit = (2 * targets - 1) * 1.0 + noise[:, None] * rng.normal(size=(n, 3))
        p = 1.0 / (1.0 + np.exp(-logit))
        columns.update({f"y_{t}": targets[:, j] for j, t in enumerate(TAGS)})
        columns.update({f"p_{t}": p[:, j] for j, t in enumerate(TAGS)})
    elif task == "soft":
        q = rng.dirichlet(np.ones(3), n)
        p = _softmax(np.log(q) + noise[:, None] * rng.normal(size=(n, 3)))
        columns.update({f"q_{c}": q[:, j] for j, c in enumerate(CLASSES)})
        columns.update({f"p_{c}": p[:, j] for j, c in enumerate(CLASSES)})
    else:
        raise AssertionError(task)
    return pd.DataFrame(columns)


def write(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` in the format its suffix names (floats round-trip exactly)."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=13)
    elif path.suffix == ".jsonl":
        with path.open("w") as handle:
            for record in frame.to_dict("records"):
                # A missing text value is NaN in pandas: write it as null.
                plain = {k: None if v is None or v != v else v for k, v in record.items()}
                handle.write(json.dumps(plain) + "\n")
    else:
        raise AssertionError(path)
    return path


def sample_losses(frame: pd.DataFrame, task: str) -> np.ndarray:
    """Each row's loss in nats, computed without xent."""
    if task == "binary":
        p, y = frame["p"].to_numpy(), frame["label"].to_numpy()
        out: np.ndarray = -np.log(np.where(y == 1, p, 1.0 - p))
        return out
    y = (
        frame["label"].map({c: j for j, c in enumerate(CLASSES)}).to_numpy()
        if task == "multiclass"
        else frame["label"].to_numpy()
    )
    if task == "logits":
        logp = log_softmax(frame[[f"z_{j}" for j in range(3)]].to_numpy(), axis=1)
    else:
        logp = np.log(frame[[f"p_{c}" for c in CLASSES]].to_numpy())
    return -logp[np.arange(len(y)), y.astype(int)]


def sklearn_groups(
    frame: pd.DataFrame, task: str, by: Sequence[str], classes: Sequence[str] = CLASSES
) -> dict[Any, dict[str, Any]]:
    """Per group: n, loss (log_loss of the group, weighted), weight and sum."""
    expected = {}
    keys = list(by) if len(by) > 1 else by[0]
    ordered = sorted(classes)  # log_loss takes the columns in the labels' sorted order
    for key, rows in frame.groupby(keys, sort=False, dropna=False):
        w = rows["w"].to_numpy() if "w" in rows else np.ones(len(rows))
        if task == "binary":
            loss = log_loss(rows["label"], y_proba=rows["p"], labels=[0, 1], sample_weight=w)
        elif task == "multiclass":
            loss = log_loss(
                rows["label"],
                y_proba=rows[[f"p_{c}" for c in ordered]].to_numpy(),
                labels=ordered,
                sample_weight=w,
            )
        elif task == "logits":
            loss = float(np.sum(w * sample_losses(rows, task)) / w.sum())
        else:
            raise AssertionError(task)
        weight = float(w.sum())
        expected[key] = {"n": len(rows), "loss": loss, "weight": weight, "sum": loss * weight}
    return expected


def assert_groups(
    data: dict[str, Any], expected: dict[Any, dict[str, Any]], by: Sequence[str], scale: float = 1.0
) -> None:
    """The report's groups equal ``expected`` (nats; ``scale`` converts to the report's
    unit), in order of loss, with shares, perplexities and the summary recomputed."""
    groups = data["groups"]
    assert data["by"] == list(by)
    got = {key_of(g, by): g for g in groups}
    assert len(got) == len(groups), "a group is listed twice"
    assert set(got) == set(expected)
    for key, want in expected.items():
        g = got[key]
        assert g["n"] == want["n"], key
        assert_close(g["loss"], want["loss"] * scale, f"{key} loss")
        assert_close(g["weight"], want["weight"], f"{key} weight")
        assert_close(g["sum"], want["sum"] * scale, f"{key} sum")
        assert_close(g["perplexity"], math.exp(want["loss"]), f"{key} perplexity")
    # Highest loss first (the expected losses are distinct).
    order = sorted(expected, key=lambda k: -expected[k]["loss"])
    assert [key_of(g, by) for g in groups] == order
    total = sum(w["sum"] for w in expected.values()) * scale
    for g in groups:
        assert_close(g["share"], g["sum"] / total, f"{key_of(g, by)} share")
    assert_close(math.fsum(g["share"] for g in groups), 1.0, "shares")
    assert_close(data["aggregate"]["sum"], total, "aggregate sum")
    summary = data["group_summary"]
    assert summary["n_groups"] == len(expected)
    assert_close(summary["macro_loss"], float(np.mean([g["loss"] for g in groups])), "macro")
    assert_close(
        summary["mean_perplexity"],
        float(np.mean([math.exp(w["loss"]) for w in expected.values()])),
        "mean perplexity",
    )


# --------------------------------------------------------------------------- 1. sklearn parity

PARITY = [
    pytest.param("binary", False, [], id="binary"),
    pytest.param("binary", True, ["--weight-col", "w"], id="binary-weighted"),
    pytest.param("multiclass", False, [], id="multiclass"),
    pytest.param("multiclass", True, ["--weight-col", "w"], id="multiclass-weighted"),
    pytest.param("logits", False, ["--inputs", "logits"], id="logits"),
    pytest.param("logits", True, ["--inputs", "logits", "--weight-col", "w"], id="logits-weighted"),
]


@pytest.mark.parametrize(("task", "weights", "args"), PARITY)
def test_groups_equal_sklearn_per_group(
    invoke: Invoke, tmp_path: Path, task: str, weights: bool, args: list[str]
) -> None:
    frame = make_frame(task, seed=1, weights=weights)
    path = write(frame, tmp_path / "preds.csv")
    data = run_json(invoke, ["score", str(path), "--by", "lang", *args])
    assert_groups(data, sklearn_groups(frame, task, ["lang"]), ["lang"])
    # The groups add up to the aggregate.
    assert sum(g["n"] for g in data["groups"]) == data["n_samples"] == len(frame)
    assert_close(math.fsum(g["weight"] for g in data["groups"]), data["aggregate"]["weight"])


def test_groups_in_bits(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=2, weights=True)
    path = write(frame, tmp_path / "preds.csv")
    data = run_json(
        invoke, ["score", str(path), "--by", "lang", "--weight-col", "w", "--unit", "bits"]
    )
    assert_groups(data, sklearn_groups(frame, "multiclass", ["lang"]), ["lang"], 1 / math.log(2))
    for g in data["groups"]:
        assert_close(g["perplexity"], 2.0 ** g["loss"], "perplexity is 2**bits")


def test_ignored_rows_are_in_no_group(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=3, weights=True)
    rng = np.random.default_rng(3)
    ignored = rng.random(len(frame)) < 0.2
    frame.loc[ignored, "label"] = "unk"
    path = write(frame, tmp_path / "preds.csv")
    data = run_json(
        invoke,
        ["score", str(path), "--by", "lang", "--weight-col", "w", "--ignore-label", "unk"],
    )
    assert data["n_ignored"] == int(ignored.sum())
    kept = frame[~ignored]
    assert_groups(data, sklearn_groups(kept, "multiclass", ["lang"]), ["lang"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_a_group_whose_rows_are_all_ignored_is_no_group(
    invoke: Invoke, tmp_path: Path, suffix: str
) -> None:
    """BUG (CSV): a group value met only on ignored rows is listed as a group with
    n 0 and loss NaN, counted in n_groups and in the gate's "not gated" note;
    Parquet and JSON Lines leave it out. The text group column is dictionary-encoded and the
    group keys are taken from the whole dictionary, also after ignored rows were
    dropped (``accumulate._encoded``)."""
    frame = make_frame("multiclass", seed=4)
    frame.loc[frame["lang"] == "sw", "label"] = "unk"
    path = write(frame, tmp_path / f"preds{suffix}")
    data = run_json(invoke, ["score", str(path), "--by", "lang", "--ignore-label", "unk"])
    assert data["n_ignored"] == SIZES["sw"]
    kept = frame[frame["lang"] != "sw"]
    assert_groups(data, sklearn_groups(kept, "multiclass", ["lang"]), ["lang"])


# --------------------------------------------------------------------------- 2. xent on subsets

MULTILABEL = [
    "--task",
    "multilabel",
    "--label-cols",
    "y_*",
    "--pred-cols",
    "p_*",
    "--weight-col",
    "w",
]
SOFT = ["--label-cols", "q_*", "--pred-cols", "p_*", "--weight-col", "w"]
SUBSET_CASES = [
    pytest.param(
        "multiclass",
        ["--pred-cols", "p_*", "--weight-col", "w", "--class-weights", "cat=2,dog=0.5,bird=1.5"],
        id="class-weights",
    ),
    pytest.param(
        "multiclass",
        ["--pred-cols", "p_*", "--weight-col", "w", "--label-smoothing", "0.1"],
        id="label-smoothing",
    ),
    pytest.param(
        "binary",
        ["--pred-cols", "p", "--weight-col", "w", "--label-smoothing", "0.2"],
        id="binary-label-smoothing",
    ),
    pytest.param(
        "multilabel",
        MULTILABEL,
        id="multilabel",
    ),
    pytest.param(
        "multilabel",
        [*MULTILABEL, "--class-weights", "news=2,sport=0.5,tech=1"],
        id="multilabel-class-weights",
    ),
    pytest.param("soft", SOFT, id="soft"),
    pytest.param(
        "soft",
        [*SOFT, "--class-weights", "cat=2,dog=0.5,bird=1"],
        id="soft-class-weights",
    ),
]


@pytest.mark.parametrize(("task", "args"), SUBSET_CASES)
def test_each_group_equals_scoring_its_rows_alone(
    invoke: Invoke, tmp_path: Path, task: str, args: list[str]
) -> None:
    frame = make_frame(task, seed=5, weights=True)
    path = write(frame, tmp_path / "all.csv")
    data = run_json(invoke, ["score", str(path), "--by", "lang", *args])
    groups = {g["key"]["lang"]: g for g in data["groups"]}
    assert set(groups) == set(SIZES)
    for lang, rows in frame.groupby("lang"):
        alone = run_json(invoke, ["score", str(write(rows, tmp_path / f"{lang}.csv")), *args])
        g = groups[lang]
        assert g["n"] == alone["n_samples"] == len(rows)
        for field in ("loss", "sum", "weight", "perplexity"):
            assert_close(g[field], alone["aggregate"][field], f"{lang} {field}")
        assert_close(g["share"], g["sum"] / data["aggregate"]["sum"], f"{lang} share")
    losses = [g["loss"] for g in data["groups"]]
    assert losses == sorted(losses, reverse=True)
    assert_close(data["group_summary"]["macro_loss"], float(np.mean(losses)), "macro")


def test_multilabel_groups_sum_over_elements(invoke: Invoke, tmp_path: Path) -> None:
    """A multilabel group's sum and weight run over its (sample, label) elements."""
    frame = make_frame("multilabel", seed=6, weights=True)
    path = write(frame, tmp_path / "tags.csv")
    data = run_json(invoke, ["score", str(path), "--by", "lang", *MULTILABEL])
    y = frame[[f"y_{t}" for t in TAGS]].to_numpy()
    p = frame[[f"p_{t}" for t in TAGS]].to_numpy()
    elements = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    for g in data["groups"]:
        rows = (frame["lang"] == g["key"]["lang"]).to_numpy()
        w = frame["w"].to_numpy()[rows]
        weight = 3 * w.sum()
        total = float((w[:, None] * elements[rows]).sum())
        assert_close(g["weight"], weight, "weight")
        assert_close(g["sum"], total, "sum")
        assert_close(g["loss"], total / weight, "loss")


# --------------------------------------------------------------------------- 3. chunk borders


def _tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "rows_per_chunk", lambda row_bytes: 7)
    # CSV and JSON Lines are parsed in blocks of BLOCK_BYTES whatever rows_per_chunk says.
    monkeypatch.setattr(limits, "BLOCK_BYTES", 997)


def _plain(value: Any) -> Any:
    """A key value comparable with ==: NaN (which equals nothing) as a marker."""
    return "<NaN>" if isinstance(value, float) and value != value else value


def _figures(report: xent.Report) -> list[tuple[Any, ...]]:
    assert report.groups is not None
    return [
        (tuple((c, _plain(v)) for c, v in g.key.items()), g.n, g.loss, g.sum, g.weight, g.share)
        for g in report.groups
    ]


def _assert_same_groups(ours: xent.Report, theirs: xent.Report) -> None:
    a, b = _figures(ours), _figures(theirs)
    assert [(k, n) for k, n, *_ in a] == [(k, n) for k, n, *_ in b]
    for (key, _, *x), (_, _, *y) in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            assert_close(u, v, str(key))
    assert ours.group_summary is not None
    assert theirs.group_summary is not None
    assert ours.group_summary.n_groups == theirs.group_summary.n_groups
    assert_close(ours.group_summary.macro_loss, theirs.group_summary.macro_loss, "macro")
    assert_close(
        ours.group_summary.mean_perplexity, theirs.group_summary.mean_perplexity, "perplexity"
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
@pytest.mark.parametrize("by", [("lang",), ("lang", "src")], ids=["lang", "lang-src"])
def test_groups_merge_across_chunks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, suffix: str, by: tuple[str, ...]
) -> None:
    frame = make_frame("multiclass", seed=7, weights=True)
    path = str(write(frame, tmp_path / f"preds{suffix}"))
    options = {"by": by, "weight_col": "w", "pred_cols": "p_*"}
    whole_done: list[int] = []
    whole = xent.score(path, progress=whole_done.append, **options)
    assert whole_done == [len(frame)], "the reference run is one chunk"

    _tiny_chunks(monkeypatch)
    done: list[int] = []
    chunked = xent.score(path, progress=done.append, **options)
    assert len(done) > 5, done
    # Every group is met in several chunks.
    chunk_of_row = np.searchsorted(np.array(done), np.arange(len(frame)), side="right")
    spans = pd.Series(chunk_of_row).groupby([frame[c] for c in by]).nunique()
    assert (spans > 1).all()

    _assert_same_groups(chunked, whole)
    expected = sklearn_groups(frame, "multiclass", list(by))
    assert chunked.groups is not None
    for g in chunked.groups:
        key = g.key[by[0]] if len(by) == 1 else tuple(g.key.values())
        assert g.n == expected[key]["n"]
        assert_close(g.loss, expected[key]["loss"], str(key))


def _typed_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` with an int, a bool, a nullable text and a float-with-NaN group column."""
    n = len(frame)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    maybe = [None if i % 5 == 0 else v for i, v in enumerate(frame["lang"])]
    floats = np.where(np.arange(n) % 4 == 0, np.nan, (np.arange(n) % 3).astype(float))
    return (
        table.append_column("num", pa.array(np.arange(n) % 3, type=pa.int64()))
        .append_column("flag", pa.array(np.arange(n) % 2 == 0))
        .append_column("maybe", pa.array(maybe, type=pa.string()))
        .append_column("f", pa.array(floats, from_pandas=False))  # NaN, not null
    )


@pytest.mark.parametrize("by", ["num", "flag", "maybe", "num,flag,maybe"])
def test_typed_group_columns_merge_across_parquet_row_groups(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, by: str
) -> None:
    frame = make_frame("multiclass", seed=8, weights=True)
    path = tmp_path / "typed.parquet"
    pq.write_table(_typed_table(frame), path, row_group_size=11)
    options = {"by": by, "weight_col": "w", "pred_cols": "p_*"}
    whole = xent.score(str(path), **options)
    _tiny_chunks(monkeypatch)
    _assert_same_groups(xent.score(str(path), **options), whole)


def test_nan_group_values_are_one_group_across_chunks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """BUG: a float group column holding NaN gives one group per chunk holding a NaN
    (``GroupSums`` maps keys through a dict, and NaN != NaN); in one chunk they
    are one group, so the figures depend on the chunk size."""
    frame = make_frame("multiclass", seed=8, weights=True)
    path = tmp_path / "typed.parquet"
    pq.write_table(_typed_table(frame), path, row_group_size=11)
    options = {"by": "f", "weight_col": "w", "pred_cols": "p_*"}
    whole = xent.score(str(path), **options)
    assert whole.groups is not None
    assert len(whole.groups) == 4  # 0.0, 1.0, 2.0 and NaN
    _tiny_chunks(monkeypatch)
    chunked = xent.score(str(path), **options)
    assert chunked.groups is not None
    assert len(chunked.groups) == 4
    _assert_same_groups(chunked, whole)


# --------------------------------------------------------------------------- 4. layouts


def _two_files(frame: pd.DataFrame, tmp_path: Path, *, shuffle: bool = False) -> tuple[Path, Path]:
    """Predictions (id, src, w, p_*) and labels (id, label, lang) in two CSV files."""
    labels = frame[["id", "label", "lang"]]
    if shuffle:
        labels = labels.sample(frac=1.0, random_state=0)
    preds = frame[["id", "src", "w", *(f"p_{c}" for c in CLASSES)]]
    return write(preds, tmp_path / "preds.csv"), write(labels, tmp_path / "labels.csv")


@pytest.mark.parametrize("join", [False, True], ids=["by-row", "by-id"])
def test_group_column_in_the_labels_file(invoke: Invoke, tmp_path: Path, join: bool) -> None:
    frame = make_frame("multiclass", seed=9, weights=True)
    preds, labels = _two_files(frame, tmp_path, shuffle=join)
    args = ["score", str(preds), "--labels", str(labels), "--weight-col", "w"]
    args += ["--id-col", "id"] if join else []
    data = run_json(invoke, [*args, "--by", "lang"])
    assert_groups(data, sklearn_groups(frame, "multiclass", ["lang"]), ["lang"])
    # One column from each file.
    data = run_json(invoke, [*args, "--by", "lang,src"])
    assert_groups(data, sklearn_groups(frame, "multiclass", ["lang", "src"]), ["lang", "src"])


def test_several_group_columns(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=10, weights=True)
    path = write(frame, tmp_path / "preds.csv")
    data = run_json(invoke, ["score", str(path), "--by", "src,lang", "--weight-col", "w"])
    assert_groups(data, sklearn_groups(frame, "multiclass", ["src", "lang"]), ["src", "lang"])
    assert data["group_summary"]["n_groups"] == len(SOURCES) * len(SIZES)


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_null_group_values_form_the_null_group(invoke: Invoke, tmp_path: Path, suffix: str) -> None:
    frame = make_frame("multiclass", seed=11, weights=True)
    frame.loc[frame["lang"] == "de", "lang"] = None
    path = write(frame, tmp_path / f"preds{suffix}")
    data = run_json(invoke, ["score", str(path), "--by", "lang", "--weight-col", "w"])
    expected = sklearn_groups(frame, "multiclass", ["lang"])
    expected = {(None if k is None or k != k else k): v for k, v in expected.items()}
    assert None in expected
    assert_groups(data, expected, ["lang"])
    # Several columns, one of them null.
    data = run_json(invoke, ["score", str(path), "--by", "lang,src", "--weight-col", "w"])
    nulls = [g for g in data["groups"] if g["key"]["lang"] is None]
    assert sorted(g["key"]["src"] for g in nulls) == sorted(SOURCES)
    assert sum(g["n"] for g in nulls) == SIZES["de"]


def test_integer_and_boolean_group_columns(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=12, weights=True)
    frame["num"] = np.arange(len(frame)) % 4
    frame["flag"] = frame["num"] % 2 == 0
    parquet = write(frame, tmp_path / "preds.parquet")
    csv = write(frame, tmp_path / "preds.csv")
    args = ["--weight-col", "w", "--pred-cols", "p_*"]
    for by in (["num"], ["flag"], ["num", "flag"]):
        expected = sklearn_groups(frame, "multiclass", by)
        data = run_json(invoke, ["score", str(parquet), "--by", ",".join(by), *args])
        # Parquet keeps the column's type: JSON numbers and booleans.
        for g in data["groups"]:
            assert {c: type(v) for c, v in g["key"].items()} == {
                c: {"num": int, "flag": bool}[c] for c in by
            }
        assert_groups(data, expected, by)
        # CSV cells are text: the same groups, keyed by their text.
        data = run_json(invoke, ["score", str(csv), "--by", ",".join(by), *args])
        as_text = {(str(k) if len(by) == 1 else tuple(map(str, k))): v for k, v in expected.items()}
        assert_groups(data, as_text, by)


def test_group_column_that_is_the_label_column(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=13, weights=True)
    path = write(frame, tmp_path / "preds.csv")
    data = run_json(invoke, ["score", str(path), "--by", "label", "--weight-col", "w"])
    expected = sklearn_groups(frame, "multiclass", ["label"])
    assert_groups(data, expected, ["label"])
    # Grouping by the label gives the per-class figures.
    per_class = {c["class"]: c for c in data["per_class"]}
    for g in data["groups"]:
        c = per_class[g["key"]["label"]]
        assert g["n"] == c["n"]
        assert_close(g["loss"], c["loss"], g["key"]["label"])


def test_group_column_that_is_the_label_column_of_a_labels_file(
    invoke: Invoke, tmp_path: Path
) -> None:
    """BUG: with --labels, --by naming the label column is an internal error:
    ``KeyError: 'Field "label" exists 2 times in schema'`` (exit 70): the label
    column is read twice from the labels file (``decode._LabelRows``)."""
    frame = make_frame("multiclass", seed=13, weights=True)
    preds, labels = _two_files(frame, tmp_path)
    args = ["score", str(preds), "--labels", str(labels), "--weight-col", "w"]
    code, out, err = invoke([*args, "--by", "label", "--format", "json"])
    assert code == 0, err
    assert_groups(json.loads(out), sklearn_groups(frame, "multiclass", ["label"]), ["label"])


def test_python_api(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=14, weights=True)
    path = str(write(frame, tmp_path / "preds.csv"))
    report = xent.score(path, by="lang", weight_col="w")
    assert report.by == ["lang"]
    assert report.groups is not None
    assert report.group_summary is not None
    expected = sklearn_groups(frame, "multiclass", ["lang"])
    assert len(report.groups) == report.group_summary.n_groups == len(SIZES)
    for g in report.groups:
        want = expected[g.key["lang"]]
        assert g.n == want["n"]
        assert_close(g.loss, want["loss"], "loss")
        assert_close(g.sum, want["sum"], "sum")
        assert_close(g.weight, want["weight"], "weight")
        assert_close(g.perplexity, math.exp(want["loss"]), "perplexity")
        assert_close(g.share, want["sum"] / report.aggregate.sum, "share")
    assert report.groups[0].loss == max(g.loss for g in report.groups)
    assert report.groups[-1] == report.groups[len(report.groups) - 1]
    assert [g.key for g in report.groups[:2]] == [report.groups[0].key, report.groups[1].key]
    # A tuple of columns, and the same figures as the command's JSON.
    pair = xent.score(path, by=("lang", "src"), weight_col="w")
    assert pair.groups is not None
    assert pair.by == ["lang", "src"]
    assert all(list(g.key) == ["lang", "src"] for g in pair.groups)
    assert pair.to_dict()["groups"] == [g.to_dict() for g in pair.groups]
    command = run_json(invoke, ["score", path, "--by", "lang,src", "--weight-col", "w"])
    assert pair.to_dict()["groups"] == command["groups"]
    assert pair.to_dict()["group_summary"] == command["group_summary"]
    # No --by, no groups.
    plain = xent.score(path, weight_col="w")
    assert plain.groups is None
    assert plain.group_summary is None
    assert "groups" not in plain.to_dict()


def test_by_errors(invoke: Invoke, tmp_path: Path) -> None:
    path = write(make_frame("multiclass", seed=15), tmp_path / "preds.csv")
    code, out, err = invoke(["score", str(path), "--by", "country"])
    assert (code, out) == (3, "")
    assert err.startswith("xent: error: ")
    assert "'country'" in err
    assert "--by" in err
    code, out, err = invoke(["score", str(path), "--by", "lang,lang"])
    assert (code, out) == (2, "")
    assert err == "xent: error: --by names the column 'lang' twice\n"


# --------------------------------------------------------------------------- 5. output formats

GROUP_FIELDS = ["key", "n", "loss", "sum", "weight", "perplexity", "share"]


def test_json_keys_and_order(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=16, weights=True)
    path = write(frame, tmp_path / "preds.csv")
    data = run_json(invoke, ["score", str(path), "--by", "lang,src", "--weight-col", "w"])
    assert data["by"] == ["lang", "src"]
    keys = list(data)
    assert keys.index("by") < keys.index("groups") < keys.index("group_summary")
    assert keys[-3:] == ["warnings", "gates", "passed"]
    assert len(data["groups"]) == len(SIZES) * len(SOURCES)  # every group, not a top-N
    for g in data["groups"]:
        assert list(g) == GROUP_FIELDS
        assert list(g["key"]) == ["lang", "src"]
        assert isinstance(g["n"], int)
    assert list(data["group_summary"]) == ["n_groups", "macro_loss", "mean_perplexity"]
    losses = [g["loss"] for g in data["groups"]]
    assert losses == sorted(losses, reverse=True)
    # Without --by, none of it.
    plain = run_json(invoke, ["score", str(path), "--weight-col", "w"])
    assert not {"by", "groups", "group_summary"} & set(plain)


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def num(value: float) -> str:
    """A figure as the table and Markdown show it: 4 significant digits, fixed-point."""
    magnitude = math.floor(math.log10(abs(value)))
    assert -4 <= magnitude < 6
    return f"{value:.{max(0, 3 - magnitude)}f}"


def _rows(section: str) -> list[str]:
    """The first cell of each row of a table section (after title, facts, header, rule)."""
    return [line.split()[0] for line in section.splitlines()[4:] if line.strip()]


def test_table_lists_the_worst_groups(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=17, weights=True)
    path = write(frame, tmp_path / "preds.csv")
    data = run_json(invoke, ["score", str(path), "--by", "lang", "--weight-col", "w"])
    order = [g["key"]["lang"] for g in data["groups"]]
    summary = data["group_summary"]

    code, out, err = invoke(
        ["score", str(path), "--by", "lang", "--weight-col", "w", "--top-groups", "2"]
    )
    assert (code, err) == (0, "")
    section = _section(out, "Per group (highest loss first)", "Per-sample loss")
    assert (
        f"5 groups · macro loss {num(summary['macro_loss'])} nats · mean perplexity "
        f"{num(summary['mean_perplexity'])}"
    ) in section
    assert _rows(section) == [*order[:2], "…"]
    assert "… 3 more groups (--top-groups 0 lists them all)" in section
    first = next(g for g in data["groups"] if g["key"]["lang"] == order[0])
    assert re.search(rf"^{order[0]}\s+{first['n']}\s+{num(first['loss'])}\s", section, re.M)

    for top in ("0", "10"):  # all 5 groups, no "more" line
        code, out, _ = invoke(
            ["score", str(path), "--by", "lang", "--weight-col", "w", "--top-groups", top]
        )
        section = _section(out, "Per group", "Per-sample loss")
        assert _rows(section) == order
        assert "more groups" not in section
    # Without --by, no section.
    code, out, _ = invoke(["score", str(path), "--weight-col", "w"])
    assert "Per group" not in out


def test_markdown_lists_the_worst_groups(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=17, weights=True)
    path = write(frame, tmp_path / "preds.csv")
    data = run_json(invoke, ["score", str(path), "--by", "lang", "--weight-col", "w"])
    groups, summary = data["groups"], data["group_summary"]
    args = ["score", str(path), "--by", "lang", "--weight-col", "w"]
    code, out, err = invoke([*args, "--top-groups", "2", "--format", "markdown"])
    assert (code, err) == (0, "")
    expected = "\n\n".join(
        [
            f"**Per group** (highest loss first): 5 groups, macro loss "
            f"{num(summary['macro_loss'])} nats, mean perplexity {num(summary['mean_perplexity'])}",
            "\n".join(
                [
                    "| lang | n | loss (nats) | share |",
                    "| :--- | ---: | ---: | ---: |",
                    *(
                        f"| {g['key']['lang']} | {g['n']} | {num(g['loss'])} | "
                        f"{100 * g['share']:.1f}% |"
                        for g in groups[:2]
                    ),
                ]
            ),
            "… 3 more groups",
        ]
    )
    assert expected in out


def test_csv_has_the_group_columns_after_the_id(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=18)
    frame.loc[::7, "src"] = 'web, "mobile"'  # a value that needs quoting
    path = write(frame, tmp_path / "preds.csv")
    code, out, err = invoke(["score", str(path), "--by", "lang,src", "--format", "csv"])
    assert out.splitlines()[1].startswith(f'0,r000,{frame["lang"][0]},"web, ""mobile""",')
    assert (code, err) == (0, "")
    table = pd.read_csv(io.StringIO(out), dtype={"id": str}, keep_default_na=False)
    assert list(table.columns) == ["index", "id", "lang", "src", "label", "loss"]
    assert table["index"].tolist() == list(range(len(frame)))
    assert table["id"].tolist() == frame["id"].tolist()
    assert table["lang"].tolist() == frame["lang"].tolist()
    assert table["src"].tolist() == frame["src"].tolist()
    assert table["label"].tolist() == frame["label"].tolist()
    losses = sample_losses(frame, "multiclass")
    for got, want in zip(table["loss"], losses, strict=True):
        assert_close(float(got), float(want), "loss")
    # Without --by: the four columns.
    code, out, _ = invoke(["score", str(path), "--format", "csv"])
    assert out.splitlines()[0] == "index,id,label,loss"


ESCAPE = "a\x1b[31mred"


def test_escape_sequences_in_group_values_are_shown_escaped(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=19)
    frame["lang"] = frame["lang"].replace({"sw": ESCAPE, "ja": "two\nlines"})
    path = write(frame, tmp_path / "preds.csv")
    args = ["score", str(path), "--by", "lang", "--top-groups", "0"]
    shown = {
        "table": ["a\\x1b[31mred", "two\\nlines"],
        "markdown": ["a\\\\x1b\\[31mred", "two\\\\nlines"],  # and Markdown-escaped
    }
    for fmt, values in shown.items():
        code, out, err = invoke([*args, "--format", fmt])
        assert code == 0, err
        assert "\x1b" not in out, fmt
        for value in values:
            assert value in out, (fmt, value)
    # The gate's failure line names the group, escaped.
    code, out, err = invoke([*args, "--max-group-loss", "0", "--format", "json"])
    assert code == 1
    assert "\x1b" not in err
    assert "lang=a\\x1b[31mred" in err
    # JSON holds the value itself.
    assert ESCAPE in {g["key"]["lang"] for g in json.loads(out)["groups"]}


# --------------------------------------------------------------------------- 6. gates


@pytest.fixture
def gated(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A file with five groups and their expected figures, highest loss first."""
    frame = make_frame("multiclass", seed=20, weights=True)
    path = write(frame, tmp_path / "preds.csv")
    expected = sklearn_groups(frame, "multiclass", ["lang"])
    ranked = [{"lang": k, **v} for k, v in expected.items()]
    ranked.sort(key=lambda g: -g["loss"])
    return path, ranked


def _gate(data: dict[str, Any]) -> dict[str, Any]:
    gates = [g for g in data["gates"] if g["gate"] == "max-group-loss"]
    assert len(gates) == 1
    return gates[0]


def test_group_gate_passes(invoke: Invoke, gated: tuple[Path, list[dict[str, Any]]]) -> None:
    path, ranked = gated
    threshold = ranked[0]["loss"] + 0.01
    args = ["score", str(path), "--by", "lang", "--weight-col", "w"]
    code, out, err = invoke([*args, "--format", "json", "--max-group-loss", str(threshold)])
    assert (code, err) == (0, "")
    data = json.loads(out)
    gate = _gate(data)
    assert list(gate) == ["gate", "value", "threshold", "passed", "failed_groups", "n_failed"]
    assert gate["passed"] is True
    assert data["passed"] is True
    assert_close(gate["value"], ranked[0]["loss"], "value")
    assert gate["threshold"] == threshold
    assert gate["failed_groups"] == []
    assert gate["n_failed"] == 0


def test_group_gate_fails(invoke: Invoke, gated: tuple[Path, list[dict[str, Any]]]) -> None:
    path, ranked = gated
    threshold = round((ranked[1]["loss"] + ranked[2]["loss"]) / 2, 4)
    args = ["score", str(path), "--by", "lang", "--weight-col", "w"]
    code, out, err = invoke([*args, "--format", "json", "--max-group-loss", str(threshold)])
    assert code == 1
    worst, second = ranked[0], ranked[1]
    assert err == (
        f"xent: gate max-group-loss failed: 2 group(s) above {threshold:.6g} nats, the worst at "
        f"{worst['loss']:.6g}: lang={worst['lang']}; lang={second['lang']}\n"
    )
    data = json.loads(out)  # the full report is still written
    gate = _gate(data)
    assert gate["passed"] is False
    assert data["passed"] is False
    assert_close(gate["value"], worst["loss"], "value")
    assert gate["threshold"] == threshold
    assert gate["failed_groups"] == [f"lang={worst['lang']}", f"lang={second['lang']}"]
    assert gate["n_failed"] == 2
    # The table and Markdown say it too, and exit 1 as well.
    for fmt in ("table", "markdown"):
        code, out, err2 = invoke([*args, "--format", fmt, "--max-group-loss", str(threshold)])
        assert code == 1
        assert err2 == err
        assert "max-group-loss" in out


def test_small_groups_are_not_gated(
    invoke: Invoke, gated: tuple[Path, list[dict[str, Any]]]
) -> None:
    path, ranked = gated
    size = max(g["n"] for g in ranked if g["loss"] == ranked[0]["loss"]) + 1
    big = [g for g in ranked if g["n"] >= size]
    small = [g for g in ranked if g["n"] < size]
    assert ranked[0] in small  # the worst group is too small to be gated
    assert big
    args = ["score", str(path), "--by", "lang", "--weight-col", "w", "--format", "json"]
    args += ["--min-group-size", str(size)]
    note = (
        f"{len(small)} of {len(ranked)} groups have fewer than --min-group-size {size} "
        "samples (or no weight) and are not gated\n"
    )

    # Above every big group, below the small worst one: passes.
    threshold = (big[0]["loss"] + ranked[0]["loss"]) / 2
    code, out, err = invoke([*args, "--max-group-loss", repr(threshold)])
    assert code == 0, err
    assert err.startswith("xent: gate max-group-loss: ")
    assert err.endswith(note)
    assert err.count("\n") == 1
    gate = _gate(json.loads(out))
    assert gate["passed"] is True
    assert_close(gate["value"], big[0]["loss"], "value: the highest gated loss")
    assert gate["n_failed"] == 0

    # Below the worst big group: fails, naming only big groups.
    threshold = big[0]["loss"] - 1e-9
    code, out, err = invoke([*args, "--max-group-loss", repr(threshold)])
    assert code == 1
    lines = err.splitlines(keepends=True)
    assert len(lines) == 2
    assert lines[0].endswith(note)
    assert lines[1] == (
        f"xent: gate max-group-loss failed: 1 group(s) above {threshold:.6g} nats, the worst at "
        f"{big[0]['loss']:.6g}: lang={big[0]['lang']}\n"
    )
    gate = _gate(json.loads(out))
    assert gate["failed_groups"] == [f"lang={big[0]['lang']}"]
    assert gate["n_failed"] == 1

    # No group big enough: the gate fails, it never passes by default.
    code, out, err = invoke([*args[:-1], "10000", "--max-group-loss", "100"])
    assert code == 1
    assert err.splitlines()[-1] == (
        "xent: gate max-group-loss failed: no group has enough samples to be gated"
    )
    gate = _gate(json.loads(out))
    assert gate["passed"] is False
    assert gate["value"] == "nan"
    assert (gate["failed_groups"], gate["n_failed"]) == ([], 0)


def test_the_note_on_small_groups_does_not_say_the_gate_was_not_evaluated(
    invoke: Invoke, gated: tuple[Path, list[dict[str, Any]]]
) -> None:
    """CONFUSING MESSAGE: with --min-group-size, stderr says "gate max-group-loss not
    evaluated: ..." and then, for the same run, "gate max-group-loss failed: ...":
    the gate was evaluated (over the big groups); only the small groups were not."""
    path, ranked = gated
    size = ranked[0]["n"] + 1
    args = ["score", str(path), "--by", "lang", "--weight-col", "w"]
    code, _, err = invoke(
        [*args, "--format", "json", "--min-group-size", str(size), "--max-group-loss", "0"]
    )
    assert code == 1
    assert "gate max-group-loss failed: " in err
    assert "gate max-group-loss not evaluated" not in err


def test_group_gate_names_at_most_20_groups(invoke: Invoke, tmp_path: Path) -> None:
    frame = make_frame("multiclass", seed=21)
    frame["cell"] = [f"c{i % 25:02d}" for i in range(len(frame))]
    path = write(frame, tmp_path / "preds.csv")
    code, out, err = invoke(
        ["score", str(path), "--by", "cell", "--max-group-loss", "0", "--format", "json"]
    )
    assert code == 1
    data = json.loads(out)
    gate = _gate(data)
    names = [f"cell={g['key']['cell']}" for g in data["groups"]]
    assert gate["n_failed"] == 25
    assert gate["failed_groups"] == names[:20]
    assert err == (
        f"xent: gate max-group-loss failed: 25 group(s) above 0 nats, the worst at "
        f"{data['groups'][0]['loss']:.6g}: {'; '.join(names[:20])} and 5 more\n"
    )


def test_group_gate_usage_errors(invoke: Invoke, tmp_path: Path) -> None:
    path = write(make_frame("multiclass", seed=22), tmp_path / "preds.csv")
    for args, message in [
        (
            ["--max-group-loss", "1"],
            "--max-group-loss needs groups: name the column with --by COLUMN",
        ),
        (["--by", "lang", "--max-group-loss", "-1"], "--max-group-loss must be >= 0, not -1.0"),
        (
            ["--by", "lang", "--max-group-loss", "1", "--min-group-size", "0"],
            "--min-group-size must be >= 1, not 0",
        ),
    ]:
        code, out, err = invoke(["score", str(path), *args])
        assert (code, out, err) == (2, "", f"xent: error: {message}\n"), args


def test_group_gate_without_by_is_refused_before_reading(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--max-group-loss without groups is a usage error found from the columns alone,
    before any row is read (groups may come from --by, or from the input itself)."""
    path = tmp_path / "p.csv"
    path.write_text("label,p\n1,0.9\n0,0.2\n")
    import xent.decode

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("rows were read")

    monkeypatch.setattr(xent.decode, "chunks", no_reading)
    code, out, err = invoke(["score", str(path), "--max-group-loss", "1"])
    assert (code, out, err) == (
        2,
        "",
        "xent: error: --max-group-loss needs groups: name the column with --by COLUMN\n",
    )


# --------------------------------------------------------------------------- 7. compare --by


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame, np.ndarray, np.ndarray]:
    """A base and a candidate: ``de`` clearly worse, ``en`` better, the rest the same."""
    frame = make_frame("multiclass", seed=23, weights=True)
    rng = np.random.default_rng(23)
    cols = [f"p_{c}" for c in CLASSES]
    y = frame["label"].map({c: j for j, c in enumerate(CLASSES)}).to_numpy()
    p = frame[cols].to_numpy()
    q = p.copy()
    de = (frame["lang"] == "de").to_numpy()
    en = (frame["lang"] == "en").to_numpy()
    a = rng.uniform(0.3, 0.7, len(frame))[:, None]
    q[de] = (a * p + (1 - a) * np.eye(3)[(y + 1) % 3])[de]
    q[en] = (a * p + (1 - a) * np.eye(3)[y])[en]
    candidate = frame.copy()
    candidate[cols] = q
    base_path = write(frame, tmp_path / "base.csv")
    cand_path = write(candidate, tmp_path / "cand.csv")
    rows = np.arange(len(y))
    return base_path, cand_path, frame, -np.log(p[rows, y]), -np.log(q[rows, y])


COMPARE_FIELDS = ["key", "n", "base", "candidate", "difference", "ci_low", "ci_high", "significant"]


def test_compare_by_group(invoke: Invoke, pair: Any) -> None:
    base, cand, frame, b, c = pair
    args = ["compare", str(base), str(cand), "--by", "lang", "--weight-col", "w", "--seed", "7"]
    data = run_json(invoke, args)
    assert data["by"] == ["lang"]
    groups = data["groups"]
    assert len(groups) == len(SIZES)
    w = frame["w"].to_numpy()
    for g in groups:
        assert list(g) == COMPARE_FIELDS
        rows = (frame["lang"] == g["key"]["lang"]).to_numpy()
        total = w[rows].sum()
        assert g["n"] == rows.sum()
        lang = g["key"]["lang"]
        assert_close(g["base"], float((w * b)[rows].sum() / total), f"{lang} base")
        assert_close(g["candidate"], float((w * c)[rows].sum() / total), f"{lang} candidate")
        diff = float((w * (c - b))[rows].sum() / total)
        if lang in ("de", "en"):
            assert_close(g["difference"], diff, f"{lang} difference")
            assert g["ci_low"] < g["difference"] < g["ci_high"]
        else:
            assert g["difference"] == g["ci_low"] == g["ci_high"] == 0.0
    by_lang = {g["key"]["lang"]: g for g in groups}
    assert by_lang["de"]["significant"] == "worse"
    assert by_lang["de"]["ci_low"] > 0
    assert by_lang["en"]["significant"] == "better"
    assert by_lang["en"]["ci_high"] < 0
    assert all(by_lang[k]["significant"] is None for k in ("fr", "ja", "sw"))
    # Most worse first; the same seed, the same intervals.
    differences = [g["difference"] for g in groups]
    assert differences == sorted(differences, reverse=True)
    assert (groups[0]["key"], groups[-1]["key"]) == ({"lang": "de"}, {"lang": "en"})
    assert run_json(invoke, args)["groups"] == groups


def test_compare_group_gate(invoke: Invoke, pair: Any) -> None:
    base, cand, frame, b, c = pair
    w = frame["w"].to_numpy()
    de = (frame["lang"] == "de").to_numpy()
    overall = float((w * (c - b)).sum() / w.sum())
    de_diff = float((w * (c - b))[de].sum() / w[de].sum())
    assert overall < de_diff
    allowance = (max(overall, 0.0) + de_diff) / 2
    args = ["compare", str(base), str(cand), "--by", "lang", "--weight-col", "w", "--seed", "7"]

    # The overall loss is within the allowance; one group is not.
    code, out, err = invoke([*args, "--max-increase", repr(allowance), "--format", "json"])
    assert code == 1
    assert err == (
        "xent: gate max-group-increase failed: 1 group(s) got worse by more than the "
        "allowance: lang=de\n"
    )
    gates = json.loads(out)["gates"]
    assert [g["gate"] for g in gates] == ["max-increase", "max-group-increase"]
    assert gates[0]["passed"] is True
    group_gate = gates[1]
    assert group_gate["passed"] is False
    assert_close(group_gate["value"], de_diff, "value")
    assert group_gate["threshold"] == allowance
    assert group_gate["failed_groups"] == ["lang=de"]
    assert group_gate["n_failed"] == 1

    # A larger allowance passes.
    code, out, err = invoke([*args, "--max-increase", repr(de_diff + 0.01), "--format", "json"])
    assert (code, err) == (0, "")
    gates = json.loads(out)["gates"]
    assert gates[1]["passed"] is True
    assert (gates[1]["failed_groups"], gates[1]["n_failed"]) == ([], 0)

    # --significant tests each group's ci_low.
    sig = [*args, "--significant", "--format", "json"]
    code, out, err = invoke([*sig, "--max-increase", "0"])
    assert code == 1
    assert (
        "xent: gate max-group-increase (significant) failed: 1 group(s) got significantly worse "
        "by more than the allowance: lang=de\n"
    ) in err
    data = json.loads(out)
    group_gate = next(g for g in data["gates"] if g["gate"].startswith("max-group-increase"))
    assert group_gate["gate"] == "max-group-increase (significant)"
    de_group = next(g for g in data["groups"] if g["key"] == {"lang": "de"})
    assert group_gate["value"] == de_group["ci_low"]
    assert group_gate["failed_groups"] == ["lang=de"]
    # An allowance just above de's ci_low: passes.
    code, out, err = invoke([*sig, "--max-increase", repr(de_group["ci_low"] + 1e-6)])
    data = json.loads(out)
    group_gate = next(g for g in data["gates"] if g["gate"].startswith("max-group-increase"))
    assert group_gate["passed"] is True

    # Without --max-increase, no gate.
    assert run_json(invoke, args)["gates"] == []


def test_compare_group_gate_with_a_relative_allowance(invoke: Invoke, pair: Any) -> None:
    """CONFUSING REPORT: with a relative allowance (``--max-increase 5%``) the group
    gate's ``threshold`` is 5.0, the percentage itself, while its ``value`` is a
    loss difference in nats (the overall gate's threshold is in nats: 5% of the
    base loss); a reader sees a value below the threshold and ``passed: false``.
    Expected here: the allowance of the group the value comes from (5% of its base loss)."""
    base, cand, *_ = pair
    args = ["compare", str(base), str(cand), "--by", "lang", "--weight-col", "w", "--seed", "7"]
    code, out, _ = invoke([*args, "--max-increase", "5%", "--format", "json"])
    assert code == 1
    data = json.loads(out)
    overall, group_gate = data["gates"]
    # Per group the allowance is 5% of the group's base loss: only de fails.
    assert group_gate["failed_groups"] == ["lang=de"]
    de_group = data["groups"][0]
    assert de_group["key"] == {"lang": "de"}
    assert_close(overall["threshold"], 0.05 * data["base"]["loss"], "overall threshold in nats")
    assert_close(group_gate["threshold"], 0.05 * de_group["base"], "group threshold in nats")


def test_compare_by_in_markdown_and_table(invoke: Invoke, pair: Any) -> None:
    base, cand, *_ = pair
    args = ["compare", str(base), str(cand), "--by", "lang", "--weight-col", "w", "--seed", "7"]
    for fmt in ("table", "markdown"):
        code, out, err = invoke([*args, "--top-groups", "2", "--format", fmt])
        assert (code, err) == (0, ""), fmt
        assert "Per group" in out, fmt
        assert "… 3 more groups" in out, fmt
        section = out[out.index("Per group") :]
        assert "de" in section
        assert "worse" in section


# --------------------------------------------------------------------------- 8. Dask engine


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.CRITICAL,
    ) as cluster:
        yield cluster.scheduler_address


@slow
def test_dask_engine_gives_the_same_groups(tmp_path: Path, dask_address: str) -> None:
    from xent.distributed import score_dask
    from xent.options import ScoreOptions

    frame = make_frame("multiclass", seed=24, weights=True)
    frame["num"] = np.arange(len(frame)) % 3
    frame.loc[np.arange(len(frame)) % 9 == 0, "lang"] = None
    directory = tmp_path / "shards"
    directory.mkdir()
    cuts = [0, 1, 1, 60, 61, 140, 150, len(frame)]  # a 1-row and a 0-row shard
    schema = pa.Table.from_pandas(frame, preserve_index=False).schema
    for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        part = pa.Table.from_pandas(frame.iloc[lo:hi], preserve_index=False, schema=schema)
        pq.write_table(part, directory / f"s{i:02d}.parquet")
    assert len(list(directory.glob("*.parquet"))) >= 3

    for by in (("lang",), ("lang", "num")):
        options = ScoreOptions(by=by, weight_col="w", pred_cols="p_*")
        local = xent.score(str(directory), options=options)
        dask = score_dask(str(directory), options=options, scheduler=dask_address)
        _assert_same_groups(dask, local)
        assert dask.by == local.by == list(by)
    # And both equal sklearn.
    expected = sklearn_groups(frame, "multiclass", ["lang"])
    expected = {(None if k is None or k != k else k): v for k, v in expected.items()}
    options = ScoreOptions(by=("lang",), weight_col="w", pred_cols="p_*")
    dask = score_dask(str(directory), options=options, scheduler=dask_address)
    assert_groups(dask.to_dict(), expected, ["lang"])


# --------------------------------------------------------------------------- the example and recipe

REPO = Path(__file__).resolve().parents[1]
LANGS_CSV = REPO / "examples" / "langs.csv"
WORST_GROUP = REPO / "examples" / "ci" / "worst_group.sh"
#: Variables of the calling environment that would change what the recipe does.
RECIPE_UNSET = (
    "MAX_GROUP_LOSS", "MIN_GROUP_SIZE", "TOP_GROUPS", "REPORT", "XENT", "GITHUB_STEP_SUMMARY",
    "NO_COLOR", "FORCE_COLOR", "CI",
)  # fmt: skip


def test_langs_example(invoke: Invoke) -> None:
    """examples/langs.csv: the overall loss is fine, ``de`` is not, ``sw`` is one row."""
    frame = pd.read_csv(LANGS_CSV)
    data = run_json(invoke, ["score", str(LANGS_CSV), "--by", "lang"])
    assert_groups(
        data, sklearn_groups(frame, "multiclass", ["lang"], ("neg", "neu", "pos")), ["lang"]
    )
    assert [key_of(g, ["lang"]) for g in data["groups"]] == ["sw", "de", "fr", "en"]
    assert data["aggregate"]["loss"] < 1.0 < data["groups"][1]["loss"] < 1.2


def _recipe(tmp_path: Path, *args: str, **env: str) -> Result:
    environment = {k: v for k, v in os.environ.items() if k not in RECIPE_UNSET}
    environment.update({"XENT": f"{sys.executable} -m xent", "COLUMNS": "100", **env})
    proc = subprocess.run(
        ["sh", str(WORST_GROUP), *args],
        capture_output=True,
        cwd=tmp_path,
        env=environment,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


@slow  # three runs of xent in a subprocess
def test_worst_group_recipe(tmp_path: Path) -> None:
    langs = str(LANGS_CSV)
    summary = tmp_path / "summary.md"
    summary.write_text("")
    code, out, err = _recipe(
        tmp_path, langs, "lang", MAX_GROUP_LOSS="1.0", MIN_GROUP_SIZE="3",
        GITHUB_STEP_SUMMARY=str(summary),
    )  # fmt: skip
    assert code == 1, err
    assert out == ""
    lines = err.splitlines()
    assert "xent: gate max-group-loss failed: 1 group(s) above 1 nats, the worst at " in lines[-2]
    assert lines[-2].endswith(": lang=de")
    assert lines[-1].startswith("worst_group: FAIL: ")
    report = (tmp_path / "xent-groups.md").read_text()
    assert "**Per group** (highest loss first): 4 groups" in report
    assert "| de | 4 |" in report
    assert "max-group-loss" in report
    assert summary.read_text() == report

    code, out, err = _recipe(tmp_path, langs, "lang", MAX_GROUP_LOSS="1.2", MIN_GROUP_SIZE="3")
    assert code == 0, err
    assert out.startswith("worst_group: PASS: ")
    # Broken input: exit 3, and no stale report is left.
    code, _, err = _recipe(tmp_path, "missing.csv", "lang")
    assert code == 3
    assert "worst_group: ERROR: broken input (xent exit 3)" in err
    assert not (tmp_path / "xent-groups.md").exists()
    code, _, err = _recipe(tmp_path, langs)
    assert code == 2
    assert err.startswith("usage: ")


def test_group_json_lines_equal_the_encoder_on_every_kind_of_key_and_figure() -> None:
    """The JSON writer formats groups a block at a time; every line equals the
    C encoder's line for the group's dictionary: text needing escapes (or holding
    %), non-text keys, several key columns, bytes, non-finite figures and finite
    ones whose sum overflows, many blocks."""
    from xent.render.json import _group_lines, _row
    from xent.report import GroupTable

    def table(names, keys, loss=None, with_bytes=False):  # type: ignore[no-untyped-def]
        n, rng = len(keys), np.random.default_rng(0)
        loss = rng.random(n) * 3 if loss is None else np.array(loss)
        sizes = rng.random(n) * 100 if with_bytes else None
        return GroupTable(
            names, keys, rng.integers(1, 100, n), loss, loss * 5, np.full(n, 5.0),
            rng.random(n), sizes,
        )  # fmt: skip

    tables = [
        table(["user"], ["a", 'q"uote', "\x1b[31m", "é✓", "{x}", None, math.nan, 3, True]),
        table(['a"{', "b"], [("x", 1), ("y", None), ("z", 2.5)]),
        table(["100%s", "%r"], [("%s", "%d"), ("%(x)s", "%")]),  # no key is a template
        # Every figure finite, but the sums of the groups overflow when added up.
        GroupTable(
            ["u"],
            ["a", "b"],
            *map(np.array, ([1, 2], [0.5, 0.25], [1e308] * 2, [1.0] * 2, [0.5] * 2)),
        ),
        table(["u"], ["a", "b"], with_bytes=True),
        table(["u"], ["a", "b", "c"], loss=[0.1, math.inf, 800.0]),
        table(["u"], [f"k{i}" for i in range(40_000)]),
    ]
    for groups in tables:
        assert list(_group_lines(groups)) == [_row(d) for d in groups.dicts()]
    assert list(_group_lines(tables[5]))[2] == (
        '{"key": {"u": "c"}, "n": 51, "loss": 800.0, "sum": 4000.0, "weight": 5.0, '
        '"perplexity": "inf", "share": 0.8132702392002724}'
    )


def test_a_dictionary_that_repeats_a_value_adds_every_row_to_its_one_group() -> None:
    """Arrow allows a dictionary with a value twice; its rows are one group, and a
    group first seen twice in a chunk is added once."""
    from xent.accumulate import GroupSums

    sums = GroupSums(["k"])
    first = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 0, None]), pa.array(["u", "v", "u"]))
    sums.add([first], np.array([1.0, 2.0, 4.0, 8.0, 16.0]), np.ones(5))
    second = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 3]), pa.array(["w", "v", "w", "x"]))
    sums.add([second], np.array([32.0, 64.0, 128.0, 256.0]), np.full(4, 2.0))
    assert sums.keys == ["u", "v", None, "w", "x"]
    assert sums.count.tolist() == [3, 2, 1, 2, 1]
    assert sums.loss_sum.tolist() == [13.0, 66.0, 16.0, 160.0, 256.0]
    assert sums.weight_sum.tolist() == [3.0, 3.0, 1.0, 4.0, 2.0]
