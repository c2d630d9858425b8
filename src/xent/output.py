"""Writing results all-or-nothing: to a file atomically, or to standard output at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
from types import TracebackType
from typing import IO

from xent.errors import InputError


class AtomicOutput:
    """A text file that appears at ``path`` (or on standard output) only on success.

    Everything is written to a temporary file first; :meth:`commit` moves it to
    ``path`` with an atomic rename (or copies it to standard output). Leaving
    the ``with`` block without committing, by an error or Ctrl-C, removes the
    temporary file, so a failed run never leaves a partial or clobbered output.
    """

    def __init__(self, path: str | None) -> None:
        self.path = None if path in (None, "-") else path
        directory = os.path.dirname(os.path.abspath(self.path)) if self.path else None
        if directory is not None and not os.path.isdir(directory):
            raise InputError(f"{self.path}: the output directory does not exist")
        try:
            handle, self._temp_name = tempfile.mkstemp(
                prefix=".xent-", suffix=".tmp", dir=directory
            )
        except OSError as exc:
            raise InputError(f"{self.path or 'output'}: cannot write here: {exc.strerror}") from exc
        self.stream: IO[str] = os.fdopen(handle, "w+", encoding="utf-8", newline="")
        self._done = False

    @property
    def committed(self) -> bool:
        """True once :meth:`commit` has published the output."""
        return self._done

    def commit(self) -> None:
        """Publish what was written."""
        self.stream.flush()
        if self.path is not None and _is_regular_or_new(self.path):
            self.stream.close()
            os.chmod(self._temp_name, 0o666 & ~_umask())
            # Through a symlink, replace the file it points to, not the link.
            os.replace(self._temp_name, os.path.realpath(self.path))
        else:
            # Standard output, or a FIFO or device given as --output: copy in, once complete.
            self.stream.seek(0)
            try:
                if self.path is None:
                    shutil.copyfileobj(self.stream, sys.stdout, 1 << 20)
                    sys.stdout.flush()
                else:
                    with open(self.path, "w", encoding="utf-8", newline="") as target:
                        shutil.copyfileobj(self.stream, target, 1 << 20)
            except BrokenPipeError:
                # The reader went away (e.g. `| head`): stop writing, quietly.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            finally:
                self.stream.close()
                os.remove(self._temp_name)
        self._done = True

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            self.stream.close()
            with contextlib.suppress(OSError):
                os.remove(self._temp_name)


def _is_regular_or_new(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
