"""Naive compare: two prediction CSVs with pandas, per-sample losses, paired bootstrap.

Usage: ``python naive_compare.py BASE CANDIDATE [RESAMPLES]`` prints the two mean
losses, the mean difference (candidate - base) and its 95% percentile bootstrap
interval from RESAMPLES (default 1000) resamples of the per-sample differences.
"""

import json
import sys

import numpy as np
import pandas as pd


def per_sample(df: pd.DataFrame) -> np.ndarray:
    columns = [c for c in df.columns if c.startswith("p_")]
    probs = df[columns].to_numpy()
    eps = np.finfo(np.float64).eps
    true_p = np.clip(probs[np.arange(len(df)), df["label"].to_numpy()], eps, 1 - eps)
    return -np.log(true_p)


def main() -> None:
    base = pd.read_csv(sys.argv[1])
    cand = pd.read_csv(sys.argv[2])
    resamples = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    if not (base["id"].equals(cand["id"]) and base["label"].equals(cand["label"])):
        raise SystemExit("the two files do not hold the same samples in the same order")
    loss_a, loss_b = per_sample(base), per_sample(cand)
    diff = loss_b - loss_a
    rng = np.random.default_rng(0)
    n = len(diff)
    means = np.array([diff[rng.integers(0, n, n)].mean() for _ in range(resamples)])
    low, high = np.percentile(means, [2.5, 97.5])
    print(
        json.dumps(
            {
                "base": float(loss_a.mean()),
                "candidate": float(loss_b.mean()),
                "diff": float(diff.mean()),
                "ci": [float(low), float(high)],
            }
        )
    )


if __name__ == "__main__":
    main()
