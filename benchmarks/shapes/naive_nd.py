"""Naive NumPy scoring of a language-model batch: one sequence at a time.

Usage: ``python naive_nd.py LOGITS.npy LABELS.npy [IGNORE]`` for logits of shape
(batch, sequence, vocabulary) and labels (batch, sequence) padded with IGNORE
(default -100). Loads the logits whole, then for each sequence converts its
logits to float64, drops padded positions, takes a stable log-softmax and gathers
the targets. Prints the mean loss over the tokens kept.
"""

import json
import sys

import numpy as np


def main() -> None:
    logits = np.load(sys.argv[1])
    labels = np.load(sys.argv[2])
    ignore = int(sys.argv[3]) if len(sys.argv) > 3 else -100
    total, count = 0.0, 0
    for b in range(logits.shape[0]):
        keep = labels[b] != ignore
        x = logits[b][keep].astype(np.float64)
        y = labels[b][keep]
        x -= x.max(axis=1, keepdims=True)
        x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
        total += float(-x[np.arange(len(y)), y].sum())
        count += len(y)
    print(json.dumps({"loss": total / count, "rows": count}))


if __name__ == "__main__":
    main()
