"""xent: cross-entropy (log loss) evaluation of classifier predictions.

The public API::

    import xent
    report = xent.score("preds.csv")               # a file (any supported format)
    report = xent.score_arrays(y_true, y_pred)     # in-memory arrays
    report.aggregate.loss, report.per_class, report.to_dict()

Heavy modules (NumPy, pyarrow) are imported on first use, so importing
``xent`` (and running ``xent --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "InputError",
    "Report",
    "ScoreOptions",
    "UsageError",
    "XentError",
    "__version__",
    "score",
    "score_arrays",
]

if TYPE_CHECKING:
    from xent.errors import DataError, InputError, UsageError, XentError
    from xent.options import ScoreOptions
    from xent.pipeline import score, score_arrays
    from xent.report import Report

_LAZY = {
    "score": "xent.pipeline",
    "score_arrays": "xent.pipeline",
    "ScoreOptions": "xent.options",
    "Report": "xent.report",
    "XentError": "xent.errors",
    "UsageError": "xent.errors",
    "InputError": "xent.errors",
    "DataError": "xent.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xent' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
