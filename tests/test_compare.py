"""``xent compare`` (contract §7): paired figures against a NumPy / scikit-learn reference,
pairing by row and by id, mismatches, the bootstrap interval and its statistical sanity,
the ``--max-increase`` / ``--significant`` gate, and the four output formats.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import log_loss

from xent.compare import BOOTSTRAP_GROUPS, bootstrap_interval

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]
FloatArray = npt.NDArray[np.float64]

REL = 1e-9
CLASSES = ["cat", "dog", "bird", "fish"]


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=REL, abs=1e-15)


def approx_tree(value: Any) -> Any:
    """``value`` with every float replaced by ``approx``, for comparing JSON objects."""
    if isinstance(value, float):
        return approx(value)
    if isinstance(value, dict):
        return {k: approx_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approx_tree(v) for v in value]
    return value


# --- data -----------------------------------------------------------------------------


class Problem:
    """A random multiclass problem: labels, two prediction sets, and their reference."""

    def __init__(self, n: int = 300, seed: int = 0, n_tied: int = 40) -> None:
        rng = np.random.default_rng(seed)
        k = len(CLASSES)
        self.n = n
        self.y = rng.integers(0, k, size=n)
        self.ids = [f"s{i:04d}" for i in range(n)]
        self.base = rng.dirichlet(np.full(k, 1.5), size=n)
        self.cand = rng.dirichlet(np.full(k, 1.5), size=n)
        self.cand[:n_tied] = self.base[:n_tied]  # identical rows: exact ties
        self.weights = rng.uniform(0.5, 2.0, size=n)
        rows = np.arange(n)
        self.base_loss = -np.log(self.base[rows, self.y])
        self.cand_loss = -np.log(self.cand[rows, self.y])
        self.diff = self.cand_loss - self.base_loss

    def csv(
        self, probs: FloatArray, order: Sequence[int] | None = None, weights: bool = False
    ) -> str:
        header = ["id", "label", *(f"p_{c}" for c in CLASSES), *(["w"] if weights else [])]
        lines = [",".join(header)]
        for i in order if order is not None else range(self.n):
            cells = [self.ids[i], CLASSES[self.y[i]], *(repr(float(p)) for p in probs[i])]
            if weights:
                cells.append(repr(float(self.weights[i])))
            lines.append(",".join(cells))
        return "\n".join(lines) + "\n"

    def write(self, tmp_path: Path, **kwargs: Any) -> tuple[str, str]:
        (tmp_path / "base.csv").write_text(self.csv(self.base, **kwargs))
        (tmp_path / "cand.csv").write_text(self.csv(self.cand, **kwargs))
        return "base.csv", "cand.csv"


def compare_json(invoke: Invoke, args: Sequence[str]) -> tuple[int, dict[str, Any], str]:
    code, out, err = invoke(["compare", *args, "--format", "json"])
    assert code in (0, 1), err
    return code, json.loads(out), err


def write_binary(tmp_path: Path, name: str, losses: FloatArray, labels: npt.NDArray[Any]) -> str:
    """A binary predictions file whose per-sample losses are ``losses``."""
    p = np.where(labels == 1, np.exp(-losses), -np.expm1(-losses))
    lines = ["label,p", *(f"{y},{float(q)!r}" for y, q in zip(labels, p, strict=True))]
    (tmp_path / name).write_text("\n".join(lines) + "\n")
    return name


def noisy_pair(tmp_path: Path, mean: float, n: int = 400, seed: int = 3) -> tuple[str, str]:
    """Base loss ln 2 everywhere; candidate losses ln 2 + d with mean(d) == ``mean`` exactly."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    d = rng.uniform(-0.5, 0.5, size=n)
    d = d - d.mean() + mean
    base = write_binary(tmp_path, "base.csv", np.full(n, math.log(2)), labels)
    cand = write_binary(tmp_path, "cand.csv", math.log(2) + d, labels)
    return base, cand


def error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xent: error: "), err
    return lines[0]


# --- the figures against a reference -----------------------------------------------------


def test_figures_match_a_numpy_reference(invoke: Invoke, tmp_path: Path) -> None:
    pb = Problem()
    base, cand = pb.write(tmp_path)
    _, data, _ = compare_json(invoke, [base, cand, "--seed", "1", "--top", "10"])
    labels = list(range(len(CLASSES)))
    base_loss = log_loss(pb.y, pb.base, labels=labels)
    cand_loss = log_loss(pb.y, pb.cand, labels=labels)
    assert data["base"]["loss"] == approx(base_loss)
    assert data["candidate"]["loss"] == approx(cand_loss)
    assert data["base"]["perplexity"] == approx(math.exp(base_loss))
    assert data["candidate"]["perplexity"] == approx(math.exp(cand_loss))
    diff = pb.diff
    assert data["difference"]["mean"] == approx(diff.mean())
    assert data["difference"]["mean"] == approx(cand_loss - base_loss)
    assert data["difference"]["relative"] == approx(diff.mean() / base_loss)
    assert data["n_samples"] == pb.n
    assert data["paired_by"] == "row"
    assert data["classes"] == CLASSES
    assert (data["n_better"], data["n_worse"], data["n_tied"]) == (
        int((diff < 0).sum()),
        int((diff > 0).sum()),
        int((diff == 0).sum()),
    )
    assert data["n_tied"] == 40
    assert data["n_better"] + data["n_worse"] + data["n_tied"] == pb.n

    for k, entry in enumerate(data["per_class"]):
        mask = pb.y == k
        assert entry["class"] == CLASSES[k]
        assert entry["n"] == int(mask.sum())
        assert entry["base"] == approx(pb.base_loss[mask].mean())
        assert entry["candidate"] == approx(pb.cand_loss[mask].mean())
        assert entry["difference"] == approx(diff[mask].mean())

    order = sorted(range(pb.n), key=lambda i: (-diff[i], i))[:10]
    assert [s["index"] for s in data["most_worse"]] == order
    for s, i in zip(data["most_worse"], order, strict=True):
        assert s["id"] == pb.ids[i]
        assert s["label"] == CLASSES[pb.y[i]]
        assert s["base"] == approx(pb.base_loss[i])
        assert s["candidate"] == approx(pb.cand_loss[i])
        assert s["difference"] == approx(diff[i])

    iv = data["difference"]
    assert (iv["confidence"], iv["bootstrap"], iv["seed"]) == (0.95, 1000, 1)
    assert iv["bootstrap_groups"] == pb.n
    assert iv["ci_low"] < diff.mean() < iv["ci_high"]
    # The interval has about the width a normal approximation gives.
    half = 1.96 * diff.std(ddof=1) / math.sqrt(pb.n)
    assert (iv["ci_high"] - iv["ci_low"]) / (2 * half) == pytest.approx(1.0, abs=0.15)


