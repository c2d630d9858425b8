"""Time ``xent.compare.bootstrap_interval`` against the plain NumPy bootstrap.

Run it with the project's virtual environment::

    python benchmarks/bench_bootstrap.py                   # 1e6 pairs, 1000 resamples
    python benchmarks/bench_bootstrap.py --rows 100000 --plain-resamples 50 --json out.json

``bootstrap_interval`` deals the samples into at most ``BOOTSTRAP_GROUPS`` groups and
resamples whole groups (see ``xent.compare``). The plain alternative draws ``n``
indices with replacement per resample and takes the weighted mean of those samples:
its cost grows as ``resamples x n``, so it runs only ``--plain-resamples`` resamples
and its time is extrapolated linearly to ``--resamples``. Both intervals are printed,
the plain one from the normal approximation of its few resample means, to show that
the grouped bootstrap measures the same spread. Timings are the median of
``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from xent.compare import BOOTSTRAP_GROUPS, bootstrap_interval

FloatArray = npt.NDArray[np.float64]
#: Two-sided standard-normal quantile for the default 95% interval.
Z95 = 1.959963984540054


def plain_bootstrap_means(
    diff: FloatArray, weight: FloatArray, resamples: int, seed: int
) -> FloatArray:
    """Weighted means of ``resamples`` ordinary bootstrap resamples (indices with replacement)."""
    rng = np.random.default_rng(seed)
    n = len(diff)
    means = np.empty(resamples)
    for r in range(resamples):
        idx = rng.integers(0, n, size=n)
        w = weight[idx]
        means[r] = float(w @ diff[idx]) / float(w.sum())
    return means


def _median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def time_bootstrap(
    rows: int = 1_000_000,
    resamples: int = 1000,
    plain_resamples: int = 20,
    repeat: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Time both bootstraps on ``rows`` synthetic paired differences; return the figures."""
    rng = np.random.default_rng(seed)
    diff = rng.normal(0.01, 0.5, size=rows)
    weight = np.ones(rows)
    mean = float(diff.mean())

    grouped_s, interval = _median_time(
        lambda: bootstrap_interval(diff, weight, resamples=resamples, seed=seed), repeat
    )
    plain_s, means = _median_time(
        lambda: plain_bootstrap_means(diff, weight, plain_resamples, seed), repeat
    )
    plain_extrapolated_s = plain_s * resamples / plain_resamples
    spread = float(np.std(means, ddof=1))
    return {
        "rows": rows,
        "resamples": resamples,
        "groups": interval.groups,
        "bootstrap_groups_constant": BOOTSTRAP_GROUPS,
        "grouped_seconds": grouped_s,
        "plain_resamples": plain_resamples,
        "plain_seconds": plain_s,
        "plain_seconds_extrapolated": plain_extrapolated_s,
        "speedup": plain_extrapolated_s / grouped_s,
        "mean": mean,
        "grouped_interval": [interval.low, interval.high],
        "plain_interval_normal_approx": [mean - Z95 * spread, mean + Z95 * spread],
        "normal_theory_half_width": Z95 * float(diff.std(ddof=1)) / rows**0.5,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--plain-resamples", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    r = time_bootstrap(args.rows, args.resamples, args.plain_resamples, args.repeat, args.seed)
    print(f"{r['rows']:,} paired samples, {r['resamples']:,} resamples, median of {args.repeat}")
    print(
        f"  bootstrap_interval ({r['groups']:,} groups):  {r['grouped_seconds']:8.3f} s   "
        f"95% [{r['grouped_interval'][0]:.6f}, {r['grouped_interval'][1]:.6f}]"
    )
    print(
        f"  plain NumPy, {r['plain_resamples']} resamples:     {r['plain_seconds']:8.3f} s   "
        f"-> {r['plain_seconds_extrapolated']:.1f} s for {r['resamples']:,} (extrapolated)"
    )
    low, high = r["plain_interval_normal_approx"]
    print(f"  plain interval (normal approx. of its resamples): [{low:.6f}, {high:.6f}]")
    half = r["normal_theory_half_width"]
    print(f"  normal theory: mean {r['mean']:.6f} +- {half:.6f}")
    print(f"  ratio plain / bootstrap_interval: {r['speedup']:.0f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(r, handle, indent=2)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
