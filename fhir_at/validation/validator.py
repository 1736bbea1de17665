"""The validator facade: every check layer over one resource.

``Validator().iter_issues(resource)`` is the primitive; ``validate()`` gives an Outcome. Layers,
each a generator of Issues: structure against the base StructureDefinitions (calling the
terminology layer for bindings and offline code checks on the way), invariants (FHIRPath
constraints, including the bdl-*/dom-*/ref-* rules), the rules of :mod:`bundle_rules` that need
the whole Bundle (references between entries) or the data (Attachment size/hash), and profiles
(:mod:`profiles`): every resource -- Bundle entries and contained ones included -- against the
profiles its ``meta.profile`` claims (an unknown one: a warning, as the HL7 validator does), and
the top-level resource against the ``profiles`` given for its type.
"""

from __future__ import annotations

from functools import cached_property
from typing import Iterator

from ..issues import Issue, IssueCode, Outcome, Severity, Source
from ..messages import Msg, issue
from .bundle_rules import check_attachment, iter_bundle_issues, iter_reference_issues
from .packages import R4_CORE, PackageSet

__all__ = ["Validator"]

_EMPTY_IDS = frozenset({"VAL_EMPTY_OBJECT", "VAL_NULL", "VAL_EMPTY_ARRAY", "VAL_EMPTY_STRING"})
_ELE1 = "Constraint failed: ele-1:"