def test_weighted_figures_match_sklearn(invoke: Invoke, tmp_path: Path) -> None:
    pb = Problem(n=200, seed=5)
    base, cand = pb.write(tmp_path, weights=True)
    _, data, _ = compare_json(invoke, [base, cand, "--weight-col", "w", "--seed", "1"])
    labels = list(range(len(CLASSES)))
    w = pb.weights
    base_loss = log_loss(pb.y, pb.base, labels=labels, sample_weight=w)
    cand_loss = log_loss(pb.y, pb.cand, labels=labels, sample_weight=w)
    assert data["base"]["loss"] == approx(base_loss)
    assert data["candidate"]["loss"] == approx(cand_loss)
    assert data["difference"]["mean"] == approx(np.average(pb.diff, weights=w))
    for k, entry in enumerate(data["per_class"]):
        mask = pb.y == k
        assert entry["difference"] == approx(np.average(pb.diff[mask], weights=w[mask]))


def test_most_worse_lists_only_samples_that_got_worse(invoke: Invoke, tmp_path: Path) -> None:
    pb = Problem(n=30, seed=2, n_tied=0)
    pb.cand = pb.base.copy()
    pb.cand[[4, 17]] = pb.base[[4, 17]] ** 3 / (pb.base[[4, 17]] ** 3).sum(axis=1, keepdims=True)
    base, cand = pb.write(tmp_path)
    _, data, _ = compare_json(invoke, [base, cand, "--top", "10"])
    worse = [s["index"] for s in data["most_worse"]]
    assert set(worse) <= {4, 17}
    assert all(s["difference"] > 0 for s in data["most_worse"])
    assert data["n_tied"] == 28
    _, data, _ = compare_json(invoke, [base, cand, "--top", "0"])
    assert data["most_worse"] == []


def test_identical_files_compare_equal(invoke: Invoke, tmp_path: Path) -> None:
    pb = Problem(n=50)
    base, _ = pb.write(tmp_path)
    code, data, err = compare_json(invoke, [base, base, "--max-increase", "0", "--significant"])
    assert (code, err) == (0, "")
    assert data["difference"]["mean"] == 0.0
    assert (data["difference"]["ci_low"], data["difference"]["ci_high"]) == (0.0, 0.0)
    assert (data["n_better"], data["n_worse"], data["n_tied"]) == (0, 0, 50)
    assert data["most_worse"] == []


def test_numpy_inputs_with_a_labels_file_give_the_same_figures(
    invoke: Invoke, tmp_path: Path
) -> None:
    pb = Problem(n=120, seed=9)
    base, cand = pb.write(tmp_path)
    np.save(tmp_path / "base.npy", pb.base)
    np.save(tmp_path / "cand.npy", pb.cand)
    np.save(tmp_path / "y.npy", pb.y)
    _, from_csv, _ = compare_json(invoke, [base, cand, "--seed", "4"])
    _, from_npy, _ = compare_json(
        invoke,
        ["base.npy", "cand.npy", "--labels", "y.npy", "--classes", ",".join(CLASSES),
         "--seed", "4"],
    )  # fmt: skip
    for key in ("base", "candidate", "difference", "n_better", "n_worse", "n_tied", "per_class"):
        assert from_npy[key] == approx_tree(from_csv[key]), key


# --- pairing --------------------------------------------------------------------------------


