"""State shared by the to-FHIR mappers: deterministic identities and references of the entries."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

from ..terminology.catalog import Catalog

__all__ = ["ToFhir", "derived_value", "given_identifier", "NAMESPACE"]

# Namespace of the uuid5 fullUrls: the same assessment always gives the same bundle.
NAMESPACE = uuid.UUID("5b0c4a0e-6f8e-4c55-9d5e-97755a7a0001")
_NS_BYTES = NAMESPACE.bytes
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9:/|._~-]")


def derived_value(root_value: str, suffix: str) -> str:
    """The business identifier value of a resource derived from the assessment's identifier."""
    return f"{root_value}/{suffix}"


def given_identifier(res: dict, root: dict, suffix: str) -> dict | None:
    """The resource's own business identifier, or None when it only has the one fhir-at derived
    from the assessment's (``<root value>/<suffix>``)."""
    for ident in res.get("identifier") or []:
        if ident.get("system") == root["system"] and ident.get("value") == derived_value(root["value"], suffix):
            return None
        if ident.get("system") and ident.get("value"):
            return {"system": ident["system"], "value": ident["value"]}
    return None


@dataclass
class ToFhir:
    """Collects the entries of the transaction Bundle being built."""

    a: dict
    cat: Catalog
    entries: list = field(default_factory=list)
    refs: dict = field(default_factory=dict)
    period: dict = field(default_factory=dict)  # the session as a FHIR Period, set once

    @property
    def root(self) -> dict:
        return self.a["identifier"]

    def derived(self, suffix: str) -> dict:
        return {"system": self.root["system"], "value": derived_value(self.root["value"], suffix)}

    @staticmethod
    def url_for(rtype: str, identifier: dict) -> str:
        """The deterministic ``urn:uuid`` fullUrl of a resource with this business identifier.

        It is RFC 4122 ``uuid5(NAMESPACE, "Type|system|value")``, computed without building
        ``uuid.UUID`` objects (a hot path: one per entry).
        """
        name = f"{rtype}|{identifier['system']}|{identifier['value']}"
        h = bytearray(hashlib.sha1(_NS_BYTES + name.encode("utf-8")).digest()[:16])
        h[6] = (h[6] & 0x0F) | 0x50
        h[8] = (h[8] & 0x3F) | 0x80
        x = h.hex()
        return f"urn:uuid:{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"

    def add(self, key, resource: dict, identifier: dict) -> str:
        """Adds ``resource`` as a conditional create on ``identifier``; returns its fullUrl."""
        if key in self.refs:
            return self.refs[key]
        rtype = resource["resourceType"]
        full_url = self.url_for(rtype, identifier)
        criteria = f"{identifier['system']}|{identifier['value']}"
        if _NEEDS_QUOTING.search(criteria):
            criteria = quote(criteria, safe=":/|")
        self.entries.append({
            "fullUrl": full_url,
            "resource": resource,
            "request": {"method": "POST", "url": rtype, "ifNoneExist": f"identifier={criteria}"},
        })
        self.refs[key] = full_url
        return full_url

    def ref(self, key) -> dict:
        return {"reference": self.refs[key]}
