"""The documentation is tested: its commands run, its outputs are real, its lists are complete.

The pages are README.md and every docs/*.md. Conventions they follow (and these
tests rely on):

- In a ```` ```console ```` block, a line starting with ``$ `` is a command and the
  lines after it, up to the next ``$ `` line, are its expected output: standard output
  and standard error together, in the order they are written.
- In a ```` ```sh ```` block every line is a command (an optional ``$ `` prompt is
  dropped). A ```` ```text ````, ```` ```json ````, ```` ```markdown ````, ... block
  right after it (only blank lines between) is the expected output of the block's last
  command.
- The commands of one block run in order, in one scratch directory, so a block may
  make a file (``python -c '...'``) and score it in the next command.
- A command ends with ``# exit N`` when it exits with code N; otherwise it exits with 0.
- ``...`` alone on a line of an expected output matches any number of lines. The HTML
  comment :data:`SKIP_OUTPUT` right before a block turns off output checking for it
  (its commands still run), for outputs that cannot be reproduced.
- The HTML comment :data:`NOT_RUN` right before a block says its commands cannot run
  here (they install packages, need a Dask cluster or shards, or take minutes); test
  (h) checks that only such commands are in these blocks. The README's Quick start is
  not run either (it installs the package); test (g) pins it.
- A ```` ```python ```` block is executed; the output block right after it (only
  blank lines or the word "prints" between) is what it prints.
- Markdown written by ``--format markdown`` is shown in a ```` ```markdown ```` block,
  never as headings of the page (test (i)).

Commands run through ``bash`` with every ``xent`` replaced by ``python -m xent`` and
every ``python`` by the interpreter running the tests, in a scratch directory laid
out like the repository (a copy of ``examples/`` and ``docs/examples/``), so their
paths and messages are the ones the pages show and commands that write files leave
the checkout untouched.
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
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import xent

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
DOC_EXAMPLES = DOCS / "examples"

QUICK_START = (
    "pip install . && xent score examples/iris.csv",
    "pip install -e '.[test]' && ruff check . && ruff format --check . && mypy && pytest -q",
)
#: Put right before a block: run its commands, but do not compare their output.
SKIP_OUTPUT = "<!-- docs: output not checked -->"
#: Put right before a block whose commands cannot run in the test suite.
NOT_RUN = "<!-- docs: not run -->"

SHELL_LANGS = frozenset({"sh", "shell", "bash", "console"})
OUTPUT_LANGS = frozenset({"text", "output", "json", "csv", "markdown", "md"})

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
_EXIT = re.compile(r"\s#\s*exit\s+(?P<code>\d+)\s*$")
# A command starts a line or follows | ; & or (, maybe after VARIABLE=value assignments.
_XENT = re.compile(r"((?:^|[|;&(]\s*)(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)xent(?=\s|$)")
_PYTHON = re.compile(r"((?:^|[|;&(]\s*)(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)python(?=\s|$)")
_VERSION = re.compile(r'"xent": "[^"]*"')
_OPTION_LINE = re.compile(r"^\s{1,4}((?:-[a-zA-Z], )?--[a-z][a-z0-9-]*)")


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page."""

    lang: str
    lines: list[str]
    line: int  # 1-based line number of the opening fence
    before: str  # the text between the previous block and this one


@dataclass(frozen=True)
class Command:
    """A shell command shown in a page, with what it should do."""

    text: str
    line: int
    exit_code: int
    output: list[str] | None  # None: not shown, or not checked