class Validator:
    def __init__(self, packages: tuple[str, ...] | list[str] = (R4_CORE,), *, invariants: bool = True,
                 terminology: bool = True, profiles: tuple[str, ...] | list[str] = (), claims: bool = True,
                 extensions: bool = True, must_support: bool = False):
        self.package_refs = tuple(packages)
        self.with_invariants = invariants
        self.with_terminology = terminology
        self.profile_urls = tuple(profiles)   # canonical URLs (url or url|version) to validate against
        self.with_claims = claims             # meta.profile claims validated
        self.with_extensions = extensions     # extensions checked against their definitions
        self.must_support = must_support

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

        return InvariantEngine(self.definitions, member_of=self._member_of if self.terminology else None,
                               conforms_to=self._conforms_to)

    def _conforms_to(self, value, profile_url: str) -> bool | None:
        """FHIRPath conformsTo(): True, False, or None when the profile is not loaded."""
        data = getattr(value, "data", value)
        if not isinstance(data, dict):
            return None
        return self.profiles.conforms(data, profile_url, resource=data if "resourceType" in data else None)

    def options(self) -> dict:
        """The keyword arguments that make another Validator like this one (for worker processes)."""
        return {"invariants": self.with_invariants, "terminology": self.with_terminology,
                "profiles": self.profile_urls, "claims": self.with_claims, "extensions": self.with_extensions,
                "must_support": self.must_support}

    @cached_property
    def profiles(self):
        from .profiles import ProfileValidator

        pv = ProfileValidator(self.definitions, terminology=self.terminology, invariants=self.invariants,
                              must_support=self.must_support)
        pv.sweep_extensions = self.with_extensions
        return pv

    def unknown_profiles(self) -> list[str]:
        """The profiles given to this validator that no loaded package defines."""
        return [p for p in self.profile_urls if self.profiles.profile(p) is None]

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

    def iter_issues(self, resource, location: str | None = None, *,
                    profiles: tuple[str, ...] | None = None) -> Iterator[Issue]:
        """Every issue of ``resource``; ``profiles`` replaces the validator's own for this call."""
        if not isinstance(resource, dict):
            yield Issue(Severity.ERROR, IssueCode.STRUCTURE, "VAL_NOT_A_RESOURCE",
                        "expected a JSON object with a resourceType", source=Source.VALIDATOR, expression="$")
            return
        loc = location or str(resource.get("resourceType") or "$")
        refs: list | None = [] if resource.get("resourceType") == "Bundle" else None
        extensions: list | None = [] if self.with_extensions else None
        structure = list(self.structure.iter_issues(resource, loc, refs=refs, extensions=extensions))
        yield from structure
        if self.invariants is not None and isinstance(resource.get("resourceType"), str):
            bundle = resource if resource.get("resourceType") == "Bundle" else None
            # an empty object or a null is already reported by the structure layer: ele-1 at the
            # same place would say it again
            empty = {i.expression for i in structure if i.message_id in _EMPTY_IDS}
            for found in self.invariants.iter_invariant_issues(resource, location=loc, bundle=bundle):
                if empty and found.expression in empty and found.message.startswith(_ELE1):
                    continue
                yield found
        yield from self._rules(resource, loc, refs)
        given = self.profile_urls if profiles is None else tuple(profiles)
        if given or self.with_claims or extensions:
            yield from self._profile_issues(resource, loc, given, extensions or ())

    def _profile_issues(self, resource: dict, loc: str, given_urls: tuple[str, ...],
                        extensions) -> Iterator[Issue]:
        pv = self.profiles
        pv.begin()
        seen: set = set()
        try:
            if extensions:
                bundle = resource if resource.get("resourceType") == "Bundle" else None
                for ext, where, host, is_resource in extensions:
                    try:
                        found_issues = pv.check_extension(ext, where, host, is_resource, resource=resource,
                                                          bundle=bundle)
                    except Exception as exc:  # noqa: BLE001 - a broken extension definition
                        found_issues = [issue(Msg.VAL_PROFILE_BROKEN, f"the definition of extension {ext.get('url')} "
                                              f"could not be applied ({type(exc).__name__}: {str(exc)[:200]})",
                                              source=Source.VALIDATOR, expression=where)]
                    for found in found_issues:
                        key = (found.message_id, found.expression, found.message)
                        if key not in seen:
                            seen.add(key)
                            yield found
            for res, where, bundle in _resources(resource, loc, None):
                rt = res.get("resourceType")
                meta = res.get("meta")
                claims = meta.get("profile") if isinstance(meta, dict) and self.with_claims else None
                wanted = [(p, False) for p in claims if isinstance(p, str)] if isinstance(claims, list) else []
                if where == loc and given_urls:
                    given = [p for p in given_urls if (pv.profile(p) is None or pv.profile(p).type == rt)]
                    if not given:
                        yield issue(Msg.VAL_PROFILE_WRONG_TYPE, f"none of the profiles given is for a {rt} "
                                    f"({', '.join(given_urls)}): validated against its claims only",
                                    severity=Severity.INFORMATION, source=Source.VALIDATOR, expression=where)
                    wanted = [(p, True) for p in given] + wanted
                for canonical, explicit in dict.fromkeys(wanted):
                    if not explicit and (canonical, True) in wanted:
                        continue
                    profile = pv.profile(canonical)
                    if profile is None:
                        yield issue(Msg.VAL_PROFILE_UNKNOWN, f"profile {canonical} is not loaded: the resource was not "
                                    "checked against it (its package is not loaded)", source=Source.VALIDATOR,
                                    severity=Severity.ERROR if explicit else Severity.WARNING, expression=where)
                        continue
                    if profile.type != rt:
                        yield issue(Msg.VAL_PROFILE_WRONG_TYPE, f"profile {canonical} constrains {profile.type}, "
                                    f"not {rt}", source=Source.VALIDATOR, expression=where)
                        continue
                    try:
                        found_issues = pv.iter_issues(res, canonical, where, bundle=bundle)
                    except Exception as exc:  # noqa: BLE001 - a broken profile must not stop the validation
                        found_issues = [issue(Msg.VAL_PROFILE_BROKEN, f"profile {canonical} could not be applied "
                                              f"({type(exc).__name__}: {str(exc)[:200]}); the resource was "
                                              "checked against everything else", source=Source.VALIDATOR,
                                              expression=where)]
                    for found in found_issues:
                        key = (found.message_id, found.expression, found.message)
                        if key not in seen:
                            seen.add(key)
                            yield found
        finally:
            pv.end()

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

    def validate(self, resource, *, profiles: tuple[str, ...] | None = None) -> Outcome:
        return Outcome.of(self.iter_issues(resource, profiles=profiles))


def _resources(resource: dict, loc: str, bundle: dict | None) -> Iterator[tuple[dict, str, dict | None]]:
    """``(resource, location, enclosing Bundle)`` of a resource and every resource inside it."""
    yield resource, loc, bundle
    rt = resource.get("resourceType")
    if rt == "Bundle":
        for i, e in enumerate(resource.get("entry") or ()):
            if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                yield from _resources(e["resource"], f"{loc}.entry[{i}].resource", resource)
    contained = resource.get("contained")
    if isinstance(contained, list):
        for i, c in enumerate(contained):
            if isinstance(c, dict) and isinstance(c.get("resourceType"), str):
                yield c, f"{loc}.contained[{i}]", bundle
