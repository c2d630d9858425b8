"""Renderers: turn a :class:`~xent.report.Report` into table, JSON or Markdown output.

The renderers are imported on first use, so ``--format json`` never imports rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xent.render.json import render_json
    from xent.render.markdown import render_markdown
    from xent.render.table import render_table

__all__ = ["render_json", "render_markdown", "render_table"]

_MODULES = {
    "render_json": "xent.render.json",
    "render_markdown": "xent.render.markdown",
    "render_table": "xent.render.table",
}


def __getattr__(name: str) -> Any:
    """Import a renderer the first time it is asked for."""
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_MODULES[name]), name)
