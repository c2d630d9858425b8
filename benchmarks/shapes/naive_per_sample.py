"""Naive per-sample output: pandas, per-sample log loss in NumPy, ``DataFrame.to_csv``.

Usage: ``python naive_per_sample.py FILE OUT`` writes ``index,id,label,loss`` (the
columns of ``xent score --format csv``) to OUT and prints ``{"loss": mean}``.
Probabilities are clipped to [eps, 1-eps] with float64 eps, as scikit-learn does.
"""

import json
import sys

import numpy as np
import pandas as pd


def main() -> None:
    df = pd.read_csv(sys.argv[1])
    columns = [c for c in df.columns if c.startswith("p_")]
    probs = df[columns].to_numpy()
    labels = df["label"].to_numpy()
    eps = np.finfo(np.float64).eps
    true_p = np.clip(probs[np.arange(len(df)), labels], eps, 1 - eps)
    loss = -np.log(true_p)
    out = pd.DataFrame({"index": np.arange(len(df)), "id": df["id"], "label": labels, "loss": loss})
    out.to_csv(sys.argv[2], index=False)
    print(json.dumps({"loss": float(loss.mean()), "rows": len(df)}))


if __name__ == "__main__":
    main()
