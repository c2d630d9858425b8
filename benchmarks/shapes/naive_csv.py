"""Naive: ``pandas.read_csv`` (or ``read_parquet``) and ``sklearn.metrics.log_loss``.

Usage: ``python naive_csv.py FILE`` prints ``{"loss": ...}``. The prediction
columns are ``p_0..p_{K-1}`` (multiclass, integer labels 0..K-1) or a single ``p``
(binary, labels 0/1); the label column is ``label``. A ``.parquet`` FILE is read
with ``pandas.read_parquet``. This is the script a user writes without xent.
"""

import json
import sys

import pandas as pd
from sklearn.metrics import log_loss


def main() -> None:
    path = sys.argv[1]
    df = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    if "p" in df.columns:
        loss = log_loss(df["label"], df["p"], labels=[0, 1])
    else:
        columns = [c for c in df.columns if c.startswith("p_")]
        loss = log_loss(df["label"], df[columns].to_numpy(), labels=list(range(len(columns))))
    print(json.dumps({"loss": float(loss), "rows": len(df)}))


if __name__ == "__main__":
    main()
