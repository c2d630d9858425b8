"""Naive join: read predictions and labels with pandas, merge on ``id``, ``log_loss``.

Usage: ``python naive_join.py PREDS LABELS`` prints ``{"loss": ...}``.
"""

import json
import sys

import pandas as pd
from sklearn.metrics import log_loss


def main() -> None:
    preds = pd.read_csv(sys.argv[1])
    labels = pd.read_csv(sys.argv[2])
    df = preds.merge(labels, on="id", how="inner", validate="one_to_one")
    columns = [c for c in preds.columns if c.startswith("p_")]
    loss = log_loss(df["label"], df[columns].to_numpy(), labels=list(range(len(columns))))
    print(json.dumps({"loss": float(loss), "rows": len(df)}))


if __name__ == "__main__":
    main()
