"""Careful NumPy scoring of logits: memory-mapped, 256 rows at a time in float64.

Usage: ``python naive_npy_chunked.py LOGITS.npy LABELS.npy [IGNORE]``. LOGITS may
have any number of leading dimensions (e.g. batch x sequence x vocabulary); they
are flattened to rows with the labels. Rows whose label is IGNORE (default -100)
are left out. Prints the mean loss over the rows kept.
"""

import json
import sys

import numpy as np

CHUNK = 256


def main() -> None:
    logits = np.load(sys.argv[1], mmap_mode="r")
    labels = np.load(sys.argv[2]).reshape(-1)
    ignore = int(sys.argv[3]) if len(sys.argv) > 3 else -100
    logits = logits.reshape(-1, logits.shape[-1])
    total, count = 0.0, 0
    for start in range(0, len(labels), CHUNK):
        y = labels[start : start + CHUNK]
        keep = y != ignore
        x = np.asarray(logits[start : start + CHUNK], dtype=np.float64)[keep]
        y = y[keep]
        top = x.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(x - top).sum(axis=1))
        total += float((lse - x[np.arange(len(y)), y]).sum())
        count += len(y)
    print(json.dumps({"loss": total / count, "rows": count}))


if __name__ == "__main__":
    main()
