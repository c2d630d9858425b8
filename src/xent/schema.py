"""The JSON Schemas of xent's JSON outputs, shipped in the package.

``src/xent/schemas/`` holds one JSON Schema (draft 2020-12) per output:
``score.json`` for ``xent.score/1``, ``compare.json`` for ``xent.compare/1`` and
``explain.json`` for ``xent.explain/1``. ``xent schema NAME`` prints them.
They allow additional keys everywhere, as the outputs only ever gain keys.
Validating needs the ``jsonschema`` package, which xent itself does not need.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

#: The schema files by name, and the ``schema`` key of the outputs they describe.
SCHEMAS = {"score": "xent.score/1", "compare": "xent.compare/1", "explain": "xent.explain/1"}


def schema_text(name: str) -> str:
    """The JSON Schema ``name`` (``score``, ``compare`` or ``explain``) as text."""
    from importlib.resources import files

    if name not in SCHEMAS:
        from xent.errors import UsageError

        raise UsageError(f"no schema {name!r}; the schemas are {', '.join(SCHEMAS)}")
    return (files("xent") / "schemas" / f"{name}.json").read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``name`` as a dict."""
    schema: dict[str, Any] = json.loads(schema_text(name))
    return schema


def schema_name(value: Mapping[str, Any]) -> str | None:
    """The name of the schema an xent JSON object declares (None: not an xent output)."""
    declared = value.get("schema")
    return next((name for name, tag in SCHEMAS.items() if tag == declared), None)


def validate(value: Mapping[str, Any]) -> None:
    """Check an xent JSON object (``report.to_dict()``, a parsed output file) against
    the schema its ``schema`` key names; raise ``jsonschema.ValidationError`` when it
    does not conform, ``ValueError`` when it names no xent schema. Needs ``jsonschema``."""
    import jsonschema

    name = schema_name(value)
    if name is None:
        raise ValueError(f"not an xent JSON object: schema {value.get('schema')!r}")
    error = jsonschema.exceptions.best_match(_validator(name).iter_errors(value))
    if error is not None:
        raise error


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema(name))
