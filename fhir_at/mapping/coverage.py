"""Coverage: the payer of the assessment (payer Organization, kind, member id)."""

from __future__ import annotations

from ..model.datatypes import coding, concept
from ..terminology import systems
from . import organization


def to_fhir(a: dict, ctx) -> None:
    payer = a.get("payer")
    if not payer:
        return
    payor = organization.to_fhir({"name": payer["name"]}, "payer", ctx)
    kind = ctx.cat.concept("payer-kinds", payer["kind"])
    ident = ctx.derived("coverage")
    res = {
        "resourceType": "Coverage",
        "meta": {"profile": [systems.PROFILE_COVERAGE]},
        "identifier": [ident],
        "status": "active",
        "type": concept(coding(kind.system, kind.code, kind.display)),
        "beneficiary": ctx.ref("patient"),
        "payor": [{"reference": payor}],
    }
    if payer.get("memberId"):
        res["subscriberId"] = payer["memberId"]
    if payer.get("relationship"):
        rel = ctx.cat.concept("subscriber-relationships", payer["relationship"])
        res["relationship"] = concept(coding(rel.system, rel.code, rel.display))
    else:   # US Core requires it: said to be unknown, never guessed
        res["relationship"] = {"extension": [{"url": systems.EXT_DATA_ABSENT_REASON, "valueCode": "unknown"}]}
    ctx.add("coverage", res, ident)


def from_fhir(res: dict, payor: dict | None, cat) -> tuple[dict, list[str]]:
    problems = []
    out: dict = {}
    if payor and payor.get("name"):
        out["name"] = payor["name"]
    else:
        problems.append("payor")
    kind = None
    for c in (res.get("type") or {}).get("coding", []):
        kind = cat.concept_key("payer-kinds", c) or kind
    out["kind"] = kind or "other"
    if res.get("subscriberId"):
        out["memberId"] = res["subscriberId"]
    for c in (res.get("relationship") or {}).get("coding", []):
        relationship = cat.concept_key("subscriber-relationships", c)
        if relationship:
            out["relationship"] = relationship
            break
    return out, problems
