"""``$push`` to a configured target (by name, never a URL from the request) and the outbox listing."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from ... import api
from ...issues import Outcome, Severity, Source
from ...messages import Msg, issue
from ..body import REQUEST_BODY, read_json
from ..errors import ServiceError, fhir_response, outcome_response
from ..security import Principal, require
from . import FhirJSONResponse, responses

__all__ = ["router", "outbox_of"]

router = APIRouter(default_response_class=FhirJSONResponse)

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def outbox_of(request: Request):
    """The outbox store of the configuration (opened per request: the store is the shared state)."""
    from ...client.outbox import Outbox, SqliteBackend

    path = request.app.state.settings.outbox.path
    return Outbox(SqliteBackend(path))


def _target(request: Request, name: str):
    targets = request.app.state.targets
    if name not in targets.servers:
        known = ", ".join(sorted(targets.servers)) or "none"
        raise ServiceError(404, Msg.SVC_UNKNOWN_TARGET, f"no push target of that name is configured "
                                                        f"(configured: {known})")
    return targets.servers[name]


def _entries(report) -> list[dict]:
    out = []
    for e in report.entries:
        part = [{"name": "resourceType", "valueCode": e.resource_type}, {"name": "outcome", "valueCode": e.outcome}]
        if e.id:
            part.append({"name": "id", "valueString": e.id})
        if e.location:
            part.append({"name": "location", "valueString": e.location})
        out.append({"name": "entry", "part": part})
    return out


@router.post("/Assessment/$push", summary="Check and push an assessment or transaction Bundle to a target",
             openapi_extra=REQUEST_BODY, responses=responses(202, 400, 401, 403, 404, 413, 415, 422, 502, 504),
             tags=["push"])
def push(request: Request, principal: Annotated[Principal, Depends(require("fhir-at/push"))],
         doc: Annotated[object, Depends(read_json)],
         target: str = Query(..., pattern=_NAME, description="The name of a target server in the configuration."),
         queue: bool = Query(False, description="Record in the outbox (202) instead of pushing now."),
         force: bool = Query(False, description="Push a Bundle even when its checks find errors."),
         pdf: bool = Query(True, description="Embed the PDF report when converting an assessment.")):
    """Converts (an assessment) or checks (a Bundle), then pushes it to the configured target with
    conditional creates (pushing twice creates nothing new). Answers a Parameters resource: the
    mode, one ``entry`` per resource (type, outcome, id) and the ``outcome`` of the checks."""
    server = _target(request, target)
    if queue:
        bundle, outcome = api.bundle_for_push(doc, force=force, pdf=pdf)
        if bundle is None:
            return outcome_response(outcome, 422)
        item = outbox_of(request).enqueue(server.url, bundle)
        note = issue(Msg.SVC_QUEUED, f"queued in the outbox as item {item}", severity=Severity.INFORMATION,
                     source=Source.SERVICE)
        return fhir_response({"resourceType": "Parameters", "parameter": [
            {"name": "queued", "valueString": item},
            {"name": "outcome", "resource": (outcome + Outcome((note,))).to_operation_outcome()}]}, 202)
    client = request.app.state.targets.client(target)
    report, outcome = api.push(doc, client, force=force, pdf=pdf, update_create=server.update_create)
    if report is None:
        return outcome_response(outcome, 422)
    if not report.ok:
        failed = sum(1 for e in report.entries if e.outcome == "failed")
        head = issue(Msg.SVC_DOWNSTREAM_ERROR, f"the target refused {failed} of {len(report.entries)} entries",
                     source=Source.SERVICE)
        return outcome_response(Outcome((head,)) + outcome, 502)
    return fhir_response({"resourceType": "Parameters", "parameter": [
        {"name": "mode", "valueCode": report.mode}, *_entries(report),
        {"name": "outcome", "resource": outcome.to_operation_outcome()}]})


@router.get("/outbox", summary="The outbox: items and their state (no Bundles)", tags=["push"],
            responses=responses(400, 401, 403, 404, ok_media="application/json"))
def outbox(request: Request, principal: Annotated[Principal, Depends(require("fhir-at/outbox"))],
           state: Literal["pending", "in-flight", "delivered", "failed"] | None = Query(None),
           target: str | None = Query(None, pattern=_NAME, description="Only the items of this target.")):
    """The outbox items, oldest first, as ``application/json``: id, target URL, business key, state,
    attempts, next attempt, last error and delivery summary. Never a Bundle."""
    import orjson
    from fastapi.responses import Response

    server = _target(request, target).url if target else None
    items = outbox_of(request).list(state, server=server)
    return Response(orjson.dumps({"items": [i.to_dict() for i in items]}), media_type="application/json")
