"""Benchmark ``xent score`` against a naive pandas + scikit-learn script and a parse floor.

Run it with the project's virtual environment, from anywhere::

    python benchmarks/bench.py                 # 1e6 x 10, 3 alternating repeats
    python benchmarks/bench.py --quick         # 1e5 rows, 1 repeat: a smoke run
    python benchmarks/bench.py --scale         # also a 5x larger CSV (memory flatness)
    python benchmarks/bench.py --xent "python -m xent" --json results.json

Data is generated once, deterministically, into ``benchmarks/data/`` (gitignored).
Every command runs as its own process under ``/usr/bin/time -f '%e %M'``; the
cases take turns within each round so that a slow spell of the (shared, noisy)
machine hits all of them alike, and every figure is a median over rounds.
See ``benchmarks/README.md`` for how to read the output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = HERE / "data"
NAIVE_SCRIPT = HERE / "naive.py"
FLOOR_SCRIPT = HERE / "floor.py"
VENV_XENT = Path("/work/venv/bin/xent")
TIME_BIN = "/usr/bin/time"
#: The start-up baseline: what any Typer + Rich CLI pays before doing anything.
BASELINE = "import typer,rich"

# --- data generation ---------------------------------------------------------

#: Bump when the generated data changes, so stale files are rebuilt.
GENERATOR_VERSION = 2
#: Rows per generated chunk; also the Parquet row-group size.
CHUNK_ROWS = 131_072
SIGNIFICANT_DIGITS = 6
LOGIT_SD = 2.0
#: Added to the true class's logit so the "classifier" is better than chance.
TRUE_CLASS_BOOST = 4.0
MAX_ROW_SUM_ERROR = 1e-5
#: eps of scikit-learn's clipping, used for the reference loss.
EPS = float(np.finfo(np.float64).eps)
_POW10 = np.array([float(10**i) for i in range(23)])  # exact powers of ten

# --- targets -----------------------------------------------------------------

SPEEDUP_MIN = 3.5
FLOOR_RATIO_MAX = 1.2
RSS_MAX_MIB = 200.0
STARTUP_RATIO_MAX = 1.5
SCALE_RSS_RATIO_MAX = 1.25
LOSS_RTOL = 1e-9


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def round_significant(x: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Round to ``digits`` significant decimal digits, to the nearest double.

    The result divides (or multiplies) an exact integer by an exact power of ten,
    so its shortest round-trip repr, which is what pyarrow writes, has at most
    ``digits`` significant digits and parses back to the very same double.
    """
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log10(np.abs(x)))
    exponent[~np.isfinite(exponent)] = 0.0
    places = np.clip(digits - 1 - exponent, -22, 22).astype(np.intp)
    scale = _POW10[np.abs(places)]
    return np.where(places >= 0, np.round(x * scale) / scale, np.round(x / scale) * scale)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class DataFiles:
    """The files generated for one (rows, classes) size."""

    directory: Path
    rows: int
    classes: int

    def _path(self, prefix: str, suffix: str) -> Path:
        return self.directory / f"{prefix}_{self.rows}x{self.classes}{suffix}"

    @property
    def csv(self) -> Path:
        return self._path("preds", ".csv")

    @property
    def parquet(self) -> Path:
        return self._path("preds", ".parquet")

    @property
    def npy(self) -> Path:
        return self._path("preds", ".npy")

    @property
    def labels(self) -> Path:
        return self._path("labels", ".npy")

    @property
    def logits(self) -> Path:
        return self._path("logits", ".csv")

    @property
    def meta(self) -> Path:
        return self._path("preds", ".meta.json")

    def outputs(self, full: bool) -> list[Path]:
        extra = [self.parquet, self.npy, self.labels, self.logits] if full else []
        return [self.csv, *extra]

    @property
    def column_names(self) -> list[str]:
        return ["id", "label", *(f"p_{j}" for j in range(self.classes))]

    @property
    def schema(self) -> pa.Schema:
        fields = [pa.field("id", pa.int64()), pa.field("label", pa.int64())]
        fields += [pa.field(f"p_{j}", pa.float64()) for j in range(self.classes)]
        return pa.schema(fields)


