"""Practitioner: the clinician (NPI, name, credentials), the referrer."""

from __future__ import annotations

from ..model.datatypes import human_name, read_name
from ..terminology import systems


def to_fhir(person: dict, key: str, ctx) -> str:
    """Adds the Practitioner (one per NPI) and returns its fullUrl."""
    npi_key = ("practitioner", person["npi"])
    if npi_key in ctx.refs:
        ctx.refs[key] = ctx.refs[npi_key]
        return ctx.refs[key]
    res = {
        "resourceType": "Practitioner",
        "meta": {"profile": [systems.PROFILE_PRACTITIONER]},
        "identifier": [{"system": systems.NPI, "value": person["npi"]}],
        "name": [human_name(person["name"])],
    }
    if person.get("credentials"):
        res["qualification"] = [{"code": {"text": c}} for c in person["credentials"]]
    url = ctx.add(npi_key, res, {"system": systems.NPI, "value": person["npi"]})
    ctx.refs[key] = url
    return url


def npi_of(res: dict) -> str | None:
    for ident in res.get("identifier") or []:
        if ident.get("system") == systems.NPI and ident.get("value"):
            return ident["value"]
    return None


def from_fhir(res: dict) -> dict:
    out: dict = {}
    npi = npi_of(res)
    if npi:
        out["npi"] = npi
    name = read_name(res.get("name"))
    if name:
        out["name"] = name
    creds = [q["code"]["text"] for q in res.get("qualification") or [] if (q.get("code") or {}).get("text")]
    if creds:
        out["credentials"] = creds
    return out
