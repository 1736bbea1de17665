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


def _members(value, limit: int) -> int | None:
    """How many object members ``value`` holds at every depth, or ``None`` when it nests deeper
    than ``limit`` (one iterative pass: no recursion limit to hit)."""
    if type(value) is not dict and type(value) is not list:
        return 0
    n = 0
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, d = pop()
        if d > limit:
            return None
        if type(node) is dict:
            n += len(node)
            node = node.values()
        d += 1
        for v in node:
            if type(v) is dict or type(v) is list:
                push((v, d))
    return n


_KEY_END = re.compile(r'"\s*:')


def _duplicate_keys(text: str, members: int) -> list[str]:
    """Keys given twice in one object. Exact and cheap: every member key ends in ``"`` + ``:`` in
    the text, so when that count equals the number of keys parsed there is no duplicate; only
    otherwise (a duplicate, or ``":`` inside a string value) is the text parsed again to find them."""
    if len(_KEY_END.findall(text)) == members:
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
    members = _members(doc, MAX_DEPTH)
    if members is None:
        return Document(source, line, text, None, (_syntax(
            f"JSON nested deeper than {MAX_DEPTH} levels: refused", line, None),))
    duplicates = _duplicate_keys(text, members)
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
                if path.suffix == ".ndjson":   # streamed: memory does not grow with the file
                    with path.open("rb") as fh:
                        for n, raw in enumerate(fh, start=1):
                            if raw.strip():
                                yield name, n, raw.rstrip(b"\r\n")
                    continue
                data = path.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read {name}: {exc.strerror}") from None
            yield name, None, data


def parse(raw: tuple[str, int | None, bytes]) -> Document:
    source, line, data = raw
    return _parse(data, source, line)


def iter_documents(sources: list[str]) -> Iterator[Document]:
    for raw in iter_raw(sources):
        yield parse(raw)
