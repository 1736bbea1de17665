"""Procedure: the 97755 assessment itself (who, when, how long, why, what report)."""

from __future__ import annotations

import re

from ..model.checks import full_time
from ..model.datatypes import coding, concept, quantity
from ..terminology import systems
from .encounter import CPT_97755

_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def session_period(session: dict) -> dict:
    d, off = session["date"], session["utcOffset"]
    return {"start": f"{d}T{full_time(session['startTime'])}{off}",
            "end": f"{d}T{full_time(session['endTime'])}{off}"}


def to_fhir(a: dict, ctx) -> None:
    session = a["session"]
    discipline = ctx.cat.concept("disciplines", a["clinician"]["discipline"])
    res = {
        "resourceType": "Procedure",
        "meta": {"profile": [systems.PROFILE_PROCEDURE]},
        "extension": [{"url": systems.EXT_TIMED_MINUTES,
                       "valueQuantity": quantity(session["timedMinutes"], "min")}],
        "identifier": [dict(ctx.root)],
    }
    if "referral" in ctx.refs:
        res["basedOn"] = [ctx.ref("referral")]
    res.update({
        "status": "completed",
        "code": concept(coding(systems.CPT, *CPT_97755), text="Assistive technology assessment"),
        "subject": ctx.ref("patient"),
        "encounter": ctx.ref("encounter"),
        "performedPeriod": dict(ctx.period),
        "performer": [{
            "function": concept(coding(discipline.system, discipline.code, discipline.display)),
            "actor": ctx.ref("clinician"),
            "onBehalfOf": ctx.ref("organization"),
        }],
        "reasonReference": [ctx.ref(("condition", dx["code"])) for dx in a["diagnoses"]],
    })
    res["report"] = [{"reference": ctx.url_for("DocumentReference", ctx.derived("report"))}]
    follow = []
    for item in a.get("followUp", ()):
        kind = ctx.cat.concept("follow-up-kinds", item["kind"])
        follow.append(concept(coding(kind.system, kind.code, kind.display), text=item["text"]))
    if follow:
        res["followUp"] = follow
    if a.get("history"):
        res["note"] = [{"text": a["history"]}]
    trials = [t["device"] for t in a.get("deviceTrials", ())]
    if trials:
        res["usedCode"] = [_device_concept(d, ctx) for d in trials]
    ctx.add("procedure", res, ctx.root)


def _device_concept(device: dict, ctx) -> dict:
    if device.get("hcpcs"):
        c = ctx.cat.devices[device["hcpcs"]]
        return concept(coding(c.system, c.code, c.display), text=device["description"])
    return concept(text=device["description"])


def split_datetime(value: str) -> tuple[str, str, str] | None:
    """``2026-11-02T09:05:00-05:00`` → (date, time, offset); seconds kept only when not zero."""
    m = _DATETIME.match(value or "")
    if not m:
        return None
    d, hhmm, ss, off = m.groups()
    return d, hhmm if ss == "00" else f"{hhmm}:{ss}", off


def session_from_fhir(res: dict) -> tuple[dict, list[str]]:
    problems = []
    out: dict = {}
    period = res.get("performedPeriod") or {}
    start, end = split_datetime(period.get("start")), split_datetime(period.get("end"))
    if start is None or end is None:
        problems.append("performedPeriod")
    else:
        out.update(date=start[0], startTime=start[1], endTime=end[1], utcOffset=start[2])
    minutes = next((e.get("valueQuantity", {}).get("value") for e in res.get("extension") or []
                    if e.get("url") == systems.EXT_TIMED_MINUTES), None)
    if minutes is None:
        problems.append(f"extension('{systems.EXT_TIMED_MINUTES}')")
    else:
        out["timedMinutes"] = minutes
    return out, problems


def follow_up_from_fhir(res: dict, cat) -> list[dict]:
    out = []
    for item in res.get("followUp") or []:
        kind = None
        for c in item.get("coding", []):
            kind = cat.concept_key("follow-up-kinds", c) or kind
        if item.get("text"):
            out.append({"kind": kind or "follow-up", "text": item["text"]})
    return out


def discipline_from_fhir(res: dict, cat) -> str | None:
    for performer in res.get("performer") or []:
        for c in (performer.get("function") or {}).get("coding", []):
            key = cat.concept_key("disciplines", c)
            if key:
                return key
    return None
