"""Generate the peers fixture: predictions, and what torch, keras and scikit-learn print on them.

``tests/test_peers.py`` checks that ``xent score --like sklearn|torch|keras`` reproduces
every value of ``peers.json``. CI does not install torch, keras or jax: it only reads the
fixture this script wrote. Run it again (deterministic: fixed seeds) only to add cases or
to move to other framework versions, in a virtual environment that has them::

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install torch==2.13.0   # the CPU wheel; never plain `torch`
    /work/peers-venv/bin/pip install jax jaxlib keras scikit-learn numpy pandas pyarrow
    /work/peers-venv/bin/python tests/peers/make_peers.py

It writes ``data/*.csv`` and ``data/*.npy`` (the inputs), ``peers.json`` (the cases) and
``CONVENTIONS.md`` (the measured convention differences), all beside this file.

Every framework runs in float64 (torch on float64 tensors; keras on the jax backend with
``jax_enable_x64`` and ``floatx`` float64), except the cases marked ``dtype: float32``.
Every value is also recomputed here from a plain NumPy formula, and the script stops if
the two disagree: those formulas (the ``ref_*`` functions) are the ones xent must follow.

Case fields (one dict per case in the list ``peers.json``):

- ``name``, ``framework`` (sklearn, torch, torchvision, keras), ``call`` (the exact
  call, as a string), ``versions`` (of the libraries the case ran on);
- ``inputs``: ``predictions`` and optionally ``labels`` (paths relative to this folder),
  ``columns`` (which columns the framework got as what);
- ``options_of_framework``: every argument given to the framework, with its value;
- ``xent_args``: the ``xent score`` options expected to reproduce ``value``;
- ``value``: the framework's printed result (the strings "inf" and "nan" stand for
  those values); ``xent_exit`` (default 0): 4 when xent must refuse the input instead;
- ``per_sample``: the framework's ``reduction='none'`` output, one entry per input row,
  ``null`` for ignored rows; multilabel: the mean over classes of the (N, K) output;
  ``per_sample_weights``: when the framework's per-sample output has a weight
  multiplied in, that multiplier for each row, so that xent's (unweighted) per-sample
  loss times it is ``per_sample``;
- ``metrics``: other figures of the same case (``kl``, ``target_entropy``);
- ``dtype`` (float64, float32) and ``rtol``: the relative tolerance of the comparison;
  ``reference_float64`` and ``per_sample_reference_float64``: where a framework computes
  part of a float64 case in float32 (keras' ``ops.mean``), the same call with that
  down-cast turned off, exact to 1e-9;
- ``formula``: the formula the NumPy check used; ``note``: what is special.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import importlib.util
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
NAMES = ["a", "b", "c", "d", "e"]
KERAS_EPS = 1e-7
TORCH_LOG_CLAMP = -100.0
F64 = np.float64

Array = np.ndarray


# --- input files --------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def write_csv(name: str, columns: dict[str, Sequence[Any]]) -> dict[str, Array]:
    """Write ``data/NAME`` and read it back, so the frameworks get exactly what xent reads."""
    path = DATA / name
    keys = list(columns)
    n = len(columns[keys[0]])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(keys)
        for i in range(n):
            writer.writerow([_cell(columns[k][i]) for k in keys])
    back: dict[str, list[str]] = {k: [] for k in keys}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for k in keys:
                back[k].append(row[k])
    out: dict[str, Array] = {}
    for k in keys:
        try:
            out[k] = np.array([int(v) for v in back[k]])
        except ValueError:
            try:
                out[k] = np.array([float(v) for v in back[k]], dtype=F64)
            except ValueError:
                out[k] = np.array(back[k])
    return out


def cols(prefix: str, matrix: Array, names: Sequence[str] | None = None) -> dict[str, Array]:
    names = names or NAMES[: matrix.shape[1]]
    return {f"{prefix}{c}": matrix[:, j] for j, c in enumerate(names)}


def stack(table: dict[str, Array], prefix: str, names: Sequence[str] | None = None) -> Array:
    keys = [f"{prefix}{c}" for c in names] if names else [k for k in table if k.startswith(prefix)]
    return np.stack([table[k] for k in keys], axis=1)


def write_npy(name: str, array: Array) -> Array:
    np.save(DATA / name, array, allow_pickle=False)
    return np.load(DATA / name, allow_pickle=False)


# --- plain NumPy formulas: what xent must compute -----------------------------------------


def log_softmax(z: Array) -> Array:
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def log_sigmoid(z: Array) -> Array:
    return -np.logaddexp(0.0, -z)


def onehot(y: Array, k: int) -> Array:
    return np.eye(k)[y]


def ref_sklearn(y: Array, p: Array, w: Array | None, eps: float) -> tuple[float, Array]:
    """log_loss: clip every probability to [eps, 1 - eps], no renormalisation."""
    pc = np.clip(p, eps, 1 - eps)
    losses = -np.log(pc[np.arange(len(y)), y])
    w = np.ones(len(y)) if w is None else w
    return float((w * losses).sum() / w.sum()), losses


def ref_torch_ce(
    logp: Array, y: Array, weight: Array | None, smoothing: float, ignore: int | None
) -> tuple[Array, Array]:
    """cross_entropy, hard labels: (per-sample 'none' output, denominator of 'mean')."""
    n, k = logp.shape
    weight = np.ones(k) if weight is None else weight
    valid = np.ones(n, bool) if ignore is None else y != ignore
    ys = np.where(valid, y, 0)
    nll = -logp[np.arange(n), ys]
    smooth = -(logp * weight).sum(axis=1)
    per = (1 - smoothing) * weight[ys] * nll + smoothing / k * smooth
    per = np.where(valid, per, 0.0)
    return per, np.where(valid, weight[ys], 0.0)


def ref_torch_soft(logp: Array, q: Array, weight: Array | None, smoothing: float) -> Array:
    k = logp.shape[1]
    weight = np.ones(k) if weight is None else weight
    qs = (1 - smoothing) * q + smoothing / k
    return -(qs * logp * weight).sum(axis=1)


def ref_torch_bce(p: Array, y: Array, w: Array | None) -> Array:
    loss = -(
        y * np.maximum(np.log(p), TORCH_LOG_CLAMP)
        + (1 - y) * np.maximum(np.log1p(-p), TORCH_LOG_CLAMP)
    )
    return loss if w is None else loss * (w if loss.ndim == 1 else w[:, None])


def ref_torch_bce_logits(z: Array, y: Array, w: Array | None, pos_weight: Any) -> Array:
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * y * log_sigmoid(z) + (1 - y) * log_sigmoid(-z))
    return loss if w is None else loss * (w if loss.ndim == 1 else w[:, None])


def ref_focal_torchvision(z: Array, y: Array, alpha: float, gamma: float) -> Array:
    ce = -(y * log_sigmoid(z) + (1 - y) * log_sigmoid(-z))
    p = 1 / (1 + np.exp(-z))
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


#: keras clips to [epsilon, 1 - epsilon] in the dtype of the tensor: in float32 the bounds
#: round to float32(1e-7) and float32(1 - 1e-7) = 1 - 2**-23.
KERAS_BOUNDS = {
    "float64": (KERAS_EPS, 1 - KERAS_EPS),
    "float32": (float(np.float32(KERAS_EPS)), float(np.float32(1 - KERAS_EPS))),
}


def keras_probs(p: Array, dtype: str = "float64") -> Array:
    """keras: divide each row by its sum, then clip to [1e-7, 1 - 1e-7]."""
    lo, hi = KERAS_BOUNDS[dtype]
    return np.clip(p / p.sum(axis=1, keepdims=True), lo, hi)


def ref_keras_cce(
    p: Array, t: Array, smoothing: float, from_logits: bool, dtype: str = "float64"
) -> Array:
    k = t.shape[1]
    ts = t * (1 - smoothing) + smoothing / k
    logp = log_softmax(p) if from_logits else np.log(keras_probs(p, dtype))
    return -(ts * logp).sum(axis=1)


def ref_keras_bce(
    p: Array, y: Array, smoothing: float, from_logits: bool, dtype: str = "float64"
) -> Array:
    """Elementwise; the caller takes the mean over the last axis."""
    ys = y * (1 - smoothing) + 0.5 * smoothing
    if from_logits:
        return -(ys * log_sigmoid(p) + (1 - ys) * log_sigmoid(-p))
    lo, hi = KERAS_BOUNDS[dtype]
    pc = np.clip(p, lo, hi)
    one_minus = 1 - pc
    if dtype == "float32":  # keras subtracts in float32: 1 - float32(1e-7) rounds to 1 - 2**-23
        one_minus = one_minus.astype(np.float32).astype(F64)
    return -(ys * np.log(pc) + (1 - ys) * np.log(one_minus))


def ref_keras_focal_binary(
    p: Array, y: Array, gamma: float, balance: bool, alpha: float, from_logits: bool
) -> Array:
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    bce = ref_keras_bce(p, y, 0.0, False)
    p_t = y * p + (1 - y) * (1 - p)  # p unclipped, as keras does
    loss = (1 - p_t) ** gamma * bce
    if balance:
        loss = (y * alpha + (1 - y) * (1 - alpha)) * loss
    return loss


def ref_keras_focal_cat(p: Array, t: Array, alpha: float, gamma: float, from_logits: bool) -> Array:
    if from_logits:
        p = np.exp(log_softmax(p))
    out = keras_probs(p)
    return (alpha * (1 - out) ** gamma * (-t * np.log(out))).sum(axis=1)


def keras_reduce(per: Array, w: Array | None) -> float:
    """'sum_over_batch_size': sum of weighted losses over the number of samples."""
    w = np.ones(len(per)) if w is None else w
    return float((w * per).sum() / len(per))


# --- the frameworks -----------------------------------------------------------------------


def versions(*names: str) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class Frameworks:
    def __init__(self) -> None:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        if os.environ["KERAS_BACKEND"] != "jax":
            sys.exit("make_peers.py: run keras on the jax backend (KERAS_BACKEND=jax)")
        import jax

        jax.config.update("jax_enable_x64", True)
        import keras
        import sklearn.metrics
        import torch
        import torch.nn.functional

        keras.config.set_floatx("float64")
        self.jax = jax
        self.keras = keras
        self.torch = torch
        self.F = torch.nn.functional
        self.log_loss = sklearn.metrics.log_loss
        self.focal, self.focal_source = load_sigmoid_focal_loss(torch)

    def t(self, array: Array, dtype: Any = None) -> Any:
        torch = self.torch
        if array.dtype.kind in "iu":
            return torch.tensor(array, dtype=torch.int64)
        return torch.tensor(array, dtype=dtype or torch.float64)

    @contextlib.contextmanager
    def keras_floatx(self, floatx: str) -> Iterator[None]:
        old = self.keras.config.floatx()
        self.keras.config.set_floatx(floatx)
        try:
            yield
        finally:
            self.keras.config.set_floatx(old)

    @contextlib.contextmanager
    def keras_exact_mean(self) -> Iterator[None]:
        """Keras' dtype promotion maps every 64-bit result to 32 bits, so ``ops.mean``
        of a float64 array is computed in float32; this turns that mapping off."""
        from keras.src.backend.common import dtypes

        saved = dtypes.BIT64_TO_BIT32_DTYPE
        dtypes.BIT64_TO_BIT32_DTYPE = {}
        try:
            yield
        finally:
            dtypes.BIT64_TO_BIT32_DTYPE = saved


def load_sigmoid_focal_loss(torch: Any) -> tuple[Callable[..., Any], str]:
    """torchvision.ops.sigmoid_focal_loss: imported; else its source run on this torch."""
    try:
        from torchvision.ops import sigmoid_focal_loss

        return sigmoid_focal_loss, "torchvision.ops.sigmoid_focal_loss, imported"
    except Exception:  # torchvision's C++ operators may not load next to this torch
        pass
    spec = importlib.util.find_spec("torchvision")  # finds the package without importing it
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "ops" / "focal_loss.py"
        if path.exists():
            source = path.read_text().replace(
                "from ..utils import _log_api_usage_once",
                "def _log_api_usage_once(obj):\n    pass",
            )
            namespace: dict[str, Any] = {}
            exec(compile(source, str(path), "exec"), namespace)
            version = importlib.metadata.version("torchvision")
            return namespace["sigmoid_focal_loss"], (
                f"torchvision {version} torchvision/ops/focal_loss.py, its source executed on "
                f"torch {torch.__version__} (the torchvision package itself does not import "
                "next to this torch build: its C++ operators are missing)"
            )

    def numpy_focal(
        inputs: Any, targets: Any, alpha: float = 0.25, gamma: float = 2, reduction: str = "none"
    ) -> Any:
        loss = ref_focal_torchvision(inputs.numpy(), targets.numpy(), alpha, gamma)
        return torch.tensor(
            {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction], dtype=torch.float64
        )

    return numpy_focal, (
        "NumPy re-implementation of torchvision.ops.sigmoid_focal_loss (torchvision not found)"
    )


# --- fixture building ---------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(value, np.integer):
        return int(value)
    return value


def close(a: Any, b: Any, rtol: float) -> bool:
    a = np.asarray(a, dtype=F64)
    b = np.asarray(b, dtype=F64)
    return bool(np.allclose(a, b, rtol=rtol, atol=1e-300, equal_nan=True))


CASES: list[dict[str, Any]] = []


def add(
    name: str,
    framework: str,
    call: str,
    inputs: dict[str, Any],
    options: dict[str, Any],
    xent_args: list[str],
    value: Any,
    *,
    reference: float,
    per_sample: Array | None,
    per_sample_reference: Array | None = None,
    per_sample_weights: Array | None = None,
    formula: str,
    dtype: str = "float64",
    rtol: float | None = None,
    libs: Sequence[str],
    checked: tuple[float, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Record one case after checking the framework's value against the NumPy formula.

    ``checked``: the (value, per-sample) pair to check instead of the recorded one.
    """
    value = float(value)
    check_value, check_per = checked if checked is not None else (value, per_sample)
    check_rtol = 1e-12 if dtype == "float64" else 2e-6
    if not close(check_value, reference, check_rtol):
        raise SystemExit(f"{name}: framework {check_value!r} != formula {reference!r}")
    if check_per is not None and per_sample_reference is not None:
        masked = np.array([np.nan if v is None else v for v in check_per], dtype=F64)
        if not close(masked, per_sample_reference, check_rtol):
            bad = ~np.isclose(masked, per_sample_reference, rtol=check_rtol, equal_nan=True)
            raise SystemExit(
                f"{name}: per-sample losses differ from the formula at rows "
                f"{np.flatnonzero(bad).tolist()}: {masked[bad]} != "
                f"{np.asarray(per_sample_reference)[bad]}"
            )
    case: dict[str, Any] = {
        "name": name,
        "framework": framework,
        "call": call,
        "versions": versions(*libs),
        "inputs": inputs,
        "options_of_framework": options,
        "xent_args": xent_args,
        "value": value,
        "per_sample": per_sample,
        "dtype": dtype,
        "rtol": rtol if rtol is not None else (1e-9 if dtype == "float64" else 1e-6),
        "formula": formula,
    }
    if per_sample_weights is not None:
        case["per_sample_weights"] = per_sample_weights
    case.update(extra)
    CASES.append(jsonable(case))
    return case


