"""The Dask engine (``xent score DATASET --engine dask``) against the local engine.

Every test shares one ``distributed.LocalCluster`` (2 worker processes) and
reaches it through ``scheduler=`` / ``--scheduler``, so the cluster starts once;
the worker-loss tests start a cluster of their own, whose workers they kill, and
a few tests run ``xent`` in a subprocess that starts its own local cluster.
The test datasets are Parquet directories of 9 or more shards of uneven sizes
(a 1-row shard, a 0-row shard) whose shards miss some classes. Figures must
equal the local engine's to 1e-12 relative; counts, the histogram and the
top-K list must be identical.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import xent
from xent.distributed import score_dask  # imports Dask only when called
from xent.errors import UsageError
from xent.metrics import METRICS
from xent.options import ScoreOptions
from xent.report import Report

distributed = pytest.importorskip("distributed")

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]

ANIMALS = ("cat", "dog", "bird", "fish")
#: The animals dataset has a numeric weight column "w": name it, or it is a prediction.
ANIMAL_ARGS = ["--weight-col", "w"]


# --------------------------------------------------------------------------- cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # None still binds the HTTP server to :8787
        silence_logs=logging.CRITICAL,
    ) as local:
        yield local


@pytest.fixture(scope="module")
def address(cluster: Any) -> str:
    scheduler: str = cluster.scheduler_address
    return scheduler


@pytest.fixture(scope="module")
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster) as connected:
        yield connected


def _on(address: str) -> list[str]:
    """The options that score on the cluster at ``address``."""
    return ["--engine", "dask", "--scheduler", address]


def _drain(client: Any) -> None:
    """Return once every task already started on the cluster has finished.

    After a failed run, tasks that were running keep running on their workers,
    although the scheduler has forgotten them: ``client.processing()`` is empty
    at once. A no-op task queued on each single-threaded worker runs only after
    them.
    """
    for worker in client.scheduler_info()["workers"]:
        client.submit(time.time, workers=[worker], allow_other_workers=False, pure=False).result(
            timeout=60
        )


# --------------------------------------------------------------------------- datasets


def _write(directory: Path, shards: Sequence[dict[str, Any]], schema: pa.Schema) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i, columns in enumerate(shards):
        table = pa.table({name: columns[name] for name in schema.names}, schema=schema)
        pq.write_table(table, directory / f"s{i:02d}.parquet")
    return directory


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _multiclass(
    rng: np.random.Generator, y: np.ndarray, k: int, *, one_hot_every: int = 0
) -> np.ndarray:
    z = rng.normal(size=(len(y), k)) * 1.5
    z[np.arange(len(y)), y] += 1.0
    p = _softmax(z)
    if one_hot_every:
        # Certain predictions, right and wrong: clipped, and equal (tied) losses.
        for row in range(0, len(y), one_hot_every):
            p[row] = 0.0
            p[row, (y[row] + row // one_hot_every) % k] = 1.0
    return p


def _animals(directory: Path) -> Path:
    """String labels, string ids and weights; shards of 0 to 480 rows missing classes."""
    rng = np.random.default_rng(7)
    plan: list[tuple[int, tuple[str, ...]]] = [
        (37, ANIMALS),
        (1, ("fish",)),
        (0, ANIMALS),
        (230, ("cat", "dog")),
        (9, ("bird",)),
        (118, ANIMALS),
        (3, ("dog", "fish")),
        (64, ("cat", "bird", "fish")),
        (480, ANIMALS),
        (15, ("cat",)),
    ]
    shards = []
    for i, (n, allowed) in enumerate(plan):
        names = rng.choice(allowed, size=n)
        y = np.array([ANIMALS.index(v) for v in names], dtype=np.int64)
        p = _multiclass(rng, y, len(ANIMALS), one_hot_every=25)
        weights = rng.uniform(0.0, 3.0, n)
        weights[::11] = 0.0
        columns: dict[str, Any] = {
            "id": [f"s{i}-r{j}" for j in range(n)],
            "label": names.tolist(),
            "w": weights,
        }
        columns.update({f"p_{c}": p[:, j] for j, c in enumerate(ANIMALS)})
        shards.append(columns)
    schema = pa.schema(
        [("id", pa.string()), ("label", pa.string()), ("w", pa.float64())]
        + [(f"p_{c}", pa.float64()) for c in ANIMALS]
    )
    return _write(directory, shards, schema)


def _digits(directory: Path) -> Path:
    """Integer labels 0-4 with -100 to ignore (one shard all -100); float32 predictions."""
    rng = np.random.default_rng(11)
    k = 5
    plan: list[tuple[int, tuple[int, ...]]] = [
        (120, (0, 1, 2, 3, 4)),
        (0, (0,)),
        (1, (4,)),
        (55, (-100,)),
        (300, (0, 1, 2, 3, 4, -100)),
        (8, (2, 3)),
        (40, (0, 1)),
        (200, (0, 1, 2, 3, 4)),
        (17, (3, -100)),
        (90, (1, 2, 3, 4)),
    ]
    shards = []
    for n, allowed in plan:
        labels = rng.choice(allowed, size=n).astype(np.int64)
        p = _multiclass(rng, np.where(labels < 0, 0, labels), k).astype(np.float32)
        columns: dict[str, Any] = {"label": labels}
        columns.update({f"p_{j}": p[:, j] for j in range(k)})
        shards.append(columns)
    schema = pa.schema([("label", pa.int64())] + [(f"p_{j}", pa.float32()) for j in range(k)])
    return _write(directory, shards, schema)


def _spam(directory: Path) -> Path:
    """Binary, labels spam/ham with --pos-label spam; the first shard holds only spam."""
    rng = np.random.default_rng(3)
    plan: list[tuple[int, tuple[str, ...]]] = [
        (12, ("spam",)),
        (70, ("spam", "ham")),
        (1, ("ham",)),
        (0, ("ham",)),
        (25, ("spam",)),
        (150, ("spam", "ham")),
        (33, ("ham",)),
        (5, ("spam", "ham")),
        (260, ("spam", "ham")),
    ]
    shards = []
    for n, allowed in plan:
        labels = rng.choice(allowed, size=n)
        p = np.clip(rng.beta(2, 2, n) + np.where(labels == "spam", 0.2, -0.2), 0.0, 1.0)
        p[::17] = np.where(labels[::17] == "spam", 0.0, 1.0)  # certain and wrong: clipped
        shards.append({"label": labels.tolist(), "p_spam": p})
    schema = pa.schema([("label", pa.string()), ("p_spam", pa.float64())])
    return _write(directory, shards, schema)


def _clicks(directory: Path) -> Path:
    """Binary 0/1 logits whose values lie in [0, 1] in every shard but the 9th."""
    rng = np.random.default_rng(5)
    sizes = [40, 1, 0, 130, 7, 66, 250, 19, 90, 12]
    shards = []
    for i, n in enumerate(sizes):
        labels = rng.integers(0, 2, n)
        logit = rng.normal(size=n) * 3 if i == 8 else rng.uniform(0.0, 1.0, n)
        shards.append({"label": labels, "logit": logit})
    schema = pa.schema([("label", pa.int64()), ("logit", pa.float64())])
    return _write(directory, shards, schema)


def _scores3(directory: Path) -> Path:
    """Multiclass logits in [0, 1] (rows not summing to 1) in every shard but the last."""
    rng = np.random.default_rng(13)
    sizes = [30, 1, 0, 80, 12, 45, 60, 9, 70]
    shards = []
    for i, n in enumerate(sizes):
        z = rng.uniform(0.0, 1.0, (n, 3)) * (4.0 if i == len(sizes) - 1 else 1.0)
        columns: dict[str, Any] = {"label": rng.integers(0, 3, n)}
        columns.update({f"z_{j}": z[:, j] for j in range(3)})
        shards.append(columns)
    schema = pa.schema([("label", pa.int64())] + [(f"z_{j}", pa.float64()) for j in range(3)])
    return _write(directory, shards, schema)


def _tags(directory: Path) -> Path:
    """Multilabel 0/1 targets (--label-cols 'y_*')."""
    rng = np.random.default_rng(17)
    tags = ("news", "sport", "tech")
    sizes = [50, 0, 1, 120, 14, 75, 3, 200, 31]
    shards = []
    for n in sizes:
        columns: dict[str, Any] = {}
        for t in tags:
            columns[f"y_{t}"] = rng.integers(0, 2, n).astype(np.float64)
        for t in tags:
            columns[f"p_{t}"] = rng.uniform(0.0, 1.0, n)
        shards.append(columns)
    schema = pa.schema(
        [(f"y_{t}", pa.float64()) for t in tags] + [(f"p_{t}", pa.float64()) for t in tags]
    )
    return _write(directory, shards, schema)


def _brackets(directory: Path) -> Path:
    """Prediction columns named like a flattened array: proba[0], proba[1], proba[2]."""
    rng = np.random.default_rng(19)
    sizes = [20, 1, 0, 35, 8, 50, 12, 3, 40]
    shards = []
    for n in sizes:
        y = rng.integers(0, 3, n)
        p = _multiclass(rng, y, 3)
        columns: dict[str, Any] = {"label": y}
        columns.update({f"proba[{j}]": p[:, j] for j in range(3)})
        shards.append(columns)
    schema = pa.schema([("label", pa.int64())] + [(f"proba[{j}]", pa.float64()) for j in range(3)])
    return _write(directory, shards, schema)


def _odd_names(directory: Path) -> Path:
    """Prediction columns named with a comma and with leading or trailing spaces."""
    rng = np.random.default_rng(23)
    names = ["p,0", " p1", "p2 "]
    sizes = [15, 1, 0, 30, 6, 44, 9, 2, 25]
    shards = []
    for n in sizes:
        y = rng.integers(0, 3, n)
        p = _multiclass(rng, y, 3)
        columns: dict[str, Any] = {"label": y}
        columns.update({name: p[:, j] for j, name in enumerate(names)})
        shards.append(columns)
    schema = pa.schema([("label", pa.int64())] + [(name, pa.float64()) for name in names])
    return _write(directory, shards, schema)


DATASETS: dict[str, Callable[[Path], Path]] = {
    "animals": _animals,
    "digits": _digits,
    "spam": _spam,
    "clicks": _clicks,
    "scores3": _scores3,
    "tags": _tags,
    "brackets": _brackets,
    "odd_names": _odd_names,
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shards")
    return {name: make(root / name) for name, make in DATASETS.items()}


def _shard_sizes(directory: Path) -> list[int]:
    return [pq.ParquetFile(f).metadata.num_rows for f in sorted(directory.glob("*.parquet"))]


def test_datasets_have_the_promised_shape(datasets: dict[str, Path]) -> None:
    for name, directory in datasets.items():
        sizes = _shard_sizes(directory)
        assert len(sizes) >= 9, name
        assert 0 in sizes, name
        assert 1 in sizes, name
    # Some shards miss classes: the whole dataset has every class, shard 3 only two.
    labels = pq.read_table(datasets["animals"] / "s03.parquet").column("label").to_pylist()
    assert set(labels) == {"cat", "dog"}


# --------------------------------------------------------------------------- comparing


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


def _assert_close_tree(ours: Any, theirs: Any, path: str = "") -> None:
    """Nested dicts/lists equal: floats to 1e-12 relative, everything else exactly."""
    if isinstance(ours, dict):
        assert isinstance(theirs, dict), path
        assert ours.keys() == theirs.keys(), path
        for key in ours:
            _assert_close_tree(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, list):
        assert isinstance(theirs, list), path
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _assert_close_tree(a, b, f"{path}[{i}]")
    elif isinstance(ours, float) and isinstance(theirs, float):
        assert _close(ours, theirs), f"{path}: {ours!r} != {theirs!r}"
    else:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"


def assert_same(dask: Report, local: Report) -> None:
    """The Dask report equals the local engine's (sums to 1e-12, counts exactly)."""
    assert dask.task == local.task
    assert dask.inputs == local.inputs
    assert dask.unit == local.unit
    assert dask.classes == local.classes
    assert dask.n_samples == local.n_samples
    assert dask.n_ignored == local.n_ignored
    assert dask.n_renormalized == local.n_renormalized
    assert dask.aggregate.n_clipped == local.aggregate.n_clipped
    assert dask.prediction_columns == local.prediction_columns
    assert dask.id_column == local.id_column
    for field in ("loss", "sum", "weight", "perplexity"):
        ours, theirs = getattr(dask.aggregate, field), getattr(local.aggregate, field)
        assert _close(ours, theirs), f"aggregate.{field}: {ours!r} != {theirs!r}"
    assert len(dask.per_class) == len(local.per_class)
    for ours, theirs in zip(dask.per_class, local.per_class, strict=True):
        assert (ours.name, ours.n) == (theirs.name, theirs.n)
        for field in ("loss", "sum", "weight", "share"):
            a, b = getattr(ours, field), getattr(theirs, field)
            assert _close(a, b), f"{ours.name}.{field}: {a!r} != {b!r}"
    for field in ("uniform", "prior", "d2"):
        a, b = getattr(dask.reference, field), getattr(local.reference, field)
        assert _close(a, b), f"reference.{field}: {a!r} != {b!r}"
    assert dask.histogram == local.histogram
    assert dask.top == local.top  # index, id, label and loss, exactly
    _assert_close_tree(dask.metrics, local.metrics, "metrics")


