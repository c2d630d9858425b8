"""Writing results all-or-nothing: to a file atomically, or to standard output at the end.

Everything is written to a temporary file first. On success it is renamed
over the output file (keeping that file's permissions; through a symlink, the
file it points to is replaced, on whatever filesystem it lives) or copied to
standard output, a FIFO or a device. On any failure, Ctrl-C or SIGTERM the
temporary file is removed, so a failed run never leaves a partial or clobbered
output. Failures of the world (a full disk, a closed standard output, no
permission) are :class:`~xent.errors.EnvironmentFault`, exit code 74.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
import tempfile
from types import TracebackType
from typing import IO

from xent.errors import EnvironmentFault
from xent.render.text import printable_lines

#: errno values that mean the output cannot take more data (reported, never a bug).
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class AtomicOutput:
    """A text output that appears at ``path`` (or on standard output) only on success.

    ``path`` of None or ``-`` is standard output. Use as a context manager,
    write to :attr:`stream`, and call :meth:`commit` once the output is whole.
    """

    def __init__(self, path: str | None) -> None:
        self.path = None if path in (None, "-") else path
        self._target, directory = self._resolve()
        try:
            handle, self._temp_name = tempfile.mkstemp(
                prefix=".xent-", suffix=".tmp", dir=directory
            )
        except OSError as exc:
            raise EnvironmentFault(
                f"{self.path or 'output'}: cannot write here: {exc.strerror}"
            ) from None
        self.stream: IO[str] = os.fdopen(handle, "w+", encoding="utf-8", newline="")
        self._done = False

    def _resolve(self) -> tuple[str | None, str | None]:
        """The regular file to replace (None: copy instead) and where the temporary file goes."""
        if self.path is None:
            return None, None
        try:
            mode = os.stat(self.path).st_mode  # through symlinks, such as /dev/stdout
        except FileNotFoundError:
            directory = os.path.dirname(os.path.realpath(self.path))
            if not os.path.isdir(directory):
                raise EnvironmentFault(
                    f"{self.path}: the output directory does not exist; create it first"
                ) from None
            return os.path.realpath(self.path), directory
        except OSError as exc:
            raise EnvironmentFault(
                f"{self.path}: cannot write the output: {exc.strerror}"
            ) from None
        if stat.S_ISDIR(mode):
            raise EnvironmentFault(
                f"{self.path}: is a directory; give --output a file name inside it"
            )
        if stat.S_ISREG(mode):
            real = os.path.realpath(self.path)
            if not os.access(real, os.W_OK):
                raise EnvironmentFault(f"{self.path}: cannot write the output: permission denied")
            return real, os.path.dirname(real)
        # A FIFO or a device: written in place at the end; the draft goes to TMPDIR.
        return None, None

    @property
    def committed(self) -> bool:
        """True once :meth:`commit` has published the output."""
        return self._done

    def commit(self) -> None:
        """Publish what was written."""
        try:
            self.stream.flush()
            if self._target is not None:
                self.stream.close()
                os.chmod(self._temp_name, _mode_for(self._target))
                os.replace(self._temp_name, self._target)
            else:
                self._copy_out()
        except OSError as exc:
            raise _fault(self.path, exc) from None
        self._done = True

    def _copy_out(self) -> None:
        self.stream.seek(0)
        try:
            if self.path is None:
                out = sys.stdout
                if out is None:
                    raise EnvironmentFault("standard output is closed; pass --output FILE")
                terminal = _is_terminal(out)
                binary = getattr(out, "buffer", None)
                out.flush()
                while text := self.stream.read(1 << 20):
                    if terminal:
                        # Text from the inputs never reaches a terminal raw, whatever the format.
                        text = printable_lines(text)
                    if binary is not None:  # UTF-8, whatever the locale's encoding
                        binary.write(text.encode("utf-8"))
                    else:
                        out.write(text)
                (binary or out).flush()
            else:
                with open(self.path, "w", encoding="utf-8", newline="") as target:
                    shutil.copyfileobj(self.stream, target, 1 << 20)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop writing, quietly.
            silence_stdout()
        finally:
            self.stream.close()
            with contextlib.suppress(OSError):
                os.remove(self._temp_name)

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            with contextlib.suppress(OSError):
                self.stream.close()
            with contextlib.suppress(OSError):
                os.remove(self._temp_name)


def silence_stdout() -> None:
    """Point standard output at /dev/null, so that nothing more is written to a closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError):
        return False


def _fault(path: str | None, exc: OSError) -> EnvironmentFault:
    if isinstance(exc, EnvironmentFault):
        return exc
    where = path or "standard output"
    if exc.errno in _NO_SPACE:
        return EnvironmentFault(f"{where}: no space left to write the output; free some space")
    if exc.errno == errno.EBADF:
        return EnvironmentFault(f"{where}: the output stream is closed; pass --output FILE")
    return EnvironmentFault(f"{where}: cannot write the output: {exc.strerror or exc}")


def _mode_for(target: str) -> int:
    """The permissions of the file being replaced, or the umask's default for a new one."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
