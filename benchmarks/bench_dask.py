"""Scaling of ``xent score --engine dask``: shard count x worker count against the local engine.

Run it with the project's virtual environment (xent installed with its ``dask`` extra)::

    python benchmarks/bench_dask.py                 # 4e6 x 10 as 4, 16 and 64 shards; 3 rounds
    python benchmarks/bench_dask.py --quick         # 4e5 rows, 1 round: a smoke run
    python benchmarks/bench_dask.py --shards 8,32 --workers 1,2,4 --json dask.json

The same rows (seeded) are written once as N Parquet shards for every N in
``--shards``, under ``benchmarks/data/shards/`` (gitignored), and reused while
the generator's parameters stay the same. For every shard count it times, each
as a separate ``xent score DIR --format json`` process:

- ``local``: the local engine reading the directory in one process;
- ``dask, new cluster``: ``--engine dask --workers W``, which starts a local
  cluster of W worker processes and closes it (what a one-off command costs);
- ``dask, running cluster``: ``--engine dask --scheduler ADDR`` against a
  cluster of W workers this script started beforehand (what scoring costs when
  the cluster already exists, as on a real deployment).

A second table times the library calls in this process, ``xent.score(DIR)``
against ``score_dask(DIR, scheduler=ADDR)`` on the running cluster: scoring
alone, without starting Python and importing Dask.

Every figure is the median wall time over rounds (``best`` is the fastest
round, a steadier figure on a shared machine); the speed-up is local time /
this time for the same shard count, and the scaling is the time with 1 worker /
this time (same shard count and way of running), both from medians.

Every run's JSON report is checked against the local engine's (aggregate,
per-class and reference to 1e-12 relative; counts, histogram and top-K
exactly), and the local reports of different shard counts against each other;
a mismatch fails the run (exit 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = HERE / "data" / "shards"
VENV_XENT = Path("/work/venv/bin/xent")

#: Bump when the generated data changes, so stale shards are rebuilt.
GENERATOR_VERSION = 1
ROW_GROUP_ROWS = 131_072
LOGIT_SD = 2.0
TRUE_CLASS_BOOST = 3.0
RTOL = 1e-12


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data ----------------------------------------------------------------------


def generate(rows: int, classes: int, seed: int) -> pa.Table:
    """``label, p_0..p_{K-1}``: softmax of random logits with the true class boosted."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, classes, rows)
    logits = rng.normal(0.0, LOGIT_SD, (rows, classes))
    logits[np.arange(rows), label] += TRUE_CLASS_BOOST
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    columns: dict[str, Any] = {"label": pa.array(label, pa.int64())}
    columns.update({f"p_{k}": pa.array(logits[:, k]) for k in range(classes)})
    return pa.table(columns)


def dataset_dir(data_dir: Path, rows: int, classes: int, shards: int) -> Path:
    return data_dir / f"{rows}x{classes}-{shards}shards"


def ensure_shards(
    data_dir: Path, rows: int, classes: int, shard_counts: Sequence[int], seed: int, force: bool
) -> dict[int, Path]:
    """Write the same rows as N shards for every N (reused when the parameters match)."""
    meta = {"version": GENERATOR_VERSION, "rows": rows, "classes": classes, "seed": seed}
    wanted: dict[int, Path] = {}
    missing: list[int] = []
    for n in shard_counts:
        directory = dataset_dir(data_dir, rows, classes, n)
        wanted[n] = directory
        meta_file = directory / "_meta.json"
        fresh = (
            not force
            and meta_file.exists()
            and json.loads(meta_file.read_text()) == {**meta, "shards": n}
        )
        if not fresh:
            missing.append(n)
    if not missing:
        return wanted
    log(f"generating {rows:,} rows x {classes} classes (seed {seed}) ...")
    started = time.perf_counter()
    table = generate(rows, classes, seed)
    for n in missing:
        directory = wanted[n]
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        bounds = np.linspace(0, rows, n + 1).astype(int)
        for i in range(n):
            part = table.slice(bounds[i], bounds[i + 1] - bounds[i])
            pq.write_table(part, directory / f"part-{i:05d}.parquet", row_group_size=ROW_GROUP_ROWS)
        (directory / "_meta.json").write_text(json.dumps({**meta, "shards": n}))
        size = sum(f.stat().st_size for f in directory.glob("*.parquet"))
        log(f"  wrote {n} shards to {directory} ({size / 2**20:,.0f} MiB)")
    log(f"  done in {time.perf_counter() - started:.1f} s")
    return wanted