@dataclass(frozen=True)
class Script:
    """The commands of one shell block, run in order in one scratch directory."""

    page: str
    line: int
    commands: list[Command]


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


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The 1-based numbers and text of the lines outside fenced code blocks."""
    out: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.split("\n"), start=1):
        if _FENCE.match(line) or (fenced and line.strip() == "```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


@dataclass(frozen=True)
class Page:
    """A Markdown page of the documentation."""

    name: str  # path from the repository root, as the test ids show it
    path: Path
    text: str
    blocks: list[Block]

    @classmethod
    def load(cls, path: Path) -> Page:
        text = path.read_text(encoding="utf-8")
        return cls(path.relative_to(ROOT).as_posix(), path, text, parse_blocks(text))

    def section(self, title: str) -> tuple[int, int]:
        """The 1-based line range of the ``##`` section with this title."""
        lines = self.text.split("\n")
        start = next(i for i, line in enumerate(lines) if line.strip() == f"## {title}")
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        return start + 1, end

    def section_text(self, title: str) -> str:
        start, end = self.section(title)
        return "\n".join(self.text.split("\n")[start - 1 : end])

    def blocks_in(self, title: str, lang: str | None = None) -> list[Block]:
        """The code blocks of one ``##`` section, optionally only those of one language."""
        start, end = self.section(title)
        return [
            b for b in self.blocks if start < b.line <= end and (lang is None or b.lang == lang)
        ]


PAGES = [Page.load(README), *(Page.load(p) for p in sorted(DOCS.glob("*.md")))]
PAGE = {page.name: page for page in PAGES}
README_PAGE = PAGE["README.md"]
USAGE = PAGE["docs/usage.md"]
JSON_PAGE = PAGE["docs/json.md"]
QUICK_START_BLOCK = README_PAGE.blocks_in("Quick start")[0]


def _expected_exit(command: str) -> int:
    match = _EXIT.search(command)
    return int(match.group("code")) if match else 0


def _following_output(page: Page, index: int) -> Block | None:
    """The output block shown right after block ``index``, if there is one."""
    following = page.blocks[index + 1] if index + 1 < len(page.blocks) else None
    if following is None or following.lang not in OUTPUT_LANGS:
        return None
    if following.before.strip() not in ("", "prints", SKIP_OUTPUT):
        return None
    return following


def _not_run(page: Page, block: Block) -> bool:
    return NOT_RUN in block.before or block is QUICK_START_BLOCK


def page_scripts(page: Page) -> list[Script]:
    """The shell blocks of a page, each with its commands, except those not run."""
    scripts: list[Script] = []
    for index, block in enumerate(page.blocks):
        if block.lang not in SHELL_LANGS or _not_run(page, block):
            continue
        checked = SKIP_OUTPUT not in block.before
        found: list[Command] = []
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
        else:
            lines = [
                (line.removeprefix("$ ").strip(), block.line + 1 + offset)
                for offset, line in enumerate(block.lines)
                if line.strip() and not line.lstrip().startswith("#")
            ]
            following = _following_output(page, index)
            shown = None
            if following is not None and SKIP_OUTPUT not in following.before:
                shown = following.lines
            for n, (text, at) in enumerate(lines):
                last = n == len(lines) - 1
                found.append(
                    Command(text, at, _expected_exit(text), shown if last and checked else None)
                )
        if found:
            scripts.append(Script(page.name, block.line, found))
    return scripts


SCRIPTS = [script for page in PAGES for script in page_scripts(page)]
COMMANDS = [command for script in SCRIPTS for command in script.commands]


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
    """A working directory laid out like the repository root, with copies of the examples."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    shutil.copytree(DOC_EXAMPLES, tmp_path / "docs" / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run a documented command line with ``xent`` meaning this interpreter's ``-m xent``."""
    python = shlex.quote(sys.executable)
    line = _XENT.sub(lambda m: m.group(1) + f"{python} -m xent", command)
    line = _PYTHON.sub(lambda m: m.group(1) + python, line)
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
    """Compare an output with the page's, where a ``...`` line matches any lines."""
    want = _normalise("\n".join(expected))
    got = _normalise(actual)
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line.strip() == "..." else re.escape(line) + r"\n" for line in want
    )
    if re.fullmatch(pattern, "".join(line + "\n" for line in got)) is None:
        pytest.fail(
            f"{where}: the output differs from the page's\n--- page\n"
            + "\n".join(want)
            + "\n--- actual\n"
            + "\n".join(got)
        )


# (a), (b): every command runs with the documented exit code and output ----------


