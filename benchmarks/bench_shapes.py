"""Benchmark xent on every input shape against a naive script and a read floor.

Run it with the project's virtual environment, from anywhere::

    python benchmarks/bench_shapes.py --quick            # smoke scale, 1 round (~3 min)
    python benchmarks/bench_shapes.py                    # full scale, 3 rounds
    python benchmarks/bench_shapes.py --cases 1,2,11 --rounds 5
    python benchmarks/bench_shapes.py --profile 3,4a     # also py-spy those xent runs

Each case runs three kinds of command, each as its own process under
``/usr/bin/time -f '%e %M'``: the *naive* script a user would write (pandas +
scikit-learn, or NumPy), *xent*, and the *floor* (the bare read of the same input
with pyarrow or NumPy). Within a round the commands of a case run back to back,
in an order that rotates from round to round, so a slow spell of the shared machine
hits all of them; ratios are medians of per-round ratios. Every target is checked
(PASS/FAIL), xent's loss is checked against the naive script's and the generator's
(relative 1e-9), and the results are printed as a Markdown table and written as
JSON. See ``benchmarks/README.md``.

By default xent runs from a snapshot of ``src/`` copied when the run starts, so an
edit of the source during a long run cannot mix two versions (``--no-snapshot``
runs the installed ``xent`` instead).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import io
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import Runner, Sample, count, find_xent
from shapes import generate as gen

HERE = Path(__file__).resolve().parent
SHAPES = HERE / "shapes"
REPO = HERE.parent
DEFAULT_DATA_DIR = HERE / "data"
LOSS_RTOL = 1e-9
MB = 1e6  # peak RSS is reported in decimal megabytes; 1 GB = 1000 MB


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- output parsers ----------------------------------------------------------------


def parse_json(stdout: str) -> dict[str, Any]:
    value = json.loads(stdout)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def parse_score(stdout: str) -> dict[str, Any]:
    report = parse_json(stdout)
    return {"loss": float(report["aggregate"]["loss"]), "rows": report.get("n_samples")}


def parse_compare(stdout: str) -> dict[str, Any]:
    report = parse_json(stdout)
    diff = report["difference"]
    return {
        "base": float(report["base"]["loss"]),
        "candidate": float(report["candidate"]["loss"]),
        "diff": float(diff["mean"]),
        "ci": [diff.get("ci_low"), diff.get("ci_high")],
    }


def parse_explain(stdout: str) -> dict[str, Any]:
    return {"loss": float(parse_json(stdout)["loss"])}


# --- cases -------------------------------------------------------------------------


@dataclass
class Member:
    """One command of a case: naive, naive2 (a second, careful naive), xent, ref or floor."""

    role: str
    what: str
    argv: list[str]
    parse: Callable[[str], dict[str, Any]] | None = parse_json
    planned: bool = False  # xent support is planned: a failure means "not supported"
    needs_bytes: float = 0.0  # skip a run when less memory than this is available
    rounds: dict[int, Sample] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    status: str = "ok"  # ok, failed, not supported
    error: str | None = None
    skipped: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        return self.status == "ok"

    @property
    def measured(self) -> bool:
        return self.status in ("ok", "ran once")

    @property
    def wall(self) -> float | None:
        return statistics.median(s.wall for s in self.rounds.values()) if self.rounds else None

    @property
    def peak_mb(self) -> float | None:
        """The largest peak RSS over rounds (KiB from GNU time), in MB."""
        return max(s.rss_kib for s in self.rounds.values()) * 1024 / MB if self.rounds else None


@dataclass
class Target:
    """A target: ``speedup`` (other/xent >= limit), ``floor`` (xent/floor <= limit),
    ``time`` (xent/other <= limit), ``rss`` (xent peak <= limit MB) or ``rss_rel``
    (xent peak / case ``other``'s xent peak <= limit). ``info`` targets are reported
    but not counted."""

    kind: str
    limit: float
    other: str = ""
    info: bool = False
    name: str = ""  # how ``other`` is called in the report

    @property
    def text(self) -> str:
        other = self.name or {"naive": "naive", "naive2": "careful naive"}.get(
            self.other, self.other
        )
        text = {
            "speedup": f"≥{self.limit:g}x {other}",
            "floor": f"≤{self.limit:g}x floor",
            "time": f"≤{self.limit:g}x {other}",
            "rss": f"≤{self.limit:g} MB" if self.limit < 1000 else f"≤{self.limit / 1000:g} GB",
            "rss_rel": f"peak ≤{self.limit:g}x case {self.other}",
        }[self.kind]
        return f"({text}, info)" if self.info else text


@dataclass
class TargetResult:
    target: Target
    value: float | None
    status: str  # PASS, FAIL, n/a, not supported, info
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target.text,
            "kind": self.target.kind,
            "limit": self.target.limit,
            "value": self.value,
            "status": self.status,
            "note": self.note,
        }


@dataclass
class LossCheck:
    """``a`` against ``b``: each a (member role, result key) or a fixed reference value."""

    what: str
    a: tuple[str, str]
    b: tuple[str, str] | float | None


@dataclass
class Case:
    number: str
    title: str
    members: list[Member]
    files: list[Path]
    targets: list[Target]
    losses: list[LossCheck] = field(default_factory=list)
    #: After the rounds: reads output files into results; returns extra check lines.
    post: Callable[[Case], list[dict[str, Any]]] | None = None
    results: list[TargetResult] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def member(self, role: str) -> Member | None:
        return next((m for m in self.members if m.role == role), None)


def paired(a: Member | None, b: Member | None) -> float | None:
    """Median over rounds of a/b, from the rounds in which both ran."""
    if a is None or b is None:
        return None
    common = sorted(a.rounds.keys() & b.rounds.keys())
    if not common:
        return None
    return statistics.median(a.rounds[r].wall / b.rounds[r].wall for r in common)


# --- building the cases ----------------------------------------------------------------


@dataclass
class Context:
    sizes: gen.Sizes
    data: Path
    out: Path
    metas: dict[str, dict[str, Any]]
    python: str
    xent: list[str]

    def path(self, dataset: gen.Dataset, role: str) -> Path:
        return dataset.path(self.data, role)

    def ref(self, dataset: gen.Dataset, key: str) -> float | None:
        meta = self.metas.get(dataset.name)
        value = meta["references"].get(key) if meta else None
        return float(value) if value is not None else None

    def script(self, name: str, *args: object) -> list[str]:
        return [self.python, str(SHAPES / name), *map(str, args)]


def datasets_for(sizes: gen.Sizes) -> dict[str, gen.Dataset]:
    s = sizes
    big = s.rows * s.scale
    return {
        "mc": gen.mc(s.rows, s.classes),
        "mc_b": gen.mc_b(s.rows, s.classes),
        "parquet": gen.mc_parquet(s.rows, s.classes),
        "join": gen.join(s.rows, s.classes),
        "lang": gen.lang(s.rows, s.classes, s.langs),
        "binary": gen.binary(s.binary_rows),
        "wide": gen.mc(s.wide_rows, s.wide_classes),
        "lm": gen.lm(s.npy_rows, s.vocab),
        "nd": gen.nd(s.nd_batch, s.nd_seq, s.vocab),
        "tokens": gen.tokens(s.token_rows, s.doc_tokens),
        "groups": gen.groups(s.group_rows, s.groups),
        "mc_5x": gen.mc(big, s.classes),
        "parquet_5x": gen.mc_parquet(big, s.classes),
        "join_5x": gen.join(big, s.classes),
        "binary_5x": gen.binary(s.binary_rows * s.scale),
    }


#: Which data sets each case needs (cases are selected by number prefix).
CASE_DATA = {
    "1": ["mc"],
    "2": ["binary"],
    "3": ["wide"],
    "4a": ["lm"],
    "4b": ["lm"],
    "5": ["nd"],
    "6": ["parquet"],
    "7": ["join"],
    "8": ["mc"],
    "9": ["mc", "mc_b"],
    "10": ["mc"],
    "11.1": ["mc_5x"],
    "11.2": ["binary_5x"],
    "11.6": ["parquet_5x"],
    "11.7": ["join_5x"],
    "11.8": ["mc_5x"],
    "12": ["tokens"],
    "13a": ["lang"],
    "13b": ["groups"],
}


def _fmt_rows(n: int) -> str:
    return f"{n:.0e}".replace("e+0", "e").replace("e+", "e")


def build_cases(ctx: Context, ds: dict[str, gen.Dataset], wanted: set[str]) -> list[Case]:
    s, x = ctx.sizes, ctx.xent
    score = [*x, "score"]
    as_json = ["--format", "json"]
    cases: list[Case] = []

    def add(case: Case) -> None:
        if case.number in wanted:
            cases.append(case)

    def csv_floor(*paths: Path, strings: str = "", ints: str = "") -> Member:
        extra = ([f"--string={strings}"] if strings else []) + ([f"--int={ints}"] if ints else [])
        return Member(
            "floor", "pyarrow open_csv, typed", ctx.script("floor_csv.py", *paths, *extra)
        )

    def naive_csv(path: Path) -> Member:
        return Member("naive", "pandas + sklearn log_loss", ctx.script("naive_csv.py", path))

    def xent_score(path: Path, *extra: str, planned: bool = False) -> Member:
        return Member(
            "xent", "xent score", [*score, str(path), *extra, *as_json], parse_score, planned
        )

    def agree(reference: float | None, *roles: str) -> list[LossCheck]:
        checks = [LossCheck("xent = naive", ("xent", "loss"), ("naive", "loss"))]
        checks += [LossCheck(f"{r} = naive", (r, "loss"), ("naive", "loss")) for r in roles]
        checks.append(LossCheck("naive = generator", ("naive", "loss"), reference))
        return checks

    # 1. CSV 1e6 x 10.
    mc = ctx.path(ds["mc"], "csv")
    add(
        Case(
            "1",
            f"CSV {_fmt_rows(s.rows)} x {s.classes}, json",
            [naive_csv(mc), xent_score(mc), csv_floor(mc, strings="id", ints="label")],
            [mc],
            [Target("speedup", 4, "naive"), Target("floor", 1.15)],
            agree(ctx.ref(ds["mc"], "loss")),
        )
    )
    # 2. Binary CSV 1e7 rows.
    binary = ctx.path(ds["binary"], "csv")
    add(
        Case(
            "2",
            f"binary CSV {_fmt_rows(s.binary_rows)} x (label,p)",
            [naive_csv(binary), xent_score(binary), csv_floor(binary, ints="label")],
            [binary],
            [Target("speedup", 4, "naive"), Target("floor", 1.3)],
            agree(ctx.ref(ds["binary"], "loss")),
        )
    )
    # 3. Wide CSV 1e5 x 1000.
    wide = ctx.path(ds["wide"], "csv")
    add(
        Case(
            "3",
            f"wide CSV {_fmt_rows(s.wide_rows)} x {s.wide_classes:,}",
            [naive_csv(wide), xent_score(wide), csv_floor(wide, strings="id", ints="label")],
            [wide],
            [Target("speedup", 3, "naive"), Target("floor", 1.3)],
            agree(ctx.ref(ds["wide"], "loss")),
        )
    )
    # 4. NPY logits, float32 and float16.
    labels = ctx.path(ds["lm"], "labels")
    for number, dtype, itemsize in (("4a", "f32", 4), ("4b", "f16", 2)):
        logits = ctx.path(ds["lm"], dtype)
        cells = s.npy_rows * s.vocab
        add(
            Case(
                number,
                f"NPY {dtype} logits {s.npy_rows:,} x {s.vocab:,}",
                [
                    Member(
                        "naive",
                        "np.load + float64 log-softmax",
                        ctx.script("naive_npy.py", logits, labels),
                        needs_bytes=cells * (16 + itemsize) + 1e9,
                    ),
                    Member(
                        "naive2",
                        "mmap, 256-row float64 chunks",
                        ctx.script("naive_npy_chunked.py", logits, labels),
                    ),
                    Member(
                        "xent",
                        "xent score --inputs logits",
                        [
                            *score,
                            str(logits),
                            "--labels",
                            str(labels),
                            "--inputs",
                            "logits",
                            *as_json,
                        ],
                        parse_score,
                    ),
                    Member("floor", "np.load both", ctx.script("floor_npy.py", logits, labels)),
                ],
                [logits, labels],
                [
                    Target("rss", 1000),
                    Target("speedup", 1.5, "naive"),
                    Target("speedup", 1.5, "naive2"),
                ],
                agree(ctx.ref(ds["lm"], f"loss_{dtype}"), "naive2"),
            )
        )
    # 5. N-d language-model batch with -100 padding.
    nd_logits, nd_labels = ctx.path(ds["nd"], "logits"), ctx.path(ds["nd"], "labels")
    add(
        Case(
            "5",
            f"NPY f16 ({s.nd_batch}, {s.nd_seq}, {s.vocab:,}), -100 padding",
            [
                Member(
                    "naive",
                    "np.load + per-sequence float64 loop",
                    ctx.script("naive_nd.py", nd_logits, nd_labels, -100),
                ),
                Member(
                    "naive2",
                    "mmap, 256-row float64 chunks",
                    ctx.script("naive_npy_chunked.py", nd_logits, nd_labels, -100),
                ),
                Member(
                    "xent",
                    "xent score --inputs logits --ignore-label -100",
                    [
                        *score,
                        str(nd_logits),
                        "--labels",
                        str(nd_labels),
                        "--inputs",
                        "logits",
                        "--ignore-label",
                        "-100",
                        *as_json,
                    ],
                    parse_score,
                    planned=True,
                ),
                Member("floor", "np.load both", ctx.script("floor_npy.py", nd_logits, nd_labels)),
            ],
            [nd_logits, nd_labels],
            [
                Target("rss", 1000),
                Target("speedup", 1.5, "naive"),
                Target("speedup", 1.5, "naive2"),
            ],
            agree(ctx.ref(ds["nd"], "loss"), "naive2"),
        )
    )
    # 6. Parquet, one row group, written by pandas.
    parquet = ctx.path(ds["parquet"], "parquet")
    add(
        Case(
            "6",
            f"Parquet {_fmt_rows(s.rows)} x {s.classes} (pandas)",
            [
                Member("naive", "pd.read_parquet + log_loss", ctx.script("naive_csv.py", parquet)),
                xent_score(parquet),
                Member("floor", "pq.read_table", ctx.script("floor_parquet.py", parquet)),
            ],
            [parquet],
            [Target("rss_rel", 1.5, "1")],
            agree(ctx.ref(ds["parquet"], "loss")),
        )
    )
    # 7. Predictions joined to a shuffled label file.
    preds, label_file = ctx.path(ds["join"], "preds"), ctx.path(ds["join"], "labels")
    join_argv = [str(preds), "--labels", str(label_file), "--id-col", "id"]
    add(
        Case(
            "7",
            f"--labels join on id, {_fmt_rows(s.rows)} rows",
            [
                Member(
                    "naive",
                    "pandas read both + merge + log_loss",
                    ctx.script("naive_join.py", preds, label_file),
                ),
                Member("xent", "xent score --labels", [*score, *join_argv, *as_json], parse_score),
                csv_floor(preds, label_file, strings="id", ints="label"),
            ],
            [preds, label_file],
            [Target("speedup", 2, "naive"), Target("rss", 300)],
            agree(ctx.ref(ds["join"], "loss")),
        )
    )
    # 8. Per-sample CSV output.
    out_naive, out_xent = ctx.out / "case8_naive.csv", ctx.out / "case8_xent.csv"
    add(
        Case(
            "8",
            f"--format csv per-sample, {_fmt_rows(s.rows)} rows, to a file",
            [
                Member(
                    "naive",
                    "pandas + numpy per-sample + to_csv",
                    ctx.script("naive_per_sample.py", mc, out_naive),
                ),
                Member(
                    "xent",
                    "xent score --format csv -o",
                    [*score, str(mc), "--format", "csv", "--output", str(out_xent)],
                    None,
                ),
                csv_floor(mc, strings="id", ints="label"),
            ],
            [mc],
            [Target("speedup", 3, "naive")],
            agree(ctx.ref(ds["mc"], "loss")),
            post=lambda case: per_sample_post(case, out_xent, out_naive),
        )
    )
    # 9. xent compare with a paired bootstrap.
    mc_b = ctx.path(ds["mc_b"], "csv")
    add(
        Case(
            "9",
            f"compare, {_fmt_rows(s.rows)} pairs, 1000 bootstrap",
            [
                Member(
                    "naive",
                    "pandas x2 + numpy paired bootstrap (1000)",
                    ctx.script("naive_compare.py", mc, mc_b, 1000),
                ),
                Member(
                    "xent",
                    "xent compare",
                    [*x, "compare", str(mc), str(mc_b), *as_json],
                    parse_compare,
                ),
                csv_floor(mc, mc_b, strings="id", ints="label"),
            ],
            [mc, mc_b],
            [Target("speedup", 5, "naive"), Target("rss", 200)],
            [
                LossCheck("base: xent = naive", ("xent", "base"), ("naive", "base")),
                LossCheck("candidate: xent = naive", ("xent", "candidate"), ("naive", "candidate")),
                LossCheck("difference: xent = naive", ("xent", "diff"), ("naive", "diff")),
                LossCheck("base: naive = generator", ("naive", "base"), ctx.ref(ds["mc"], "loss")),
                LossCheck(
                    "candidate: naive = generator",
                    ("naive", "candidate"),
                    ctx.ref(ds["mc_b"], "loss"),
                ),
            ],
        )
    )
    # 10. explain the last row.
    last = s.rows - 1
    add(
        Case(
            "10",
            f"explain --row {last} vs score, same file",
            [
                Member(
                    "xent",
                    f"xent explain --row {last}",
                    [*x, "explain", str(mc), "--row", str(last), "--json"],
                    parse_explain,
                ),
                Member("ref", "xent score --format json", [*score, str(mc), *as_json], parse_score),
            ],
            [mc],
            [Target("time", 1.0, "ref", name="score")],
            [
                LossCheck(
                    "row loss: xent = generator",
                    ("xent", "loss"),
                    ctx.ref(ds["mc"], "last_row_loss"),
                ),
                LossCheck("score: xent = generator", ("ref", "loss"), ctx.ref(ds["mc"], "loss")),
            ],
        )
    )
    # 11. Memory flatness at 5x the rows.
    big_mc = ctx.path(ds["mc_5x"], "csv")
    big_bin = ctx.path(ds["binary_5x"], "csv")
    big_pq = ctx.path(ds["parquet_5x"], "parquet")
    big_preds, big_labels = ctx.path(ds["join_5x"], "preds"), ctx.path(ds["join_5x"], "labels")
    big_out = ctx.out / "case11_8_xent.csv"
    scale = [
        ("11.1", "1", f"case 1 at {s.scale}x", xent_score(big_mc),
         csv_floor(big_mc, strings="id", ints="label"), [big_mc], ("mc_5x", "loss")),
        ("11.2", "2", f"case 2 at {s.scale}x", xent_score(big_bin),
         csv_floor(big_bin, ints="label"), [big_bin], ("binary_5x", "loss")),
        ("11.6", "6", f"case 6 at {s.scale}x", xent_score(big_pq),
         Member("floor", "pq.read_table", ctx.script("floor_parquet.py", big_pq)), [big_pq],
         ("parquet_5x", "loss")),
        ("11.8", "8", f"case 8 at {s.scale}x",
         Member("xent", "xent score --format csv -o",
                [*score, str(big_mc), "--format", "csv", "--output", str(big_out)], None),
         csv_floor(big_mc, strings="id", ints="label"), [big_mc], ("mc_5x", "loss")),
        ("11.7", "7", f"case 7 at {s.scale}x",
         Member("xent", "xent score --labels",
                [*score, str(big_preds), "--labels", str(big_labels), "--id-col", "id", *as_json],
                parse_score),
         csv_floor(big_preds, big_labels, strings="id", ints="label"), [big_preds, big_labels],
         ("join_5x", "loss")),
    ]  # fmt: skip
    for number, base, title, xent_member, floor_member, files, (name, key) in scale:
        add(
            Case(
                number,
                title,
                [xent_member, floor_member],
                files,
                [Target("rss_rel", 1.1, base, info=(number == "11.7"))],
                [LossCheck("xent = generator", ("xent", "loss"), ctx.ref(ds[name], key))],
                post=(lambda case: per_sample_post(case, big_out, None))
                if number == "11.8"
                else None,
            )
        )
    # 12. Token rows, per-document loss.
    tok = ctx.path(ds["tokens"], "parquet")
    add(
        Case(
            "12",
            f"token rows Parquet {_fmt_rows(s.token_rows)}, --by doc",
            [
                Member("naive", "pd.read_parquet + groupby", ctx.script("naive_tokens.py", tok)),
                xent_score(tok, "--inputs", "target-log-probs", "--by", "doc", planned=True),
                Member("floor", "pq.read_table", ctx.script("floor_parquet.py", tok)),
            ],
            [tok],
            [Target("floor", 1.3)],
            agree(ctx.ref(ds["tokens"], "loss")),
        )
    )
    # 13. Grouped scores.
    lang_csv = ctx.path(ds["lang"], "csv")
    groups_csv = ctx.path(ds["groups"], "csv")
    for number, path, column, title, targets, name, strings in (
        ("13a", lang_csv, "lang",
         f"--by lang ({s.langs:,} groups), {_fmt_rows(s.rows)} x {s.classes}",
         [Target("time", 1.15, "ref", name="without --by")], "lang", "id,lang"),
        ("13b", groups_csv, "user",
         f"--by user ({_fmt_rows(s.groups)} groups), binary {_fmt_rows(s.group_rows)}",
         [Target("time", 1.5, "ref", name="without --by"), Target("rss", 1000)], "groups", "user"),
    ):  # fmt: skip
        add(
            Case(
                number,
                title,
                [
                    Member(
                        "naive",
                        "pandas + per-sample + groupby",
                        ctx.script("naive_grouped.py", path, column),
                    ),
                    xent_score(path, "--by", column, planned=True),
                    Member(
                        "ref", "xent score without --by", [*score, str(path), *as_json], parse_score
                    ),
                    csv_floor(path, strings=strings, ints="label"),
                ],
                [path],
                targets,
                [
                    *agree(ctx.ref(ds[name], "loss")),
                    LossCheck("without --by: xent = naive", ("ref", "loss"), ("naive", "loss")),
                ],
            )
        )
    return cases


def per_sample_post(case: Case, xent_out: Path, naive_out: Path | None) -> list[dict[str, Any]]:
    """Read the per-sample CSV(s): xent's mean loss, and its agreement with the naive file."""
    import numpy as np
    import pyarrow.csv as pacsv

    xent = case.member("xent")
    if xent is None or not xent.rounds or not xent_out.exists():
        return []
    table = pacsv.read_csv(str(xent_out))
    loss = table.column("loss").to_numpy()
    xent.result = {
        "loss": float(loss.mean()),
        "rows": table.num_rows,
        "columns": table.column_names,
    }
    checks = []
    if naive_out is not None and naive_out.exists():
        other = pacsv.read_csv(str(naive_out))
        ref = other.column("loss").to_numpy()
        same_rows = table.num_rows == other.num_rows
        same_ids = same_rows and table.column("id").equals(other.column("id"))
        rel = (
            float(np.max(np.abs(loss - ref) / np.maximum(np.abs(ref), 1e-300)))
            if same_rows
            else None
        )
        ok = same_ids and rel is not None and rel <= LOSS_RTOL
        checks.append(
            {
                "what": "per-sample losses: xent = naive (max rel)",
                "value": rel,
                "status": "PASS" if ok else "FAIL",
                "note": f"columns {table.column_names}; same ids in order: {same_ids}",
            }
        )
    return checks


# --- running -------------------------------------------------------------------------


def mem_available() -> float:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    return float("inf")


def warm(paths: Sequence[Path]) -> None:
    """Read the files once so every command of the case finds them in the page cache."""
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass


def first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def run_member(member: Member, runner: Runner, round_index: int, last: bool) -> None:
    if member.needs_bytes and mem_available() < member.needs_bytes:
        note = (
            f"round {round_index + 1}: skipped, {mem_available() / 1e9:.1f} GB available "
            f"< {member.needs_bytes / 1e9:.1f} GB needed"
        )
        member.skipped.append(note)
        log(f"    {member.role:<7} {note}")
        return
    outcome = runner.run(member.argv, capture=member.parse is not None)
    if outcome.error is not None:
        member.error = outcome.error
        # A planned feature is "not supported" when xent refuses it (usage, input or
        # data error); an internal error (exit status 70) or a crash is a failure.
        refused = outcome.error.split(":")[0] in ("exit status 2", "exit status 3", "exit status 4")
        member.status = "not supported" if member.planned and refused else "failed"
        log(f"    {member.role:<7} {member.status.upper()}: {first_line(outcome.error)}")
        return
    assert outcome.sample is not None
    member.rounds[round_index] = outcome.sample
    if member.parse is not None:
        try:
            member.result = member.parse(outcome.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            member.status = "failed"
            member.error = f"cannot parse output ({exc!r}): {outcome.stdout[:300]!r}"
    s = outcome.sample
    log(f"    {member.role:<7} {s.wall:8.2f} s {s.rss_kib * 1024 / MB:9.1f} MB")
    if s.wall > runner.once_over and not last:
        member.status = "ran once"
        member.skipped.append(
            f"took {s.wall:.0f} s > --once-over {runner.once_over:.0f} s: not repeated"
        )


def run_rounds(cases: list[Case], runner: Runner, rounds: int) -> None:
    for r in range(rounds):
        for case in cases:
            log(f"round {r + 1}/{rounds}: case {case.number}: {case.title}")
            warm(case.files)
            shift = r % len(case.members)
            for member in case.members[shift:] + case.members[:shift]:
                if member.runnable:
                    run_member(member, runner, r, last=r == rounds - 1)


# --- evaluation ------------------------------------------------------------------------


def evaluate(case: Case, by_number: dict[str, Case]) -> None:
    xent = case.member("xent")
    floor = case.member("floor")
    case.results = []
    for t in case.targets:
        value: float | None = None
        note = ""
        if xent is None or xent.status == "failed":
            case.results.append(TargetResult(t, None, "n/a", "xent failed"))
            continue
        if xent.status == "not supported":
            case.results.append(TargetResult(t, None, "not supported"))
            continue
        if t.kind == "speedup":
            value = paired(case.member(t.other), xent)
        elif t.kind == "floor":
            value = paired(xent, floor)
        elif t.kind == "time":
            value = paired(xent, case.member(t.other))
        elif t.kind == "rss":
            value = xent.peak_mb
        elif t.kind == "rss_rel":
            other = by_number.get(t.other)
            base = other.member("xent") if other else None
            if xent.peak_mb is not None and base is not None and base.peak_mb:
                value = xent.peak_mb / base.peak_mb
            else:
                note = f"case {t.other} not run"
        if value is None:
            case.results.append(TargetResult(t, None, "n/a", note or "not measured"))
            continue
        ok = value >= t.limit if t.kind == "speedup" else value <= t.limit
        status = "info" if t.info else ("PASS" if ok else "FAIL")
        if t.info:
            note = "PASS" if ok else "over the limit"
        case.results.append(TargetResult(t, value, status, note))
    case.checks = case.post(case) if case.post else []
    for check in case.losses:
        case.checks.append(loss_check(case, check))


def _value(case: Case, side: tuple[str, str] | float | None) -> tuple[float | None, str]:
    if side is None:
        return None, "no reference"
    if isinstance(side, float):
        return side, "generator"
    role, key = side
    member = case.member(role)
    if member is None:
        return None, f"no {role}"
    if member.result is None or member.result.get(key) is None:
        return None, f"{role}: {member.status if member.status != 'ok' else 'no result'}"
    return float(member.result[key]), role


def loss_check(case: Case, check: LossCheck) -> dict[str, Any]:
    a, why_a = _value(case, check.a)
    b, why_b = _value(case, check.b)
    if a is None or b is None:
        note = why_a if a is None else why_b
        return {"what": check.what, "value": None, "status": "n/a", "note": note}
    rel = abs(a - b) / abs(b) if b else abs(a - b)
    return {
        "what": check.what,
        "value": rel,
        "status": "PASS" if rel <= LOSS_RTOL else "FAIL",
        "note": f"{a:.17g} vs {b:.17g}",
    }


# --- reporting ---------------------------------------------------------------------------


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def seconds(member: Member | None) -> str:
    if member is None:
        return "-"
    if member.status == "not supported":
        return "not supported"
    if member.status == "failed":
        return "FAILED"
    if not member.rounds:
        return "skipped" if member.skipped else "-"
    return f"{member.wall:.2f}"


def verdict(case: Case) -> str:
    statuses = [r.status for r in case.results if not r.target.info]
    xent = case.member("xent")
    if xent is not None and xent.status == "not supported":
        return "not supported"
    if xent is not None and xent.status == "failed":
        return "FAILED (xent)"
    bad = [r for r in case.results if r.status == "FAIL"]
    loss_bad = [c for c in case.checks if c["status"] == "FAIL"]
    parts = []
    if bad:
        parts.append("FAIL: " + "; ".join(f"{r.target.text} ({_shown(r)})" for r in bad))
    elif statuses and all(s == "PASS" for s in statuses):
        parts.append("PASS")
    elif statuses:
        parts.append("n/a")
    info = [r for r in case.results if r.target.info and r.value is not None]
    parts += [f"info {_shown(r)} ({r.note})" for r in info]
    if loss_bad:
        parts.append("LOSS MISMATCH")
    return ", ".join(parts) or "-"


def _shown(result: TargetResult) -> str:
    if result.value is None:
        return "-"
    if result.target.kind == "rss":
        return f"{result.value:.0f} MB"
    return f"{result.value:.2f}x"


def table_rows(cases: list[Case]) -> list[list[str]]:
    rows = []
    for case in cases:
        xent, floor = case.member("xent"), case.member("floor")
        naives = [m for m in (case.member("naive"), case.member("naive2")) if m is not None]
        ref = case.member("ref")
        naive_s = " / ".join(seconds(m) for m in naives) or "-"
        speedups = " / ".join(fmt(paired(m, xent), ".2f", "x") for m in naives) or "-"
        xent_s = seconds(xent)
        if ref is not None and ref.rounds:
            xent_s += (
                f" (without: {seconds(ref)})"
                if xent and not xent.measured
                else (f" (score: {seconds(ref)})")
            )
        rows.append(
            [
                f"{case.number} {case.title}",
                naive_s,
                xent_s,
                seconds(floor),
                speedups,
                fmt(paired(xent, floor), ".2f", "x"),
                fmt(xent.peak_mb if xent else None, ".0f"),
                "; ".join(t.text for t in case.targets),
                verdict(case),
            ]
        )
    return rows


HEADERS = [
    "case",
    "naive s",
    "xent s",
    "floor s",
    "naive/xent",
    "xent/floor",
    "peak RSS MB",
    "target",
    "verdict",
]


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), "|" + "---|" * len(headers), *map(line, rows)])


