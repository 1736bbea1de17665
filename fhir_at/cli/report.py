"""Printing an Outcome on standard error, as text lines or as an OperationOutcome."""

from __future__ import annotations

import sys

from ..issues import Outcome


def print_outcome(outcome: Outcome, fmt: str = "text", *, source: str = "", sources: bool = False) -> None:
    if not outcome.issues:
        return
    if fmt == "oo":
        from .io import dumps

        sys.stderr.buffer.write(dumps(outcome.to_operation_outcome()))
        sys.stderr.flush()
        return
    prefix = f"{source}: " if source else ""
    for i in outcome.issues:
        print(prefix + str(i), file=sys.stderr)
        if sources and i.citation:
            print(f"    source: {i.citation}", file=sys.stderr)


def summary(outcome: Outcome) -> str:
    """``2 errors, 1 warning, 3 information``."""
    from collections import Counter

    counts = Counter(i.severity.value for i in outcome.issues)
    errors = counts["error"] + counts["fatal"]
    parts = [f"{errors} error{'s' if errors != 1 else ''}",
             f"{counts['warning']} warning{'s' if counts['warning'] != 1 else ''}",
             f"{counts['information']} information"]
    return ", ".join(parts)
