"""Patient: demographics, or a reference to a Patient that already exists on the server."""

from __future__ import annotations

from ..model.datatypes import coding, concept, human_name, read_name
from ..terminology import systems

MR_TYPE = concept(coding(systems.V2_0203, "MR", "Medical record number"))


def to_fhir(a: dict, ctx) -> None:
    p = a["patient"]
    if "fhirId" in p:
        ctx.refs["patient"] = f"Patient/{p['fhirId']}"
        return
    identifiers = []
    for ident in p["identifiers"]:
        out = {}
        if ident.get("type") == "MR":
            out["type"] = MR_TYPE
        out["system"] = ident["system"]
        out["value"] = ident["value"]
        identifiers.append(out)
    res = {
        "resourceType": "Patient",
        "meta": {"profile": [systems.PROFILE_PATIENT]},
        "identifier": identifiers,
        "name": [human_name(p["name"])],
        "gender": p["sex"],
    }
    if "birthDate" in p:
        res["birthDate"] = p["birthDate"]
    first = p["identifiers"][0]
    ctx.add("patient", res, {"system": first["system"], "value": first["value"]})


def from_fhir(res: dict | None, reference: str | None) -> dict:
    if res is None:
        return {"fhirId": (reference or "").rstrip("/").split("/")[-1]}
    out: dict = {}
    identifiers = []
    for ident in res.get("identifier") or []:
        if "system" not in ident or "value" not in ident:
            continue
        item = {"system": ident["system"], "value": ident["value"]}
        codes = {(c.get("system"), c.get("code")) for c in (ident.get("type") or {}).get("coding", [])}
        if (systems.V2_0203, "MR") in codes:
            item["type"] = "MR"
        identifiers.append(item)
    if identifiers:
        out["identifiers"] = identifiers
    name = read_name(res.get("name"))
    if name:
        out["name"] = name
    if res.get("birthDate"):
        out["birthDate"] = res["birthDate"]
    if res.get("gender"):
        out["sex"] = res["gender"]
    return out
