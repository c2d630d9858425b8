"""Scoring a sharded Parquet dataset on Dask (``xent score ... --engine dask``).

Cross-entropy is a sum, so every shard is scored on a worker by the same code
as the local engine (:func:`xent.scoring.accumulate`) into a mergeable
accumulator; the driver merges them in shard order and builds the report.
Figures equal the local engine's up to the order of floating-point sums.

Shards are a directory of Parquet files, a glob (``preds/*.parquet``), or an
fsspec URL of either (``s3://bucket/preds/``, ``gs://...``), read through
the filesystem package installed for that protocol. Tasks are pure, so a
task on a worker that dies is run again elsewhere by Dask and the result is
still exact. Per-sample losses are never gathered: ``per_sample_output``
writes one Parquet file per shard.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent import engine
from xent.errors import DataError, InputError, UsageError
from xent.io import BATCH_ROWS, Source, _cast_batch, _parquet_files, first_line
from xent.report import Report
from xent.scoring import InputsAreLogits, ScoreOptions, accumulate, build_report, layout_of
from xent.validation import RowSumError

INSTALL_HINT = "pip install 'xent[dask]'"


@dataclass(frozen=True)
class Shard:
    """One Parquet file of the dataset: its path (or URL) and the name shown to people."""

    path: str
    name: str
    protocol: str | None = None
    storage_options: tuple[tuple[str, Any], ...] = ()


def _require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"--engine dask needs Dask: {INSTALL_HINT}") from None


def find_shards(pattern: str) -> list[Shard]:
    """The Parquet files named by a directory, a glob or an fsspec URL, in sorted order."""
    if "://" in pattern and not pattern.startswith("file://"):
        return _remote_shards(pattern)
    local = pattern[len("file://") :] if pattern.startswith("file://") else pattern
    if os.path.isdir(local):
        files = _parquet_files(pattern, local)
    else:
        files = sorted(glob.glob(local, recursive=True))
        files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise InputError(f"{pattern}: no Parquet files found (give a directory or a glob)")
    # Workers may run elsewhere: they get absolute paths; people see the paths as given.
    return [Shard(os.path.abspath(f), f) for f in files]


def _remote_shards(url: str) -> list[Shard]:
    try:
        import fsspec
    except ImportError:
        raise UsageError(f"{url}: reading URLs needs fsspec: {INSTALL_HINT}") from None
    try:
        fs, _, paths = fsspec.get_fs_token_paths(url)
    except (ImportError, ValueError) as exc:
        raise UsageError(
            f"{url}: no filesystem for this URL ({first_line(exc)}); install its package, "
            "e.g. s3fs for s3:// or gcsfs for gs://"
        ) from None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    files: list[str] = []
    for path in paths:
        if fs.isdir(path):
            files += [f for f in fs.find(path) if f.lower().endswith((".parquet", ".pq"))]
        else:
            files.append(path)
    if not files:
        raise InputError(f"{url}: no Parquet files found")
    return [Shard(f, f"{protocol}://{f}", protocol) for f in sorted(files)]


def _open(shard: Shard) -> Any:
    if shard.protocol is None:
        return shard.path
    import fsspec

    return fsspec.filesystem(shard.protocol, **dict(shard.storage_options)).open(shard.path, "rb")


def shard_source(shard: Shard) -> Source:
    """A :class:`~xent.io.Source` over one Parquet shard (read row group by row group)."""
    import pyarrow.parquet as pq

    try:
        schema = pq.ParquetFile(_open(shard)).schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{shard.name}: cannot read as parquet: {first_line(exc)}") from exc

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        present = set(schema.names)
        missing = [c for c in columns if c not in present]
        if missing:
            raise InputError(
                f"{shard.name}: has no column {missing[0]!r}; every shard needs the same columns"
            )
        try:
            with pq.ParquetFile(_open(shard), pre_buffer=False) as parquet:
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(columns)):
                    yield _cast_batch(batch, types)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{shard.name}: cannot read as parquet: {first_line(exc)}") from exc

    return Source(shard.name, "parquet", schema, open_batches)


def _row_count(shard: Shard) -> int:
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(_open(shard)).metadata.num_rows)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{shard.name}: cannot read as parquet: {first_line(exc)}") from exc


class ParquetSampleWriter:
    """A sample sink writing one shard's per-sample losses to one Parquet file, atomically."""

    def __init__(self, path: str, id_type: pa.DataType | None = None) -> None:
        self.path = path
        self.id_type = id_type
        self.temp = f"{path}.tmp-{os.getpid()}"
        self.writer: Any = None

    def start(self) -> None:
        self.close(publish=False)

    def write(
        self,
        index: npt.NDArray[np.int64],
        ids: Any,
        labels: Sequence[str] | npt.NDArray[Any],
        loss: npt.NDArray[np.float64],
        weight: npt.NDArray[np.float64],
    ) -> None:
        import pyarrow.parquet as pq

        columns = {"index": pa.array(index, type=pa.int64())}
        if ids is not None:
            columns["id"] = ids if isinstance(ids, pa.Array) else pa.array(list(ids))
        columns["label"] = pa.array(np.asarray(labels, dtype=object).tolist(), type=pa.string())
        columns["loss"] = pa.array(loss, type=pa.float64())
        table = pa.table(columns)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.temp, table.schema)
        self.writer.write_table(table)

    def close(self, *, publish: bool) -> None:
        """Finish the file and move it into place (or drop it)."""
        if publish and self.writer is None:  # no scored rows: an empty file all the same
            import pyarrow.parquet as pq

            ident = [("id", self.id_type)] if self.id_type is not None else []
            empty = pa.schema(
                [("index", pa.int64()), *ident, ("label", pa.string()), ("loss", pa.float64())]
            )
            self.writer = pq.ParquetWriter(self.temp, empty)
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if publish and os.path.exists(self.temp):
            os.replace(self.temp, self.path)
        elif os.path.exists(self.temp):
            os.remove(self.temp)