def _chunk(seed: int, index: int, rows: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and (unrounded) logits of one chunk; depends only on seed and index."""
    labels = np.random.default_rng([seed, index, 0]).integers(0, classes, rows, dtype=np.int64)
    logits = np.random.default_rng([seed, index, 1]).normal(0.0, LOGIT_SD, (rows, classes))
    logits[np.arange(rows), labels] += TRUE_CLASS_BOOST
    return labels, logits


def _table(files: DataFiles, ids: np.ndarray, labels: np.ndarray, values: np.ndarray) -> pa.Table:
    columns = np.ascontiguousarray(values.T)
    arrays = [pa.array(ids), pa.array(labels), *(pa.array(column) for column in columns)]
    return pa.Table.from_arrays(arrays, schema=files.schema)


def _open_csv(files: DataFiles, path: Path, stack: ExitStack) -> pacsv.CSVWriter:
    sink = stack.enter_context(pa.OSFile(str(path), "wb"))
    sink.write((",".join(files.column_names) + "\n").encode())
    options = pacsv.WriteOptions(include_header=False)
    return stack.enter_context(pacsv.CSVWriter(sink, files.schema, write_options=options))


def _write(files: DataFiles, seed: int, full: bool, tmp: dict[Path, Path]) -> None:
    rows, classes = files.rows, files.classes
    with ExitStack() as stack:
        preds_csv = _open_csv(files, tmp[files.csv], stack)
        if full:
            logits_csv = _open_csv(files, tmp[files.logits], stack)
            parquet = stack.enter_context(pq.ParquetWriter(str(tmp[files.parquet]), files.schema))
            npy = np.lib.format.open_memmap(tmp[files.npy], "w+", np.float64, (rows, classes))
            npy_labels = np.lib.format.open_memmap(tmp[files.labels], "w+", np.int64, (rows,))
        for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
            stop = min(start + CHUNK_ROWS, rows)
            labels, logits = _chunk(seed, index, stop - start, classes)
            probs = round_significant(softmax(logits))
            ids = np.arange(start, stop, dtype=np.int64)
            table = _table(files, ids, labels, probs)
            preds_csv.write_table(table)
            if full:
                parquet.write_table(table, row_group_size=CHUNK_ROWS)
                npy[start:stop] = probs
                npy_labels[start:stop] = labels
                logits_csv.write_table(_table(files, ids, labels, round_significant(logits)))
        if full:
            npy.flush()
            npy_labels.flush()
            del npy, npy_labels


def _read_batches(files: DataFiles, path: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(labels, values) per batch of a generated CSV, parsed back by pyarrow."""
    types = {f.name: f.type for f in files.schema}
    reader = pacsv.open_csv(str(path), convert_options=pacsv.ConvertOptions(column_types=types))
    for batch in reader:
        labels = batch.column(1).to_numpy()
        values = np.column_stack([batch.column(j).to_numpy() for j in range(2, batch.num_columns)])
        yield labels, values


def _verify(files: DataFiles, tmp: dict[Path, Path], full: bool) -> dict[str, Any]:
    """Parse the written CSV(s) back: row sums, equality with the NPY, reference losses."""
    max_dev, loss_sum, count, same = 0.0, 0.0, 0, True
    if full:
        npy = np.load(tmp[files.npy], mmap_mode="r")
        npy_labels = np.load(tmp[files.labels], mmap_mode="r")
    for labels, probs in _read_batches(files, tmp[files.csv]):
        n = len(labels)
        max_dev = max(max_dev, float(np.abs(probs.sum(axis=1) - 1.0).max()))
        true_p = np.clip(probs[np.arange(n), labels], EPS, 1.0 - EPS)
        loss_sum += float(-np.log(true_p).sum())
        if full:
            same = same and np.array_equal(probs, npy[count : count + n])
            same = same and np.array_equal(labels, npy_labels[count : count + n])
        count += n
    if count != files.rows:
        raise RuntimeError(f"{files.csv.name}: parsed {count} rows, expected {files.rows}")
    if max_dev > MAX_ROW_SUM_ERROR:
        raise RuntimeError(f"{files.csv.name}: max |row sum - 1| = {max_dev:.3g}")
    if not same:
        raise RuntimeError(f"{files.csv.name}: CSV and NPY values differ")
    result: dict[str, Any] = {"max_row_sum_error": max_dev, "reference_loss": loss_sum / count}
    if full:
        logit_loss = 0.0
        for labels, logits in _read_batches(files, tmp[files.logits]):
            top = logits.max(axis=1)
            lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
            logit_loss += float((lse - logits[np.arange(len(labels)), labels]).sum())
        result["reference_logits_loss"] = logit_loss / count
        result["csv_equals_npy"] = True
    return result


def ensure_data(files: DataFiles, seed: int, *, full: bool, force: bool) -> dict[str, Any]:
    """Generate the files for one size unless they exist with the same parameters."""
    wanted = {
        "generator": GENERATOR_VERSION,
        "seed": seed,
        "rows": files.rows,
        "classes": files.classes,
        "full": full,
    }
    if not force and files.meta.exists() and all(p.exists() for p in files.outputs(full)):
        meta: dict[str, Any] = json.loads(files.meta.read_text())
        same = all(meta.get(k) == v for k, v in wanted.items() if k != "full")
        if same and (meta.get("full") or not full):  # a full set also serves a CSV-only request
            meta["generated_now"] = False
            return meta
    files.directory.mkdir(parents=True, exist_ok=True)
    files.meta.unlink(missing_ok=True)
    tmp = {p: p.with_name(p.name + ".partial") for p in files.outputs(full)}
    log(f"generating {files.rows} x {files.classes} into {files.directory} ...")
    try:
        started = time.perf_counter()
        _write(files, seed, full, tmp)
        written = time.perf_counter()
        checks = _verify(files, tmp, full)
        verified = time.perf_counter()
    except BaseException:
        for path in tmp.values():
            path.unlink(missing_ok=True)
        raise
    for final, partial in tmp.items():
        os.replace(partial, final)
    meta = {
        **wanted,
        **checks,
        "write_seconds": written - started,
        "verify_seconds": verified - written,
        "sizes_bytes": {p.name: p.stat().st_size for p in files.outputs(full)},
    }
    files.meta.write_text(json.dumps(meta, indent=2) + "\n")
    meta["generated_now"] = True
    return meta


def describe_data(files: DataFiles, meta: dict[str, Any]) -> str:
    sizes = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in meta["sizes_bytes"].items())
    when = (
        f"generated in {meta['write_seconds']:.1f} s (+{meta['verify_seconds']:.1f} s read-back)"
        if meta["generated_now"]
        else "already present"
    )
    return (
        f"{files.rows} x {files.classes}: {when}; max |row sum - 1| = "
        f"{meta['max_row_sum_error']:.2e}; {sizes}"
    )