# --------------------------------------------------------------------------- parity

PARITY = [
    pytest.param("animals", {"pred_cols": "p_*"}, id="strings-pred-cols"),
    pytest.param(
        "animals",
        {"weight_col": "w", "metrics": METRICS, "top": 12, "unit": "bits"},
        id="strings-weights-metrics-bits",
    ),
    pytest.param(
        "animals",
        {
            "weight_col": "w",
            "ignore_label": "fish",
            "class_weights": {"cat": 2.0, "dog": 0.5},
            "label_smoothing": 0.1,
        },
        id="strings-ignore-classweights-smoothing",
    ),
    pytest.param("digits", {"ignore_label": "-100", "top": 10}, id="ints-ignore"),
    pytest.param(
        "digits", {"ignore_label": "-100", "metrics": METRICS, "bins": 7}, id="ints-metrics"
    ),
    pytest.param("spam", {"pos_label": "spam", "metrics": METRICS}, id="binary-pos-label"),
    pytest.param("clicks", {}, id="binary-logits-in-a-late-shard"),
    pytest.param("clicks", {"inputs": "logits", "top": 0}, id="binary-logits-given"),
    pytest.param("tags", {"label_cols": "y_*", "task": "multilabel"}, id="multilabel"),
    pytest.param("scores3", {}, id="multiclass-logits-in-a-late-shard"),
    pytest.param("brackets", {}, id="prediction-columns-with-glob-characters"),
    pytest.param("odd_names", {}, id="prediction-columns-with-commas-and-spaces"),
]


