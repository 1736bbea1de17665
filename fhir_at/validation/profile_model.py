"""Profiles compiled for validation: a StructureDefinition's snapshot as a tree of :class:`Elem`.

A snapshot is a flat list of ElementDefinitions; validation needs a tree: each element's children,
and for a sliced element (one with ``slicing``) its slices, each with children of its own
(re-slices ``a:s/t`` hang under slice ``s``). Elements are linked by ``id`` (``Observation.category:
us-core.coding``), so slices and their children find their place however deep they are.

Only what a profile says beyond the base matters at run time (the base specification is checked by
the structure and invariant layers): cardinality tighter than ``base``, constraints whose key the
base element lacks, bindings other than the base's; fixed[x], pattern[x], types with profiles or
target profiles, and slicing always.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..terminology.systems import FHIRPATH_SYSTEM

__all__ = ["Elem", "Slicing", "TypeRef", "Profile", "build_tree", "json_keys"]


@dataclass(frozen=True, slots=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Slicing:
    discriminators: tuple[tuple[str, str], ...]    # (type, path)
    rules: str                                     # closed | open | openAtEnd
    ordered: bool


@dataclass(eq=False)
class Elem:
    id: str
    path: str
    name: str                        # the last path segment: "code", "value[x]", "valueQuantity"
    min: int
    max: int                         # -1 = *
    base_min: int
    base_max: int
    types: tuple[TypeRef, ...]
    raw: dict                        # the ElementDefinition
    slice_name: str | None = None
    slicing: Slicing | None = None
    slices: list["Elem"] = field(default_factory=list)
    children: list["Elem"] = field(default_factory=list)
    fixed: tuple[str, object] | None = None       # ("fixedUri", value)
    pattern: tuple[str, object] | None = None
    binding: tuple[str, str] | None = None        # (strength, value set), when not the base's
    constraints: tuple[dict, ...] = ()             # constraints the base element does not have
    must_support: bool = False
    choice_base: str | None = None                 # "value" for value[x]
    key: tuple[str, str] = ("", "")                # JSON key and type code (not a choice)
    # the children indexed for the walk (built on first use): JSON key (and "_key") -> child, choice
    # base -> child, and the children to check even when the instance lacks them (min tightened > 0)
    by_key: dict | None = None
    by_choice: dict | None = None
    required: tuple = ()
    # nothing beyond the base specification to check on a value (set by build_tree): no fixed or
    # pattern value, binding, constraint, children, slicing, and the base's types and targets
    inert: bool = False
    quiet: bool = False      # inert, and its cardinality is the base's: the walk may pass it by

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Derived fields, after ``name`` or ``types`` change."""
        self.choice_base = self.name[:-3] if self.name.endswith("[x]") else None
        keys = json_keys(self)
        self.key = keys[0] if keys else (self.name, "")

    @property
    def label(self) -> str:
        """How messages name it: ``Observation.category:us-core``."""
        return self.id

    @property
    def type_codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.types)

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")

    def index_children(self) -> None:
        by_key: dict[str, Elem] = {}
        by_choice: dict[str, Elem] = {}
        for c in self.children:
            if c.choice_base is not None:
                by_choice[c.choice_base] = c
            else:
                by_key[c.key[0]] = c
                by_key["_" + c.key[0]] = c
        self.required = tuple(c for c in self.children if c.min > 0 and c.tightens_cardinality()
                              or any(sl.min > 0 for sl in c.slices))
        for c in self.children:
            c.quiet = c.inert and not c.tightens_cardinality() and c.max != 0
        self.by_choice = by_choice
        self.by_key = by_key

    def tightens_cardinality(self) -> bool:
        return self.min > self.base_min or (self.max != -1 and (self.base_max == -1 or self.max < self.base_max))


@dataclass(eq=False)
class Profile:
    url: str
    version: str | None
    name: str
    type: str                        # the resource or datatype it constrains
    kind: str
    root: Elem
    context: tuple[dict, ...] = ()   # Extension definitions: where they may be used
    problems: tuple = ()             # Issues about the profile itself (its snapshot, its base)


