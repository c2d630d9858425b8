"""Read floor of NPY files: ``np.load`` of each, no math.

Usage: ``python floor_npy.py FILE...`` loads every array whole and prints the
number of rows of the first.
"""

import json
import sys

import numpy as np


def main() -> None:
    arrays = [np.load(path) for path in sys.argv[1:]]
    print(json.dumps({"rows": int(arrays[0].shape[0]), "bytes": sum(a.nbytes for a in arrays)}))


if __name__ == "__main__":
    main()
