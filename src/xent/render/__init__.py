"""The render stage: a score report or a comparison in every output format.

Each format is a module of this package with two functions,
``write_report(report, stream, *, terminal)`` and
``write_comparison(result, stream, *, terminal)``; :data:`FORMATS` lists them
and :func:`write` picks one. A format may also stream per-sample rows while
scoring (:func:`sample_sink`): ``csv`` does. Modules are imported on first use,
so ``--format json`` never imports rich. To add a format, add a module with
those functions and its name to :data:`FORMATS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xent.compare import Comparison
    from xent.pipeline import SampleSink
    from xent.report import Report

#: The output formats, in the order ``--help`` lists them.
FORMATS = ("table", "json", "csv", "markdown")


@dataclass(frozen=True)
class View:
    """How much the human-readable formats (table, Markdown) show.

    ``top_classes`` and ``top_groups`` are the most classes and groups listed
    (those with the largest share of the loss, and the highest loss); 0 lists
    them all. JSON always holds every class and group.
    """

    top_classes: int = 30
    top_groups: int = 10


def write(
    result: Report | Comparison,
    fmt: str,
    stream: IO[str],
    *,
    terminal: bool = False,
    view: View | None = None,
) -> None:
    """Write ``result`` to ``stream`` in format ``fmt`` (``terminal``: ``stream`` is
    the user's terminal, so the table may use its width and colour)."""
    from xent.report import Report

    module: Any = importlib.import_module(f"xent.render.{fmt}")
    if isinstance(result, Report):
        module.write_report(result, stream, terminal=terminal, view=view or View())
    else:
        module.write_comparison(result, stream, terminal=terminal, view=view or View())


def sample_sink(fmt: str, stream: IO[str], by: tuple[str, ...] = ()) -> SampleSink | None:
    """The sink that streams per-sample rows of format ``fmt`` while scoring, if it has
    one (``by``: the group columns, written after the id)."""
    if fmt == "csv":
        from xent.render.csv import CsvSampleWriter

        return CsvSampleWriter(stream, by=by)
    return None
