"""One sample's loss written out step by step (``xent explain``).

The sample is scored by the same pass as ``xent score`` (so the result equals
that row's loss in ``--format csv`` exactly); its inputs are then read back
and substituted into the formula of its task, in the notation of
``docs/cross-entropy.md``: ``H = -[y·ln(p) + (1 - y)·ln(1 - p)]`` for binary,
``H = -Σ_c q_c·ln(p_c)`` for categorical targets, with natural logarithms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from xent import loss as formulas
from xent.errors import UsageError
from xent.options import ScoreOptions
from xent.pipeline import Samples, open_sources, score_source
from xent.render.text import printable
from xent.report import json_safe

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
    #: The clip of probabilities the loss was computed with.
    eps: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The explanation as a JSON-ready object (schema ``xent.explain/1``)."""
        safe: dict[str, Any] = json_safe(
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
        return "".join(printable(line) + "\n" for line in lines)


class _Catch:
    """A sample sink that keeps one sample: its loss, label, weight and inputs."""

    def __init__(self, row: int | None, ident: str | None) -> None:
        self.row, self.ident = row, ident
        self.found: _Found | None = None

    def start(self) -> None:
        self.found = None

    def write(self, samples: Samples) -> None:
        if self.found is not None:
            return
        if self.row is not None:
            hits = np.flatnonzero(samples.index == self.row)
        else:
            ids = samples.id_values()
            hits = np.array([i for i, v in enumerate(ids) if str(v).strip() == self.ident])
        if not len(hits):
            return
        i = int(hits[0])
        values = np.atleast_1d(samples.values[i]).astype(np.float64)
        if samples.targets is not None:
            target = samples.targets[i].astype(np.float64)
        elif samples.y is None:  # the value of the true class itself
            target = np.array([1.0])
        else:
            y = int(samples.y[i])
            target = np.array([float(y)]) if values.size == 1 else np.eye(values.size)[y]
        self.found = _Found(
            index=int(samples.index[i]),
            id=samples.id_values()[i],
            label=str(samples.labels[i]),
            loss=float(samples.loss[i]),
            weight=float(samples.weight[i]),
            values=values,
            target=target,
        )


@dataclass(frozen=True)
class _Found:
    index: int
    id: Any
    label: str
    loss: float
    weight: float
    values: FloatArray
    target: FloatArray


def explain(
    predictions: str,
    *,
    row: int | None = None,
    id: str | None = None,
    options: ScoreOptions | None = None,
) -> Explanation:
    """Explain the loss of the sample at 0-based ``row`` (or with id ``id``).

    The sample is scored in the same single pass as ``xent score`` would score
    the whole input, so its loss is exactly the one ``--format csv`` shows.
    """
    if (row is None) == (id is None):
        raise UsageError("give exactly one of --row K or --id VALUE")
    if row is not None and row < 0:
        raise UsageError(f"--row must be >= 0, not {row}")
    opts = (options or ScoreOptions()).checked()
    pred_source, label_source = open_sources(predictions, opts)
    catch = _Catch(row, None if id is None else str(id).strip())
    report = score_source(pred_source, label_source, replace(opts, top=0), sample_sink=catch)
    found = catch.found
    if found is None:
        read = report.n_samples + report.n_ignored
        if row is not None and row < read:
            raise UsageError(f"--row {row}: that row has an ignored label; it has no loss")
        what = f"--row {row}" if row is not None else f"--id {id!r}"
        ids = "" if report.id_column is None else f", ids from the {report.id_column!r} column"
        raise UsageError(
            f"{what}: no such sample in {predictions} ({read} rows, indices 0..{read - 1}{ids})"
        )
    values = found.values
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
        index=found.index,
        id=found.id,
        label=found.label,
        task=report.task,
        inputs=report.inputs,
        unit=report.unit,
        formula="",
        steps=[],
        loss=found.loss,
        weight=found.weight,
        notes=notes,
        warnings=list(report.warnings),
        eps=report.eps,
    )
    if opts.like != "sklearn":
        explanation.notes.append(
            f"the loss follows --like {opts.like}; the steps are written in xent's own "
            "formulas, which may clip or weight otherwise (see docs/conventions.md)"
        )
    _write_steps(explanation, values, found.target, list(report.classes), opts, report.inputs)
    return explanation


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
    a = opts.label_smoothing
    unit_note = f" = {_f(out.loss)} bits" if out.unit == "bits" else ""
    to_nats = math.log(2.0) if out.unit == "bits" else 1.0
    nats = out.loss * to_nats
    if inputs.startswith("target-"):
        _true_class_steps(out, float(values[0]), opts, inputs, nats)
    elif out.task == "multilabel":
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
    eps = out.eps
    if eps > 0 and not (eps <= value <= 1 - eps):
        clipped = min(max(value, eps), 1 - eps)
        out.notes.append(f"{name} = {_f(value)} clipped to [eps, 1 - eps] = {_f(clipped)}")
        return clipped
    return value


def _true_class_steps(
    out: Explanation, value: float, opts: ScoreOptions, inputs: str, nats: float
) -> None:
    """The value given is that of the true class: ``H = -ln(p_y)``."""
    out.formula = "H = -ln(p_y), p_y the probability of the true class"
    if inputs == "target-log-probs":
        out.steps.append(f"H = -({_f(value)}) = {_f(nats)} nats")
    else:
        p = _probability(value, opts, out, "p_y")
        out.steps.append(f"H = -ln({_f(p)}) = {_f(nats)} nats")


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
            f"ln(p) = -softplus(-z) = {_f(-float(formulas.softplus(np.array([-value]))[0]))}, "
            f"ln(1 - p) = -softplus(z) = {_f(-float(formulas.softplus(np.array([value]))[0]))}"
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
        log_norm = float(formulas.log_sum_exp(values[None, :])[0])
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
    elements, _ = formulas.multilabel_losses(
        target[None, :], values[None, :], inputs=inputs, eps=out.eps, label_smoothing=a
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