def score_shard(
    shard: Shard,
    opts: ScoreOptions,
    inputs: str,
    first_index: int,
    per_sample_path: str | None = None,
) -> tuple[str, Any, list[str], list[str]]:
    """Score one shard on a worker.

    Returns ``(status, accumulator, classes, prediction_columns)``; status is
    ``"logits"`` when ``--inputs auto`` found the values are logits (the
    driver then scores every shard again as logits), and ``"rowsum"`` (with
    the error in place of the accumulator) when rows do not sum to 1 under
    ``--inputs auto``.
    """
    source = shard_source(shard)
    layout = layout_of(source, None, opts)
    sink = None
    if per_sample_path:
        id_type = source.schema.field(layout.id_column).type if layout.id_column else None
        if id_type is not None and pa.types.is_dictionary(id_type):
            id_type = id_type.value_type
        sink = ParquetSampleWriter(per_sample_path, id_type)
    try:
        accumulator, classes = accumulate(
            source, layout, opts, inputs, first_index=first_index, sink=sink
        )
    except InputsAreLogits:
        if sink is not None:
            sink.close(publish=False)
        return "logits", None, [], list(layout.prediction_columns)
    except RowSumError as error:
        if sink is not None:
            sink.close(publish=False)
        if opts.inputs == "auto" and inputs == "probs":
            # Not an error yet: another shard may show that the values are logits.
            return "rowsum", error, [], list(layout.prediction_columns)
        raise
    except BaseException:
        if sink is not None:
            sink.close(publish=False)
        raise
    if sink is not None:
        sink.close(publish=True)
    return "ok", accumulator, classes, list(layout.prediction_columns)


