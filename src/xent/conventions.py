"""Framework conventions: the number scikit-learn, PyTorch or Keras prints (``--like``).

The frameworks agree on the formula of cross-entropy and disagree at its
edges: how probabilities of 0 and 1 are made safe, how a weighted mean is
divided, how class weights combine with label smoothing. A
:class:`Convention` holds every such choice; :func:`convention_for` sets them
from ``--like`` and the options that refine it, and :func:`score_like` is the
loss stage for the choices other than xent's own. docs/conventions.md has the
table of differences, the option that reproduces each and the measured
agreement.

- **sklearn** (the default): probabilities clipped to [eps, 1 - eps] with eps
  the machine epsilon of the input's dtype (float32 arrays at 1.19e-7), as
  ``sklearn.metrics.log_loss``; the mean is weighted: sum(w l) / sum(w).
- **torch**: ``cross_entropy`` / ``nll_loss`` take log-probabilities as they
  are (a probability of 0 on the true class costs inf); ``binary_cross_entropy``
  clamps each logarithm at -100; class weights weight every class's term of
  the smoothed loss, and a hard-label mean divides by the summed class weight
  of the samples; soft targets, binary and multilabel losses divide by N;
  ``pos_weight`` multiplies the positive term.
- **keras**: probability rows are divided by their sum and clipped to
  [1e-7, 1 - 1e-7] (the bounds rounded to float32 for float32 input); the
  mean divides the weighted sum by N; the focal losses go through sigmoid or
  softmax and that clip even from logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from xent.errors import UsageError

if TYPE_CHECKING:
    from xent.loss import LossPlan, ScoredChunk

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

LIKES = ("sklearn", "torch", "keras")
REDUCTIONS = ("weighted-mean", "mean", "sum")
#: Keras' ``epsilon()``, its clip of probabilities.
KERAS_EPS = 1e-7
#: PyTorch's ``binary_cross_entropy`` clamps each logarithm at this value.
TORCH_LOG_FLOOR = -100.0


@dataclass(frozen=True)
class Convention:
    """Every choice at the edges of cross-entropy that changes the number.

    ``eps`` and ``upper`` clip probabilities (``eps`` 0: no clip); ``log_floor``
    clamps the logarithms of binary probabilities; ``normalize_rows`` divides
    probability rows by their sum; ``weight_per_class`` weights each class's
    term of a smoothed or soft target by its class weight (PyTorch) instead of
    the whole loss of a sample by the weight of its class; ``pos_weight`` (one
    value, or one per label) multiplies the positive term of binary losses;
    ``focal_gamma`` / ``focal_alpha`` make the loss a focal loss, computed from
    clipped probabilities when ``focal_through_probs`` (Keras).
    """

    like: str = "sklearn"
    reduction: str = "weighted-mean"
    eps: float = 2.220446049250313e-16
    upper: float = 1.0 - 2.220446049250313e-16
    log_floor: float | None = None
    normalize_rows: bool = False
    weight_per_class: bool = False
    pos_weight: tuple[float, ...] | None = None
    focal_gamma: float | None = None
    focal_alpha: float | None = None
    focal_through_probs: bool = False
    #: Keras on float32 input computes 1 - p in float32 (1 - float32(1 - 1e-7) is 2**-23).
    float32_complement: bool = False

    @property
    def own(self) -> bool:
        """True when xent's own formulas apply (scikit-learn's; any reduction)."""
        return (
            self.like == "sklearn"
            and self.pos_weight is None
            and self.focal_gamma is None
            and self.upper == 1.0 - self.eps
        )

    def describe(self) -> str:
        """The convention in a few words, for reports."""
        reduction = {
            "weighted-mean": "weighted mean",
            "mean": "mean over samples",
            "sum": "sum",
        }[self.reduction]
        extra = []
        if self.focal_gamma is not None:
            extra.append(f"focal γ={self.focal_gamma:g}")
        if self.pos_weight is not None:
            extra.append("pos_weight")
        return ", ".join([f"like {self.like}", reduction, *extra])


def convention_for(
    *,
    like: str,
    reduction: str | None,
    eps: float | None,
    dtype: str,
    task: str,
    soft: bool,
    inputs: str,
    pos_weight: tuple[float, ...] | None = None,
    focal_gamma: float | None = None,
    focal_alpha: float | None = None,
) -> Convention:
    """The convention of ``--like`` for inputs of ``dtype``, refined by the options.

    ``eps`` is the value of ``--eps`` (None for ``auto``); ``reduction`` of
    ``--reduction`` (None: the framework's default for this task).
    """
    if like not in LIKES:
        raise UsageError(f"--like must be one of {', '.join(LIKES)}, not {like!r}")
    if reduction is not None and reduction not in REDUCTIONS:
        raise UsageError(f"--reduction must be one of {', '.join(REDUCTIONS)}, not {reduction!r}")
    if focal_alpha is not None and focal_gamma is None:
        raise UsageError("--focal-alpha needs --focal-gamma (the focusing exponent)")
    if focal_gamma is not None and (not math.isfinite(focal_gamma) or focal_gamma < 0):
        raise UsageError(f"--focal-gamma must be >= 0, not {focal_gamma}")
    if focal_alpha is not None and not 0.0 <= focal_alpha <= 1.0:
        raise UsageError(f"--focal-alpha must be in [0, 1], not {focal_alpha}")
    if focal_gamma is not None and soft:
        raise UsageError("--focal-gamma needs one true class per sample, not soft targets")
    if pos_weight is not None and task == "multiclass":
        raise UsageError("--pos-weight applies to binary and multilabel losses only")
    binary = task in ("binary", "multilabel")
    if reduction is None:
        reduction = _default_reduction(like, task, soft, focal_gamma is not None)
    floor = None
    normalize = False
    if like == "keras":
        lower, upper = _keras_bounds(dtype)
        normalize = inputs == "probs" and not binary
    elif like == "torch":
        lower, upper = 0.0, 1.0
        if binary and inputs == "probs":
            floor = TORCH_LOG_FLOOR
    else:
        lower = float(np.finfo(_numpy_dtype(dtype)).eps)
        upper = 1.0 - lower
    if eps is not None:  # --eps given: it sets the clip whatever the framework
        lower, upper = eps, 1.0 - eps
    return Convention(
        like=like,
        reduction=reduction,
        eps=lower,
        upper=upper,
        log_floor=floor,
        normalize_rows=normalize,
        weight_per_class=like == "torch",
        pos_weight=pos_weight,
        focal_gamma=focal_gamma,
        focal_alpha=focal_alpha,
        focal_through_probs=like == "keras",
        float32_complement=like == "keras" and dtype in ("float32", "float16"),
    )


def _default_reduction(like: str, task: str, soft: bool, focal: bool) -> str:
    if like == "sklearn":
        return "weighted-mean"
    if like == "keras":
        return "mean"
    # torch: cross_entropy / nll_loss with hard labels divide by the summed class
    # weights; with soft targets, and every binary loss, by N.
    return "weighted-mean" if task == "multiclass" and not soft and not focal else "mean"


def _keras_bounds(dtype: str) -> tuple[float, float]:
    """Keras' clip bounds, as the input's float type holds them."""
    if dtype in ("float32", "float16"):
        return float(np.float32(KERAS_EPS)), float(np.float32(1.0 - KERAS_EPS))
    return KERAS_EPS, 1.0 - KERAS_EPS


def _numpy_dtype(dtype: str) -> Any:
    return {"float16": np.float16, "float32": np.float32}.get(dtype, np.float64)


def parse_pos_weight(text: str | None, classes: tuple[str, ...]) -> tuple[float, ...] | None:
    """``--pos-weight 2.5`` (every label) or ``a=2,b=0.5`` (per label, the others 1)."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if len(items) == 1 and "=" not in items[0]:
        value = _weight(items[0], text)
        return (value,) * max(1, len(classes))
    weights = dict.fromkeys(classes, 1.0)
    for item in items:
        name, sep, value_text = item.partition("=")
        if not sep:
            raise UsageError(f"--pos-weight: {item!r} is not NAME=WEIGHT; example: a=2,b=0.5")
        if name.strip() not in weights:
            raise UsageError(
                f"--pos-weight: {name.strip()!r} is not a label; labels are {', '.join(classes)}"
            )
        weights[name.strip()] = _weight(value_text, text)
    return tuple(weights.values())


def _weight(text: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"--pos-weight must be a number or NAME=WEIGHT list, not {whole!r}"
        ) from None
    if not (math.isfinite(value) and value >= 0):
        raise UsageError(f"--pos-weight must be >= 0, not {whole!r}")
    return value


def score_like(
    conv: Convention,
    plan: LossPlan,
    values: FloatArray,
    weights: FloatArray,
    *,
    y: IntArray | None = None,
    targets: FloatArray | None = None,
) -> ScoredChunk:
    """The loss stage under a framework's convention (see the module docstring).

    Returns the same :class:`~xent.loss.ScoredChunk` as xent's own formulas:
    ``loss`` is each sample's loss such that the framework's per-sample output
    is ``loss`` times ``weight``, and the reduction divides the summed
    ``numerator`` by the summed ``weight`` (weighted-mean), the number of
    samples (mean) or nothing (sum).
    """
    from xent.loss import ScoredChunk

    k, a, cw = plan.n_classes, plan.label_smoothing, plan.class_weights
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if plan.task == "multilabel":
            assert targets is not None
            t = (1 - a) * targets + a / 2 if a else targets
            elements, changed = _binary_elements(conv, plan.inputs, values, t)
            w = np.broadcast_to(weights[:, None] * (cw if cw is not None else 1.0), elements.shape)
            weighted = w * elements
            return ScoredChunk(
                loss=elements.mean(axis=1) + 0.0,
                weight=weights,
                numerator=weighted.sum(axis=1),
                denominator=w.sum(axis=1),
                class_loss=weighted.sum(axis=0),
                class_weight=w.sum(axis=0),
                class_count=np.full(k, len(elements), dtype=np.int64),
                class_mass=(w * t).sum(axis=0),
                n_clipped=changed,
                entropy=(w * _binary_entropy(t)).sum(axis=1) if plan.entropy else None,
            )
        if targets is not None:
            return _soft(conv, plan, values, weights, targets)
        assert y is not None
        if values.ndim == 1:
            t = y.astype(np.float64)
            if a:
                t = (1 - a) * t + a / 2
            loss, changed = _binary_elements(conv, plan.inputs, values, t)
            if cw is not None:
                weights = weights * cw[y]
            mass_pos = float(weights @ t)
            mass = np.array([float(weights.sum()) - mass_pos, mass_pos])
            entropy = weights * _binary_entropy(t) if plan.entropy else None
            return _hard(loss + 0.0, weights, weights * loss, y, k, mass, changed, entropy)
        return _multiclass(conv, plan, values, weights, y)


def _hard(
    loss: FloatArray,
    weights: FloatArray,
    numerator: FloatArray,
    y: IntArray,
    k: int,
    mass: FloatArray,
    changed: int,
    entropy: FloatArray | None,
) -> ScoredChunk:
    from xent.loss import ScoredChunk

    return ScoredChunk(
        loss=loss,
        weight=weights,
        numerator=numerator,
        denominator=weights,
        class_loss=np.bincount(y, weights=numerator, minlength=k).astype(np.float64),
        class_weight=np.bincount(y, weights=weights, minlength=k).astype(np.float64),
        class_count=np.bincount(y, minlength=k).astype(np.int64),
        class_mass=mass,
        n_clipped=changed,
        entropy=entropy,
    )


def _multiclass(
    conv: Convention, plan: LossPlan, values: FloatArray, weights: FloatArray, y: IntArray
) -> ScoredChunk:
    k, a, cw = plan.n_classes, plan.label_smoothing, plan.class_weights
    rows = np.arange(len(y))
    log_p, changed = _log_p_matrix(conv, plan.inputs, values)
    nll = -log_p[rows, y]
    t = None
    if a or conv.focal_gamma is not None:
        t = np.full(log_p.shape, a / k)
        t[rows, y] += 1 - a
    if conv.focal_gamma is not None:
        assert t is not None
        p = np.exp(log_p)
        alpha = conv.focal_alpha if conv.focal_alpha is not None else 1.0
        terms = alpha * (1 - p) ** conv.focal_gamma * -_xlogy(t, log_p)
        loss = terms.sum(axis=1)
        weights = weights * cw[y] if cw is not None else weights
        numerator = weights * loss
    elif conv.weight_per_class and cw is not None:
        # PyTorch: (1 - a) w[y] nll + a/K sum_c w[c] (-ln p_c); its mean divides by
        # the summed w[y]. The per-sample loss is that over w[y].
        framework = (1 - a) * cw[y] * nll
        if a:
            framework = framework + a / k * (-(log_p * cw)).sum(axis=1)
        numerator = weights * framework
        weights = weights * cw[y]
        loss = np.where(cw[y] > 0, framework / np.where(cw[y] > 0, cw[y], 1.0), 0.0)
    else:
        loss = (1 - a) * nll + (a * -log_p.mean(axis=1) if a else 0.0)
        weights = weights * cw[y] if cw is not None else weights
        numerator = weights * loss
    mass = np.bincount(y, weights=weights, minlength=k).astype(np.float64)
    if a:
        mass = (1 - a) * mass + a / k * float(weights.sum())
    entropy = None
    if plan.entropy:
        h = -_xlogy(t, np.log(t)).sum(axis=1) if t is not None else np.zeros(len(y))
        entropy = weights * h
    return _hard(loss + 0.0, weights, numerator, y, k, mass, changed, entropy)


def _soft(
    conv: Convention, plan: LossPlan, values: FloatArray, weights: FloatArray, q: FloatArray
) -> ScoredChunk:
    from xent.loss import ScoredChunk

    k, a, cw = plan.n_classes, plan.label_smoothing, plan.class_weights
    log_p, changed = _log_p_matrix(conv, plan.inputs, values)
    smoothed = (1 - a) * q + a / k if a else q
    elements = -_xlogy(smoothed, log_p)
    if cw is not None:
        per_row = q @ cw
        if conv.weight_per_class:
            # PyTorch: -sum_c w[c] q'_c ln p_c per sample (its mean divides by N).
            framework = (elements * cw).sum(axis=1)
            numerator = weights * framework
            class_loss = weights @ (elements * cw)
            loss = np.where(per_row > 0, framework / np.where(per_row > 0, per_row, 1.0), 0.0)
            weights = weights * per_row
        else:
            weights = weights * per_row
            loss = elements.sum(axis=1)
            numerator = weights * loss
            class_loss = weights @ elements
    else:
        loss = elements.sum(axis=1)
        numerator = weights * loss
        class_loss = weights @ elements
    entropy = weights * -_xlogy(smoothed, np.log(smoothed)).sum(axis=1) if plan.entropy else None
    return ScoredChunk(
        loss=loss + 0.0,
        weight=weights,
        numerator=numerator,
        denominator=weights,
        class_loss=class_loss,
        class_weight=weights @ smoothed,
        class_count=np.count_nonzero(q > 0, axis=0).astype(np.int64),
        class_mass=weights @ smoothed,
        n_clipped=changed,
        entropy=entropy,
    )


def _log_p_matrix(conv: Convention, inputs: str, values: FloatArray) -> tuple[FloatArray, int]:
    """Log-probabilities of every class under the convention, and how many values it changed."""
    from xent.loss import log_sum_exp

    through_probs = conv.focal_gamma is not None and conv.focal_through_probs
    if inputs == "logits" and not through_probs:
        return values - log_sum_exp(values)[:, None], 0
    if inputs == "log-probs" and not through_probs:
        return values, 0
    if inputs == "logits":
        p = np.exp(values - log_sum_exp(values)[:, None])
    elif inputs == "log-probs":
        p = np.exp(values)
    else:
        p = values
    changed = 0
    if conv.normalize_rows:
        sums = p.sum(axis=1, keepdims=True)
        changed += int(np.count_nonzero(sums != 1.0))
        p = p / sums
    if conv.eps > 0.0 or conv.upper < 1.0:
        outside = (p < conv.eps) | (p > conv.upper)
        changed += int(np.count_nonzero(outside))
        p = np.clip(p, conv.eps, conv.upper)
    return np.log(p), changed


def _binary_elements(
    conv: Convention, inputs: str, values: FloatArray, t: FloatArray
) -> tuple[FloatArray, int]:
    """Binary cross-entropy of each element (focal and ``pos_weight`` included) under the
    convention, and how many values the convention changed."""
    from xent.loss import _log1mexp, softplus

    changed = 0
    through_probs = conv.focal_gamma is not None and conv.focal_through_probs
    if inputs == "logits":
        p = 1.0 / (1.0 + np.exp(-values))
    elif inputs == "log-probs":
        p = np.exp(values)
    else:
        p = values
    if inputs == "logits" and not through_probs:
        log_pos, log_neg = -softplus(-values), -softplus(values)
    elif inputs == "log-probs" and not through_probs:
        log_pos, log_neg = values, _log1mexp(values)
    else:
        clipped = p
        if conv.eps > 0.0 or conv.upper < 1.0:
            outside = (p < conv.eps) | (p > conv.upper)
            changed += int(np.count_nonzero(outside))
            clipped = np.clip(p, conv.eps, conv.upper)
        complement = 1.0 - clipped
        if conv.float32_complement:
            complement = complement.astype(np.float32).astype(np.float64)
        log_pos, log_neg = np.log(clipped), np.log(complement)
        if conv.log_floor is not None:
            changed += int(np.count_nonzero((log_pos < conv.log_floor) & (t > 0)))
            changed += int(np.count_nonzero((log_neg < conv.log_floor) & (t < 1)))
            log_pos = np.maximum(log_pos, conv.log_floor)
            log_neg = np.maximum(log_neg, conv.log_floor)
    positive = _xlogy(t, log_pos)
    if conv.pos_weight is not None:
        weight = np.asarray(conv.pos_weight, dtype=np.float64)
        positive = positive * (weight if values.ndim == 2 else weight[0])
    elements = -(positive + _xlogy(1.0 - t, log_neg))
    if conv.focal_gamma is not None:
        p_t = p * t + (1.0 - p) * (1.0 - t)
        elements = elements * (1.0 - p_t) ** conv.focal_gamma
        if conv.focal_alpha is not None:
            elements = elements * (conv.focal_alpha * t + (1.0 - conv.focal_alpha) * (1.0 - t))
    return elements, changed


def _xlogy(weight: FloatArray, log_value: FloatArray) -> FloatArray:
    """weight * log_value, with 0 wherever weight is 0 (even when log_value is -inf)."""
    out: FloatArray = np.where(weight == 0.0, 0.0, weight * log_value)
    return out


def _binary_entropy(t: FloatArray) -> FloatArray:
    """Entropy of Bernoulli(t), elementwise, in nats."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = -(_xlogy(t, np.log(t)) + _xlogy(1.0 - t, np.log(1.0 - t)))
    return out