def detail_rows(cases: list[Case]) -> list[list[str]]:
    rows = []
    for case in cases:
        for m in case.members:
            walls = ", ".join(f"{m.rounds[r].wall:.2f}" for r in sorted(m.rounds))
            notes = [m.status] if m.status != "ok" else []
            if m.error:
                notes.append(first_line(m.error)[:160])
            notes += m.skipped
            rows.append(
                [case.number, m.role, m.what, walls or "-", fmt(m.peak_mb, ".0f"), "; ".join(notes)]
            )
    return rows


def report(cases: list[Case], env: dict[str, Any], rounds: int) -> str:
    lines = [
        f"## xent benchmark of input shapes ({env['scale']} scale, {rounds} round(s))",
        "",
        f"xent: {env['xent_source']}, `{env['xent_command']}` ({env['xent_version']}); "
        f"git HEAD {env['git_head'][:10]}"
        f"{' + uncommitted changes in src' if env['git_src_dirty'] else ''}",
        f"{env['cpu_count']} CPUs, {env['mem_total_gb']:.1f} GB; load average "
        f"{env['loadavg_before'][0]:.2f} -> {env['loadavg_after'][0]:.2f}; "
        f"{env['started']} .. {env['finished']}",
        "",
        "Times are medians over rounds; ratios are medians of per-round ratios; peak RSS is "
        "xent's largest over rounds (MB = 1e6 bytes). Two naive columns: natural / careful script.",
        "",
        markdown(HEADERS, table_rows(cases)),
        "",
        "### Targets",
        "",
    ]
    for case in cases:
        for r in case.results:
            lines.append(
                f"- [{r.status}] case {case.number}: {r.target.text}: {_shown(r)}"
                + (f" ({r.note})" if r.note else "")
            )
    lines += ["", "### Loss agreement (relative difference ≤ 1e-9)", ""]
    for case in cases:
        for c in case.checks:
            value = fmt(c["value"], ".1e")
            lines.append(
                f"- [{c['status']}] case {case.number}: {c['what']}: {value} ({c['note']})"
            )
    lines += [
        "",
        "### Every command",
        "",
        markdown(
            ["case", "role", "command", "wall s per round", "peak MB", "status"],
            detail_rows(cases),
        ),
    ]
    counted = [r for case in cases for r in case.results if not r.target.info]
    tally = {
        s: sum(r.status == s for r in counted) for s in ("PASS", "FAIL", "n/a", "not supported")
    }
    mismatches = sum(c["status"] == "FAIL" for case in cases for c in case.checks)
    lines += [
        "",
        f"{tally['PASS']} targets passed, {tally['FAIL']} failed, {tally['not supported']} not "
        f"supported, {tally['n/a']} not measured; {mismatches} loss mismatch(es).",
    ]
    return "\n".join(lines)


