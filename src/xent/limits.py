"""Byte budgets and resource limits, in one place.

Every reader works in a byte budget, so memory is set by these numbers and not
by the size of the input. Each can be changed with the environment variable
named beside it (a whole number of bytes); docs/safety.md lists them with what
a user can rely on. Modules read them as ``limits.NAME`` at call time, so a
test (or a caller) can change one by assigning to it.
"""

from __future__ import annotations

import os
import sys


def _bytes(variable: str, default: int) -> int:
    """A positive byte count from the environment, or ``default``."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        return default
    return value if value > 0 else default


#: Prediction values (as float64) decoded and scored at once: rows per chunk are
#: this divided by the width of a row. XENT_CHUNK_BYTES.
CHUNK_BYTES = _bytes("XENT_CHUNK_BYTES", 16 << 20)
#: Block size of pyarrow's CSV and JSON Lines parsers (grown to fit the longest line).
#: XENT_BLOCK_BYTES.
BLOCK_BYTES = _bytes("XENT_BLOCK_BYTES", 1 << 20)
#: CSV text read to infer the column types (grown to hold the header and some rows).
SCHEMA_BYTES = _bytes("XENT_SCHEMA_BYTES", 256 << 10)
#: Threads of xent's own (decoding ahead, parsing, large loss blocks); 1 runs every
#: stage in the calling thread. The command line sets 1 under a tight address-space
#: limit (``ulimit -v``), where every thread's stack counts.
THREADS = os.cpu_count() or 1
#: Below this address-space limit the command line uses one thread and the system
#: allocator.
TIGHT_ADDRESS_SPACE = 8 << 30


def address_space_is_tight() -> bool:
    """True when the process runs under an address-space limit below
    :data:`TIGHT_ADDRESS_SPACE` (``ulimit -v``)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return False
    return soft != resource.RLIM_INFINITY and soft < TIGHT_ADDRESS_SPACE


def configure_native_libraries() -> None:
    """Set what NumPy's BLAS and Arrow read from the environment when they are
    imported (the command line calls this first; a value already set is kept).

    xent runs its own threads (parsing, decoding ahead, large loss blocks); BLAS
    threads on top of them only wait for cores: a 50,000-row dot product took 8 ms
    with OpenBLAS's threads against 0.01 ms without. Arrow's readers allocate from
    the pool ``ARROW_DEFAULT_MEMORY_POOL`` names, whatever pyarrow's default is set
    to later (:func:`xent.read.use_lean_memory_pool`); pyarrow's Linux builds carry
    jemalloc, which hands freed batches back sooner than mimalloc: a Parquet file of
    five row groups peaked at 211 MB under mimalloc, 154 MB under jemalloc, at the
    same speed. Under a tight address-space limit the default pool is kept.
    """
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    if sys.platform == "linux" and not address_space_is_tight():
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")


#: Longest line of a CSV, TSV or JSON Lines file: a longer one is refused (a device
#: or a binary file read as text has none). XENT_LINE_BYTES.
LINE_BYTES = _bytes("XENT_LINE_BYTES", 64 << 20)
#: Largest baseline report read by ``--baseline``. XENT_BASELINE_BYTES.
BASELINE_BYTES = _bytes("XENT_BASELINE_BYTES", 64 << 20)
#: Deepest nesting of arrays and objects accepted in a JSON Lines record.
JSON_DEPTH = 64


def rows_per_chunk(row_bytes: int) -> int:
    """Rows that fit in :data:`CHUNK_BYTES` when one row takes ``row_bytes`` (at least 1)."""
    return max(1, CHUNK_BYTES // max(1, row_bytes))
