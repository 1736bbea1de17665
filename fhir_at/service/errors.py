"""Every error of the service is an OperationOutcome (``application/fhir+json``) with its status.

::

    ServiceError(status, msg, text)   raised by the service itself (limits, auth, unknown names)
    FhirAtError                       from the API: InputError/MappingError → 422, ConfigError → 500,
                                      TransportError → 502 (504 when the downstream server timed out),
                                      HttpStatusError → 502 with the downstream server's issues
    RequestValidationError            a bad query parameter → 400
    HTTPException (routing)           404 / 405 …
    anything else                     500, with no detail (the log has the exception type)

Messages never quote the request (body, query, path parameters): they may hold PHI.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConfigError, FhirAtError, HttpStatusError, InputError, MappingError, TransportError
from ..issues import Outcome, Severity, Source
from ..messages import Msg, issue

__all__ = ["FHIR_JSON", "ServiceError", "fhir_response", "outcome_response", "install_handlers"]

FHIR_JSON = "application/fhir+json"
log = logging.getLogger("fhir_at.service")


class ServiceError(Exception):
    """An error answered with ``status`` and one issue."""

    def __init__(self, status: int, msg: Msg, text: str, headers: dict[str, str] | None = None):
        super().__init__(text)
        self.status = status
        self.msg = msg
        self.text = text
        self.headers = headers or {}

    @property
    def outcome(self) -> Outcome:
        return Outcome((issue(self.msg, self.text, severity=Severity.ERROR, source=Source.SERVICE),))


def fhir_response(body, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    import orjson

    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def outcome_response(outcome: Outcome, status: int, headers: dict[str, str] | None = None) -> Response:
    return fhir_response(outcome.to_operation_outcome(), status, headers)


def _one(msg: Msg, text: str, severity: Severity = Severity.ERROR) -> Outcome:
    return Outcome((issue(msg, text, severity=severity, source=Source.SERVICE),))


def _status_of(exc: FhirAtError) -> tuple[int, Outcome]:
    if isinstance(exc, HttpStatusError):
        # the downstream server refused or failed: a bad gateway for our caller, with its issues
        return 502, _one(Msg.SVC_DOWNSTREAM_ERROR, exc.message) + exc.outcome
    if isinstance(exc, TransportError):
        if "timed out" in exc.message:
            return 504, _one(Msg.SVC_DOWNSTREAM_TIMEOUT, exc.message)
        return 502, _one(Msg.SVC_DOWNSTREAM_ERROR, exc.message)
    if isinstance(exc, (InputError, MappingError)):
        return 422, (exc.outcome if exc.issues else _one(Msg.SVC_UNPROCESSABLE, exc.message))
    if isinstance(exc, ConfigError):
        log.error("configuration error: %s", exc.message)
        return 500, _one(Msg.SVC_INTERNAL, "the service is misconfigured; see its log")
    return 422, (exc.outcome if exc.issues else _one(Msg.SVC_UNPROCESSABLE, exc.message))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> Response:
        return outcome_response(exc.outcome, exc.status, exc.headers)

    @app.exception_handler(FhirAtError)
    async def _fhir_at(request: Request, exc: FhirAtError) -> Response:
        status, outcome = _status_of(exc)
        return outcome_response(outcome, status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        issues = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()))
            # e["input"] may be PHI: only the location and pydantic's message are kept
            issues.append(issue(Msg.SVC_BAD_REQUEST, f"{where}: {e.get('msg', 'invalid')}",
                                source=Source.SERVICE, expression=where))
        return outcome_response(Outcome(tuple(issues)), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            outcome = _one(Msg.SVC_NOT_FOUND, "no such endpoint (see GET /metadata)")
        elif exc.status_code == 405:
            outcome = _one(Msg.SVC_METHOD_NOT_ALLOWED, f"{request.method} is not allowed here")
        else:
            outcome = _one(Msg.SVC_BAD_REQUEST, str(exc.detail))
        return outcome_response(outcome, exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected %s (a bug)", type(exc).__name__, exc_info=log.isEnabledFor(logging.DEBUG))
        return outcome_response(_one(Msg.SVC_INTERNAL, "internal error; the request id is in the log", Severity.FATAL),
                                500)
