"""Adversarial suite, round two: escapes, crashes, hangs, memory, leaks, the world's faults.

Every test runs ``python -m xent`` in a subprocess (signals, terminals, closed
descriptors, resource limits and peak memory need a real process), with a
timeout, and checks the contract:

* exit codes: 0 ok, 1 a gate failed, 2 usage, 3 unreadable input (a malformed
  baseline or crafted container included), 4 invalid data, 74 the output or the
  environment failed (output not writable, disk full, closed stdout, memory or
  temporary space ran out), 130 SIGINT, 143 SIGTERM (after cleaning up); never
  70 (a bug), never death by a signal, never a hang;
* an error is exactly one line on standard error, ``xent: error: ...``, naming
  the file at fault, and never a traceback;
* no temporary file is left behind, in the output's directory or in TMPDIR;
* bytes of the input never reach a terminal, a table, Markdown or ``xent
  explain`` text as control characters (ESC, BEL, C1 controls such as the
  8-bit CSI U+009B, a bare carriage return, backspace): they are shown as
  visible escapes such as ``\\x1b``; JSON stays valid and exact, and CSV written
  to a file or pipe stays exact (it is data);
* a valid input gets the right number (checked against scikit-learn).

The inputs come from ``tests/make_hostile.py``: small crafted ones are
committed under ``tests/data/hostile/``, large ones are written into the test's
temporary directory. Tests that take more than a few seconds are marked
``slow`` (register the marker in pyproject.toml; until then they run unmarked).
Some tests need Linux (``/proc``, ``/dev/full``, pseudo-terminals) or root and
``mount`` (a tiny tmpfs for disk-full and read-only cases); elsewhere they skip
with the reason.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import log_loss

import make_hostile as mh
from conftest import fixed_env
from make_hostile import Run, collect, run, slow

DATA = mh.COMMITTED
ERROR_PREFIX = b"xent: error: "
#: Exit codes of the contract. 70 (a bug) is never one a test expects.
OK, GATE, USAGE, UNREADABLE, INVALID = 0, 1, 2, 3, 4
ENVIRONMENT, SIGINT_CODE, SIGTERM_CODE = 74, 130, 143
#: Seconds a run may take before it counts as hung.
TIMEOUT = 60.0
#: Seconds a few-MB CSV with stray quotes may take (linear time: well under 1 s today
#: without the quote).
HANG_BUDGET = 10.0
#: Peak resident memory allowed where memory must stay bounded (xent itself,
#: with pyarrow and NumPy loaded, takes ~70-100 MB).
MEMORY_BOUND = 300 << 20


# --- what a run must look like -------------------------------------------------------------------


def error_problems(
    result: Run, codes: int | set[int], names: str | Sequence[str] = ()
) -> list[str]:
    """Everything wrong with a run that must fail cleanly with one of ``codes``."""
    wanted = {codes} if isinstance(codes, int) else set(codes)
    problems = []
    if result.timed_out:
        problems.append("hung")
    elif result.rc not in wanted:
        problems.append(f"exit code {result.rc}, expected {sorted(wanted)}")
    if b"Traceback" in result.err:
        problems.append("a traceback on stderr")
    lines = result.err.splitlines()
    if len(lines) != 1 or not result.err.endswith(b"\n"):
        problems.append(f"{len(lines)} lines on stderr, expected exactly 1")
    if not result.err.startswith(ERROR_PREFIX):
        problems.append("stderr does not start with 'xent: error: '")
    for name in [names] if isinstance(names, str) else names:
        if os.fsencode(name) not in result.err and _visible(name).encode() not in result.err:
            problems.append(f"the message does not name {name!r}")
    return problems


def assert_error(result: Run, codes: int | set[int], names: str | Sequence[str] = ()) -> None:
    problems = error_problems(result, codes, names)
    assert not problems, f"{'; '.join(problems)}\n{result.describe()}"


def assert_ok(result: Run, code: int = OK) -> None:
    good = not result.timed_out and result.rc == code and b"Traceback" not in result.err
    assert good, f"expected exit {code}: {result.describe()}"


def strict_json(data: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(data.decode("utf-8"), parse_constant=refuse)


def _visible(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")


def leftovers(*directories: Path) -> list[str]:
    """Temporary files of xent (``.xent-*``, ``xent-stdin-*``, ``*.tmp``) left in directories."""
    found = []
    for directory in directories:
        for path in directory.rglob("*"):
            if re.match(r"^\.?xent-|.*\.tmp$", path.name):
                found.append(str(path))
    return found


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The test's directory holding a copy of the committed hostile inputs."""
    for source in DATA.iterdir():
        if source.is_file() and source.name != ".gitattributes":
            shutil.copyfile(source, tmp_path / source.name)
    (tmp_path / "tmp").mkdir()
    return tmp_path