def warm_page_cache(directories: Sequence[Path]) -> None:
    for directory in directories:
        for f in directory.glob("*.parquet"):
            with open(f, "rb") as handle:
                while handle.read(1 << 24):
                    pass


# --- running -------------------------------------------------------------------


def run_xent(
    xent: Sequence[str], args: Sequence[str], timeout: float
) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one ``xent`` process and its JSON report."""
    started = time.perf_counter()
    proc = subprocess.run(
        [*xent, *args, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(
            f"xent {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr.strip()}"
        )
    report: dict[str, Any] = json.loads(proc.stdout)
    return wall, report


class Check:
    """Collects mismatches between reports."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def same(self, what: str, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
        for key in ("n_samples", "n_ignored", "classes", "task", "inputs", "histogram", "top"):
            if key == "top":
                a = [(s["index"], s["label"]) for s in ours["top"]]
                b = [(s["index"], s["label"]) for s in theirs["top"]]
                if a != b or not all(
                    _close(x["loss"], y["loss"])
                    for x, y in zip(ours["top"], theirs["top"], strict=True)
                ):
                    self.problems.append(f"{what}: top differs")
            elif ours[key] != theirs[key]:
                self.problems.append(f"{what}: {key} differs")
        if ours["aggregate"]["n_clipped"] != theirs["aggregate"]["n_clipped"]:
            self.problems.append(f"{what}: n_clipped differs")
        for key in ("loss", "sum", "weight", "perplexity"):
            a, b = ours["aggregate"][key], theirs["aggregate"][key]
            if not _close(a, b):
                self.problems.append(f"{what}: aggregate.{key} {a!r} != {b!r}")
        for a, b in zip(ours["per_class"], theirs["per_class"], strict=True):
            if a["n"] != b["n"] or not all(_close(a[k], b[k]) for k in ("loss", "sum", "share")):
                self.problems.append(f"{what}: class {a['class']} differs")
        for key in ("uniform", "prior", "d2"):
            if not _close(ours["reference"][key], theirs["reference"][key]):
                self.problems.append(f"{what}: reference.{key} differs")


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):  # "nan", "inf" in JSON
        return bool(a == b)
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=0.0)


def start_cluster(workers: int) -> Any:
    import distributed

    return distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )


