"""The naive baseline: ``pandas.read_csv`` plus ``sklearn.metrics.log_loss``.

Usage: ``python benchmarks/naive.py FILE`` prints the mean log loss of the
``p_*`` columns against the ``label`` column. This is the script a user would
write without xent; ``bench.py`` times it against ``xent score``.
"""

import sys

import pandas as pd
from sklearn.metrics import log_loss


def main() -> None:
    df = pd.read_csv(sys.argv[1])
    columns = [c for c in df.columns if c.startswith("p_")]
    probs = df[columns].to_numpy()
    print(repr(log_loss(df["label"], probs, labels=list(range(len(columns))))))


if __name__ == "__main__":
    main()
