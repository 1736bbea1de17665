"""Claim (professional): the billing line of 97755 with its units, modifiers and diagnosis pointers,
plus the other timed services of the day. Derived output: extraction does not read it back."""

from __future__ import annotations

from ..model.datatypes import coding, concept
from ..terminology import icd10cm, systems

PROFESSIONAL = concept(coding(systems.CLAIM_TYPE, "professional", "Professional"))
NORMAL = concept(coding(systems.PROCESS_PRIORITY, "normal", "Normal"))
CPT_MODIFIERS = {"59"}  # the others the checks know (GP, GO, GN, CQ, CO, KX, XE, XS, XP, XU) are HCPCS Level II


def _modifier(code: str) -> dict:
    return concept(coding(systems.CPT if code in CPT_MODIFIERS else systems.HCPCS, code))


def _icd(code: str) -> dict:
    entry = icd10cm.lookup(code)
    return coding(systems.ICD10CM, code, entry.description if entry else None)


def to_fhir(a: dict, ctx, lines, date_of_service: str) -> None:
    """``lines``: the :class:`fhir_at.billing.checks.LineItem` of the day, 97755 first."""
    diagnoses = sorted(a["diagnoses"], key=lambda d: d["role"] != "primary")
    ident = ctx.derived("claim")
    items = []
    for n, line in enumerate(lines, start=1):
        proc = ctx.cat.procedures[line.code]
        item = {
            "sequence": n,
            "careTeamSequence": [1],
            "diagnosisSequence": list(range(1, min(len(diagnoses), 4) + 1)),
            "productOrService": concept(proc.coding()),
        }
        if line.modifiers:
            item["modifier"] = [_modifier(m) for m in line.modifiers]
        item.update({"servicedDate": date_of_service, "quantity": {"value": line.units},
                     "encounter": [ctx.ref("encounter")]})
        items.append(item)
    res = {
        "resourceType": "Claim",
        "meta": {"profile": [systems.PROFILE_CLAIM]},
        "identifier": [ident],
        "status": "active",
        "type": PROFESSIONAL,
        "use": "claim",
        "patient": ctx.ref("patient"),
        "created": a.get("signature", {}).get("signedAt") or ctx.period["end"],
        "provider": ctx.ref("organization"),
        "priority": NORMAL,
        "careTeam": [{"sequence": 1, "provider": ctx.ref("clinician")}],
        "diagnosis": [{"sequence": i, "diagnosisCodeableConcept": concept(_icd(dx["code"]))}
                      for i, dx in enumerate(diagnoses, start=1)],
        "insurance": [{"sequence": 1, "focal": True, "coverage": ctx.ref("coverage")}],
        "item": items,
    }
    ctx.add("claim", res, ident)
