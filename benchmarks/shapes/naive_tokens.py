"""Naive token-level loss: ``pandas.read_parquet``, then per-document and overall loss.

Usage: ``python naive_tokens.py FILE`` for a Parquet file of ``doc`` (string) and
``logprob`` (the target token's log-probability) rows; prints the overall loss
(-mean logprob, float64) and the number of documents.
"""

import json
import sys

import numpy as np
import pandas as pd


def main() -> None:
    df = pd.read_parquet(sys.argv[1])
    nll = -df["logprob"].to_numpy(dtype=np.float64)
    per_doc = pd.Series(nll).groupby(df["doc"].to_numpy(), sort=False).mean()
    print(json.dumps({"loss": float(nll.mean()), "docs": len(per_doc)}))


if __name__ == "__main__":
    main()
