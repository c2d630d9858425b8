"""Generate ``torch_values.json``: what ``torch.nn.functional.cross_entropy`` returns on
small sequence and dense-prediction arrays, for ``tests/test_sequences.py``.

The test reads the fixture only (torch is not installed where the tests run). Run this
again (deterministic: fixed seeds) only to add cases or to move to another torch
version, in the virtual environment that has torch::

    /work/peers-venv/bin/python tests/sequences/make_torch_values.py

It writes, beside this file, ``<case>_logits.npy`` and ``<case>_labels.npy`` (the
inputs, float64 logits and int64 labels) and ``torch_values.json``, a dict with the
``versions`` it ran on and ``cases``, a list of dicts:

- ``name``, ``call`` (the torch call, as a string), ``note``;
- ``logits``, ``labels``: the input files (relative to this folder), ``class_axis``
  (-1: (B, T, V), the logits are given to torch as ``logits.movedim(-1, 1)``;
  1: (N, K, H, W), given as they are), ``ignore_index``, ``label_smoothing``,
  ``weight`` (the class weights, or null);
- ``mean``: ``reduction='mean'``;
- ``none``: ``reduction='none'``, flattened in C order over the label positions, null
  where the label is ``ignore_index`` (torch gives 0 there);
  ``none_weights`` (cases with class weights): the class weight of each position's
  label (null where ignored); ``none`` divided by it is xent's per-sample loss (with
  label smoothing too, where torch weights the smoothing term of every class by that
  class's weight and xent's ``--like torch`` per-sample loss is that term over w[y]);
- ``row_mean``: for each item b of the first axis, ``cross_entropy`` of that item alone
  (``reduction='mean'``), null when every position of it is ignored: exp of it is the
  item's perplexity;
- ``xent_args``: the ``xent score`` options expected to reproduce ``mean``, ``none``
  and ``row_mean``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent


def btv(seed: int, b: int, t: int, v: int, lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(B, T, V) logits and (B, T) labels, right-padded with -100 after ``lengths[b]``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.5, size=(b, t, v))
    labels = rng.integers(0, v, size=(b, t)).astype(np.int64)
    for row, length in enumerate(lengths):
        labels[row, length:] = -100
    return logits, labels


def nkhw(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(2, 5, 4, 3) logits and (2, 4, 3) labels with some 255 (void) pixels."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(2, 5, 4, 3))
    labels = rng.integers(0, 5, size=(2, 4, 3)).astype(np.int64)
    labels[0, 0, :] = 255
    labels[1, 2, 1] = 255
    labels[1, 3, 2] = 255
    return logits, labels


def torch_call(
    logits: np.ndarray,
    labels: np.ndarray,
    class_axis: int,
    ignore_index: int,
    label_smoothing: float,
    weight: list[float] | None,
    reduction: str,
) -> torch.Tensor:
    z = torch.from_numpy(logits)
    if class_axis == -1:
        z = z.movedim(-1, 1)
    w = None if weight is None else torch.tensor(weight, dtype=torch.float64)
    return F.cross_entropy(
        z,
        torch.from_numpy(labels),
        weight=w,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


def reference_none(
    logits: np.ndarray,
    labels: np.ndarray,
    class_axis: int,
    ignore_index: int,
    label_smoothing: float,
    weight: list[float] | None,
) -> np.ndarray:
    """The same per-position values from NumPy, to check torch is called as intended."""
    z = np.moveaxis(logits, class_axis, -1).reshape(-1, logits.shape[class_axis])
    y = labels.reshape(-1)
    k = z.shape[1]
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    w = np.ones(k) if weight is None else np.asarray(weight)
    keep = y != ignore_index
    yy = np.where(keep, y, 0)
    nll = -logp[np.arange(len(y)), yy]
    out = (1 - label_smoothing) * w[yy] * nll + label_smoothing / k * (-(logp * w).sum(axis=1))
    return np.where(keep, out, 0.0)


def case(
    name: str,
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    class_axis: int,
    ignore_index: int,
    label_smoothing: float = 0.0,
    weight: list[float] | None = None,
    xent_args: list[str],
    note: str,
) -> dict[str, Any]:
    np.save(HERE / f"{name}_logits.npy", logits)
    np.save(HERE / f"{name}_labels.npy", labels)
    options = (class_axis, ignore_index, label_smoothing, weight)
    mean = float(torch_call(logits, labels, *options, "mean"))
    none = torch_call(logits, labels, *options, "none").numpy().reshape(-1)
    ref = reference_none(logits, labels, *options)
    if not np.allclose(none, ref, rtol=1e-12, atol=0.0):
        sys.exit(f"{name}: torch's reduction='none' differs from the NumPy formula")
    keep = labels.reshape(-1) != ignore_index
    y = np.where(keep, labels.reshape(-1), 0)
    w = np.ones(logits.shape[class_axis]) if weight is None else np.asarray(weight)
    if not np.isclose(mean, none[keep].sum() / w[y][keep].sum(), rtol=1e-12, atol=0.0):
        sys.exit(f"{name}: torch's reduction='mean' differs from the NumPy formula")
    row_mean: list[float | None] = []
    for b in range(logits.shape[0]):
        if (labels[b] == ignore_index).all():
            row_mean.append(None)
        else:
            row_mean.append(
                float(torch_call(logits[b : b + 1], labels[b : b + 1], *options, "mean"))
            )
    call_input = "logits.movedim(-1, 1)" if class_axis == -1 else "logits"
    extras = "".join(
        [
            "" if weight is None else ", weight=w",
            f", ignore_index={ignore_index}",
            "" if not label_smoothing else f", label_smoothing={label_smoothing}",
        ]
    )
    out: dict[str, Any] = {
        "name": name,
        "call": f"torch.nn.functional.cross_entropy({call_input}, labels{extras}, reduction=R)",
        "note": note,
        "logits": f"{name}_logits.npy",
        "labels": f"{name}_labels.npy",
        "class_axis": class_axis,
        "ignore_index": ignore_index,
        "label_smoothing": label_smoothing,
        "weight": weight,
        "mean": mean,
        "none": [float(v) if k else None for v, k in zip(none, keep, strict=True)],
        "row_mean": row_mean,
        "xent_args": xent_args,
    }
    if weight is not None:
        out["none_weights"] = [float(w[v]) if k else None for v, k in zip(y, keep, strict=True)]
    return out


def main() -> None:
    torch.set_default_dtype(torch.float64)
    cases = []

    logits, labels = btv(11, 3, 7, 10, [7, 4, 5])
    cases.append(
        case(
            "btv_pad",
            logits,
            labels,
            class_axis=-1,
            ignore_index=-100,
            xent_args=["--ignore-label", "-100"],
            note="language-model logits (B, T, V), right-padded with -100",
        )
    )

    logits, labels = nkhw(12)
    cases.append(
        case(
            "nkhw_void",
            logits,
            labels,
            class_axis=1,
            ignore_index=255,
            xent_args=["--ignore-label", "255"],
            note="segmentation logits (N, K, H, W), void pixels 255",
        )
    )

    logits, labels = btv(13, 2, 5, 6, [5, 3])
    cases.append(
        case(
            "btv_smoothing",
            logits,
            labels,
            class_axis=-1,
            ignore_index=-100,
            label_smoothing=0.1,
            xent_args=["--ignore-label", "-100", "--label-smoothing", "0.1"],
            note="label smoothing 0.1 with padding: the multiclass form is torch's by default",
        )
    )

    weight = [2.0, 0.5, 1.0, 3.0, 0.25, 1.5]
    names = ",".join(f"{c}={w}" for c, w in enumerate(weight))
    logits, labels = btv(14, 2, 5, 6, [4, 5])
    cases.append(
        case(
            "btv_class_weight",
            logits,
            labels,
            class_axis=-1,
            ignore_index=-100,
            weight=weight,
            xent_args=["--ignore-label", "-100", "--class-weights", names],
            note="class weights: the mean divides by the summed weight of the samples' "
            "classes, as xent's weighted mean does by default",
        )
    )

    logits, labels = btv(15, 2, 5, 6, [5, 2])
    cases.append(
        case(
            "btv_class_weight_smoothing",
            logits,
            labels,
            class_axis=-1,
            ignore_index=-100,
            label_smoothing=0.2,
            weight=weight,
            xent_args=[
                "--like",
                "torch",
                "--ignore-label",
                "-100",
                "--class-weights",
                names,
                "--label-smoothing",
                "0.2",
            ],
            note="class weights with label smoothing: torch weights the smoothing term of "
            "every class c by w[c] (pytorch#104776); only --like torch does",
        )
    )

    versions = {"torch": torch.__version__, "numpy": np.__version__}
    text = json.dumps({"versions": versions, "cases": cases}, indent=1, allow_nan=False)
    (HERE / "torch_values.json").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {HERE / 'torch_values.json'}")


if __name__ == "__main__":
    main()
