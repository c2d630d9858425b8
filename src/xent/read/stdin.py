"""Standard input (and named pipes), copied once to a temporary file to be read twice.

Scoring may need a second pass (``--inputs auto`` finding logits late, or the
label file of a two-file layout), and readers need a seekable file. The copy
lives in ``TMPDIR`` and is removed when the process ends: normally, on an error,
on Ctrl-C or on SIGTERM (the command line turns SIGTERM into an exception, so
this module's clean-up runs), and a copy interrupted half-way is removed at
once. Running out of space while copying is an :class:`~xent.errors.EnvironmentFault`.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import sys
import tempfile

from xent.errors import EnvironmentFault, InputError

#: The copies made so far: what was read (``-`` or a named pipe) -> the copy's path.
_copies: dict[str, str] = {}


def spooled_stdin(pipe: str = "-") -> str:
    """The path of the copy of standard input, or of the named pipe ``pipe`` (made on
    the first call for each)."""
    if pipe in _copies:
        return _copies[pipe]
    if pipe == "-" and sys.stdin is None:
        raise InputError("-: standard input is closed; pass a file instead of -")
    handle, name = tempfile.mkstemp(prefix="xent-stdin-")
    if not _copies:
        atexit.register(discard)
    _copies[pipe] = name
    what = "standard input" if pipe == "-" else pipe
    try:
        with os.fdopen(handle, "wb") as out:
            source = sys.stdin.buffer if pipe == "-" else open(pipe, "rb")  # noqa: SIM115
            try:
                while block := source.read(1 << 20):
                    out.write(block)
            finally:
                if pipe != "-":
                    source.close()
    except OSError as exc:
        discard()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise EnvironmentFault(
                f"{pipe}: {what} does not fit in the temporary directory "
                f"{tempfile.gettempdir()} (no space left); free space there, point TMPDIR "
                "elsewhere, or pass a file"
            ) from None
        raise EnvironmentFault(f"{pipe}: cannot copy {what}: {exc.strerror}") from None
    except BaseException:
        discard()
        raise
    return name


def discard() -> None:
    """Remove every copy made (of standard input and of named pipes)."""
    for name in list(_copies.values()):
        with contextlib.suppress(OSError):
            os.remove(name)
    _copies.clear()
