"""Tokens, sequences and dense predictions (docs/lm.md).

Three inputs, each checked against an independent NumPy/pandas computation at 1e-12
relative:

- token rows (``--inputs target-log-probs | target-probs``, CSV, Parquet, JSON Lines):
  the aggregate, the per-label-value table, the per-document groups (``--by doc``),
  perplexity and mean perplexity, bits per byte (``--bytes-col``), weights and
  ``--unit bits``;
- list columns (Parquet ``list<double>``, ``list<float>``, ``large_list``, JSON Lines
  arrays): every element's loss, each row a group, nulls counted as ignored, a list of
  labels paired element by element, bits per byte of each document, auto-detection of
  log-probabilities and probabilities;
- N-dimensional NumPy arrays: (B, T, V) logits in float64, float32 and float16 with -100
  padding, (N, K, H, W) with void pixels, probabilities and log-probabilities, the class
  axis found from the shapes, ``.npz``, groups per first axis;

and against ``torch.nn.functional.cross_entropy`` values recorded by
``tests/sequences/make_torch_values.py`` (torch is not needed here).

Small chunks (``xent.limits``) check that figures do not depend on where the input is
cut. Tests that state the contract where xent does not meet it are left failing on
purpose (no xfail): each names the bug in its docstring.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xent.limits

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]

REL = 1e-12
EPS = float(np.finfo(np.float64).eps)
LN2 = math.log(2.0)
FIXTURES = Path(__file__).resolve().parent / "sequences"


# --------------------------------------------------------------------------- helpers


def assert_close(actual: Any, expected: float, what: str, rel: float = REL) -> None:
    assert isinstance(actual, int | float), f"{what}: {actual!r} is not a number"
    assert not isinstance(actual, bool), f"{what}: {actual!r} is not a number"
    assert math.isclose(actual, expected, rel_tol=rel, abs_tol=0.0), (
        f"{what}: {actual!r} != {expected!r} "
        f"(relative {abs(actual - expected) / max(abs(expected), 1e-300):.3g})"
    )


def assert_all_close(actual: Any, expected: Any, what: str, rel: float = REL) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=rel,
        atol=0.0,
        err_msg=what,
    )


def score_json(invoke: Invoke, args: Sequence[str]) -> dict[str, Any]:
    code, out, err = invoke(["score", *args, "--format", "json"])
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def score_csv(invoke: Invoke, args: Sequence[str]) -> list[dict[str, str]]:
    code, out, err = invoke(["score", *args, "--format", "csv"])
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows, out
    header = list(rows[0])
    # The --by columns, if any, come between the id and the label.
    assert header[:2] == ["index", "id"], header
    assert header[-2:] == ["label", "loss"], header
    return rows


def per_sample(rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """The ``index`` and ``loss`` columns of ``--format csv``."""
    index = np.array([int(row["index"]) for row in rows])
    loss = np.array([float(row["loss"]) for row in rows])
    return index, loss


def check_figures(
    report: dict[str, Any],
    loss: np.ndarray,
    keys: Sequence[Any] | None = None,
    *,
    by: str = "doc",
    weights: np.ndarray | None = None,
    group_bytes: dict[Any, float] | None = None,
    unit: str = "nats",
) -> None:
    """Every figure of ``report`` (aggregate, groups, group summary, bytes) against the
    per-sample losses ``loss`` (nats), their group keys and weights, computed here."""
    scale = LN2 if unit == "bits" else 1.0
    w = np.ones_like(loss) if weights is None else np.asarray(weights, dtype=np.float64)
    total, weight = float(np.sum(w * loss)), float(np.sum(w))
    mean = total / weight
    assert report["unit"] == unit
    assert report["n_samples"] == len(loss)
    aggregate = report["aggregate"]
    assert_close(aggregate["loss"], mean / scale, "aggregate.loss")
    assert_close(aggregate["sum"], total / scale, "aggregate.sum")
    assert_close(aggregate["weight"], weight, "aggregate.weight")
    assert_close(aggregate["perplexity"], math.exp(mean), "aggregate.perplexity")
    if group_bytes is not None:
        all_bytes = float(sum(group_bytes.values()))
        assert_close(aggregate["bytes"], all_bytes, "aggregate.bytes")
        assert_close(aggregate["bits_per_byte"], total / LN2 / all_bytes, "bits_per_byte")
    else:
        assert "bits_per_byte" not in aggregate
    if keys is None:
        return
    frame = pd.DataFrame({"key": list(keys), "wl": w * loss, "w": w, "one": 1})
    expected = frame.groupby("key", sort=False).agg(
        n=("one", "sum"), s=("wl", "sum"), w=("w", "sum")
    )
    assert report["by"] == [by]
    groups = {group["key"][by]: group for group in report["groups"]}
    assert list(report["groups"][0]["key"]) == [by]
    assert set(groups) == set(expected.index), (sorted(groups), sorted(expected.index))
    losses, perplexities = [], []
    for key, row in expected.iterrows():
        group, what = groups[key], f"group {key!r}"
        g_mean = row["s"] / row["w"]
        losses.append(g_mean)
        perplexities.append(math.exp(g_mean))
        assert group["n"] == row["n"], what
        assert_close(group["loss"], g_mean / scale, f"{what} loss")
        assert_close(group["sum"], row["s"] / scale, f"{what} sum")
        assert_close(group["weight"], row["w"], f"{what} weight")
        assert_close(group["perplexity"], math.exp(g_mean), f"{what} perplexity")
        assert_close(group["share"], row["s"] / total, f"{what} share")
        if group_bytes is not None:
            assert_close(group["bytes"], group_bytes[key], f"{what} bytes")
            bpb = row["s"] / LN2 / group_bytes[key]
            assert_close(group["bits_per_byte"], bpb, f"{what} bits_per_byte")
    summary = report["group_summary"]
    assert summary["n_groups"] == len(expected)
    assert_close(summary["macro_loss"], float(np.mean(losses)) / scale, "macro_loss")
    assert_close(summary["mean_perplexity"], float(np.mean(perplexities)), "mean_perplexity")


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    # json.dumps writes floats with repr: they read back exactly (pandas' to_json
    # keeps only 10 digits by default).
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


# --------------------------------------------------------------------------- token rows

#: Tokens per document (uneven; d3 has one), shuffled together.
DOC_SIZES = {"d0": 9, "d1": 3, "d2": 14, "d3": 1, "d4": 6}
VOCAB = ("the", "cat", "sat", "on", "mat", "a", ",", ".")


def token_frame(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    docs = np.repeat(list(DOC_SIZES), list(DOC_SIZES.values()))
    n = len(docs)
    frame = pd.DataFrame(
        {
            "doc": docs,
            "token": np.array(VOCAB)[rng.integers(0, len(VOCAB), n)],
            "logprob": -rng.exponential(1.3, n),
            "n_bytes": rng.integers(1, 7, n),
            "w": rng.uniform(0.2, 3.0, n),
        }
    )
    return frame.iloc[rng.permutation(n)].reset_index(drop=True)


def write_tokens(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)  # floats written with repr
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        write_jsonl(path, frame.to_dict(orient="records"))


def check_per_class(report: dict[str, Any], frame: pd.DataFrame, loss: np.ndarray, w: Any) -> None:
    """The per-class table is per label value: each token's weighted mean loss."""
    weights = np.ones_like(loss) if w is None else np.asarray(w, dtype=np.float64)
    table = pd.DataFrame({"c": frame["token"], "wl": weights * loss, "w": weights, "one": 1})
    expected = table.groupby("c").agg(n=("one", "sum"), s=("wl", "sum"), w=("w", "sum"))
    assert sorted(report["classes"]) == sorted(expected.index)
    rows = {row["class"]: row for row in report["per_class"]}
    assert set(rows) == set(expected.index)
    total = float(np.sum(weights * loss))
    for token, row in expected.iterrows():
        got = rows[token]
        assert got["n"] == row["n"], token
        assert_close(got["loss"], row["s"] / row["w"], f"class {token!r} loss")
        assert_close(got["sum"], row["s"], f"class {token!r} sum")
        assert_close(got["share"], row["s"] / total, f"class {token!r} share")