def test_pairing_by_id_with_a_shuffled_candidate(invoke: Invoke, tmp_path: Path) -> None:
    pb = Problem(n=200, seed=1)
    base, cand = pb.write(tmp_path)
    _, by_row, _ = compare_json(invoke, [base, cand, "--seed", "3"])

    order = np.random.default_rng(11).permutation(pb.n).tolist()
    (tmp_path / "shuffled.csv").write_text(pb.csv(pb.cand, order=order))
    _, by_id, _ = compare_json(invoke, [base, "shuffled.csv", "--id-col", "id", "--seed", "3"])
    assert by_id["paired_by"] == "id"
    assert by_row["paired_by"] == "row"
    # The same figures; the candidate's sums may run in another order (last-bit changes).
    for key in (
        "base", "candidate", "difference", "n_better", "n_worse", "n_tied", "per_class",
        "most_worse", "n_samples",
    ):  # fmt: skip
        assert by_id[key] == approx_tree(by_row[key]), key
    assert by_id["difference"]["ci_low"] == by_row["difference"]["ci_low"]
    assert by_id["difference"]["ci_high"] == by_row["difference"]["ci_high"]

    # CSV output follows the base's rows, whatever the candidate's order.
    code, out_row, _ = invoke(["compare", base, cand, "--format", "csv"])
    code, out_id, _ = invoke(["compare", base, "shuffled.csv", "--id-col", "id", "--format", "csv"])
    assert code == 0
    assert out_id == out_row

    # Without --id-col the shuffled file is paired by row: its labels no longer agree.
    code, _, err = invoke(["compare", base, "shuffled.csv"])
    assert code == 4
    assert "shuffled.csv" in error_line(err)


def test_pairing_by_id_with_a_labels_file(invoke: Invoke, tmp_path: Path) -> None:
    pb = Problem(n=60, seed=6, n_tied=5)
    _, by_row, _ = compare_json(invoke, [*pb.write(tmp_path), "--seed", "2"])
    order = np.random.default_rng(1).permutation(pb.n).tolist()
    labels = ["id,label", *(f"{pb.ids[i]},{CLASSES[pb.y[i]]}" for i in order[::-1])]
    (tmp_path / "labels.csv").write_text("\n".join(labels) + "\n")
    for name, probs, rows in (("b.csv", pb.base, range(pb.n)), ("c.csv", pb.cand, order)):
        lines = ["id," + ",".join(f"p_{c}" for c in CLASSES)]
        lines += [pb.ids[i] + "," + ",".join(repr(float(p)) for p in probs[i]) for i in rows]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    _, data, _ = compare_json(
        invoke, ["b.csv", "c.csv", "--labels", "labels.csv", "--id-col", "id", "--seed", "2"]
    )
    assert data["paired_by"] == "id"
    assert data["source"]["labels"] == "labels.csv"
    for key in ("base", "candidate", "difference", "n_better", "n_worse", "n_tied", "per_class"):
        assert data[key] == approx_tree(by_row[key]), key


MISMATCH_BASE = """\
id,label,p_cat,p_dog
a,cat,0.7,0.3
b,dog,0.2,0.8
c,cat,0.6,0.4
d,dog,0.5,0.5
"""


@pytest.mark.parametrize(
    ("candidate", "args", "message"),
    [
        (
            MISMATCH_BASE.replace("d,dog,0.5,0.5\n", ""),
            [],
            "cand.csv: scores 3 rows but base.csv scores 4",
        ),
        (
            MISMATCH_BASE + "e,cat,0.9,0.1\n",
            [],
            "cand.csv: scores 5 rows but base.csv scores 4",
        ),
        (
            MISMATCH_BASE.replace("d,dog,0.5,0.5\n", ""),
            ["--id-col", "id"],
            "id 'd' of base.csv is missing",
        ),
        (
            MISMATCH_BASE.replace("d,dog", "e,dog"),
            ["--id-col", "id"],
            "id 'd' of base.csv is missing",
        ),
        (
            MISMATCH_BASE + "e,cat,0.9,0.1\n",
            ["--id-col", "id"],
            "id 'e' of cand.csv is missing",
        ),
        (
            MISMATCH_BASE.replace("d,dog", "c,dog"),
            ["--id-col", "id"],
            "cand.csv: id 'c' repeats; ids must be unique",
        ),
        (
            MISMATCH_BASE.replace("b,dog,0.2,0.8", "b,cat,0.2,0.8"),
            [],
            "has label 'cat' but base.csv has 'dog'",
        ),
        (
            MISMATCH_BASE.replace("b,dog,0.2,0.8", "b,cat,0.2,0.8"),
            ["--id-col", "id"],
            "has label 'cat' but base.csv has 'dog'",
        ),
    ],
    ids=[
        "fewer-rows",
        "more-rows",
        "id-missing-in-candidate",
        "id-renamed",
        "id-extra-in-candidate",
        "id-repeated-in-candidate",
        "label-differs-by-row",
        "label-differs-by-id",
    ],
)
def test_mismatches_are_invalid_data(
    invoke: Invoke, tmp_path: Path, candidate: str, args: list[str], message: str
) -> None:
    (tmp_path / "base.csv").write_text(MISMATCH_BASE)
    (tmp_path / "cand.csv").write_text(candidate)
    code, out, err = invoke(["compare", "base.csv", "cand.csv", *args, "-o", "r.json"])
    assert (code, out) == (4, "")
    assert message in error_line(err)
    assert not (tmp_path / "r.json").exists()


def test_a_repeated_id_in_the_base_is_invalid_data(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "base.csv").write_text(MISMATCH_BASE.replace("d,dog", "c,dog"))
    (tmp_path / "cand.csv").write_text(MISMATCH_BASE)
    code, _, err = invoke(["compare", "base.csv", "cand.csv", "--id-col", "id"])
    assert code == 4
    assert "'c'" in error_line(err)


