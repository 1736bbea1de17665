"""Structured JSON logs with a request id, and no PHI.

One line per request: the method, the **route template** (``/Patient/{id}/$conditions``, never the
path: it may hold a patient id), the status, the duration, the request id and the caller's name
(an API key's name or a token's client id). Never a body, a query string or a header value other
than ``X-Request-ID`` (which is checked: 1-64 characters of ``[A-Za-z0-9._-]``, else replaced).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

__all__ = ["REQUEST_ID_HEADER", "JsonFormatter", "RequestLogMiddleware", "configure_logging"]

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "principal", "auth")
log = logging.getLogger("fhir_at.service.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the request fields present."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
               + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for f in _FIELDS:
            if hasattr(record, f):
                out[f] = getattr(record, f)
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__  # the type only: a message may quote data
        return json.dumps(out, separators=(",", ":"))


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the service's loggers (and uvicorn's, whose access log is off)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("fhir_at", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


class RequestLogMiddleware:
    """Pure ASGI: gives each HTTP request an id (``X-Request-ID`` echoed or made), logs one line."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            principal = (scope.get("state") or {}).get("principal")
            extra = {"request_id": request_id, "method": scope.get("method"),
                     "route": getattr(route, "path", None) or "(no route)", "status": status,
                     "duration_ms": round((time.perf_counter() - started) * 1000, 2)}
            if principal is not None:
                extra["principal"] = principal.name
                extra["auth"] = principal.method
            log.info("request", extra=extra)
