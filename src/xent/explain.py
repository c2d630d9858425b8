"""One sample's loss written out step by step (``xent explain``).

The sample is scored by the same pass as ``xent score`` (so the result equals
that row's loss in ``--format csv`` exactly); its inputs are then read back
and substituted into the formula of its task, in the notation of
``docs/cross-entropy.md``: ``H = -[y·ln(p) + (1 - y)·ln(1 - p)]`` for binary,
``H = -Σ_c q_c·ln(p_c)`` for categorical targets, with natural logarithms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from xent import engine
from xent.errors import UsageError
from xent.layout import LabelEncoder
from xent.scoring import ScoreOptions, decoded_chunks, layout_of, open_sources, score_source

FloatArray = npt.NDArray[np.float64]


@dataclass
class Explanation:
    """The worked loss of one sample."""

    index: int
    id: Any
    label: str
    task: str
    inputs: str
    unit: str
    formula: str
    steps: list[str]
    loss: float
    weight: float
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The explanation as a JSON-ready object (schema ``xent.explain/1``)."""
        from xent.report import _json_safe

        safe: dict[str, Any] = _json_safe(
            {
                "schema": "xent.explain/1",
                "index": self.index,
                "id": self.id,
                "label": self.label,
                "task": self.task,
                "inputs": self.inputs,
                "unit": self.unit,
                "formula": self.formula,
                "steps": list(self.steps),
                "notes": list(self.notes),
                "loss": self.loss,
                "weight": self.weight,
            }
        )
        return safe

    def text(self) -> str:
        """The explanation as lines of plain text."""
        ident = f", id {self.id}" if self.id is not None else ""
        lines = [
            f"row {self.index}{ident}: {self.task}, label {self.label}, inputs {self.inputs}",
            f"formula: {self.formula}",
            *self.steps,
            *(f"note: {n}" for n in self.notes),
            f"loss = {self.loss!r} {self.unit}",
        ]
        return "\n".join(lines) + "\n"


class _Catch:
    """A sample sink that keeps one row's loss, label and weight."""

    def __init__(self, row: int | None, ident: str | None) -> None:
        self.row, self.ident = row, ident
        self.found: tuple[int, Any, str, float, float] | None = None

    def start(self) -> None:
        self.found = None

    def write(
        self,
        index: npt.NDArray[np.int64],
        ids: Any,
        labels: Sequence[str] | npt.NDArray[Any],
        loss: FloatArray,
        weight: FloatArray,
    ) -> None:
        if self.found is not None:
            return
        if self.row is not None:
            hits = np.flatnonzero(index == self.row)
        else:
            values = ids.to_pylist() if hasattr(ids, "to_pylist") else list(ids or [])
            hits = np.array([i for i, v in enumerate(values) if str(v).strip() == self.ident])
        if len(hits):
            i = int(hits[0])
            ident = None
            if ids is not None:
                ident = ids[i].as_py() if hasattr(ids[i], "as_py") else ids[i]
            self.found = (int(index[i]), ident, str(labels[i]), float(loss[i]), float(weight[i]))


def explain(
    predictions: str,
    *,
    row: int | None = None,
    id: str | None = None,
    options: ScoreOptions | None = None,
) -> Explanation:
    """Explain the loss of the sample at 0-based ``row`` (or with id ``id``)."""
    if (row is None) == (id is None):
        raise UsageError("give exactly one of --row K or --id VALUE")
    if row is not None and row < 0:
        raise UsageError(f"--row must be >= 0, not {row}")
    opts = (options or ScoreOptions()).checked()
    pred_source, label_source = open_sources(predictions, opts)
    catch = _Catch(row, None if id is None else str(id).strip())
    report = score_source(pred_source, label_source, replace(opts, top=0), sample_sink=catch)
    if catch.found is None:
        read = report.n_samples + report.n_ignored
        if row is not None and row < read:
            raise UsageError(f"--row {row}: that row has the ignored label; it has no loss")
        what = f"--row {row}" if row is not None else f"--id {id!r}"
        raise UsageError(
            f"{what}: no such sample in {predictions} ({read} rows, indices 0..{read - 1}"
            f"{', ids from the ' + repr(report.id_column) + ' column' if report.id_column else ''})"
        )
    index, ident, label, loss, weight = catch.found
    layout = layout_of(pred_source, label_source, opts)
    layout.classes = list(report.classes)
    values, target = _row_inputs(pred_source, layout, opts, index)
    notes = []
    if (
        opts.renormalize
        and report.inputs == "probs"
        and values.size > 1
        and report.task != "multilabel"
    ):
        total = float(values.sum())
        if total != 1.0:
            notes.append(f"the row summed to {total:.6g}; --renormalize divided it by that sum")
            values = values / total
    explanation = Explanation(
        index=index,
        id=ident,
        label=label,
        task=report.task,
        inputs=report.inputs,
        unit=report.unit,
        formula="",
        steps=[],
        loss=loss,
        weight=weight,
        notes=notes,
        warnings=list(report.warnings),
    )
    _write_steps(explanation, values, target, layout.classes, opts, report.inputs)
    return explanation