# --- running commands ------------------------------------------------------


@dataclass
class Sample:
    wall: float  # seconds, time.perf_counter around the process
    rss_kib: int  # peak resident set size of the command
    time_wall: float | None  # /usr/bin/time's %e, 10 ms resolution


@dataclass
class Outcome:
    sample: Sample | None
    stdout: str
    error: str | None


class Runner:
    """Runs one command as its own process and measures wall time and peak RSS.

    Peak RSS comes from ``/usr/bin/time -f '%e %M'`` when it exists, else from
    ``os.wait4`` on the child (its own rusage, ru_maxrss in KiB on Linux):
    getrusage(RUSAGE_CHILDREN) only gives the maximum over all children so far,
    which has no meaningful per-run delta. Wall time is always measured by this
    process with perf_counter (GNU time's %e only has 10 ms resolution, too
    coarse for start-up); %e is kept in the JSON output.
    """

    def __init__(self, workdir: Path, timeout: float) -> None:
        self.time_bin = TIME_BIN if os.access(TIME_BIN, os.X_OK) else None
        self.time_out = workdir / "time.out"
        self.timeout = timeout

    @property
    def method(self) -> str:
        if self.time_bin:
            return f"{self.time_bin} -f '%e %M' (peak RSS); wall by perf_counter"
        return "os.wait4 rusage ru_maxrss (peak RSS); wall by perf_counter"

    def run(self, argv: Sequence[str], *, capture: bool) -> Outcome:
        command = list(argv)
        if self.time_bin:
            command = [self.time_bin, "-f", "%e %M", "-o", str(self.time_out), *command]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.perf_counter()
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out if capture else subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,  # so a timeout can kill the whole group
                )
            except OSError as exc:
                return Outcome(None, "", f"cannot start {argv[0]}: {exc}")
            timer = threading.Timer(self.timeout, _kill_group, (proc.pid,))
            timer.start()
            try:
                if self.time_bin:
                    returncode = proc.wait()
                    rusage = None
                else:
                    _, status, rusage = os.wait4(proc.pid, 0)
                    returncode = proc.returncode = os.waitstatus_to_exitcode(status)
                wall = time.perf_counter() - started
            finally:
                timer.cancel()
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
        if returncode != 0:
            why = "timed out" if returncode == -signal.SIGKILL else f"exit status {returncode}"
            tail = "\n".join(stderr.strip().splitlines()[-6:])
            return Outcome(None, stdout, f"{why}: {tail}" if tail else why)
        if rusage is not None:
            return Outcome(Sample(wall, rusage.ru_maxrss, None), stdout, None)
        fields = self.time_out.read_text().split()
        return Outcome(Sample(wall, int(fields[-1]), float(fields[-2])), stdout, None)


