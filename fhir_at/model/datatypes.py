"""Builders for the FHIR data types the mappers write (plain dicts, FHIR keys in camelCase)."""

from __future__ import annotations

from ..terminology import systems

__all__ = ["coding", "concept", "quantity", "reference", "human_name", "read_name"]


def coding(system: str, code: str, display: str | None = None) -> dict:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(*codings: dict, text: str | None = None) -> dict:
    out: dict = {}
    if codings:
        out["coding"] = list(codings)
    if text is not None:
        out["text"] = text
    return out


def quantity(value, unit: str | None) -> dict:
    """A UCUM Quantity (us-core-3); without a unit, a bare value."""
    if unit is None:
        return {"value": value}
    return {"value": value, "unit": unit, "system": systems.UCUM, "code": unit}


def reference(target: str, display: str | None = None) -> dict:
    out = {"reference": target}
    if display:
        out["display"] = display
    return out


def human_name(name: dict) -> dict:
    out = {"family": name["family"]}
    if name.get("given"):
        out["given"] = list(name["given"])
    return out


def read_name(names: list | None) -> dict | None:
    if not names:
        return None
    name = names[0]
    out = {"family": name.get("family")}
    if name.get("given"):
        out["given"] = list(name["given"])
    return out if out["family"] else None