def test_label_mismatch_names_the_row_as_an_editor_shows_it(invoke: Invoke, tmp_path: Path) -> None:
    # Contract §6: rows in messages are 1-based, with the header as line 1 -- as score's
    # messages say "data row 4 (line 5)". The 4th data row differs here.
    (tmp_path / "base.csv").write_text(MISMATCH_BASE)
    (tmp_path / "cand.csv").write_text(MISMATCH_BASE.replace("d,dog", "d,cat"))
    code, _, err = invoke(["compare", "base.csv", "cand.csv"])
    assert code == 4
    line = error_line(err)
    assert "line 5" in line, line


def test_different_classes_are_invalid_data(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "base.csv").write_text(MISMATCH_BASE)
    (tmp_path / "cand.csv").write_text(MISMATCH_BASE.replace("p_dog", "p_cow"))
    code, _, err = invoke(["compare", "base.csv", "cand.csv", "--labels", "base.csv"])
    assert code in (3, 4)  # the candidate has no column for 'dog', or differs in classes
    error_line(err)
    three = "id,label,p_cat,p_dog,p_cow\na,cat,0.7,0.2,0.1\nb,dog,0.2,0.7,0.1\n"
    (tmp_path / "base.csv").write_text(MISMATCH_BASE.replace("c,cat", "c,cow"))
    (tmp_path / "cand.csv").write_text(three + "c,cow,0.2,0.2,0.6\nd,dog,0.5,0.4,0.1\n")
    code, _, err = invoke(["compare", "base.csv", "cand.csv"])
    assert code == 4
    error_line(err)


# --- bootstrap --------------------------------------------------------------------------------


def test_seed_makes_the_interval_reproducible(invoke: Invoke, tmp_path: Path) -> None:
    base, cand = Problem(n=150).write(tmp_path)
    _, first, _ = compare_json(invoke, [base, cand, "--seed", "7"])
    _, again, _ = compare_json(invoke, [base, cand, "--seed", "7"])
    _, other, _ = compare_json(invoke, [base, cand, "--seed", "8"])
    assert first["difference"] == again["difference"]
    assert first["difference"]["seed"] == 7
    assert (other["difference"]["ci_low"], other["difference"]["ci_high"]) != (
        first["difference"]["ci_low"],
        first["difference"]["ci_high"],
    )
    assert other["difference"]["mean"] == first["difference"]["mean"]
    _, unseeded, _ = compare_json(invoke, [base, cand])
    assert unseeded["difference"]["seed"] is None


def test_bootstrap_options(invoke: Invoke, tmp_path: Path) -> None:
    base, cand = Problem(n=150).write(tmp_path)
    _, data, _ = compare_json(
        invoke, [base, cand, "--bootstrap", "200", "--confidence", "0.8", "--seed", "1"]
    )
    _, wide, _ = compare_json(
        invoke, [base, cand, "--bootstrap", "200", "--confidence", "0.99", "--seed", "1"]
    )
    assert (data["difference"]["bootstrap"], data["difference"]["confidence"]) == (200, 0.8)
    assert wide["difference"]["ci_low"] < data["difference"]["ci_low"]
    assert wide["difference"]["ci_high"] > data["difference"]["ci_high"]
    _, none, _ = compare_json(invoke, [base, cand, "--bootstrap", "0"])
    assert (none["difference"]["ci_low"], none["difference"]["ci_high"]) == ("nan", "nan")
    assert none["difference"]["mean"] == data["difference"]["mean"]


def test_bootstrap_interval_same_seed_same_interval() -> None:
    rng = np.random.default_rng(0)
    for n, groups in ((100, BOOTSTRAP_GROUPS), (5000, 64)):
        d = rng.normal(size=n)
        w = np.ones(n)
        a = bootstrap_interval(d, w, resamples=300, seed=5, groups=groups)
        b = bootstrap_interval(d, w, resamples=300, seed=5, groups=groups)
        c = bootstrap_interval(d, w, resamples=300, seed=6, groups=groups)
        assert a == b
        assert (a.low, a.high) != (c.low, c.high)
        assert a.groups == min(n, groups)


def test_bootstrap_interval_edge_cases() -> None:
    empty = bootstrap_interval(np.empty(0), np.empty(0), seed=1)
    assert math.isnan(empty.low)
    assert math.isnan(empty.high)
    assert empty.groups == 0
    none = bootstrap_interval(np.ones(5), np.ones(5), resamples=0)
    assert math.isnan(none.low)
    for n, groups in ((40, BOOTSTRAP_GROUPS), (400, 16)):
        constant = bootstrap_interval(np.full(n, 0.25), np.ones(n), resamples=100, groups=groups)
        assert (constant.low, constant.high) == pytest.approx((0.25, 0.25), rel=1e-12)
    # Resample count not a multiple of the batch size.
    odd = bootstrap_interval(np.arange(10.0), np.ones(10), resamples=77, seed=1)
    assert odd.resamples == 77
    assert 0 <= odd.low <= 4.5 <= odd.high <= 9


@pytest.mark.parametrize(
    ("n", "groups"),
    [(60, BOOTSTRAP_GROUPS), (2000, 50)],
    ids=["per-sample", "grouped"],
)
def test_bootstrap_coverage(n: int, groups: int) -> None:
    """A 90% interval of a mean-zero difference holds 0 in about 90% of repeated trials."""
    trials = 200
    covered = 0
    for seed in range(trials):
        rng = np.random.default_rng(10_000 + seed)
        d = rng.laplace(0.0, 0.3, size=n)  # symmetric, heavier-tailed than normal, mean 0
        iv = bootstrap_interval(
            d, np.ones(n), resamples=500, confidence=0.9, seed=seed, groups=groups
        )
        assert iv.groups == min(n, groups)
        covered += iv.low <= 0.0 <= iv.high
    assert 0.80 <= covered / trials <= 0.97, covered


