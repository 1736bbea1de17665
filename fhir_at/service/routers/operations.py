"""``$convert``, ``$extract`` and ``$validate``: the CLI's convert, extract and validate over HTTP."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from ... import api
from ...messages import Msg
from ..body import REQUEST_BODY, read_json
from ..errors import ServiceError, fhir_response, outcome_response
from ..security import Principal, require
from . import FhirJSONResponse, responses

__all__ = ["router"]

router = APIRouter(default_response_class=FhirJSONResponse)

_POST = (400, 401, 403, 413, 415, 422)
_WITH_OUTCOME = Query(False, description="Answer a Parameters resource holding the result (`return`) and "
                                         "the OperationOutcome of the checks (`outcome`), warnings included.")


def _with_outcome(result: dict, outcome, media: str = "fhir"):
    if media == "fhir":
        return fhir_response({"resourceType": "Parameters", "parameter": [
            {"name": "return", "resource": result},
            {"name": "outcome", "resource": outcome.to_operation_outcome()}]})
    return fhir_response({"assessment": result, "outcome": outcome.to_operation_outcome()})


@router.post("/Assessment/$convert", summary="Assessment → FHIR R4 transaction Bundle",
             openapi_extra=REQUEST_BODY, responses=responses(*_POST), tags=["operations"])
def convert(principal: Annotated[Principal, Depends(require("fhir-at/convert"))],
            doc: Annotated[object, Depends(read_json)],
            pdf: bool = Query(True, description="Embed the PDF report (false: the HTML report only)."),
            claim: bool = Query(False, description="Add a professional Claim (billing errors then refuse)."),
            outcome: bool = _WITH_OUTCOME):
    """The assessment JSON (see the assessment schema) converted to a transaction Bundle; 422 with
    an OperationOutcome when it has errors."""
    bundle, found = api.convert(doc, pdf=pdf, claim=claim)
    if bundle is None:
        return outcome_response(found, 422)
    return _with_outcome(bundle, found) if outcome else fhir_response(bundle)


@router.post("/Bundle/$extract", summary="FHIR Bundle → assessment",
             openapi_extra=REQUEST_BODY, tags=["operations"],
             responses=responses(*_POST, ok_media="application/json"))
def extract(principal: Annotated[Principal, Depends(require("fhir-at/convert"))],
            doc: Annotated[object, Depends(read_json)],
            outcome: bool = Query(False, description="Answer {assessment, outcome} (the checks' "
                                                     "OperationOutcome, warnings included).")):
    """The assessment held by a Bundle (one 97755 Procedure), as ``application/json`` (it is not a
    FHIR resource); 422 with an OperationOutcome when none can be extracted."""
    assessment, found = api.extract(doc)
    if assessment is None:
        return outcome_response(found, 422)
    if outcome:
        return _with_outcome(assessment, found, media="json")
    import orjson
    from fastapi.responses import Response

    return Response(orjson.dumps(assessment), media_type="application/json")


_PROFILE = Query(None, max_length=1024, description="A profile's canonical URL (not checked yet: "
                                                    "validation is against the base specification).")


def _validate(doc, profile: str | None, expected_type: str | None):
    if isinstance(doc, dict) and doc.get("resourceType") == "Parameters" and expected_type != "Parameters":
        doc, profile = _from_parameters(doc, profile)
    if expected_type is not None and isinstance(doc, dict) and doc.get("resourceType") != expected_type:
        raise ServiceError(400, Msg.SVC_BAD_REQUEST, f"the body is not a {expected_type} resource")
    return fhir_response(api.validate(doc, profile).to_operation_outcome())


def _from_parameters(doc: dict, profile: str | None):
    """FHIR's ``$validate`` input form: Parameters with ``resource`` (and ``profile``)."""
    resource = None
    for p in doc.get("parameter") or []:
        if not isinstance(p, dict):
            continue
        if p.get("name") == "resource" and isinstance(p.get("resource"), dict):
            resource = p["resource"]
        elif p.get("name") == "profile":
            profile = profile or p.get("valueUri") or p.get("valueCanonical")
    if resource is None:
        return doc, profile  # a Parameters resource to validate as such
    return resource, profile


@router.post("/$validate", summary="Validate a resource or Bundle", openapi_extra=REQUEST_BODY,
             responses=responses(*_POST), tags=["operations"])
def validate(principal: Annotated[Principal, Depends(require("fhir-at/validate"))],
             doc: Annotated[object, Depends(read_json)], profile: str | None = _PROFILE):
    """The OperationOutcome of the resource (or of FHIR's Parameters input form): 200 even when it
    holds errors, as FHIR's ``$validate`` does."""
    return _validate(doc, profile, None)


_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


@router.post("/{type}/$validate", summary="Validate a resource of the type given", openapi_extra=REQUEST_BODY,
             responses=responses(*_POST, 404), tags=["operations"])
def validate_type(principal: Annotated[Principal, Depends(require("fhir-at/validate"))],
                  type: Annotated[str, Path(pattern=_TYPE.pattern, description="A FHIR R4 resource type")],
                  doc: Annotated[object, Depends(read_json)], profile: str | None = _PROFILE):
    """Like ``POST /$validate`` for a resource that must be of ``type`` (404 for an unknown type,
    400 when the body is another type)."""
    if type not in api.resource_types():
        raise ServiceError(404, Msg.SVC_UNKNOWN_TYPE, "not a FHIR R4 resource type")
    return _validate(doc, profile, type)
