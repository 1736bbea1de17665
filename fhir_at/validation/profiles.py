"""Validation against profiles: StructureDefinitions that constrain a resource or a datatype.

:class:`ProfileValidator` compiles a profile once (its snapshot, generated from the differential
when the package has none, as a tree of :class:`~.profile_model.Elem`) and walks an instance with
it, reporting what the profile adds to the base specification (which the other layers check):

- cardinality tighter than the base (``min``/``max``, ``max = 0``), per element and per slice;
- types: a choice narrowed to fewer types, ``type.profile`` (the value must conform to one of
  them: datatype profiles, extension definitions), ``targetProfile`` on references (the target's
  type; its conformance when it resolves inside the Bundle);
- ``fixed[x]`` (exactly equal) and ``pattern[x]`` (the instance contains the pattern, at any depth);
- bindings other than the base's, with their strength (through the terminology layer);
- constraints the base does not have (FHIRPath, through the invariant engine);
- slicing: discriminators ``value``, ``pattern``, ``type``, ``profile`` and ``exists`` on paths
  such as ``$this``, ``code``, ``coding.code``, ``url``, ``resource``, ``resolve()``,
  ``extension('url').value``, ``ofType(T)``; rules closed / open / openAtEnd; ordered slicing;
  re-slicing; extension slices by url;
- extensions that no slice describes: validated against their definition when it is loaded
  (where they may be used included), a warning when it is not;
- mustSupport elements that are absent, as information (optional).

Every message names the profile, the element (``Observation.category:us-core``) and, for a slice,
what an item must look like to belong to it; ``expression`` is the FHIRPath of the instance.
A profile that cannot be used (no snapshot can be made, no element) gives one issue naming it; the
instance is still checked by the other layers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable

from ..issues import Issue, Severity, Source
from ..messages import Msg, issue
from ..terminology.systems import FHIR_SD_BASE
from .bundle_rules import entry_index, find_entry
from .profile_model import Elem, Profile, TypeRef, build_tree

__all__ = ["ProfileValidator"]

_ANY_CONTEXT = frozenset({"Element", "Base"})
_EXTENSION_ELEMENTS = frozenset({"extension", "modifierExtension"})
_RESOURCE_CONTEXT = frozenset({"Resource", "DomainResource"})


_NO_PROFILE = Profile("", None, "none", "", "", Elem("", "", "", 0, -1, 0, -1, (), {}))


@dataclass
class _Ctx:
    profile: Profile
    resource: dict                   # %resource: the resource being checked
    bundle: dict | None              # where references resolve
    out: list = field(default_factory=list)


def _add(ctx: _Ctx, msg: Msg, text: str, where: str, severity: Severity = Severity.ERROR) -> None:
    suffix = f" (profile {ctx.profile.name})" if ctx.profile is not _NO_PROFILE else ""
    ctx.out.append(issue(msg, text + suffix, severity=severity, source=Source.VALIDATOR, expression=where))


def _short(value, limit: int = 160) -> str:
    import orjson

    text = orjson.dumps(value).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _equal(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _contains(value, pattern) -> bool:
    """``value`` holds everything ``pattern`` holds (FHIR pattern[x] semantics)."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(k in value and _contains(value[k], p) for k, p in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(_contains(v, p) for v in items) for p in pattern)
    if isinstance(value, list):
        return any(_contains(v, pattern) for v in value)
    return _equal(value, pattern)


@lru_cache(maxsize=4096)
def _split_path(path: str) -> tuple[str, ...]:
    parts, depth, cur = [], 0, []
    for ch in path:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "." and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return tuple(p for p in parts if p and p != "$this")


def _arg(seg: str) -> str:
    inner = seg[seg.index("(") + 1:seg.rindex(")")].strip()
    return inner.strip("'\"")


def _child_values(value, name: str) -> list:
    if not isinstance(value, dict):
        return []
    found = value.get(name)
    if found is None:
        for key, v in value.items():   # a choice: value -> valueQuantity…
            if key.startswith(name) and key[len(name):len(name) + 1].isupper():
                found = v
                break
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


@dataclass
class _Item:
    value: object
    ext: object
    where: str
    type: str                        # FHIR type of the value ("" when unknown)