def test_pages_have_commands() -> None:
    assert {"README.md", "docs/usage.md", "docs/layouts.md", "docs/numbers.md"} <= set(PAGE)
    readme = [c for s in SCRIPTS if s.page == "README.md" for c in s.commands]
    assert len(readme) >= 3
    assert sum(c.output is not None for c in readme) >= 2
    assert len(COMMANDS) >= 60
    assert sum(c.output is not None for c in COMMANDS) >= 40


@pytest.mark.parametrize("script", SCRIPTS, ids=[f"{s.page}:{s.line}" for s in SCRIPTS])
def test_documented_commands(script: Script, scratch: Path) -> None:
    for command in script.commands:
        result = run_shell(command.text, scratch)
        output = result.stdout.decode("utf-8", errors="replace")
        where = f"{script.page}:{command.line}: {command.text}"
        assert result.returncode == command.exit_code, (
            f"{where}\nexit code {result.returncode}, the page implies {command.exit_code}\n"
            f"{output}"
        )
        assert "Traceback" not in output, f"{where}\n{output}"
        if command.output is not None:
            assert_output(command.output, output, where)


def test_xent_commands_use_the_entry_point() -> None:
    xent_lines = [c for c in COMMANDS if _XENT.search(c.text)]
    assert len(xent_lines) >= 50
    assert {"score", "compare", "explain"} <= {
        word for c in xent_lines for word in re.findall(r"(?:^|[|;&(]\s*)xent\s+(\w+)", c.text)
    }


# (c): the Python examples run and print what the pages say -------------------------


PYTHON_BLOCKS = [
    (page, index)
    for page in PAGES
    for index, block in enumerate(page.blocks)
    if block.lang == "python" and not _not_run(page, block)
]


def test_usage_has_the_python_api_example() -> None:
    assert USAGE.blocks_in("Python API", "python")
    assert any(page is USAGE for page, _ in PYTHON_BLOCKS)


@pytest.mark.parametrize(
    ("page", "index"),
    PYTHON_BLOCKS,
    ids=[f"{page.name}:{page.blocks[index].line}" for page, index in PYTHON_BLOCKS],
)
def test_python_example(page: Page, index: int, scratch: Path) -> None:
    code = page.blocks[index]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile("\n".join(code.lines), f"{page.name}:{code.line}", "exec"), {})
    shown = _following_output(page, index)
    if shown is not None and SKIP_OUTPUT not in shown.before:
        assert_output(shown.lines, printed.getvalue(), f"{page.name}:{code.line}")


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


def _names(option: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def help_commands() -> list[str]:
    """The commands ``xent --help`` lists."""
    listing = _help().split("Commands:", 1)[1]
    return re.findall(r"^\s{2}(\w+)\s", listing, flags=re.MULTILINE)


def test_every_option_is_in_the_usage_page() -> None:
    commands = help_commands()
    assert {"score", "compare", "explain"} <= set(commands)
    options_text = USAGE.section_text("Options")
    for command in [(), *((name,) for name in commands)]:
        options = help_options(*command)
        assert "--help" in options
        missing = [option for option in options if not _names(option, options_text)]
        assert not missing, (
            f"xent {' '.join(command)} options missing from the Options section of "
            f"docs/usage.md: {missing}"
        )


def test_options_of_one_command_are_in_its_table() -> None:
    """An option only ``compare`` or ``explain`` has is in that command's own table."""
    score = set(help_options("score"))
    for name in help_commands():
        if name == "score":
            continue
        own = [o for o in help_options(name) if o not in score]
        lines = USAGE.text.split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith(f"### `xent {name}"))
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines)
        )
        table = "\n".join(lines[start:end])
        missing = [option for option in own if not _names(option, table)]
        assert not missing, f"xent {name}: {missing} not in its table of docs/usage.md"


def test_every_command_is_documented() -> None:
    for name in help_commands():
        for page in (README_PAGE, USAGE):
            assert f"xent {name}" in page.text, f"xent {name} is not documented in {page.name}"