def score_dask(
    pattern: str,
    *,
    options: ScoreOptions,
    scheduler: str | None = None,
    workers: int | None = None,
    per_sample_output: str | None = None,
) -> Report:
    """Score every shard of a Parquet dataset on Dask and merge the figures.

    Without ``scheduler`` a local cluster of ``workers`` processes is started
    and closed; with it, the client connects to that scheduler, whose workers
    must have xent installed.
    """
    _require_dask()
    opts = options.checked()
    if opts.labels is not None:
        raise UsageError("--engine dask reads labels from the shards; --labels is not supported")
    if opts.per_sample:
        raise UsageError(
            "--engine dask never gathers per-sample losses; write them with "
            "--per-sample-output DIR (one Parquet file per shard)"
        )
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be >= 1, not {workers}")
    shards = find_shards(pattern)
    first = shard_source(shards[0])
    layout = layout_of(first, None, opts)
    # Every shard is read with the columns found in the first, never its own guess.
    shard_opts = replace(
        opts,
        pred_cols=tuple(layout.prediction_columns),
        label_col=layout.label_column,
        id_col=layout.id_column,
    )
    if per_sample_output:
        if "://" in per_sample_output:
            raise UsageError("--per-sample-output must be a local (or shared) directory path")
        per_sample_output = os.path.abspath(per_sample_output)
        os.makedirs(per_sample_output, exist_ok=True)
        if any(not name.startswith(".") for name in os.listdir(per_sample_output)):
            raise UsageError(
                f"--per-sample-output {per_sample_output}: the directory is not empty; give a "
                "new or empty one, so that it holds exactly this run's files"
            )
    # Workers report a failed task with a traceback in the log; xent reports it in one line.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)

    import distributed

    # distributed has no type annotations: go through Any.
    dist: Any = distributed
    cluster: Any = None
    outputs: list[str | None] = [
        os.path.join(per_sample_output, f"part-{i:05d}.parquet") if per_sample_output else None
        for i in range(len(shards))
    ]
    failed = True
    try:
        if scheduler is None:
            cluster = dist.LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: never clash with another cluster
                silence_logs=logging.CRITICAL,
            )
        try:
            client: Any = dist.Client(cluster if cluster is not None else scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"cannot reach the Dask scheduler at {scheduler} ({first_line(exc)}); check "
                "the address and that the scheduler is running"
            ) from None
        try:
            counts = _gather(client, client.map(_row_count, shards, pure=True), shards)
            offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
            inputs = "probs" if opts.inputs == "auto" else opts.inputs
            results = _run_all(client, shards, shard_opts, inputs, offsets, outputs)
            if any(status == "logits" for status, *_ in results):
                inputs = "logits"
                results = _run_all(client, shards, shard_opts, inputs, offsets, outputs)
            for status, error, *_ in results:
                if status == "rowsum":
                    raise error
            failed = False
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
        if per_sample_output:
            _tidy(per_sample_output, outputs, failed)
    merged = engine.Accumulator(
        layout.n_classes,
        top_k=opts.top,
        histogram_edges_nats=engine.histogram_edges_nats(opts.unit),
    )
    classes = list(layout.classes)
    for shard, (_, accumulator, shard_classes, columns) in zip(shards, results, strict=True):
        assert accumulator is not None
        if columns != layout.prediction_columns:
            raise InputError(
                f"{shard.name}: prediction columns {', '.join(columns)} differ from the first "
                f"shard's ({', '.join(layout.prediction_columns)}); every shard needs the same"
            )
        if merged.metrics is None and accumulator.metrics is not None:
            merged.metrics = type(accumulator.metrics)(layout.n_classes, opts.bins)
        merged.merge(accumulator)
        classes = _merge_classes(classes, shard_classes, opts, shard)
    source = replace(first, name=pattern)
    return build_report(source, None, layout, classes, opts, inputs, merged)


def _tidy(directory: str, outputs: list[str | None], failed: bool) -> None:
    """Remove temporary files (from workers that died); after a failure, every part file."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if ".parquet.tmp-" in name or (failed and path in outputs):
            with contextlib.suppress(OSError):
                os.remove(path)


def _gather(client: Any, futures: list[Any], shards: list[Shard]) -> list[Any]:
    """Results of the futures; a task whose workers kept dying names its shard."""
    from distributed import KilledWorker

    try:
        return list(client.gather(futures))
    except KilledWorker:
        for future, shard in zip(futures, shards, strict=True):
            if future.status == "error":
                raise InputError(
                    f"{shard.name}: the workers scoring this shard died repeatedly (out of "
                    "memory?); give the workers more memory or split the shard"
                ) from None
        raise


def _run_all(
    client: Any,
    shards: list[Shard],
    opts: ScoreOptions,
    inputs: str,
    offsets: list[int],
    outputs: list[str | None],
) -> list[tuple[str, Any, list[str], list[str]]]:
    futures = client.map(
        score_shard,
        shards,
        [opts] * len(shards),
        [inputs] * len(shards),
        offsets,
        outputs,
        pure=False,
    )
    try:
        return _gather(client, futures, shards)
    except BaseException:
        client.cancel(futures)  # shards still running publish nothing more
        raise


def _merge_classes(
    classes: list[str], shard_classes: list[str], opts: ScoreOptions, shard: Shard
) -> list[str]:
    """Agree on binary class names across shards (``--pos-label`` learns the negative one)."""
    if opts.pos_label is None or not shard_classes:
        return classes
    placeholder = f"not {opts.pos_label}"
    ours, theirs = classes[0], shard_classes[0]
    if theirs in (placeholder, ours):
        return classes
    if ours == placeholder:
        return [theirs, *classes[1:]]
    raise DataError(
        f"{shard.name}: label {theirs!r} besides {ours!r} and --pos-label {opts.pos_label!r}; "
        "binary labels take two values"
    )