def with_nulls(values: Array, keep: Array) -> list[Any]:
    return [float(v) if k else None for v, k in zip(values, keep, strict=True)]


def rel(a: float, b: float) -> float:
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return math.inf
    return abs(a - b) / abs(b)


# --- the data sets ------------------------------------------------------------------------


def dirichlet_rows(rng: np.random.Generator, n: int, k: int, conc: float = 0.9) -> Array:
    p = rng.dirichlet(np.full(k, conc), size=n)
    return p / p.sum(axis=1, keepdims=True)


def labels_from(rng: np.random.Generator, p: Array) -> Array:
    """Labels drawn from the predicted distributions, so most losses are moderate."""
    return np.array([rng.choice(p.shape[1], p=row / row.sum()) for row in p])


def put_zero(p: Array, i: int, j: int) -> None:
    p[i, j] = 0.0
    p[i] /= p[i].sum()


def make_data() -> dict[str, dict[str, Array]]:
    DATA.mkdir(parents=True, exist_ok=True)
    for old in DATA.iterdir():
        old.unlink()
    d: dict[str, dict[str, Array]] = {}

    # multiclass probabilities, K=4: exact zeros off the true class, one exact one-hot row
    rng = np.random.default_rng(101)
    p = dirichlet_rows(rng, 24, 4)
    y = labels_from(rng, p)
    for i in (3, 7, 19):
        put_zero(p, i, (y[i] + 1) % 4)
    p[11] = onehot(y[11:12], 4)[0]
    w = np.round(rng.uniform(0.1, 3.0, 24), 2)
    w[5] = 0.0
    d["mc4"] = write_csv("mc4_probs.csv", {"label": y, **cols("p_", p)})
    d["mc4w"] = write_csv("mc4_probs_w.csv", {"label": y, "w": w, **cols("p_", p)})

    # multiclass probabilities, K=3, an exact zero on the true class of two rows
    rng = np.random.default_rng(102)
    p = dirichlet_rows(rng, 10, 3)
    y = labels_from(rng, p)
    y[2] = 0
    put_zero(p, 2, 0)
    y[6] = 2
    p[6] = [0.0, 1.0, 0.0]
    d["zero"] = write_csv("mc3_zero_true.csv", {"label": y, **cols("p_", p)})

    # K=4 but only classes 0..2 occur among the labels (sklearn needs labels=)
    rng = np.random.default_rng(103)
    p = dirichlet_rows(rng, 12, 4)
    y = rng.integers(0, 3, 12)
    d["subset"] = write_csv("mc4_subset.csv", {"label": y, **cols("p_", p)})

    # string labels, columns in another order than sklearn's sorted one
    rng = np.random.default_rng(104)
    animals = ["bird", "cat", "dog"]
    p = dirichlet_rows(rng, 9, 3)
    y = labels_from(rng, p)
    y[:3] = [0, 1, 2]  # every class occurs, as sklearn needs without labels=
    order = ["dog", "bird", "cat"]
    d["str"] = write_csv(
        "mc3_strings.csv",
        {"label": [animals[i] for i in y], **{f"p_{c}": p[:, animals.index(c)] for c in order}},
    )

    # rows that do not sum to 1 (keras divides each row by its sum)
    rng = np.random.default_rng(105)
    p = dirichlet_rows(rng, 15, 5)
    y = labels_from(rng, p)
    put_zero(p, 4, (y[4] + 2) % 5)
    scale = rng.uniform(0.7, 1.3, 15)
    scale = np.minimum(scale, 1.0 / p.max(axis=1))
    d["unnorm"] = write_csv("mc5_unnormalised.csv", {"label": y, **cols("p_", p * scale[:, None])})

    # multiclass logits, K=5, with extreme rows (+-40, +-1000)
    rng = np.random.default_rng(106)
    z = rng.normal(0, 2.5, (30, 5))
    y = rng.integers(0, 5, 30)
    z[4] = [40.0, -40.0, 0.0, 3.0, -3.0]
    y[4] = 1
    z[9] = [1000.0, -1000.0, 0.0, 5.0, -5.0]
    y[9] = 0
    z[13] = [1000.0, -1000.0, 2.0, 0.5, -0.5]
    y[13] = 1
    z[20] = [40.0] * 5
    z[25] = [-40.0, 40.0, -1000.0, 1000.0, 0.0]
    y[25] = 3
    d["lg5"] = write_csv("mc5_logits.csv", {"label": y, **cols("logit_", z)})

    # multiclass logits, K=3, some rows labelled -100 (one of them extreme)
    rng = np.random.default_rng(107)
    z = rng.normal(0, 2.0, (20, 3))
    y = rng.integers(0, 3, 20)
    y[[1, 6, 7, 12, 18]] = -100
    z[6] = [1000.0, -1000.0, 0.0]
    z[9] = [-40.0, 40.0, 0.0]
    y[9] = 0
    w = np.round(rng.uniform(0.2, 2.0, 20), 2)
    d["ign"] = write_csv("mc3_logits_ignore.csv", {"label": y, **cols("logit_", z)})
    d["ignw"] = write_csv("mc3_logits_ignore_w.csv", {"label": y, "w": w, **cols("logit_", z)})

    # every row labelled -100
    rng = np.random.default_rng(108)
    z = rng.normal(0, 1.0, (7, 3))
    d["allign"] = write_csv(
        "mc3_logits_all_ignored.csv", {"label": np.full(7, -100), **cols("logit_", z)}
    )

    # two classes as a multiclass problem (two logit columns)
    rng = np.random.default_rng(109)
    z = rng.normal(0, 2.0, (7, 2))
    y = rng.integers(0, 2, 7)
    z[3] = [40.0, -40.0]
    y[3] = 1
    d["lg2"] = write_csv("mc2_logits.csv", {"label": y, **cols("logit_", z)})

    # binary probabilities with exact 0 and 1, right and wrong, and a subnormal-scale value
    rng = np.random.default_rng(110)
    p = rng.uniform(0, 1, 20)
    y = (rng.uniform(0, 1, 20) < p).astype(int)
    p[:7] = [0.0, 1.0, 1.0, 0.0, 1e-50, 0.9999999999, 1e-9]
    y[:7] = [1, 0, 1, 0, 1, 0, 0]
    w = np.round(rng.uniform(0.2, 2.5, 20), 2)
    d["bin"] = write_csv("bin_probs.csv", {"label": y, "p": p})
    d["binw"] = write_csv("bin_probs_w.csv", {"label": y, "w": w, "p": p})

    # binary with string labels
    rng = np.random.default_rng(111)
    p = rng.uniform(0.02, 0.98, 11)
    y = np.where(rng.uniform(0, 1, 11) < p, "spam", "ham")
    d["spam"] = write_csv("bin_spam.csv", {"label": y, "p": p})

    # binary logits with extremes
    rng = np.random.default_rng(112)
    z = rng.normal(0, 3.0, 25)
    y = (rng.uniform(0, 1, 25) < 1 / (1 + np.exp(-z))).astype(int)
    z[:6] = [40.0, -40.0, 1000.0, -1000.0, 40.0, -1000.0]
    y[:6] = [1, 1, 0, 1, 0, 0]
    w = np.round(rng.uniform(0.2, 2.5, 25), 2)
    d["binz"] = write_csv("bin_logits.csv", {"label": y, "logit": z})
    d["binzw"] = write_csv("bin_logits_w.csv", {"label": y, "w": w, "logit": z})

    # multilabel probabilities, K=3, with exact 0 and 1
    rng = np.random.default_rng(113)
    p = rng.uniform(0, 1, (16, 3))
    y = (rng.uniform(0, 1, (16, 3)) < p).astype(int)
    p[0] = [1.0, 0.0, 0.5]
    y[0] = [1, 0, 1]
    p[1] = [0.0, 1.0, 1.0]
    y[1] = [1, 0, 1]
    w = np.round(rng.uniform(0.2, 2.5, 16), 2)
    d["ml"] = write_csv("ml3_probs.csv", {**cols("y_", y), **cols("p_", p)})
    d["mlw"] = write_csv("ml3_probs_w.csv", {"w": w, **cols("y_", y), **cols("p_", p)})

    # multilabel logits, K=4, with extremes
    rng = np.random.default_rng(114)
    z = rng.normal(0, 2.5, (20, 4))
    y = (rng.uniform(0, 1, (20, 4)) < 1 / (1 + np.exp(-z))).astype(int)
    z[0] = [40.0, -40.0, 1000.0, -1000.0]
    y[0] = [0, 1, 1, 0]
    z[1] = [-1000.0, 1000.0, 0.0, 40.0]
    y[1] = [1, 0, 0, 1]
    d["mlz"] = write_csv("ml4_logits.csv", {**cols("y_", y), **cols("logit_", z)})

    # soft labels with logits, K=3 (some targets one-hot, some with a zero)
    rng = np.random.default_rng(115)
    q = dirichlet_rows(rng, 12, 3, 1.2)
    q[0] = [1.0, 0.0, 0.0]
    q[5] = [0.0, 0.25, 0.75]
    z = rng.normal(0, 2.0, (12, 3))
    d["softz"] = write_csv("soft3_logits.csv", {**cols("q_", q), **cols("logit_", z)})

    # soft labels with strictly positive probabilities, K=4
    rng = np.random.default_rng(116)
    q = dirichlet_rows(rng, 10, 4, 1.0)
    q[2] = [0.0, 0.0, 1.0, 0.0]
    p = dirichlet_rows(rng, 10, 4, 2.0)
    d["softp"] = write_csv("soft4_probs.csv", {**cols("q_", q), **cols("p_", p)})

    # float32 inputs (.npy): multiclass probabilities with exact 0 and 1, binary, logits
    rng = np.random.default_rng(117)
    p = dirichlet_rows(rng, 14, 3)
    y = labels_from(rng, p)
    p[0] = onehot(y[0:1], 3)[0]
    put_zero(p, 1, y[1])
    p[2] = [0.0, 0.0, 0.0]
    p[2, (y[2] + 1) % 3] = 1.0
    d["f32mc"] = {
        "p": write_npy("f32_mc3_probs.npy", p.astype(np.float32)),
        "label": write_npy("f32_mc3_labels.npy", y.astype(np.int64)),
    }
    rng = np.random.default_rng(118)
    p = rng.uniform(0, 1, 12)
    y = (rng.uniform(0, 1, 12) < p).astype(np.int64)
    p[:4] = [0.0, 1.0, 1.0, 0.0]
    y[:4] = [1, 0, 1, 0]
    d["f32bin"] = {
        "p": write_npy("f32_bin_probs.npy", p.astype(np.float32)),
        "label": write_npy("f32_bin_labels.npy", y),
    }
    rng = np.random.default_rng(119)
    z = rng.normal(0, 3.0, (10, 4))
    y = rng.integers(0, 4, 10)
    z[0] = [40.0, -40.0, 0.0, 1.0]
    y[0] = 1
    d["f32lg"] = {
        "z": write_npy("f32_mc4_logits.npy", z.astype(np.float32)),
        "label": write_npy("f32_mc4_labels.npy", y.astype(np.int64)),
    }
    return d


# --- cases: scikit-learn ------------------------------------------------------------------

SK = ["scikit-learn", "numpy"]
TORCH = ["torch", "numpy"]
KERAS = ["keras", "jax", "jaxlib", "numpy"]