def _max(value) -> int:
    if value in (None, "*"):
        return -1
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _type_refs(e: dict) -> tuple[TypeRef, ...]:
    out = []
    for t in e.get("type") or ():
        if not isinstance(t, dict):
            continue
        code = t.get("code") or ""
        if code.startswith(FHIRPATH_SYSTEM):
            code = "string"
        out.append(TypeRef(code, tuple(p for p in t.get("profile") or () if isinstance(p, str)),
                           tuple(p for p in t.get("targetProfile") or () if isinstance(p, str))))
    return tuple(out)


def _choice_value(e: dict, prefix: str) -> tuple[str, object] | None:
    for key, value in e.items():
        if key.startswith(prefix) and key[len(prefix):len(prefix) + 1].isupper():
            return key, value
    return None


def build_tree(elements: list[dict], base_element) -> Elem:
    """The root :class:`Elem` of a snapshot; ``base_element(path)`` gives the base specification's
    ElementDefinition at a ``base.path`` (for bindings and constraints not to be checked twice)."""
    by_id: dict[str, Elem] = {}
    root: Elem | None = None
    for e in elements:
        if not isinstance(e, dict) or not isinstance(e.get("path"), str):
            continue
        path = e["path"]
        eid = e.get("id") if isinstance(e.get("id"), str) else path
        base = e.get("base") if isinstance(e.get("base"), dict) else {}
        base_path = base.get("path") or path
        core = base_element(base_path) or {}
        name = path.rsplit(".", 1)[-1]
        if base_path.endswith("[x]") and not name.endswith("[x]"):
            name = base_path.rsplit(".", 1)[-1]     # valueQuantity: value[x] narrowed to Quantity
        node = Elem(eid, path, name, int(e.get("min") or 0), _max(e.get("max")),
                    int(base.get("min", core.get("min", 0)) or 0), _max(base.get("max", core.get("max", "*"))),
                    _type_refs(e), e, e.get("sliceName"), must_support=bool(e.get("mustSupport")))
        s = e.get("slicing")
        if isinstance(s, dict):
            node.slicing = Slicing(tuple((d.get("type", "value"), d.get("path", "$this"))
                                         for d in s.get("discriminator") or () if isinstance(d, dict)),
                                   s.get("rules", "open"), bool(s.get("ordered")))
        node.fixed = _choice_value(e, "fixed")
        node.pattern = _choice_value(e, "pattern")
        b = e.get("binding")
        if isinstance(b, dict) and isinstance(b.get("valueSet"), str) and b["valueSet"]:
            cb = core.get("binding") or {}
            if (b.get("valueSet"), b.get("strength")) != (cb.get("valueSet"), cb.get("strength")):
                node.binding = (b.get("strength", ""), b["valueSet"])
        base_keys = {c.get("key") for c in core.get("constraint") or () if isinstance(c, dict)}
        node.constraints = tuple(c for c in e.get("constraint") or () if isinstance(c, dict)
                                 and isinstance(c.get("expression"), str) and c.get("key") not in base_keys)
        base_types = tuple((t.code, t.profiles, t.targets) for t in _type_refs(core))
        node.inert = not (node.fixed or node.pattern or node.binding or node.constraints or node.slicing) and \
            tuple((t.code, t.profiles, t.targets) for t in node.types) == base_types
        by_id[eid] = node
        if root is None:
            root = node
            continue
        parent_id, last = eid.rsplit(".", 1) if "." in eid else ("", eid)
        if ":" in last:                       # a slice (or a re-slice) of the element it names
            name, slice_name = last.split(":", 1)
            entry = f"{parent_id}.{name}" if "/" not in slice_name else \
                f"{parent_id}.{name}:{slice_name.rsplit('/', 1)[0]}"
            holder = by_id.get(entry)
            if holder is not None and node.slice_name:
                holder.slices.append(node)
                holder.inert = False
                continue
        parent = by_id.get(parent_id)
        if parent is not None:
            parent.children.append(node)
            parent.inert = False
    if root is None:
        raise ValueError("the snapshot has no elements")
    return root


def json_keys(elem: Elem) -> list[tuple[str, str]]:
    """``(JSON key, type code)`` pairs under which an element's values appear in an object."""
    name = elem.name
    if name.endswith("[x]"):
        base = name[:-3]
        return [(base + t.code[:1].upper() + t.code[1:], t.code) for t in elem.types]
    code = elem.types[0].code if len(elem.types) == 1 else ""
    return [(name, code)]