# (e): every example file is referenced and used -----------------------------------


EXAMPLE_FILES = sorted(
    p.relative_to(ROOT).as_posix()
    for folder in (EXAMPLES, DOC_EXAMPLES)
    for p in folder.iterdir()
    if p.is_file() and not p.name.startswith(".")
)
ALL_TEXT = "\n".join(page.text for page in PAGES)


def _mentions(text: str, path: str) -> bool:
    return re.search(rf"(?<![\w./-]){re.escape(path)}(?![\w.-])", text) is not None


@pytest.mark.parametrize("path", EXAMPLE_FILES)
def test_example_file_is_documented_and_used(path: str, scratch: Path) -> None:
    assert _mentions(ALL_TEXT, path), f"{path} is not referenced from README.md or docs/"
    if any(_mentions(c.text, path) for c in COMMANDS):
        return  # run, with its exit code and output, by test_documented_commands
    result = run_shell(f"xent score {path} --format json", scratch)
    assert result.returncode == 0, result.stdout.decode("utf-8", errors="replace")


def test_mentioned_example_paths_exist() -> None:
    for page in PAGES:
        for path in sorted(
            set(re.findall(r"(?<![\w./(-])(?:docs/)?examples/[\w./-]*\w", page.text))
        ):
            if path.startswith("examples/missing"):
                continue  # the example of a missing file (links: test_relative_links_resolve)
            assert (ROOT / path).exists(), f"{page.name} mentions {path}, which does not exist"


def test_example_files_are_small() -> None:
    for name in EXAMPLE_FILES:
        path = ROOT / name
        if path.suffix in (".csv", ".tsv"):
            rows = path.read_text(encoding="utf-8").count("\n") - 1
            assert rows <= 20, f"{name} has {rows} rows; keep examples tiny"
        assert path.stat().st_size < 8192, f"{name} is not tiny"


def test_baseline_is_the_saved_report_of_iris(scratch: Path) -> None:
    # docs/gates.md: baseline.json is `xent score examples/iris.csv --format json --output ...`.
    result = run_shell("xent score examples/iris.csv --format json", scratch)
    assert result.returncode == 0
    fresh = json.loads(result.stdout)
    saved = json.loads((EXAMPLES / "baseline.json").read_text(encoding="utf-8"))
    fresh.pop("xent")
    saved.pop("xent")
    assert saved == fresh, "examples/baseline.json is stale: regenerate it as docs/gates.md says"


# The JSON schemas list every key xent writes ---------------------------------------