@pytest.mark.parametrize(("dataset", "options"), PARITY)
def test_parity_with_the_local_engine(
    datasets: dict[str, Path], address: str, dataset: str, options: dict[str, Any]
) -> None:
    directory = str(datasets[dataset])
    local = xent.score(directory, options=ScoreOptions(**options))
    dask = score_dask(directory, options=ScoreOptions(**options), scheduler=address)
    assert_same(dask, local)
    assert dask.predictions == directory


def test_parity_cases_exercise_what_they_claim(datasets: dict[str, Path]) -> None:
    clicks = xent.score(str(datasets["clicks"]))
    assert clicks.inputs == "logits"
    assert xent.score(str(datasets["animals"]), weight_col="w").aggregate.n_clipped > 0
    spam = xent.score(str(datasets["spam"]), pos_label="spam")
    assert spam.classes == ["ham", "spam"]
    assert spam.aggregate.n_clipped > 0
    digits = xent.score(str(datasets["digits"]), ignore_label="-100")
    assert digits.n_ignored > 55
    top = xent.score(str(datasets["animals"]), weight_col="w", top=12).top
    assert len({s.loss for s in top}) < len(top)  # ties in the top-K, broken by row


def test_glob_and_urls_name_the_same_shards(datasets: dict[str, Path], address: str) -> None:
    directory = datasets["animals"]
    opts = ScoreOptions(weight_col="w", metrics=METRICS)
    by_directory = score_dask(str(directory), options=opts, scheduler=address).to_dict()
    for pattern in (
        f"{directory}/*.parquet",
        f"{directory}/s*.parquet",
        f"file://{directory}",
        f"file://{directory}/*.parquet",
        f"local://{directory}",  # goes through fsspec, as s3:// and gs:// do
    ):
        report = score_dask(pattern, options=opts, scheduler=address).to_dict()
        assert report.pop("source") == {"predictions": pattern, "labels": None}
        expected = dict(by_directory)
        expected.pop("source")
        assert report == expected, pattern


