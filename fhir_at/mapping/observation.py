"""Observation: one per functional measure (three US Core shapes) and one per device trial."""

from __future__ import annotations

from ..model.datatypes import coding, concept, quantity
from ..terminology import systems


def _base(ctx, profile: str, categories: list, code: dict, ident: dict) -> dict:
    return {
        "resourceType": "Observation",
        "meta": {"profile": [profile]},
        "identifier": [ident],
        "partOf": [ctx.ref("procedure")],
        "status": "final",
        "category": [concept(c) for c in categories],
        "code": code,
        "subject": ctx.ref("patient"),
        "encounter": ctx.ref("encounter"),
        "effectiveDateTime": ctx.period["start"],
        "performer": [ctx.ref("clinician")],
    }


def _value(m: dict, spec, ctx) -> tuple[str, object]:
    v = m["value"]
    if "absent" in v:
        c = ctx.cat.concept("absent-reasons", v["absent"])
        return "dataAbsentReason", concept(coding(c.system, c.code, c.display))
    if "quantity" in v:
        return "valueQuantity", quantity(v["quantity"], v["unit"])
    if "code" in v:
        c = ctx.cat.answers[spec.answers][v["code"]]
        return "valueCodeableConcept", concept(coding(c.system, c.code, c.display))
    if "integer" in v:
        return "valueInteger", v["integer"]
    if "boolean" in v:
        return "valueBoolean", v["boolean"]
    return "valueString", v["text"]


def measures_to_fhir(a: dict, ctx) -> None:
    seen: dict[str, int] = {}
    for m in a.get("measures", ()):
        spec = ctx.cat.measures[m["key"]]
        kind = ctx.cat.kinds[spec.kind]
        base = f"measure/{m['key']}" + (f"/{m['laterality']}" if "laterality" in m else "")
        seen[base] = seen.get(base, 0) + 1
        suffix = base if seen[base] == 1 else f"{base}/{seen[base]}"
        res = _base(ctx, kind["profile"], kind["categories"], concept(spec.coding()), ctx.derived(suffix))
        name, value = _value(m, spec, ctx)
        res[name] = value
        if "laterality" in m or "bodySite" in m:
            site: dict = {}
            if "laterality" in m:
                lat = ctx.cat.concept("laterality", m["laterality"])
                site["extension"] = [{"url": systems.EXT_LATERALITY,
                                      "valueCoding": coding(lat.system, lat.code, lat.display)}]
            if "bodySite" in m:
                site["text"] = m["bodySite"]
            res["bodySite"] = site
        if "method" in m:
            res["method"] = {"text": m["method"]}
        if "note" in m:
            res["note"] = [{"text": m["note"]}]
        ctx.add(("measure", suffix), res, res["identifier"][0])


def trials_to_fhir(a: dict, ctx) -> None:
    trial_code = ctx.cat.concept("observation-codes", "device-trial")
    device_code = ctx.cat.concept("observation-codes", "trialled-device")
    categories = ctx.cat.kinds["judgement"]["categories"]
    for i, trial in enumerate(a.get("deviceTrials", ()), start=1):
        ident = ctx.derived(f"trial/{i}")
        res = _base(ctx, systems.PROFILE_OBS_DEVICE_TRIAL, categories,
                    concept(trial_code.coding()), ident)
        outcome = ctx.cat.concept("trial-outcomes", trial["outcome"])
        res["valueCodeableConcept"] = concept(outcome.coding())
        if "notes" in trial:
            res["note"] = [{"text": trial["notes"]}]
        device = trial["device"]
        dev = concept(ctx.cat.devices[device["hcpcs"]].coding(), text=device["description"]) \
            if device.get("hcpcs") else concept(text=device["description"])
        res["component"] = [{"code": concept(device_code.coding()), "valueCodeableConcept": dev}]
        ctx.add(("trial", i), res, ident)


def _first_key(cc: dict | None, lookup) -> object:
    for c in (cc or {}).get("coding", []):
        found = lookup(c)
        if found is not None:
            return found
    return None


def is_trial(res: dict, cat) -> bool:
    return _first_key(res.get("code"), lambda c: cat.concept_key("observation-codes", c)) == "device-trial"


def measure_from_fhir(res: dict, cat) -> tuple[dict | None, str | None]:
    """The assessment measure of an Observation, or (None, reason) when it is not one of ours."""
    spec = _first_key(res.get("code"), lambda c: cat.measures_by_code.get((c.get("system"), c.get("code"))))
    if spec is None:
        return None, "code"
    value: dict
    if "dataAbsentReason" in res:
        value = {"absent": _first_key(res["dataAbsentReason"],
                                      lambda c: cat.concept_key("absent-reasons", c)) or "unknown"}
    elif "valueQuantity" in res:
        q = res["valueQuantity"]
        value = {"quantity": q.get("value")}
        if q.get("code"):
            value["unit"] = q["code"]
    elif "valueCodeableConcept" in res:
        answer = _first_key(res["valueCodeableConcept"], lambda c: cat.answers_by_code.get((c.get("system"), c.get("code"))))
        if answer is None:
            return None, "valueCodeableConcept"
        value = {"code": answer[1]}
    elif "valueInteger" in res:
        value = {"integer": res["valueInteger"]}
    elif "valueBoolean" in res:
        value = {"boolean": res["valueBoolean"]}
    elif "valueString" in res:
        value = {"text": res["valueString"]}
    else:
        return None, "value"
    out: dict = {"key": spec.key, "value": value}
    site = res.get("bodySite") or {}
    lat = next((e.get("valueCoding") for e in site.get("extension") or [] if e.get("url") == systems.EXT_LATERALITY), None)
    if lat:
        out["laterality"] = cat.concept_key("laterality", lat)
    if site.get("text"):
        out["bodySite"] = site["text"]
    if (res.get("method") or {}).get("text"):
        out["method"] = res["method"]["text"]
    notes = [n["text"] for n in res.get("note") or [] if n.get("text")]
    if notes:
        out["note"] = "\n\n".join(notes)
    return out, None


def trial_from_fhir(res: dict, cat) -> dict:
    outcome = _first_key(res.get("valueCodeableConcept"), lambda c: cat.concept_key("trial-outcomes", c))
    device: dict = {}
    for comp in res.get("component") or []:
        dev = comp.get("valueCodeableConcept") or {}
        for c in dev.get("coding", []):
            if c.get("system") in (systems.HCPCS, systems.HCPCS_HTTPS) and c.get("code"):
                device["hcpcs"] = c["code"]
        if dev.get("text"):
            device["description"] = dev["text"]
    out = {"device": device, "outcome": outcome}
    notes = [n["text"] for n in res.get("note") or [] if n.get("text")]
    if notes:
        out["notes"] = "\n\n".join(notes)
    return out