def _kill_group(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def parse_xent_loss(stdout: str) -> float:
    return float(json.loads(stdout)["aggregate"]["loss"])


def parse_float(stdout: str) -> float:
    return float(stdout.split()[-1])


@dataclass
class Case:
    """One command to time, and what it is compared with.

    ``parse`` turns its stdout into a number (a loss, a row count); ``floor`` is
    the key of the parse floor it is compared with; ``vs_naive`` marks the cases
    that read the same CSV as the naive script, whose speed-up is a target.
    """

    key: str
    description: str
    argv: list[str]
    parse: Callable[[str], float] | None = None
    floor: str | None = None
    vs_naive: bool = False
    rounds: dict[int, Sample] = field(default_factory=dict)
    value: float | None = None
    error: str | None = None

    def run(self, runner: Runner, round_index: int) -> None:
        outcome = runner.run(self.argv, capture=self.parse is not None)
        if outcome.error is not None:
            self.error = outcome.error
            log(f"  {self.key:<18} FAILED: {outcome.error.splitlines()[0]}")
            return
        assert outcome.sample is not None
        self.rounds[round_index] = outcome.sample
        if self.parse is not None:
            try:
                self.value = self.parse(outcome.stdout)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                self.error = f"cannot parse output ({exc!r}): {outcome.stdout[:200]!r}"
        s = outcome.sample
        log(f"  {self.key:<18} {s.wall:8.3f} s {s.rss_kib / 1024:9.1f} MiB")

    @property
    def wall(self) -> float | None:
        return statistics.median(s.wall for s in self.rounds.values()) if self.rounds else None

    @property
    def rss_mib(self) -> float | None:
        if not self.rounds:
            return None
        return statistics.median(s.rss_kib for s in self.rounds.values()) / 1024

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "argv": self.argv,
            "median_wall_s": self.wall,
            "median_rss_mib": self.rss_mib,
            "value": self.value,
            "error": self.error,
            "samples": [
                {"round": r, "wall_s": s.wall, "rss_kib": s.rss_kib, "time_e_s": s.time_wall}
                for r, s in sorted(self.rounds.items())
            ],
        }


NOT_RUN = Case("not run", "not run", [])


