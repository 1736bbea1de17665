"""DeviceRequest: one proposal per recommended device (HCPCS, specifications, justification)."""

from __future__ import annotations

from ..model.datatypes import concept, quantity
from ..terminology import systems


def _parameter(spec: dict) -> dict:
    value = spec["value"]
    out: dict = {"code": {"text": spec["name"]}}
    if isinstance(value, bool):
        out["valueBoolean"] = value
    elif isinstance(value, (int, float)):
        out["valueQuantity"] = quantity(value, spec.get("unit"))
    else:
        out["valueCodeableConcept"] = {"text": value}
    return out


def to_fhir(a: dict, ctx) -> None:
    report_url = ctx.url_for("DocumentReference", ctx.derived("report"))
    for i, rec in enumerate(a.get("recommendations", ()), start=1):
        ident = ctx.derived(f"recommendation/{i}")
        if rec.get("hcpcs"):
            device = ctx.cat.devices[rec["hcpcs"]]
            code = concept(device.coding(), text=rec["description"])
        else:
            code = concept(text=rec["description"])
        res = {
            "resourceType": "DeviceRequest",
            "meta": {"profile": [systems.PROFILE_DEVICE_REQUEST]},
            "identifier": [ident],
            "status": "draft",
            "intent": "proposal",
            "codeCodeableConcept": code,
        }
        if rec.get("specifications"):
            res["parameter"] = [_parameter(s) for s in rec["specifications"]]
        res.update({
            "subject": ctx.ref("patient"),
            "encounter": ctx.ref("encounter"),
            "authoredOn": a["session"]["date"],
            "requester": ctx.ref("clinician"),
        })
        if rec.get("diagnoses"):
            res["reasonReference"] = [ctx.ref(("condition", c)) for c in rec["diagnoses"]]
        if "coverage" in ctx.refs:
            res["insurance"] = [ctx.ref("coverage")]
        res["supportingInfo"] = [ctx.ref("procedure"), {"reference": report_url}]
        res["note"] = [{"text": rec["justification"]}]
        ctx.add(("recommendation", i), res, ident)


def _spec_from_fhir(p: dict) -> dict | None:
    name = (p.get("code") or {}).get("text")
    if not name:
        return None
    out: dict = {"name": name}
    if "valueBoolean" in p:
        out["value"] = p["valueBoolean"]
    elif "valueQuantity" in p:
        out["value"] = p["valueQuantity"].get("value")
        if p["valueQuantity"].get("code"):
            out["unit"] = p["valueQuantity"]["code"]
    elif "valueCodeableConcept" in p and p["valueCodeableConcept"].get("text"):
        out["value"] = p["valueCodeableConcept"]["text"]
    else:
        return None
    return out


def from_fhir(res: dict, diagnosis_codes: list[str]) -> dict:
    code = res.get("codeCodeableConcept") or {}
    out: dict = {}
    for c in code.get("coding", []):
        if c.get("system") in (systems.HCPCS, systems.HCPCS_HTTPS) and c.get("code"):
            out["hcpcs"] = c["code"]
            break
    out["description"] = code.get("text") or next(
        (c.get("display") for c in code.get("coding", []) if c.get("display")), None)
    specs = [s for s in (_spec_from_fhir(p) for p in res.get("parameter") or []) if s]
    if specs:
        out["specifications"] = specs
    notes = [n["text"] for n in res.get("note") or [] if n.get("text")]
    out["justification"] = "\n\n".join(notes) if notes else None
    if diagnosis_codes:
        out["diagnoses"] = diagnosis_codes
    return out
