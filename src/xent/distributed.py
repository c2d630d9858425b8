"""Scoring a sharded Parquet dataset on Dask (``xent score ... --engine dask``).

Cross-entropy is a sum, so every shard is scored on a worker by the same code
as the local engine (:func:`xent.pipeline.run_pass`) into a mergeable
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

import glob
import logging
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from xent.accumulate import Accumulator, histogram_edges_nats
from xent.errors import DataError, InputError, UsageError
from xent.inputs import CLASS_COLUMNS, TRUE_CLASS, Evidence, NotProbabilities, decide
from xent.options import ScoreOptions
from xent.pipeline import Pass, Samples, any_outside_unit_interval, layout_of, run_pass
from xent.read import Source, first_line
from xent.read.parquet import dataset_files, parquet_source
from xent.report import Report, build_report

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
        files = dataset_files(pattern, local)
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
    """A :class:`~xent.read.Source` over one Parquet shard."""
    return parquet_source(shard.name, [(shard.name, shard)], _open)


def _row_count(shard: Shard) -> int:
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(_open(shard)).metadata.num_rows)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{shard.name}: cannot read as parquet: {first_line(exc)}") from exc


class ParquetSampleWriter:
    """A sample sink writing one shard's per-sample losses to one Parquet file, atomically.

    The columns are those of ``--format csv``: ``index, id, label, loss`` (``id``
    null when the input has no id column).
    """

    def __init__(self, path: str, id_type: pa.DataType | None = None) -> None:
        self.path = path
        self.schema = pa.schema(
            [
                ("index", pa.int64()),
                ("id", id_type or pa.string()),
                ("label", pa.string()),
                ("loss", pa.float64()),
            ]
        )
        self.temp = f"{path}.tmp-{os.getpid()}"
        self.writer: Any = None

    def start(self) -> None:
        self.close(publish=False)

    def write(self, samples: Samples) -> None:
        import pyarrow.parquet as pq

        n = len(samples.index)
        table = pa.table(
            [
                pa.array(samples.index, type=pa.int64()),
                samples.ids if samples.ids is not None else pa.nulls(n, self.schema.field(1).type),
                pa.array(np.asarray(samples.labels, dtype=object).tolist(), type=pa.string()),
                pa.array(samples.loss, type=pa.float64()),
            ],
            schema=self.schema,
        )
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.temp, self.schema)
        self.writer.write_table(table)

    def close(self, *, publish: bool) -> None:
        """Finish the file and move it into place (or drop it)."""
        import pyarrow.parquet as pq

        if publish and self.writer is None:  # no scored rows: an empty file all the same
            self.writer = pq.ParquetWriter(self.temp, self.schema)
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if publish and os.path.exists(self.temp):
            os.replace(self.temp, self.path)
        elif os.path.exists(self.temp):
            os.remove(self.temp)


@dataclass(frozen=True)
class ShardResult:
    """One shard's pass, or the signal that its values may not be probabilities."""

    scored: Pass | None
    signal: NotProbabilities | None
    prediction_columns: list[str]


def score_shard(
    shard: Shard,
    opts: ScoreOptions,
    inputs: str,
    first_index: int,
    per_sample_path: str | None = None,
) -> ShardResult:
    """Score one shard on a worker (under ``--inputs auto``, a shard whose values
    may not be probabilities reports so instead of failing)."""
    source = shard_source(shard)
    layout = layout_of(source, None, opts)
    columns = list(layout.prediction_columns)
    sink = None
    if per_sample_path:
        id_type = (
            source.schema.field(layout.id_column).type if layout.id_column is not None else None
        )
        if id_type is not None and pa.types.is_dictionary(id_type):
            id_type = id_type.value_type
        if id_type is not None and (
            pa.types.is_binary(id_type) or pa.types.is_large_binary(id_type)
        ):
            id_type = pa.string()  # ids are decoded as text
        sink = ParquetSampleWriter(per_sample_path, id_type)
    try:
        scored = run_pass(source, layout, opts, inputs, first_index=first_index, sink=sink)
    except NotProbabilities as signal:
        if sink is not None:
            sink.close(publish=False)
        return ShardResult(None, signal, columns)
    except BaseException:
        if sink is not None:
            sink.close(publish=False)
        raise
    if sink is not None:
        sink.close(publish=True)
    return ShardResult(scored, None, columns)


