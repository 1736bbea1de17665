"""``--jobs N``: documents parsed, validated and located by N worker processes, results in input
order; the main process only reads files and prints."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Iterator

__all__ = ["validate_in_parallel"]

_VALIDATOR = None
_FORMAT = ("text", False)


def _init(package_refs: tuple[str, ...], fmt: str, color: bool) -> None:
    global _VALIDATOR, _FORMAT
    from .validator import Validator

    _VALIDATOR = Validator(package_refs)
    _FORMAT = (fmt, color)


def _work(raw: tuple[str, int | None, bytes]):
    from .inputs import parse
    from .reporting import render, with_positions

    doc = parse(raw)
    issues = doc.issues
    if doc.resource is not None:
        issues = issues + tuple(_VALIDATOR.iter_issues(doc.resource))
    return render(*_FORMAT, doc.source, doc.line, with_positions(doc, issues))


def validate_in_parallel(package_refs: tuple[str, ...], raws: Iterable, jobs: int, fmt: str, color: bool,
                         chunk: int = 32) -> Iterator[tuple]:
    """``(name, errors, rendered)`` per document (see :func:`reporting.render`), in input order."""
    with ProcessPoolExecutor(jobs, initializer=_init, initargs=(tuple(package_refs), fmt, color)) as pool:
        yield from pool.map(_work, raws, chunksize=chunk)
