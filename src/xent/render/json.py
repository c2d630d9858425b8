"""The ``json`` output format: the stable ``xent.score/1`` and ``xent.compare/1`` objects.

The objects are described in docs/json.md. Non-finite numbers are written as
the strings ``"inf"``, ``"-inf"`` and ``"nan"``, so every JSON parser reads the
output; text from the inputs is escaped by JSON itself.
"""

from __future__ import annotations

import json
import math
from typing import IO, TYPE_CHECKING, Any

from xent.report import Report

if TYPE_CHECKING:
    from xent.compare import Comparison
    from xent.render import View


def write_report(
    report: Report, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """Write ``report`` as JSON."""
    stream.write(render_json(report))


def write_comparison(
    result: Comparison, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """Write a comparison as JSON."""
    stream.write(dumps(result.to_dict()))


def render_json(report: Report) -> str:
    """The report as indented JSON, one object, ending in a newline."""
    return dumps(report.to_dict())


def dumps(value: dict[str, Any]) -> str:
    """One JSON object, indented, ending in a newline."""
    return json.dumps(value, indent=2, allow_nan=False, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    """Convert what :mod:`json` cannot encode (NumPy scalars, other ids) to plain values."""
    item = getattr(value, "item", None)
    if callable(item):
        plain = item()
        if isinstance(plain, float) and not math.isfinite(plain):
            return "nan" if math.isnan(plain) else ("inf" if plain > 0 else "-inf")
        if isinstance(plain, str | int | float | bool) or plain is None:
            return plain
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
