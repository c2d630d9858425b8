"""The ``json`` output format: the stable ``xent.score/1`` and ``xent.compare/1`` objects.

The objects are described in docs/json.md. Non-finite numbers are written as
the strings ``"inf"``, ``"-inf"`` and ``"nan"``, so every JSON parser reads the
output; text from the inputs is escaped by JSON itself.

Objects are indented, one key per line; an array of objects (per class, per
group, per sample) has one object per line, each written by the C encoder of
:mod:`json` (groups are formatted a column at a time, to the same text), and
arrays of plain values stay on one line. A million groups are written as they
are made, never held as a million dictionaries.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from xent.report import ClassLoss, GroupTable, JsonRows, Report, json_safe

if TYPE_CHECKING:
    from xent.compare import Comparison
    from xent.render import View

_INDENT = "  "
#: Lines of a long array joined and written at once.
_BLOCK_LINES = 4096


def write_report(
    report: Report, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """Write ``report`` as JSON."""
    write_json(report.json_object(), stream)


def write_comparison(
    result: Comparison, stream: IO[str], *, terminal: bool = False, view: View | None = None
) -> None:
    """Write a comparison as JSON."""
    write_json(result.to_dict(), stream)


def render_json(report: Report) -> str:
    """The report as JSON text, one object, ending in a newline."""
    import io

    text = io.StringIO()
    write_report(report, text)
    return text.getvalue()


def dumps(value: dict[str, Any]) -> str:
    """One JSON object as xent writes it, ending in a newline."""
    import io

    text = io.StringIO()
    write_json(value, text)
    return text.getvalue()


def write_json(value: dict[str, Any], stream: IO[str]) -> None:
    """Write one JSON object (its values already JSON-safe, but for :class:`JsonRows`)."""
    _write(value, stream, 0)
    stream.write("\n")


def _write(value: Any, out: IO[str], level: int) -> None:
    if isinstance(value, dict) and value:
        inner = _INDENT * (level + 1)
        out.write("{")
        for i, (key, item) in enumerate(value.items()):
            out.write(",\n" if i else "\n")
            out.write(f"{inner}{_encode(str(key))}: ")
            _write(item, out, level + 1)
        out.write(f"\n{_INDENT * level}}}")
    elif isinstance(value, JsonRows) or (
        isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
    ):
        _write_rows(value, out, level)
    else:
        out.write(_encode(value))


def _write_rows(rows: Iterable[Any], out: IO[str], level: int) -> None:
    """An array with one element per line (written a block of lines at a time)."""
    separator = ",\n" + _INDENT * (level + 1)
    opening = "[\n" + _INDENT * (level + 1)
    block: list[str] = []
    first = True
    source = getattr(rows, "source", None)
    if isinstance(source, GroupTable):
        lines = _group_lines(source)
    elif isinstance(source, list) and all(isinstance(c, ClassLoss) for c in source):
        lines = map(_class_line, source)
    else:
        lines = map(_row, rows)
    for line in lines:
        block.append(line)
        if len(block) == _BLOCK_LINES:
            out.write((opening if first else separator) + separator.join(block))
            block, first = [], False
    if block:
        out.write((opening if first else separator) + separator.join(block))
        first = False
    out.write("[]" if first else f"\n{_INDENT * level}]")


def _group_lines(table: GroupTable) -> Iterator[str]:
    """The groups of ``table`` as JSON lines, equal to :func:`_row` of their
    dictionaries but formatted by one %-template per block: a million groups take
    about 3 s, where the encoder took 8.3 s (the floats' shortest form is most of it)."""
    prefixes = [f"{_encode(name)}: " for name in table.names]
    for block in table.blocks():
        # The figures' names are xent's own: the template needs no escaping, holds no %.
        template = '{"key": {%s}, ' + ", ".join(f'"{n}": %r' for n in block.columns) + "}"
        figures = list(block.columns.values())
        # A sum is finite only when every term is (one that overflows takes this path too).
        if not all(math.isfinite(sum(values)) for values in figures):
            # A non-finite number (written as a string) or a missing one (NaN).
            yield from map(_row, block.rows(table.names))
            continue
        if len(prefixes) == 1:
            keys = [prefixes[0] + _key(key[0]) for key in block.keys]
        else:
            keys = [", ".join(map(str.__add__, prefixes, map(_key, key))) for key in block.keys]
        yield from map(template.__mod__, zip(keys, *figures, strict=True))


def _class_line(c: ClassLoss) -> str:
    """One class's JSON line, equal to :func:`_row` of ``c.to_dict()`` (the lines of
    a vocabulary of 32,000 classes take 0.1 s, where the encoder took 0.25 s)."""
    return (
        f'{{"class": {_encode_text(c.name)}, "n": {int(c.n)}, "loss": {_number(c.loss)}, '
        f'"sum": {_number(c.sum)}, "share": {_number(c.share)}}}'
    )


def _number(value: float) -> str:
    """A float as JSON: its shortest repr, or the string for a non-finite one."""
    value = float(value)
    return repr(value) if math.isfinite(value) else _encode(json_safe(value))


def _key(value: Any) -> str:
    """One value of a group's key as JSON."""
    return _encode_text(value) if type(value) is str else _row(value)


def _row(row: Any) -> str:
    """One element, on one line; non-finite numbers as strings."""
    text = _LOOSE.encode(row)
    if "NaN" in text or "Infinity" in text:  # maybe a non-finite number: do it carefully
        text = _STRICT.encode(json_safe(row))
    return text


def _encode(value: Any) -> str:
    return _STRICT.encode(value)


def _plain(value: Any) -> Any:
    """Convert what :mod:`json` cannot encode (NumPy scalars, other ids) to plain values."""
    item = getattr(value, "item", None)
    if callable(item):
        plain = item()
        if isinstance(plain, float) and not math.isfinite(plain):
            return "nan" if math.isnan(plain) else ("inf" if plain > 0 else "-inf")
        if isinstance(plain, str | int | float | bool) or plain is None:
            return plain
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


# Encoders without indentation, so :mod:`json` uses its C encoder. The loose one
# writes NaN and Infinity, which :func:`_row` then catches.
#: A string as the encoders write it (escaped, ASCII only).
_encode_text = json.encoder.encode_basestring_ascii
_STRICT = json.JSONEncoder(allow_nan=False, separators=(", ", ": "), default=_plain)
_LOOSE = json.JSONEncoder(allow_nan=True, separators=(", ", ": "), default=_plain)
