"""Printing an Outcome on standard error, as text lines or as an OperationOutcome."""

from __future__ import annotations

import sys

from ..issues import Outcome


def print_outcome(outcome: Outcome, fmt: str = "text", *, source: str = "") -> None:
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