def to_json(cases: list[Case]) -> list[dict[str, Any]]:
    out = []
    for case in cases:
        out.append(
            {
                "case": case.number,
                "title": case.title,
                "verdict": verdict(case),
                "members": [
                    {
                        "role": m.role,
                        "what": m.what,
                        "argv": m.argv,
                        "status": m.status,
                        "error": m.error,
                        "skipped": m.skipped,
                        "median_wall_s": m.wall,
                        "peak_rss_mb": m.peak_mb,
                        "result": m.result,
                        "samples": [
                            {
                                "round": r,
                                "wall_s": s.wall,
                                "rss_kib": s.rss_kib,
                                "time_e_s": s.time_wall,
                            }
                            for r, s in sorted(m.rounds.items())
                        ],
                    }
                    for m in case.members
                ],
                "targets": [r.to_json() for r in case.results],
                "checks": case.checks,
            }
        )
    return out


# --- xent snapshot, environment, profiling ------------------------------------------------


def snapshot(python: str, directory: Path, rev: str | None) -> tuple[list[str], str]:
    """Copy src/xent (of the work tree, or of git revision ``rev``) to ``directory``.

    Returns a command that runs that copy, and a digest of its files.
    """
    target = directory / "xent-snapshot"
    shutil.rmtree(target, ignore_errors=True)
    if rev is None:
        shutil.copytree(
            REPO / "src" / "xent", target / "xent", ignore=shutil.ignore_patterns("__pycache__")
        )
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", rev, "src/xent"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target / "tar", filter="data")
        (target / "tar" / "src" / "xent").rename(target / "xent")
        shutil.rmtree(target / "tar")
    digest = hashlib.sha256()
    for path in sorted((target / "xent").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    # Compiled to bytecode as pip compiles an installed package: otherwise, under
    # PYTHONDONTWRITEBYTECODE, every run would compile xent's modules again (0.1 s).
    subprocess.run([python, "-m", "compileall", "-q", str(target / "xent")], check=True)
    launcher = target / "xent_launcher.py"
    launcher.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        "from xent.cli import main\n"
        "sys.argv[0] = 'xent'\n"
        "sys.exit(main())\n"
    )
    return [python, str(launcher)], digest.hexdigest()


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def versions(python: str) -> dict[str, str]:
    code = (
        "import json, numpy, pandas, pyarrow, sklearn; print(json.dumps({m.__name__: m.__version__"
        " for m in (numpy, pandas, pyarrow, sklearn)}))"
    )
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
        return dict(json.loads(out.stdout))
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {}


