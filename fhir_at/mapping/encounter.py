"""Encounter: the visit in which the assessment took place (setting, period, diagnoses ranked)."""

from __future__ import annotations

from ..model.datatypes import coding, concept
from ..terminology import systems
from .context import given_identifier

CPT_97755 = ("97755", "Assistive technology assess")  # code, CMS short descriptor


def to_fhir(a: dict, ctx) -> None:
    enc = a["encounter"]
    setting = ctx.cat.concept("encounter-settings", enc["setting"])
    klass = ctx.cat.concept("encounter-classes", setting.extra["class"])
    ident = enc.get("identifier") or ctx.derived("encounter")
    res = {
        "resourceType": "Encounter",
        "meta": {"profile": [systems.PROFILE_ENCOUNTER]},
        "identifier": [dict(ident)],
        "status": "finished",
        "class": coding(klass.system, klass.code, klass.display),
        "type": [concept(coding(systems.CPT, *CPT_97755))],
        "serviceType": concept(coding(setting.system, setting.code, setting.display)),
        "subject": ctx.ref("patient"),
        "participant": [{"individual": ctx.ref("clinician")}],
    }
    if "period" in enc:
        res["period"] = dict(enc["period"])
    # diagnosis[] is filled in by the condition mapper once the Conditions exist
    res["serviceProvider"] = ctx.ref("organization")
    ctx.add("encounter", res, ident)


def from_fhir(res: dict, root: dict, cat) -> tuple[dict, list[str]]:
    out: dict = {}
    problems: list[str] = []
    ident = given_identifier(res, root, "encounter")
    if ident:
        out["identifier"] = ident
    setting = cat.concept_key("encounter-settings", (res.get("serviceType") or {}).get("coding", [{}])[0]) \
        if (res.get("serviceType") or {}).get("coding") else None
    if setting is None:
        klass = (res.get("class") or {}).get("code")
        setting = {"HH": "home-visit", "AMB": "outpatient-clinic"}.get(klass)
        problems.append("serviceType")
    if setting:
        out["setting"] = setting
    if res.get("period", {}).get("start"):
        out["period"] = {k: res["period"][k] for k in ("start", "end") if k in res["period"]}
    return out, problems
