"""The options of scoring, as one typed value: :class:`ScoreOptions`.

The command line builds it from its parsed parameters with
:meth:`ScoreOptions.from_params` (every parameter whose name is a field); the
Python API takes the same names as keyword arguments. :meth:`ScoreOptions.checked`
validates every value once, so later stages can rely on them. What each option
does is in docs/usage.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any

from xent.errors import UsageError
from xent.layout import LayoutRequest, split_list

INPUTS = ("auto", "probs", "logits", "log-probs", "target-probs", "target-log-probs")
UNITS = ("nats", "bits")


@dataclass(frozen=True)
class ScoreOptions:
    """Every option of ``xent score`` that changes what is read or computed.

    The names follow the command-line options (``--label-col`` is
    ``label_col``). ``eps`` is ``"auto"`` (each convention's own clip) or a number.
    """

    labels: str | None = None
    input_format: str | None = None
    labels_format: str | None = None
    no_header: bool = False
    labels_no_header: bool = False
    label_col: str | None = None
    label_cols: str | None = None
    #: A comma list or glob of column names, or a sequence of exact names.
    pred_cols: str | tuple[str, ...] | None = None
    id_col: str | None = None
    weight_col: str | None = None
    #: Bytes of text each row (or each list row: each document) covers: bits per byte.
    bytes_col: str | None = None
    pos_label: str | None = None
    classes: tuple[str, ...] | None = None
    task: str = "auto"
    inputs: str = "auto"
    eps: float | str = "auto"
    renormalize: bool = False
    label_smoothing: float = 0.0
    class_weights: Mapping[str, float] = field(default_factory=dict)
    #: Label values whose rows are left out of every figure.
    ignore_label: tuple[str, ...] = ()
    unit: str = "nats"
    top: int = 5
    per_sample: bool = False
    metrics: tuple[str, ...] = ()
    bins: int = 15
    #: Keep the calibration bins (for a reliability diagram) even without --metrics ece.
    calibration: bool = False
    #: Columns whose values group the rows (``--by``): a report per group.
    by: tuple[str, ...] = ()
    #: NumPy predictions of any rank: the class axis (1 or -1) when the shapes do not say.
    class_axis: int | None = None
    #: Whose conventions the numbers follow: sklearn, torch or keras (``--like``).
    like: str = "sklearn"
    #: weighted-mean, mean or sum; None: the default of ``like``.
    reduction: str | None = None
    #: Multiplies the positive term of binary losses: one value, or ``a=2,b=1`` per label.
    pos_weight: str | None = None
    focal_gamma: float | None = None
    focal_alpha: float | None = None
    #: A gate needs groups (``--max-group-loss``): refused, before any row is read,
    #: when the input has none.
    need_groups: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ScoreOptions:
        """Options from a command's parsed parameters: every parameter named like a
        field, with the comma lists of the command line (``--classes a,b``,
        ``--class-weights a=2``, ``--metrics ece``, ``--ignore-label -100,255``) parsed."""
        from xent.metrics import parse_metrics

        names = {f.name for f in fields(cls)}
        values = {
            k: (v.value if isinstance(v, Enum) else v)
            for k, v in params.items()
            if k in names and v is not None
        }
        if "classes" in values:
            values["classes"] = tuple(split_list(values["classes"])) or None
        if "class_weights" in values:
            values["class_weights"] = parse_class_weights(values["class_weights"])
        if "metrics" in values:
            values["metrics"] = parse_metrics(values["metrics"])
        if "by" in values:
            values["by"] = tuple(split_list(values["by"]))
        return cls(**values).checked()

    def checked(self) -> ScoreOptions:
        """Validate option values; return a copy with ``eps`` ``"auto"`` or a float and
        lists as tuples."""
        if self.inputs not in INPUTS:
            raise UsageError(f"--inputs must be one of {', '.join(INPUTS)}, not {self.inputs!r}")
        if self.unit not in UNITS:
            raise UsageError(f"--unit must be nats or bits, not {self.unit!r}")
        eps: float | str = self.eps
        if isinstance(eps, str):
            if eps.strip().lower() == "auto":
                eps = "auto"
            else:
                try:
                    eps = float(eps)
                except ValueError:
                    raise UsageError(f"--eps must be 'auto' or a number, not {eps!r}") from None
        if isinstance(eps, float | int) and not (0.0 <= eps < 0.5):
            raise UsageError(f"--eps must be in [0, 0.5), not {eps}")
        from xent.conventions import LIKES, REDUCTIONS

        if self.like not in LIKES:
            raise UsageError(f"--like must be one of {', '.join(LIKES)}, not {self.like!r}")
        if self.reduction is not None and self.reduction not in REDUCTIONS:
            raise UsageError(
                f"--reduction must be one of {', '.join(REDUCTIONS)}, not {self.reduction!r}"
            )
        if not (0.0 <= self.label_smoothing < 1.0):
            raise UsageError(f"--label-smoothing must be in [0, 1), not {self.label_smoothing}")
        if self.top < 0:
            raise UsageError(f"--top must be >= 0, not {self.top}")
        if not 1 <= self.bins <= 1000:
            raise UsageError(f"--bins must be between 1 and 1000, not {self.bins}")
        for name, weight in self.class_weights.items():
            if not (math.isfinite(weight) and weight >= 0.0):
                raise UsageError(f"--class-weights: weight of {name!r} must be >= 0, not {weight}")
        ignore: Any = self.ignore_label  # a str from the Python API is a comma list
        if isinstance(ignore, str):
            ignore = tuple(split_list(ignore))
        by: Any = self.by
        if isinstance(by, str):
            by = tuple(split_list(by))
        classes = tuple(self.classes) if self.classes else None
        pred_cols = self.pred_cols
        if pred_cols is not None and not isinstance(pred_cols, str):
            pred_cols = tuple(pred_cols)
        return replace(
            self,
            eps=eps if isinstance(eps, str) else float(eps),
            ignore_label=tuple(ignore),
            by=tuple(by),
            classes=classes,
            pred_cols=pred_cols,
            class_weights=dict(self.class_weights),
        )

    @property
    def clip_eps(self) -> float:
        """``eps`` as a float: ``auto`` is float64's machine epsilon (each convention
        may set its own; see :mod:`xent.conventions`)."""
        if isinstance(self.eps, str):
            from xent.loss import AUTO_EPS

            return AUTO_EPS
        return float(self.eps)

    @property
    def eps_auto(self) -> bool:
        """True when ``--eps`` is ``auto``."""
        return isinstance(self.eps, str)

    def layout_request(self) -> LayoutRequest:
        """The options that decide the layout."""
        return LayoutRequest(
            task=self.task,
            label_col=self.label_col,
            label_cols=self.label_cols,
            pred_cols=self.pred_cols,
            id_col=self.id_col,
            weight_col=self.weight_col,
            bytes_col=self.bytes_col,
            pos_label=self.pos_label,
            classes=self.classes,
            by=self.by,
            inputs=self.inputs,
        )


def parse_class_weights(text: str | Mapping[str, float]) -> dict[str, float]:
    """``cat=2,dog=0.5`` as a mapping (a mapping is returned as it is)."""
    if not isinstance(text, str):
        return dict(text)
    weights: dict[str, float] = {}
    for item in split_list(text):
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise UsageError(
                f"--class-weights: {item!r} is not NAME=WEIGHT; "
                "example: --class-weights cat=2,dog=0.5"
            ) from None
    return weights
