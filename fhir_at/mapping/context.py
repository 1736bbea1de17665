"""State shared by the to-FHIR mappers: deterministic identities and references of the entries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

from ..terminology.catalog import Catalog

__all__ = ["ToFhir", "derived_value", "NAMESPACE"]

# Namespace of the uuid5 fullUrls: the same assessment always gives the same bundle.
NAMESPACE = uuid.UUID("5b0c4a0e-6f8e-4c55-9d5e-97755a7a0001")


def derived_value(root_value: str, suffix: str) -> str:
    """The business identifier value of a resource derived from the assessment's identifier."""
    return f"{root_value}/{suffix}"


@dataclass
class ToFhir:
    """Collects the entries of the transaction Bundle being built."""

    a: dict
    cat: Catalog
    entries: list = field(default_factory=list)
    refs: dict = field(default_factory=dict)

    @property
    def root(self) -> dict:
        return self.a["identifier"]

    def derived(self, suffix: str) -> dict:
        return {"system": self.root["system"], "value": derived_value(self.root["value"], suffix)}

    @staticmethod
    def url_for(rtype: str, identifier: dict) -> str:
        """The deterministic ``urn:uuid`` fullUrl of a resource with this business identifier."""
        name = f"{rtype}|{identifier['system']}|{identifier['value']}"
        return f"urn:uuid:{uuid.uuid5(NAMESPACE, name)}"

    def add(self, key, resource: dict, identifier: dict) -> str:
        """Adds ``resource`` as a conditional create on ``identifier``; returns its fullUrl."""
        if key in self.refs:
            return self.refs[key]
        rtype = resource["resourceType"]
        full_url = self.url_for(rtype, identifier)
        criteria = quote(f"{identifier['system']}|{identifier['value']}", safe=":/|")
        self.entries.append({
            "fullUrl": full_url,
            "resource": resource,
            "request": {"method": "POST", "url": rtype, "ifNoneExist": f"identifier={criteria}"},
        })
        self.refs[key] = full_url
        return full_url

    def ref(self, key) -> dict:
        return {"reference": self.refs[key]}