def _row_inputs(
    source: Any, layout: Any, opts: ScoreOptions, index: int
) -> tuple[FloatArray, FloatArray]:
    """The prediction values and the target distribution of input row ``index``."""
    encoder = LabelEncoder(layout)
    for chunk, _ in decoded_chunks(source, layout, encoder, opts):
        hits = np.flatnonzero(chunk.rows == index)
        if not len(hits):
            continue
        i = int(hits[0])
        values = np.atleast_1d(chunk.values[i]).astype(np.float64)
        if chunk.targets is not None:
            return values, chunk.targets[i].astype(np.float64)
        assert chunk.label is not None
        y = int(encoder.encode(chunk.label.slice(i, 1), chunk.where, layout.label_column)[0])
        if values.size == 1:
            return values, np.array([float(y)])
        onehot = np.zeros(values.size)
        onehot[y] = 1.0
        return values, onehot
    raise UsageError(f"row {index} vanished between two reads of {source.name}")


def _f(value: float) -> str:
    """A number as it appears in a worked formula (4 significant digits)."""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    text = f"{value:.4g}"
    return text if "e" not in text else f"{value:.3e}"


def _sigmoid(z: float) -> float:
    """The probability of a logit, σ(z) = 1 / (1 + e^(-z)) (0 where e^(-z) overflows)."""
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def _signed(value: float) -> str:
    """A number to subtract: negative ones in parentheses (``2 - (-1)``)."""
    text = _f(value)
    return f"({text})" if text.startswith("-") else text


def _write_steps(
    out: Explanation,
    values: FloatArray,
    target: FloatArray,
    classes: list[str],
    opts: ScoreOptions,
    inputs: str,
) -> None:
    assert isinstance(opts.eps, float)
    a = opts.label_smoothing
    unit_note = f" = {_f(out.loss)} bits" if out.unit == "bits" else ""
    to_nats = math.log(2.0) if out.unit == "bits" else 1.0
    nats = out.loss * to_nats
    if out.task == "multilabel":
        _multilabel_steps(out, values, target, classes, opts, inputs, nats)
    elif values.size == 1:
        _binary_steps(out, float(values[0]), float(target[0]), opts, inputs, nats)
    else:
        _categorical_steps(out, values, target, classes, opts, inputs, nats)
    if a:
        out.notes.append(f"label smoothing α = {_f(a)} applied to the targets")
    if unit_note:
        out.steps.append(f"in bits: H / ln 2 = {_f(nats)} / {_f(math.log(2))}{unit_note}")
    if out.weight != 1.0:
        out.notes.append(
            f"weight w = {_f(out.weight)}: this sample adds w·H to the weighted sum of losses"
        )


def _probability(value: float, opts: ScoreOptions, out: Explanation, name: str) -> float:
    assert isinstance(opts.eps, float)
    eps = opts.eps
    if eps > 0 and not (eps <= value <= 1 - eps):
        clipped = min(max(value, eps), 1 - eps)
        out.notes.append(f"{name} = {_f(value)} clipped to [eps, 1 - eps] = {_f(clipped)}")
        return clipped
    return value


