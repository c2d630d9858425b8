"""The parse floor: pyarrow's own typed, streaming CSV parse, with no arithmetic.

Usage: ``python benchmarks/floor.py FILE`` reads every batch of FILE with
``pyarrow.csv.open_csv`` (default read options, explicit column types: int64
``id`` and ``label``, float64 for every other column), counts the rows and
prints the count. Whatever xent does on top of parsing shows up as its ratio
to this floor in ``bench.py``.
"""

import sys

import pyarrow as pa
import pyarrow.csv as pacsv

INT_COLUMNS = ("id", "label")


def main() -> None:
    path = sys.argv[1]
    with open(path, encoding="utf-8") as handle:
        names = handle.readline().rstrip("\r\n").split(",")
    types = {name: pa.int64() if name in INT_COLUMNS else pa.float64() for name in names}
    reader = pacsv.open_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
    rows = 0
    for batch in reader:
        rows += batch.num_rows
    print(rows)


if __name__ == "__main__":
    main()