def test_cli_json_equals_the_local_engine(
    invoke: Invoke, datasets: dict[str, Path], address: str
) -> None:
    directory = str(datasets["animals"])
    args = ["score", directory, "--format", "json", "--weight-col", "w", "--metrics", "all"]
    code, local_out, _ = invoke(args)
    assert code == 0
    code, dask_out, err = invoke([*args, "--engine", "dask", "--scheduler", address])
    assert code == 0, err
    assert err == ""
    _assert_close_tree(json.loads(dask_out), json.loads(local_out))


# --------------------------------------------------------------------------- gates


def test_gates_through_the_cli(
    invoke: Invoke, datasets: dict[str, Path], address: str, tmp_path: Path
) -> None:
    directory = str(datasets["animals"])
    dask = [*ANIMAL_ARGS, "--engine", "dask", "--scheduler", address]
    loss = xent.score(directory, weight_col="w").aggregate.loss

    code, _, err = invoke(["score", directory, *dask, "--max-loss", "0.01"])
    assert code == 1
    assert "max-loss" in err
    code, out, _ = invoke(["score", directory, *dask, "--max-loss", str(loss * 1.01)])
    assert code == 0
    code, _, err = invoke(["score", directory, *dask, "--max-class-loss", "0.01"])
    assert code == 1
    assert "class" in err

    code, out, _ = invoke(["score", directory, *dask, "--format", "json"])
    assert code == 0
    (tmp_path / "base.json").write_text(out)
    code, out, err = invoke(["score", directory, *dask, "--baseline", "base.json"])
    assert code == 0, err
    code, out, err = invoke(
        ["score", directory, *dask, "--baseline", "base.json", "--format", "json"]
    )
    assert code == 0, err
    assert json.loads(out)["passed"] is True


# --------------------------------------------------------------------------- per-sample output


def _read_parts(directory: Path) -> pa.Table:
    files = sorted(directory.glob("part-*.parquet"))
    tables = [pq.read_table(f) for f in files]
    # An empty shard's file may lack the id column.
    return pa.concat_tables(tables, promote_options="default").sort_by("index")


@pytest.mark.parametrize(
    ("dataset", "extra"),
    [
        pytest.param("animals", ["--weight-col", "w", "--ignore-label", "fish"], id="ids-ignore"),
        pytest.param("clicks", [], id="logits-rerun-overwrites-probs-pass"),
    ],
)
def test_per_sample_output_is_one_file_per_shard_and_matches_csv(
    invoke: Invoke,
    datasets: dict[str, Path],
    address: str,
    tmp_path: Path,
    dataset: str,
    extra: list[str],
) -> None:
    directory = datasets[dataset]
    code, csv_out, _ = invoke(["score", str(directory), "--format", "csv", *extra])
    assert code == 0
    code, _, err = invoke(
        [
            "score",
            str(directory),
            "--engine",
            "dask",
            "--scheduler",
            address,
            "--per-sample-output",
            str(tmp_path / "losses"),
            *extra,
        ]
    )
    assert code == 0, err
    out = tmp_path / "losses"
    names = sorted(os.listdir(out))
    # Only finished part files: no temporary file is left behind.
    assert all(n.startswith("part-") and n.endswith(".parquet") for n in names), names
    sizes = _shard_sizes(directory)
    written = {int(n[len("part-") : -len(".parquet")]) for n in names}
    table = _read_parts(out)
    expected = pacsv.read_csv(
        pa.py_buffer(csv_out.encode()),
        convert_options=pacsv.ConvertOptions(
            column_types={
                "index": pa.int64(),
                "id": pa.string(),
                "label": pa.string(),
                "loss": pa.float64(),
            },
            strings_can_be_null=True,  # an empty id is no id
        ),
    )
    assert table.column_names == expected.column_names
    assert table.num_rows == expected.num_rows > 0
    for name in expected.column_names:
        ours, theirs = table.column(name).to_pylist(), expected.column(name).to_pylist()
        assert ours == theirs, name  # losses exactly: the CSV holds shortest exact decimals
    # One file per shard, holding that shard's rows only (a shard with no
    # scored rows, 0-row or all ignored, gets an empty file).
    assert written == set(range(len(sizes)))
    starts = np.cumsum([0, *sizes])
    for i in written:
        part = pq.read_table(out / f"part-{i:05d}.parquet").column("index").to_numpy()
        assert ((part >= starts[i]) & (part < starts[i + 1])).all()