def tmpdir_env(work: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment with TMPDIR set to ``work/tmp`` (checked empty after each run)."""
    return {"TMPDIR": str(work / "tmp"), **(extra or {})}


# === 1. terminal escape sequences ================================================================

#: Control characters that must never reach a terminal or a text report: C0 except
#: tab and line feed, DEL, and the C1 controls U+0080-U+009F (U+009B is an 8-bit CSI).
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Visible spellings of ESC an escaped class name may use.
VISIBLE_ESC = ("\\x1b", "\\u001b", "\\033", "\\e", "^[", "\u241b")


def control_problems(data: bytes, where: str, *, visible: bool = True) -> list[str]:
    """Raw control characters in ``data``; and, with ``visible``, no visible ESC either."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"{where}: not UTF-8 ({exc}): raw bytes such as 0x9b reach the terminal"]
    problems = []
    found = sorted({repr(m.group()) for m in CONTROL.finditer(text)})
    if found:
        problems.append(f"{where}: raw control characters {', '.join(found)}")
    if visible and not any(v in text for v in VISIBLE_ESC):
        problems.append(f"{where}: the escape sequences are not shown as visible text")
    return problems


def assert_no_controls(data: bytes, where: str, *, visible: bool = True) -> None:
    problems = control_problems(data, where, visible=visible)
    assert not problems, "\n".join([*problems, f"output: {data[:1500]!r}"])


TEXT_OUTPUTS = {
    "score-table": ["score", "escapes.csv"],
    "score-table-top": ["score", "escapes.csv", "--top", "10"],
    "score-markdown": ["score", "escapes.csv", "--format", "markdown", "--top", "10"],
    "explain-row-0": ["explain", "escapes.csv", "--row", "0"],
    "explain-row-1": ["explain", "escapes.csv", "--row", "1"],
    "explain-row-2": ["explain", "escapes.csv", "--row", "2"],
    "compare-table": ["compare", "escapes.csv", "escapes-copy.csv"],
    "compare-markdown": ["compare", "escapes.csv", "escapes-copy.csv", "--format", "markdown"],
}


@pytest.mark.parametrize("args", TEXT_OUTPUTS.values(), ids=TEXT_OUTPUTS.keys())
def test_escapes_in_text_output_piped(work: Path, args: list[str]) -> None:
    """Class names, labels and ids holding ESC [2J, OSC 52 + BEL, CSI U+009B, CR, BS, NUL."""
    shutil.copyfile(work / "escapes.csv", work / "escapes-copy.csv")
    result = run(args, cwd=work)
    assert_ok(result)
    assert_no_controls(result.out, "stdout")
    assert_no_controls(result.err, "stderr", visible=False)


def test_escapes_in_gate_failure_lines(work: Path) -> None:
    """``gate max-class-loss[<class>] failed`` lines on stderr name hostile classes."""
    result = run(["score", "escapes.csv", "--max-class-loss", "0.01"], cwd=work)
    assert_ok(result, GATE)
    assert b"max-class-loss" in result.err, result.describe()
    assert_no_controls(result.err, "stderr (gate failure lines)")


def test_escapes_in_warnings_and_file_names(work: Path) -> None:
    """File names with escape sequences (from a hostile directory listing), in the
    pairing warning on stderr and in the table's ``file`` line."""
    predictions = f"pred{mh.CLEAR_SCREEN}.csv"
    labels = f"labels{mh.OSC52}.csv"
    shutil.copyfile(work / "escapes.csv", work / predictions)
    rows = csv.reader(io.StringIO((work / "escapes.csv").read_text(), newline=""))
    with open(work / labels, "w", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows([row[:2] for row in rows])
    result = run(["score", predictions, "--labels", labels], cwd=work)
    assert_ok(result)
    assert b"warning" in result.err, result.describe()
    assert_no_controls(result.err, "stderr (warning)")
    assert_no_controls(result.out, "stdout (table)")
    markdown = run(["score", predictions, "--format", "markdown"], cwd=work)
    assert_ok(markdown)
    assert_no_controls(markdown.out, "stdout (markdown title)")


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_escapes_in_group_names(work: Path, fmt: str) -> None:
    """``--by grp`` where the group values hold escape sequences: the group table, and
    the ``max-group-loss`` gate line on stderr that names the worst groups."""
    # (split on LF only: one id holds a quoted CR, which splitlines() would split on)
    lines = (work / "escapes.csv").read_bytes().decode().split("\n")[:-1]
    groups = ["grp", f"{mh.CLEAR_SCREEN}g1", f"g{mh.C1_CSI}", f"g{mh.OSC52}", "g1"]
    text = "".join(f"{line},{group}\n" for line, group in zip(lines, groups, strict=True))
    (work / "grouped.csv").write_bytes(text.encode())
    args = ["score", "grouped.csv", "--by", "grp", "--format", fmt]
    result = run([*args, "--max-group-loss", "0.01", "--min-group-size", "1"], cwd=work)
    assert_ok(result, GATE)
    assert_no_controls(result.out, "stdout (groups)")
    assert_no_controls(result.err, "stderr (group gate line)")


def test_escapes_in_error_messages(work: Path) -> None:
    """Already escaped today (README, Safety): an unknown label holding escape sequences."""
    classes = "".join(f",p_{c}" for c in mh.ESC_CLASSES)
    text = f"id,label{classes}\na,cat,0.5,0.25,0.25\nb,{mh.CLEAR_SCREEN}zebra,0.5,0.25,0.25\n"
    (work / "unknown.csv").write_text(text)
    result = run(["score", "unknown.csv"], cwd=work)
    assert_error(result, INVALID, "unknown.csv")
    assert_no_controls(result.err, "stderr (error)")


def test_escapes_stay_exact_in_json(work: Path) -> None:
    """JSON escapes control characters itself: the names and ids must come back exact."""
    result = run(["score", "escapes.csv", "--format", "json", "--top", "10"], cwd=work)
    assert_ok(result)
    report = strict_json(result.out)
    assert report["classes"] == mh.ESC_CLASSES
    assert {row["id"] for row in report["top"]} == set(mh.ESC_IDS)
    assert {row["label"] for row in report["top"]} == set(mh.ESC_LABELS)
    assert report["aggregate"]["loss"] == pytest.approx(mh.escapes_expected_loss(), rel=1e-12)


@pytest.mark.parametrize("to", ["pipe", "file"])
def test_escapes_stay_exact_in_csv_off_a_terminal(work: Path, to: str) -> None:
    """``--format csv`` into a pipe or a file is data: the values are written exactly."""
    extra = ["--output", "losses.csv"] if to == "file" else []
    result = run(["score", "escapes.csv", "--format", "csv", *extra], cwd=work)
    assert_ok(result)
    data = (work / "losses.csv").read_bytes() if to == "file" else result.out
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == len(mh.ESC_IDS), f"not a valid CSV of {len(mh.ESC_IDS)} rows: {data!r}"
    assert [r["id"] for r in rows] == mh.ESC_IDS
    assert [r["label"] for r in rows] == mh.ESC_LABELS


def on_terminal(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """Run xent with stdout and stderr on a pseudo-terminal in raw mode (no \\n -> \\r\\n)."""
    import pty
    import tty

    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(
        [sys.executable, "-m", "xent", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=fixed_env(env),
        start_new_session=True,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"xent {' '.join(args)} on a terminal: still running after {TIMEOUT} s")
    return rc, b"".join(chunks)


TERMINAL_OUTPUTS = {
    "table": ["score", "escapes.csv"],
    "csv": ["score", "escapes.csv", "--format", "csv"],
    "markdown": ["score", "escapes.csv", "--format", "markdown"],
    "explain": ["explain", "escapes.csv", "--row", "1"],
    "gate-lines": ["score", "escapes.csv", "--format", "json", "--max-class-loss", "0.01"],
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pseudo-terminal")
@pytest.mark.parametrize("args", TERMINAL_OUTPUTS.values(), ids=TERMINAL_OUTPUTS.keys())
def test_escapes_on_a_terminal(work: Path, args: list[str]) -> None:
    """On a terminal (NO_COLOR, so any ESC at all came from the input), CSV included."""
    rc, data = on_terminal(args, work, {"NO_COLOR": "1", "TERM": "xterm-256color"})
    assert rc in (OK, GATE), data[-500:]
    if "json" in args:  # the JSON itself is on the terminal too: only its escapes are checked
        data = b"\n".join(line for line in data.splitlines() if line.startswith(b"xent:"))
    assert_no_controls(data, "terminal")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pseudo-terminal")
def test_escapes_on_a_colour_terminal(work: Path) -> None:
    """With colours on, xent's own SGR codes are fine; none of the input's sequences is."""
    rc, data = on_terminal(["score", "escapes.csv"], work, {"TERM": "xterm-256color"})
    assert rc == OK, data[-500:]
    for payload in (b"\x1b[2J", b"\x1b]52", b"\x07", "\x9b".encode(), b"\x9b", b"\x08"):
        assert payload not in data, f"{payload!r} reached the terminal: {data[:1500]!r}"
    # Every escape sequence left must be a colour (SGR) sequence: ESC [ digits;... m.
    for match in re.finditer(rb"\x1b(.{0,12})", data, re.S):
        assert re.match(rb"\[[0-9;]*m", match.group(1)), f"non-SGR sequence {match.group()!r}"


def test_committed_inputs_are_current(tmp_path: Path) -> None:
    """The committed text inputs are what ``make_hostile.py`` writes (regenerate if not)."""
    for name in ("escapes.csv", "plain.csv"):
        assert (DATA / name).read_bytes() == mh.COMMITTED_FILES[name](), name
    for name in mh.COMMITTED_FILES:
        assert (DATA / name).exists(), f"run python tests/make_hostile.py to write {name}"


# === 2. crashes on crafted containers ============================================================

CRAFTED = [
    "corrupt-offset.arrow",
    "corrupt-offset-negative.arrow",
    "corrupt-offset.stream.arrow",
    "dictionary-index.arrow",
    "dictionary-index.stream.arrow",
]
READS = {
    "score-json": ["score", "{}", "--format", "json"],
    "score-csv": ["score", "{}", "--format", "csv"],
    "explain": ["explain", "{}", "--row", "1"],
}


@pytest.mark.parametrize("how", READS.values(), ids=READS.keys())
@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_ipc_file_is_refused(work: Path, name: str, how: list[str]) -> None:
    """~1 KB Arrow IPC files: a string offset pointing far outside its buffer (SIGSEGV /
    SIGABRT today), a dictionary index past the dictionary (exit 70 today)."""
    result = run([a.format(name) for a in how], cwd=work)
    assert_error(result, UNREADABLE, name)


@pytest.mark.parametrize(
    ("depth", "kind"), [(30_000, "array"), (30_000, "object"), (100_000, "array")]
)
def test_deeply_nested_json_lines_are_refused(work: Path, depth: int, kind: str) -> None:
    """A value nested 30,000 deep in a field xent does not even use (SIGSEGV today)."""
    (work / "deep.jsonl").write_bytes(mh.deep_jsonl(depth, kind))
    result = run(["score", "deep.jsonl", "--format", "json"], cwd=work)
    assert_error(result, UNREADABLE, "deep.jsonl")


# === 3. hangs: stray quotes around the CSV segment cut ===========================================


def _timed_score(work: Path, name: str, *extra: str) -> Run:
    return run(["score", name, "--format", "json", *extra], cwd=work, timeout=HANG_BUDGET)


@slow
@pytest.mark.parametrize("case", mh.STRAY_CASES)
def test_stray_quote_is_linear_and_right(work: Path, case: str) -> None:
    """``a 12" pizza`` in an unquoted id, after the 256 KiB type-inference window and
    at / around the 2 MiB segment cut: the file is valid CSV (pyarrow and Python's
    csv module both read it), so it must score, fast, to sklearn's number."""
    data, answer = mh.stray_quote_csv(case)
    (work / "quotes.csv").write_bytes(data)
    result = _timed_score(work, "quotes.csv")
    assert not result.timed_out, f"{len(data) >> 10} KB CSV: {result.describe()}"
    assert_ok(result)
    report = strict_json(result.out)
    assert report["n_samples"] == len(answer.y)
    assert report["aggregate"]["loss"] == pytest.approx(answer.loss(), rel=1e-9)


@slow
def test_stray_quotes_in_labels(work: Path) -> None:
    """Binary labels ``12" pizza`` / ``salad``: a stray quote on half the rows."""
    data, answer = mh.stray_quote_labels_csv()
    (work / "labels-quoted.csv").write_bytes(data)
    result = _timed_score(work, "labels-quoted.csv", "--pos-label", '12" pizza')
    assert not result.timed_out, result.describe()
    assert_ok(result)
    report = strict_json(result.out)
    assert report["n_samples"] == len(answer.y)
    assert report["aggregate"]["loss"] == pytest.approx(answer.loss(), rel=1e-9)


# === 4. memory ===================================================================================


@slow
def test_npz_zip_bomb_is_bounded(work: Path) -> None:
    """A 0.6 MB ``.npz`` whose members inflate to 540 MB (peak ~600 MB today). Its first
    prediction (5.0) is invalid, so a streaming reader fails at once; a reader may also
    refuse the member's size up front. Either way: bounded memory, a clean error."""
    mh.npz_bomb(work / "bomb.npz")
    result = run(["score", "bomb.npz", "--inputs", "probs", "--format", "json"], cwd=work)
    assert_error(result, {UNREADABLE, INVALID}, "bomb.npz")
    assert result.peak_rss < MEMORY_BOUND, f"peak RSS {result.peak_rss >> 20} MB"


@pytest.fixture(scope="module")
def baseline_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real baseline, made once: ``xent score plain.csv --format json``."""
    directory = tmp_path_factory.mktemp("baseline")
    (directory / "plain.csv").write_bytes(mh.PLAIN_CSV)
    result = run(["score", "plain.csv", "--format", "json"], cwd=directory)
    assert_ok(result)
    return result.out


@pytest.fixture
def baseline(work: Path, baseline_bytes: bytes) -> dict[str, Any]:
    """The real baseline, as ``work/baseline.json`` and parsed."""
    (work / "baseline.json").write_bytes(baseline_bytes)
    return dict(strict_json(baseline_bytes))


@slow
def test_huge_baseline_is_bounded(work: Path, baseline: dict[str, Any]) -> None:
    """A 100 MB baseline (a valid report padded with samples) costs ~6.5x its size today."""
    mh.huge_baseline(work / "huge.json", baseline)
    result = run(
        ["score", "plain.csv", "--baseline", "huge.json", "--max-increase", "5%"], cwd=work
    )
    assert result.peak_rss < MEMORY_BOUND, f"peak RSS {result.peak_rss >> 20} MB"
    if result.rc == UNREADABLE:
        assert_error(result, UNREADABLE, "huge.json")
    else:
        assert_ok(result)


#: Address-space caps for the tight-limit runs. Python with NumPy and pyarrow
#: loaded maps ~1.7 GB of address space (mostly reservations), so below ~2 GB
#: allocations and thread starts fail at random places.
TIGHT_CAPS_MB = [384, 512, 768, 1024, 1280, 1536, 1792]


@pytest.fixture(scope="module")
def medium_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A ~7 MB multiclass CSV (a few segments) and its loss."""
    rng = np.random.default_rng(7)
    n = 120_000
    proba = rng.dirichlet(np.ones(3), size=n)
    y = rng.integers(0, 3, size=n)
    path = tmp_path_factory.mktemp("medium") / "medium.csv"
    with open(path, "w") as out:
        out.write("label,p_0,p_1,p_2\n")
        columns = np.column_stack([y, proba])
        np.savetxt(out, columns, fmt=["%d", "%.17g", "%.17g", "%.17g"], delimiter=",")
    return path, float(-np.mean(np.log(proba[np.arange(n), y])))


@slow
@pytest.mark.parametrize("cap_mb", TIGHT_CAPS_MB, ids=lambda mb: f"{mb}MB")
def test_tight_address_space_fails_cleanly(
    work: Path, medium_csv: tuple[Path, float], cap_mb: int
) -> None:
    """Under RLIMIT_AS xent must score (right number) or stop with exit 74 and one line:
    today it dies of SIGSEGV / SIGABRT, exits 70 (``can't start new thread``,
    ``MemoryError``), 3 (``Failed to launch worker thread``) or 127 (jemalloc)."""
    path, loss = medium_csv
    result = run(
        ["score", str(path), "--format", "json"], cwd=work, memory=cap_mb << 20, timeout=30
    )
    if result.rc == OK and not result.timed_out:
        assert strict_json(result.out)["aggregate"]["loss"] == pytest.approx(loss, rel=1e-9)
    else:
        assert_error(result, ENVIRONMENT)


# === 5. leaks and permissions ====================================================================


class EndlessRows:
    """Feeds a child's stdin a CSV header and then rows, slowly, until the child exits."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.started = threading.Event()
        self.written = 0
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        rows = b"1,0.5\n0,0.25\n" * 5_000
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(b"label,p\n")
            while True:
                self.stream.write(rows)
                self.stream.flush()
                self.written += len(rows)
                if self.written > 512 << 10:  # more than a pipe holds: xent is reading
                    self.started.set()
                    time.sleep(0.05)


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, SIGINT_CODE), (signal.SIGTERM, SIGTERM_CODE)]
)
def test_signal_while_copying_stdin(work: Path, signum: int, code: int) -> None:
    """``xent score -`` from an endless pipe, interrupted while it copies standard input:
    the copy (``xent-stdin-*`` in TMPDIR) and the output's temporary file are removed."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "xent", "score", "-", "--output", "out.json", "-f", "json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=work,
        env=fixed_env(tmpdir_env(work)),
        start_new_session=True,
    )
    feeder = EndlessRows(proc.stdin)

    def interrupt() -> None:
        assert feeder.started.wait(30), "xent never read its standard input"
        time.sleep(0.5)
        proc.send_signal(signum)

    result = collect(proc, ["score", "-"], None, started, TIMEOUT, before_reading=interrupt)
    assert not result.timed_out, result.describe()
    assert result.rc == code, result.describe()
    assert b"Traceback" not in result.err
    assert len(result.err.splitlines()) <= 1, result.describe()
    assert leftovers(work) == [], result.describe()
    assert not (work / "out.json").exists()


def _wait_for_wchan(pid: int, words: Sequence[str], seconds: float) -> bool:
    """Wait until a thread of ``pid`` sleeps in a kernel function containing one of ``words``
    (Linux ``/proc/PID/task/*/wchan``); without /proc, just wait ``seconds``."""
    deadline = time.monotonic() + seconds
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.exists():
        time.sleep(seconds)
        return True
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for task in tasks.iterdir():
                wchan = (task / "wchan").read_text()
                if any(word in wchan for word in words):
                    return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, SIGTERM_CODE), (signal.SIGINT, SIGINT_CODE)]
)
def test_signal_while_writing_output_to_a_fifo(work: Path, signum: int, code: int) -> None:
    """``--output`` names a FIFO nobody reads: xent blocks publishing its result. A signal
    then must leave no ``.xent-*.tmp`` beside the output and nothing in TMPDIR."""
    out = work / "out"
    out.mkdir()
    os.mkfifo(out / "result.json")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "xent", "score", "plain.csv", "-f", "json", "-o", "out/result.json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=work,
        env=fixed_env(tmpdir_env(work)),
        start_new_session=True,
    )

    def interrupt() -> None:
        _wait_for_wchan(proc.pid, ["fifo", "partner", "pipe"], 20)
        time.sleep(0.2)
        proc.send_signal(signum)

    result = collect(proc, ["score"], None, started, TIMEOUT, before_reading=interrupt)
    assert not result.timed_out, result.describe()
    assert result.rc == code, result.describe()
    assert sorted(p.name for p in out.iterdir()) == ["result.json"], result.describe()
    assert leftovers(work / "tmp") == []


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, SIGTERM_CODE), (signal.SIGINT, SIGINT_CODE)]
)
def test_signal_while_blocked_on_stdout(work: Path, signum: int, code: int) -> None:
    """CSV losses into a pipe nobody reads: xent blocks writing stdout, holding its
    temporary copy of the result (in TMPDIR today). A signal then: clean up, 143/130."""
    rng = np.random.default_rng(3)
    n = 30_000
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < p).astype(int)
    (work / "many.csv").write_text(
        "label,p\n" + "".join(f"{a},{float(b)!r}\n" for a, b in zip(y, p, strict=True))
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "xent", "score", "many.csv", "--format", "csv"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=work,
        env=fixed_env(tmpdir_env(work)),
        start_new_session=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready, "no output within 60 s"
    _wait_for_wchan(proc.pid, ["pipe_write", "pipe_wait"], 10)
    assert proc.poll() is None, f"xent ended (exit {proc.returncode}) before it was signalled"
    proc.send_signal(signum)
    result = collect(proc, ["score"], None, started, TIMEOUT)
    assert not result.timed_out, result.describe()
    assert result.rc == code, result.describe()
    assert b"Traceback" not in result.err
    assert leftovers(work) == [], result.describe()


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_output_keeps_the_mode_of_the_file_it_replaces(work: Path, mode: int) -> None:
    """``--output secret.json`` over an existing 0600 file leaves a 0644 file today."""
    target = work / "secret.json"
    target.write_text("old\n")
    target.chmod(mode)
    result = run(["score", "plain.csv", "--format", "json", "--output", "secret.json"], cwd=work)
    assert_ok(result)
    assert strict_json(target.read_bytes())["n_samples"] == 10
    assert stat.S_IMODE(target.stat().st_mode) == mode


# === 6. the world's faults are not bugs (exit 74, not 70) ========================================


def test_output_is_a_directory(work: Path) -> None:
    (work / "outdir").mkdir()
    result = run(["score", "plain.csv", "--format", "json", "--output", "outdir"], cwd=work)
    assert_error(result, {USAGE, ENVIRONMENT}, "outdir")
    assert list((work / "outdir").iterdir()) == []
    assert leftovers(work) == []


def test_output_directory_is_refused_before_scoring(work: Path) -> None:
    """With an input that would fail (exit 4), the unusable output is what is reported."""
    (work / "outdir").mkdir()
    text = (work / "plain.csv").read_text().replace("0.97,0.02,0.01", "0.97,0.02,0.5")
    (work / "bad.csv").write_text(text)
    result = run(["score", "bad.csv", "--format", "json", "--output", "outdir"], cwd=work)
    assert_error(result, {USAGE, ENVIRONMENT}, "outdir")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("fmt", ["json", "table", "csv"])
def test_output_dev_full(work: Path, fmt: str) -> None:
    result = run(["score", "plain.csv", "--format", fmt, "--output", "/dev/full"], cwd=work)
    assert_error(result, ENVIRONMENT, "/dev/full")
    assert leftovers(work) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_stdout_dev_full(work: Path) -> None:
    result = run(["score", "plain.csv", "--format", "json"], cwd=work, shell=">/dev/full")
    assert_error(result, ENVIRONMENT)
    assert leftovers(work) == []


@contextlib.contextmanager
def small_filesystem(where: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root and a working ``mount`` needed)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    where.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> None:
    with contextlib.suppress(OSError), open(directory / "filler", "wb") as out:
        while True:
            out.write(b"\0" * 4096)
            out.flush()


def test_output_on_a_full_filesystem(work: Path) -> None:
    """ENOSPC while writing --output: exit 74, the old file untouched, no temporary left."""
    with small_filesystem(work / "full", "256k") as full:
        (full / "result.json").write_text("previous\n")
        _fill(full)
        result = run(["score", "plain.csv", "-f", "json", "-o", "full/result.json"], cwd=work)
        problems = error_problems(result, ENVIRONMENT, "result.json")
        left = leftovers(full)
        previous = (full / "result.json").read_text()
    assert not problems, f"{'; '.join(problems)}\n{result.describe()}"
    assert left == []
    assert previous == "previous\n"


def test_stdin_copy_on_a_full_tmpdir(work: Path) -> None:
    """Standard input copied to a full TMPDIR: exit 74, and the partial copy removed."""
    body = b"label,p\n" + b"1,0.75\n0,0.25\n" * 50_000
    with small_filesystem(work / "fulltmp", "256k") as full:
        result = run(
            ["score", "-", "--format", "json"], cwd=work, stdin=body, env={"TMPDIR": str(full)}
        )
        problems = error_problems(result, ENVIRONMENT)
        left = leftovers(full)
    assert not problems, f"{'; '.join(problems)}\n{result.describe()}"
    assert left == []


def test_output_on_a_read_only_filesystem(work: Path) -> None:
    with small_filesystem(work / "ro", "64k", read_only=True):
        result = run(["score", "plain.csv", "-f", "json", "-o", "ro/result.json"], cwd=work)
    assert_error(result, ENVIRONMENT, "result.json")


CLOSED_STDOUT = {
    "score-table": ["score", "plain.csv"],
    "score-json": ["score", "plain.csv", "--format", "json"],
    "score-csv": ["score", "plain.csv", "--format", "csv"],
    "explain": ["explain", "plain.csv", "--row", "1"],
    "compare": ["compare", "plain.csv", "plain.csv"],
}


@pytest.mark.parametrize("args", CLOSED_STDOUT.values(), ids=CLOSED_STDOUT.keys())
def test_closed_stdout(work: Path, args: list[str]) -> None:
    """``xent ... >&-``: nowhere to write the result is the environment's fault (74)."""
    result = run(args, cwd=work, shell=">&-")
    assert_error(result, ENVIRONMENT)


def test_closed_stdout_with_output_file_is_fine(work: Path) -> None:
    result = run(["score", "plain.csv", "-f", "json", "-o", "r.json"], cwd=work, shell=">&-")
    assert_ok(result)
    assert strict_json((work / "r.json").read_bytes())["n_samples"] == 10


CLOSED_STDERR = {
    "ok": (["score", "plain.csv", "--format", "json"], OK),
    "gate-fails": (["score", "plain.csv", "--max-loss", "0.01"], GATE),
    "missing-file": (["score", "missing.csv"], UNREADABLE),
    "bad-option": (["score", "plain.csv", "--unit", "furlongs"], USAGE),
    "explain": (["explain", "plain.csv", "--row", "2"], OK),
}


@pytest.mark.parametrize(("args", "code"), CLOSED_STDERR.values(), ids=CLOSED_STDERR.keys())
def test_closed_stderr_keeps_the_exit_code(work: Path, args: list[str], code: int) -> None:
    """``xent ... 2>&-`` exits 1 whatever happened today; the exit code must not change."""
    result = run(args, cwd=work, shell="2>&-")
    assert not result.timed_out
    assert result.rc == code, result.describe()
    if code == OK and "json" in args:
        assert strict_json(result.out)["n_samples"] == 10


CLOSED_PIPE = {
    "explain": ["explain", "plain.csv", "--row", "1"],
    "explain-json": ["explain", "plain.csv", "--row", "1", "--json"],
    "score-table": ["score", "plain.csv"],
    "score-csv": ["score", "plain.csv", "--format", "csv"],
    "compare": ["compare", "plain.csv", "plain.csv"],
    "compare-json": ["compare", "plain.csv", "plain.csv", "--format", "json"],
}


@pytest.mark.parametrize("args", CLOSED_PIPE.values(), ids=CLOSED_PIPE.keys())
def test_reader_gone_ends_quietly(work: Path, args: list[str]) -> None:
    """``xent ... | head -c0``: the pipe's reader is gone before xent writes (EPIPE).
    xent ends quietly with its normal exit code, as Unix tools do."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "xent", *args],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=work,
            env=fixed_env(),
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (OK, b"")


def test_closed_stdin_for_dash(work: Path) -> None:
    """``xent score - <&-``: exit 70 (``'NoneType' object has no attribute 'buffer'``) today."""
    result = run(["score", "-"], cwd=work, stdin=None, shell="<&-")
    assert_error(result, {UNREADABLE, ENVIRONMENT})


def _other_filesystem(work: Path) -> Path:
    for candidate in ("/dev/shm", "/run/shm", f"/run/user/{os.getuid()}", "/var/tmp"):
        path = Path(candidate)
        with contextlib.suppress(OSError):
            if (
                path.is_dir()
                and os.access(path, os.W_OK)
                and path.stat().st_dev != work.stat().st_dev
            ):
                return path
    pytest.skip("no writable directory on another filesystem than the test's")


@pytest.mark.parametrize("exists", [False, True], ids=["new-target", "existing-target"])
def test_output_symlink_to_another_filesystem(work: Path, exists: bool) -> None:
    """``--output link.json`` where the link points to another filesystem: the temporary
    file beside the link cannot be renamed there (EXDEV, exit 70 today). README: a link
    is followed, the file it points to is replaced."""
    other = Path(tempfile.mkdtemp(prefix="xent-hostile-", dir=_other_filesystem(work)))
    try:
        target = other / "result.json"
        if exists:
            target.write_text("previous\n")
        (work / "link.json").symlink_to(target)
        result = run(["score", "plain.csv", "-f", "json", "-o", "link.json"], cwd=work)
        if result.rc == OK:
            assert strict_json(target.read_bytes())["n_samples"] == 10
        else:
            assert_error(result, ENVIRONMENT, "link.json")
            assert not exists or target.read_text() == "previous\n"
        assert (work / "link.json").is_symlink()
        assert leftovers(work, other) == [], result.describe()
    finally:
        shutil.rmtree(other, ignore_errors=True)


@pytest.mark.parametrize("device", ["/dev/stdout", "/dev/stderr"])
def test_output_to_a_standard_stream_device(work: Path, device: str) -> None:
    """``--output /dev/stdout`` (a common idiom in scripts) into a pipe: the result is
    written there. (It worked before the rewrite; after it, exit 74 ``cannot write
    here: No such file or directory``: the temporary file is made beside
    ``realpath(/dev/stdout)``, i.e. beside ``pipe:[...]``.)"""
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    result = run(["score", "plain.csv", "--format", "json", "--output", device], cwd=work)
    assert_ok(result)
    written = result.out if device == "/dev/stdout" else result.err
    assert strict_json(written)["n_samples"] == 10
    assert leftovers(work) == []


@pytest.mark.parametrize("which", ["predictions", "labels", "baseline"])
def test_output_onto_an_input_is_refused(work: Path, which: str) -> None:
    """``-o`` naming one of the run's own inputs (a typo away: ``xent score p.csv -o
    p.csv``) replaces the input with the report today, after reading it. It must be
    refused (exit 2, or 74) and the input left as it was."""
    labels = "id,label\n" + "".join(
        f"{line.split(',')[0]},{line.split(',')[1]}\n"
        for line in mh.PLAIN_CSV.decode().splitlines()[1:]
    )
    (work / "labels.csv").write_text(labels)
    shutil.copyfile(work / "plain.csv", work / "preds.csv")
    baseline = run(["score", "plain.csv", "--format", "json", "-o", "base.json"], cwd=work)
    assert_ok(baseline)
    target = {"predictions": "preds.csv", "labels": "labels.csv", "baseline": "base.json"}[which]
    before = (work / target).read_bytes()
    args = ["score", "preds.csv", "--labels", "labels.csv", "--id-col", "id"]
    args += ["--baseline", "base.json", "--format", "json", "--output", target]
    result = run(args, cwd=work)
    assert_error(result, {USAGE, ENVIRONMENT}, target)
    assert (work / target).read_bytes() == before


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_narrow_output_encoding(work: Path, encoding: str) -> None:
    """PYTHONIOENCODING=ascii (a C locale without UTF-8 mode): the table's box drawing
    and the class names cannot be encoded. Exit 70 (UnicodeEncodeError) today."""
    for args in (["score", "plain.csv"], ["score", "escapes.csv", "--format", "csv"]):
        result = run(args, cwd=work, env={"PYTHONIOENCODING": encoding})
        if result.rc != OK:
            assert_error(result, ENVIRONMENT)


# === 7. valid input refused ======================================================================


@slow
def test_csv_header_over_the_schema_window(work: Path) -> None:
    """25,000 classes ``prob_0..prob_24999``: a 275 KB header (``Empty CSV file or block``)."""
    data, y, proba = mh.wide_header_csv()
    assert data.index(b"\n") > mh.SCHEMA_BYTES
    (work / "wide.csv").write_bytes(data)
    result = run(["score", "wide.csv", "--format", "json", "--top", "0"], cwd=work)
    assert_ok(result)
    expected = log_loss(y, proba, labels=np.arange(proba.shape[1]))
    assert strict_json(result.out)["aggregate"]["loss"] == pytest.approx(expected, rel=1e-9)


def test_csv_header_of_long_names(work: Path) -> None:
    """Three classes with 100,000-character names: a 300 KB header, four columns."""
    data, labels, proba, names = mh.long_names_csv()
    (work / "long-names.csv").write_bytes(data)
    result = run(["score", "long-names.csv", "--format", "json"], cwd=work)
    assert_ok(result)
    y = [names.index(label) for label in labels]
    expected = log_loss(y, proba, labels=[0, 1, 2])
    assert strict_json(result.out)["aggregate"]["loss"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("size", [1 << 20, mh.BLOCK_BYTES + (2 << 20)], ids=["1MiB", "6MiB"])
def test_csv_long_first_record(work: Path, size: int) -> None:
    """A first record over ~512 KiB (an id of 1 MiB; one longer than the 4 MiB parser
    block): ``straddling object straddles two block boundaries`` (exit 3) today. The
    same record later in the file scores."""
    data, answer = mh.long_id_csv(size)
    (work / "long-id.csv").write_bytes(data)
    result = run(["score", "long-id.csv", "--format", "json", "--top", "0"], cwd=work)
    assert_ok(result)
    assert strict_json(result.out)["aggregate"]["loss"] == pytest.approx(answer.loss(), rel=1e-9)


def test_json_lines_types_change_after_the_first_block(work: Path) -> None:
    """0/1 integer predictions for the first 4 MB, then 0.5: the predictions are read as
    numbers whatever the first block held."""
    data, answer = mh.late_float_jsonl()
    (work / "late.jsonl").write_bytes(data)
    result = run(["score", "late.jsonl", "--format", "json", "--top", "0"], cwd=work)
    assert_ok(result)
    report = strict_json(result.out)
    assert report["n_samples"] == len(answer.y)
    assert report["aggregate"]["loss"] == pytest.approx(answer.loss(), rel=1e-9)


def test_json_lines_id_from_numbers_to_text_is_one_clear_error(work: Path) -> None:
    """Integer ids for the first 4 MB, then ``x-1``: a column whose values change type
    cannot be read as one column (pyarrow's JSON reader keeps the first type); the
    error names the column and how to write it."""
    data, _ = mh.late_text_id_jsonl()
    (work / "late.jsonl").write_bytes(data)
    result = run(["score", "late.jsonl", "--format", "json", "--top", "0"], cwd=work)
    assert_error(result, UNREADABLE, "late.jsonl")
    assert b"column 'id' holds number values and later string values" in result.err


@slow
@pytest.mark.parametrize("large", [False, True], ids=["binary", "large_binary"])
def test_parquet_binary_ids(work: Path, large: bool) -> None:
    """Ids stored as BINARY print as ``"b'a1'"`` today; they are text to a user."""
    answer = mh.binary_id_parquet(work / "ids.parquet", [b"a1", b"a2", b"a3"], large=large)
    result = run(["score", "ids.parquet", "--format", "json", "--top", "3"], cwd=work)
    assert_ok(result)
    report = strict_json(result.out)
    assert sorted(row["id"] for row in report["top"]) == ["a1", "a2", "a3"]
    assert report["aggregate"]["loss"] == pytest.approx(answer.loss(), rel=1e-12)
    table = run(["score", "ids.parquet"], cwd=work)
    assert_ok(table)
    assert b"b'a" not in table.out, table.out.decode()
    losses = run(["score", "ids.parquet", "--format", "csv"], cwd=work)
    assert_ok(losses)
    assert [r["id"] for r in csv.DictReader(io.StringIO(losses.out.decode()))] == ["a1", "a2", "a3"]
    explained = run(["explain", "ids.parquet", "--id", "a2"], cwd=work)
    assert_ok(explained)


@slow
def test_parquet_binary_ids_not_utf8(work: Path) -> None:
    """BINARY ids that are not UTF-8 (``\\xff\\xfe``) or hold escapes: exit 70 in CSV today."""
    mh.binary_id_parquet(work / "ids.parquet", [b"a1", b"\xff\xfe", b"a\x1b[2J"])
    for fmt in ("json", "csv", "table", "markdown"):
        result = run(["score", "ids.parquet", "--format", fmt], cwd=work)
        if result.rc != OK:
            assert_error(result, UNREADABLE, "ids.parquet")
            continue
        if fmt == "json":
            strict_json(result.out)
        elif fmt == "csv":
            assert len(list(csv.DictReader(io.StringIO(result.out.decode())))) == 3
        else:
            assert_no_controls(result.out, fmt, visible=False)


# === 8. malformed baselines ======================================================================


@pytest.fixture
def baseline_variants(baseline: dict[str, Any]) -> dict[str, bytes]:
    return mh.baseline_variants(baseline)


def test_real_baseline_passes(work: Path, baseline: dict[str, Any]) -> None:
    """The control: the baseline the variants are made from is accepted."""
    result = run(
        ["score", "plain.csv", "--baseline", "baseline.json", "--max-increase", "5%"], cwd=work
    )
    assert_ok(result)


VARIANT_NAMES = list(
    mh.baseline_variants(
        json.loads(
            '{"schema": "xent.score/1", "task": "multiclass", "unit": "nats",'
            ' "classes": ["a"], "aggregate": {"loss": 0.25}}'
        )
    )
)


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_malformed_baseline(work: Path, baseline_variants: dict[str, bytes], variant: str) -> None:
    """Not an object, wrong schema, a loss that is missing / text / bool / null / inf /
    nan / negative (a gate that passes whatever the loss), classes not a list, deep
    nesting, a 5000-digit number, bytes that are not UTF-8: exit 3, one line naming it."""
    name = f"base-{variant}.json"
    (work / name).write_bytes(baseline_variants[variant])
    result = run(["score", "plain.csv", "--baseline", name, "--max-increase", "5%"], cwd=work)
    assert_error(result, UNREADABLE, name)


# === 9. found on the way: other hostile paths ====================================================


def test_named_pipe_as_input_does_not_hang(work: Path) -> None:
    """A FIFO given as the predictions file (``mkfifo p.csv; producer > p.csv &``): xent
    opens it once to infer the schema, then again to read it, and waits for a second
    writer forever today. Reading it like standard input, or refusing it, is fine."""
    fifo = work / "pipe.csv"
    os.mkfifo(fifo)
    data = (work / "plain.csv").read_bytes()
    stop = threading.Event()

    def produce() -> None:
        # Open without blocking (ENXIO until xent opens it for reading), write once.
        while not stop.is_set():
            try:
                handle = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.05)
                continue
            os.set_blocking(handle, True)
            with contextlib.suppress(OSError):
                os.write(handle, data)
            os.close(handle)
            return

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        result = run(["score", "pipe.csv", "--format", "json"], cwd=work, timeout=30)
    finally:
        stop.set()
    assert not result.timed_out, result.describe()
    if result.rc == OK:
        assert strict_json(result.out)["n_samples"] == 10
    else:
        assert_error(result, UNREADABLE, "pipe.csv")


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "npy", "arrow", "parquet"])
def test_endless_device_as_input(work: Path, path: str, fmt: str) -> None:
    """An endless device read as each format: a clean exit 3 in bounded time and memory."""
    if not Path(path).exists():
        pytest.skip(f"no {path}")
    result = run(["score", path, "--input-format", fmt], cwd=work, timeout=30)
    assert_error(result, UNREADABLE, path)
    assert result.peak_rss < MEMORY_BOUND, result.describe()
