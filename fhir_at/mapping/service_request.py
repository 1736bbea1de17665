"""ServiceRequest: the referral for the assessment (target of Procedure.basedOn)."""

from __future__ import annotations

from ..model.datatypes import coding, concept
from ..terminology import systems
from .context import given_identifier
from . import practitioner
from .encounter import CPT_97755


def to_fhir(a: dict, ctx) -> None:
    ref = a.get("referral")
    if not ref:
        return
    ident = ref.get("identifier") or ctx.derived("referral")
    res = {
        "resourceType": "ServiceRequest",
        "meta": {"profile": [systems.PROFILE_SERVICE_REQUEST]},
        "identifier": [dict(ident)],
        "status": "completed",
        "intent": "order",
        "code": concept(coding(systems.CPT, *CPT_97755)),
        "subject": ctx.ref("patient"),
    }
    if "date" in ref:
        res["authoredOn"] = ref["date"]
    if "referrer" in ref:
        res["requester"] = {"reference": practitioner.to_fhir(ref["referrer"], "referrer", ctx)}
    res["reasonCode"] = [{"text": ref["reason"]}]
    ctx.add("referral", res, ident)


def from_fhir(res: dict, requester: dict | None, root: dict) -> dict:
    out: dict = {}
    ident = given_identifier(res, root, "referral")
    if ident:
        out["identifier"] = ident
    if res.get("authoredOn"):
        out["date"] = res["authoredOn"][:10]
    reasons = [r["text"] for r in res.get("reasonCode") or [] if r.get("text")]
    if reasons:
        out["reason"] = "\n".join(reasons)
    if requester is not None:
        person = practitioner.from_fhir(requester)
        person.pop("credentials", None)
        out["referrer"] = person
    return out
