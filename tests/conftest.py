"""Shared fixtures for running the ``xent`` command.

``invoke`` runs the CLI in-process (fast; use it by default); ``run_xent`` runs
``python -m xent`` in a subprocess, for tests where the process boundary matters
(entry points, standard input, pipes and terminals). Both return
``(returncode, stdout, stderr)`` with stdout and stderr kept apart, run in the
test's ``tmp_path`` (so relative file names appear as given in messages), and
use a fixed environment: ``NO_COLOR``, ``FORCE_COLOR`` and ``CI`` unset,
``COLUMNS=100``.

Every xent JSON object either of them produces, on standard output or in the file of
``--output``, is validated against the JSON Schema it names (``xent.score/1``,
``xent.compare/1``, ``xent.explain/1``; src/xent/schemas/) by :func:`check_json_output`,
so a test that makes xent write JSON also checks the schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

Result = tuple[int, str, str]

#: Variables removed from the environment of every run, so results do not
#: depend on the shell the tests are started from.
UNSET = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CI")
FIXED = {"COLUMNS": "100", "LINES": "50", "TERM": "dumb"}


def fixed_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a subprocess run gets: the current one, normalised, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(FIXED)
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


#: Keys every xent.score/1 report of this version has, although the schema does not
#: require them (reports saved by xent 0.1.0, before they were added, validate too).
CURRENT_SCORE_KEYS = ("convention", "warnings")


def check_json_output(text: str, where: str = "standard output") -> None:
    """Fail the test when ``text`` is an xent JSON object that does not conform to the
    JSON Schema its ``schema`` key names; anything else is left alone."""
    stripped = text.strip()
    if not stripped.startswith("{") or '"schema"' not in stripped[:200]:
        return
    try:
        value = json.loads(stripped)
    except ValueError:
        return
    from xent.schema import schema_name, validate

    if not isinstance(value, dict) or schema_name(value) is None:
        return
    import jsonschema

    try:
        validate(value)
    except jsonschema.ValidationError as error:
        path = "/".join(str(p) for p in error.absolute_path) or "(the object)"
        pytest.fail(
            f"{where}: {value['schema']} does not conform to its schema at {path}: {error.message}"
        )
    if value["schema"] == "xent.score/1":
        missing = [key for key in CURRENT_SCORE_KEYS if key not in value]
        missing += [] if "index_column" in value["detected"] else ["detected.index_column"]
        assert not missing, f"{where}: xent.score/1 without {missing}"


def check_outputs(args: Sequence[str], stdout: str, cwd: Path) -> None:
    """Validate the JSON of a run: its standard output and its ``--output`` file."""
    check_json_output(stdout)
    for i, arg in enumerate(args):
        name = None
        if arg in ("-o", "--output") and i + 1 < len(args):
            name = args[i + 1]
        elif arg.startswith("--output="):
            name = arg.partition("=")[2]
        if name and name != "-":
            path = cwd / name
            if path.is_file() and path.stat().st_size < 64 * 2**20:
                check_json_output(path.read_text(encoding="utf-8", errors="replace"), name)


@pytest.fixture
def run_xent(tmp_path: Path) -> Callable[..., Result]:
    """Run ``python -m xent ARGS`` in a subprocess, in ``tmp_path`` by default."""

    def run(
        args: Sequence[str],
        stdin: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        *,
        cwd: Path | None = None,
        command: Sequence[str] | None = None,
    ) -> Result:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = subprocess.run(
            [*(command or [sys.executable, "-m", "xent"]), *args],
            input=data if data is not None else b"",
            capture_output=True,
            cwd=cwd or tmp_path,
            env=fixed_env(env),
            timeout=120,
            check=False,
        )
        out = proc.stdout.decode("utf-8", errors="replace")
        check_outputs([str(a) for a in args], out, cwd or tmp_path)
        return proc.returncode, out, proc.stderr.decode("utf-8", errors="replace")

    return run


@pytest.fixture
def invoke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[[Sequence[str]], Result]:
    """Call ``xent.cli.main(ARGS)`` in-process, in ``tmp_path``; catch its ``SystemExit``."""
    from xent import cli

    monkeypatch.chdir(tmp_path)
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in FIXED.items():
        monkeypatch.setenv(name, value)

    def run(args: Sequence[str]) -> Result:
        capsys.readouterr()  # drop anything printed before this call
        code: int | str | None = 0
        try:
            cli.main(list(args))
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        if code is None:
            code = 0
        assert isinstance(code, int), f"SystemExit with a non-integer code {code!r}"
        check_outputs([str(a) for a in args], out, Path.cwd())
        return code, out, err

    return run