def show(value: Any) -> Any:
    """A framework argument as JSON: arrays as lists."""
    if hasattr(value, "detach"):
        return value.detach().numpy().tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def sklearn_cases(fw: Frameworks, d: dict[str, dict[str, Array]]) -> None:
    log_loss = fw.log_loss
    eps64 = float(np.finfo(np.float64).eps)
    eps32 = float(np.finfo(np.float32).eps)
    like = ["--like", "sklearn", "--inputs", "probs", "--reduction", "weighted-mean"]

    def per_row(y: Array, p: Array, labels: Sequence[Any]) -> Array:
        return np.array(
            [log_loss(y[i : i + 1], y_proba=p[i : i + 1], labels=labels) for i in range(len(y))]
        )

    t = d["mc4"]
    p = stack(t, "p_")
    ref, losses = ref_sklearn(t["label"], p, None, eps64)
    add(
        "sklearn_multiclass",
        "sklearn",
        "sklearn.metrics.log_loss(y, y_proba=p)",
        {"predictions": "data/mc4_probs.csv", "columns": {"y": "label", "p": "p_a..p_d"}},
        {},
        like,
        log_loss(t["label"], y_proba=p),
        reference=ref,
        per_sample=per_row(t["label"], p, [0, 1, 2, 3]),
        per_sample_reference=losses,
        formula="mean_i -ln clip(p[i, y_i], eps, 1 - eps), eps = finfo(float64).eps",
        note="exact zeros off the true class (rows 3, 7, 19) and an exact one-hot row (11): "
        "clipped, the one-hot row costs -ln(1 - eps) = 2.2e-16",
        libs=SK,
    )

    t = d["mc4w"]
    p = stack(t, "p_")
    ref, losses = ref_sklearn(t["label"], p, t["w"], eps64)
    add(
        "sklearn_multiclass_sample_weight",
        "sklearn",
        "sklearn.metrics.log_loss(y, y_proba=p, sample_weight=w)",
        {
            "predictions": "data/mc4_probs_w.csv",
            "columns": {"y": "label", "p": "p_a..p_d", "w": "w"},
        },
        {"sample_weight": t["w"]},
        [*like, "--weight-col", "w"],
        log_loss(t["label"], y_proba=p, sample_weight=t["w"]),
        reference=ref,
        per_sample=per_row(t["label"], p, [0, 1, 2, 3]),
        per_sample_reference=losses,
        formula="sum_i w_i * -ln clip(p[i, y_i]) / sum_i w_i (row 5 has weight 0)",
        libs=SK,
        note="per_sample is unweighted: log_loss of each row alone",
    )

    t = d["subset"]
    p = stack(t, "p_")
    ref, losses = ref_sklearn(t["label"], p, None, eps64)
    add(
        "sklearn_labels_argument",
        "sklearn",
        "sklearn.metrics.log_loss(y, y_proba=p, labels=[0, 1, 2, 3])",
        {"predictions": "data/mc4_subset.csv", "columns": {"y": "label", "p": "p_a..p_d"}},
        {"labels": [0, 1, 2, 3]},
        like,
        log_loss(t["label"], y_proba=p, labels=[0, 1, 2, 3]),
        reference=ref,
        per_sample=per_row(t["label"], p, [0, 1, 2, 3]),
        per_sample_reference=losses,
        formula="as sklearn_multiclass; class 3 (d) never occurs as a label",
        note="without labels= sklearn raises: y_true has 3 classes, y_proba 4 columns",
        libs=SK,
    )

    t = d["str"]
    animals = ["bird", "cat", "dog"]
    p = np.stack([t[f"p_{c}"] for c in animals], axis=1)
    yi = np.array([animals.index(v) for v in t["label"]])
    ref, losses = ref_sklearn(yi, p, None, eps64)
    add(
        "sklearn_string_labels",
        "sklearn",
        "sklearn.metrics.log_loss(y, y_proba=p)",
        {
            "predictions": "data/mc3_strings.csv",
            "columns": {
                "y": "label",
                "p": "p_bird, p_cat, p_dog (sorted; the file has p_dog, p_bird, p_cat)",
            },
        },
        {},
        like,
        log_loss(t["label"], y_proba=p),
        reference=ref,
        per_sample=per_row(t["label"], p, animals),
        per_sample_reference=losses,
        formula="as sklearn_multiclass; sklearn takes the columns of p in sorted label order",
        note="xent matches columns by name; the file's column order is not sklearn's",
        libs=SK,
    )

    for key, file, extra, weighted in (
        ("bin", "bin_probs.csv", [], False),
        ("binw", "bin_probs_w.csv", ["--weight-col", "w"], True),
    ):
        t = d[key]
        y, p = t["label"], t["p"]
        w = t["w"] if weighted else None
        p2 = np.stack([1 - p, p], axis=1)
        ref, losses = ref_sklearn(y, p2, w, eps64)
        kw = {"sample_weight": w} if weighted else {}
        add(
            "sklearn_binary" + ("_sample_weight" if weighted else ""),
            "sklearn",
            "sklearn.metrics.log_loss(y, y_proba=p" + (", sample_weight=w)" if weighted else ")"),
            {"predictions": f"data/{file}", "columns": {"y": "label", "p": "p (1-D)"}},
            {k: show(v) for k, v in kw.items()},
            [*like, *extra],
            log_loss(y, y_proba=p, **kw),
            reference=ref,
            per_sample=per_row(y, p, [0, 1]),
            per_sample_reference=losses,
            formula="p becomes [1 - p, p]; both clipped to [eps, 1 - eps]; "
            "-ln clip(p) (y=1) or -ln clip(1 - p) (y=0)",
            note="exact 0 and 1, right and wrong: a wrong exact 0/1 costs -ln(eps) = 36.04; "
            "p = 1e-50 with y = 1 is clipped to eps too",
            libs=SK,
        )

    t = d["spam"]
    y, p = t["label"], t["p"]
    yi = (y == "spam").astype(int)
    ref, losses = ref_sklearn(yi, np.stack([1 - p, p], axis=1), None, eps64)
    add(
        "sklearn_binary_string_labels",
        "sklearn",
        "sklearn.metrics.log_loss(y, y_proba=p)",
        {"predictions": "data/bin_spam.csv", "columns": {"y": "label (ham/spam)", "p": "p"}},
        {},
        [*like, "--pos-label", "spam"],
        log_loss(y, y_proba=p),
        reference=ref,
        per_sample=per_row(y, p, ["ham", "spam"]),
        per_sample_reference=losses,
        formula="p is the probability of the larger label in sorted order (spam)",
        libs=SK,
    )

    t = d["zero"]
    p = stack(t, "p_")
    ref, losses = ref_sklearn(t["label"], p, None, eps64)
    add(
        "sklearn_zero_on_true_class",
        "sklearn",
        "sklearn.metrics.log_loss(y, y_proba=p)",
        {"predictions": "data/mc3_zero_true.csv", "columns": {"y": "label", "p": "p_a..p_c"}},
        {},
        like,
        log_loss(t["label"], y_proba=p),
        reference=ref,
        per_sample=per_row(t["label"], p, [0, 1, 2]),
        per_sample_reference=losses,
        formula="rows 2 and 6 have p[i, y_i] = 0: each costs -ln(eps64) = 36.04365338911715",
        libs=SK,
    )

    for key, stem, labels, classes in (
        ("f32mc", "f32_mc3", [0, 1, 2], "a,b,c"),
        ("f32bin", "f32_bin", [0, 1], None),
    ):
        t = d[key]
        y, p = t["label"], t["p"]
        p2 = p.astype(F64) if p.ndim == 2 else np.stack([1 - p.astype(F64), p.astype(F64)], 1)
        ref, losses = ref_sklearn(y, p2, None, eps32)
        args = [*like] + (["--classes", classes] if classes else [])
        add(
            f"sklearn_float32_{'multiclass' if classes else 'binary'}",
            "sklearn",
            "sklearn.metrics.log_loss(y, y_proba=p)  # p is a float32 array",
            {"predictions": f"data/{stem}_probs.npy", "labels": f"data/{stem}_labels.npy"},
            {},
            args,
            log_loss(y, y_proba=p),
            reference=ref,
            reference_float64=ref,
            per_sample=per_row(y, p, labels),
            per_sample_reference=losses,
            per_sample_reference_float64=losses,
            dtype="float32",
            formula="clip at eps = finfo(float32).eps = 1.1920929e-07 (the dtype of p), "
            "computed in float32: a wrong exact 0/1 costs -ln(eps32) = 15.942385",
            note="reference_float64: the same clipping, computed in float64",
            libs=SK,
        )


# --- cases: torch -------------------------------------------------------------------------

CLASS_W5 = np.array([2.0, 0.5, 1.0, 3.0, 0.25])


def class_weights_arg(weights: Array) -> str:
    return ",".join(f"{NAMES[j]}={w:g}" for j, w in enumerate(weights))


def torch_call(
    fw: Frameworks, fn: str, pos: Sequence[tuple[str, Any]], kw: dict[str, Any]
) -> tuple[str, dict[str, Any], Any, Array]:
    """Call torch.nn.functional.FN with KW and with reduction='none'.

    ``pos`` and the values of ``kw`` that are tensors are (display name, tensor) pairs.
    """
    func = getattr(fw.F, fn)
    args = [v for _, v in pos]
    kwargs = {k: (v[1] if isinstance(v, tuple) else v) for k, v in kw.items()}
    shown = ", ".join(
        [n for n, _ in pos]
        + [f"{k}={v[0] if isinstance(v, tuple) else repr(v)}" for k, v in kw.items()]
    )
    options = {k: show(v[1] if isinstance(v, tuple) else v) for k, v in kw.items()}
    value = func(*args, **kwargs)
    none = func(*args, **{**kwargs, "reduction": "none"}).detach().numpy().astype(F64)
    return f"torch.nn.functional.{fn}({shown})", options, value.item(), none