def _binary_steps(
    out: Explanation, value: float, y: float, opts: ScoreOptions, inputs: str, nats: float
) -> None:
    a = opts.label_smoothing
    t = (1 - a) * y + a / 2 if a else y
    out.formula = "H = -[y·ln(p) + (1 - y)·ln(1 - p)]"
    if inputs == "logits":
        out.formula += ", p = σ(z) = 1 / (1 + e^(-z))"
        p = _sigmoid(value)
        out.steps.append(f"p = σ({_f(value)}) = {_f(p)}")
        out.steps.append(
            f"ln(p) = -softplus(-z) = {_f(-float(engine._softplus(np.array([-value]))[0]))}, "
            f"ln(1 - p) = -softplus(z) = {_f(-float(engine._softplus(np.array([value]))[0]))}"
        )
    elif inputs == "log-probs":
        p = math.exp(value)
        out.steps.append(f"p = e^({_f(value)}) = {_f(p)}")
    else:
        p = value
    p_pos, p_neg = p, 1 - p
    if inputs == "probs":
        if t > 0:
            p_pos = _probability(p, opts, out, "p")
        if t < 1:
            p_neg = _probability(1 - p, opts, out, "1 - p")
    out.steps.append(
        f"H = -[{_f(t)}·ln({_f(p_pos)}) + {_f(1 - t)}·ln({_f(p_neg)})] = {_f(nats)} nats"
    )


def _categorical_steps(
    out: Explanation,
    values: FloatArray,
    target: FloatArray,
    classes: list[str],
    opts: ScoreOptions,
    inputs: str,
    nats: float,
) -> None:
    a = opts.label_smoothing
    k = values.size
    q = (1 - a) * target + a / k if a else target
    out.formula = "H = -Σ_c q_c·ln(p_c)"
    log_norm = 0.0
    if inputs == "logits":
        out.formula += ", ln(p_c) = z_c - ln Σ_j e^(z_j)"
        log_norm = float(engine._log_softmax_parts(values[None, :])[0])
        terms = " + ".join(f"e^({_f(z)})" for z in values[:8]) + (" + …" if k > 8 else "")
        out.steps.append(f"ln Σ_j e^(z_j) = ln({terms}) = {_f(log_norm)}")
        log_p = values - log_norm
    elif inputs == "log-probs":
        log_p = values
    else:
        probs = values.copy()
        used = np.flatnonzero(q > 0)
        for c in np.flatnonzero(q > 0).tolist():
            probs[c] = _probability(float(values[c]), opts, out, f"p_{classes[c]}")
        with np.errstate(divide="ignore"):
            log_p = np.log(probs)
    used = np.flatnonzero(q > 0)
    if len(used) == 1 and q[used[0]] == 1.0:
        c = int(used[0])
        out.formula += f"; with a one-hot target only the true class ({classes[c]}) counts"
        if inputs == "logits":
            out.steps.append(
                f"H = ln Σ_j e^(z_j) - z_{classes[c]} = {_f(log_norm)} - {_signed(values[c])} "
                f"= {_f(nats)} nats"
            )
        elif inputs == "probs":
            out.steps.append(f"H = -ln({_f(math.exp(log_p[c]))}) = {_f(nats)} nats")
        else:
            out.steps.append(f"H = -({_f(log_p[c])}) = {_f(nats)} nats")
        return
    if inputs == "probs":
        parts = [f"{_f(q[c])}·ln({_f(math.exp(log_p[c]))})" for c in used]
    else:
        parts = [f"{_f(q[c])}·({_f(log_p[c])})" for c in used]
    out.steps.append(
        "q = (" + ", ".join(f"{classes[c]}: {_f(q[c])}" for c in range(min(k, 12))) + ")"
    )
    out.steps.append(f"H = -[{' + '.join(parts)}] = {_f(nats)} nats")


def _multilabel_steps(
    out: Explanation,
    values: FloatArray,
    target: FloatArray,
    classes: list[str],
    opts: ScoreOptions,
    inputs: str,
    nats: float,
) -> None:
    a = opts.label_smoothing
    t = (1 - a) * target + a / 2 if a else target
    out.formula = "H = (1/K)·Σ_k -[y_k·ln(p_k) + (1 - y_k)·ln(1 - p_k)]"
    assert isinstance(opts.eps, float)
    elements, _ = engine.multilabel_losses(
        target[None, :], values[None, :], inputs=inputs, eps=opts.eps, label_smoothing=a
    )
    for k, name in enumerate(classes):
        if inputs == "logits":
            p = _sigmoid(float(values[k]))
        elif inputs == "log-probs":
            p = math.exp(values[k])
        else:
            p = float(values[k])
        out.steps.append(
            f"{name}: -[{_f(t[k])}·ln({_f(p)}) + {_f(1 - t[k])}·ln({_f(1 - p)})] "
            f"= {_f(float(elements[0, k]))}"
        )
    out.steps.append(
        f"H = ({' + '.join(_f(float(v)) for v in elements[0])}) / {len(classes)} = {_f(nats)} nats"
    )