def paired_ratio(a: Case, b: Case, metric: str = "wall") -> float | None:
    """Median over rounds of a/b, using only rounds where both ran (alternated pairs)."""
    common = sorted(a.rounds.keys() & b.rounds.keys())
    if not common:
        return None
    if metric == "wall":
        return statistics.median(a.rounds[r].wall / b.rounds[r].wall for r in common)
    return statistics.median(a.rounds[r].rss_kib / b.rounds[r].rss_kib for r in common)


def run_rounds(cases: list[Case], runner: Runner, repeat: int, title: str) -> None:
    """Run every case once per round, rotating the order each round; skip failed cases."""
    for r in range(repeat):
        log(f"{title}: round {r + 1}/{repeat}")
        shift = r % len(cases)
        for case in cases[shift:] + cases[:shift]:
            if case.error is None:
                case.run(runner, r)


def find_xent(spec: str | None) -> list[str] | None:
    """The xent command: --xent, else xent on PATH, else the project venv's."""
    if spec:
        command = shlex.split(spec)
        return command if command and shutil.which(command[0]) else None
    found = shutil.which("xent")
    if found:
        return [found]
    if os.access(VENV_XENT, os.X_OK):
        return [str(VENV_XENT)]
    return None


def warm_page_cache(paths: Sequence[Path]) -> None:
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 23):
                pass