# --- main ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000, help="total rows (default 4e6)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--shards", default="4,16,64", help="shard counts (default 4,16,64)")
    parser.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="4e5 rows, 1 round")
    parser.add_argument("--no-new-cluster", action="store_true", help="skip the cold runs")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--xent", default=None, help="the xent command (default: the venv's)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeat = 400_000, 1
    shard_counts = [int(s) for s in args.shards.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    if args.xent:
        xent = args.xent.split()
    elif VENV_XENT.exists():
        xent = [str(VENV_XENT)]
    else:
        xent = [sys.executable, "-m", "xent"]

    import dask
    import distributed

    log(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}"
    )
    dirs = ensure_shards(
        args.data_dir, args.rows, args.classes, shard_counts, args.seed, args.regenerate
    )
    warm_page_cache(list(dirs.values()))
    log("warming up (untimed): one local run, one dask run")
    run_xent(xent, ["score", str(dirs[shard_counts[0]])], args.timeout)
    if not args.no_new_cluster:
        run_xent(
            xent,
            ["score", str(dirs[shard_counts[0]]), "--engine", "dask", "--workers", "1"],
            args.timeout,
        )

    times: dict[tuple[int, str, int], list[float]] = {}
    reports: dict[tuple[int, str, int], dict[str, Any]] = {}
    import xent as xent_lib
    from xent.distributed import score_dask
    from xent.options import ScoreOptions

    def timed_call(key: tuple[int, str, int], address: str | None) -> None:
        shards, engine, workers = key
        started = time.perf_counter()
        if address is None:
            report = xent_lib.score(str(dirs[shards]))
        else:
            report = score_dask(str(dirs[shards]), options=ScoreOptions(), scheduler=address)
        wall = time.perf_counter() - started
        times.setdefault(key, []).append(wall)
        reports[key] = json.loads(json.dumps(report.to_dict()))
        log(f"  {shards:>3} shards  {engine:<22} workers={workers or '-'}  {wall:7.2f} s")

    def timed(key: tuple[int, str, int], extra: Sequence[str]) -> None:
        shards, engine, workers = key
        wall, report = run_xent(xent, ["score", str(dirs[shards]), *extra], args.timeout)
        times.setdefault(key, []).append(wall)
        reports[key] = report
        log(f"  {shards:>3} shards  {engine:<22} workers={workers or '-'}  {wall:7.2f} s")

    for r in range(args.repeat):
        log(f"round {r + 1}/{args.repeat}: local and dask with a new cluster per run")
        order = shard_counts[r % len(shard_counts) :] + shard_counts[: r % len(shard_counts)]
        for n in order:
            timed((n, "local", 0), [])
            if not args.no_new_cluster:
                for w in worker_counts:
                    timed((n, "dask, new cluster", w), ["--engine", "dask", "--workers", str(w)])
    for w in worker_counts:
        log(f"dask on a running cluster of {w} worker(s)")
        with start_cluster(w) as cluster:
            address = cluster.scheduler_address
            for r in range(args.repeat):
                for n in (
                    shard_counts[r % len(shard_counts) :] + shard_counts[: r % len(shard_counts)]
                ):
                    timed(
                        (n, "dask, running cluster", w),
                        ["--engine", "dask", "--scheduler", address],
                    )
            log(f"library calls: score_dask() on the running cluster of {w}, xent.score()")
            for n in shard_counts:
                timed_call((n, "score_dask()", w), address)  # warm-up
            for _ in range(args.repeat):
                for n in shard_counts:
                    timed_call((n, "xent.score()", 0), None)
                    timed_call((n, "score_dask()", w), address)

    check = Check()
    base = reports[(shard_counts[0], "local", 0)]
    for n in shard_counts:
        local = reports[(n, "local", 0)]
        check.same(f"local {n} shards vs local {shard_counts[0]} shards", local, base)
        for key, report in reports.items():
            if key[0] == n and key[1] != "local":
                check.same(f"{key[1]} x{key[2]} on {n} shards", report, local)

    tables = {
        "xent score processes": ("local", ["dask, new cluster", "dask, running cluster"]),
        "library calls in one process": ("xent.score()", ["score_dask()"]),
    }
    rows_out = []
    print(
        f"\n{args.rows:,} rows x {args.classes} classes, {os.cpu_count()} cores, "
        f"median of {args.repeat} run(s)"
    )
    for title, (local_name, engines) in tables.items():
        print(f"\n{title}\n")
        print(
            "| shards | rows/shard | engine | workers | wall (s) | best (s) | speed-up vs local "
            "| scaling vs 1 worker |"
        )
        print("|---:|---:|---|---:|---:|---:|---:|---:|")
        for n in shard_counts:
            local_time = statistics.median(times[(n, local_name, 0)])
            for engine in [local_name, *engines]:
                for w in [0] if engine == local_name else worker_counts:
                    key = (n, engine, w)
                    if key not in times:
                        continue
                    wall = statistics.median(times[key])
                    one = times.get((n, engine, 1))
                    scaling = statistics.median(one) / wall if one and w else None
                    row = {
                        "table": title,
                        "shards": n,
                        "rows_per_shard": args.rows // n,
                        "engine": engine,
                        "workers": w or None,
                        "wall_s": wall,
                        "best_s": min(times[key]),
                        "speedup_vs_local": local_time / wall,
                        "scaling_vs_1_worker": scaling,
                        "runs": len(times[key]),
                    }
                    rows_out.append(row)
                    print(
                        f"| {n} | {args.rows // n:,} | {engine} | {w or '-'} | {wall:.2f} | "
                        f"{min(times[key]):.2f} | "
                        f"{local_time / wall:.2f}x | "
                        f"{'-' if scaling is None else f'{scaling:.2f}x'} |"
                    )
    loss = base["aggregate"]["loss"]
    if check.problems:
        print("\nfigures DISAGREE:")
        for problem in check.problems:
            print(f"  {problem}")
    else:
        print(
            f"\nfigures agree: every run's report equals the local engine's "
            f"(loss {loss:.12g} nats; sums to {RTOL:g} relative, counts and top-K exactly)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": args.rows,
                    "classes": args.classes,
                    "cores": os.cpu_count(),
                    "repeat": args.repeat,
                    "results": rows_out,
                    "times": {f"{k[0]}|{k[1]}|{k[2]}": v for k, v in times.items()},
                    "problems": check.problems,
                },
                indent=2,
            )
        )
    return 1 if check.problems else 0


if __name__ == "__main__":
    sys.exit(main())
