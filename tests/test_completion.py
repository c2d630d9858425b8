"""Shell completion: ``xent --install-completion`` / ``--show-completion`` (Typer's), and
what a shell gets when it asks xent to complete a command line.

A shell asks by running ``xent`` with ``_XENT_COMPLETE`` set (``complete_bash``,
``complete_zsh``, ...) and the words typed so far in ``COMP_WORDS``/``COMP_CWORD``
(bash) or ``_TYPER_COMPLETE_ARGS`` (zsh, fish); xent prints the candidates and exits.
Most tests ask in-process, through :func:`xent.cli.main`; one runs the real bash
script that ``--show-completion bash`` prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xent import cli


def complete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], words: str
) -> list[str]:
    """What bash gets for the command line ``words`` (the last word is being typed)."""
    monkeypatch.setenv("_XENT_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split(" ")) - 1))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(words.split(" ")[1:])
    assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out.split()


CHOICES = {
    "--task": ["auto", "binary", "multiclass", "multilabel"],
    "--inputs": ["auto", "probs", "logits", "log-probs", "target-probs", "target-log-probs"],
    "--unit": ["nats", "bits"],
    "--format": ["table", "json", "csv", "markdown"],
    "-f": ["table", "json", "csv", "markdown"],
    "--engine": ["local", "dask"],
    "--like": ["sklearn", "torch", "keras"],
    "--reduction": ["weighted-mean", "mean", "sum"],
}


@pytest.mark.parametrize("option", list(CHOICES))
def test_choices_complete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    assert complete(monkeypatch, capsys, f"xent score preds.csv {option} ") == CHOICES[option]


def test_choices_complete_in_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert complete(monkeypatch, capsys, "xent compare a.csv b.csv --unit ") == ["nats", "bits"]
    assert complete(monkeypatch, capsys, "xent explain a.csv --inputs log-") == ["log-probs"]
    assert complete(monkeypatch, capsys, "xent score a.csv --format m") == ["markdown"]


def test_commands_and_options_complete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert complete(monkeypatch, capsys, "xent ") == ["score", "explain", "compare", "schema"]
    assert complete(monkeypatch, capsys, "xent sc") == ["score", "schema"]
    assert complete(monkeypatch, capsys, "xent schema ") == ["score", "compare", "explain"]
    assert complete(monkeypatch, capsys, "xent score a.csv --max-") == [
        "--max-loss",
        "--max-class-loss",
        "--max-increase",
        "--max-group-loss",
    ]
    assert complete(monkeypatch, capsys, "xent compare a b --ju") == ["--junit"]


def test_zsh_gets_the_values_with_their_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("_XENT_COMPLETE", "complete_zsh")
    monkeypatch.setenv("_TYPER_COMPLETE_ARGS", "xent score a.csv --unit ")
    with pytest.raises(SystemExit):
        cli.main(["score"])
    assert capsys.readouterr().out == '_arguments \'*: :(("nats"\n"bits"))\'\n'


def test_show_completion_prints_the_script(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--show-completion", "bash"])
    assert exit_info.value.code == 0
    script = capsys.readouterr().out
    assert "_XENT_COMPLETE=complete_bash" in script
    assert "complete -o default -F _xent_completion xent" in script


def xent_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has this interpreter's ``xent`` first, and HOME in tmp."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "xent"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m xent "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("_XENT")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}")
    env.update(HOME=str(tmp_path), SHELL="/bin/bash")
    env["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    return env


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_with_the_shown_script(tmp_path: Path) -> None:
    env = xent_on_path(tmp_path)
    script = subprocess.run(
        ["xent", "--show-completion", "bash"], capture_output=True, env=env, check=True
    ).stdout.decode()
    driver = tmp_path / "complete.sh"
    driver.write_text(
        script
        + "\nCOMP_WORDS=(xent score preds.csv --reduction '')\nCOMP_CWORD=4\n"
        + "_xent_completion xent\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", str(driver)],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().split() == ["weighted-mean", "mean", "sum"]


def test_install_completion_writes_to_the_users_shell_files(tmp_path: Path) -> None:
    env = xent_on_path(tmp_path)
    proc = subprocess.run(
        ["xent", "--install-completion", "bash"],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert "bash completion installed in" in proc.stdout.decode()
    installed = tmp_path / ".bash_completions" / "xent.sh"
    assert "_XENT_COMPLETE=complete_bash" in installed.read_text()
    assert str(installed) in (tmp_path / ".bashrc").read_text()