def test_bootstrap_coverage_with_weights() -> None:
    trials = 200
    covered = 0
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        n = 3000
        w = rng.uniform(0.2, 3.0, size=n)
        d = rng.normal(0.0, 1.0, size=n)
        iv = bootstrap_interval(d, w, resamples=400, confidence=0.9, seed=seed, groups=80)
        covered += iv.low <= 0.0 <= iv.high
    assert 0.80 <= covered / trials <= 0.97, covered


def mean_width(n: int, groups: int, reps: int = 4) -> float:
    widths = []
    for seed in range(reps):
        d = np.random.default_rng(seed).normal(0.0, 1.0, size=n)
        iv = bootstrap_interval(
            d, np.ones(n), resamples=1000, confidence=0.9, seed=seed, groups=groups
        )
        widths.append(iv.high - iv.low)
    return float(np.mean(widths))


@pytest.mark.parametrize(
    ("small", "groups", "reps"),
    [(400, BOOTSTRAP_GROUPS, 4), (4000, 100, 4), (12_000, BOOTSTRAP_GROUPS, 2)],
    ids=["per-sample", "grouped", "grouped-default"],
)
def test_interval_width_shrinks_like_one_over_sqrt_n(small: int, groups: int, reps: int) -> None:
    narrow, wide = mean_width(16 * small, groups, reps), mean_width(small, groups, reps)
    assert wide / narrow == pytest.approx(4.0, rel=0.15)
    # ... and has the normal-theory width 2 * 1.645 * sd / sqrt(n), sd = 1.
    assert narrow == pytest.approx(2 * 1.6449 / math.sqrt(16 * small), rel=0.12)


def test_grouped_and_plain_bootstrap_agree_on_weighted_data() -> None:
    rng = np.random.default_rng(4)
    n = 6000
    d = rng.normal(0.05, 1.0, size=n)
    w = rng.uniform(0.1, 4.0, size=n)
    plain = bootstrap_interval(d, w, resamples=1000, confidence=0.9, seed=1, groups=n)
    grouped = bootstrap_interval(d, w, resamples=1000, confidence=0.9, seed=1, groups=200)
    assert plain.groups == n
    assert grouped.groups == 200
    center = np.average(d, weights=w)
    width = plain.high - plain.low
    assert grouped.high - grouped.low == pytest.approx(width, rel=0.15)
    assert (grouped.low + grouped.high) / 2 == pytest.approx(center, abs=0.1 * width)
    assert (plain.low + plain.high) / 2 == pytest.approx(center, abs=0.1 * width)


def test_compare_above_the_group_threshold(invoke: Invoke, tmp_path: Path) -> None:
    n = BOOTSTRAP_GROUPS + 2_000
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, size=n)
    base_loss = rng.uniform(0.05, 2.0, size=n)
    cand_loss = np.clip(base_loss + rng.normal(0.01, 0.3, size=n), 0.01, 5.0)
    base = write_binary(tmp_path, "base.csv", base_loss, labels)
    cand = write_binary(tmp_path, "cand.csv", cand_loss, labels)
    _, data, _ = compare_json(invoke, [base, cand, "--seed", "2", "--confidence", "0.9"])
    iv = data["difference"]
    assert iv["bootstrap_groups"] == BOOTSTRAP_GROUPS
    diff = cand_loss - base_loss
    assert iv["mean"] == pytest.approx(diff.mean(), rel=1e-9, abs=1e-12)
    half = 1.6449 * diff.std(ddof=1) / math.sqrt(n)
    assert (iv["ci_high"] - iv["ci_low"]) / (2 * half) == pytest.approx(1.0, abs=0.12)
    assert iv["ci_low"] < diff.mean() < iv["ci_high"]


# --- the gate ----------------------------------------------------------------------------------


def plain_line(value: float, threshold: float, unit: str = "nats") -> str:
    return (
        f"xent: gate max-increase failed: the loss rose by {value:.6g} {unit} over the base, "
        f"more than the allowed {threshold:.6g}"
    )


def significant_line(value: float, threshold: float, unit: str = "nats") -> str:
    return (
        "xent: gate max-increase (significant) failed: the lower end of the confidence "
        f"interval rose by {value:.6g} {unit} over the base, more than the allowed "
        f"{threshold:.6g}"
    )


def test_significant_passes_when_the_interval_straddles_the_allowance(
    invoke: Invoke, tmp_path: Path
) -> None:
    base, cand = noisy_pair(tmp_path, mean=0.02)
    args = [base, cand, "--max-increase", "0.01", "--seed", "1"]
    code, data, err = compare_json(invoke, args)
    iv = data["difference"]
    assert iv["mean"] == pytest.approx(0.02, rel=1e-9)
    assert iv["ci_low"] < 0.01 < iv["mean"] < iv["ci_high"]  # the premise of the test
    assert code == 1
    assert data["gates"] == [
        {"gate": "max-increase", "value": iv["mean"], "threshold": 0.01, "passed": False}
    ]
    assert err.splitlines() == [plain_line(iv["mean"], 0.01)]

    code, data, err = compare_json(invoke, [*args, "--significant"])
    assert (code, err) == (0, "")
    assert data["gates"] == [
        {
            "gate": "max-increase (significant)",
            "value": iv["ci_low"],
            "threshold": 0.01,
            "passed": True,
        }
    ]
    assert data["passed"] is True


