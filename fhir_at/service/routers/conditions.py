"""``GET /Patient/{id}/$conditions``: a patient's Conditions from a configured EHR, streamed."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from ...issues import Outcome
from ...messages import Msg
from ..errors import ServiceError
from ..security import Principal, require
from . import FhirJSONResponse, responses

__all__ = ["router"]

router = APIRouter(default_response_class=FhirJSONResponse)

_FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_TOKEN = r"^[A-Za-z0-9:/._|-]{1,200}$"
_CONDITIONS = {"type": "object", "properties": {"conditions": {"type": "array", "items": {"type": "object"}},
                                                "outcome": {"type": "object"}}}


@router.get("/Patient/{id}/$conditions", summary="A patient's Conditions from a configured EHR (streamed)",
            responses=responses(400, 401, 403, 404, 502, 504, ok=_CONDITIONS, ok_media="application/json"),
            tags=["conditions"])
def conditions(request: Request, principal: Annotated[Principal, Depends(require("fhir-at/conditions"))],
               id: Annotated[str, Path(pattern=_FHIR_ID, description="The Patient's id on the EHR")],
               ehr: str = Query(..., pattern=_NAME, description="The name of an EHR in the configuration."),
               category: list[Annotated[str, Query(pattern=_TOKEN)]] = Query(
                   [], description="Only this category (code or system|code); repeat for several."),
               clinical_status: list[Annotated[str, Query(pattern=_TOKEN)]] = Query(
                   [], alias="clinical-status", description="Only this clinical status; repeat for several."),
               page_size: int = Query(100, alias="_count", ge=1, le=1000)):
    """``{"conditions": [...], "outcome": OperationOutcome}`` as ``application/json``, written as the
    EHR's pages arrive (one page in memory). Each condition: id, ICD-10-CM code, display, kind
    (billable, header, unknown, snomed-only, no-coding), statuses, onset, codings. An error before the
    first condition is an OperationOutcome with its status; one after it ends the stream with the
    error in ``outcome``."""
    ehrs = request.app.state.ehrs
    if ehr not in ehrs.servers:
        known = ", ".join(sorted(ehrs.servers)) or "none"
        raise ServiceError(404, Msg.SVC_UNKNOWN_TARGET, f"no EHR of that name is configured (configured: {known})")
    from ...client.pull import iter_conditions

    client = ehrs.client(ehr)
    issues: list = []
    found = iter_conditions(client, patient=id, category=category, clinical_status=clinical_status,
                            page_size=page_size, on_issue=issues.append)
    first = next(found, None)  # errors before the first condition get their own status
    return StreamingResponse(_stream(first, found, issues), media_type="application/json")


def _stream(first, rest: Iterator, issues: list) -> Iterator[bytes]:
    import orjson

    from ...errors import FhirAtError

    yield b'{"conditions":['
    if first is not None:
        yield orjson.dumps(first.to_dict())
        try:
            for c in rest:
                yield b"," + orjson.dumps(c.to_dict())
        except FhirAtError as exc:  # the status is sent already: the error goes into the outcome
            issues.extend(exc.issues or [_failed(exc.message)])
    yield b'],"outcome":' + orjson.dumps(Outcome(tuple(issues)).to_operation_outcome()) + b"}"


def _failed(text: str):
    from ...issues import Source
    from ...messages import issue

    return issue(Msg.SVC_DOWNSTREAM_ERROR, f"the pull stopped: {text}", source=Source.SERVICE)