def torch_cases(fw: Frameworks, d: dict[str, dict[str, Array]]) -> None:
    T = fw.t
    logits = ["--like", "torch", "--inputs", "logits"]
    probs = ["--like", "torch", "--inputs", "probs"]

    # cross_entropy, hard labels -----------------------------------------------------------
    t = d["lg5"]
    z, y = stack(t, "logit_"), t["label"]
    lp = log_softmax(z)
    src = {"predictions": "data/mc5_logits.csv", "columns": {"y": "label", "logits": "logit_a..e"}}
    variants: list[tuple[str, dict[str, Any], list[str]]] = [
        ("", {}, []),
        ("_sum", {"reduction": "sum"}, []),
        (
            "_class_weight",
            {"weight": ("w", T(CLASS_W5))},
            ["--class-weights", class_weights_arg(CLASS_W5)],
        ),
        (
            "_class_weight_sum",
            {"weight": ("w", T(CLASS_W5)), "reduction": "sum"},
            ["--class-weights", class_weights_arg(CLASS_W5)],
        ),
        ("_label_smoothing", {"label_smoothing": 0.1}, ["--label-smoothing", "0.1"]),
        (
            "_label_smoothing_sum",
            {"label_smoothing": 0.1, "reduction": "sum"},
            ["--label-smoothing", "0.1"],
        ),
        (
            "_class_weight_label_smoothing",
            {"weight": ("w", T(CLASS_W5)), "label_smoothing": 0.1},
            ["--class-weights", class_weights_arg(CLASS_W5), "--label-smoothing", "0.1"],
        ),
    ]
    for suffix, kw, extra in variants:
        kw = {**kw}
        reduction = kw.pop("reduction", "mean")
        kw["reduction"] = reduction
        call, options, value, none = torch_call(
            fw, "cross_entropy", [("logits", T(z)), ("y", T(y))], kw
        )
        weight = CLASS_W5 if "weight" in kw else None
        eps = kw.get("label_smoothing", 0.0)
        per, denom = ref_torch_ce(lp, y, weight, eps, None)
        ref = per.sum() / denom.sum() if reduction == "mean" else per.sum()
        red = "weighted-mean" if reduction == "mean" else "sum"
        add(
            "torch_cross_entropy" + suffix,
            "torch",
            call,
            src,
            options,
            [*logits, *extra, "--reduction", red],
            value,
            reference=ref,
            per_sample=none,
            per_sample_reference=per,
            per_sample_weights=weight[y] if weight is not None else None,
            formula=(
                "loss_i = (1 - A) * w[y_i] * nll_i + A/K * sum_c w[c] * -ln p[i, c]; "
                "mean = sum_i loss_i / sum_i w[y_i]; sum = sum_i loss_i "
                "(nll_i = -log_softmax(z_i)[y_i]; A = label_smoothing; w = weight or 1)"
            ),
            note=(
                "weight with label_smoothing: the smoothing term is weighted by the weight of "
                "every class c, not by w[y_i] (pytorch#104776); per_sample / w[y_i] is the "
                "per-sample loss of the weighted mean"
                if "weight" in kw and eps
                else "extreme rows 4, 9, 13, 20, 25 (+-40, +-1000)"
            ),
            libs=TORCH,
        )

    # ignore_index -------------------------------------------------------------------------
    t = d["ign"]
    z, y = stack(t, "logit_"), t["label"]
    lp = log_softmax(z)
    keep = y != -100
    src = {
        "predictions": "data/mc3_logits_ignore.csv",
        "columns": {"y": "label (-100 = ignored)", "logits": "logit_a..c"},
    }
    w3 = CLASS_W5[:3]
    for suffix, kw, extra in [
        ("", {}, []),
        ("_class_weight", {"weight": ("w", T(w3))}, ["--class-weights", class_weights_arg(w3)]),
        (
            "_class_weight_label_smoothing",
            {"weight": ("w", T(w3)), "label_smoothing": 0.2},
            ["--class-weights", class_weights_arg(w3), "--label-smoothing", "0.2"],
        ),
    ]:
        kw = {**kw, "ignore_index": -100, "reduction": "mean"}
        call, options, value, none = torch_call(
            fw, "cross_entropy", [("logits", T(z)), ("y", T(y))], kw
        )
        weight = w3 if "weight" in kw else None
        per, denom = ref_torch_ce(lp, y, weight, kw.get("label_smoothing", 0.0), -100)
        add(
            "torch_cross_entropy_ignore_index" + suffix,
            "torch",
            call,
            src,
            options,
            [*logits, "--ignore-label", "-100", *extra, "--reduction", "weighted-mean"],
            value,
            reference=per.sum() / denom.sum(),
            per_sample=with_nulls(none, keep),
            per_sample_reference=np.where(keep, per, np.nan),
            per_sample_weights=with_nulls(weight[np.where(keep, y, 0)], keep)
            if weight is not None
            else None,
            formula="as torch_cross_entropy over the rows whose label is not -100 "
            "(torch gives 0 for the ignored rows in reduction='none'; here null)",
            note="rows 1, 6, 7, 12, 18 ignored; row 6 has logits +-1000",
            libs=TORCH,
        )

    t = d["allign"]
    z, y = stack(t, "logit_"), t["label"]
    call, options, value, none = torch_call(
        fw,
        "cross_entropy",
        [("logits", T(z)), ("y", T(y))],
        {"ignore_index": -100, "reduction": "mean"},
    )
    add(
        "torch_cross_entropy_all_ignored",
        "torch",
        call,
        {
            "predictions": "data/mc3_logits_all_ignored.csv",
            "columns": {"y": "label (all -100)", "logits": "logit_a..c"},
        },
        options,
        [*logits, "--ignore-label", "-100", "--reduction", "weighted-mean"],
        value,
        reference=math.nan,
        per_sample=None,
        xent_exit=4,
        formula="0 / 0: torch returns nan (reduction='sum' returns 0)",
        note="xent refuses instead: exit 4 with a one-line error",
        libs=TORCH,
    )

    t = d["lg2"]
    z, y = stack(t, "logit_"), t["label"]
    call, options, value, none = torch_call(
        fw,
        "cross_entropy",
        [("logits", T(z)), ("y", T(y))],
        {"label_smoothing": 0.2, "reduction": "mean"},
    )
    per, denom = ref_torch_ce(log_softmax(z), y, None, 0.2, None)
    add(
        "torch_cross_entropy_two_classes_label_smoothing",
        "torch",
        call,
        {"predictions": "data/mc2_logits.csv", "columns": {"y": "label", "logits": "logit_a,b"}},
        options,
        [*logits, "--label-smoothing", "0.2", "--reduction", "weighted-mean"],
        value,
        reference=per.sum() / denom.sum(),
        per_sample=none,
        per_sample_reference=per,
        formula="targets (1 - A) * onehot + A/2",
        libs=TORCH,
    )

    # soft (probability) targets -------------------------------------------------------------
    t = d["softz"]
    z, q = stack(t, "logit_"), stack(t, "q_")
    lp = log_softmax(z)
    src = {
        "predictions": "data/soft3_logits.csv",
        "columns": {"target": "q_a..c (probabilities)", "logits": "logit_a..c"},
    }
    for suffix, kw, extra in [
        ("", {}, []),
        ("_class_weight", {"weight": ("w", T(w3))}, ["--class-weights", class_weights_arg(w3)]),
        ("_label_smoothing", {"label_smoothing": 0.1}, ["--label-smoothing", "0.1"]),
    ]:
        kw = {**kw, "reduction": "mean"}
        call, options, value, none = torch_call(
            fw, "cross_entropy", [("logits", T(z)), ("q", T(q))], kw
        )
        weight = w3 if "weight" in kw else None
        per = ref_torch_soft(lp, q, weight, kw.get("label_smoothing", 0.0))
        add(
            "torch_cross_entropy_soft_targets" + suffix,
            "torch",
            call,
            src,
            options,
            [*logits, "--label-cols", "q_*", *extra, "--reduction", "mean"],
            value,
            reference=per.mean(),
            per_sample=none,
            per_sample_reference=per,
            per_sample_weights=(q * weight).sum(axis=1) if weight is not None else None,
            formula="loss_i = -sum_c w[c] * q'[i, c] * log_softmax(z_i)[c], "
            "q' = (1 - A) * q + A/K; mean = sum_i loss_i / N (not / sum of weights)",
            note=(
                "with probability targets torch's mean divides by N even with weight=; "
                "per_sample_weights = sum_c q[i, c] * w[c] (the README's sample weight of a "
                "soft label), so per_sample / it is the weighted average of -ln p over q"
                if weight is not None
                else ""
            ),
            libs=TORCH,
        )

    # KL divergence and target entropy ---------------------------------------------------------
    for key, file, kind in (
        ("softz", "soft3_logits.csv", "logits"),
        ("softp", "soft4_probs.csv", "probs"),
    ):
        t = d[key]
        q = stack(t, "q_")
        if kind == "logits":
            x = stack(t, "logit_")
            lp_t = fw.F.log_softmax(T(x), dim=1)
            lp = log_softmax(x)
            inp, inp_name = T(x), "logits"
            lp_call = "torch.log_softmax(logits, dim=1)"
        else:
            x = stack(t, "p_")
            lp_t = fw.torch.log(T(x))
            lp = np.log(x)
            inp, inp_name = fw.torch.log(T(x)), "torch.log(p)"
            lp_call = "torch.log(p)"
        qt = T(q)
        ce = fw.F.cross_entropy(inp, qt).item()
        ce_none = fw.F.cross_entropy(inp, qt, reduction="none").numpy()
        kl = fw.F.kl_div(lp_t, qt, reduction="batchmean").item()
        ent = (-fw.torch.xlogy(qt, qt).sum(dim=1)).mean().item()
        kl_ref = (np.where(q > 0, q * (np.log(np.where(q > 0, q, 1)) - lp), 0.0)).sum(1).mean()
        ent_ref = -(np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0.0)).sum(1).mean()
        ce_ref = -(q * lp).sum(1).mean()
        assert close(kl, kl_ref, 1e-12), (kl, kl_ref)
        assert close(ent, ent_ref, 1e-12), (ent, ent_ref)
        assert close(ce, ent + kl, 1e-12), ("CE = H(q) + KL(q||p) fails", ce, ent + kl)
        add(
            f"torch_kl_div_soft_targets_{kind}",
            "torch",
            f"torch.nn.functional.cross_entropy({inp_name}, q); "
            f"torch.nn.functional.kl_div({lp_call}, q, reduction='batchmean'); "
            "(-torch.xlogy(q, q).sum(dim=1)).mean()",
            {
                "predictions": f"data/{file}",
                "columns": {"target": "q_*", kind: f"{'logit' if kind == 'logits' else 'p'}_*"},
            },
            {"kl_div": {"reduction": "batchmean", "log_target": False}},
            [
                "--like",
                "torch",
                "--inputs",
                kind,
                "--label-cols",
                "q_*",
                "--reduction",
                "mean",
                "--metrics",
                "kl,target-entropy",
            ],
            ce,
            reference=ce_ref,
            per_sample=ce_none,
            per_sample_reference=-(q * lp).sum(1),
            metrics={"kl": kl, "target_entropy": ent},
            formula="value = CE = mean_i -sum_c q ln p; kl = mean_i sum_c q (ln q - ln p) "
            "(0 where q = 0); target_entropy = mean_i -sum_c q ln q; CE = H(q) + KL(q||p), "
            f"verified: |CE - H - KL| = {abs(ce - ent - kl):.1e}",
            note="batchmean = sum / N"
            + (
                "; the probabilities enter cross_entropy as torch.log(p), whose log_softmax "
                "is ln p up to rounding, as each row sums to 1"
                if kind == "probs"
                else ""
            ),
            libs=TORCH,
        )

    # nll_loss on the log of probabilities: no clipping ---------------------------------------
    for key, file, name in (
        ("mc4", "mc4_probs.csv", "torch_nll_loss_log_probs"),
        ("zero", "mc3_zero_true.csv", "torch_nll_loss_log_probs_zero"),
    ):
        t = d[key]
        p, y = stack(t, "p_"), t["label"]
        with np.errstate(divide="ignore"):
            per = -np.log(p[np.arange(len(y)), y])
        call, options, value, none = torch_call(
            fw,
            "nll_loss",
            [("torch.log(p)", fw.torch.log(T(p))), ("y", T(y))],
            {"reduction": "mean"},
        )
        add(
            name,
            "torch",
            call,
            {"predictions": f"data/{file}", "columns": {"y": "label", "p": "p_*"}},
            options,
            [*probs, "--reduction", "weighted-mean"],
            value,
            reference=per.mean(),
            per_sample=none,
            per_sample_reference=per,
            formula="mean_i -ln p[i, y_i], nothing clipped: an exact 0 on the true class is inf,"
            " an exact 1 costs exactly 0",
            libs=TORCH,
        )

    # binary_cross_entropy on probabilities: log clamped at -100 ------------------------------
    for key, file, suffix, kw, extra in (
        ("bin", "bin_probs.csv", "", {"reduction": "mean"}, []),
        ("bin", "bin_probs.csv", "_sum", {"reduction": "sum"}, []),
        ("binw", "bin_probs_w.csv", "_weight", {"reduction": "mean"}, ["--weight-col", "w"]),
    ):
        t = d[key]
        p, y = t["p"], t["label"].astype(F64)
        w = t.get("w") if suffix == "_weight" else None
        if w is not None:
            kw = {"weight": ("w", T(w)), **kw}
        call, options, value, none = torch_call(
            fw, "binary_cross_entropy", [("p", T(p)), ("y", T(y))], kw
        )
        per = ref_torch_bce(p, y, w)
        red = kw["reduction"]
        add(
            "torch_binary_cross_entropy" + suffix,
            "torch",
            call,
            {"predictions": f"data/{file}", "columns": {"y": "label", "p": "p"}},
            options,
            [*probs, *extra, "--reduction", red],
            value,
            reference=per.mean() if red == "mean" else per.sum(),
            per_sample=none,
            per_sample_reference=per,
            per_sample_weights=w,
            formula="loss_i = -w_i [y ln p + (1 - y) ln(1 - p)] with each ln clamped to >= -100;"
            " mean = sum_i loss_i / N (weight= is not normalised)",
            note="a wrong exact 0/1 costs 100; p = 1e-50 with y = 1 costs 100 "
            "(ln 1e-50 = -115.1 is clamped)",
            libs=TORCH,
        )

    t = d["ml"]
    p, y = stack(t, "p_"), stack(t, "y_").astype(F64)
    call, options, value, none = torch_call(
        fw, "binary_cross_entropy", [("p", T(p)), ("y", T(y))], {"reduction": "mean"}
    )
    per = ref_torch_bce(p, y, None)
    add(
        "torch_binary_cross_entropy_multilabel",
        "torch",
        call,
        {"predictions": "data/ml3_probs.csv", "columns": {"y": "y_a..c", "p": "p_a..c"}},
        options,
        [*probs, "--task", "multilabel", "--label-cols", "y_*", "--reduction", "mean"],
        value,
        reference=per.mean(),
        per_sample=none.mean(axis=1),
        per_sample_reference=per.mean(axis=1),
        formula="mean over all N*K elements of the clamped BCE",
        note="per_sample: the mean over classes of the (N, K) reduction='none' output",
        libs=TORCH,
    )

    # binary_cross_entropy_with_logits -------------------------------------------------------
    for key, file, suffix, kw, extra, pw, w_used in (
        ("binz", "bin_logits.csv", "", {}, [], None, False),
        (
            "binz",
            "bin_logits.csv",
            "_pos_weight",
            {"pos_weight": 2.5},
            ["--pos-weight", "2.5"],
            2.5,
            False,
        ),
        (
            "binzw",
            "bin_logits_w.csv",
            "_weight_pos_weight",
            {"pos_weight": 2.5},
            ["--weight-col", "w", "--pos-weight", "2.5"],
            2.5,
            True,
        ),
        (
            "binz",
            "bin_logits.csv",
            "_pos_weight_sum",
            {"pos_weight": 2.5, "reduction": "sum"},
            ["--pos-weight", "2.5"],
            2.5,
            False,
        ),
    ):
        t = d[key]
        z, y = t["logit"], t["label"].astype(F64)
        w = t["w"] if w_used else None
        kw2: dict[str, Any] = {}
        if w is not None:
            kw2["weight"] = ("w", T(w))
        if pw is not None:
            kw2["pos_weight"] = ("torch.tensor([2.5])", T(np.array([pw])))
        kw2["reduction"] = kw.get("reduction", "mean")
        call, options, value, none = torch_call(
            fw, "binary_cross_entropy_with_logits", [("z", T(z)), ("y", T(y))], kw2
        )
        per = ref_torch_bce_logits(z, y, w, pw)
        red = kw2["reduction"]
        add(
            "torch_bce_with_logits" + suffix,
            "torch",
            call,
            {"predictions": f"data/{file}", "columns": {"y": "label", "logits": "logit"}},
            options,
            [*logits, *extra, "--reduction", red],
            value,
            reference=per.mean() if red == "mean" else per.sum(),
            per_sample=none,
            per_sample_reference=per,
            per_sample_weights=w,
            formula="loss_i = -w_i [pw * y ln sigmoid(z) + (1 - y) ln sigmoid(-z)] (stable "
            "log-sigmoid, nothing clipped); mean = sum_i loss_i / N",
            note="pos_weight multiplies only the positive term and is not normalised; "
            "logits +-40, +-1000 in rows 0-5 (z = 1000 with y = 0 costs exactly 1000)",
            libs=TORCH,
        )

    t = d["mlz"]
    z, y = stack(t, "logit_"), stack(t, "y_").astype(F64)
    pw4 = np.array([2.0, 1.0, 0.5, 4.0])
    for suffix, pw, red in (
        ("", None, "mean"),
        ("_pos_weight", pw4, "mean"),
        ("_pos_weight_sum", pw4, "sum"),
    ):
        kw2 = {}
        extra = []
        if pw is not None:
            kw2["pos_weight"] = ("torch.tensor([2.0, 1.0, 0.5, 4.0])", T(pw))
            extra = ["--pos-weight", class_weights_arg(pw)]
        kw2["reduction"] = red
        call, options, value, none = torch_call(
            fw, "binary_cross_entropy_with_logits", [("z", T(z)), ("y", T(y))], kw2
        )
        per = ref_torch_bce_logits(z, y, None, pw)
        add(
            "torch_bce_with_logits_multilabel" + suffix,
            "torch",
            call,
            {
                "predictions": "data/ml4_logits.csv",
                "columns": {"y": "y_a..d", "logits": "logit_a..d"},
            },
            options,
            [*logits, "--task", "multilabel", "--label-cols", "y_*", *extra, "--reduction", red],
            value,
            reference=per.mean() if red == "mean" else per.sum(),
            per_sample=none.mean(axis=1),
            per_sample_reference=per.mean(axis=1),
            formula="elementwise -[pw[c] * y ln sigmoid(z) + (1 - y) ln sigmoid(-z)]; mean over "
            "all N*K elements, sum over all of them",
            note="pos_weight per class (shape (K,), broadcast over the last axis); per_sample: the "
            "mean over classes of the (N, K) output",
            libs=TORCH,
        )

    # float32 ------------------------------------------------------------------------------
    t = d["f32lg"]
    z, y = t["z"], t["label"]
    call, options, value, none = torch_call(
        fw,
        "cross_entropy",
        [("logits", T(z, fw.torch.float32)), ("y", T(y))],
        {"reduction": "mean"},
    )
    per, _ = ref_torch_ce(log_softmax(z.astype(F64)), y, None, 0.0, None)
    add(
        "torch_cross_entropy_float32",
        "torch",
        call + "  # logits is a float32 tensor",
        {"predictions": "data/f32_mc4_logits.npy", "labels": "data/f32_mc4_labels.npy"},
        options,
        [*logits, "--classes", "a,b,c,d", "--reduction", "weighted-mean"],
        value,
        reference=per.mean(),
        reference_float64=per.mean(),
        per_sample=none,
        per_sample_reference=per,
        per_sample_reference_float64=per,
        dtype="float32",
        formula="as torch_cross_entropy, computed by torch in float32",
        note="reference_float64: the same formula in float64 on the float32 values",
        libs=TORCH,
    )

    # torchvision.ops.sigmoid_focal_loss ---------------------------------------------------------
    for key, file, suffix, alpha, red, ml in (
        ("binz", "bin_logits.csv", "", 0.25, "mean", False),
        ("binz", "bin_logits.csv", "_sum", 0.25, "sum", False),
        ("binz", "bin_logits.csv", "_no_alpha", -1.0, "mean", False),
        ("mlz", "ml4_logits.csv", "_multilabel", 0.25, "mean", True),
    ):
        t = d[key]
        if ml:
            z, y = stack(t, "logit_"), stack(t, "y_").astype(F64)
        else:
            z, y = t["logit"], t["label"].astype(F64)
        alpha_arg = -1 if alpha < 0 else alpha
        value = fw.focal(T(z), T(y), alpha=alpha_arg, gamma=2, reduction=red).item()
        none = fw.focal(T(z), T(y), alpha=alpha_arg, gamma=2, reduction="none").numpy()
        per = ref_focal_torchvision(z, y, alpha, 2.0)
        extra = ["--focal-gamma", "2"] + ([] if alpha < 0 else ["--focal-alpha", "0.25"])
        task = ["--task", "multilabel", "--label-cols", "y_*"] if ml else []
        add(
            "torchvision_sigmoid_focal_loss" + suffix,
            "torchvision",
            f"torchvision.ops.sigmoid_focal_loss(z, y, alpha={alpha_arg}, gamma=2, "
            f"reduction={red!r})",
            {
                "predictions": f"data/{file}",
                "columns": {
                    "y": "y_a..d" if ml else "label",
                    "logits": "logit_*" if ml else "logit",
                },
            },
            {"alpha": alpha_arg, "gamma": 2, "reduction": red},
            [*logits, *task, *extra, "--reduction", red],
            value,
            reference=per.mean() if red == "mean" else per.sum(),
            per_sample=none.mean(axis=1) if ml else none,
            per_sample_reference=per.mean(axis=1) if ml else per,
            formula="ce = BCEWithLogits(z, y, 'none'); p = sigmoid(z); p_t = p y + (1 - p)(1 - y);"
            " loss = ce (1 - p_t)^gamma; if alpha >= 0: loss *= alpha y + (1 - alpha)(1 - y); "
            "alpha = -1 turns the alpha factor off",
            implementation=fw.focal_source,
            libs=["torch", "torchvision", "numpy"],
        )