def test_significant_fails_when_the_whole_interval_is_above(invoke: Invoke, tmp_path: Path) -> None:
    base, cand = noisy_pair(tmp_path, mean=0.1)
    args = [base, cand, "--max-increase", "0.01", "--seed", "1"]
    code, data, err = compare_json(invoke, args)
    iv = data["difference"]
    assert iv["ci_low"] > 0.01
    assert code == 1
    assert err.splitlines() == [plain_line(iv["mean"], 0.01)]
    code, data, err = compare_json(invoke, [*args, "--significant"])
    assert code == 1
    assert data["gates"][0]["value"] == iv["ci_low"]
    assert data["passed"] is False
    assert err.splitlines() == [significant_line(iv["ci_low"], 0.01)]


def test_relative_allowance(invoke: Invoke, tmp_path: Path) -> None:
    base, cand = noisy_pair(tmp_path, mean=0.02)
    # 2% of ln 2 is 0.0139 < 0.02 (fails); 5% is 0.0347 (passes).
    code, data, err = compare_json(invoke, [base, cand, "--max-increase", "2%"])
    threshold = 0.02 * math.log(2)
    assert code == 1
    assert data["gates"][0]["threshold"] == pytest.approx(threshold, rel=1e-12)
    assert err.splitlines() == [plain_line(data["difference"]["mean"], threshold)]
    code, data, err = compare_json(invoke, [base, cand, "--max-increase", "5%"])
    assert (code, err) == (0, "")
    assert data["gates"][0]["threshold"] == pytest.approx(0.05 * math.log(2), rel=1e-12)


def test_gate_in_bits(invoke: Invoke, tmp_path: Path) -> None:
    base, cand = noisy_pair(tmp_path, mean=0.02)
    code, data, err = compare_json(invoke, [base, cand, "--unit", "bits", "--max-increase", "0.02"])
    mean_bits = 0.02 / math.log(2)
    assert data["difference"]["mean"] == pytest.approx(mean_bits, rel=1e-9)
    assert code == 1
    assert err.splitlines() == [plain_line(data["difference"]["mean"], 0.02, "bits")]


def test_no_gate_no_gates(invoke: Invoke, tmp_path: Path) -> None:
    base, cand = noisy_pair(tmp_path, mean=0.5)
    code, data, err = compare_json(invoke, [base, cand])
    assert (code, err) == (0, "")
    assert data["gates"] == []
    assert data["passed"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--significant"], "--significant needs --max-increase"),
        (["--max-increase", "-1"], "--max-increase must be >= 0"),
        (["--max-increase", "x%"], "--max-increase must be a number or a percentage"),
        (["--bootstrap", "-5"], "--bootstrap must be >= 0"),
        (["--confidence", "1.5"], "--confidence must be between 0 and 1"),
        (["--confidence", "0"], "--confidence must be between 0 and 1"),
        (["--seed", "abc"], "--seed"),
    ],
)
def test_usage_errors(invoke: Invoke, tmp_path: Path, args: list[str], message: str) -> None:
    base, cand = noisy_pair(tmp_path, mean=0.02, n=20)
    code, out, err = invoke(["compare", base, cand, *args, "-o", "r.json"])
    assert (code, out) == (2, "")
    assert message in error_line(err)
    assert not (tmp_path / "r.json").exists()


def test_significant_without_a_bootstrap_is_a_usage_error(invoke: Invoke, tmp_path: Path) -> None:
    # With --bootstrap 0 there is no interval to test: the options conflict (exit 2),
    # rather than a gate that fails with "rose by nan".
    base, cand = noisy_pair(tmp_path, mean=0.0, n=20)
    code, _, err = invoke(
        ["compare", base, cand, "--max-increase", "1", "--significant", "--bootstrap", "0"]
    )
    assert "nan" not in err
    assert code == 2, err


# --- output formats ------------------------------------------------------------------------------

TOP_KEYS = {
    "schema", "xent", "source", "task", "inputs", "unit", "classes", "n_samples", "n_ignored",
    "paired_by", "base", "candidate", "difference", "n_better", "n_worse", "n_tied", "per_class",
    "most_worse", "gates", "passed",
}  # fmt: skip


def test_json_schema(invoke: Invoke, tmp_path: Path) -> None:
    pb = Problem(n=40, n_tied=10)
    base, cand = pb.write(tmp_path)
    code, out, _ = invoke(
        ["compare", base, cand, "--format", "json", "--max-increase", "0", "--id-col", "id"]
    )
    data = json.loads(out)
    assert set(data) >= TOP_KEYS
    assert data["schema"] == "xent.compare/1"
    assert data["source"] == {"base": base, "candidate": cand, "labels": None}
    assert data["task"] == "multiclass"
    assert data["inputs"] == {"base": "probs", "candidate": "probs"}
    assert data["unit"] == "nats"
    assert data["paired_by"] == "id"
    assert set(data["base"]) >= {"loss", "perplexity", "n_clipped"}
    assert set(data["difference"]) >= {
        "mean", "relative", "ci_low", "ci_high", "confidence", "bootstrap",
        "bootstrap_groups", "seed",
    }  # fmt: skip
    assert all(
        set(c) >= {"class", "n", "base", "candidate", "difference"} for c in data["per_class"]
    )
    assert data["most_worse"]
    assert all(
        set(s) >= {"index", "id", "label", "base", "candidate", "difference"}
        for s in data["most_worse"]
    )
    assert data["most_worse"][0]["id"] == pb.ids[data["most_worse"][0]["index"]]
    assert [list(g) for g in data["gates"]] == [["gate", "value", "threshold", "passed"]]
    assert data["passed"] is (code == 0)
    assert "Infinity" not in out
    assert "NaN" not in out