def test_per_sample_output_has_a_file_for_an_empty_shard(
    datasets: dict[str, Path], address: str, tmp_path: Path
) -> None:
    directory = datasets["animals"]
    score_dask(
        str(directory),
        options=ScoreOptions(weight_col="w"),
        scheduler=address,
        per_sample_output=str(tmp_path),
    )
    sizes = _shard_sizes(directory)
    assert sorted(os.listdir(tmp_path)) == [f"part-{i:05d}.parquet" for i in range(len(sizes))]
    assert [pq.ParquetFile(f).metadata.num_rows for f in sorted(tmp_path.iterdir())] == sizes


def test_per_sample_part_files_share_one_schema(
    datasets: dict[str, Path], address: str, tmp_path: Path
) -> None:
    directory = tmp_path / "empty-first"
    directory.mkdir()
    for f in sorted(datasets["animals"].glob("*.parquet")):
        (directory / f.name).write_bytes(f.read_bytes())
    # The 0-row shard sorts first, as a shard of a partition with no rows may.
    (directory / "s02.parquet").rename(directory / "a-empty.parquet")
    out = tmp_path / "losses"
    score_dask(
        str(directory),
        options=ScoreOptions(weight_col="w"),
        scheduler=address,
        per_sample_output=str(out),
    )
    schemas = {pq.read_schema(f).names.__repr__() for f in out.glob("part-*.parquet")}
    assert schemas == {repr(["index", "id", "label", "loss"])}
    assert "id" in pq.read_table(out).column_names


def test_per_sample_output_url_is_refused(
    invoke: Invoke, datasets: dict[str, Path], address: str, tmp_path: Path
) -> None:
    out = tmp_path / "losses"
    code, _, err = invoke(
        ["score", str(datasets["clicks"]), *_on(address), "--per-sample-output", f"file://{out}"]
    )
    assert code == 2
    assert "--per-sample-output" in err
    assert os.listdir(tmp_path) == []  # no stray directory named 'file:'


def test_per_sample_output_must_be_empty(
    invoke: Invoke, datasets: dict[str, Path], address: str, tmp_path: Path
) -> None:
    out = tmp_path / "losses"
    out.mkdir()
    (out / "part-00099.parquet").write_bytes(b"from an earlier run")
    code, _, err = invoke(
        ["score", str(datasets["clicks"]), *_on(address), "--per-sample-output", str(out)]
    )
    assert code == 2
    assert "not empty" in err
    assert os.listdir(out) == ["part-00099.parquet"]


# --------------------------------------------------------------------------- failures


@pytest.fixture
def broken(tmp_path: Path, datasets: dict[str, Path]) -> Callable[[str], Path]:
    """A copy of the animals dataset with shard 8 (of 10) broken in one way."""

    def make(how: str) -> Path:
        directory = tmp_path / f"broken-{how}"
        directory.mkdir()
        for f in sorted(datasets["animals"].glob("*.parquet")):
            (directory / f.name).write_bytes(f.read_bytes())
        bad = directory / "s08.parquet"
        table = pq.read_table(bad)
        if how == "not-parquet":
            bad.write_text("id,label\n1,cat\n")
        elif how == "nan":
            p = table.column("p_dog").to_numpy().copy()
            p[41] = np.nan
            table = table.set_column(table.schema.get_field_index("p_dog"), "p_dog", pa.array(p))
            pq.write_table(table, bad)
        elif how == "no-column":
            pq.write_table(table.drop_columns(["p_fish"]), bad)
        elif how == "extra-column":
            extra = np.linspace(0.0, 5.0, table.num_rows)
            pq.write_table(table.append_column("p_zebra", pa.array(extra)), bad)
        else:
            raise AssertionError(how)
        return directory

    return make


def test_a_shard_that_is_not_parquet_exits_3_naming_it(
    invoke: Invoke, broken: Callable[[str], Path], address: str
) -> None:
    directory = broken("not-parquet")
    code, out, err = invoke(
        ["score", str(directory), *ANIMAL_ARGS, "--engine", "dask", "--scheduler", address]
    )
    assert code == 3
    assert out == ""
    assert err.startswith("xent: error: ")
    assert f"{directory / 's08.parquet'}: cannot read as parquet" in err
    assert err.count("\n") == 1


def test_a_nan_prediction_exits_4_naming_shard_and_row(
    invoke: Invoke, broken: Callable[[str], Path], address: str
) -> None:
    directory = broken("nan")
    code, out, err = invoke(
        ["score", str(directory), *ANIMAL_ARGS, "--engine", "dask", "--scheduler", address]
    )
    assert code == 4
    assert out == ""
    assert f"{directory / 's08.parquet'}: row 42 " in err
    assert "'p_dog'" in err
    assert "NaN" in err
    assert err.count("\n") == 1