# --- reporting ---------------------------------------------------------------


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def print_table(rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> None:
    """Fixed-width table: the first two and the last column left-aligned, numbers right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    last = len(headers) - 1

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 or i == last else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(headers))
    print("-" * len(line(headers)))
    for row in rows:
        print(line(row))


@dataclass
class Check:
    target: str
    subject: str
    value: float | None
    passed: bool | None  # None: not measured
    note: str = ""
    unit: str = "x"  # "x" (a ratio), "MiB" or "rel" (relative difference)

    @property
    def status(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def _note(used: Sequence[Case]) -> str:
    if any(case is NOT_RUN for case in used):
        return "not run"
    failed = [case.key for case in used if case.error]
    return f"{', '.join(failed)} failed" if failed else ""


def check(
    target: str,
    subject: str,
    value: float | None,
    ok: Callable[[float], bool],
    *used: Case,
    unit: str = "x",
) -> Check:
    passed = None if value is None else ok(value)
    return Check(target, subject, value, passed, _note(used), unit)


def loss_check(subject: str, got: Case, ref_value: float | None, ref_name: str) -> Check:
    """Relative difference of a parsed loss from a reference loss, against LOSS_RTOL."""
    if got.value is None or ref_value is None:
        return Check("loss agreement", subject, None, None, _note([got]) or "no loss", "rel")
    rel = abs(got.value - ref_value) / abs(ref_value)
    note = f"{got.value:.17g} vs {ref_name} {ref_value:.17g}"
    return Check("loss agreement", subject, rel, rel <= LOSS_RTOL, note, "rel")


def evaluate(
    cases: dict[str, Case], meta: dict[str, Any], big_meta: dict[str, Any] | None
) -> list[Check]:
    def get(key: str) -> Case:
        return cases.get(key, NOT_RUN)

    naive, baseline = cases["naive"], cases[BASELINE]
    checks = []
    for key in ("xent-json", "xent-csv", "xent-table"):
        x = get(key)
        ratio = paired_ratio(naive, x)
        checks.append(
            check(f"naive/xent >= {SPEEDUP_MIN}x", key, ratio, _at_least(SPEEDUP_MIN), naive, x)
        )
    for key, floor in (
        ("xent-json", "floor"),
        ("xent-csv", "floor"),
        ("xent-table", "floor"),
        ("xent-logits", "floor-logits"),
    ):
        x = get(key)
        ratio = paired_ratio(x, cases[floor])
        checks.append(
            check(
                f"xent/floor <= {FLOOR_RATIO_MAX}x",
                key,
                ratio,
                _at_most(FLOOR_RATIO_MAX),
                x,
                cases[floor],
            )
        )
    for key in ("xent-json", "xent-csv", "xent-table", "xent-parquet", "xent-npy", "xent-logits"):
        x = get(key)
        checks.append(
            check(
                f"peak RSS <= {RSS_MAX_MIB:.0f} MiB",
                key,
                x.rss_mib,
                _at_most(RSS_MAX_MIB),
                x,
                unit="MiB",
            )
        )
    for key in ("xent --help", "xent --version"):
        x = get(key)
        ratio = paired_ratio(x, baseline)
        checks.append(
            check(
                f"start-up <= {STARTUP_RATIO_MAX}x import",
                key,
                ratio,
                _at_most(STARTUP_RATIO_MAX),
                x,
                baseline,
            )
        )
    if big_meta is not None:
        for name in ("table", "json", "csv"):
            x, big = get(f"xent-{name}"), get(f"xent-{name}-scale")
            ratio = paired_ratio(big, x, "rss")
            checks.append(
                check(
                    f"RSS(scale)/RSS <= {SCALE_RSS_RATIO_MAX}",
                    name,
                    ratio,
                    _at_most(SCALE_RSS_RATIO_MAX),
                    big,
                    x,
                )
            )
    reference = "numpy reference"
    for key in ("xent-json", "xent-parquet", "xent-npy"):
        checks.append(loss_check(key, get(key), naive.value, "naive"))
    checks.append(
        loss_check("xent-logits", get("xent-logits"), meta.get("reference_logits_loss"), reference)
    )
    checks.append(loss_check("naive (sanity)", naive, meta["reference_loss"], reference))
    if big_meta is not None:
        checks.append(
            loss_check(
                "xent-json-scale", get("xent-json-scale"), big_meta["reference_loss"], reference
            )
        )
    return checks


def _at_least(limit: float) -> Callable[[float], bool]:
    return lambda value: value >= limit


def _at_most(limit: float) -> Callable[[float], bool]:
    return lambda value: value <= limit


def report(
    args: argparse.Namespace,
    datasets: list[tuple[DataFiles, dict[str, Any]]],
    cases: dict[str, Case],
    checks: list[Check],
    environment: dict[str, Any],
) -> None:
    env = environment
    files = datasets[0][0]
    print(
        f"\nxent benchmark: {files.rows} rows x {files.classes} classes, "
        f"{args.repeat} round(s); start-up {args.startup_repeat} round(s)"
    )
    print(
        f"measured with {env['measurement']}; {env['cpu_count']} CPUs; "
        f"load average {env['loadavg_before'][0]:.2f} -> {env['loadavg_after'][0]:.2f}"
    )
    print(
        f"xent: {shlex.join(env['xent_command'] or ['-'])} "
        f"({env['xent_version'] or 'version unknown'})"
    )
    if env["xent_note"]:
        print(f"NOTE: {env['xent_note']}")
    for data_files, meta in datasets:
        print("data: " + describe_data(data_files, meta))

    naive = cases["naive"]
    startup_keys = (BASELINE, "xent --help", "xent --version")
    rows = []
    for case in cases.values():
        if case.key in startup_keys:
            continue
        speedup = paired_ratio(naive, case) if case.vs_naive else None
        vs_floor = paired_ratio(case, cases[case.floor]) if case.floor else None
        rows.append(
            (
                case.key,
                case.description,
                str(len(case.rounds)),
                fmt(case.wall, ".3f"),
                fmt(case.rss_mib, ".1f"),
                fmt(speedup, ".2f", "x"),
                fmt(vs_floor, ".2f", "x"),
                "FAILED" if case.error else "",
            )
        )
    print()
    print_table(rows, ("case", "what", "runs", "wall s", "RSS MiB", "naive/xent", "xent/floor", ""))

    rows = []
    for key in startup_keys:
        case = cases.get(key)
        if case is None:
            continue
        ratio = None if key == BASELINE else paired_ratio(case, cases[BASELINE])
        rows.append(
            (
                key,
                case.description,
                str(len(case.rounds)),
                fmt(case.wall, ".3f"),
                fmt(case.rss_mib, ".1f"),
                fmt(ratio, ".2f", "x"),
                "FAILED" if case.error else "",
            )
        )
    print()
    print_table(rows, ("start-up", "what", "runs", "wall s", "RSS MiB", "vs import", ""))

    failed = [case for case in cases.values() if case.error]
    if failed:
        print("\nfailures:")
        for case in failed:
            print(f"  {case.key}: {shlex.join(case.argv)}")
            for line in (case.error or "").splitlines():
                print(f"      {line}")

    print("\ntargets (ratios are medians of per-round ratios):")
    for c in checks:
        spec = {"x": ".3f", "MiB": ".1f", "rel": ".1e"}[c.unit]
        shown = fmt(c.value, spec, "x" if c.unit == "x" else f" {c.unit}")
        note = f"  ({c.note})" if c.note else ""
        print(f"  [{c.status:<4}] {c.target:<26} {c.subject:<16} {shown:>12}{note}")
    tally = {status: sum(c.status == status for c in checks) for status in ("PASS", "FAIL", "n/a")}
    print(f"\n{tally['PASS']} passed, {tally['FAIL']} failed, {tally['n/a']} not measured")


# --- main ----------------------------------------------------------------------


def count(text: str) -> int:
    """argparse type: a positive integer, also written like 1e6."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text}")
    return int(value)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark `xent score` against pandas + scikit-learn and a pyarrow floor."
    )
    add = parser.add_argument
    add("--rows", type=count, help="rows of the main data set (default 1e6; --quick: 1e5)")
    add("--classes", type=count, default=10, help="number of classes (default 10)")
    add("--repeat", type=count, help="alternating rounds of the data cases (default 3)")
    add("--startup-repeat", type=count, help="rounds of the start-up cases (default 10)")
    add("--quick", action="store_true", help="smoke run: 1e5 rows, 1 round, 3 start-up rounds")
    add("--scale", action="store_true", help="also time a larger CSV (memory flatness)")
    add("--scale-rows", type=count, help="rows of the --scale CSV (default 5 x --rows)")
    add("--xent", metavar="CMD", help=f"xent command (default: xent on PATH, else {VENV_XENT})")
    add("--python", default=sys.executable, help="interpreter for naive, floor and baseline")
    add("--json", type=Path, metavar="OUT", help="also write the results as JSON to OUT")
    add("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where data files live")
    add("--seed", type=int, default=20240607, help="seed of the generated data")
    add("--regenerate", action="store_true", help="rebuild the data files even if present")
    add("--generate-only", action="store_true", help="generate the data files and stop")
    add("--timeout", type=float, default=1800.0, help="kill a run after this many seconds")
    args = parser.parse_args(argv)
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.startup_repeat = args.startup_repeat or (3 if args.quick else 10)
    args.scale_rows = args.scale_rows or 5 * args.rows
    if args.scale and args.scale_rows == args.rows:
        parser.error("--scale-rows must differ from --rows")
    return args