class ProfileValidator:
    """Validates instances against profiles found through ``definitions(url)``."""

    def __init__(self, definitions: Callable[[str], dict | None], *, terminology=None, invariants=None,
                 must_support: bool = False):
        self._definitions = definitions
        self.terminology = terminology
        self.invariants = invariants
        self.must_support = must_support
        # True when every extension of the instances is checked elsewhere (the Validator's sweep):
        # extensions no slice describes need not be checked again on profile walks
        self.sweep_extensions = False
        self._profiles: dict[str, Profile | None] = {}
        self._problems: dict[str, list[Issue]] = {}
        self._core: dict[str, dict[str, dict]] = {}
        self._slice_cache: dict[tuple, object] = {}   # (id(slice Elem), path, what) -> answer
        self._lock = threading.RLock()
        self._local = threading.local()

    # -- profiles ----------------------------------------------------------------------------------
    def profile(self, canonical: str) -> Profile | None:
        """The compiled profile of ``canonical`` (``url`` or ``url|version``), ``None`` if unknown."""
        try:
            return self._profiles[canonical]
        except KeyError:
            pass
        with self._lock:
            if canonical not in self._profiles:
                self._profiles[canonical] = self._compile(canonical)
        return self._profiles[canonical]

    def problems(self, canonical: str) -> list[Issue]:
        """Issues about the profile itself (found when it was compiled)."""
        self.profile(canonical)
        return self._problems.get(canonical, [])

    def _compile(self, canonical: str) -> Profile | None:
        url, _, version = canonical.partition("|")
        sd = self._definitions(url)
        if not isinstance(sd, dict) or sd.get("resourceType") != "StructureDefinition":
            return None
        name = url.rsplit("/", 1)[-1]
        problems: list[Issue] = []
        if version and sd.get("version") and sd["version"] != version:
            problems.append(issue(Msg.VAL_PROFILE_VERSION, f"profile {url} is loaded in version {sd['version']}, "
                                  f"not {version}: validated against {sd['version']}", severity=Severity.WARNING,
                                  source=Source.VALIDATOR))
        elements = (sd.get("snapshot") or {}).get("element") if isinstance(sd.get("snapshot"), dict) else None
        if not elements:
            from .snapshot import generate_snapshot

            elements, found = generate_snapshot(sd, self._definitions)
            problems.extend(found)
        try:
            root = build_tree(elements or [], self._base_element)
        except (ValueError, TypeError, AttributeError) as exc:
            problems.append(issue(Msg.VAL_PROFILE_BROKEN, f"profile {url} cannot be used: {exc}",
                                  severity=Severity.ERROR, source=Source.VALIDATOR))
            self._problems[canonical] = problems
            return Profile(url, sd.get("version"), name, str(sd.get("type") or ""), str(sd.get("kind") or ""),
                           Elem("", "", "", 0, -1, 0, -1, (), {}), problems=tuple(problems))
        self._problems[canonical] = problems
        context = tuple(c for c in sd.get("context") or () if isinstance(c, dict))
        return Profile(url, sd.get("version"), name, str(sd.get("type") or root.path), str(sd.get("kind") or ""),
                       root, context, tuple(problems))

    def _base_element(self, path: str) -> dict | None:
        type_name = path.split(".", 1)[0]
        table = self._core.get(type_name)
        if table is None:
            sd = self._definitions(FHIR_SD_BASE + type_name) or {}
            table = {e.get("path"): e for e in (sd.get("snapshot") or {}).get("element") or ()
                     if isinstance(e, dict) and "sliceName" not in e}
            self._core[type_name] = table
        return table.get(path)

    # -- entry points --------------------------------------------------------------------------
    def iter_issues(self, instance: dict, canonical: str, location: str, *, bundle: dict | None = None,
                    resource: dict | None = None) -> list[Issue]:
        """Issues of ``instance`` (a resource, or a datatype value with ``resource`` holding it)
        against the profile ``canonical``; ``[]`` for an unknown profile (the caller says so)."""
        profile = self.profile(canonical)
        if profile is None:
            return []
        cache = getattr(self._local, "issues", None)
        if cache is None or not isinstance(instance, dict):
            return self._issues(instance, profile, location, bundle, resource)
        known = cache.get((id(instance), canonical))
        if known is None:
            found = self._issues(instance, profile, location, bundle, resource)
            cache[(id(instance), canonical)] = (found, instance, location)
            return found
        found, _, at = known      # walked already in this document (a slice, a conformance test)
        if at == location:
            return list(found)
        return [replace(i, expression=location + i.expression[len(at):])
                if i.expression and i.expression.startswith(at) else i for i in found]

    def _issues(self, instance, profile: Profile, location: str, bundle, resource) -> list[Issue]:
        ctx = _Ctx(profile, resource if resource is not None else instance, bundle)
        ctx.out.extend(replace(p, expression=location) for p in profile.problems)
        if not profile.root.path:
            return ctx.out
        self._value_rules(profile.root, _Item(instance, None, location, profile.type), ctx)
        return ctx.out

    def conforms(self, instance, canonical: str, *, bundle: dict | None = None, resource: dict | None = None,
                 type_name: str = "") -> bool | None:
        """Whether ``instance`` meets ``canonical`` (no error); ``None`` when the profile is unknown.
        Results are remembered for the validation under way (same objects, same profile)."""
        profile = self.profile(canonical)
        if profile is None:
            return None
        cache = getattr(self._local, "conforms", None)
        own = cache is None
        if own:
            cache = self._local.conforms = {}
        try:
            key = (id(instance), canonical)
            if key in cache:
                return cache[key][0]
            cache[key] = (True, instance)        # a reference cycle reaching back here conforms
            walked = (getattr(self._local, "issues", None) or {}).get(key)
            found = walked[0] if walked is not None else self._issues(instance, profile, "$", bundle, resource)
            ok = not any(i.severity in (Severity.ERROR, Severity.FATAL) for i in found)
            cache[key] = (ok, instance)          # keeps the instance alive: its id stays its own
            issues = getattr(self._local, "issues", None)
            if issues is not None:
                issues.setdefault(key, (found, instance, "$"))
            return ok
        finally:
            if own:
                self._local.conforms = None

    def begin(self) -> None:
        """Start of one document's validation: conformance results are remembered until :meth:`end`."""
        self._local.conforms = {}
        self._local.issues = {}

    def end(self) -> None:
        self._local.conforms = None
        self._local.issues = None
        self._local.index = None

    # -- walking --------------------------------------------------------------------------------
    def _object(self, obj, node: Elem, loc: str, ctx: _Ctx) -> None:
        """The children of one object: those the instance has (found by its keys), and those the
        profile requires; the others cannot break anything."""
        if not isinstance(obj, dict):
            return
        if node.by_key is None:
            node.index_children()
        by_key, by_choice = node.by_key, node.by_choice
        done: set[int] = set()
        for key in obj:
            child = by_key.get(key)
            if child is None:
                if not by_choice:
                    continue
                name = key[1:] if key[:1] == "_" else key
                for base, candidate in by_choice.items():
                    if name.startswith(base) and name[len(base):len(base) + 1].isupper():
                        child = candidate
                        break
                if child is None:
                    continue
            if id(child) in done:
                continue
            done.add(id(child))
            if child.quiet and (self.sweep_extensions or child.name not in _EXTENSION_ELEMENTS):
                continue
            self._element(child, self._items(obj, child, loc), node, loc, ctx)
        for child in node.required:
            if id(child) not in done:
                self._element(child, [], node, loc, ctx)
        if self.must_support:
            for child in node.children:
                if child.must_support and id(child) not in done and child not in node.required:
                    self._element(child, [], node, loc, ctx)

    def _items(self, obj: dict, elem: Elem, loc: str) -> list[_Item]:
        items: list[_Item] = []
        base = elem.choice_base
        if base is not None:
            for key, value in obj.items():
                if key[:1] == "_":          # a primitive with extensions only (no value)
                    if key[1:] in obj:
                        continue
                    key, value = key[1:], None
                if key.startswith(base) and key[len(base):len(base) + 1].isupper():
                    type_code = key[len(base)].lower() + key[len(base) + 1:]
                    if type_code not in _PRIMITIVE_NAMES:
                        type_code = key[len(base):]
                    items.extend(self._spread(value, obj.get("_" + key), f"{loc}.{base}.ofType({type_code})",
                                              type_code))
            return items
        key, type_code = elem.key
        value = obj.get(key)
        ext = obj.get("_" + key)
        if value is None and ext is None:
            return items
        return self._spread(value, ext, f"{loc}.{key}", type_code)

    @staticmethod
    def _spread(value, ext, where: str, type_code: str) -> list[_Item]:
        if isinstance(value, list) or isinstance(ext, list):
            values = value if isinstance(value, list) else []
            exts = ext if isinstance(ext, list) else []
            return [_Item(values[i] if i < len(values) else None, exts[i] if i < len(exts) else None,
                          f"{where}[{i}]", type_code)
                    for i in range(max(len(values), len(exts)))
                    if (i < len(values) and values[i] is not None) or (i < len(exts) and exts[i] is not None)]
        return [_Item(value, ext, where, type_code)]

    def _element(self, elem: Elem, items: list[_Item], parent: Elem, loc: str, ctx: _Ctx) -> None:
        for item in items:
            if isinstance(item.value, dict) and "resourceType" in item.value:
                item.type = str(item.value.get("resourceType"))
        if elem.tightens_cardinality() or (elem.max == 0 and items):
            self._cardinality(elem, len(items), loc, items, ctx)
        if self.must_support and elem.must_support and not items and elem.min == 0:
            _add(ctx, Msg.VAL_PROFILE_MUST_SUPPORT, f"{elem.label} is mustSupport and absent", loc,
                 Severity.INFORMATION)
        if elem.slicing is not None and elem.slices:
            unmatched = self._slices(elem, items, loc, ctx, parent)
        elif elem.inert and (self.sweep_extensions or elem.name not in _EXTENSION_ELEMENTS):
            return      # the base layers check these values; the extension sweep their extensions
        else:
            unmatched = items
        for item in unmatched:
            self._value_rules(elem, item, ctx, host=parent)

    def _cardinality(self, elem: Elem, n: int, loc: str, items: list[_Item], ctx: _Ctx, in_slice: str = "") -> None:
        if n < elem.min:
            _add(ctx, Msg.VAL_PROFILE_MIN, f"{elem.label}: minimum required = {elem.min}, but only found {n}"
                 + in_slice, loc)
        if elem.max != -1 and n > elem.max:
            _add(ctx, Msg.VAL_PROFILE_MAX, f"{elem.label}: max allowed = {elem.max}, but found {n}" + in_slice,
                 items[elem.max].where.rsplit("[", 1)[0] if elem.max < len(items) else loc)

    # -- one value ------------------------------------------------------------------------------
    def _value_rules(self, elem: Elem, item: _Item, ctx: _Ctx, host: Elem | None = None) -> None:
        value = item.value
        if elem.types and item.type and elem.path.count(".") > 0:
            allowed = elem.type_codes
            if item.type not in allowed and not _type_fits(item.type, allowed):
                _add(ctx, Msg.VAL_PROFILE_TYPE, f"{elem.label}: type {item.type} is not allowed here (allowed: "
                     f"{', '.join(allowed)})", item.where)
                return
        if elem.fixed is not None and value is not None and not _equal(value, elem.fixed[1]):
            _add(ctx, Msg.VAL_PROFILE_FIXED, f"{elem.label}: the value must be exactly {_short(elem.fixed[1])} "
                 f"({elem.fixed[0]}), not {_short(value)}", item.where)
        if elem.pattern is not None and value is not None and not _contains(value, elem.pattern[1]):
            _add(ctx, Msg.VAL_PROFILE_PATTERN, f"{elem.label}: the value must contain {_short(elem.pattern[1])} "
                 f"({elem.pattern[0]}); found {_short(value)}", item.where)
        if elem.binding is not None and value is not None and self.terminology is not None \
                and item.type in ("code", "Coding", "CodeableConcept", "string", "uri", ""):
            for found in self.terminology.check_binding(value, elem.binding[0], elem.binding[1], item.where,
                                                        check_codings=False):
                ctx.out.append(replace(found, message=f"{found.message} (profile {ctx.profile.name}, "
                                                      f"{elem.label})"))
        if elem.constraints and self.invariants is not None:
            self._constraints(elem, item, ctx)
        if item.type == "Reference" and isinstance(value, dict):
            self._reference(elem, item, ctx)
        if elem.children and isinstance(value, dict):
            self._object(value, elem, item.where, ctx)
        if isinstance(value, dict):
            self._type_profiles(elem, item, ctx, host)

    def _type_profiles(self, elem: Elem, item: _Item, ctx: _Ctx, host: Elem | None) -> None:
        refs = [t for t in elem.types if t.profiles and (t.code == item.type or len(elem.types) == 1)]
        profiles = [p for t in refs for p in t.profiles if not p.startswith(FHIR_SD_BASE + t.code)]
        if not profiles:
            if item.type == "Extension" and elem.name in ("extension", "modifierExtension") and not elem.children:
                self._extension(item, ctx, host)
            return
        resource_item = "resourceType" in item.value
        target = item.value if resource_item else ctx.resource
        if len(profiles) == 1:
            known = self.profile(profiles[0])
            if known is None:
                _add(ctx, Msg.VAL_PROFILE_UNKNOWN, f"{elem.label}: profile {profiles[0]} is not loaded; the value "
                     "was not checked against it", item.where, Severity.WARNING)
                return
            if known.type == "Extension":
                self._check_context(known, item, ctx, host)
            ctx.out.extend(self.iter_issues(item.value, profiles[0], item.where, bundle=ctx.bundle, resource=target))
            return
        claimed = (item.value.get("meta") or {}).get("profile") if resource_item else None
        if isinstance(claimed, list):     # the profile the resource says it meets first: usually the one
            profiles = sorted(profiles, key=lambda p: p not in claimed)
        if not any(self.conforms(item.value, p, bundle=ctx.bundle, resource=target) is True for p in profiles):
            _add(ctx, Msg.VAL_PROFILE_TYPE, f"{elem.label}: the value conforms to none of the profiles "
                 f"{', '.join(profiles)}", item.where)

    def check_extension(self, extension: dict, where: str, host_path: str, host_is_resource: bool, *,
                        resource: dict, bundle: dict | None = None) -> list[Issue]:
        """An extension met anywhere (not under a profile) against its definition, when loaded: its
        value, its parts, and the context it may be used in; a warning when it is not loaded."""
        url = extension.get("url")
        if not isinstance(url, str):
            return []
        known = self.profile(url)
        ctx = _Ctx(known if known is not None else _NO_PROFILE, resource, bundle)
        types = () if host_is_resource else (TypeRef("BackboneElement" if "." in host_path else host_path),)
        host = Elem(host_path, host_path, host_path.rsplit(".", 1)[-1], 0, -1, 0, -1, types, {})
        self._extension(_Item(extension, None, where, "Extension"), ctx, host)
        return ctx.out

    def _extension(self, item: _Item, ctx: _Ctx, host: Elem | None) -> None:
        url = item.value.get("url")
        if not isinstance(url, str):
            return
        known = self.profile(url)
        if known is None or known.type != "Extension":
            # a modifier extension must be understood to process the resource: unknown, an error
            severity = Severity.ERROR if ".modifierExtension[" in item.where else Severity.WARNING
            # (said the same way whether a profile walk or the extension sweep meets it: one issue)
            _add(_Ctx(_NO_PROFILE, ctx.resource, ctx.bundle, ctx.out), Msg.VAL_PROFILE_EXTENSION_UNKNOWN,
                 f"extension {url} is not known: it cannot be checked"
                 + (" (a modifier extension: the resource cannot be processed safely without it)"
                    if severity is Severity.ERROR else ""),
                 item.where, severity)
            return
        self._check_context(known, item, ctx, host)
        ctx.out.extend(self.iter_issues(item.value, url, item.where, bundle=ctx.bundle, resource=ctx.resource))

    def _check_context(self, ext: Profile, item: _Item, ctx: _Ctx, host: Elem | None) -> None:
        if not ext.context or host is None:
            return
        host_types = set(host.type_codes) | {host.path}
        if "." not in host.path and host.path[:1].isupper() and not host.type_codes:
            host_types |= _RESOURCE_CONTEXT
        datatype = "." not in host.path and bool(host.type_codes) or host.path[:1].islower()
        for c in ext.context:
            expr = c.get("expression")
            if c.get("type") != "element" or not isinstance(expr, str) or expr in _ANY_CONTEXT or expr in host_types:
                return
            if datatype and "." in expr:      # an element path, met inside a datatype: not decidable here
                return
            if expr == "BackboneElement" and "BackboneElement" in host.type_codes:
                return
        where = ", ".join(str(c.get("expression")) for c in ext.context)
        # The R4 specification uses several of its own extensions outside their declared context
        # (structuredefinition-fhir-type on ElementDefinition.type in every core snapshot,
        # structuredefinition-normative-version on ValueSet and CodeSystem): for those a warning.
        core = ext.url.startswith(FHIR_SD_BASE)
        _add(_Ctx(ext, ctx.resource, ctx.bundle, ctx.out), Msg.VAL_PROFILE_EXTENSION_CONTEXT,
             f"extension {ext.url} is not allowed on {host.path} "
             f"(its context: {where})", item.where, Severity.WARNING if core else Severity.ERROR)

    def _reference(self, elem: Elem, item: _Item, ctx: _Ctx) -> None:
        targets = [p for t in elem.types if t.code == "Reference" for p in t.targets]
        ref = item.value.get("reference")
        if not targets or not isinstance(ref, str) or ref.startswith("#"):
            return
        known = {p: self.profile(p) for p in targets}
        allowed_types = {prof.type if prof is not None else p[len(FHIR_SD_BASE):] if p.startswith(FHIR_SD_BASE)
                         else "?" for p, prof in known.items()}
        if "Resource" in allowed_types or "?" in allowed_types:
            allowed_types = set()
        resolved = self._resolve(ref, ctx.bundle)
        rtype = resolved.get("resourceType") if resolved is not None else _type_of_reference(ref)
        if rtype and allowed_types and rtype not in allowed_types:
            _add(ctx, Msg.VAL_PROFILE_TARGET, f"{elem.label}: the reference points to a {rtype}, but only "
                 f"{', '.join(sorted(allowed_types))} may be referenced here", item.where + ".reference")
            return
        profiled = [p for p, prof in known.items() if prof is not None and p != FHIR_SD_BASE + prof.type]
        claimed = (resolved.get("meta") or {}).get("profile") if resolved is not None else None
        if isinstance(claimed, list) and any(p in claimed for p in profiled):
            return      # the target claims the profile: it is validated against it where it stands
        if resolved is not None and profiled:
            fitting = [p for p in profiled if known[p].type == rtype]
            if fitting and not any(self.conforms(resolved, p, bundle=ctx.bundle) for p in fitting):
                _add(ctx, Msg.VAL_PROFILE_TARGET, f"{elem.label}: the {rtype} referenced ({ref}) does not conform to "
                     f"{' or '.join(fitting)}", item.where + ".reference")

    def _resolve(self, ref: str, bundle: dict | None) -> dict | None:
        """The entry of ``bundle`` a reference points to (the Bundle's index made once per Bundle)."""
        if not isinstance(bundle, dict):
            return None
        held = getattr(self._local, "index", None)
        if held is None or held[0] is not bundle:
            held = self._local.index = (bundle, entry_index(bundle))
        return find_entry(held[1], ref)

    def _constraints(self, elem: Elem, item: _Item, ctx: _Ctx) -> None:
        data = item.value
        if data is None:
            return
        type_path = data.get("resourceType") if isinstance(data, dict) and "resourceType" in data else (
            item.type if item.type[:1].isupper() and item.type not in ("BackboneElement", "Element") else
            item.type if item.type and not isinstance(data, dict) else elem.path)
        ctx.out.extend(self.invariants.check(elem.constraints, data, type_path=type_path, location=item.where,
                                             source=ctx.profile.name, resource=ctx.resource, bundle=ctx.bundle))

    # -- slicing --------------------------------------------------------------------------------
    def _slices(self, elem: Elem, items: list[_Item], loc: str, ctx: _Ctx, host: Elem | None) -> list[_Item]:
        """Assigns items to slices, checks each slice; returns the items in no slice."""
        slicing = elem.slicing
        groups: dict[int, list[_Item]] = {i: [] for i in range(len(elem.slices))}
        unmatched: list[_Item] = []
        order: list[int] = []
        for item in items:
            hit = None
            for i, s in enumerate(elem.slices):
                if self._matches(elem, s, item, ctx):
                    hit = i
                    break
            if hit is None:
                unmatched.append(item)
                order.append(-1)
                continue
            groups[hit].append(item)
            order.append(hit)
        for i, s in enumerate(elem.slices):
            found = groups[i]
            what = f" in slice '{s.slice_name}' ({self._describe(elem, s)})"
            if len(found) < s.min:
                _add(ctx, Msg.VAL_PROFILE_SLICE_MIN, f"{elem.label}: minimum required = {s.min}, but only found "
                     f"{len(found)}{what}", loc)
            if s.max != -1 and len(found) > s.max:
                _add(ctx, Msg.VAL_PROFILE_SLICE_MAX, f"{elem.label}: max allowed = {s.max}, but found "
                     f"{len(found)}{what}", found[s.max].where)
            rest = self._slices(s, found, loc, ctx, host) if s.slicing is not None and s.slices else found
            for item in rest:          # (re-sliced items were checked against their re-slice)
                self._value_rules(s, item, ctx, host)
        names = ", ".join(f"'{s.slice_name}'" for s in elem.slices)
        if slicing.rules == "closed":
            for item in unmatched:
                _add(ctx, Msg.VAL_PROFILE_SLICE_UNMATCHED, f"{elem.label}: this item belongs to none of the slices "
                     f"({names}) and the slicing is closed", item.where)
        elif slicing.rules == "openAtEnd":
            seen_unmatched = False
            for item, hit in zip(items, order):
                if hit == -1:
                    seen_unmatched = True
                elif seen_unmatched:
                    _add(ctx, Msg.VAL_PROFILE_SLICE_ORDER, f"{elem.label}: items that belong to no slice must come "
                         f"after all the sliced items (openAtEnd)", item.where)
                    break
        if slicing.ordered:
            last = -1
            for item, hit in zip(items, order):
                if hit == -1:
                    continue
                if hit < last:
                    _add(ctx, Msg.VAL_PROFILE_SLICE_ORDER, f"{elem.label}: the slices must come in the order "
                         f"{names}; slice '{elem.slices[hit].slice_name}' comes too late", item.where)
                    break
                last = hit
        return unmatched

    def _matches(self, elem: Elem, s: Elem, item: _Item, ctx: _Ctx) -> bool:
        discriminators = elem.slicing.discriminators if elem.slicing else ()
        if not discriminators:
            return False
        for kind, path in discriminators:
            values = self._navigate([item.value], path, ctx, item)
            target = self._slice_element(s, path)
            if kind in ("value", "pattern"):
                expected = self._expected(s, path)
                if expected is None:      # no fixed value or pattern: a required binding may say
                    if not values or not any(self._bound(target, v) for v in values):
                        return False
                    continue
                is_fixed, want = expected
                if not values:
                    return False
                wanted = want if isinstance(want, list) and not is_fixed else [want]
                if is_fixed:
                    if not any(_equal(v, want) for v in values):
                        return False
                elif not all(any(_contains(v, w) for v in values) for w in wanted):
                    return False
            elif kind == "exists":
                if target is None:
                    return False
                if target.min >= 1 and not values:
                    return False
                if target.max == 0 and values:
                    return False
            elif kind == "type":
                codes = target.type_codes if target is not None else ()
                actual = self._type_at(item, path, values)
                if not codes or actual not in codes:
                    return False
            elif kind == "profile":
                if target is None:
                    return False
                resolve = path.endswith("resolve()")
                profiles = [p for t in target.types for p in (t.targets if resolve else t.profiles)]
                if not profiles or not values:
                    return False
                if not any(self.conforms(v, p, bundle=ctx.bundle, resource=v if "resourceType" in v else ctx.resource)
                           for v in values if isinstance(v, dict) for p in profiles):
                    return False
            else:
                return False
        return True

    def _bound(self, target: Elem | None, value) -> bool:
        """``value`` is in the required value set of ``target`` (a slice discriminated by binding)."""
        b = target.raw.get("binding") if target is not None else None
        if not isinstance(b, dict) or b.get("strength") != "required" or not b.get("valueSet") \
                or self.terminology is None:
            return False
        expansion = self.terminology.expand(b["valueSet"])
        if expansion is None:
            return False
        if isinstance(value, str):
            return expansion.contains(None, value) is True
        codings = value.get("coding") if isinstance(value, dict) and "coding" in value else [value]
        return any(isinstance(c, dict) and expansion.contains(c.get("system"), c.get("code")) is True
                   for c in codings if isinstance(codings, list))

    @staticmethod
    def _type_at(item: _Item, path: str, values: list) -> str:
        if not _split_path(path):
            return item.type
        for v in values:
            if isinstance(v, dict) and "resourceType" in v:
                return str(v["resourceType"])
        return ""

    def _navigate(self, values: list, path: str, ctx: _Ctx, item: _Item) -> list:
        for seg in _split_path(path):
            nxt: list = []
            if seg == "resolve()":
                for v in values:
                    ref = v.get("reference") if isinstance(v, dict) else None
                    target = self._resolve(ref, ctx.bundle) if isinstance(ref, str) else None
                    if target is not None:
                        nxt.append(target)
            elif seg.startswith("extension("):
                url = _arg(seg)
                nxt = [e for v in values for e in _child_values(v, "extension")
                       if isinstance(e, dict) and e.get("url") == url]
            elif seg.startswith("ofType("):
                wanted = _arg(seg)
                nxt = [v for v in values if isinstance(v, dict) and v.get("resourceType") == wanted] or (
                    values if item.type == wanted else [])
            else:
                nxt = [x for v in values for x in _child_values(v, seg)]
            values = nxt
        return values

    def _remembered(self, find, s: Elem, path: str):
        """``find(s, path)``, computed once per slice and path (profiles do not change)."""
        key = (id(s), path, find.__name__)
        try:
            return self._slice_cache[key]
        except KeyError:
            found = self._slice_cache[key] = find(s, path)
            return found

    def _slice_element(self, s: Elem, path: str) -> Elem | None:
        return self._remembered(self._find_slice_element, s, path)

    def _find_slice_element(self, s: Elem, path: str) -> Elem | None:
        node = s
        for seg in _split_path(path):
            if seg in ("resolve()",) or seg.startswith("ofType("):
                continue
            if seg.startswith("extension("):
                url = _arg(seg)
                ext = next((c for c in node.children if c.name == "extension"), None)
                node = next((x for x in (ext.slices if ext else []) if any(url in t.profiles for t in x.types)
                             or _fixed_url(x) == url), None)
            else:
                node = next((c for c in node.children if c.name == seg or (c.is_choice and c.name[:-3] == seg)
                             or (c.name.startswith(seg) and c.name[len(seg):len(seg) + 1].isupper())), None)
            if node is None:
                return None
        return node

    def _expected(self, s: Elem, path: str) -> tuple[bool, object] | None:
        """``(is_fixed, value)`` an item of slice ``s`` has at ``path``."""
        return self._remembered(self._find_expected, s, path)

    def _find_expected(self, s: Elem, path: str) -> tuple[bool, object] | None:
        segs = _split_path(path)
        best: tuple[Elem, list[str]] | None = (s, segs) if (s.fixed or s.pattern) else None
        node: Elem | None = s
        for n, seg in enumerate(segs):
            if node is None:
                break
            if seg.startswith("extension("):
                node = self._slice_element(node, seg)
            else:
                node = next((c for c in node.children if c.name == seg or (c.is_choice and c.name[:-3] == seg)), None)
            if node is not None and (node.fixed or node.pattern):
                best = (node, segs[n + 1:])
        if best is None:
            if segs and segs[-1] == "url":        # an extension slice: its url is its profile's
                holder = self._slice_element(s, ".".join(segs[:-1])) if segs[:-1] else s
                if holder is not None:
                    urls = [p for t in holder.types if t.code == "Extension" for p in t.profiles]
                    if urls:
                        return True, urls[0]
            return None
        node, rest = best
        is_fixed = node.fixed is not None
        value = (node.fixed or node.pattern)[1]
        values = [value]
        for seg in rest:
            values = [x for v in values for x in _child_values(v, seg)]
        if not values:
            return None
        return is_fixed, values[0] if len(values) == 1 else values

    def _describe(self, elem: Elem, s: Elem) -> str:
        parts = []
        for kind, path in elem.slicing.discriminators if elem.slicing else ():
            at = "the item" if not _split_path(path) else path
            if kind in ("value", "pattern"):
                expected = self._expected(s, path)
                target = self._slice_element(s, path)
                binding = target.raw.get("binding") if target is not None else None
                if expected is None and isinstance(binding, dict) and binding.get("valueSet"):
                    parts.append(f"{at} is a code of {binding['valueSet']}")
                else:
                    parts.append(f"{at} {'=' if expected and expected[0] else 'contains'} "
                                 f"{_short(expected[1], 120) if expected else '(unknown)'}")
            elif kind == "type":
                target = self._slice_element(s, path)
                parts.append(f"{at} is a {'/'.join(target.type_codes) if target else '?'}")
            elif kind == "profile":
                target = self._slice_element(s, path)
                profs = [p for t in (target.types if target else ()) for p in (t.targets or t.profiles)]
                parts.append(f"{at} conforms to {' or '.join(profs) or '?'}")
            elif kind == "exists":
                target = self._slice_element(s, path)
                parts.append(f"{at} {'is present' if target and target.min else 'is absent'}")
        return "an item belongs to it when " + " and ".join(parts) if parts else "no discriminator"


_PRIMITIVE_NAMES = frozenset({"boolean", "integer", "string", "decimal", "uri", "url", "canonical", "base64Binary",
                              "instant", "date", "dateTime", "time", "code", "oid", "id", "markdown",
                              "unsignedInt", "positiveInt", "uuid", "xhtml"})


def _type_fits(actual: str, allowed: tuple[str, ...]) -> bool:
    if "Resource" in allowed or "DomainResource" in allowed or "*" in allowed:
        return True
    return actual == "SimpleQuantity" and "Quantity" in allowed or actual == "Quantity" and "SimpleQuantity" in allowed


def _fixed_url(e: Elem) -> str | None:
    for c in e.children:
        if c.name == "url" and c.fixed is not None:
            return c.fixed[1]
    return None


def _type_of_reference(ref: str) -> str | None:
    parts = ref.split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper() and "_history" not in parts:
        return parts[-2]
    if len(parts) >= 4 and parts[-3] == "_history":
        return parts[-4]
    return None