def test_a_shard_missing_a_given_prediction_column_exits_3(
    invoke: Invoke, broken: Callable[[str], Path], address: str
) -> None:
    directory = broken("no-column")
    pred_cols = ",".join(f"p_{c}" for c in ANIMALS)
    code, out, err = invoke(
        ["score", str(directory), *ANIMAL_ARGS, *_on(address), "--pred-cols", pred_cols]
    )
    assert code == 3
    assert out == ""
    assert f"{directory / 's08.parquet'}" in err
    assert "p_fish" in err


def test_a_shard_missing_a_detected_prediction_column_exits_3(
    invoke: Invoke, broken: Callable[[str], Path], address: str
) -> None:
    directory = broken("no-column")
    code, _, local_err = invoke(["score", str(directory), *ANIMAL_ARGS])
    assert code == 3
    assert "has no column 'p_fish'" in local_err
    code, out, err = invoke(
        ["score", str(directory), *ANIMAL_ARGS, "--engine", "dask", "--scheduler", address]
    )
    assert (code, out) == (3, "")
    assert f"{directory / 's08.parquet'}" in err
    assert "p_fish" in err


def test_a_shard_with_an_extra_column_is_read_like_the_first(
    broken: Callable[[str], Path], address: str
) -> None:
    # The local engine reads every file with the first file's columns; so does Dask.
    directory = str(broken("extra-column"))
    opts = ScoreOptions(weight_col="w")
    local = xent.score(directory, options=opts)
    assert_same(score_dask(directory, options=opts, scheduler=address), local)
    assert "p_zebra" not in local.prediction_columns


def test_a_failed_run_publishes_no_file_of_the_bad_shard(
    invoke: Invoke, broken: Callable[[str], Path], address: str, client: Any, tmp_path: Path
) -> None:
    """What a failed run leaves in --per-sample-output (documented in docs/dask.md).

    The bad shard's file is never published, the files of the shards done by
    then never reach the directory, and no temporary file stays once the workers
    are done.
    """
    directory = broken("nan")
    code, _, _ = invoke(
        [
            "score",
            str(directory),
            *ANIMAL_ARGS,
            *_on(address),
            "--per-sample-output",
            str(tmp_path / "losses"),
        ]
    )
    assert code == 4
    _drain(client)
    names = sorted(os.listdir(tmp_path / "losses"))
    assert "part-00008.parquet" not in names
    assert [n for n in names if not n.endswith(".parquet")] == []


