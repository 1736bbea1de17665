"""The resources of a FHIR input, indexed for the from-FHIR mappers: by type and by reference."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..issues import Issue, Path
from ..messages import Msg, issue

__all__ = ["ResourceIndex"]


@dataclass
class ResourceIndex:
    """Resources with their location in the input (``Bundle.entry[3].resource``)."""

    by_type: dict[str, list[tuple[dict, str]]] = field(default_factory=dict)
    by_ref: dict[str, dict] = field(default_factory=dict)
    where: dict[int, str] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    def add(self, resource: dict, location: str, full_url: str | None = None) -> None:
        rtype = resource.get("resourceType")
        self.by_type.setdefault(rtype, []).append((resource, location))
        self.where[id(resource)] = location
        if full_url:
            self.by_ref[full_url] = resource
        rid = resource.get("id")
        if rid:
            self.by_ref[f"{rtype}/{rid}"] = resource
            if full_url and not full_url.startswith("urn:"):
                # absolute fullUrl: also index the versionless tail
                self.by_ref.setdefault(full_url.rsplit("/_history/", 1)[0], resource)

    def of_type(self, rtype: str) -> list[dict]:
        return [r for r, _ in self.by_type.get(rtype, ())]

    def location(self, resource: dict) -> str:
        return self.where.get(id(resource), resource.get("resourceType", "?"))

    def lookup(self, ref: dict | None) -> dict | None:
        """The resource a Reference points to, or None when it is not in the input."""
        if not ref or "reference" not in ref:
            return None
        target = ref["reference"]
        found = self.by_ref.get(target)
        if found is None and "/" in target and not target.startswith("urn:"):
            found = self.by_ref.get("/".join(target.rstrip("/").split("/")[-2:]))
        return found

    def resolve(self, ref: dict | None, origin: dict, element: str) -> dict | None:
        """Like :meth:`lookup`, recording an issue when the reference does not resolve."""
        found = self.lookup(ref)
        if found is None and ref and "reference" in ref:
            target = ref["reference"]
            self.issues.append(issue(
                Msg.FHIR_UNRESOLVED_REFERENCE,
                f"reference {target!r} does not resolve to a resource in the input",
                expression=f"{self.location(origin)}.{element}", path=Path()))
        return found