def profile(case: Case, directory: Path, runner: Runner, top: int) -> str:
    """Record the case's xent command with py-spy; summarise the speedscope profile."""
    from shapes.speedscope_top import summarise

    xent = case.member("xent")
    if xent is None or not xent.measured:
        return f"case {case.number}: xent {xent.status if xent else 'absent'}, not profiled"
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.access(py_spy, os.X_OK):
        return "py-spy not found (pip install py-spy)"
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"case{case.number}.speedscope.json"
    warm(case.files)
    argv = [
        py_spy,
        "record",
        "--format",
        "speedscope",
        "--rate",
        "200",
        "-o",
        str(out),
        "--",
        *xent.argv,
    ]
    outcome = runner.run(argv, capture=True)
    if outcome.error is not None:
        return f"case {case.number}: py-spy failed: {outcome.error}"
    return f"### Profile of case {case.number} ({case.title}): {out}\n\n" + summarise(out, top)


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark xent on every input shape against naive scripts and read floors."
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="smoke scale (1e5-row CSVs, small arrays), 1 round")
    add("--rounds", type=count, help="alternating rounds (default 3; --quick: 1)")
    add("--cases", help="comma list of case numbers or prefixes, e.g. 1,4,11 (default: all)")
    add("--xent", metavar="CMD", help="xent command (default: a snapshot of src/xent)")
    add("--no-snapshot", action="store_true", help="run the installed xent, not a snapshot")
    add("--rev", help="snapshot src/xent of this git revision (e.g. HEAD), not of the work tree")
    add("--python", default=sys.executable, help="interpreter of the naive and floor scripts")
    add("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where data files live")
    add("--seed", type=int, default=20240607, help="seed of the generated data")
    add("--jobs", type=count, default=2, help="processes generating data (default 2)")
    add("--regenerate", action="store_true", help="rebuild the data even if present")
    add("--generate-only", action="store_true", help="generate the data and stop")
    add("--timeout", type=float, default=1800.0, help="kill a run after this many seconds")
    add(
        "--once-over",
        type=float,
        default=300.0,
        help="a command slower than this many seconds is not repeated in later rounds",
    )
    add(
        "--json",
        type=Path,
        metavar="OUT",
        help="results JSON (default: DATA_DIR/bench_shapes.json)",
    )
    add("--markdown", type=Path, metavar="OUT", help="also write the report as Markdown")
    add("--profile", metavar="CASES", help="py-spy record the xent runs of these cases")
    add("--profile-top", type=count, default=15, help="functions listed per profile")
    add("--profile-only", action="store_true", help="with --profile: skip the timed rounds")
    add("--keep-outputs", action="store_true", help="keep the per-sample CSV outputs")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    return args


