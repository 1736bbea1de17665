"""Organization: the clinic (NPI when known) and the payer."""

from __future__ import annotations

from ..terminology import systems
from .practitioner import npi_of


def to_fhir(org: dict, key: str, ctx) -> str:
    res = {
        "resourceType": "Organization",
        "meta": {"profile": [systems.PROFILE_ORGANIZATION]},
        "active": True,
        "name": org["name"],
    }
    if org.get("npi"):
        ident = {"system": systems.NPI, "value": org["npi"]}
        res["identifier"] = [ident]
    else:
        ident = ctx.derived(key)
        res["identifier"] = [ident]
    return ctx.add(key, res, ident)


def from_fhir(res: dict) -> dict:
    out: dict = {}
    npi = npi_of(res)
    if npi:
        out["npi"] = npi
    if res.get("name"):
        out["name"] = res["name"]
    return out