# --- cases: keras -------------------------------------------------------------------------


def keras_call(
    fw: Frameworks,
    cls: str,
    ctor: dict[str, Any],
    y_true: tuple[str, Array],
    y_pred: tuple[str, Array],
    w: Array | None,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``keras.losses.CLS(**ctor)(y_true, y_pred, sample_weight=w)``, its reduction=None
    output, and both again with keras' float32 ``ops.mean`` turned off."""
    loss_cls = getattr(fw.keras.losses, cls)
    kw = {} if w is None else {"sample_weight": w}

    def run() -> tuple[float, Array]:
        value = float(np.asarray(loss_cls(**ctor)(y_true[1], y_pred[1], **kw)))
        per = np.asarray(loss_cls(**{**ctor, "reduction": None})(y_true[1], y_pred[1], **kw))
        return value, per.astype(F64).reshape(len(y_pred[1]), -1).mean(axis=1)

    value, per = run()
    with fw.keras_exact_mean():
        value64, per64 = run()
    shown = ", ".join(f"{k}={v!r}" for k, v in ctor.items())
    call = f"keras.losses.{cls}({shown})({y_true[0]}, {y_pred[0]}"
    call += ", sample_weight=w)" if w is not None else ")"
    options = {**ctor, **({"sample_weight": show(w)} if w is not None else {})}
    out = {"value": value, "per_sample": per, "value64": value64, "per64": per64}
    return call, options, out


def keras_add(
    name: str,
    call: str,
    inputs: dict[str, Any],
    options: dict[str, Any],
    xent_args: list[str],
    out: dict[str, Any],
    *,
    ref_per: Array,
    ref_value: float,
    w: Array | None,
    formula: str,
    dtype: str = "float64",
    keep: Array | None = None,
    note: str = "",
    **extra: Any,
) -> None:
    """Record a keras case; where keras' float32 ``ops.mean`` changed a float64 result,
    also record the result without that down-cast, and check that one against the formula."""
    value, per, value64, per64 = out["value"], out["per_sample"], out["value64"], out["per64"]
    rtol = None
    checked = None
    if dtype == "float64":
        checked = (value64, per64 if keep is None else with_nulls(per64, keep))
        if not (close(value, value64, 1e-13) and close(per, per64, 1e-13)):
            rtol = 1e-6
            extra["reference_float64"] = value64
            extra["per_sample_reference_float64"] = checked[1]
            note = (note + "; " if note else "") + (
                "keras computes ops.mean (its mean over the last axis) in float32 even in "
                "float64 mode (keras' dtype promotion maps 64-bit results to 32 bits), so "
                f"value is exact to ~1e-7 only ({rel(value, value64):.1e} here); "
                "reference_float64 is the same call with that down-cast turned off"
            )
    add(
        name,
        "keras",
        call,
        inputs,
        options,
        xent_args,
        value,
        reference=ref_value,
        per_sample=per if keep is None else with_nulls(per, keep),
        per_sample_reference=ref_per if w is None else ref_per * w,
        per_sample_weights=None if w is None else (w if keep is None else with_nulls(w, keep)),
        formula=formula,
        dtype=dtype,
        rtol=rtol,
        note=note,
        libs=KERAS,
        checked=checked,
        **extra,
    )


def keras_cases(fw: Frameworks, d: dict[str, dict[str, Array]]) -> None:
    def like(kind: str, *extra: str, reduction: str = "mean") -> list[str]:
        return ["--like", "keras", "--inputs", kind, *extra, "--reduction", reduction]

    mean_f = "mean = sum_i w_i loss_i / N ('sum_over_batch_size'; w = sample_weight or 1)"

    # CategoricalCrossentropy / SparseCategoricalCrossentropy ---------------------------------
    specs: list[tuple[str, str, str, bool, dict[str, Any], bool]] = [
        # name, data key, file, logits?, ctor, weighted?
        ("keras_categorical", "mc4", "mc4_probs.csv", False, {}, False),
        ("keras_categorical_sample_weight", "mc4w", "mc4_probs_w.csv", False, {}, True),
        (
            "keras_categorical_label_smoothing",
            "mc4",
            "mc4_probs.csv",
            False,
            {"label_smoothing": 0.1},
            False,
        ),
        ("keras_categorical_unnormalised_rows", "unnorm", "mc5_unnormalised.csv", False, {}, False),
        ("keras_categorical_zero_on_true_class", "zero", "mc3_zero_true.csv", False, {}, False),
        (
            "keras_categorical_from_logits",
            "lg5",
            "mc5_logits.csv",
            True,
            {"from_logits": True},
            False,
        ),
        (
            "keras_categorical_from_logits_label_smoothing",
            "lg5",
            "mc5_logits.csv",
            True,
            {"from_logits": True, "label_smoothing": 0.2},
            False,
        ),
    ]
    for name, key, file, is_logits, ctor, weighted in specs:
        t = d[key]
        prefix = "logit_" if is_logits else "p_"
        p, y = stack(t, prefix), t["label"]
        k = p.shape[1]
        onehot_y = onehot(y, k)
        w = t["w"] if weighted else None
        call, options, out = keras_call(
            fw,
            "CategoricalCrossentropy",
            ctor,
            ("one_hot(y)", onehot_y),
            ("logits" if is_logits else "p", p),
            w,
        )
        per = ref_keras_cce(p, onehot_y, ctor.get("label_smoothing", 0.0), is_logits)
        extra = (
            ["--label-smoothing", str(ctor["label_smoothing"])] if "label_smoothing" in ctor else []
        )
        keras_add(
            name,
            call,
            {
                "predictions": f"data/{file}",
                "columns": {"y": "label (one-hot encoded for keras)", "y_pred": f"{prefix}*"},
            },
            options,
            like("logits" if is_logits else "probs", *extra, *(["--weight-col", "w"] * weighted)),
            out,
            ref_per=per,
            ref_value=keras_reduce(per, w),
            w=w,
            formula=(
                "loss_i = -sum_c t[i, c] ln log_softmax(z_i)[c]"
                if is_logits
                else "loss_i = -sum_c t[i, c] ln clip(p[i, c] / sum_j p[i, j], 1e-7, 1 - 1e-7)"
            )
            + "; t = (1 - A) onehot + A/K; "
            + mean_f,
            note={
                "keras_categorical": "an exact one-hot row (11) costs -ln(1 - 1e-7) = 1.0e-7 "
                "(sklearn: 2.2e-16, torch nll_loss: 0)",
                "keras_categorical_sample_weight": "the weighted sum is divided by N, not by "
                "the sum of the weights (sklearn: sum of weights)",
                "keras_categorical_unnormalised_rows": "rows sum to 0.7..1.3: keras divides each "
                "row by its sum first",
                "keras_categorical_zero_on_true_class": "an exact 0 on the true class costs "
                "-ln(1e-7) = 16.118 (sklearn 36.04, torch nll_loss inf)",
            }.get(name, ""),
        )

    # reduction='mean_with_sample_weight' -------------------------------------------------------
    t = d["mc4w"]
    p, y, w = stack(t, "p_"), t["label"], t["w"]
    call, options, out = keras_call(
        fw,
        "SparseCategoricalCrossentropy",
        {"reduction": "mean_with_sample_weight"},
        ("y", y),
        ("p", p),
        w,
    )
    per = ref_keras_cce(p, onehot(y, 4), 0.0, False)
    keras_add(
        "keras_sparse_categorical_mean_with_sample_weight",
        call,
        {"predictions": "data/mc4_probs_w.csv", "columns": {"y": "label", "y_pred": "p_*"}},
        options,
        like("probs", "--weight-col", "w", reduction="weighted-mean"),
        out,
        ref_per=per,
        ref_value=float((w * per).sum() / w.sum()),
        w=w,
        formula="as keras_categorical; mean = sum_i w_i loss_i / sum_i w_i",
        note="keras 3's reduction='mean_with_sample_weight' is sklearn's weighted mean",
    )

    for name, key, file, is_logits, ctor, weighted in [
        ("keras_sparse_categorical", "mc4", "mc4_probs.csv", False, {}, False),
        ("keras_sparse_categorical_sample_weight", "mc4w", "mc4_probs_w.csv", False, {}, True),
        (
            "keras_sparse_categorical_from_logits",
            "lg5",
            "mc5_logits.csv",
            True,
            {"from_logits": True},
            False,
        ),
        (
            "keras_sparse_categorical_ignore_class",
            "ign",
            "mc3_logits_ignore.csv",
            True,
            {"from_logits": True, "ignore_class": -100},
            False,
        ),
        (
            "keras_sparse_categorical_ignore_class_sample_weight",
            "ignw",
            "mc3_logits_ignore_w.csv",
            True,
            {"from_logits": True, "ignore_class": -100},
            True,
        ),
    ]:
        t = d[key]
        prefix = "logit_" if is_logits else "p_"
        p, y = stack(t, prefix), t["label"]
        w = t["w"] if weighted else None
        keep = y != -100 if "ignore_class" in ctor else None
        call, options, out = keras_call(
            fw,
            "SparseCategoricalCrossentropy",
            ctor,
            ("y", y),
            ("logits" if is_logits else "p", p),
            w,
        )
        ys = np.where(y == -100, 0, y)
        per = ref_keras_cce(p, onehot(ys, p.shape[1]), 0.0, is_logits)
        ww = np.ones(len(y)) if w is None else w
        if keep is not None:
            ref_value = float((ww * per)[keep].sum() / keep.sum())
            per = np.where(keep, per, np.nan)
        else:
            ref_value = keras_reduce(per, w)
        extra = ["--ignore-label", "-100"] if keep is not None else []
        keras_add(
            name,
            call,
            {"predictions": f"data/{file}", "columns": {"y": "label", "y_pred": f"{prefix}*"}},
            options,
            like("logits" if is_logits else "probs", *extra, *(["--weight-col", "w"] * weighted)),
            out,
            ref_per=per,
            ref_value=ref_value,
            w=w,
            keep=keep,
            formula="as keras_categorical with one_hot(y); ignore_class: "
            "mean = sum over kept rows of w_i loss_i / (number of kept rows)",
            note="ignored rows: keras masks them; the mean divides by the rows kept, not by N, "
            "and not by the sum of their weights"
            if keep is not None
            else "",
        )

    t = d["allign"]
    z, y = stack(t, "logit_"), t["label"]
    call, options, out = keras_call(
        fw,
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "ignore_class": -100},
        ("y", y),
        ("logits", z),
        None,
    )
    add(
        "keras_sparse_categorical_all_ignored",
        "keras",
        call,
        {
            "predictions": "data/mc3_logits_all_ignored.csv",
            "columns": {"y": "label (all -100)", "y_pred": "logit_*"},
        },
        options,
        like("logits", "--ignore-label", "-100"),
        out["value"],
        reference=0.0,
        per_sample=None,
        xent_exit=4,
        libs=KERAS,
        formula="keras divides with divide_no_nan: 0 / 0 = 0, so it returns 0.0 (torch: nan)",
        note="xent refuses instead: exit 4 with a one-line error",
    )

    # BinaryCrossentropy -------------------------------------------------------------------------
    for name, key, file, is_logits, ctor, weighted in [
        ("keras_binary", "bin", "bin_probs.csv", False, {}, False),
        ("keras_binary_sample_weight", "binw", "bin_probs_w.csv", False, {}, True),
        (
            "keras_binary_label_smoothing",
            "bin",
            "bin_probs.csv",
            False,
            {"label_smoothing": 0.1},
            False,
        ),
        ("keras_binary_from_logits", "binz", "bin_logits.csv", True, {"from_logits": True}, False),
        (
            "keras_binary_from_logits_sample_weight",
            "binzw",
            "bin_logits_w.csv",
            True,
            {"from_logits": True},
            True,
        ),
        (
            "keras_binary_from_logits_label_smoothing",
            "binz",
            "bin_logits.csv",
            True,
            {"from_logits": True, "label_smoothing": 0.2},
            False,
        ),
    ]:
        t = d[key]
        col = "logit" if is_logits else "p"
        p, y = t[col], t["label"].astype(F64)
        w = t["w"] if weighted else None
        call, options, out = keras_call(
            fw,
            "BinaryCrossentropy",
            ctor,
            ("y[:, None]", y[:, None]),
            (f"{'logits' if is_logits else 'p'}[:, None]", p[:, None]),
            w,
        )
        ls = ctor.get("label_smoothing", 0.0)
        per = ref_keras_bce(p, y, ls, is_logits)
        extra = ["--label-smoothing", str(ls)] if ls else []
        keras_add(
            name,
            call,
            {"predictions": f"data/{file}", "columns": {"y": "label", "y_pred": col}},
            options,
            like("logits" if is_logits else "probs", *extra, *(["--weight-col", "w"] * weighted)),
            out,
            ref_per=per,
            ref_value=keras_reduce(per, w),
            w=w,
            formula=(
                "loss_i = -[t ln sigmoid(z) + (1 - t) ln sigmoid(-z)]"
                if is_logits
                else "loss_i = -[t ln clip(p) + (1 - t) ln(1 - clip(p))], clip to [1e-7, 1 - 1e-7]"
            )
            + "; t = (1 - A) y + A/2; "
            + mean_f,
            note="shapes (N, 1): with 1-D y and p keras averages over the samples inside the "
            "loss function, and sample_weight then multiplies that single mean"
            + ("; a wrong exact 0/1 costs -ln(1e-7) = 16.118" if not is_logits else ""),
        )

    for name, key, file, is_logits, weighted, ls in [
        ("keras_binary_multilabel", "ml", "ml3_probs.csv", False, False, 0.0),
        ("keras_binary_multilabel_sample_weight", "mlw", "ml3_probs_w.csv", False, True, 0.0),
        ("keras_binary_multilabel_from_logits", "mlz", "ml4_logits.csv", True, False, 0.0),
        ("keras_binary_multilabel_label_smoothing", "ml", "ml3_probs.csv", False, False, 0.1),
    ]:
        t = d[key]
        prefix = "logit_" if is_logits else "p_"
        p, y = stack(t, prefix), stack(t, "y_").astype(F64)
        w = t["w"] if weighted else None
        ctor: dict[str, Any] = {"from_logits": True} if is_logits else {}
        if ls:
            ctor["label_smoothing"] = ls
        call, options, out = keras_call(
            fw, "BinaryCrossentropy", ctor, ("y", y), ("logits" if is_logits else "p", p), w
        )
        per = ref_keras_bce(p, y, ls, is_logits).mean(axis=1)
        extra = ["--label-smoothing", str(ls)] if ls else []
        keras_add(
            name,
            call,
            {"predictions": f"data/{file}", "columns": {"y": "y_*", "y_pred": f"{prefix}*"}},
            options,
            like(
                "logits" if is_logits else "probs",
                "--task",
                "multilabel",
                "--label-cols",
                "y_*",
                *extra,
                *(["--weight-col", "w"] * weighted),
            ),
            out,
            ref_per=per,
            ref_value=keras_reduce(per, w),
            w=w,
            formula="loss_i = mean over the K labels of the elementwise BCE (clipped as "
            "keras_binary); " + mean_f,
            note="per-sample (N,) output is already the mean over the K labels",
        )

    # focal losses ---------------------------------------------------------------------------
    for name, key, file, is_logits, ctor in [
        ("keras_categorical_focal", "mc4", "mc4_probs.csv", False, {"alpha": 0.25, "gamma": 2.0}),
        (
            "keras_categorical_focal_from_logits",
            "lg5",
            "mc5_logits.csv",
            True,
            {"alpha": 0.25, "gamma": 2.0, "from_logits": True},
        ),
    ]:
        t = d[key]
        prefix = "logit_" if is_logits else "p_"
        p, y = stack(t, prefix), t["label"]
        oh = onehot(y, p.shape[1])
        call, options, out = keras_call(
            fw,
            "CategoricalFocalCrossentropy",
            ctor,
            ("one_hot(y)", oh),
            ("logits" if is_logits else "p", p),
            None,
        )
        per = ref_keras_focal_cat(p, oh, 0.25, 2.0, is_logits)
        keras_add(
            name,
            call,
            {
                "predictions": f"data/{file}",
                "columns": {"y": "label (one-hot encoded for keras)", "y_pred": f"{prefix}*"},
            },
            options,
            like("logits" if is_logits else "probs", "--focal-gamma", "2", "--focal-alpha", "0.25"),
            out,
            ref_per=per,
            ref_value=keras_reduce(per, None),
            w=None,
            formula="p' = clip(p / sum p, 1e-7, 1 - 1e-7) (logits: softmax first, then the same "
            "clip); loss_i = alpha (1 - p'[y_i])^gamma * -ln p'[y_i]; " + mean_f,
            note="alpha is one scalar factor for every class (not alpha_t); from_logits "
            "goes through softmax and the 1e-7 clip, so extreme logits cost at most "
            "0.25 * -ln(1e-7) = 4.03 (rows 4, 13, 25), unlike log_softmax",
        )

    for name, key, file, is_logits, ctor, ml in [
        ("keras_binary_focal", "bin", "bin_probs.csv", False, {"gamma": 2.0}, False),
        (
            "keras_binary_focal_class_balancing",
            "bin",
            "bin_probs.csv",
            False,
            {"gamma": 2.0, "apply_class_balancing": True, "alpha": 0.25},
            False,
        ),
        (
            "keras_binary_focal_from_logits",
            "binz",
            "bin_logits.csv",
            True,
            {"gamma": 2.0, "from_logits": True},
            False,
        ),
        (
            "keras_binary_focal_from_logits_class_balancing",
            "binz",
            "bin_logits.csv",
            True,
            {"gamma": 2.0, "from_logits": True, "apply_class_balancing": True, "alpha": 0.25},
            False,
        ),
        (
            "keras_binary_focal_multilabel_class_balancing",
            "ml",
            "ml3_probs.csv",
            False,
            {"gamma": 2.0, "apply_class_balancing": True, "alpha": 0.25},
            True,
        ),
    ]:
        t = d[key]
        if ml:
            p, y = stack(t, "p_"), stack(t, "y_").astype(F64)
            yt, yp = ("y", y), ("p", p)
        else:
            col = "logit" if is_logits else "p"
            p, y = t[col], t["label"].astype(F64)
            yt = ("y[:, None]", y[:, None])
            yp = (f"{'logits' if is_logits else 'p'}[:, None]", p[:, None])
        call, options, out = keras_call(fw, "BinaryFocalCrossentropy", ctor, yt, yp, None)
        bal = bool(ctor.get("apply_class_balancing"))
        per = ref_keras_focal_binary(p, y, 2.0, bal, 0.25, is_logits)
        if ml:
            per = per.mean(axis=1)
        extra = ["--focal-gamma", "2"] + (["--focal-alpha", "0.25"] if bal else [])
        task = ["--task", "multilabel", "--label-cols", "y_*"] if ml else []
        keras_add(
            name,
            call,
            {
                "predictions": f"data/{file}",
                "columns": {
                    "y": "y_*" if ml else "label",
                    "y_pred": ("p_*" if ml else ("logit" if is_logits else "p")),
                },
            },
            options,
            like("logits" if is_logits else "probs", *task, *extra),
            out,
            ref_per=per,
            ref_value=keras_reduce(per, None),
            w=None,
            formula="bce = clipped BCE as keras_binary (logits: sigmoid first, then the clip); "
            "p_t = y p + (1 - y)(1 - p) with p unclipped; loss = (1 - p_t)^gamma bce; "
            "apply_class_balancing: loss *= alpha y + (1 - alpha)(1 - y); mean over the last "
            "axis; " + mean_f,
            note=(
                "default apply_class_balancing=False: no alpha at all (torchvision applies "
                "alpha=0.25 by default)"
                if not bal
                else ""
            )
            + (
                "; from_logits goes through sigmoid and the 1e-7 clip (not log-sigmoid): "
                "z = +-1000 wrong costs (1 - 0)^2 * -ln(1e-7) = 16.118, not 1000"
                if is_logits
                else ""
            ),
        )

    # float32 (keras' default floatx) ------------------------------------------------------------
    with fw.keras_floatx("float32"):
        t = d["f32mc"]
        p, y = t["p"], t["label"]
        oh = onehot(y, 3)
        call, options, out = keras_call(
            fw, "CategoricalCrossentropy", {}, ("one_hot(y)", oh), ("p", p), None
        )
        per = ref_keras_cce(p.astype(F64), oh, 0.0, False, "float32")
        keras_add(
            "keras_float32_categorical",
            call + "  # floatx float32, p a float32 array",
            {"predictions": "data/f32_mc3_probs.npy", "labels": "data/f32_mc3_labels.npy"},
            {**options, "floatx": "float32"},
            like("probs", "--classes", "a,b,c"),
            out,
            ref_per=per,
            ref_value=keras_reduce(per, None),
            w=None,
            dtype="float32",
            reference_float64=keras_reduce(per, None),
            per_sample_reference_float64=per,
            formula="as keras_categorical, in float32: the clip bounds are float32(1e-7) and "
            "float32(1 - 1e-7) = 1 - 2**-23",
            note="reference_float64: the formula in float64 with the float32 clip bounds",
        )

        t = d["f32bin"]
        p, y = t["p"], t["label"].astype(np.float32)
        call, options, out = keras_call(
            fw,
            "BinaryCrossentropy",
            {},
            ("y[:, None]", y[:, None]),
            ("p[:, None]", p[:, None]),
            None,
        )
        per = ref_keras_bce(p.astype(F64), y.astype(F64), 0.0, False, "float32")
        per64 = ref_keras_bce(p.astype(F64), y.astype(F64), 0.0, False, "float64")
        keras_add(
            "keras_float32_binary",
            call + "  # floatx float32, p a float32 array",
            {"predictions": "data/f32_bin_probs.npy", "labels": "data/f32_bin_labels.npy"},
            {**options, "floatx": "float32"},
            like("probs"),
            out,
            ref_per=per,
            ref_value=keras_reduce(per, None),
            w=None,
            dtype="float32",
            reference_float64=keras_reduce(per, None),
            per_sample_reference_float64=per,
            formula="as keras_binary, in float32: 1 - clip(p) of an exact 1 is 2**-23, so a "
            "wrong exact 0/1 costs -ln(2**-23) = 15.942 (float64: -ln(1e-7) = 16.118)",
            note="reference_float64: the formula in float64 with the float32 clip bounds; with "
            f"float64 bounds the value would be {keras_reduce(per64, None)!r} "
            f"({rel(keras_reduce(per64, None), keras_reduce(per, None)):.2%} away)",
        )

        t = d["f32lg"]
        z, y = t["z"], t["label"]
        call, options, out = keras_call(
            fw,
            "SparseCategoricalCrossentropy",
            {"from_logits": True},
            ("y", y),
            ("logits", z),
            None,
        )
        per = ref_keras_cce(z.astype(F64), onehot(y, 4), 0.0, True)
        keras_add(
            "keras_float32_sparse_categorical_from_logits",
            call + "  # floatx float32, logits a float32 array",
            {"predictions": "data/f32_mc4_logits.npy", "labels": "data/f32_mc4_labels.npy"},
            {**options, "floatx": "float32"},
            like("logits", "--classes", "a,b,c,d"),
            out,
            ref_per=per,
            ref_value=keras_reduce(per, None),
            w=None,
            dtype="float32",
            reference_float64=keras_reduce(per, None),
            per_sample_reference_float64=per,
            formula="as keras_sparse_categorical_from_logits, in float32",
            note="reference_float64: the same formula in float64 on the float32 values",
        )


