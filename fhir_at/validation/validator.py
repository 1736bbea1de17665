"""The validator facade: every check layer over one resource, and OperationOutcomes for inputs.

``Validator().iter_issues(resource)`` is the primitive; ``validate()`` gives an Outcome, and
``outcome_for(document)`` an OperationOutcome with line/column for a document read from a file.
Layers, each a generator of Issues: structure (the base StructureDefinitions), invariants
(FHIRPath constraints), terminology (bindings and offline code checks, called by the structure
walker), and the multi-element rules of :mod:`bundle_rules`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Iterator

from ..issues import Issue, Outcome, Severity
from .bundle_rules import check_attachment, iter_bundle_issues, iter_reference_issues
from .packages import R4_CORE, PackageSet

__all__ = ["Validator"]


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
    def _structure(self):
        from . import structure

        return structure

    def iter_issues(self, resource, location: str | None = None) -> Iterator[Issue]:
        if not isinstance(resource, dict):
            from ..issues import IssueCode, Source

            yield Issue(Severity.ERROR, IssueCode.STRUCTURE, "VAL_NOT_A_RESOURCE",
                        "expected a JSON object with a resourceType", source=Source.VALIDATOR, expression="$")
            return
        loc = location or str(resource.get("resourceType") or "$")
        yield from self._structure_issues(resource, loc)
        yield from self._rules(resource, loc)

    def _structure_issues(self, resource: dict, loc: str) -> Iterator[Issue]:
        try:
            layer = self._structure
        except ImportError:  # the structure layer is not there yet
            return
        yield from layer.iter_structure_issues(resource, loc)

    def _rules(self, resource: dict, loc: str) -> Iterator[Issue]:
        yield from iter_reference_issues(resource, loc)
        if resource.get("resourceType") == "DocumentReference":
            for i, c in enumerate(resource.get("content") or []):
                if isinstance(c, dict) and isinstance(c.get("attachment"), dict):
                    yield from check_attachment(c["attachment"], f"{loc}.content[{i}].attachment")
        if resource.get("resourceType") == "Bundle":
            yield from iter_bundle_issues(resource, loc)
            for i, e in enumerate(resource.get("entry") or []):
                if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                    yield from self._rules(e["resource"], f"{loc}.entry[{i}].resource")

    def validate(self, resource) -> Outcome:
        return Outcome.of(self.iter_issues(resource))
