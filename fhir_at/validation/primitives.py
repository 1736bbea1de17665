"""R4 primitive types: the JSON type each one takes and its lexical rules.

The regular expressions are not written here: :func:`compile_primitive` takes the one the core
StructureDefinition of the type gives on its ``value`` element (the ``regex`` type extension, e.g.
``date.value``) and adds the rules the spec states in prose: the ranges of ``integer``,
``positiveInt`` and ``unsignedInt`` (32-bit), a finite JSON number for ``decimal``, a real calendar
day for ``date``/``dateTime``/``instant``, at most 1 MiB and no control characters for ``string``
and ``markdown``, no empty strings anywhere, and a decodable ``base64Binary``.

A :class:`Primitive` is picklable. Its ``check(value)`` returns ``None`` when the value is valid or
``(Msg, text)`` for the first problem; valid strings are remembered (a bounded set) so the codes,
systems and dates that repeat across resources are matched once.
"""

from __future__ import annotations

import binascii
import calendar
import math
import re
from typing import Any

from ..terminology import systems
from ..messages import Msg

__all__ = ["Primitive", "compile_primitive", "json_type_name", "REGEX_EXTENSION", "JSON_TYPE_NAMES"]

REGEX_EXTENSION = systems.EXT_REGEX

_INT_RANGES = {
    "integer": (-2147483648, 2147483647),
    "positiveInt": (1, 2147483647),
    "unsignedInt": (0, 2147483647),
}
_DATES = frozenset({"date", "dateTime", "instant"})
_NO_CONTROL = frozenset({"string", "markdown", "code", "xhtml"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAX_STRING = 1024 * 1024
_CACHE_LIMIT = 20000

# what the message calls each JSON type
JSON_TYPE_NAMES = {str: "a string", bool: "a boolean", int: "a number", float: "a number",
                   dict: "an object", list: "an array", type(None): "null"}


def json_type_name(value: Any) -> str:
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


class Primitive:
    """The rules of one primitive type; ``kind`` is its JSON type: string, boolean, integer, number."""

    __slots__ = ("name", "kind", "regex", "valid_cache")

    def __init__(self, name: str, regex: str | None):
        self.name = name
        # the spec's regexes are XML Schema ones: \s is ASCII whitespace only (U+00A0 is not)
        self.regex = re.compile(regex, re.ASCII) if regex else None
        if name == "boolean":
            self.kind = "boolean"
        elif name in _INT_RANGES:
            self.kind = "integer"
        elif name == "decimal":
            self.kind = "number"
        else:
            self.kind = "string"
        # strings found valid (bounded; cleared, never replaced: slots share it)
        self.valid_cache: set = set()

    def __reduce__(self):
        return (Primitive, (self.name, self.regex.pattern if self.regex else None))

    def check(self, value: Any) -> tuple[Msg, str] | None:
        kind = self.kind
        if kind == "string":
            if type(value) is str:
                if value in self.valid_cache:
                    return None
                return self._check_string(value)
            return Msg.VAL_JSON_TYPE, (f"The {self.name} value must be a JSON string, "
                                       f"not {json_type_name(value)}")
        if kind == "boolean":
            if type(value) is bool:
                return None
            return Msg.VAL_JSON_TYPE, f"The boolean value must be JSON true or false, not {_show(value)}"
        if kind == "integer":
            if type(value) is int:
                low, high = _INT_RANGES[self.name]
                if low <= value <= high:
                    return None
                return Msg.VAL_INTEGER_RANGE, (f"The {self.name} value {value} is out of range "
                                               f"({low}..{high})")
            if type(value) is float and value.is_integer():
                return Msg.VAL_PRIMITIVE_FORMAT, (f"The {self.name} value {value!r} must be written "
                                                  "without a decimal point or exponent")
            return Msg.VAL_JSON_TYPE, (f"The {self.name} value must be a JSON number without a "
                                       f"fraction, not {_show(value)}")
        # decimal
        if type(value) is int or (type(value) is float and math.isfinite(value)):
            return None
        return Msg.VAL_JSON_TYPE, f"The decimal value must be a JSON number, not {_show(value)}"

    def _check_string(self, value: str) -> tuple[Msg, str] | None:
        name = self.name
        if not value:
            return Msg.VAL_EMPTY_STRING, (f"The {name} value is an empty string: leave the element "
                                          "out when it has no value")
        if name == "base64Binary":
            problem = _check_base64(value, self.regex)
        elif name in _NO_CONTROL and len(value) > _MAX_STRING:
            problem = (Msg.VAL_STRING_LENGTH,
                       f"The {name} value is {len(value)} characters long; at most {_MAX_STRING} are allowed")
        elif name in _NO_CONTROL and _CONTROL.search(value):
            problem = (Msg.VAL_STRING_CONTROL_CHARS,
                       f"The {name} value contains control characters (below U+0020, other than "
                       "tab, carriage return and line feed)")
        elif self.regex is not None and self.regex.fullmatch(value) is None:
            problem = (Msg.VAL_PRIMITIVE_FORMAT, _format_message(name, value))
        elif name in _DATES and len(value) >= 10 and value[8:10] > "28" and not _real_day(value):
            problem = (Msg.VAL_PRIMITIVE_FORMAT, f"The {name} value '{value}' is not a real calendar date")
        else:
            problem = None
        if problem is None and len(value) < 256:
            ok = self.valid_cache
            if len(ok) >= _CACHE_LIMIT:
                ok.clear()
            ok.add(value)
        return problem


def compile_primitive(name: str, definition: dict | None) -> Primitive:
    """The rules of primitive type ``name`` from its StructureDefinition (``None``: no regex known)."""
    regex = None
    if definition is not None:
        value_path = f"{name}.value"
        for element in definition.get("snapshot", {}).get("element", ()):
            if element.get("path") == value_path:
                for t in element.get("type", ()):
                    for ext in t.get("extension", ()):
                        if ext.get("url") == REGEX_EXTENSION:
                            regex = ext.get("valueString")
    return Primitive(name, regex)


def _check_base64(value: str, regex: re.Pattern | None) -> tuple[Msg, str] | None:
    try:
        binascii.a2b_base64(value, strict_mode=True)
        return None
    except (binascii.Error, ValueError):
        pass
    # the spec's own regex allows whitespace between groups of four; check the content once without it
    compact = "".join(value.split())
    try:
        binascii.a2b_base64(compact, strict_mode=True)
        return None
    except (binascii.Error, ValueError):
        if regex is not None and len(value) < 4096 and regex.fullmatch(value):
            return None
    return Msg.VAL_PRIMITIVE_FORMAT, f"The base64Binary value is not valid base64 ({_preview(value)})"


def _real_day(value: str) -> bool:
    try:
        year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    except ValueError:
        return False
    return day <= calendar.monthrange(year, month)[1]


_EXPECTED = {
    "date": "YYYY, YYYY-MM or YYYY-MM-DD",
    "dateTime": "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss(.sss)+zz:zz, with a time zone when a time is given",
    "instant": "YYYY-MM-DDThh:mm:ss(.sss)+zz:zz with a time zone",
    "time": "hh:mm:ss(.sss)",
    "id": "1 to 64 characters among A-Z a-z 0-9 - .",
    "code": "no leading or trailing whitespace and no whitespace other than single spaces",
    "oid": systems.OID_PREFIX + "1.2.3...",
    "uuid": "urn:uuid: followed by a lower-case UUID",
    "uri": "no whitespace",
    "url": "no whitespace",
    "canonical": "no whitespace",
}


def _format_message(name: str, value: str) -> str:
    expected = _EXPECTED.get(name)
    tail = f" (expected {expected})" if expected else ""
    return f"The value '{_preview(value)}' is not a valid {name}{tail}"


def _preview(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "..."


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return json_type_name(value)
    return f"{json_type_name(value)} ({_preview(repr(value))})"
