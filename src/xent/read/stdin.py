"""Standard input, copied once to a temporary file so that it can be read twice.

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

_copy: str | None = None


def spooled_stdin() -> str:
    """The path of the copy of standard input (made on the first call)."""
    global _copy
    if _copy is not None:
        return _copy
    if sys.stdin is None:
        raise InputError("-: standard input is closed; pass a file instead of -")
    handle, name = tempfile.mkstemp(prefix="xent-stdin-")
    atexit.register(discard)
    _copy = name
    try:
        with os.fdopen(handle, "wb") as out:
            source = sys.stdin.buffer
            while block := source.read(1 << 20):
                out.write(block)
    except OSError as exc:
        discard()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise EnvironmentFault(
                f"-: standard input does not fit in the temporary directory "
                f"{tempfile.gettempdir()} (no space left); free space there, point TMPDIR "
                "elsewhere, or pass a file"
            ) from None
        raise EnvironmentFault(f"-: cannot copy standard input: {exc.strerror}") from None
    except BaseException:
        discard()
        raise
    return name


def discard() -> None:
    """Remove the copy of standard input, if there is one."""
    global _copy
    if _copy is not None:
        with contextlib.suppress(OSError):
            os.remove(_copy)
        _copy = None
