"""Validation results as text (grouped by file) or JSON (one OperationOutcome per input; several
inputs → a collection Bundle of them, each naming its file, as the HL7 validator does).

Both are written as the results come: the JSON Bundle is streamed entry by entry, each entry
serialised where it was validated (in the worker process with ``--jobs``), so memory does not grow
with the number of inputs and the main process only writes text."""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from ..issues import Issue, Outcome, Severity
from ..terminology import systems
from .inputs import Document
from .positions import PositionIndex

__all__ = ["Reporter", "with_positions", "render", "visible", "LEVELS"]

_COLOURS = {"fatal": "31", "error": "31", "warning": "33", "information": "36"}


def with_positions(doc: Document, issues: tuple[Issue, ...]) -> tuple[Issue, ...]:
    """Issues with the line and column of their location in the document's text."""
    if not issues or doc.text is None:
        return issues
    if doc.line is not None:  # NDJSON: the line of the file says where; no column (a cheap pass)
        return tuple(i if i.line is not None else replace(i, line=doc.line) for i in issues)
    index = PositionIndex(doc.text)
    out = []
    for i in issues:
        if i.line is None and i.expression:
            found = index.find(i.expression)
            if found:
                line, col = found
                i = replace(i, line=line, column=col)
        out.append(i)
    return tuple(out)


LEVELS = ("error", "warning", "information")


def visible(issues: tuple[Issue, ...], level: str = "information") -> tuple[Issue, ...]:
    """The issues at ``level`` or more severe (errors and fatal ones are always kept)."""
    if level == "information":
        return issues
    worst = Severity(level).rank
    return tuple(i for i in issues if i.severity.rank <= worst)


class Reporter:
    def __init__(self, fmt: str, *, color: bool = False, out=None, progress: bool = False,
                 level: str = "information"):
        self.fmt, self.color, self.level = fmt, color, level
        self.out = out or sys.stdout
        self.count = self.errors = self.with_errors = 0
        self._first: str | None = None     # JSON: the first entry, held until a second one shows
        self._streaming = False           # JSON: the Bundle's head is written
        self.progress = progress      # a running count on stderr (a TTY), for long runs
        self._shown = 0.0

    def add(self, doc: Document, outcome: Outcome | None) -> None:
        issues = visible(doc.issues + (outcome.issues if outcome else ()), self.level)
        self.add_issues(doc.source, doc.line, with_positions(doc, issues))

    def add_issues(self, source: str, line: int | None, issues: tuple[Issue, ...]) -> None:
        """The issues of one document, their positions already set."""
        self.add_rendered(*render(self.fmt, self.color, source, line, issues))

    def add_rendered(self, name: str, errors: int, rendered) -> None:
        """One document's result as :func:`render` made it (in a worker process, with --jobs)."""
        self.count += 1
        self.errors += errors
        self.with_errors += 1 if errors else 0
        if self.progress and self.count % 100 == 0:
            now = time.monotonic()
            if now - self._shown > 0.25:
                self._shown = now
                sys.stderr.write(f"\r{self.count:,} validated, {self.errors:,} error(s)…")
                sys.stderr.flush()
        if self.fmt != "json":
            if rendered:
                self.out.write(rendered)
        elif self._streaming:
            self.out.write(",\n" + rendered)
        elif self._first is None:
            self._first = rendered
        else:
            self.out.write(_BUNDLE_HEAD + self._first + ",\n" + rendered)
            self._first = None
            self._streaming = True

    def finish(self) -> None:
        if self.progress and self._shown:
            sys.stderr.write("\r\033[K")
        if self.fmt == "json":
            import orjson

            if self._streaming:
                self.out.write(_BUNDLE_TAIL)
            elif self._first is not None:   # one input: its OperationOutcome alone, without the file
                oo = orjson.loads(self._first)["resource"]
                del oo["extension"]
                self.out.write(orjson.dumps(oo, option=orjson.OPT_INDENT_2).decode() + "\n")
            else:
                self.out.write(orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": []},
                                            option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            print(f"{self.count} input(s): {self.errors} error(s) in {self.with_errors}", file=sys.stderr)


_BUNDLE_HEAD = '{\n  "resourceType": "Bundle",\n  "type": "collection",\n  "entry": [\n'
_BUNDLE_TAIL = "\n  ]\n}\n"


def render(fmt: str, color: bool, source: str, line: int | None, issues: tuple[Issue, ...]):
    """``(name, error count, text)`` of one document: its text lines, or (JSON) its entry of the
    collection Bundle, indented as it sits there."""
    errors = sum(1 for i in issues if i.severity.rank <= Severity.ERROR.rank)
    name = source if line is None else f"{source}:{line}"
    if fmt == "json":
        import orjson

        entry = {"resource": {**_oo(Outcome(issues)),
                              "extension": [{"url": systems.EXT_OO_FILE, "valueString": name}]}}
        text = orjson.dumps(entry, option=orjson.OPT_INDENT_2).decode()
        return name, errors, "    " + text.replace("\n", "\n    ")
    lines = []
    for i in issues:
        where = i.expression or i.path.json_path
        pos = "" if i.line is None else f":{i.line}" if i.column is None else f":{i.line}:{i.column}"
        sev = i.severity.value
        if color:
            sev = f"\033[{_COLOURS[sev]}m{sev}\033[0m"
        lines.append(f"{source}{pos}: {sev}: {where}: {i.message} [{i.message_id}]\n")
    return name, errors, "".join(lines)


def _oo(outcome: Outcome) -> dict:
    oo = outcome.to_operation_outcome()
    for issue, entry in zip(outcome.issues, oo["issue"]):
        if issue.line is not None:
            entry["location"] = [f"Line[{issue.line}]" + (f" Col[{issue.column}]" if issue.column else "")]
    return oo
