"""Condition: one encounter-diagnosis per ICD-10-CM code, ranked on the Encounter."""

from __future__ import annotations

from ..model.datatypes import coding, concept
from ..terminology import icd10cm, systems

CATEGORY = concept(coding(systems.CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis"))
ACTIVE = concept(coding(systems.CONDITION_CLINICAL, "active", "Active"))
CONFIRMED = concept(coding(systems.CONDITION_VER_STATUS, "confirmed", "Confirmed"))


def to_fhir(a: dict, ctx) -> None:
    ranked = []
    for dx in a["diagnoses"]:
        entry = icd10cm.lookup(dx["code"])
        ident = ctx.derived(f"condition/{dx['code']}")
        res = {
            "resourceType": "Condition",
            "meta": {"profile": [systems.PROFILE_CONDITION]},
            "identifier": [ident],
            "clinicalStatus": ACTIVE,
            "verificationStatus": CONFIRMED,
            "category": [CATEGORY],
            "code": concept(coding(systems.ICD10CM, dx["code"], entry.description if entry else None)),
            "subject": ctx.ref("patient"),
            "encounter": ctx.ref("encounter"),
        }
        if "onset" in dx:
            res["onsetDateTime"] = dx["onset"]
        res["recordedDate"] = a["session"]["date"]
        url = ctx.add(("condition", dx["code"]), res, ident)
        ranked.append((0 if dx["role"] == "primary" else 1, url))
    encounter = next(e["resource"] for e in ctx.entries if e["fullUrl"] == ctx.refs["encounter"])
    rank = 0
    diagnosis = []
    for _, url in sorted(ranked, key=lambda r: r[0]):
        rank += 1
        diagnosis.append({"condition": {"reference": url}, "rank": rank})
    encounter["diagnosis"] = diagnosis


def icd_code(res: dict) -> str | None:
    for c in (res.get("code") or {}).get("coding", []):
        if c.get("system") == systems.ICD10CM and c.get("code"):
            return c["code"]
    return None


def from_fhir(res: dict, primary: bool) -> dict:
    out = {"code": icd_code(res), "role": "primary" if primary else "secondary"}
    onset = res.get("onsetDateTime")
    if onset:
        out["onset"] = onset[:10]
    return out
