"""The service's routers, one module per group of endpoints, and their OpenAPI response tables."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from ..errors import FHIR_JSON

__all__ = ["FhirJSONResponse", "responses", "OPERATION_OUTCOME"]

OPERATION_OUTCOME = {"type": "object", "title": "OperationOutcome", "required": ["resourceType", "issue"],
                     "properties": {"resourceType": {"const": "OperationOutcome"},
                                    "issue": {"type": "array", "items": {"type": "object"}}}}

_WHY = {200: "OK", 202: "Accepted (queued in the outbox)", 400: "Bad request (malformed JSON, too deep, bad parameter)",
        401: "No or invalid credentials", 403: "The caller lacks the operation's scope",
        404: "Unknown resource type, target or EHR", 413: "Body too large", 415: "Unsupported media type",
        422: "Unprocessable content (the input has errors)", 502: "The downstream FHIR server failed or refused",
        504: "The downstream FHIR server timed out"}


class FhirJSONResponse(JSONResponse):
    media_type = FHIR_JSON


def responses(*statuses: int, ok: dict | None = None, ok_media: str = FHIR_JSON) -> dict:
    """OpenAPI ``responses`` of a route: its success body and an OperationOutcome for each error."""
    out: dict = {200: {"description": _WHY[200], "content": {ok_media: {"schema": ok or {"type": "object"}}}}}
    for s in statuses:
        if s == 202:
            out[s] = {"description": _WHY[s], "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
        else:
            out[s] = {"description": _WHY[s], "content": {FHIR_JSON: {"schema": OPERATION_OUTCOME}}}
    return out
