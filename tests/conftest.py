"""Shared fixtures for running the ``xent`` command.

``invoke`` runs the CLI in-process (fast; use it by default); ``run_xent`` runs
``python -m xent`` in a subprocess, for tests where the process boundary matters
(entry points, standard input, pipes and terminals). Both return
``(returncode, stdout, stderr)`` with stdout and stderr kept apart, run in the
test's ``tmp_path`` (so relative file names appear as given in messages), and
use a fixed environment: ``NO_COLOR``, ``FORCE_COLOR`` and ``CI`` unset,
``COLUMNS=100``.
"""

from __future__ import annotations

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
        return (
            proc.returncode,
            proc.stdout.decode("utf-8", errors="replace"),
            proc.stderr.decode("utf-8", errors="replace"),
        )

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
        return code, out, err

    return run
