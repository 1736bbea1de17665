"""The validator facade: every check layer over one resource.

``Validator().iter_issues(resource)`` is the primitive; ``validate()`` gives an Outcome. Layers,
each a generator of Issues: structure against the base StructureDefinitions (calling the
terminology layer for bindings and offline code checks on the way), invariants (FHIRPath
constraints, including the bdl-*/dom-*/ref-* rules), and the rules of :mod:`bundle_rules` that need
the whole Bundle (references between entries) or the data (Attachment size/hash).
"""

from __future__ import annotations

from functools import cached_property
from typing import Iterator

from ..issues import Issue, IssueCode, Outcome, Severity, Source
from .bundle_rules import check_attachment, iter_bundle_issues, iter_reference_issues
from .packages import R4_CORE, PackageSet

__all__ = ["Validator"]

_EMPTY_IDS = frozenset({"VAL_EMPTY_OBJECT", "VAL_NULL", "VAL_EMPTY_ARRAY", "VAL_EMPTY_STRING"})
_ELE1 = "Constraint failed: ele-1:"


class Validator:
    def __init__(self, packages: tuple[str, ...] | list[str] = (R4_CORE,), *, invariants: bool = True,
                 terminology: bool = True):
        self.package_refs = tuple(packages)
        self.with_invariants = invariants
        self.with_terminology = terminology

    @cached_property
    def definitions(self) -> PackageSet:
        return PackageSet.of(list(self.package_refs))

    @cached_property
    def terminology(self):
        if not self.with_terminology:
            return None
        from .terminology import Terminology

        return Terminology(self.definitions)

    @cached_property
    def structure(self):
        from .structure import StructureValidator

        return StructureValidator(self.definitions, terminology=self.terminology)

    @cached_property
    def invariants(self):
        if not self.with_invariants:
            return None
        from .invariants import InvariantEngine

        return InvariantEngine(self.definitions, member_of=self._member_of if self.terminology else None)

    def _member_of(self, value, valueset_url: str) -> bool | None:
        """FHIRPath memberOf(): True, False, or None when the value set cannot be expanded here."""
        expansion = self.terminology.expand(valueset_url)
        if expansion is None:
            return None
        if isinstance(value, str):
            return expansion.contains(None, value)
        codings = value.get("coding") if isinstance(value, dict) and "coding" in value else [value]
        answers = [expansion.contains(c.get("system"), c.get("code")) for c in codings
                   if isinstance(c, dict) and c.get("code")]
        if any(a is True for a in answers):
            return True
        return None if any(a is None for a in answers) else False

    def iter_issues(self, resource, location: str | None = None) -> Iterator[Issue]:
        if not isinstance(resource, dict):
            yield Issue(Severity.ERROR, IssueCode.STRUCTURE, "VAL_NOT_A_RESOURCE",
                        "expected a JSON object with a resourceType", source=Source.VALIDATOR, expression="$")
            return
        loc = location or str(resource.get("resourceType") or "$")
        refs: list | None = [] if resource.get("resourceType") == "Bundle" else None
        structure = list(self.structure.iter_issues(resource, loc, refs=refs))
        yield from structure
        if self.invariants is not None and isinstance(resource.get("resourceType"), str):
            bundle = resource if resource.get("resourceType") == "Bundle" else None
            # an empty object or a null is already reported by the structure layer: ele-1 at the
            # same place would say it again
            empty = {i.expression for i in structure if i.message_id in _EMPTY_IDS}
            for issue in self.invariants.iter_invariant_issues(resource, location=loc, bundle=bundle):
                if empty and issue.expression in empty and issue.message.startswith(_ELE1):
                    continue
                yield issue
        yield from self._rules(resource, loc, refs)

    def _rules(self, resource: dict, loc: str, refs: list | None = None) -> Iterator[Issue]:
        if self.invariants is None:  # dom-3 and ref-1 otherwise
            yield from iter_reference_issues(resource, loc)
        if resource.get("resourceType") == "DocumentReference":
            for i, c in enumerate(resource.get("content") or []):
                if isinstance(c, dict) and isinstance(c.get("attachment"), dict):
                    yield from check_attachment(c["attachment"], f"{loc}.content[{i}].attachment")
        if resource.get("resourceType") == "Bundle":
            yield from iter_bundle_issues(resource, loc, structural=self.invariants is None, refs=refs)
            for i, e in enumerate(resource.get("entry") or []):
                if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                    yield from self._rules(e["resource"], f"{loc}.entry[{i}].resource")

    def validate(self, resource) -> Outcome:
        return Outcome.of(self.iter_issues(resource))