def build_cases(
    args: argparse.Namespace, files: DataFiles, big: DataFiles, xent: list[str] | None
) -> tuple[list[Case], list[Case]]:
    """The data cases (run in alternating rounds) and the start-up cases."""
    py = args.python

    def floor(key: str, path: Path, description: str) -> Case:
        return Case(key, description, [py, str(FLOOR_SCRIPT), str(path)], parse_float)

    data = [
        Case(
            "naive",
            "pandas.read_csv + sklearn log_loss",
            [py, str(NAIVE_SCRIPT), str(files.csv)],
            parse_float,
        ),
        floor("floor", files.csv, "pyarrow open_csv, typed, no math"),
        floor("floor-logits", files.logits, "floor on the logits CSV"),
    ]
    if args.scale:
        data.append(floor("floor-scale", big.csv, f"floor, {big.rows} rows"))
    startup = [Case(BASELINE, "python -c 'import typer, rich'", [py, "-c", "import typer, rich"])]
    if xent is None:
        return data, startup

    score, csv, as_json = [*xent, "score"], str(files.csv), ["--format", "json"]
    data += [
        Case(
            "xent-json",
            "CSV --format json",
            [*score, csv, *as_json],
            parse_xent_loss,
            floor="floor",
            vs_naive=True,
        ),
        Case(
            "xent-csv",
            "CSV --format csv > /dev/null",
            [*score, csv, "--format", "csv"],
            floor="floor",
            vs_naive=True,
        ),
        Case(
            "xent-table",
            "CSV, default table > /dev/null",
            [*score, csv],
            floor="floor",
            vs_naive=True,
        ),
        Case(
            "xent-parquet",
            "Parquet --format json",
            [*score, str(files.parquet), *as_json],
            parse_xent_loss,
        ),
        Case(
            "xent-npy",
            "NPY + --labels NPY, json",
            [*score, str(files.npy), "--labels", str(files.labels), *as_json],
            parse_xent_loss,
        ),
        Case(
            "xent-logits",
            "logits CSV --inputs logits, json",
            [*score, str(files.logits), "--inputs", "logits", *as_json],
            parse_xent_loss,
            floor="floor-logits",
        ),
    ]
    if args.scale:
        big_csv = str(big.csv)
        data += [
            Case(
                "xent-json-scale",
                f"{big.rows} rows, json",
                [*score, big_csv, *as_json],
                parse_xent_loss,
                floor="floor-scale",
            ),
            Case(
                "xent-csv-scale",
                f"{big.rows} rows, csv > /dev/null",
                [*score, big_csv, "--format", "csv"],
                floor="floor-scale",
            ),
            Case(
                "xent-table-scale",
                f"{big.rows} rows, table > /dev/null",
                [*score, big_csv],
                floor="floor-scale",
            ),
        ]
    startup += [
        Case("xent --help", "xent --help", [*xent, "--help"]),
        Case("xent --version", "xent --version", [*xent, "--version"]),
    ]
    return data, startup


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    files = DataFiles(args.data_dir, args.rows, args.classes)
    big = DataFiles(args.data_dir, args.scale_rows, args.classes)
    datasets = [(files, ensure_data(files, args.seed, full=True, force=args.regenerate))]
    if args.scale:
        datasets.append((big, ensure_data(big, args.seed, full=False, force=args.regenerate)))
    for data_files, meta in datasets:
        log(describe_data(data_files, meta))
    if args.generate_only:
        return 0

    xent = find_xent(args.xent)
    xent_note = None
    if xent is None:
        xent_note = (
            f"xent command not found: {args.xent}"
            if args.xent
            else f"xent not found (not on PATH, no {VENV_XENT}); use --xent CMD"
        )
        log(f"WARNING: {xent_note}; running the other cases")
    data, startup = build_cases(args, files, big, xent)
    cases = {case.key: case for case in data + startup}

    with tempfile.TemporaryDirectory(prefix="xent-bench-") as workdir:
        runner = Runner(Path(workdir), args.timeout)
        log(f"measuring with {runner.method}")
        # Warm-up, not timed: data files into the page cache, .pyc files compiled.
        warm_page_cache([p for d, meta in datasets for p in d.outputs(meta["full"])])
        runner.run(
            [args.python, "-c", "import pandas, sklearn.metrics, pyarrow.csv, typer, rich"],
            capture=False,
        )
        xent_version = None
        if xent is not None:
            probe = runner.run([*xent, "--version"], capture=True)
            if probe.error is None:
                xent_version = probe.stdout.strip()
            else:
                xent_note = f"`{shlex.join(xent)} --version` failed: {probe.error}"
                log(f"WARNING: {xent_note}")
        load_before = os.getloadavg()
        run_rounds(data, runner, args.repeat, "data")
        run_rounds(startup, runner, args.startup_repeat, "start-up")
        load_after = os.getloadavg()

    checks = evaluate(cases, datasets[0][1], datasets[1][1] if args.scale else None)
    environment = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "measurement": runner.method,
        "xent_command": xent,
        "xent_version": xent_version,
        "xent_note": xent_note,
    }
    report(args, datasets, cases, checks, environment)
    if args.json:
        results = {
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "environment": environment,
            "data": {d.csv.name: meta for d, meta in datasets},
            "cases": {key: case.to_json() for key, case in cases.items()},
            "checks": [{**vars(c), "status": c.status} for c in checks],
        }
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