# --- measured convention differences -------------------------------------------------------


def by_name(name: str) -> dict[str, Any]:
    for case in CASES:
        if case["name"] == name:
            return case
    raise KeyError(name)


def val(name: str) -> float:
    return float(by_name(name)["value"])


def fmt(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf"
    return f"{x:.10g}"


def pct(a: float, b: float) -> str:
    r = rel(a, b)
    if math.isinf(r):
        return "inf"
    if r == 0:
        return "0"
    return f"{r:.2e}" if r < 1e-3 else f"{r:.2%}"


def conventions(fw: Frameworks, d: dict[str, dict[str, Array]]) -> list[tuple[str, ...]]:
    """Rows of CONVENTIONS.md: (topic, sklearn, torch, keras, measured, source)."""
    import warnings

    rows: list[tuple[str, ...]] = []

    sk, ke, to = (
        val("sklearn_zero_on_true_class"),
        val("keras_categorical_zero_on_true_class"),
        val("torch_nll_loss_log_probs_zero"),
    )
    rows.append(
        (
            "Exact 0 on the true class (probabilities)",
            "clip to [eps, 1 - eps], eps = finfo(dtype).eps: costs -ln(2.2e-16) = 36.04",
            "`nll_loss(log(p))`: nothing clipped, costs inf; `binary_cross_entropy`: log clamped "
            "at -100, costs 100",
            "clip to [1e-7, 1 - 1e-7]: costs -ln(1e-7) = 16.12",
            f"`mc3_zero_true.csv`: sklearn {fmt(sk)}, keras {fmt(ke)} ({pct(ke, sk)} below "
            "sklearn),"
            f" torch nll_loss {fmt(to)}",
            "sklearn `metrics._classification._log_loss` (`eps = xp.finfo(y_proba.dtype).eps; "
            "y_proba = xp.clip(y_proba, eps, 1 - eps)`); keras `backend/jax/nn.py` "
            "`categorical_crossentropy` (`jnp.clip(output, epsilon(), 1.0 - epsilon())`); torch "
            "`nll_loss` takes log-probabilities as given",
        )
    )
    sk, ke, to = (
        val("sklearn_multiclass"),
        val("keras_categorical"),
        val("torch_nll_loss_log_probs"),
    )
    r11 = [
        abs(by_name(n)["per_sample"][11])
        for n in ("sklearn_multiclass", "keras_categorical", "torch_nll_loss_log_probs")
    ]
    rows.append(
        (
            "Exact 1 on the true class (confident and right)",
            "-ln(1 - eps) = 2.2e-16",
            "`nll_loss(log(p))`: exactly 0",
            "-ln(1 - 1e-7) = 1.0e-7",
            f"`mc4_probs.csv` row 11: sklearn {r11[0]:.3g}, keras {r11[1]:.3g}, torch {r11[2]:.3g};"
            f" aggregates: keras {pct(ke, sk)}, torch {pct(to, sk)} from sklearn",
            "as above",
        )
    )
    sk, to, ke = (val("sklearn_binary"), val("torch_binary_cross_entropy"), val("keras_binary"))
    rows.append(
        (
            "Binary probabilities 0 and 1, wrong (and p = 1e-50)",
            "36.04 each (clip at eps64)",
            "`binary_cross_entropy`: each ln clamped to >= -100, so 100 each (also p = 1e-50, "
            "whose ln is -115.1)",
            "16.12 each (clip at 1e-7)",
            f"`bin_probs.csv`: sklearn {fmt(sk)}, torch {fmt(to)} ({pct(to, sk)} above sklearn), "
            f"keras {fmt(ke)} ({pct(ke, sk)} below)",
            "torch `aten/src/ATen/native/Loss.cpp` `binary_cross_entropy_out_cpu` "
            "(`std::max(std::log(x), -100)`, documented for `BCELoss`); keras `backend/jax/nn.py` "
            "`binary_crossentropy`",
        )
    )

    t = d["f32mc"]
    sk32 = val("sklearn_float32_multiclass")
    with warnings.catch_warnings():  # float32 rows, read as float64, miss 1 by ~1e-8
        warnings.simplefilter("ignore")
        sk64 = fw.log_loss(t["label"], y_proba=t["p"].astype(F64))
    rows.append(
        (
            "float32 probabilities",
            "eps is the epsilon of the input's dtype: float32 input is clipped at 1.19e-7 (a wrong "
            "exact 0/1 costs 15.94) and computed in float32",
            "computes in the tensor's dtype; no clipping in `nll_loss`",
            "computes in floatx; clip bounds become float32(1e-7) and float32(1 - 1e-7) = 1 - "
            "2**-23",
            f"`f32_mc3_probs.npy`: sklearn float32 {fmt(sk32)}, the same values as float64 "
            f"{fmt(sk64)} ({pct(sk32, sk64)} apart)",
            "sklearn `_log_loss` (`xp.finfo(y_proba.dtype).eps`); keras `jnp.clip` with "
            "python-float "
            "bounds, cast to the tensor's dtype",
        )
    )
    note = by_name("keras_float32_binary")["note"]
    rows.append(
        (
            "keras float32: upper clip bound",
            "-",
            "-",
            "float32(1 - 1e-7) = 1 - 1.19e-7, so ln(1 - clip(1.0)) = ln(2**-23) = -15.94, "
            "not ln(1e-7) = -16.12",
            f"`f32_bin_probs.npy`: keras {fmt(val('keras_float32_binary'))}; "
            f"{note.split('; ', 1)[1]}",
            "keras `backend/jax/nn.py` `binary_crossentropy`",
        )
    )

    t = d["unnorm"]
    p, y = stack(t, "p_"), t["label"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk_un = fw.log_loss(y, y_proba=p, labels=list(range(5)))
    ke = val("keras_categorical_unnormalised_rows")
    rows.append(
        (
            "Rows that do not sum to 1",
            "warns (`UserWarning`) and uses them as they are",
            "`nll_loss(log(p))`: uses them as they are; `cross_entropy` on logits normalises by "
            "definition",
            "divides each row by its sum, then clips",
            f"`mc5_unnormalised.csv` (sums 0.7..1.3): keras {fmt(ke)}, sklearn {fmt(sk_un)} "
            f"({pct(ke, sk_un)} apart)",
            "sklearn `_validate_multiclass_probabilistic_prediction` (warning only); keras "
            "`backend/jax/nn.py` `categorical_crossentropy` (`output / jnp.sum(output, axis)`)",
        )
    )

    skw, kew, kemw = (
        val("sklearn_multiclass_sample_weight"),
        val("keras_categorical_sample_weight"),
        val("keras_sparse_categorical_mean_with_sample_weight"),
    )
    tw = d["mc4w"]["w"]
    rows.append(
        (
            "Sample weights: the denominator",
            "sum_i w_i l_i / sum_i w_i",
            "`binary_cross_entropy(_with_logits)(weight=w)`: sum_i w_i l_i / N (weight is just "
            "multiplied in)",
            "`sample_weight`: sum_i w_i l_i / N ('sum_over_batch_size'); "
            "`reduction='mean_with_sample_weight'`: / sum_i w_i",
            f"`mc4_probs_w.csv` (sum w = {tw.sum():g}, N = {len(tw)}): sklearn {fmt(skw)}, keras "
            f"{fmt(kew)} ({pct(kew, skw)} apart), keras mean_with_sample_weight {fmt(kemw)} "
            f"({pct(kemw, skw)} from sklearn)",
            "sklearn `_log_loss` -> `utils._array_api._average(loss, weights=sample_weight)`; "
            "keras "
            "`losses/loss.py` `reduce_values`; torch `Loss.cpp` `apply_loss_reduction` (mean "
            "of the "
            "weighted losses)",
        )
    )

    case = by_name("torch_cross_entropy_class_weight")
    per = np.array(case["per_sample"])
    rows.append(
        (
            "Class weights (`cross_entropy(weight=)`)",
            "none (only sample_weight)",
            "mean = sum_i w[y_i] l_i / sum_i w[y_i]: a weighted mean",
            "none in the loss (`class_weight` is a `fit` argument that becomes sample weights, "
            "divided by N)",
            f"`mc5_logits.csv`: torch {fmt(case['value'])}; the same weighted sum / N would be "
            f"{fmt(per.sum() / len(per))} ({pct(per.sum() / len(per), case['value'])} apart)",
            "torch `aten/src/ATen/native/LossNLL.cpp` `nll_loss_forward_out_cpu_template` "
            "(`total_weight` = sum of w[target] over the rows not ignored)",
        )
    )

    t = d["lg5"]
    lp = log_softmax(stack(t, "logit_"))
    yv = t["label"]
    smooth_q = 0.9 * onehot(yv, 5) + 0.1 / 5
    as_sample_w = (CLASS_W5[yv] * -(smooth_q * lp).sum(1)).sum() / CLASS_W5[yv].sum()
    tv = val("torch_cross_entropy_class_weight_label_smoothing")
    rows.append(
        (
            "Label smoothing with class weights",
            "-",
            "loss_i = (1 - A) w[y_i] nll_i + A/K sum_c w[c] (-ln p_ic); mean divides by "
            "sum_i w[y_i]: the smoothing term is weighted by each class's own weight "
            "(pytorch#104776)",
            "`label_smoothing` has no class weights (sample weights multiply the whole loss)",
            f"`mc5_logits.csv`, A = 0.1: torch {fmt(tv)}; weighting the whole smoothed loss by "
            f"w[y_i] gives {fmt(as_sample_w)} ({pct(tv, as_sample_w)} apart)",
            "torch `LossNLL.cpp` `cross_entropy_loss_label_smoothing` (`smooth_loss = -(input * "
            "weight_).sum(class_dim)`; mean: `smooth_loss.sum() / weight.gather(0, "
            "target.masked_select(~ignore_mask)).sum()`)",
        )
    )

    t = d["softz"]
    q, lp = stack(t, "q_"), log_softmax(stack(t, "logit_"))
    w3 = CLASS_W5[:3]
    tv = val("torch_cross_entropy_soft_targets_class_weight")
    wsum = (q * w3).sum(1)
    as_weighted = (-(q * lp * w3).sum(1)).sum() / wsum.sum()
    rows.append(
        (
            "Soft (probability) targets with class weights",
            "- (log_loss takes hard labels or indicator matrices)",
            "loss_i = -sum_c w[c] q_ic ln p_ic; mean = sum_i loss_i / N (not / sum of weights, "
            "unlike hard labels)",
            "`CategoricalCrossentropy` takes soft targets; no class weights",
            f"`soft3_logits.csv`: torch {fmt(tv)}; / sum_i sum_c q_ic w[c] instead of N gives "
            f"{fmt(as_weighted)} ({pct(tv, as_weighted)} apart)",
            "torch `LossNLL.cpp` `cross_entropy_loss_prob_target` (mean: `/ (input.sym_numel() / "
            "n_classes)`)",
        )
    )

    t = d["binz"]
    z, y = t["logit"], t["label"].astype(F64)
    tv = val("torch_bce_with_logits_pos_weight")
    plain = val("torch_bce_with_logits")
    lpw = ref_torch_bce_logits(z, y, None, 2.5)
    normalised = lpw.sum() / (2.5 * y + (1 - y)).sum()
    rows.append(
        (
            "pos_weight",
            "-",
            "loss = -[pw y ln sigmoid(z) + (1 - y) ln sigmoid(-z)], mean over N (or N*K): "
            "pw multiplies the positive term only and is not normalised; per class in multilabel",
            "- (no pos_weight)",
            f"`bin_logits.csv`, pw = 2.5: torch {fmt(tv)}; without pos_weight {fmt(plain)}; "
            f"normalised by sum(pw y + 1 - y) it would be {fmt(normalised)} "
            f"({pct(tv, normalised)} apart)",
            "torch `aten/src/ATen/native/Loss.cpp` `binary_cross_entropy_with_logits` "
            "(`log_weight = "
            "(pos_weight - 1) * target + 1`)",
        )
    )

    tn, kn = val("torch_cross_entropy_all_ignored"), val("keras_sparse_categorical_all_ignored")
    rows.append(
        (
            "Every row ignored",
            "-",
            "`cross_entropy(ignore_index=-100)`, mean: 0 / 0 = nan (sum: 0)",
            "`ignore_class=-100`: 0.0 (`divide_no_nan`)",
            f"`mc3_logits_all_ignored.csv`: torch {fmt(tn)}, keras {fmt(kn)}; xent: exit 4",
            "torch `nll_loss` (`total_weight` 0); keras `losses/loss.py` `apply_mask` and "
            "`reduce_values` (`ops.divide_no_nan`)",
        )
    )

    t = d["ignw"]
    z, yv, w = stack(t, "logit_"), t["label"], t["w"]
    keep = yv != -100
    per = -log_softmax(z)[np.arange(len(yv)), np.where(keep, yv, 0)]
    kv = val("keras_sparse_categorical_ignore_class_sample_weight")
    wmean = (w * per)[keep].sum() / w[keep].sum()
    rows.append(
        (
            "Ignored rows and the denominator",
            "-",
            "mean over the rows kept, weighted by w[y_i] (class weights): sum w[y] l / sum w[y]",
            "mean over the rows kept: sum_kept w_i l_i / (number kept), sample weights not in the "
            "denominator",
            f"`mc3_logits_ignore_w.csv` (5 of 20 ignored): keras {fmt(kv)}; sum w l / sum w over "
            f"the rows kept would be {fmt(wmean)} ({pct(kv, wmean)} apart)",
            "keras `losses/loss.py` `apply_mask` (weights total/valid on the rows kept)",
        )
    )

    tv_f = val("torchvision_sigmoid_focal_loss")
    kf = val("keras_binary_focal_from_logits")
    # the defaults alone, on the rows without extreme logits (rows 6..24 of bin_logits.csv)
    t = d["binz"]
    z, y = t["logit"][6:], t["label"][6:].astype(F64)
    tv_mod = fw.focal(fw.t(z), fw.t(y), alpha=0.25, gamma=2, reduction="mean").item()
    tv_mod_na = fw.focal(fw.t(z), fw.t(y), alpha=-1, gamma=2, reduction="mean").item()
    k_loss = fw.keras.losses.BinaryFocalCrossentropy
    with fw.keras_exact_mean():
        k_mod = float(np.asarray(k_loss(gamma=2.0, from_logits=True)(y[:, None], z[:, None])))
        k_mod_b = float(
            np.asarray(
                k_loss(gamma=2.0, from_logits=True, apply_class_balancing=True, alpha=0.25)(
                    y[:, None], z[:, None]
                )
            )
        )
    rows.append(
        (
            "Focal loss defaults",
            "-",
            "torchvision `sigmoid_focal_loss`: alpha=0.25 applied by default as alpha_t = "
            "alpha y + (1 - alpha)(1 - y) (alpha=-1 turns it off; other values outside [0, 1] "
            "raise), gamma=2, reduction='none' by default; the BCE from logits is stable",
            "`BinaryFocalCrossentropy`: gamma=2, no alpha unless apply_class_balancing=True; "
            "from_logits: sigmoid, then the 1e-7 clip; `CategoricalFocalCrossentropy`: "
            "alpha=0.25 as one scalar factor on every class",
            f"rows 6..24 of `bin_logits.csv` (no extreme logits): torchvision default "
            f"{fmt(tv_mod)}, keras default {fmt(k_mod)} ({pct(k_mod, tv_mod)} apart); "
            f"torchvision alpha=-1 {fmt(tv_mod_na)} vs keras default ({pct(k_mod, tv_mod_na)}); "
            f"keras apply_class_balancing=True, alpha=0.25 {fmt(k_mod_b)} vs torchvision "
            f"default ({pct(k_mod_b, tv_mod)}). All rows (z = +-40, +-1000 included): "
            f"torchvision {fmt(tv_f)}, keras default {fmt(kf)}: keras' clip caps a wrong "
            "z = +-1000 at 16.12 nats",
            "torchvision `ops/focal_loss.py` `sigmoid_focal_loss`; keras `losses/losses.py` "
            "`binary_focal_crossentropy`, `categorical_focal_crossentropy`",
        )
    )

    t = d["ml"]
    yml, pml = stack(t, "y_"), stack(t, "p_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk_ml = fw.log_loss(yml, y_proba=pml)
    positives_only = -(yml * np.log(np.clip(pml, 2**-52, 1 - 2**-52))).sum(axis=1).mean()
    assert close(sk_ml, positives_only, 1e-12), (sk_ml, positives_only)
    tml, kml = val("torch_binary_cross_entropy_multilabel"), val("keras_binary_multilabel")
    tw = d["mlw"]["w"]
    kmlw = val("keras_binary_multilabel_sample_weight")
    per_ml = np.array(by_name("keras_binary_multilabel")["per_sample"])
    wmean_ml = (tw * per_ml).sum() / tw.sum()
    rows.append(
        (
            "Multilabel (N, K) reductions",
            "`log_loss(Y, P)` with an indicator matrix is not multilabel BCE: it sums -y ln p over "
            "the positive labels only (and warns that rows do not sum to 1)",
            "mean over all N*K elements",
            "mean over the K labels per sample, then sum w_i / N over samples",
            f"`ml3_probs.csv`: torch {fmt(tml)} (BCE clamp), keras {fmt(kml)} (1e-7 clip), "
            f"sklearn log_loss {fmt(sk_ml)}; with sample weights (`ml3_probs_w.csv`) keras "
            f"{fmt(kmlw)} vs sum w l / sum w {fmt(wmean_ml)} ({pct(kmlw, wmean_ml)} apart)",
            "keras `losses/losses.py` `binary_crossentropy` (`ops.mean(..., axis=-1)`); sklearn "
            "`_one_hot_encoding_multiclass_target`",
        )
    )

    t = d["binw"]
    p, yv, w = t["p"], t["label"].astype(F64), t["w"]
    loss_cls = fw.keras.losses.BinaryCrossentropy
    with fw.keras_exact_mean():
        flat = float(np.asarray(loss_cls()(yv, p, sample_weight=w)))
        col = float(np.asarray(loss_cls()(yv[:, None], p[:, None], sample_weight=w)))
    per = ref_keras_bce(p, yv, 0.0, False)
    assert close(flat, per.mean() * w.mean(), 1e-12), (flat, per.mean() * w.mean())
    rows.append(
        (
            "keras binary with 1-D y and p",
            "-",
            "-",
            "`BinaryCrossentropy()(y, p)` with shapes (N,) averages over the samples inside the "
            "loss function (the mean over the last axis), so `sample_weight` multiplies that one "
            "mean: mean(l) * mean(w)",
            f"`bin_probs_w.csv`: shape (N,) {fmt(flat)}, shape (N, 1) {fmt(col)} "
            f"({pct(flat, col)} apart); the fixture uses (N, 1)",
            "keras `losses/losses.py` `binary_crossentropy` (`ops.mean(..., axis=-1)`)",
        )
    )

    worst = max(
        (rel(c["value"], c["reference_float64"]), c["name"])
        for c in CASES
        if c["framework"] == "keras" and c["dtype"] == "float64" and "reference_float64" in c
    )
    rows.append(
        (
            "keras float64 mode is not all float64",
            "-",
            "-",
            "`ops.mean` computes in `result_type(x.dtype, 'float32')`, which keras maps to float32 "
            "even for float64 x, so every loss that averages over the last axis "
            "(`binary_crossentropy`, `binary_focal_crossentropy`) is exact to ~1e-7 only",
            f"largest relative error in the fixture: {worst[0]:.1e} ({worst[1]}); those cases "
            "have rtol 1e-6 and a `reference_float64`",
            "keras `backend/jax/numpy.py` `mean`; `backend/common/dtypes.py` "
            "`_lattice_result_type` "
            "(`BIT64_TO_BIT32_DTYPE`)",
        )
    )

    tv = val("torch_cross_entropy")
    kv = val("keras_categorical_from_logits")
    rows.append(
        (
            "Logits, extreme values (+-40, +-1000)",
            "- (probabilities only)",
            "`cross_entropy`, `binary_cross_entropy_with_logits`: stable log-softmax / "
            "log-sigmoid; z = 1000 wrong costs 1000 (2000 for 1000 vs -1000)",
            "`from_logits=True` in (Sparse)CategoricalCrossentropy and BinaryCrossentropy: stable, "
            "same as torch; in the focal losses: softmax/sigmoid then the 1e-7 clip",
            f"`mc5_logits.csv`: torch {fmt(tv)}, keras {fmt(kv)} ({pct(kv, tv)} apart)",
            "keras `backend/jax/nn.py` (`jax.nn.log_softmax`, `jax.nn.log_sigmoid`)",
        )
    )

    ls_t = val("torch_cross_entropy_label_smoothing")
    ls_k_case = [c for c in CASES if c["name"] == "keras_categorical_from_logits_label_smoothing"]
    rows.append(
        (
            "Label smoothing (no weights)",
            "-",
            "`cross_entropy(label_smoothing=A)`: targets (1 - A) onehot + A/K; also for soft "
            "targets: (1 - A) q + A/K",
            "Categorical: (1 - A) onehot + A/K; Binary: (1 - A) y + A/2",
            f"agree: torch A = 0.1 {fmt(ls_t)}; keras from_logits A = 0.2 "
            f"{fmt(ls_k_case[0]['value'])} (same formula, checked against NumPy)",
            "torch `cross_entropy_loss_label_smoothing`; keras `losses/losses.py` "
            "`categorical_crossentropy`, `binary_crossentropy`",
        )
    )
    return rows


def write_conventions(rows: list[tuple[str, ...]], vers: dict[str, str]) -> None:
    lines = [
        "# How scikit-learn, PyTorch and Keras compute cross-entropy differently",
        "",
        "Generated by `make_peers.py` from the inputs in `data/`; every number below is what the",
        "framework printed on those inputs (`peers.json` has each call). Versions: "
        + ", ".join(f"{k} {v}" for k, v in vers.items())
        + ".",
        "Keras ran on the jax backend in float64 (`jax_enable_x64`, `floatx` float64), torch on",
        "float64 tensors, unless a row says float32. Relative differences are |a - b| / |b|.",
        "",
        "| convention | scikit-learn | PyTorch | Keras | measured on the fixture | source |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines += [
        "",
        "## What each `--like` has to do, as the fixture's `xent_args` spell it",
        "",
        "Every case of `peers.json` names its `--reduction` explicitly; the row `default "
        "reduction` is what `--like` alone should choose to match the framework's default call.",
        "",
        "| | `--like sklearn` | `--like torch` | `--like keras` |",
        "|---|---|---|---|",
        "| probabilities, multiclass | clip to [eps, 1 - eps], eps of the input's dtype "
        "(float64 2.2e-16, float32 1.19e-7) | no clipping (`nll_loss(log p)`): 0 on the true "
        "class is inf | divide each row by its sum, clip to [1e-7, 1 - 1e-7] (bounds and "
        "1 - p rounded to float32 for float32 input) |",
        "| probabilities, binary and multilabel | as multiclass, on [1 - p, p] | "
        "`binary_cross_entropy`: each ln clamped at -100 | clip to [1e-7, 1 - 1e-7], mean over "
        "the K labels |",
        "| logits | - | stable log-softmax / log-sigmoid | the same; focal losses: softmax / "
        "sigmoid, then the 1e-7 clip |",
        "| default reduction | weighted-mean (sum w l / sum w) | hard labels: weighted-mean with "
        "class weights w[y_i] as the weights; soft targets, BCE (weight = per-sample), "
        "BCE-with-logits, focal: mean (sum / N, or / N*K) | mean: sum w_i l_i / N, N = rows not "
        "ignored |",
        "| class weights with label smoothing | - | smoothing term weighted by w[c] of each "
        "class, divided by sum w[y_i] | - |",
        "| soft targets with class weights | - | -sum_c w[c] q ln p, divided by N | - |",
        "| pos_weight | - | multiplies the positive term; not in the denominator | - |",
        "| every row ignored | - | nan: xent exits 4 | 0.0: xent exits 4 |",
        "| focal | - | torchvision: alpha_t = alpha y + (1 - alpha)(1 - y), default alpha "
        "0.25 | binary: alpha_t only with apply_class_balancing; categorical: alpha scalar |",
    ]
    lines += [
        "",
        "Sources are function names in the frameworks' trees: scikit-learn "
        "`sklearn/metrics/_classification.py`; PyTorch `aten/src/ATen/native/LossNLL.cpp`, "
        "`aten/src/ATen/native/Loss.cpp`, `torch/nn/functional.py`; Keras `keras/src/...`; "
        "torchvision `torchvision/ops/focal_loss.py`.",
        "",
    ]
    (HERE / "CONVENTIONS.md").write_text("\n".join(lines))


def main() -> None:
    np.seterr(divide="ignore", over="ignore")  # ln 0 and exp(1000) are part of the cases
    fw = Frameworks()
    data = make_data()
    sklearn_cases(fw, data)
    torch_cases(fw, data)
    keras_cases(fw, data)
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    rows = conventions(fw, data)
    (HERE / "peers.json").write_text(json.dumps(CASES, indent=1, allow_nan=False) + "\n")
    vers = versions("scikit-learn", "torch", "torchvision", "keras", "jax", "jaxlib", "numpy")
    write_conventions(rows, vers)
    counts: dict[str, int] = {}
    for case in CASES:
        counts[case["framework"]] = counts.get(case["framework"], 0) + 1
    print(f"{len(CASES)} cases: {counts}; torchvision focal loss: {fw.focal_source}")


if __name__ == "__main__":
    main()