TOKEN_ARGS = ["--inputs", "target-log-probs", "--pred-cols", "logprob", "--label-col", "token"]
SUFFIXES = [".csv", ".parquet", ".jsonl"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_token_rows_log_probs(invoke: Invoke, tmp_path: Path, suffix: str) -> None:
    frame = token_frame()
    path = tmp_path / f"tokens{suffix}"
    write_tokens(frame, path)
    args = [path.name, *TOKEN_ARGS, "--by", "doc", "--bytes-col", "n_bytes"]
    report = score_json(invoke, args)
    loss = -frame["logprob"].to_numpy()
    group_bytes = frame.groupby("doc")["n_bytes"].sum().astype(float).to_dict()
    assert report["inputs"] == "target-log-probs"
    assert report["n_ignored"] == 0
    assert report["aggregate"]["n_clipped"] == 0
    check_figures(report, loss, frame["doc"], group_bytes=group_bytes)
    check_per_class(report, frame, loss, None)

    rows = score_csv(invoke, args)
    index, got = per_sample(rows)
    assert index.tolist() == list(range(len(frame)))
    assert_all_close(got, loss, "per-token loss")
    assert [row["doc"] for row in rows] == frame["doc"].tolist()
    assert [row["label"] for row in rows] == frame["token"].tolist()


def test_token_rows_without_label_column(invoke: Invoke, tmp_path: Path) -> None:
    """No label column: no per-class table, the figures are the same."""
    frame = token_frame(2)[["doc", "logprob", "n_bytes"]]
    frame.to_csv(tmp_path / "t.csv", index=False)
    args = ["t.csv", "--inputs", "target-log-probs", "--by", "doc", "--bytes-col", "n_bytes"]
    report = score_json(invoke, args)
    group_bytes = frame.groupby("doc")["n_bytes"].sum().astype(float).to_dict()
    check_figures(report, -frame["logprob"].to_numpy(), frame["doc"], group_bytes=group_bytes)
    assert report["per_class"] == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_token_rows_probabilities(invoke: Invoke, tmp_path: Path, suffix: str) -> None:
    """target-probs: -ln p, p clipped to [eps, 1 - eps] as scikit-learn; n_clipped counts
    the values outside."""
    frame = token_frame(3)
    p = np.exp(frame["logprob"].to_numpy())
    p[[0, 5]] = 0.0  # impossible: 36.04 nats each
    p[[1, 7]] = 1.0  # certain: eps each
    p[2] = 1e-300
    frame = frame.assign(prob=p).drop(columns=["logprob"])
    path = tmp_path / f"tokens{suffix}"
    write_tokens(frame, path)
    args = [path.name, "--inputs", "target-probs", "--pred-cols", "prob", "--label-col", "token"]
    args += ["--by", "doc", "--bytes-col", "n_bytes"]
    report = score_json(invoke, args)
    loss = -np.log(np.clip(p, EPS, 1 - EPS))
    group_bytes = frame.groupby("doc")["n_bytes"].sum().astype(float).to_dict()
    assert report["inputs"] == "target-probs"
    assert report["aggregate"]["n_clipped"] == int(np.sum((p < EPS) | (p > 1 - EPS))) == 5
    check_figures(report, loss, frame["doc"], group_bytes=group_bytes)
    check_per_class(report, frame, loss, None)
    index, got = per_sample(score_csv(invoke, args))
    assert index.tolist() == list(range(len(frame)))
    assert_all_close(got, loss, "per-token loss")
    assert_close(got[0], -math.log(EPS), "p = 0")


@pytest.mark.parametrize("kind", ["tokens", "lists"])
def test_target_probs_report_their_eps(invoke: Invoke, tmp_path: Path, kind: str) -> None:
    """BUG: under target-probs, values are clipped (n_clipped, 36.04 nats for p = 0) but
    ``detected.eps`` says 0.0, which docs/json.md defines as "0 when nothing is clipped";
    with ``--eps 1e-3`` too."""
    if kind == "tokens":
        (tmp_path / "t.csv").write_text("p\n0.5\n0\n1\n", encoding="utf-8")
        args = ["t.csv", "--inputs", "target-probs"]
    else:
        write_jsonl(tmp_path / "t.jsonl", [{"p": [0.5, 0.0]}, {"p": [1.0]}])
        args = ["t.jsonl"]
    report = score_json(invoke, args)
    assert report["inputs"] == "target-probs"
    assert report["aggregate"]["n_clipped"] == 2
    assert_close(report["aggregate"]["sum"], math.log(2) - math.log(EPS) - math.log1p(-EPS), "sum")
    assert report["detected"]["eps"] == EPS
    report = score_json(invoke, [*args, "--eps", "1e-3"])
    assert_close(
        report["aggregate"]["sum"], math.log(2) - math.log(1e-3) - math.log1p(-1e-3), "sum"
    )
    assert report["detected"]["eps"] == 1e-3


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_token_rows_weighted(invoke: Invoke, tmp_path: Path, suffix: str) -> None:
    frame = token_frame(4)
    path = tmp_path / f"tokens{suffix}"
    write_tokens(frame, path)
    report = score_json(invoke, [path.name, *TOKEN_ARGS, "--by", "doc", "--weight-col", "w"])
    loss, w = -frame["logprob"].to_numpy(), frame["w"].to_numpy()
    check_figures(report, loss, frame["doc"], weights=w)
    check_per_class(report, frame, loss, w)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_token_rows_in_bits(invoke: Invoke, tmp_path: Path, suffix: str) -> None:
    """--unit bits: every loss / ln 2; perplexity and bits per byte are the same."""
    frame = token_frame(5)
    path = tmp_path / f"tokens{suffix}"
    write_tokens(frame, path)
    args = [path.name, *TOKEN_ARGS, "--by", "doc", "--bytes-col", "n_bytes", "--unit", "bits"]
    report = score_json(invoke, args)
    group_bytes = frame.groupby("doc")["n_bytes"].sum().astype(float).to_dict()
    loss = -frame["logprob"].to_numpy()
    check_figures(report, loss, frame["doc"], group_bytes=group_bytes, unit="bits")
    nats = score_json(invoke, [*args[:-2]])
    assert_close(
        report["aggregate"]["bits_per_byte"], nats["aggregate"]["bits_per_byte"], "bits_per_byte"
    )
    _, got = per_sample(score_csv(invoke, args))
    assert_all_close(got, loss / LN2, "per-token loss in bits")


def test_token_rows_docs_example(invoke: Invoke) -> None:
    """The figures of docs/examples/tokens.csv (docs/numbers.md, Bits per byte)."""
    path = Path(__file__).resolve().parents[1] / "docs" / "examples" / "tokens.csv"
    frame = pd.read_csv(path)
    report = score_json(
        invoke, [str(path), "--inputs", "target-log-probs", "--by", "doc", "--bytes-col", "n_bytes"]
    )
    group_bytes = frame.groupby("doc")["n_bytes"].sum().astype(float).to_dict()
    check_figures(report, -frame["logprob"].to_numpy(), frame["doc"], group_bytes=group_bytes)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_token_rows_small_chunks(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """Documents cut across many chunks give the same figures."""
    frame = token_frame(6)
    path = tmp_path / f"tokens{suffix}"
    write_tokens(frame, path)
    args = [path.name, *TOKEN_ARGS, "--by", "doc", "--bytes-col", "n_bytes"]
    whole = score_json(invoke, args)
    monkeypatch.setattr(xent.limits, "rows_per_chunk", lambda row_bytes: 2)
    monkeypatch.setattr(xent.limits, "CHUNK_BYTES", 64)
    cut = score_json(invoke, args)
    group_bytes = frame.groupby("doc")["n_bytes"].sum().astype(float).to_dict()
    check_figures(cut, -frame["logprob"].to_numpy(), frame["doc"], group_bytes=group_bytes)
    assert_close(cut["aggregate"]["loss"], whole["aggregate"]["loss"], "chunked loss")
    assert_close(
        cut["group_summary"]["mean_perplexity"],
        whole["group_summary"]["mean_perplexity"],
        "chunked mean_perplexity",
    )


# --------------------------------------------------------------------------- list columns

#: Tokens per document: the first token of each has no log-probability (null); doc-2
#: has no scored token at all, doc-3 is empty; doc-4 has a null in the middle too.
LENGTHS = (6, 2, 1, 0, 9, 4, 3)


def list_documents(seed: int = 7) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    docs = []
    for i, n in enumerate(LENGTHS):
        values: list[float | None] = [float(v) for v in -rng.exponential(1.1, n)]
        if n:
            values[0] = None
        if i == 4:
            values[5] = None
        tokens = [VOCAB[j] for j in rng.integers(0, len(VOCAB), n)]
        docs.append(
            {"id": f"doc-{i}", "tokens": tokens, "logprobs": values, "n_bytes": 3 * n + i + 1}
        )
    return docs


LIST_TYPES = {
    "double": pa.list_(pa.float64()),
    "float": pa.list_(pa.float32()),
    "large": pa.large_list(pa.float64()),
}


def write_documents(
    docs: list[dict[str, Any]], path: Path, kind: str, *, with_id: bool = True
) -> list[dict[str, Any]]:
    """Write ``docs`` as ``kind`` (jsonl or a LIST_TYPES key); return them with the values
    as read back (float32 for list<float>)."""
    docs = [dict(d) for d in docs]
    if kind == "float":
        for d in docs:
            d["logprobs"] = [None if v is None else float(np.float32(v)) for v in d["logprobs"]]
    records = [{k: v for k, v in d.items() if with_id or k != "id"} for d in docs]
    if kind == "jsonl":
        write_jsonl(path, records)
    else:
        columns: dict[str, pa.Array] = {}
        if with_id:
            columns["id"] = pa.array([d["id"] for d in docs])
        columns["tokens"] = pa.array([d["tokens"] for d in docs], pa.list_(pa.string()))
        columns["logprobs"] = pa.array([d["logprobs"] for d in docs], LIST_TYPES[kind])
        columns["n_bytes"] = pa.array([d["n_bytes"] for d in docs], pa.int64())
        pq.write_table(pa.table(columns), path)
    return docs


def flatten(docs: list[dict[str, Any]], with_id: bool = True) -> dict[str, Any]:
    """Per scored element: its index over the whole file, its group key, label and loss;
    and the bytes of each document with a scored element."""
    index, keys, labels, loss, group_bytes = [], [], [], [], {}
    n_ignored = position = 0
    for row, d in enumerate(docs):
        key = d["id"] if with_id else row
        for value, token in zip(d["logprobs"], d["tokens"], strict=True):
            if value is None:
                n_ignored += 1
            else:
                index.append(position)
                keys.append(key)
                labels.append(token)
                loss.append(-value)
                group_bytes[key] = float(d["n_bytes"])
            position += 1
    return {
        "index": np.array(index),
        "keys": keys,
        "labels": labels,
        "loss": np.array(loss, dtype=np.float64),
        "bytes": group_bytes,
        "n_ignored": n_ignored,
    }


@pytest.mark.parametrize("with_id", [True, False], ids=["id", "no-id"])
@pytest.mark.parametrize("kind", ["jsonl", *LIST_TYPES])
def test_list_columns(invoke: Invoke, tmp_path: Path, kind: str, with_id: bool) -> None:
    path = tmp_path / ("docs.jsonl" if kind == "jsonl" else "docs.parquet")
    docs = write_documents(list_documents(), path, kind, with_id=with_id)
    expected = flatten(docs, with_id)
    args = [path.name, "--label-col", "tokens", "--bytes-col", "n_bytes"]
    report = score_json(invoke, args)
    assert report["inputs"] == "target-log-probs"
    assert report["n_ignored"] == expected["n_ignored"] == len(LENGTHS) - 1 + 1
    by = "id" if with_id else "row"
    check_figures(report, expected["loss"], expected["keys"], by=by, group_bytes=expected["bytes"])
    assert report["groups"][0]["key"] == {by: report["groups"][0]["key"][by]}
    for group in report["groups"]:
        assert isinstance(group["key"][by], str if with_id else int)

    rows = score_csv(invoke, args)
    index, loss = per_sample(rows)
    assert index.tolist() == expected["index"].tolist()
    assert_all_close(loss, expected["loss"], "per-element loss")
    assert [row["label"] for row in rows] == expected["labels"]
    assert [row["id"] for row in rows] == (expected["keys"] if with_id else [""] * len(rows))


@pytest.mark.parametrize("kind", ["jsonl", "double"])
def test_list_columns_without_labels(invoke: Invoke, tmp_path: Path, kind: str) -> None:
    """No label list: each element is still a sample; no per-class table."""
    path = tmp_path / ("docs.jsonl" if kind == "jsonl" else "docs.parquet")
    docs = list_documents(8)
    for d in docs:
        d["tokens"] = [""] * len(d["logprobs"])
    write_documents(docs, path, kind)
    expected = flatten(docs)
    report = score_json(invoke, [path.name])
    assert report["inputs"] == "target-log-probs"
    assert report["n_ignored"] == expected["n_ignored"]
    check_figures(report, expected["loss"], expected["keys"], by="id")
    assert report["per_class"] == []
    index, loss = per_sample(score_csv(invoke, [path.name]))
    assert index.tolist() == expected["index"].tolist()
    assert_all_close(loss, expected["loss"], "per-element loss")


@pytest.mark.parametrize("kind", ["jsonl", "double"])
def test_list_columns_small_chunks(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Two rows per chunk: the same figures and per-element losses as in one chunk."""
    path = tmp_path / ("docs.jsonl" if kind == "jsonl" else "docs.parquet")
    docs = write_documents(list_documents(9), path, kind)
    expected = flatten(docs)
    args = [path.name, "--label-col", "tokens", "--bytes-col", "n_bytes"]
    whole = score_json(invoke, args)
    monkeypatch.setattr(xent.limits, "rows_per_chunk", lambda row_bytes: 2)
    cut = score_json(invoke, args)
    check_figures(cut, expected["loss"], expected["keys"], by="id", group_bytes=expected["bytes"])
    assert cut["n_ignored"] == whole["n_ignored"] == expected["n_ignored"]
    for field in ("loss", "sum", "perplexity", "bits_per_byte"):
        assert_close(cut["aggregate"][field], whole["aggregate"][field], f"chunked {field}")
    for field in ("macro_loss", "mean_perplexity"):
        got, want = cut["group_summary"][field], whole["group_summary"][field]
        assert_close(got, want, f"chunked {field}")
    index, loss = per_sample(score_csv(invoke, args))
    assert index.tolist() == expected["index"].tolist()
    assert_all_close(loss, expected["loss"], "chunked per-element loss")


@pytest.mark.parametrize("kind", ["jsonl", "double"])
def test_list_columns_probabilities(invoke: Invoke, tmp_path: Path, kind: str) -> None:
    """Under --inputs auto, lists with a value above 0 are probabilities (clipped)."""
    path = tmp_path / ("docs.jsonl" if kind == "jsonl" else "docs.parquet")
    docs = list_documents(10)
    for d in docs:
        d["logprobs"] = [None if v is None else math.exp(v) for v in d["logprobs"]]
    docs[0]["logprobs"][1] = 0.0
    docs[4]["logprobs"][2] = 1.0
    write_documents(docs, path, kind)
    report = score_json(invoke, [path.name, "--label-col", "tokens"])
    assert report["inputs"] == "target-probs"
    assert report["detected"]["inputs_auto"] is True
    assert report["aggregate"]["n_clipped"] == 2
    probs = [
        [None if v is None else -math.log(min(max(v, EPS), 1 - EPS)) for v in d["logprobs"]]
        for d in docs
    ]
    # flatten() negates the values: give it the clipped log-probabilities.
    expected = flatten(
        [
            {**d, "logprobs": [None if v is None else -v for v in p]}
            for d, p in zip(docs, probs, strict=True)
        ]
    )
    check_figures(report, expected["loss"], expected["keys"], by="id")
    _, loss = per_sample(score_csv(invoke, [path.name, "--label-col", "tokens"]))
    assert_all_close(loss, expected["loss"], "per-element loss")


def test_list_auto_detection(invoke: Invoke, tmp_path: Path) -> None:
    """All values <= 0 (0 included): log-probabilities; all 0: refused (exit 3)."""
    write_jsonl(tmp_path / "lp.jsonl", [{"v": [None, -0.5, 0.0]}, {"v": [0.0, -2.0]}])
    report = score_json(invoke, ["lp.jsonl"])
    assert report["inputs"] == "target-log-probs"
    check_figures(report, np.array([0.5, 0.0, 0.0, 2.0]), [0, 0, 1, 1], by="row")

    write_jsonl(tmp_path / "p.jsonl", [{"v": [None, 0.5, 0.0]}, {"v": [1.0, 0.25]}])
    report = score_json(invoke, ["p.jsonl"])
    assert report["inputs"] == "target-probs"
    loss = -np.log(np.clip([0.5, 0.0, 1.0, 0.25], EPS, 1 - EPS))
    check_figures(report, loss, [0, 0, 1, 1], by="row")

    write_jsonl(tmp_path / "zero.jsonl", [{"v": [None, 0.0]}, {"v": [0.0, 0.0]}])
    code, out, err = invoke(["score", "zero.jsonl"])
    assert code == 3, err
    assert out == ""
    assert "target-log-probs" in err
    assert "target-probs" in err
    # Told which it is, the same file scores.
    report = score_json(invoke, ["zero.jsonl", "--inputs", "target-log-probs"])
    assert report["aggregate"]["loss"] == 0.0


@pytest.mark.parametrize("kind", ["jsonl", "double"])
def test_long_lists_in_a_tiny_budget(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Documents far longer than the chunk budget (64 bytes: 8 values) are scored whole."""
    rng = np.random.default_rng(12)
    docs = []
    for i, n in enumerate((500, 3, 1200, 1)):
        values = [float(v) for v in -rng.exponential(1.0, n)]
        docs.append({"id": 10 * i, "tokens": [""] * n, "logprobs": values, "n_bytes": n + 7})
    path = tmp_path / ("docs.jsonl" if kind == "jsonl" else "docs.parquet")
    write_documents(docs, path, kind)
    expected = flatten(docs)
    monkeypatch.setattr(xent.limits, "CHUNK_BYTES", 64)
    report = score_json(invoke, [path.name, "--bytes-col", "n_bytes"])
    check_figures(
        report, expected["loss"], expected["keys"], by="id", group_bytes=expected["bytes"]
    )
    assert {type(g["key"]["id"]) for g in report["groups"]} == {int}  # ids keep their type


def test_list_column_as_logits_is_refused(invoke: Invoke, tmp_path: Path) -> None:
    """BUG: ``--inputs logits`` on a list column crashes (exit 70, AssertionError in
    loss.score_chunk: ``assert y is not None``) instead of a usage error; the
    message of a value above 1 in a list suggests exactly that option."""
    write_jsonl(tmp_path / "big.jsonl", [{"lp": [0.5, 1.5]}])
    code, out, err = invoke(["score", "big.jsonl", "--inputs", "logits"])
    assert code in (2, 3), err
    assert out == ""
    assert "internal error" not in err
    assert "'lp'" in err


@pytest.mark.parametrize(
    ("records", "inputs", "suggested"),
    [
        ([{"lp": [0.5, 1.5]}], None, None),
        ([{"lp": [-0.5, 0.5]}], None, None),
        ([{"lp": [-0.5, -0.25]}], "target-probs", "target-log-probs"),
        ([{"lp": [0.5, 0.25]}], "target-log-probs", "target-probs"),
    ],
    ids=["above-1", "mixed-signs", "log-probs-as-probs", "probs-as-log-probs"],
)
def test_value_messages_suggest_what_applies(
    invoke: Invoke,
    tmp_path: Path,
    records: list[dict[str, Any]],
    inputs: str | None,
    suggested: str | None,
) -> None:
    """BUG (message): a value out of range for target-probs / target-log-probs says "if
    the values are logits, pass --inputs logits", which does not apply to one value per
    token (on a list column it crashes, see above); the other target input is what a
    user who mixed them up needs. Checked on a list column and on token rows."""
    write_jsonl(tmp_path / "v.jsonl", records)
    (tmp_path / "v.csv").write_text(
        "lp\n" + "".join(f"{v}\n" for v in records[0]["lp"]), encoding="utf-8"
    )
    for name, extra in (("v.jsonl", []), ("v.csv", ["--inputs", inputs or "target-probs"])):
        if name == "v.jsonl" and inputs:
            extra = ["--inputs", inputs]
        code, out, err = invoke(["score", name, *extra])
        assert code == 4, err
        assert out == ""
        assert "'lp'" in err
        assert "--inputs logits" not in err, err
        if suggested:
            assert f"--inputs {suggested}" in err, err


def test_list_length_mismatch(invoke: Invoke, tmp_path: Path) -> None:
    docs = list_documents(11)
    docs[2]["tokens"] = [*docs[2]["tokens"], "extra"]
    for kind, name in (("jsonl", "docs.jsonl"), ("double", "docs.parquet")):
        if kind == "jsonl":
            write_jsonl(tmp_path / name, docs)
        else:
            columns = {
                "id": pa.array([d["id"] for d in docs]),
                "tokens": pa.array([d["tokens"] for d in docs], pa.list_(pa.string())),
                "logprobs": pa.array([d["logprobs"] for d in docs], pa.list_(pa.float64())),
            }
            pq.write_table(pa.table(columns), tmp_path / name)
        code, out, err = invoke(["score", name, "--label-col", "tokens", "--format", "json"])
        assert code == 4, err
        assert out == ""
        assert "row 3" in err, err  # the third data row (doc-2)
        assert "'logprobs'" in err
        assert "'tokens'" in err


def test_list_bytes_and_labels_docs_example(invoke: Invoke) -> None:
    """examples/lm/documents.jsonl, as docs/lm.md shows it."""
    path = Path(__file__).resolve().parents[1] / "examples" / "lm" / "documents.jsonl"
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    for d in docs:
        d["logprobs"] = d.pop("token_logprobs")
    expected = flatten(docs)
    report = score_json(invoke, [str(path), "--label-col", "tokens", "--bytes-col", "n_bytes"])
    assert report["n_samples"] == 9
    assert report["n_ignored"] == 3
    check_figures(
        report, expected["loss"], expected["keys"], by="id", group_bytes=expected["bytes"]
    )


# --------------------------------------------------------------------------- N-D arrays


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    shifted = z - m
    out: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


def numpy_ce(
    predictions: np.ndarray,
    labels: np.ndarray,
    *,
    class_axis: int = -1,
    ignore: Sequence[int] = (),
    inputs: str = "logits",
) -> dict[str, Any]:
    """NumPy log-softmax (or -ln p clipped, or -lp) and gather on the flattened arrays with
    the ignore mask: the flat C-order position, the item of the first axis and the loss
    of every kept position."""
    z = np.moveaxis(predictions.astype(np.float64), class_axis, -1)
    z = z.reshape(-1, z.shape[-1])
    y = labels.reshape(-1).astype(np.int64)
    keep = ~np.isin(y, np.asarray(ignore, dtype=np.int64))
    rows = np.flatnonzero(keep)
    if inputs == "logits":
        logp = log_softmax(z[rows])
    elif inputs == "probs":
        logp = np.log(np.clip(z[rows], EPS, 1 - EPS))
    else:
        logp = z[rows]
    loss = -logp[np.arange(len(rows)), y[rows]]
    per_item = int(np.prod(labels.shape[1:]))
    return {
        "index": rows,
        "label": y[rows],
        "item": (rows // per_item).tolist(),
        "loss": loss,
        "n_ignored": int(np.sum(~keep)),
    }


def check_array_report(
    invoke: Invoke, args: Sequence[str], expected: dict[str, Any], rel: float = REL
) -> dict[str, Any]:
    report = score_json(invoke, args)
    assert report["n_ignored"] == expected["n_ignored"]
    check_figures(report, expected["loss"], expected["item"], by="row")
    # Each item's perplexity is exp of its mean NLL (per-item NumPy).
    for group in report["groups"]:
        b = group["key"]["row"]
        item_loss = expected["loss"][np.asarray(expected["item"]) == b]
        assert_close(group["perplexity"], math.exp(float(np.mean(item_loss))), f"item {b}", rel)
    # Per class: each class index's mean loss.
    table = pd.DataFrame({"c": expected["label"].astype(str), "l": expected["loss"]})
    by_class = table.groupby("c")["l"].agg(["size", "mean"])
    rows = {row["class"]: row for row in report["per_class"]}
    for c, row in by_class.iterrows():
        assert rows[c]["n"] == row["size"], f"class {c}"
        assert_close(rows[c]["loss"], row["mean"], f"class {c} loss", rel)
    assert sum(row["n"] for row in report["per_class"]) == len(expected["loss"])
    # The worst position, by its flat index.
    worst = int(np.argmax(expected["loss"]))
    assert report["top"][0]["index"] == int(expected["index"][worst])
    assert_close(report["top"][0]["loss"], float(expected["loss"][worst]), "top loss", rel)
    index, loss = per_sample(score_csv(invoke, args))
    assert index.tolist() == expected["index"].tolist()
    assert_all_close(loss, expected["loss"], "per-position loss", rel)
    return report


def btv(seed: int, dtype: Any, shape: tuple[int, int, int] = (4, 9, 13)) -> tuple[Any, Any]:
    """(B, T, V) logits and (B, T) labels right-padded with -100 (item 2 is unpadded)."""
    rng = np.random.default_rng(seed)
    b, t, v = shape
    logits = rng.normal(0.0, 3.0, size=shape).astype(dtype)
    labels = rng.integers(0, v, size=(b, t))
    for item, length in enumerate([5, 9, t, 1][:b]):
        labels[item, length:] = -100
    return logits, labels


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_btv_logits(invoke: Invoke, tmp_path: Path, dtype: str) -> None:
    """Reference in float64 from the stored values, whatever the dtype."""
    logits, labels = btv(20, dtype)
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", labels)
    expected = numpy_ce(logits, labels, ignore=[-100])
    args = ["logits.npy", "--labels", "labels.npy", "--ignore-label", "-100"]
    report = check_array_report(invoke, args, expected)
    assert report["inputs"] == "logits"
    assert report["n_ignored"] == int(np.sum(labels == -100)) > 0
    assert report["classes"] == [str(c) for c in range(13)]


def test_nkhw_channels_first(invoke: Invoke, tmp_path: Path) -> None:
    """(N, K, H, W) with uint8 masks and void pixels 255: index = n·H·W + h·W + w."""
    rng = np.random.default_rng(21)
    logits = rng.normal(0.0, 2.0, size=(3, 5, 6, 4))
    labels = rng.integers(0, 5, size=(3, 6, 4)).astype(np.uint8)
    labels[0, :2, :] = 255
    labels[2, 5, 3] = 255
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "masks.npy", labels)
    expected = numpy_ce(logits, labels, class_axis=1, ignore=[255])
    args = ["logits.npy", "--labels", "masks.npy", "--ignore-label", "255"]
    check_array_report(invoke, args, expected)
    # Saying the class axis changes nothing.
    again = score_json(invoke, [*args, "--class-axis", "1"])
    assert_close(again["aggregate"]["loss"], float(np.mean(expected["loss"])), "--class-axis 1")


@pytest.mark.parametrize(
    ("shape", "class_axis"),
    [((2, 3, 4, 2, 5), 1), ((2, 3, 4, 6), -1), ((7, 4), -1)],
    ids=["NKDHW", "BTUV", "NK"],
)
def test_any_rank(invoke: Invoke, tmp_path: Path, shape: tuple[int, ...], class_axis: int) -> None:
    rng = np.random.default_rng(30)
    logits = rng.normal(0.0, 2.0, size=shape)
    label_shape = tuple(n for axis, n in enumerate(shape) if axis != class_axis % len(shape))
    labels = rng.integers(0, shape[class_axis], size=label_shape)
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", labels)
    expected = numpy_ce(logits, labels, class_axis=class_axis)
    report = score_json(invoke, ["logits.npy", "--labels", "labels.npy"])
    assert report["n_samples"] == labels.size
    assert_close(report["aggregate"]["loss"], float(np.mean(expected["loss"])), "loss")
    if len(shape) > 2:
        check_array_report(invoke, ["logits.npy", "--labels", "labels.npy"], expected)


def test_nkhw_probabilities(invoke: Invoke, tmp_path: Path) -> None:
    """Probabilities summing to 1 along the class axis 1 (not the last)."""
    rng = np.random.default_rng(31)
    z = rng.normal(0.0, 1.5, size=(3, 4, 5, 6))
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, size=(3, 5, 6))
    labels[1, 1, 1] = 255
    np.save(tmp_path / "probs.npy", probs)
    np.save(tmp_path / "labels.npy", labels)
    expected = numpy_ce(probs, labels, class_axis=1, ignore=[255], inputs="probs")
    args = ["probs.npy", "--labels", "labels.npy", "--ignore-label", "255"]
    report = check_array_report(invoke, args, expected)
    assert report["inputs"] == "probs"


def test_padding_without_ignore_label_says_so(invoke: Invoke, tmp_path: Path) -> None:
    """BUG (message): -100 padding without --ignore-label is refused (exit 4, right), but
    the message points to --pred-cols and --classes, which an array does not have, and
    not to --ignore-label -100, the one option that applies."""
    logits, labels = btv(32, np.float64)
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", labels)
    code, out, err = invoke(["score", "logits.npy", "--labels", "labels.npy"])
    assert code == 4, err
    assert out == ""
    assert "-100" in err
    assert "--ignore-label" in err, err


def test_several_ignore_labels(invoke: Invoke, tmp_path: Path) -> None:
    logits, labels = btv(22, np.float64)
    labels[1, 0] = 255
    labels[3, 0] = 255  # item 3 then has nothing left: no group
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", labels)
    expected = numpy_ce(logits, labels, ignore=[-100, 255])
    assert 3 not in expected["item"]
    args = ["logits.npy", "--labels", "labels.npy", "--ignore-label", "-100,255"]
    check_array_report(invoke, args, expected)


def test_btv_probabilities_and_log_probabilities(invoke: Invoke, tmp_path: Path) -> None:
    logits, labels = btv(23, np.float64)
    logp = log_softmax(logits)
    np.save(tmp_path / "probs.npy", np.exp(logp))
    np.save(tmp_path / "logp.npy", logp)
    np.save(tmp_path / "labels.npy", labels)
    common = ["--labels", "labels.npy", "--ignore-label", "-100"]

    expected = numpy_ce(np.exp(logp), labels, ignore=[-100], inputs="probs")
    report = check_array_report(invoke, ["probs.npy", *common], expected)
    assert report["inputs"] == "probs"

    expected = numpy_ce(logp, labels, ignore=[-100], inputs="log-probs")
    report = check_array_report(invoke, ["logp.npy", *common, "--inputs", "log-probs"], expected)
    assert report["inputs"] == "log-probs"


def test_ambiguous_class_axis(invoke: Invoke, tmp_path: Path) -> None:
    """(4, 5, 5) with labels (4, 5) fits both: exit 2 unless --class-axis says which."""
    rng = np.random.default_rng(24)
    logits = rng.normal(size=(4, 5, 5))
    labels = rng.integers(0, 5, size=(4, 5))
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", labels)
    args = ["logits.npy", "--labels", "labels.npy"]
    code, out, err = invoke(["score", *args, "--format", "json"])
    assert code == 2, err
    assert out == ""
    assert "--class-axis" in err
    assert "(4, 5, 5)" in err
    for axis in (1, -1):
        expected = numpy_ce(logits, labels, class_axis=axis)
        check_array_report(invoke, [*args, "--class-axis", str(axis)], expected)
    last = numpy_ce(logits, labels, class_axis=-1)["loss"]
    first = numpy_ce(logits, labels, class_axis=1)["loss"]
    assert abs(float(np.mean(last)) - float(np.mean(first))) > 1e-3  # the choice matters


def test_class_axis_that_does_not_fit(invoke: Invoke, tmp_path: Path) -> None:
    logits, labels = btv(25, np.float64)  # (4, 9, 13), labels (4, 9)
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", labels)
    code, out, err = invoke(["score", "logits.npy", "--labels", "labels.npy", "--class-axis", "1"])
    assert code in (2, 3), err
    assert out == ""
    assert "(4, 9, 13)" in err
    assert "(4, 9)" in err


def test_wrong_label_shape(invoke: Invoke, tmp_path: Path) -> None:
    logits, _ = btv(26, np.float64)
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", np.zeros((4, 8), dtype=np.int64))
    code, out, err = invoke(["score", "logits.npy", "--labels", "labels.npy", "--format", "json"])
    assert code == 3, err
    assert out == ""
    assert "(4, 9, 13)" in err
    assert "(4, 8)" in err


def test_every_position_ignored(invoke: Invoke, tmp_path: Path) -> None:
    logits, labels = btv(27, np.float64)
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", np.full_like(labels, -100))
    code, out, err = invoke(
        ["score", "logits.npy", "--labels", "labels.npy", "--ignore-label", "-100"]
    )
    assert code == 4, err
    assert out == ""
    assert "nan" not in err.lower()


@pytest.mark.parametrize("names", [("logits", "labels"), ("arr_0", "arr_1")])
def test_npz_with_both_arrays(invoke: Invoke, tmp_path: Path, names: tuple[str, str]) -> None:
    logits, labels = btv(28, np.float32)
    np.savez(tmp_path / "batch.npz", **{names[0]: logits, names[1]: labels})
    expected = numpy_ce(logits, labels, ignore=[-100])
    check_array_report(invoke, ["batch.npz", "--ignore-label", "-100"], expected)


def test_segmentation_example(invoke: Invoke) -> None:
    """examples/segmentation/masks.npz, as docs/lm.md shows it."""
    path = Path(__file__).resolve().parents[1] / "examples" / "segmentation" / "masks.npz"
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    (pred_name,) = [n for n in arrays if arrays[n].ndim == 4]
    (label_name,) = [n for n in arrays if n != pred_name]
    expected = numpy_ce(arrays[pred_name], arrays[label_name], class_axis=1, ignore=[255])
    report = check_array_report(invoke, [str(path), "--ignore-label", "255"], expected)
    assert report["n_samples"] == 28
    assert report["n_ignored"] == 4


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_arrays_in_small_chunks(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    """A 512-byte chunk budget (a few positions per block, items cut across blocks)
    gives the figures of one block."""
    logits, labels = btv(29, dtype, shape=(4, 9, 13))
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", labels)
    args = ["logits.npy", "--labels", "labels.npy", "--ignore-label", "-100"]
    expected = numpy_ce(logits, labels, ignore=[-100])
    whole = check_array_report(invoke, args, expected)
    monkeypatch.setattr(xent.limits, "CHUNK_BYTES", 512)
    cut = check_array_report(invoke, args, expected)
    for field in ("loss", "sum", "perplexity"):
        assert_close(cut["aggregate"][field], whole["aggregate"][field], f"chunked {field}")
    for field in ("macro_loss", "mean_perplexity"):
        got, want = cut["group_summary"][field], whole["group_summary"][field]
        assert_close(got, want, f"chunked {field}")


def test_two_threads_equal_one(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large blocks are split between two threads: the same figures as one thread."""
    import xent.loss

    logits, labels = btv(33, np.float32, shape=(4, 40, 50))
    np.save(tmp_path / "logits.npy", logits)
    np.save(tmp_path / "labels.npy", labels)
    args = ["logits.npy", "--labels", "labels.npy", "--ignore-label", "-100"]
    expected = numpy_ce(logits, labels, ignore=[-100])
    monkeypatch.setattr(xent.limits, "THREADS", 1)
    one = check_array_report(invoke, args, expected)
    monkeypatch.setattr(xent.limits, "THREADS", 4)
    monkeypatch.setattr(xent.loss, "PARALLEL_ELEMENTS", 64)
    two = check_array_report(invoke, args, expected)
    assert two["aggregate"]["loss"] == one["aggregate"]["loss"]


# --------------------------------------------------------------------------- torch


def torch_cases() -> list[dict[str, Any]]:
    data = json.loads((FIXTURES / "torch_values.json").read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = data["cases"]
    return cases


TORCH_CASES = torch_cases()
#: Cases where xent's default conventions are torch's: also checked without --like torch.
DEFAULT_AGREES = {"btv_pad", "nkhw_void", "btv_smoothing", "btv_class_weight"}


def torch_args(case: dict[str, Any], like_torch: bool) -> list[str]:
    args = [str(FIXTURES / case["logits"]), "--labels", str(FIXTURES / case["labels"])]
    extra = list(case["xent_args"])
    if like_torch and "--like" not in extra:
        extra = ["--like", "torch", *extra]
    return [*args, *extra]


TORCH_RUNS = [
    pytest.param(case, like, id=f"{case['name']}-{'like-torch' if like else 'default'}")
    for case in TORCH_CASES
    for like in (True, False)
    if like or case["name"] in DEFAULT_AGREES
]


@pytest.mark.parametrize(("case", "like_torch"), TORCH_RUNS)
def test_torch_recorded_values(invoke: Invoke, case: dict[str, Any], like_torch: bool) -> None:
    """cross_entropy's reduction='mean' and 'none', and the mean of each item alone."""
    args = torch_args(case, like_torch)
    report = score_json(invoke, args)
    assert_close(report["aggregate"]["loss"], case["mean"], "reduction='mean'")

    none = case["none"]
    kept = [i for i, v in enumerate(none) if v is not None]
    weights = case.get("none_weights") or [1.0] * len(none)
    rows = score_csv(invoke, args)
    index, loss = per_sample(rows)
    assert index.tolist() == kept
    assert_all_close(
        loss * np.array([weights[i] for i in kept]),
        [none[i] for i in kept],
        "reduction='none'",
    )
    assert report["n_ignored"] == len(none) - len(kept)

    groups = {g["key"]["row"]: g for g in report["groups"]}
    items = {b for b, v in enumerate(case["row_mean"]) if v is not None}
    assert set(groups) == items
    for b in items:
        assert_close(groups[b]["loss"], case["row_mean"][b], f"item {b}")
        assert_close(groups[b]["perplexity"], math.exp(case["row_mean"][b]), f"item {b} ppl")


def test_torch_default_differs_where_conventions_differ(invoke: Invoke) -> None:
    (case,) = [c for c in TORCH_CASES if c["name"] not in DEFAULT_AGREES]
    args = [a for a in torch_args(case, True) if a not in ("--like", "torch")]
    report = score_json(invoke, args)
    assert not math.isclose(report["aggregate"]["loss"], case["mean"], rel_tol=1e-6)
