"""``--jobs N``: documents validated by N worker processes, results in input order."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Iterator

from .inputs import Document

__all__ = ["validate_in_parallel"]

_VALIDATOR = None


def _init(validator) -> None:
    global _VALIDATOR
    _VALIDATOR = validator


def _validate(resource):
    return _VALIDATOR.validate(resource) if resource is not None else None


def validate_in_parallel(validator, docs: Iterable[Document], jobs: int, chunk: int = 64) -> Iterator:
    docs = list(docs)
    with ProcessPoolExecutor(jobs, initializer=_init, initargs=(validator,)) as pool:
        outcomes = pool.map(_validate, [d.resource for d in docs], chunksize=chunk)
        yield from zip(docs, outcomes)