def _keys(value: Any) -> set[str]:
    """Every key of a JSON value, except the column names of a group's ``key``."""
    if isinstance(value, dict):
        return set(value) | {k for name, v in value.items() if name != "key" for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _schema_block(schema: str) -> str:
    return next(
        "\n".join(b.lines)
        for b in JSON_PAGE.blocks
        if b.lang == "text" and any(f'"schema": "{schema}"' in line for line in b.lines)
    )


@pytest.mark.parametrize(
    ("schema", "command"),
    [
        (
            "xent.score/1",
            "xent score examples/iris.csv --format json --per-sample --metrics all "
            "--max-loss 1 --max-class-loss 1 --by label --max-group-loss 1",
        ),
        (
            "xent.score/1",
            "xent score docs/examples/tokens.csv --inputs target-log-probs --by doc "
            "--bytes-col n_bytes --format json",
        ),
        (
            "xent.compare/1",
            "xent compare examples/iris.csv examples/iris_v2.csv --format json --seed 1 "
            "--max-increase 100% --by label",
        ),
        ("xent.explain/1", "xent explain examples/iris.csv --row 4 --label-smoothing 0.1 --json"),
    ],
)
def test_json_schema_lists_every_key(schema: str, command: str, scratch: Path) -> None:
    result = run_shell(command, scratch)
    assert result.returncode == 0, result.stdout.decode("utf-8", errors="replace")
    data = json.loads(result.stdout)
    assert data["schema"] == schema
    block = _schema_block(schema)
    missing = sorted(key for key in _keys(data) if f'"{key}"' not in block)
    assert not missing, f"the {schema} schema in docs/json.md does not list {missing}"


# Links ------------------------------------------------------------------------------


_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]*)\)")
_CODE_SPAN = re.compile(r"`[^`]*`")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    kept = "".join(
        ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N", "M")
    )
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file's headings."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Page) -> list[tuple[int, str]]:
    """The targets of a page's Markdown links outside code, with the line of their paragraph."""
    out: list[tuple[int, str]] = []
    paragraph: list[str] = []
    first = 0
    previous = 0
    for number, line in [*prose_lines(page.text), (-1, "")]:
        if line.strip() and number == previous + 1 and paragraph:
            paragraph.append(line)
        else:
            joined = _CODE_SPAN.sub("", " ".join(paragraph))
            out += [(first, m.group("target")) for m in _LINK.finditer(joined)]
            paragraph, first = ([line], number) if line.strip() else ([], 0)
        previous = number
    return out


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page: Page) -> None:
    for number, target in links(page):
        where = f"{page.name}:{number or '?'}: ({target})"
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", target), (
            f"{where}: link to a document outside the repository"
        )
        path_part, _, anchor = target.partition("#")
        linked = (page.path.parent / path_part).resolve() if path_part else page.path
        assert linked.exists(), f"{where}: no such file"
        assert ROOT in linked.parents or linked == ROOT, f"{where}: outside the repository"
        if anchor:
            assert linked.suffix == ".md", f"{where}: an anchor into a file that is not Markdown"
            assert anchor in anchors(linked), (
                f"{where}: no heading with the anchor #{anchor} in {linked.relative_to(ROOT)}"
            )


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_urls_outside_code(page: Page) -> None:
    for number, line in prose_lines(page.text):
        bare = _CODE_SPAN.sub("", line)
        assert not re.search(r"https?://", bare), (
            f"{page.name}:{number}: cites a document outside the repository"
        )


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


# (h): blocks that are not run hold only what cannot run here -------------------------


def test_blocks_not_run_need_what_the_tests_do_not_have() -> None:
    allowed = re.compile(r"--engine dask|\bdask\b|pip install|benchmarks/")
    for page in PAGES:
        for block in page.blocks:
            if NOT_RUN not in block.before:
                continue
            where = f"{page.name}:{block.line}"
            assert block.lang in SHELL_LANGS, f"{where}: only shell blocks can be marked not run"
            text = "\n".join(line.removeprefix("$ ") for line in block.lines)
            for command in text.replace("\\\n", " ").split("\n"):
                command = command.strip()
                if command and not command.startswith("#"):
                    assert allowed.search(command), (
                        f"{where}: {command!r} could run here: run it, or say why not"
                    )


# (i): the pages are pages -------------------------------------------------------------


def test_tool_output_is_not_a_heading() -> None:
    """``### xent: cross-entropy of ...`` only inside a ```markdown block."""
    for page in PAGES:
        inside_markdown = {
            block.line + 1 + offset
            for block in page.blocks
            if block.lang in ("markdown", "md")
            for offset in range(len(block.lines))
        }
        for number, line in enumerate(page.text.split("\n"), start=1):
            if re.match(r"^#{1,6} xent: ", line):
                assert number in inside_markdown, (
                    f"{page.name}:{number}: Markdown output outside a ```markdown block"
                )


@pytest.mark.parametrize("page", PAGES[1:], ids=[p.name for p in PAGES[1:]])
def test_page_starts_with_what_it_covers(page: Page) -> None:
    paragraphs = [p.strip() for p in page.text.split("\n\n") if p.strip()]
    assert paragraphs[0].startswith("# "), f"{page.name}: no title"
    first = paragraphs[1]
    assert not first.startswith(("#", "```", "|", "- ", "1. ", "<")), (
        f"{page.name}: the title is not followed by a paragraph saying what the page covers"
    )


def test_readme_is_short() -> None:
    assert README_PAGE.text.count("\n") <= 300
