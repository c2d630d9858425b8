"""Naive NumPy scoring of logits: the script a user writes first.

Usage: ``python naive_npy.py LOGITS.npy LABELS.npy`` loads both arrays whole,
converts the logits to float64 and takes a stable log-softmax (subtract the row
max, log of the sum of exp), gathers the true classes and prints the mean loss.
It needs about 4x the float64 size of the logits in memory.
"""

import json
import sys

import numpy as np


def main() -> None:
    logits = np.load(sys.argv[1]).astype(np.float64)
    labels = np.load(sys.argv[2])
    logits -= logits.max(axis=1, keepdims=True)
    logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = -logits[np.arange(len(labels)), labels].mean()
    print(json.dumps({"loss": float(loss), "rows": len(labels)}))


if __name__ == "__main__":
    main()
