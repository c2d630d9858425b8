"""The ``json`` output format: the stable ``xent.score/1`` object."""

from __future__ import annotations

import json
import math
from typing import Any

from xent.report import Report


def render_json(report: Report) -> str:
    """The report as indented JSON, one object, ending in a newline.

    Non-finite numbers are the strings ``"inf"``, ``"-inf"`` and ``"nan"``, so
    every JSON parser reads the output.
    """
    return json.dumps(report.to_dict(), indent=2, allow_nan=False, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    """Convert what :mod:`json` cannot encode (numpy scalars, other ids) to plain values."""
    item = getattr(value, "item", None)
    if callable(item):
        plain = item()
        if isinstance(plain, float) and not math.isfinite(plain):
            return "nan" if math.isnan(plain) else ("inf" if plain > 0 else "-inf")
        if isinstance(plain, str | int | float | bool) or plain is None:
            return plain
    return str(value)
