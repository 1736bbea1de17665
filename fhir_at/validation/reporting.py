"""Validation results as text (grouped by file) or JSON (one OperationOutcome per input; several
inputs → a collection Bundle of them, each naming its file, as the HL7 validator does)."""

from __future__ import annotations

import sys
from dataclasses import replace

from ..issues import Issue, Outcome, Severity
from ..terminology import systems
from .inputs import Document
from .positions import PositionIndex

__all__ = ["Reporter", "with_positions"]

_COLOURS = {"fatal": "31", "error": "31", "warning": "33", "information": "36"}


def with_positions(doc: Document, issues: tuple[Issue, ...]) -> tuple[Issue, ...]:
    """Issues with the line and column of their location in the document's text."""
    if not issues or doc.text is None:
        return issues
    index = PositionIndex(doc.text)
    out = []
    for i in issues:
        if i.line is None and i.expression:
            found = index.find(i.expression)
            if found:
                line, col = found
                if doc.line is not None:  # NDJSON: the line of the file, the column within it
                    line = doc.line
                i = replace(i, line=line, column=col)
        out.append(i)
    return tuple(out)


class Reporter:
    def __init__(self, fmt: str, *, color: bool = False, out=None):
        self.fmt, self.color = fmt, color
        self.out = out or sys.stdout
        self.count = self.errors = self.with_errors = 0
        self._outcomes: list[tuple[str, dict]] = []
        self._last_source = None

    def add(self, doc: Document, outcome: Outcome | None) -> None:
        issues = doc.issues + (outcome.issues if outcome else ())
        issues = with_positions(doc, issues)
        self.count += 1
        errors = sum(1 for i in issues if i.severity.rank <= Severity.ERROR.rank)
        self.errors += errors
        self.with_errors += 1 if errors else 0
        name = doc.source if doc.line is None else f"{doc.source}:{doc.line}"
        if self.fmt == "json":
            self._outcomes.append((name, _oo(Outcome(issues))))
            return
        if doc.source != self._last_source:
            self._last_source = doc.source
        for i in issues:
            where = i.expression or i.path.json_path
            pos = f":{i.line}:{i.column}" if i.line is not None else ""
            sev = i.severity.value
            if self.color:
                sev = f"\033[{_COLOURS[sev]}m{sev}\033[0m"
            print(f"{doc.source}{pos}: {sev}: {where}: {i.message} [{i.message_id}]", file=self.out)

    def finish(self) -> None:
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


def _oo(outcome: Outcome) -> dict:
    oo = outcome.to_operation_outcome()
    for issue, entry in zip(outcome.issues, oo["issue"]):
        if issue.line is not None:
            entry["location"] = [f"Line[{issue.line}] Col[{issue.column}]"]
    return oo