def test_csv_output(invoke: Invoke, tmp_path: Path) -> None:
    pb = Problem(n=25, n_tied=5)
    base, cand = pb.write(tmp_path)
    code, out, _ = invoke(["compare", base, cand, "--format", "csv"])
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["index", "id", "label", "base", "candidate", "difference"]
    assert len(rows) == pb.n + 1
    for i, row in enumerate(rows[1:]):
        assert row[:3] == [str(i), pb.ids[i], CLASSES[pb.y[i]]]
        assert float(row[3]) == approx(pb.base_loss[i])
        assert float(row[4]) == approx(pb.cand_loss[i])
        assert float(row[5]) == approx(pb.diff[i])

    base, cand = noisy_pair(tmp_path, mean=0.02, n=10)
    code, out, _ = invoke(["compare", base, cand, "--format", "csv"])
    assert out.splitlines()[0] == "index,id,label,base,candidate,difference"
    assert len(out.splitlines()) == 11


def test_csv_output_is_written_when_the_gate_fails(invoke: Invoke, tmp_path: Path) -> None:
    base, cand = noisy_pair(tmp_path, mean=0.1, n=50)
    code, out, err = invoke(
        ["compare", base, cand, "--format", "csv", "--max-increase", "0", "-o", "r.csv"]
    )
    assert (code, out) == (1, "")
    assert "gate max-increase failed" in err
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 51


def test_markdown_output(invoke: Invoke, tmp_path: Path) -> None:
    base, cand = noisy_pair(tmp_path, mean=0.02)
    code, out, _ = invoke(
        ["compare", base, cand, "--format", "markdown", "--max-increase", "0.01", "--seed", "1"]
    )
    assert code == 1
    assert out.startswith("### xent compare: `base.csv` → `cand.csv`\n")
    assert "| metric | value |\n| :--- | :--- |\n| base loss | 0.6931 nats |" in out
    assert "| difference (cand − base) | 0.02000 nats |" in out
    assert re.search(
        r"\| 95\.0% interval \| \\\[-?[0-9.]+, [0-9.]+\\\] \(1,000 resamples\) \|", out
    )
    assert "**Per class**" in out
    assert (
        "| class | n | base | candidate | difference |\n| :--- | ---: | ---: | ---: | ---: |" in out
    )
    assert "**Gates**: ❌ 1 failed" in out
    assert "| max-increase | 0.02000 | 0.01000 | ❌ fail |" in out
    code, out, _ = invoke(
        ["compare", base, cand, "--format", "markdown", "--max-increase", "0.01",
         "--significant", "--seed", "1"],
    )  # fmt: skip
    assert code == 0
    assert "**Gates**: ✅ all passed" in out
    assert re.search(r"\| max-increase \(significant\) \| -?[0-9.]+ \| 0\.01000 \| ✅ pass \|", out)
    code, out, _ = invoke(["compare", base, cand, "--format", "markdown"])
    assert "Gates" not in out


def test_table_output_piped_has_no_ansi(run_xent: Callable[..., Result], tmp_path: Path) -> None:
    pb = Problem(n=30, n_tied=10)
    base, cand = pb.write(tmp_path)
    code, out, err = run_xent(
        ["compare", base, cand, "--max-increase", "0", "--seed", "1", "--id-col", "id"]
    )
    assert code == (1 if pb.diff.mean() > 0 else 0)
    assert "\x1b" not in out
    assert "\x1b" not in err
    for heading in ("xent compare", "Per class (nats)", "Samples that got most worse", "Gates"):
        assert heading in out
    assert re.search(r"samples\s+30 paired by id", out)
    assert re.search(r"samples better / worse / tied\s+\d+ / \d+ / 10", out)
    for name in CLASSES:
        assert re.search(rf"^{name}\s+\d+\s", out, re.MULTILINE)
    assert re.search(r"max-increase\s+-?[0-9.]+\s+0\s+(PASS|FAIL)", out)


def test_table_output_to_a_file(invoke: Invoke, tmp_path: Path) -> None:
    base, cand = noisy_pair(tmp_path, mean=0.1, n=50)
    code, out, _ = invoke(["compare", base, cand, "--max-increase", "0", "-o", "report.txt"])
    assert (code, out) == (1, "")
    text = (tmp_path / "report.txt").read_text()
    assert "\x1b" not in text
    assert re.search(r"max-increase\s+0\.1000\s+0\s+FAIL", text)


