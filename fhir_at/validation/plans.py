"""Validation plans compiled from the snapshots of the base R4 StructureDefinitions.

A plan is compiled once per type, the first time the type is met (validating one Patient compiles
Patient and the datatypes it actually uses, never the 650 definitions of the package). An
:class:`ObjectPlan` describes one JSON object level (a resource, a complex datatype, or a
BackboneElement inside either): a :class:`Slot` per JSON key it may hold (``valueQuantity``,
``valueString``… for ``value[x]``; ``_birthDate`` is derived from ``birthDate`` at run time), the
elements that must be present, and the :class:`ElementInfo` of each element, which keeps the
binding and the constraints for the terminology and invariant layers (not used here).

Definitions come from a ``definitions`` callable mapping a StructureDefinition canonical URL to its
JSON (``None`` when unknown), so the same code serves the core package and a test's fixtures.
Plans are picklable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..terminology import systems
from .primitives import Primitive, compile_primitive

__all__ = ["Binding", "Constraint", "ElementInfo", "Slot", "ObjectPlan", "PlanRegistry",
           "PRIMITIVE", "COMPLEX", "RESOURCE", "PROHIBITED", "SD_BASE"]

SD_BASE = systems.FHIR_SD_BASE
_FHIR_TYPE = systems.EXT_FHIR_TYPE
_SYSTEM = systems.FHIRPATH_SYSTEM

# Slot.kind (PROHIBITED: max = 0)
PRIMITIVE, COMPLEX, RESOURCE, PROHIBITED = 0, 1, 2, 3
_NOTHING: frozenset = frozenset()

Definitions = Callable[[str], "dict | None"]


@dataclass(frozen=True, slots=True)
class Binding:
    strength: str
    value_set: str | None


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str
    severity: str
    expression: str | None
    human: str
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ElementInfo:
    """What the snapshot says of one element, kept for the layers that need more than structure."""

    path: str
    min: int
    max: str
    types: tuple[str, ...]
    binding: Binding | None
    constraints: tuple[Constraint, ...]
    content_reference: str | None = None


class Slot:
    """One JSON key an object may hold: ``birthDate``, ``valueQuantity``, ``contained``…"""

    __slots__ = ("key", "name", "label", "array", "min", "max", "kind", "type", "plan", "primitive",
                 "extensible", "choice", "element", "ok", "term")

    def __init__(self, key: str, name: str, label: str, element: ElementInfo, kind: int, type_: str,
                 choice: str | None):
        self.key = key                  # JSON key
        self.name = name                # element name ("value" for value[x])
        self.label = label              # FHIRPath step: "birthDate", "value.ofType(Quantity)"
        self.element = element
        self.min = element.min
        self.max = -1 if element.max == "*" else int(element.max)
        self.array = element.max not in ("0", "1")
        self.kind = kind
        self.type = type_               # FHIR type of this key
        self.plan: ObjectPlan | None = None        # COMPLEX: resolved on first use
        self.primitive: Primitive | None = None    # PRIMITIVE: resolved on first use
        self.extensible = kind == PRIMITIVE        # "_key" allowed
        self.choice = choice            # "value[x]" for a choice variant
        self.ok: set | frozenset = _NOTHING  # values known to be valid (the primitive's cache)
        self.term = -1                  # which terminology check its values get (-1: not decided yet)
        if self.max == 0:
            self.kind = PROHIBITED

    def set_primitive(self, primitive: Primitive) -> None:
        self.primitive = primitive
        self.ok = primitive.valid_cache if primitive.kind == "string" else _NOTHING

    def __getstate__(self):
        return {name: getattr(self, name) for name in self.__slots__ if name != "ok"}

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)
        self.ok = _NOTHING
        if self.primitive is not None:
            self.set_primitive(self.primitive)

    def __repr__(self) -> str:
        return f"Slot({self.element.path} as {self.key}: {self.type})"


class ObjectPlan:
    """One level of JSON object: a resource, a complex datatype or a backbone element."""

    __slots__ = ("name", "path", "slots", "required", "element", "is_resource", "choices")

    def __init__(self, name: str, path: str, element: ElementInfo, is_resource: bool):
        self.name = name                # type name ("Patient", "HumanName") or element path
        self.path = path                # element path of this level ("Patient.contact")
        self.element = element          # constraints of the element this object is
        self.is_resource = is_resource
        self.slots: dict[str, Slot] = {}
        # elements with min > 0: (element name, min, JSON keys of the element and their "_" forms,
        # element path)
        self.required: tuple[tuple[str, int, tuple[str, ...], str], ...] = ()
        self.choices: dict[str, tuple[str, ...]] = {}   # "value[x]" -> its JSON keys

    def __getstate__(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"ObjectPlan({self.path})"

    def element_names(self) -> list[str]:
        """The element names as the spec writes them (``value[x]``), for messages."""
        seen: dict[str, None] = {}
        for slot in self.slots.values():
            seen[slot.choice or slot.name] = None
        return list(seen)


class PlanRegistry:
    """Compiles and caches plans by type name; ``definitions`` maps canonical URLs to JSON."""

    def __init__(self, definitions: Definitions):
        self._definitions = definitions
        self._types: dict[str, ObjectPlan | None] = {}
        self._primitives: dict[str, Primitive] = {}
        self._resource_kind: dict[str, str | None] = {}

    def definition(self, type_name: str) -> dict | None:
        return self._definitions(SD_BASE + type_name)

    def primitive(self, name: str) -> Primitive:
        prim = self._primitives.get(name)
        if prim is None:
            prim = self._primitives[name] = compile_primitive(name, self.definition(name))
        return prim

    def type_plan(self, name: str) -> ObjectPlan | None:
        """The plan of a datatype or resource (``None`` when no definition is known); for a primitive
        type, the plan of its ``_x`` object (``id`` and ``extension``)."""
        try:
            return self._types[name]
        except KeyError:
            pass
        sd = self.definition(name)
        plan = None
        if sd is not None and sd.get("snapshot"):
            plan = _compile(sd, name, self)
        self._types[name] = plan
        return plan

    def resource_plan(self, resource_type: str) -> tuple[ObjectPlan | None, str | None]:
        """``(plan, None)`` for a concrete resource type, else ``(None, why)``."""
        why = self._resource_kind.get(resource_type, "")
        if why == "":
            sd = self.definition(resource_type) if resource_type else None
            if sd is None or sd.get("kind") != "resource" or sd.get("type") != resource_type:
                why = "unknown"
            elif sd.get("abstract"):
                why = "abstract"
            else:
                why = None
            self._resource_kind[resource_type] = why
        if why is not None:
            return None, why
        return self.type_plan(resource_type), None


def _element_info(e: dict) -> ElementInfo:
    b = e.get("binding")
    binding = Binding(b.get("strength", ""), b.get("valueSet")) if b else None
    constraints = tuple(Constraint(c.get("key", ""), c.get("severity", "error"), c.get("expression"),
                                   c.get("human", ""), c.get("source"))
                        for c in e.get("constraint", ()))
    return ElementInfo(e["path"], int(e.get("min", 0)), e.get("max", "*"),
                       tuple(t.get("code", "") for t in e.get("type", ())), binding, constraints,
                       e.get("contentReference"))


def _system_type(t: dict) -> str:
    for ext in t.get("extension", ()):
        if ext.get("url") == _FHIR_TYPE:
            return ext.get("valueUrl") or ext.get("valueUri") or "string"
    return "string"


def _compile(sd: dict, name: str, registry: PlanRegistry) -> ObjectPlan:
    """Every object level of one StructureDefinition, linked; returns the root's plan."""
    elements = [e for e in sd["snapshot"]["element"] if "sliceName" not in e]
    root_path = elements[0]["path"]
    if sd.get("kind") == "primitive-type":   # the plan of "_x": id and extension, not the value
        elements = [e for e in elements if e["path"] != root_path + ".value"]
    is_resource = sd.get("kind") == "resource"
    children: dict[str, list[dict]] = {}
    by_path: dict[str, dict] = {}
    for e in elements[1:]:
        path = e["path"]
        by_path[path] = e
        children.setdefault(path.rsplit(".", 1)[0], []).append(e)

    levels: dict[str, ObjectPlan] = {}
    pending: list[tuple[Slot, str]] = []   # contentReference slots, linked once all levels exist

    def level(path: str, e: dict) -> ObjectPlan:
        label = name if path == root_path else name + path[len(root_path):]
        plan = ObjectPlan(label, name + path[len(root_path):], _element_info(e),
                          is_resource and path == root_path)
        levels[path] = plan
        required = []
        for child in children.get(path, ()):
            cpath = child["path"]
            info = _element_info(child)
            ename = cpath.rsplit(".", 1)[1]
            ref = child.get("contentReference")
            types = child.get("type", ())
            keys: list[str] = []
            if ref:
                slot = Slot(ename, ename, ename, info, COMPLEX, "BackboneElement", None)
                pending.append((slot, ref.split("#", 1)[-1]))
                plan.slots[ename] = slot
                keys.append(ename)
            elif ename.endswith("[x]"):
                base = ename[:-3]
                for t in types:
                    code = t["code"]
                    key = base + code[0].upper() + code[1:]
                    slot = _typed_slot(key, base, f"{base}.ofType({code})", info, code, ename, child,
                                       children, level, registry)
                    plan.slots[key] = slot
                    keys.append(key)
                plan.choices[ename] = tuple(keys)
            else:
                code = types[0]["code"] if types else "Element"
                extensible = True
                if code.startswith(_SYSTEM):
                    attr = "xmlAttr" in child.get("representation", ())
                    code = "id" if (is_resource and cpath == root_path + ".id") else _system_type(types[0])
                    extensible = not attr
                slot = _typed_slot(ename, ename, ename, info, code, None, child, children, level, registry)
                if code == "xhtml":
                    extensible = False
                slot.extensible = slot.extensible and extensible
                plan.slots[ename] = slot
                keys.append(ename)
            if info.min > 0:
                keys += ["_" + k for k in keys]
                required.append((ename[:-3] if ename.endswith("[x]") else ename, info.min, tuple(keys),
                                 plan.path + "." + ename))
        plan.required = tuple(required)
        return plan

    root = level(root_path, elements[0])
    for slot, target in pending:
        target_plan = levels.get(target)
        if target_plan is None and target in by_path:
            target_plan = level(target, by_path[target])
        slot.plan = target_plan
        if target_plan is not None:
            slot.type = target_plan.name
    return root


def _typed_slot(key: str, name: str, label: str, info: ElementInfo, code: str, choice: str | None,
                e: dict, children: dict, level: Callable, registry: PlanRegistry) -> Slot:
    if code[:1].islower():
        slot = Slot(key, name, label, info, PRIMITIVE, code, choice)
        slot.set_primitive(registry.primitive(code))
        return slot
    if code in ("Resource", "DomainResource"):
        return Slot(key, name, label, info, RESOURCE, code, choice)
    slot = Slot(key, name, label, info, COMPLEX, code, choice)
    if e["path"] in children:      # BackboneElement / Element with its own children
        slot.plan = level(e["path"], e)
    return slot
