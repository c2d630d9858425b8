"""JSON Lines (optionally gzip-compressed), parsed by pyarrow in blocks.

Column types are inferred from the first block; the columns scored as
numbers are then read as float64 whatever the first block held (a file whose
first rows hold only 0 and 1 may hold 0.5 later), and fields that are not
read are ignored, not inferred. pyarrow's parser recurses into nested values,
so the file is first checked, in a linear pass over its bytes, for records
nested deeper than :data:`xent.limits.JSON_DEPTH`: such a file is refused
before the parser sees it.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from xent import limits
from xent.errors import InputError
from xent.read import ReadRequest, Source, first_line, is_gzip
from xent.read.arrow import cast_batch, check_unique_names
from xent.read.csv import long_line

#: Bytes looked at at once by the nesting check.
_SCAN_BYTES = 1 << 20

_OPEN = np.zeros(256, dtype=np.int32)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def open_jsonl(name: str, path: str, fmt: str, request: ReadRequest) -> Source:
    """A :class:`Source` over a JSON Lines file."""
    import pyarrow.json as pajson

    compressed = is_gzip(path)
    check_depth(name, path, compressed)

    def open_reader(schema: pa.Schema | None = None) -> Any:
        read = pajson.ReadOptions(block_size=limits.BLOCK_BYTES)
        parse = (
            pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
            if schema is not None
            else None
        )
        stream = pa.input_stream(path, compression="gzip" if compressed else None)
        return pajson.open_json(stream, read_options=read, parse_options=parse)

    first = open_reader()
    schema = first.schema
    first.close()
    check_unique_names(name, schema.names)  # also fails on names that are not UTF-8

    def open_batches(
        columns: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        fields = [schema.field(c) for c in columns]
        wanted = pa.schema(
            [
                f.with_type(types[f.name]) if f.name in types and _number_like(f.type) else f
                for f in fields
            ]
        )
        reader = open_reader(wanted)
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowException, OSError) as exc:
                    raise _json_error(name, exc) from exc
                yield cast_batch(batch.select(list(columns)), types)
        finally:
            reader.close()

    return Source(name, "jsonl", schema, open_batches, header_lines=0)


_CHANGED = re.compile(r"Column\(/(.+?)\) changed from (\w+) to (\w+)")


def _json_error(name: str, exc: BaseException) -> InputError:
    """A pyarrow JSON error in xent's words."""
    changed = _CHANGED.search(str(exc))
    if changed:
        column, before, after = changed.groups()
        return InputError(
            f"{name}: column {column!r} holds {before} values and later {after} values; write "
            f'every value of a column the same way (ids as text: "{column}": "17")'
        )
    return InputError(f"{name}: cannot read as jsonl: {first_line(exc)}")


def _number_like(data_type: pa.DataType) -> bool:
    """Numbers, or lists of numbers (or of nulls, when the first block held no value)."""
    if pa.types.is_list(data_type):
        value = data_type.value_type
        return bool(pa.types.is_null(value) or _number_like(value))
    return bool(pa.types.is_integer(data_type) or pa.types.is_floating(data_type))


def check_depth(name: str, path: str, compressed: bool) -> None:
    """Refuse a file holding a record nested deeper than :data:`xent.limits.JSON_DEPTH`.

    Brackets are counted per line, inside strings too, so the count can only
    overstate the depth; a line over the limit is then parsed by Python's
    ``json`` (which fails cleanly on deep input) to measure it exactly.
    """
    opener = gzip.open if compressed else open
    with opener(path, "rb") as handle:
        carry = b""
        line = 0
        while True:
            block = handle.read(_SCAN_BYTES)
            data = carry + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            whole, carry = data[:cut], data[cut:]
            if len(carry) > limits.LINE_BYTES:
                raise long_line(name)
            if whole:
                _check_block(name, whole, line)
                line += whole.count(b"\n")
            if not block:
                return


def _check_block(name: str, data: bytes, first_line_number: int) -> None:
    raw = np.frombuffer(data, dtype=np.uint8)
    depth = np.cumsum(_OPEN[raw], dtype=np.int32)
    if not len(depth) or int(depth.max()) - min(int(depth.min()), 0) <= limits.JSON_DEPTH:
        return  # no line can be deeper than the whole block's range
    # Depth relative to the start of each line: subtract the running total there.
    line_start = np.zeros(len(raw), dtype=np.int32)
    after_newline = np.flatnonzero(raw[:-1] == ord("\n")) + 1
    line_start[after_newline] = after_newline
    np.maximum.accumulate(line_start, out=line_start)
    base = np.where(line_start > 0, depth[line_start - 1], 0)
    checked: set[int] = set()
    for position in np.flatnonzero(depth - base > limits.JSON_DEPTH).tolist():
        start = int(line_start[position])
        if start in checked:
            continue
        checked.add(start)
        end = data.find(b"\n", start)
        text = data[start : end if end >= 0 else len(data)]
        if _nesting(text) > limits.JSON_DEPTH:
            number = first_line_number + data.count(b"\n", 0, start) + 1
            raise InputError(
                f"{name}: line {number} holds values nested more than {limits.JSON_DEPTH} deep; "
                "xent reads flat records of numbers and text"
            )


def _nesting(text: bytes) -> int:
    """How deep the arrays and objects of one JSON text nest (over the limit if unparseable)."""
    try:
        value = json.loads(text)
    except (RecursionError, ValueError):
        return limits.JSON_DEPTH + 1
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            stack.extend(
                (v, level + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return deepest
