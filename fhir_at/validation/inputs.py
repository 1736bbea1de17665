"""What ``fhir-at validate`` reads: JSON files, NDJSON (one resource a line), folders (recursive),
standard input — each document with where it came from, and syntax problems as issues."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError
from ..issues import Issue, IssueCode, Severity, Source

__all__ = ["Document", "iter_raw", "parse", "iter_documents", "MAX_DEPTH"]

MAX_DEPTH = 100  # deeper JSON is refused (no FHIR resource nests anywhere near this)


@dataclass
class Document:
    source: str                 # file name (or "-")
    line: int | None            # NDJSON line number, else None
    text: str | None            # the JSON text (for line/column), when decodable
    resource: object | None     # the parsed JSON, or None when it could not be parsed
    issues: tuple[Issue, ...] = ()


def _syntax(message: str, line: int | None, column: int | None) -> Issue:
    return Issue(Severity.FATAL, IssueCode.STRUCTURE, "VAL_JSON_SYNTAX", message, source=Source.VALIDATOR,
                 expression="$", line=line, column=column)


def _depth(value, limit: int) -> bool:
    """True when ``value`` nests deeper than ``limit`` (iterative: no recursion limit to hit)."""
    stack = [(value, 1)]
    while stack:
        node, d = stack.pop()
        if d > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node if isinstance(v, (dict, list)))
    return False


_KEY_END = re.compile(r'"\s*:')


def _count_keys(value) -> int:
    n = 0
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            n += len(node)
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    return n


def _duplicate_keys(text: str, doc) -> list[str]:
    """Keys given twice in one object. Exact and cheap: every member key ends in ``"`` + ``:`` in
    the text, so when that count equals the number of keys parsed there is no duplicate; only
    otherwise (a duplicate, or ``":`` inside a string value) is the text parsed again to find them."""
    if len(_KEY_END.findall(text)) == _count_keys(doc):
        return []
    import json

    found: list[str] = []

    def pairs(items):
        seen = set()
        for k, _ in items:
            if k in seen:
                found.append(k)
            seen.add(k)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return found


def _parse(data: bytes, source: str, line: int | None) -> Document:
    import orjson

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Document(source, line, None, None, (_syntax(
            f"the file is not UTF-8 (byte {exc.start}: {data[exc.start:exc.start + 1]!r})", line, None),))
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        reason = exc.msg.split(":")[0] if exc.msg else "invalid JSON"
        ln = exc.lineno if line is None else line
        return Document(source, line, text, None, (_syntax(
            f"invalid JSON: {reason} (line {ln}, column {exc.colno})", ln, exc.colno),))
    if _depth(doc, MAX_DEPTH):
        return Document(source, line, text, None, (_syntax(
            f"JSON nested deeper than {MAX_DEPTH} levels: refused", line, None),))
    duplicates = _duplicate_keys(text, doc)
    if duplicates:
        names = ", ".join(sorted(set(duplicates)))
        return Document(source, line, text, doc, (Issue(
            Severity.ERROR, IssueCode.STRUCTURE, "VAL_JSON_DUPLICATE_KEY",
            f"duplicate JSON property name(s): {names} (only the last value of each is validated)",
            source=Source.VALIDATOR, expression="$", line=line),))
    return Document(source, line, text, doc)


def _files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and p.suffix in (".json", ".ndjson") and not p.name.startswith("."):
                yield p
    elif path.is_file():
        yield path
    else:
        raise ConfigError(f"cannot read {path}: no such file or folder")


def iter_raw(sources: list[str]) -> Iterator[tuple[str, int | None, bytes]]:
    """``(source, NDJSON line or None, bytes)`` of every document, in order, not yet parsed."""
    for source in sources:
        if source == "-":
            yield "-", None, sys.stdin.buffer.read()
            continue
        for path in _files(Path(source)):
            name = str(path)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read {name}: {exc.strerror}") from None
            if path.suffix == ".ndjson":
                for n, raw in enumerate(data.split(b"\n"), start=1):
                    if raw.strip():
                        yield name, n, raw
            else:
                yield name, None, data


def parse(raw: tuple[str, int | None, bytes]) -> Document:
    source, line, data = raw
    return _parse(data, source, line)


def iter_documents(sources: list[str]) -> Iterator[Document]:
    for raw in iter_raw(sources):
        yield parse(raw)
