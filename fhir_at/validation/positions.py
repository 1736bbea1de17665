"""Line and column of a FHIRPath location in the JSON text it came from, computed only when a
document has issues (validating stays a plain orjson parse).

``PositionIndex(text).find("Bundle.entry[2].resource.code")`` → ``(line, column)`` of the deepest
part of that location present in the text (the key of an object member, or the start of an array
item), 1-based like the HL7 validator's.
"""

from __future__ import annotations

import re

__all__ = ["PositionIndex", "parse_location"]

_PART = re.compile(r"\.ofType\(([A-Za-z][A-Za-z0-9_]*)\)|\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
# JSON tokens: strings (with escapes), structural characters, and bare literals (numbers, true…)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+')


def _unquote(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body
    import json

    try:
        return json.loads(token)
    except ValueError:
        return body


def parse_location(expression: str) -> tuple:
    """``Bundle.entry[2].resource.code`` → ``("entry", 2, "resource", "code")`` (the root type dropped)."""
    head = re.match(r"^[A-Za-z_$][A-Za-z0-9_]*", expression)
    rest = expression[head.end():] if head else expression
    parts: list = []
    for m in _PART.finditer(rest):
        type_name, name, index = m.groups()
        if type_name is not None and parts and isinstance(parts[-1], str):
            # value.ofType(Quantity) is the JSON key valueQuantity
            parts[-1] += type_name[:1].upper() + type_name[1:]
        elif name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
    return tuple(parts)


class PositionIndex:
    def __init__(self, text: str):
        self.text = text
        self._pos: dict[tuple, int] | None = None
        self._line_starts: list[int] | None = None

    def _scan(self) -> dict[tuple, int]:
        """Offsets of every member key and array item, by their path: one regex tokenizer pass."""
        out: dict[tuple, int] = {}
        stack: list[list] = []        # [kind ('o' | 'a'), path, next index]
        key = None                    # the member key waiting for its value
        for m in _TOKEN.finditer(self.text):
            tok = m.group()
            c = tok[0]
            if c in ",:":
                continue
            top = stack[-1] if stack else None
            if top is not None and top[0] == "o" and key is None and c == '"':
                key = _unquote(tok)
                out[top[1] + (key,)] = m.start()
                continue
            if top is not None and top[0] == "a" and c != "]":
                out.setdefault(top[1] + (top[2],), m.start())
            if c in "{[":
                if top is None:
                    base = ()
                elif top[0] == "o":
                    base = top[1] + (key,)
                else:
                    base = top[1] + (top[2],)
                key = None
                stack.append(["o" if c == "{" else "a", base, 0])
                continue
            if c in "}]":
                stack.pop()
            key = None
            if stack and stack[-1][0] == "a":
                stack[-1][2] += 1
        return out

    def offset(self, expression: str) -> int | None:
        if self._pos is None:
            self._pos = self._scan()
        parts = parse_location(expression)
        while parts:
            if parts in self._pos:
                return self._pos[parts]
            parts = parts[:-1]
        return 0 if self.text else None

    def find(self, expression: str) -> tuple[int, int] | None:
        off = self.offset(expression)
        if off is None:
            return None
        if self._line_starts is None:
            starts = [0]
            starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
            self._line_starts = starts
        from bisect import bisect_right

        line = bisect_right(self._line_starts, off)
        return line, off - self._line_starts[line - 1] + 1