@pytest.fixture(scope="module")
def nan_first(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 shards of 200,000 rows; the first row of the first shard holds a NaN.

    The first shard fails at once, while the other worker is still scoring the
    second shard: some work is always in flight when the failure is reported.
    """
    directory = _big_dataset(tmp_path_factory.mktemp("nan-first") / "data", 4, 200_000)
    first = directory / "s00.parquet"
    table = pq.read_table(first)
    p = table.column("p_3").to_numpy().copy()
    p[0] = np.nan
    table = table.set_column(table.schema.get_field_index("p_3"), "p_3", pa.array(p))
    pq.write_table(table, first, compression="none")
    return directory


def test_a_failed_run_publishes_no_per_sample_output(
    invoke: Invoke, nan_first: Path, address: str, client: Any, tmp_path: Path
) -> None:
    """Shards write into a staging directory that the failure removes: a shard still
    running on the cluster after xent exits has nowhere to publish its file."""
    out = tmp_path / "losses"
    code, _, err = invoke(["score", str(nan_first), *_on(address), "--per-sample-output", str(out)])
    assert code == 4
    assert f"{nan_first / 's00.parquet'}: row 1 " in err
    _drain(client)
    assert list(out.iterdir()) == []


def test_relative_paths_are_the_callers(
    invoke: Invoke, datasets: dict[str, Path], address: str, tmp_path: Path
) -> None:
    # invoke runs in tmp_path; the cluster's workers run where pytest started.
    shutil.copytree(datasets["spam"], tmp_path / "spam")
    args = ["score", "spam", "--pos-label", "spam", *_on(address), "--format", "json"]
    code, out, err = invoke([*args, "--per-sample-output", "losses"])
    assert code == 0, err
    expected = xent.score(str(datasets["spam"]), pos_label="spam")
    assert json.loads(out)["n_samples"] == expected.n_samples
    assert len(list((tmp_path / "losses").glob("part-*.parquet"))) == 9  # one per shard


def test_no_parquet_files_exits_3(invoke: Invoke, tmp_path: Path, address: str) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = invoke(["score", "empty", "--engine", "dask", "--scheduler", address])
    assert code == 3
    assert "empty" in err
    code, _, err = invoke(
        ["score", "nothing/*.parquet", "--engine", "dask", "--scheduler", address]
    )
    assert code == 3
    assert "no Parquet files" in err


# --------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "dask", "--format", "csv"], "--per-sample-output"),
        (["--engine", "dask", "--format", "json", "--per-sample"], "--per-sample-output"),
        (["--engine", "dask", "--workers", "0"], "--workers must be >= 1"),
        (["--engine", "dask", "--labels", "y.csv"], "--labels"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "need --engine dask"),
        (["--engine", "local", "--scheduler", "tcp://127.0.0.1:8786"], "need --engine dask"),
        (["--engine", "local", "--workers", "2"], "need --engine dask"),
        (["--per-sample-output", "out"], "need --engine dask"),
        (["--engine", "spark"], "--engine must be local or dask"),
    ],
)
def test_usage_errors_exit_2(
    invoke: Invoke, datasets: dict[str, Path], args: list[str], message: str
) -> None:
    code, out, err = invoke(["score", str(datasets["animals"]), *args])
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_workers_0_with_the_local_engine_exits_2(invoke: Invoke, datasets: dict[str, Path]) -> None:
    code, _, _ = invoke(["score", str(datasets["animals"]), *ANIMAL_ARGS, "--workers", "0"])
    assert code == 2


def test_unknown_url_protocol_names_the_package(invoke: Invoke) -> None:
    code, _, err = invoke(["score", "nosuchfs://bucket/preds/", "--engine", "dask"])
    assert code == 2
    assert "install its package" in err


def test_s3_without_s3fs_names_the_package(invoke: Invoke) -> None:
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed")
    code, _, err = invoke(["score", "s3://bucket/preds/", "--engine", "dask"])
    assert code == 2
    assert "s3fs" in err


def test_unreachable_scheduler_is_a_clear_error(
    invoke: Invoke, datasets: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # score_dask waits 20 s for the scheduler (Client(timeout="20s"), which overrides
    # distributed.comm.timeouts.connect): give up after 1 s here.
    real_client = distributed.Client

    def quick_client(*args: Any, **kwargs: Any) -> Any:
        return real_client(*args, **{**kwargs, "timeout": "1s"})

    monkeypatch.setattr(distributed, "Client", quick_client)
    code, _, err = invoke(
        ["score", str(datasets["animals"]), *ANIMAL_ARGS, *_on("tcp://127.0.0.1:1")]
    )
    assert code == 3
    assert "tcp://127.0.0.1:1" in err
    assert "internal error" not in err
    assert err.count("\n") == 1


def test_missing_dask_gives_the_install_hint(
    invoke: Invoke, datasets: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    code, out, err = invoke(["score", str(datasets["animals"]), "--engine", "dask"])
    assert code == 2
    assert out == ""
    assert "pip install 'xent[dask]'" in err
    with pytest.raises(UsageError, match=r"xent\[dask\]"):
        score_dask(str(datasets["animals"]), options=ScoreOptions())


def test_the_base_install_never_imports_dask(datasets: dict[str, Path], tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import xent.cli, xent.pipeline
        for args in (
            ["score", {str(datasets["animals"])!r}, "--format", "json", "--weight-col", "w"],
            ["score", {str(datasets["digits"])!r}, "--ignore-label", "-100"],
        ):
            try:
                xent.cli.main(args)
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        assert not loaded, loaded
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- local cluster


def test_without_scheduler_a_local_cluster_is_started_and_closed(
    run_xent: Callable[..., Result], datasets: dict[str, Path]
) -> None:
    directory = str(datasets["spam"])
    args = ["score", directory, "--pos-label", "spam", "--format", "json"]
    code, dask_out, err = run_xent([*args, "--engine", "dask", "--workers", "2"])
    assert code == 0, err
    code, local_out, _ = run_xent(args)
    assert code == 0
    _assert_close_tree(json.loads(dask_out), json.loads(local_out))


def test_local_cluster_failure_is_one_line_on_stderr(
    run_xent: Callable[..., Result], broken: Callable[[str], Path]
) -> None:
    directory = broken("nan")
    code, out, err = run_xent(
        ["score", str(directory), *ANIMAL_ARGS, "--engine", "dask", "--workers", "1"]
    )
    assert code == 4
    assert out == ""
    # One line: no 'distributed.worker - ERROR - Compute Failed' log or traceback.
    assert err.startswith("xent: error: ")
    assert err.count("\n") == 1
    assert f"{directory / 's08.parquet'}: row 42 " in err


def test_local_cluster_is_quiet_when_port_8787_is_taken(
    run_xent: Callable[..., Result], datasets: dict[str, Path]
) -> None:
    with socket.socket() as held:
        try:
            held.bind(("", 8787))
            held.listen()
        except OSError:
            pass  # taken already: the case under test
        code, _, err = run_xent(
            ["score", str(datasets["clicks"]), "--engine", "dask", "--workers", "1"]
        )
    assert code == 0
    assert err == ""


# --------------------------------------------------------------------------- worker loss

LOSS_SHARDS = 12


def _big_dataset(directory: Path, n_shards: int, rows: int, k: int = 10) -> Path:
    """Shards of several record batches each, so a worker can die while writing one."""
    rng = np.random.default_rng(2024)
    y = rng.integers(0, k, n_shards * rows)
    p = rng.random((n_shards * rows, k))
    p /= p.sum(axis=1, keepdims=True)
    schema = pa.schema([("label", pa.int64())] + [(f"p_{j}", pa.float64()) for j in range(k)])
    directory.mkdir(parents=True)
    for i in range(n_shards):
        part = slice(i * rows, (i + 1) * rows)
        columns = {"label": y[part], **{f"p_{j}": p[part, j] for j in range(k)}}
        table = pa.table(columns, schema=schema)
        pq.write_table(table, directory / f"s{i:02d}.parquet", compression="none")
    return directory


def _temp_files(directory: Path) -> list[Path]:
    """Temporary part files in ``directory`` and its staging directory."""
    return sorted(
        Path(parent) / n for parent, _, names in os.walk(directory) for n in names if ".tmp-" in n
    )


def _new_cluster() -> Any:
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.CRITICAL,
    )


def _run_and_kill_a_writer(
    client: Any, address: str, directory: Path, out: Path, opts: ScoreOptions
) -> dict[str, Any] | None:
    """Run score_dask in a thread; SIGKILL the worker whose temporary part file exists.

    That worker dies mid-task, mid-write. Returns ``report`` or ``error`` of the
    run, the ``victim`` pid and the ``shard`` number it was writing; None when
    the run finished before a kill could land mid-write.
    """
    client.wait_for_workers(2)
    pids: dict[str, int] = client.run(os.getpid)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["report"] = score_dask(
                str(directory), options=opts, scheduler=address, per_sample_output=str(out)
            )
        except BaseException as exc:  # the caller looks at it
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    temp: list[Path] = []
    deadline = time.monotonic() + 20
    while not temp and thread.is_alive() and time.monotonic() < deadline:
        temp = _temp_files(out)
        time.sleep(0.002)
    if temp:
        victim = int(temp[0].name.rsplit("-", 1)[1])
        assert victim in pids.values()  # a worker process, not this one
        os.kill(victim, signal.SIGKILL)
        result["victim"] = victim
        result["shard"] = int(temp[0].name[len("part-") : len("part-") + 5])
    killed_mid_write = bool(temp) and temp[0].exists() and thread.is_alive()
    thread.join(60)
    assert not thread.is_alive()
    return result if killed_mid_write else None


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Score on a cluster of its own and SIGKILL a worker while it writes a shard's losses.

    Returns the report of that run, the local engine's and an undisturbed Dask
    run's, the dataset and the output directory.
    """
    root = tmp_path_factory.mktemp("killed")
    opts = ScoreOptions(top=8, metrics=METRICS)
    with _new_cluster() as cluster, distributed.Client(cluster) as client:
        address = cluster.scheduler_address
        rows = 150_000  # three record batches per shard
        for attempt in range(3):
            directory = _big_dataset(root / f"data{attempt}", LOSS_SHARDS, rows)
            out = root / f"losses{attempt}"
            result = _run_and_kill_a_writer(client, address, directory, out, opts)
            if result is not None:
                break
            rows *= 2  # the shard was done before the kill landed: more work per shard
        else:
            pytest.fail("could not kill a worker while it wrote a shard's losses")
        assert "error" not in result, result.get("error")
        client.wait_for_workers(2)  # the nanny restarts the killed worker
        assert result["victim"] not in client.run(os.getpid).values()
        undisturbed = score_dask(str(directory), options=opts, scheduler=address)
    return {
        "report": result["report"],
        "local": xent.score(str(directory), options=opts),
        "undisturbed": undisturbed,
        "directory": directory,
        "out": out,
        "rows": rows,
    }


def test_a_worker_lost_mid_run_is_retried_and_the_result_is_exact(
    killed_run: dict[str, Any],
) -> None:
    report: Report = killed_run["report"]
    assert_same(report, killed_run["local"])
    # Bit for bit what an undisturbed run gives: shards are merged in shard order.
    assert report.to_dict() == killed_run["undisturbed"].to_dict()


def test_a_worker_lost_mid_write_still_publishes_every_shard(
    killed_run: dict[str, Any],
) -> None:
    out: Path = killed_run["out"]
    parts = sorted(out.glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(LOSS_SHARDS)]
    index = np.concatenate([pq.read_table(p).column("index").to_numpy() for p in parts])
    assert np.array_equal(index, np.arange(LOSS_SHARDS * killed_run["rows"]))


def test_a_worker_lost_mid_write_leaves_a_readable_dataset(killed_run: dict[str, Any]) -> None:
    out: Path = killed_run["out"]
    assert _temp_files(out) == []
    assert pq.read_table(out).num_rows == LOSS_SHARDS * killed_run["rows"]


def test_a_shard_that_keeps_killing_workers_is_a_clear_error(
    killed_run: dict[str, Any], tmp_path: Path
) -> None:
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = _new_cluster()  # the scheduler reads the setting when it starts
    with cluster, distributed.Client(cluster) as client:
        result = None
        for attempt in range(3):
            out = tmp_path / f"losses{attempt}"
            result = _run_and_kill_a_writer(
                client, cluster.scheduler_address, killed_run["directory"], out, ScoreOptions()
            )
            if result is not None:
                break
        assert result is not None, "could not kill a worker while it wrote a shard's losses"
    error = result.get("error")
    assert isinstance(error, xent.InputError), repr(error)  # exit 3
    assert f"s{result['shard']:02d}.parquet" in str(error)
    assert "died" in str(error)
