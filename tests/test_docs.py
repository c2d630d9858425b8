"""The README is tested: its commands run, its outputs are real, its lists are complete.

Conventions the README follows (and these tests rely on):

- In a ```` ```console ```` block, a line starting with ``$ `` is a command and the
  lines after it, up to the next ``$ `` line, are its expected output: standard output
  and standard error together, in the order they are written.
- In a ```` ```sh ```` block every line is a command (an optional ``$ `` prompt is
  dropped). A ```` ```text ````, ```` ```json ````, ... block right after it (only blank
  lines between) is the expected output of the block's last command.
- A command ends with ``# exit N`` when it exits with code N; otherwise it exits with 0.
- ``...`` alone on a line of an expected output matches any number of lines. The HTML
  comment :data:`SKIP_OUTPUT` right before a block turns off output checking for it
  (its commands still run), for outputs that cannot be reproduced.
- The Quick start block is not run here (it installs the package); test (g) pins it.

Commands run through ``bash`` with every ``xent`` replaced by ``python -m xent`` of the
interpreter running the tests, in a scratch directory holding a copy of ``examples/``,
so their paths and messages are the ones the README shows and commands that write
files (``--output``) leave the checkout untouched.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import xent

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"

QUICK_START = (
    "pip install . && xent score examples/iris.csv",
    "pip install -e '.[test]' && ruff check . && mypy && pytest -q",
)
#: Put right before a block: run its commands, but do not compare their output.
SKIP_OUTPUT = "<!-- docs: output not checked -->"

SHELL_LANGS = frozenset({"sh", "shell", "bash", "console"})
OUTPUT_LANGS = frozenset({"text", "output", "json", "csv", "markdown", "md"})

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
_EXIT = re.compile(r"\s#\s*exit\s+(?P<code>\d+)\s*$")
_XENT = re.compile(r"(^|[|;&(]\s*)xent(?=\s|$)")
_VERSION = re.compile(r'"xent": "[^"]*"')
_OPTION_LINE = re.compile(r"^\s{1,4}((?:-[a-zA-Z], )?--[a-z][a-z0-9-]*)")


@dataclass(frozen=True)
class Block:
    """A fenced code block of the README."""

    lang: str
    lines: list[str]
    line: int  # 1-based line number of the opening fence
    before: str  # the text between the previous block and this one


@dataclass(frozen=True)
class Command:
    """A shell command shown in the README, with what it should do."""

    text: str
    line: int
    exit_code: int
    output: list[str] | None  # None: not shown, or not checked


def parse_blocks(text: str) -> list[Block]:
    """Every fenced code block, with its language and the prose before it."""
    blocks: list[Block] = []
    lines = text.split("\n")
    prose: list[str] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            prose.append(lines[i])
            i += 1
            continue
        indent, start = len(match.group("indent")), i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        blocks.append(Block(match.group("lang") or "text", body, start + 1, "\n".join(prose)))
        prose = []
        i += 1
    return blocks


TEXT = README.read_text(encoding="utf-8")
BLOCKS = parse_blocks(TEXT)


def section(title: str) -> tuple[int, int]:
    """The 1-based line range of the ``##`` section with this title."""
    lines = TEXT.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip() == f"## {title}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return start + 1, end


def blocks_in(title: str, lang: str | None = None) -> list[Block]:
    """The code blocks of one ``##`` section, optionally only those of one language."""
    start, end = section(title)
    return [b for b in BLOCKS if start < b.line <= end and (lang is None or b.lang == lang)]


QUICK_START_BLOCK = blocks_in("Quick start")[0]


def _expected_exit(command: str) -> int:
    match = _EXIT.search(command)
    return int(match.group("code")) if match else 0