def shard_outside_unit_interval(shard: Shard, opts: ScoreOptions) -> bool:
    """True when some prediction value of the shard lies outside [0, 1]."""
    source = shard_source(shard)
    return any_outside_unit_interval(source, layout_of(source, None, opts), opts.ignore_label)


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
    # Shards write their files into a staging directory inside DIR; the files move
    # into DIR only once every shard has succeeded. After a failure the staging
    # directory is removed, and a shard still running on a cluster that outlives
    # the command finds no directory to write into: DIR never holds a failed run.
    staging = (
        os.path.join(per_sample_output, f".xent-staging-{secrets.token_hex(8)}")
        if per_sample_output
        else None
    )
    if staging is not None:
        os.makedirs(staging)
    outputs: list[str | None] = [
        os.path.join(staging, f"part-{i:05d}.parquet") if staging else None
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

            def attempt(inputs: str) -> list[ShardResult]:
                results = _run_all(client, shards, shard_opts, inputs, offsets, outputs)
                signals = [r.signal for r in results if r.signal is not None]
                if signals:
                    # A value outside [0, 1] anywhere settles it; a row sum may not.
                    raise next((s for s in signals if s.row_sum_error is None), signals[0])
                return results

            def any_outside() -> bool:
                futures = client.map(
                    shard_outside_unit_interval, shards, [shard_opts] * len(shards), pure=False
                )
                return any(_gather(client, futures, shards))

            choices = TRUE_CLASS if layout.sequence else CLASS_COLUMNS
            decided = decide(opts.inputs, attempt, any_outside, choices)
            failed = False
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
        if per_sample_output and staging is not None:
            _publish(per_sample_output, staging, outputs, failed)
    merged = Accumulator(
        layout.n_classes, top_k=opts.top, histogram_edges_nats=histogram_edges_nats(opts.unit)
    )
    evidence = Evidence(layout.prediction_columns)
    classes = list(layout.classes)
    for shard, result in zip(shards, decided.result, strict=True):
        scored = result.scored
        assert scored is not None
        if result.prediction_columns != list(layout.prediction_columns):
            raise InputError(
                f"{shard.name}: prediction columns {', '.join(result.prediction_columns)} differ "
                f"from the first shard's ({', '.join(layout.prediction_columns)}); every shard "
                "needs the same"
            )
        if merged.metrics is None and scored.accumulator.metrics is not None:
            merged.metrics = type(scored.accumulator.metrics)(layout.n_classes, opts.bins)
        merged.merge(scored.accumulator)
        evidence.merge(scored.evidence)
        classes = _merge_classes(classes, scored.classes, layout.classes, opts, shard)
    if decided.detected:
        evidence.check(pattern, decided.inputs)
    return build_report(
        pattern,
        None,
        layout,
        classes,
        opts,
        decided.inputs,
        merged,
        header_lines=first.header_lines,
        inputs_detected=decided.detected,
        convention=decided.result[0].scored.convention if decided.result[0].scored else None,
    )


def _publish(directory: str, staging: str, outputs: list[str | None], failed: bool) -> None:
    """Move every shard's file from the staging directory into ``directory`` (unless
    the run failed), then remove the staging directory with anything left in it
    (temporary files of workers that died)."""
    try:
        if not failed:
            for path in outputs:
                assert path is not None
                os.replace(path, os.path.join(directory, os.path.basename(path)))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
) -> list[ShardResult]:
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
    classes: list[str],
    shard_classes: list[str],
    defaults: Sequence[str],
    opts: ScoreOptions,
    shard: Shard,
) -> list[str]:
    """Agree on binary class names across shards: a name learned from the labels
    (the negative class of ``--pos-label``, the spelling of ``True``) replaces the
    default; two different learned negative classes are a third label value."""
    merged = []
    for ours, theirs, default in zip(classes, shard_classes, defaults, strict=True):
        if theirs in (default, ours):
            merged.append(ours)
        elif ours == default:
            merged.append(theirs)
        elif opts.pos_label is not None:
            raise DataError(
                f"{shard.name}: label {theirs!r} besides {ours!r} and --pos-label "
                f"{opts.pos_label!r}; binary labels take two values"
            )
        else:
            merged.append(ours)  # the same value spelled otherwise (True, true)
    return merged
