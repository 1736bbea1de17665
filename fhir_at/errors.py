"""Exceptions of fhir-at. Issues describe data; exceptions stop a run.

::

    FhirAtError(.issues)
     ├── InputError        the input has errors (CLI exit 1)
     ├── MappingError      a FHIR resource set cannot be turned into an assessment (exit 1)
     └── ConfigError       a configuration, data file or I/O problem (exit 3)

Only the top-level CLI (``fhir_at.cli.main``) catches and prints them.
"""

from __future__ import annotations

from .issues import Issue, Outcome

__all__ = ["FhirAtError", "InputError", "MappingError", "ConfigError"]


class FhirAtError(Exception):
    exit_code = 1

    def __init__(self, message: str, issues: tuple[Issue, ...] | list[Issue] = ()):
        super().__init__(message)
        self.message = message
        self.issues = tuple(issues)

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.issues)


class InputError(FhirAtError):
    exit_code = 1


class MappingError(FhirAtError):
    exit_code = 1


class ConfigError(FhirAtError):
    exit_code = 3