def readme_commands() -> list[Command]:
    """Every command of the README's shell blocks except the Quick start."""
    found: list[Command] = []
    for index, block in enumerate(BLOCKS):
        if block.lang not in SHELL_LANGS or block is QUICK_START_BLOCK:
            continue
        checked = SKIP_OUTPUT not in block.before
        if block.lang == "console":
            current: tuple[str, int] | None = None
            output: list[str] = []
            for offset, line in enumerate([*block.lines, "$ <end>"]):
                if not line.startswith("$ "):
                    output.append(line)
                    continue
                if current is not None:
                    text, at = current
                    found.append(
                        Command(text, at, _expected_exit(text), output if checked else None)
                    )
                current, output = (line[2:].strip(), block.line + 1 + offset), []
            continue
        lines = [
            (line.removeprefix("$ ").strip(), block.line + 1 + offset)
            for offset, line in enumerate(block.lines)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        following = BLOCKS[index + 1] if index + 1 < len(BLOCKS) else None
        shown = None
        if (
            following is not None
            and following.lang in OUTPUT_LANGS
            and following.before.strip() in ("", SKIP_OUTPUT)
        ):
            shown = following.lines if SKIP_OUTPUT not in following.before else None
        for n, (text, at) in enumerate(lines):
            last = n == len(lines) - 1
            found.append(
                Command(text, at, _expected_exit(text), shown if last and checked else None)
            )
    return found


COMMANDS = readme_commands()


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CI", "TTY_COMPATIBLE")
    }
    env.update(COLUMNS="100", LINES="50", TERM="dumb", LC_ALL="C", PYTHONIOENCODING="utf-8")
    return env


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory laid out like the repository root, with a copy of examples/."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run a README command line with ``xent`` meaning this interpreter's ``-m xent``."""
    xent_command = f"{shlex.quote(sys.executable)} -m xent"
    line = _XENT.sub(lambda m: m.group(1) + xent_command, command)
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        cwd=cwd,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
        check=False,
    )


def _normalise(text: str) -> list[str]:
    lines = [_VERSION.sub('"xent": "<version>"', line.rstrip()) for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def assert_output(expected: list[str], actual: str, where: str) -> None:
    """Compare an output with the README's, where a ``...`` line matches any lines."""
    want = _normalise("\n".join(expected))
    got = _normalise(actual)
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line.strip() == "..." else re.escape(line) + r"\n" for line in want
    )
    if re.fullmatch(pattern, "".join(line + "\n" for line in got)) is None:
        pytest.fail(
            f"{where}: the output differs from the README's\n--- README\n"
            + "\n".join(want)
            + "\n--- actual\n"
            + "\n".join(got)
        )


# (a), (b): every command runs with the documented exit code and output ----------


def test_readme_has_commands() -> None:
    assert len(COMMANDS) >= 20
    assert sum(c.output is not None for c in COMMANDS) >= 10


@pytest.mark.parametrize("command", COMMANDS, ids=[f"README.md:{c.line}" for c in COMMANDS])
def test_readme_command(command: Command, scratch: Path) -> None:
    result = run_shell(command.text, scratch)
    output = result.stdout.decode("utf-8", errors="replace")
    where = f"README.md:{command.line}: {command.text}"
    assert result.returncode == command.exit_code, (
        f"{where}\nexit code {result.returncode}, README implies {command.exit_code}\n{output}"
    )
    assert "Traceback" not in output, f"{where}\n{output}"
    if command.output is not None:
        assert_output(command.output, output, where)


def test_xent_commands_use_the_entry_point() -> None:
    xent_lines = [c for c in COMMANDS if _XENT.search(c.text)]
    assert len(xent_lines) >= 20
    assert {"score", "compare"} <= {
        word for c in xent_lines for word in re.findall(r"(?:^|[|;&(]\s*)xent\s+(\w+)", c.text)
    }


# (c): the Python API example runs and prints what the README says -----------------


def test_python_api_example(scratch: Path) -> None:
    blocks = blocks_in("Python API")
    code_index = next(i for i, b in enumerate(blocks) if b.lang == "python")
    code = blocks[code_index]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile("\n".join(code.lines), f"README.md:{code.line}", "exec"), {})
    shown = blocks[code_index + 1] if code_index + 1 < len(blocks) else None
    if shown is not None and shown.lang in OUTPUT_LANGS and SKIP_OUTPUT not in shown.before:
        assert_output(shown.lines, printed.getvalue(), f"README.md:{code.line}")


# (d): every option of every command is documented ---------------------------------


def _help(*command: str) -> str:
    env = _env()
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [sys.executable, "-m", "xent", *command, "--help"],
        capture_output=True,
        env=env,
        timeout=60,
        check=True,
    )
    return result.stdout.decode("utf-8")


def help_options(*command: str) -> list[str]:
    """Every option name (long and short) that ``xent COMMAND --help`` lists."""
    names: list[str] = []
    for line in _help(*command).splitlines():
        match = _OPTION_LINE.match(line)
        if match:
            names.extend(name.strip() for name in match.group(1).split(","))
    return names


def _documented(option: str) -> bool:
    """True when the README's Options section names ``option``."""
    start, end = section("Options")
    options_text = "\n".join(TEXT.split("\n")[start - 1 : end])
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", options_text) is not None


