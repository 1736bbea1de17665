"""Exceptions of fhir-at. Issues describe data; exceptions stop a run.

::

    FhirAtError(.issues)
     ├── InputError        the input has errors (CLI exit 1)
     ├── MappingError      a FHIR resource set cannot be turned into an assessment (exit 1)
     ├── ConfigError       a configuration, data file or I/O problem (exit 3)
     └── TransportError    the server could not be reached or answered badly (exit 3)
          └── HttpStatusError(.status, .url, .body)   an HTTP error status, with the server's
               │                                       OperationOutcome as .issues
               ├── Unauthorized (401)   ├── Forbidden (403)   ├── NotFound (404, 410)
               ├── Conflict (409, 412)  ├── Unprocessable (400, 422)
               └── ServerError (5xx)

Only the top-level CLI (``fhir_at.cli.main``) catches and prints them.
"""

from __future__ import annotations

from .issues import Issue, Outcome

__all__ = ["FhirAtError", "InputError", "MappingError", "ConfigError", "TransportError",
           "HttpStatusError", "Unauthorized", "Forbidden", "NotFound", "Conflict", "Unprocessable",
           "ServerError", "for_status"]


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


class TransportError(FhirAtError):
    exit_code = 3


class HttpStatusError(TransportError):
    def __init__(self, message: str, status: int, url: str, issues=(), body: str = ""):
        super().__init__(message, issues)
        self.status = status
        self.url = url
        self.body = body


class Unauthorized(HttpStatusError):
    pass


class Forbidden(HttpStatusError):
    pass


class NotFound(HttpStatusError):
    pass


class Conflict(HttpStatusError):
    pass


class Unprocessable(HttpStatusError):
    pass


class ServerError(HttpStatusError):
    pass


_BY_STATUS = {400: Unprocessable, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
              410: NotFound, 412: Conflict, 422: Unprocessable}


def for_status(status: int) -> type[HttpStatusError]:
    """The exception class of an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, HttpStatusError)
