"""The assessment JSON Schema: a fast yes/no check and, on failure, every error with its path.

The happy path runs a compiled validator (fastjsonschema, generated Python code); only when it
fails does ``jsonschema`` walk the document to report every error with its JSON path.
"""

from __future__ import annotations

from functools import cache
from typing import Iterator

from ..issues import Issue, Path
from ..messages import Msg, issue

__all__ = ["schema", "iter_schema_issues", "SCHEMA_VERSION"]

SCHEMA_VERSION = "1.0"


@cache
def schema() -> dict:
    import orjson

    from .._data import schema_file

    return orjson.loads(schema_file().read_bytes())


def _inline(node, defs: dict):
    """The schema with every local ``$ref`` replaced by its definition (the schema has no cycles).

    fastjsonschema turns each ``$ref`` into a function call whose error-path argument is formatted
    eagerly for every array item; inlined definitions cost nothing until an error is raised.
    """
    if isinstance(node, dict):
        if "$ref" in node and node["$ref"].startswith("#/$defs/"):
            target = _inline(defs[node["$ref"][len("#/$defs/"):]], defs)
            return {**target, **{k: _inline(v, defs) for k, v in node.items() if k != "$ref"}}
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@cache
def _fast():
    import fastjsonschema

    doc = schema()
    return fastjsonschema.compile(_inline(doc, doc.get("$defs", {})), detailed_exceptions=False)


@cache
def _full():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _describe(error) -> tuple[Msg, str, Path]:
    path = Path.of(error.absolute_path)
    kw = error.validator
    sub = error.schema if isinstance(error.schema, dict) else {}
    if kw == "required":
        missing = error.message.split("'")[1]
        return Msg.SCHEMA_REQUIRED, f"required field '{missing}' is missing", path / missing
    if kw == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(sorted(error.schema.get("properties", {})))
        return (Msg.SCHEMA_UNKNOWN_FIELD,
                f"unknown field '{extra[0]}' (expected one of: {known})", path / extra[0])
    if kw == "type":
        return (Msg.SCHEMA_TYPE,
                f"expected {error.validator_value}, got {_json_type(error.instance)}", path)
    if kw in ("enum", "const"):
        allowed = error.validator_value if kw == "enum" else [error.validator_value]
        return (Msg.SCHEMA_ENUM,
                f"{error.instance!r} is not allowed; expected one of {', '.join(map(repr, allowed))}",
                path)
    if kw == "pattern":
        what = sub.get("description") or f"a value matching {error.validator_value}"
        return Msg.SCHEMA_FORMAT, f"{error.instance!r} is not valid: expected {what}", path
    if kw == "maxProperties" and path.parts[-1:] == ("patient",):
        return (Msg.SCHEMA_OTHER,
                "a patient given by fhirId takes no other field (demographics live on the server)",
                path)
    return Msg.SCHEMA_OTHER, error.message, path


def iter_schema_issues(doc) -> Iterator[Issue]:
    try:
        _fast()(doc)
        return
    except Exception:  # noqa: BLE001 - any failure sends us to the detailed validator
        pass
    errors = sorted(_full().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        msg, text, path = _describe(error)
        yield issue(msg, text, path)
