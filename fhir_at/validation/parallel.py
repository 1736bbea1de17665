"""``--jobs N``: documents parsed, validated and located by N worker processes, results in input
order; the main process only reads files and prints."""

from __future__ import annotations

from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Iterator

__all__ = ["validate_in_parallel"]

_VALIDATOR = None
_FORMAT = ("text", False)
_LEVEL = "information"


def _init(package_refs: tuple[str, ...], options: dict, fmt: str, color: bool, level: str) -> None:
    global _VALIDATOR, _FORMAT, _LEVEL
    if _VALIDATOR is None or _VALIDATOR.package_refs != package_refs:   # not inherited by fork
        from .validator import Validator

        _VALIDATOR = Validator(package_refs, **options)
    _FORMAT = (fmt, color)
    _LEVEL = level


def _work(raw: tuple[str, int | None, bytes]):
    from .inputs import parse
    from .reporting import render, visible, with_positions

    doc = parse(raw)
    issues = doc.issues
    if doc.resource is not None:
        issues = issues + tuple(_VALIDATOR.iter_issues(doc.resource))
    return render(*_FORMAT, doc.source, doc.line, with_positions(doc, visible(issues, _LEVEL)))


def _work_batch(batch: list) -> list:
    return [_work(raw) for raw in batch]


def _batches(raws: Iterable, size: int) -> Iterator[list]:
    batch = []
    for raw in raws:
        batch.append(raw)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def validate_in_parallel(validator, raws: Iterable, jobs: int, fmt: str, color: bool,
                         chunk: int = 32, level: str = "information") -> Iterator[tuple]:
    """``(name, errors, rendered)`` per document (see :func:`reporting.render`), in input order.

    Where processes are forked, the workers inherit ``validator`` with the package indexes it has
    already read; elsewhere each builds its own from the same packages. At most ``4 * jobs``
    batches of ``chunk`` documents are in flight, so memory does not grow with the input (the
    executor's own ``map`` would read every input first)."""
    global _VALIDATOR
    _VALIDATOR = validator
    try:
        with ProcessPoolExecutor(jobs, initializer=_init,
                                 initargs=(tuple(validator.package_refs), validator.options(), fmt,
                                           color, level)) as pool:
            pending: deque = deque()
            for batch in _batches(raws, chunk):
                pending.append(pool.submit(_work_batch, batch))
                if len(pending) >= 4 * jobs:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
    finally:
        _VALIDATOR = None
