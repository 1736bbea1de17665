"""``GET /metadata`` (the CapabilityStatement of the service's operations) and ``GET /health``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ... import __version__
from ...terminology import systems
from ..errors import fhir_response
from . import FhirJSONResponse, responses

__all__ = ["router", "capability_statement"]

router = APIRouter(default_response_class=FhirJSONResponse)

_CAPABILITY = {"type": "object", "title": "CapabilityStatement", "required": ["resourceType"],
               "properties": {"resourceType": {"const": "CapabilityStatement"}}}


def _op(name: str, definition: str, doc: str) -> dict:
    return {"name": name, "definition": definition, "documentation": doc}


def capability_statement(settings) -> dict:
    auth = settings.auth
    services = []
    if auth.jwt is not None:
        services.append({"coding": [{"system": systems.RESTFUL_SECURITY_SERVICE, "code": "OAuth"}],
                         "text": "OAuth2 bearer JWT"})
    if auth.api_keys:
        services.append({"text": "API key (X-API-Key)"})
    security = {"cors": bool(settings.cors.allow_origins),
                "description": ("No authentication (local development only)." if settings.auth_disabled else
                                "Each operation needs its scope: fhir-at/convert, fhir-at/validate, "
                                "fhir-at/push, fhir-at/conditions, fhir-at/outbox.")}
    if services:
        security["service"] = services
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2025-01-01",
        "kind": "instance",
        "software": {"name": "fhir-at", "version": __version__},
        "implementation": {"description": "fhir-at: FHIR R4 adapter for the assistive technology "
                                          "assessment (CPT 97755)"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": security,
            "resource": [
                {"type": "Bundle", "operation": [
                    _op("extract", systems.OPDEF_EXTRACT, "Bundle → assessment (application/json).")]},
                {"type": "Patient", "operation": [
                    _op("conditions", systems.OPDEF_CONDITIONS,
                        "A patient's Conditions from a configured EHR (?ehr=NAME), streamed.")]},
            ],
            "operation": [
                _op("validate", systems.OPDEF_VALIDATE, "POST /$validate or /{type}/$validate; ?profile= "
                    "accepted (validated against the base specification for now)."),
                _op("convert", systems.OPDEF_CONVERT, "POST /Assessment/$convert: assessment → transaction "
                    "Bundle (?pdf=false, ?claim=true, ?outcome=true)."),
                _op("push", systems.OPDEF_PUSH, "POST /Assessment/$push?target=NAME: to a configured target "
                    "(?queue=true: into the outbox)."),
            ],
        }],
    }


@router.get("/metadata", summary="The CapabilityStatement of the service", tags=["meta"],
            responses=responses(ok=_CAPABILITY))
def metadata(request: Request):
    return fhir_response(capability_statement(request.app.state.settings))


@router.get("/health", summary="Liveness", tags=["meta"],
            responses={200: {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}})
def health():
    return Response(b'{"status":"ok"}', media_type="application/json")
