"""``xent score --like sklearn|torch|keras`` reproduces what each framework prints.

The fixture ``tests/peers/peers.json`` holds, for each case, the exact framework call,
the value and per-sample losses it printed on the inputs in ``tests/peers/data/``, and
the xent options expected to give the same numbers. It was generated once by
``tests/peers/make_peers.py`` with torch, keras (jax backend) and scikit-learn
installed; this test only reads it, so none of them is needed here.

- The aggregate (``aggregate.loss`` of ``--format json``) must equal ``value`` at the
  case's ``rtol``: 1e-9 for float64 cases; 1e-6 where the framework computed in float32
  (float32 inputs, and keras' float32 ``ops.mean`` in its binary losses). Those cases
  also carry ``reference_float64``, the framework's formula in float64, which xent must
  match at 1e-9.
- The per-sample losses (column ``loss`` of ``--format csv``, unweighted) times
  ``per_sample_weights`` (when the framework's reduction='none' output has a weight
  multiplied in) must equal ``per_sample``; rows that are ``null`` there (ignored labels)
  must be absent from the CSV.
- Where the framework returns nan (torch, every row ignored) or 0 for an empty mean
  (keras), xent must refuse instead: exit 4 and a one-line error.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

PEERS = Path(__file__).resolve().parent / "peers"
CASES: list[dict[str, Any]] = json.loads((PEERS / "peers.json").read_text(encoding="utf-8"))
IDS = [case["name"] for case in CASES]
SCORED = [case for case in CASES if not case.get("xent_exit")]
PER_SAMPLE = [case for case in SCORED if case.get("per_sample") is not None]

#: Per-sample losses below this many nats are compared absolutely (a clipped, confident
#: and right sample costs 2.2e-16 in sklearn, 1e-7 in keras: still told apart).
PER_SAMPLE_ABS = 1e-12
#: Tolerance against ``reference_float64`` (the framework's formula in float64).
REFERENCE_RTOL = 1e-9

Invoke = Callable[[Sequence[str]], tuple[int, str, str]]


def number(value: Any) -> float:
    """A number of the fixture or of xent's output; "inf" and "nan" are strings in JSON."""
    return float(value)


def argv(case: dict[str, Any], fmt: str) -> list[str]:
    inputs = case["inputs"]
    args = ["score", str(PEERS / inputs["predictions"])]
    if "labels" in inputs:
        args += ["--labels", str(PEERS / inputs["labels"])]
    return [*args, *case["xent_args"], "--format", fmt]


def assert_close(got: float, expected: float, rtol: float, atol: float = 0.0) -> None:
    if math.isinf(expected):
        assert got == expected
    else:
        assert got == pytest.approx(expected, rel=rtol, abs=atol)


# --- the fixture itself (passes without the frameworks, and without --like) ---------------


def test_fixture_is_complete() -> None:
    assert len(IDS) == len(set(IDS)), "case names must be unique"
    frameworks = {case["framework"] for case in CASES}
    assert {"sklearn", "torch", "keras"} <= frameworks
    for case in CASES:
        for key in ("predictions", "labels"):
            if key in case["inputs"]:
                assert (PEERS / case["inputs"][key]).is_file(), (case["name"], key)
        assert case["xent_args"][:2] == [
            "--like",
            case["framework"].replace("torchvision", "torch"),
        ]
        assert case["call"]
        assert case["versions"]
        assert case["rtol"] in (1e-9, 1e-6)
        if case["rtol"] != 1e-9:
            assert "reference_float64" in case, case["name"]
        per = case.get("per_sample")
        if per is not None and case.get("per_sample_weights") is not None:
            assert len(case["per_sample_weights"]) == len(per)


def test_fixture_kl_identity() -> None:
    """Cross-entropy = entropy of the targets + KL(targets || predictions), as recorded."""
    cases = [case for case in CASES if "metrics" in case]
    assert cases
    for case in cases:
        metrics = case["metrics"]
        total = metrics["target_entropy"] + metrics["kl"]
        assert case["value"] == pytest.approx(total, rel=1e-12)


# --- xent against the frameworks ------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_aggregate(case: dict[str, Any], invoke: Invoke) -> None:
    code, out, err = invoke(argv(case, "json"))
    if case.get("xent_exit"):
        assert code == case["xent_exit"], (out, err)
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("xent: error:"), err
        return
    assert code == 0, err
    report = json.loads(out)
    got = number(report["aggregate"]["loss"])
    assert_close(got, number(case["value"]), case["rtol"])
    if "reference_float64" in case:
        assert_close(got, number(case["reference_float64"]), REFERENCE_RTOL)
    for key, value in case.get("metrics", {}).items():
        assert_close(number(report["metrics"][key]), number(value), case["rtol"])


@pytest.mark.parametrize("case", PER_SAMPLE, ids=[case["name"] for case in PER_SAMPLE])
def test_per_sample(case: dict[str, Any], invoke: Invoke) -> None:
    code, out, err = invoke(argv(case, "csv"))
    assert code == 0, err
    got = {int(row["index"]): number(row["loss"]) for row in csv.DictReader(io.StringIO(out))}
    expected = case["per_sample"]
    kept = [i for i, value in enumerate(expected) if value is not None]
    assert sorted(got) == kept
    weights = case.get("per_sample_weights") or [1.0] * len(expected)
    references = case.get("per_sample_reference_float64")
    for i in kept:
        loss = got[i] * weights[i]
        assert_close(loss, number(expected[i]), case["rtol"], PER_SAMPLE_ABS)
        if references is not None:
            assert_close(loss, number(references[i]), REFERENCE_RTOL, PER_SAMPLE_ABS)
