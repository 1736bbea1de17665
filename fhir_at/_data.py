"""Locates the declarative data shipped with fhir-at: ``mappings/``, ``profiles/`` and the schema.

In a wheel they sit in ``fhir_at/_bundled/``; in a source checkout (editable install) they are the
top-level folders of the repository. Code refers to files through this module only.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """The folder ``mappings`` or ``profiles``."""
    for candidate in (_PKG / "_bundled" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    from .errors import ConfigError

    raise ConfigError(f"fhir-at data folder {name!r} is missing from the installation")


def mapping_file(name: str) -> Path:
    return data_dir("mappings") / name


def schema_file() -> Path:
    return _PKG / "model" / "assessment.schema.json"
