"""Exceptions raised by the xent library, each carrying the exit code the CLI uses.

The library raises these; only :mod:`xent.cli` turns them into a message on
standard error and a process exit code (the table is in docs/usage.md).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, as documented in docs/usage.md."""

    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    UNREADABLE = 3
    INVALID_DATA = 4
    INTERNAL = 70
    ENVIRONMENT = 74
    INTERRUPTED = 130
    TERMINATED = 143


class XentError(Exception):
    """Base class of every error xent reports to a user.

    The message is one line; it names the file and, where it applies, the row
    and column, and says how to fix the problem.
    """

    exit_code: ExitCode = ExitCode.INTERNAL


class UsageError(XentError, ValueError):
    """An option value is wrong, or two options conflict (exit code 2)."""

    exit_code = ExitCode.USAGE


class InputError(XentError, OSError):
    """An input cannot be read: missing file, unknown format, malformed file,
    missing column (exit code 3)."""

    exit_code = ExitCode.UNREADABLE


class DataError(XentError, ValueError):
    """The input was read but its values are invalid: NaN or inf, a probability
    outside [0, 1], rows not summing to 1, an unknown label, a length or id
    mismatch (exit code 4)."""

    exit_code = ExitCode.INVALID_DATA


class EnvironmentFault(XentError, OSError):
    """The world failed, not the input: the output cannot be written (a directory,
    a full disk, a closed stream, no permission), or memory or temporary space ran
    out (exit code 74)."""

    exit_code = ExitCode.ENVIRONMENT