def test_an_infinite_loss_under_eps_0_gives_clean_messages(
    run_xent: Callable[..., Result], tmp_path: Path
) -> None:
    # --eps 0 lets a zero probability on the true class give an infinite loss (§3). The
    # candidate below has one; compare must say so in its figures and its gate, and write
    # nothing to standard error but its own one-line messages (no NumPy warnings).
    (tmp_path / "base.csv").write_text("label,p\n1,0.5\n0,0.3\n1,0.6\n0,0.2\n1,0.8\n0,0.1\n")
    (tmp_path / "cand.csv").write_text("label,p\n1,0.0\n0,0.2\n1,0.6\n0,0.3\n1,0.7\n0,0.1\n")
    code, out, err = run_xent(
        ["compare", "base.csv", "cand.csv", "--eps", "0", "--seed", "1", "--format", "json",
         "--max-increase", "1"]
    )  # fmt: skip
    data = json.loads(out)
    assert data["candidate"]["loss"] == "inf"
    assert data["difference"]["mean"] == "inf"
    assert data["n_worse"] == 3
    assert code == 1
    assert err.splitlines() == [plain_line(math.inf, 1.0)]


def test_most_worse_search_by_blocks_equals_a_full_sort() -> None:
    """The largest positive differences, found a block at a time, are those of a
    full sort by (difference descending, index ascending): ties, NaN, infinities."""
    from xent.compare import _largest_positive

    rng = np.random.default_rng(0)
    for trial in range(300):
        n, k = int(rng.integers(0, 3000)), int(rng.integers(1, 8))
        if trial % 2:
            values = rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan, np.inf, -np.inf], size=n)
        else:
            values = rng.normal(size=n)
        expected = sorted((i for i in range(n) if values[i] > 0), key=lambda i: (-values[i], i))
        got = _largest_positive(values, k, block=int(rng.integers(1, 500)))
        assert got.tolist() == expected[:k]


def test_pairs_kept_compactly_across_chunks_equal_a_numpy_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row indices, weights and labels stay implicit (a range, all ones, class
    codes) until a chunk breaks the pattern: a gap of ignored rows, a weight other
    than 1, a label spelled differently. Every figure equals NumPy's on the kept rows."""
    import xent.limits
    from xent.compare import _PairSink, compare
    from xent.options import ScoreOptions
    from xent.pipeline import score

    monkeypatch.setattr(xent.limits, "rows_per_chunk", lambda row_bytes: 7)
    rng = np.random.default_rng(3)
    n, k = 60, 3
    y = rng.integers(0, k, n)
    y[[30, 31, 45]] = -1
    w = np.ones(n)
    w[40:] = rng.uniform(0.5, 2.0, n - 40)
    paths = []
    for name in ("base", "cand"):
        p = rng.dirichlet(np.ones(k), n)
        lines = ["label,w,a,b,c"] + [
            f"{y[i]},{float(w[i])!r}," + ",".join(repr(float(v)) for v in p[i]) for i in range(n)
        ]
        path = tmp_path / f"{name}.csv"
        path.write_text("\n".join(lines) + "\n")
        paths.append((str(path), p))
    opts = ScoreOptions(weight_col="w", ignore_label=("-1",), label_col="label")
    result = compare(paths[0][0], paths[1][0], options=opts, seed=1, top=3)
    kept = y >= 0
    rows = np.flatnonzero(kept)
    losses = [-np.log(p[rows, y[rows]]) for _, p in paths]
    diff = losses[1] - losses[0]
    assert result.mean_difference == approx(np.average(diff, weights=w[rows]))
    b = result.samples
    assert b is not None
    assert b.rows is not None
    assert b.index.tolist() == rows.tolist()
    assert b.weights is not None
    assert b.weight.tolist() == w[rows].tolist()
    assert b.codes is not None
    assert b.labels.tolist() == [["a", "b", "c"][v] for v in y[rows]]
    worst = sorted(range(len(rows)), key=lambda i: (-diff[i], i))[:3]
    assert [s.index for s in result.most_worse] == [int(rows[i]) for i in worst if diff[i] > 0]

    plain = tmp_path / "plain.csv"
    plain.write_text("label,a,b,c\n" + "".join(f"{i % k},0.2,0.3,0.5\n" for i in range(n)))
    sink = _PairSink()  # the plain case keeps nothing but losses and label codes
    score(str(plain), options=ScoreOptions(), sample_sink=sink)
    whole = sink.arrays()
    assert whole.rows is None
    assert whole.weights is None
    assert whole.label_values is None
    assert whole.index.tolist() == list(range(n))
    assert whole.labels.tolist() == [["a", "b", "c"][i % k] for i in range(n)]


def test_pair_sink_keeps_every_label_when_the_class_names_change() -> None:
    """Codes stand for labels only under one list of names; when a chunk names the
    classes otherwise (or gives label values), every label so far becomes text."""
    from xent.compare import _PairSink
    from xent.pipeline import Samples

    def chunk(start: int, y: list[int], names: list[str] | None) -> Samples:
        n = len(y)
        shown = np.array([names[v] if names else f"v{v}" for v in y], dtype=object)
        return Samples(
            index=np.arange(start, start + n),
            ids=None,
            labels=shown,
            loss=np.full(n, 0.5),
            weight=np.ones(n),
            values=np.zeros((n, 2)),
            y=np.array(y) if names else None,
            class_names=np.array(names, dtype=object) if names else None,
        )

    sink = _PairSink()
    sink.write(chunk(0, [0, 1], ["0", "1"]))
    sink.write(chunk(2, [1, 1], ["0", "1"]))
    sink.write(chunk(4, [0, 1], ["False", "True"]))
    sink.write(chunk(6, [3], None))
    arrays = sink.arrays()
    assert arrays.codes is None
    assert arrays.labels.tolist() == ["0", "1", "1", "1", "False", "True", "v3"]
    assert arrays.label(5) == "True"
