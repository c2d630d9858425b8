"""Naive grouped loss: pandas, per-sample losses in NumPy, ``groupby(...).mean()``.

Usage: ``python naive_grouped.py FILE GROUP_COLUMN`` prints the overall loss and
the number of groups. Multiclass (``p_*`` columns) or binary (one ``p`` column).
"""

import json
import sys

import numpy as np
import pandas as pd


def main() -> None:
    df = pd.read_csv(sys.argv[1])
    eps = np.finfo(np.float64).eps
    labels = df["label"].to_numpy()
    if "p" in df.columns:
        p = np.clip(df["p"].to_numpy(), eps, 1 - eps)
        loss = -(labels * np.log(p) + (1 - labels) * np.log1p(-p))
    else:
        columns = [c for c in df.columns if c.startswith("p_")]
        probs = df[columns].to_numpy()
        loss = -np.log(np.clip(probs[np.arange(len(df)), labels], eps, 1 - eps))
    per_group = pd.Series(loss).groupby(df[sys.argv[2]].to_numpy()).mean()
    print(json.dumps({"loss": float(loss.mean()), "groups": len(per_group)}))


if __name__ == "__main__":
    main()