def help_commands() -> list[str]:
    """The commands ``xent --help`` lists."""
    listing = _help().split("Commands:", 1)[1]
    return re.findall(r"^\s{2}(\w+)\s", listing, flags=re.MULTILINE)


def test_every_option_is_in_the_readme() -> None:
    commands = help_commands()
    assert {"score", "compare"} <= set(commands)
    for command in [(), *((name,) for name in commands)]:
        options = help_options(*command)
        assert "--help" in options
        missing = [option for option in options if not _documented(option)]
        assert not missing, (
            f"xent {' '.join(command)} options missing from the Options section: {missing}"
        )


def test_every_command_is_in_the_readme() -> None:
    for name in help_commands():
        assert f"xent {name}" in TEXT, f"xent {name} is not documented in README.md"


# (e): every example file is referenced and used -----------------------------------


EXAMPLE_FILES = sorted(
    p.name for p in EXAMPLES.iterdir() if p.is_file() and not p.name.startswith(".")
)


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"examples/{re.escape(name)}(?![\w.-])", text) is not None


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_file_is_documented_and_used(name: str, scratch: Path) -> None:
    assert _mentions(TEXT, name), f"examples/{name} is not referenced from README.md"
    if any(_mentions(c.text, name) for c in COMMANDS):
        return  # run, with its exit code and output, by test_readme_command
    result = run_shell(f"xent score examples/{name} --format json", scratch)
    assert result.returncode == 0, result.stdout.decode("utf-8", errors="replace")


def test_readme_links_to_existing_files() -> None:
    for path in sorted(set(re.findall(r"examples/[\w./-]*\w", TEXT))):
        if path.startswith("examples/missing"):
            continue  # the README's example of a missing file
        assert (ROOT / path).exists(), f"README.md mentions {path}, which does not exist"


def test_example_files_are_small() -> None:
    for name in EXAMPLE_FILES:
        path = EXAMPLES / name
        if path.suffix in (".csv", ".tsv"):
            rows = path.read_text(encoding="utf-8").count("\n") - 1
            assert rows <= 20, f"examples/{name} has {rows} rows; keep examples tiny"
        assert path.stat().st_size < 8192, f"examples/{name} is not tiny"


def test_baseline_is_the_saved_report_of_iris(scratch: Path) -> None:
    # README: baseline.json is `xent score examples/iris.csv --format json --output ...`.
    result = run_shell("xent score examples/iris.csv --format json", scratch)
    assert result.returncode == 0
    fresh = json.loads(result.stdout)
    saved = json.loads((EXAMPLES / "baseline.json").read_text(encoding="utf-8"))
    fresh.pop("xent")
    saved.pop("xent")
    assert saved == fresh, "examples/baseline.json is stale: regenerate it as the README says"


# The JSON schemas list every key xent writes ---------------------------------------


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _schema_block(schema: str) -> str:
    return next(
        "\n".join(b.lines)
        for b in BLOCKS
        if b.lang == "text" and any(f'"schema": "{schema}"' in line for line in b.lines)
    )


@pytest.mark.parametrize(
    ("schema", "command"),
    [
        (
            "xent.score/1",
            "xent score examples/iris.csv --format json --per-sample --metrics all "
            "--max-loss 1 --max-class-loss 1",
        ),
        (
            "xent.compare/1",
            "xent compare examples/iris.csv examples/iris_v2.csv --format json --seed 1 "
            "--max-increase 100%",
        ),
    ],
)
def test_json_schema_lists_every_key(schema: str, command: str, scratch: Path) -> None:
    result = run_shell(command, scratch)
    assert result.returncode == 0, result.stdout.decode("utf-8", errors="replace")
    data = json.loads(result.stdout)
    assert data["schema"] == schema
    block = _schema_block(schema)
    missing = sorted(key for key in _keys(data) if f'"{key}"' not in block)
    assert not missing, f"the {schema} schema in README.md does not list {missing}"


# (f), (g) ---------------------------------------------------------------------------


def test_installed_version_matches_package() -> None:
    assert importlib.metadata.version("xent") == xent.__version__


def test_quick_start_is_exactly_the_two_commands() -> None:
    assert QUICK_START_BLOCK.lang == "sh"
    lines = [line for line in QUICK_START_BLOCK.lines if line.strip()]
    assert tuple(lines) == QUICK_START


def test_quick_start_second_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").replace(" --quiet", "")
    assert QUICK_START[1] in ci
