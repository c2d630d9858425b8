"""Write the example predictions of the CI recipes (deterministic; NumPy only).

    python examples/ci/data/make_data.py
    xent score examples/ci/data/main.csv --format json --output examples/ci/data/baseline.json

``main.csv`` holds the predictions of the model on the main branch (the baseline),
``pr.csv`` those of a pull request that is about as good, and ``regressed.csv`` those
of a pull request that got worse, mostly on the class ``bird``. Probabilities are
written with three decimals, each row summing to exactly 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CLASSES = ["cat", "dog", "bird"]
N = 150


def thousandths(logits: np.ndarray) -> np.ndarray:
    """Softmax rows rounded to multiples of 0.001, each at least 0.001, summing to 1."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    k = np.maximum(np.rint(p * 1000).astype(int), 1)
    rows = np.arange(len(k))
    top = k.argmax(axis=1)
    k[rows, top] += 1000 - k.sum(axis=1)
    return k


def write(name: str, y: np.ndarray, k: np.ndarray) -> None:
    lines = ["id,label," + ",".join(f"p_{c}" for c in CLASSES)]
    for i, (label, row) in enumerate(zip(y, k, strict=True)):
        probs = ",".join(f"{v / 1000:.3f}" for v in row)
        lines.append(f"img-{i + 1:04d},{CLASSES[label]},{probs}")
    (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    rng = np.random.default_rng(2024)
    y = rng.integers(0, len(CLASSES), size=N)
    onehot = np.eye(len(CLASSES))[y]
    main_logits = rng.normal(0.0, 1.0, size=(N, len(CLASSES))) + 2.2 * onehot
    pr_logits = main_logits + rng.normal(0.0, 0.3, size=main_logits.shape) + 0.1 * onehot
    bird = (y == CLASSES.index("bird"))[:, None]
    regressed_logits = main_logits + rng.normal(0.0, 0.3, size=main_logits.shape)
    regressed_logits -= 1.5 * onehot * bird
    write("main.csv", y, thousandths(main_logits))
    write("pr.csv", y, thousandths(pr_logits))
    write("regressed.csv", y, thousandths(regressed_logits))


if __name__ == "__main__":
    main()