def select(spec: str | None) -> set[str]:
    if not spec:
        return set(CASE_DATA)
    chosen = set()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        # "4" selects 4a and 4b, "11" selects 11.1..11.8, "1" selects only 1.
        hits = {
            n
            for n in CASE_DATA
            if n.startswith(item) and (n == item or n[len(item)] == "." or n[len(item)].isalpha())
        }
        if not hits:
            raise SystemExit(f"unknown case {item!r}; cases: {', '.join(CASE_DATA)}")
        chosen |= hits
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = gen.QUICK if args.quick else gen.FULL
    wanted = select(args.cases)
    datasets = datasets_for(sizes)
    needed = [
        datasets[name] for number in CASE_DATA if number in wanted for name in CASE_DATA[number]
    ]
    metas = gen.ensure(
        needed, args.data_dir, args.seed, force=args.regenerate, jobs=args.jobs, log=log
    )
    for line in gen.describe(metas):
        log("data: " + line)
    if args.generate_only:
        return 0

    if args.xent:
        xent = shlex.split(args.xent)
        digest = None
    elif args.no_snapshot:
        found = find_xent(None)
        if found is None:
            raise SystemExit("xent not found; use --xent CMD")
        xent, digest = found, None
    else:
        xent, digest = snapshot(args.python, args.data_dir, args.rev)
    out_dir = args.data_dir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(sizes, args.data_dir, out_dir, metas, args.python, xent)
    cases = build_cases(ctx, datasets, wanted)
    by_number = {case.number: case for case in cases}

    runner = Runner(out_dir, args.timeout)
    runner.once_over = args.once_over
    log(f"measuring with {runner.method}; xent = {shlex.join(xent)}")
    runner.run(
        [args.python, "-c", "import pandas, sklearn.metrics, pyarrow.csv, pyarrow.parquet"],
        capture=False,
    )
    probe = runner.run([*xent, "--version"], capture=True)
    xent_version = (
        probe.stdout.strip() if probe.error is None else f"--version failed: {probe.error}"
    )
    env: dict[str, Any] = {
        "scale": "quick" if args.quick else "full",
        "xent_command": shlex.join(xent),
        "xent_version": xent_version,
        "snapshot_sha256": digest,
        "xent_source": (
            f"git {args.rev} ({git('rev-parse', args.rev)[:10]})"
            if args.rev
            else "work tree (src/)"
            if digest
            else "installed"
        ),
        "git_head": git("rev-parse", "HEAD"),
        "git_src_dirty": bool(git("status", "--porcelain", "--", "src")),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions(args.python),
        "cpu_count": os.cpu_count(),
        "mem_total_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9,
        "measurement": runner.method,
        "loadavg_before": os.getloadavg(),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if not args.profile_only:
        run_rounds(cases, runner, args.rounds)
    env["loadavg_after"] = os.getloadavg()
    env["finished"] = datetime.datetime.now().isoformat(timespec="seconds")

    for case in cases:
        evaluate(case, by_number)
    text = "" if args.profile_only else report(cases, env, args.rounds)
    profiles = []
    if args.profile:
        for number in sorted(select(args.profile) & set(by_number), key=list(CASE_DATA).index):
            log(f"profiling case {number} ...")
            profiles.append(
                profile(by_number[number], args.data_dir / "profiles", runner, args.profile_top)
            )
        text = "\n\n".join([text, *profiles]).strip()
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.profile_only and not args.json:
        return 0  # keep the JSON of the last timed run
    json_path = args.json or args.data_dir / (
        "bench_shapes_quick.json" if args.quick else "bench_shapes.json"
    )
    results = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": env,
        "sizes": dataclasses.asdict(sizes),
        "data": metas,
        "cases": to_json(cases),
        "profiles": profiles,
    }
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"wrote {json_path}")
    if not args.keep_outputs:
        for path in out_dir.glob("case*.csv"):
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
