"""Read floor of a Parquet file: ``pyarrow.parquet.read_table``, no math.

Usage: ``python floor_parquet.py FILE`` prints ``{"rows": N}``.
"""

import json
import sys

import pyarrow.parquet as pq


def main() -> None:
    print(json.dumps({"rows": pq.read_table(sys.argv[1]).num_rows}))


if __name__ == "__main__":
    main()
