"""Validation results as text (grouped by file) or JSON (one OperationOutcome per input; several
inputs → a collection Bundle of them, each naming its file, as the HL7 validator does)."""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from ..issues import Issue, Outcome, Severity
from ..terminology import systems
from .inputs import Document
from .positions import PositionIndex

__all__ = ["Reporter", "with_positions", "render"]

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


class Reporter:
    def __init__(self, fmt: str, *, color: bool = False, out=None, progress: bool = False):
        self.fmt, self.color = fmt, color
        self.out = out or sys.stdout
        self.count = self.errors = self.with_errors = 0
        self._outcomes: list[tuple[str, dict]] = []
        self.progress = progress      # a running count on stderr (a TTY), for long runs
        self._shown = 0.0

    def add(self, doc: Document, outcome: Outcome | None) -> None:
        issues = doc.issues + (outcome.issues if outcome else ())
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
        if self.fmt == "json":
            self._outcomes.append((name, rendered))
        elif rendered:
            self.out.write(rendered)

    def finish(self) -> None:
        if self.progress and self._shown:
            sys.stderr.write("\r\033[K")
        if self.fmt == "json":
            import orjson

            if len(self._outcomes) == 1:
                doc = self._outcomes[0][1]
            else:
                doc = {"resourceType": "Bundle", "type": "collection", "entry": [
                    {"resource": {**oo, "extension": [{"url": systems.EXT_OO_FILE, "valueString": name}]}}
                    for name, oo in self._outcomes]}
            self.out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            print(f"{self.count} input(s): {self.errors} error(s) in {self.with_errors}", file=sys.stderr)


def render(fmt: str, color: bool, source: str, line: int | None, issues: tuple[Issue, ...]):
    """``(name, error count, OperationOutcome dict or text lines)`` of one document."""
    errors = sum(1 for i in issues if i.severity.rank <= Severity.ERROR.rank)
    name = source if line is None else f"{source}:{line}"
    if fmt == "json":
        return name, errors, _oo(Outcome(issues))
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
