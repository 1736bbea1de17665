"""Structure validation against the base R4 StructureDefinitions: the first layer of the validator.

:func:`iter_structure_issues` walks a resource (a dict from any JSON parser) along the compiled
plans of :mod:`.plans` and reports, each with a FHIRPath ``expression`` carrying indexes:

- ``resourceType`` missing or not a concrete resource type (``contained`` resources,
  ``Bundle.entry.resource`` and ``Parameters.parameter.resource`` are walked as resources too);
- unknown elements, with the element most likely meant; choice elements written without their type
  (``value``), with a type the element does not allow (``valueFoo``) or with several types at once;
- the JSON type per FHIR type (object, array or not, string, number, boolean), and the lexical
  rules of every primitive (:mod:`.primitives`);
- empty strings, objects and arrays and ``null`` where the JSON format forbids them;
- cardinality, reported at the parent (``minimum required = 1, but only found 0``);
- primitive extensions ``_x`` lined up with ``x`` (arrays of the same length, ``null`` only where
  the other array has a value).

Bindings and constraints sit in the plans for the terminology and invariant layers; this module
checks neither. The walker appends to a list instead of nesting generators: a valid resource costs
one dict look-up and one type test per element.
"""

from __future__ import annotations

import difflib
import threading
from typing import Callable, Iterator

from ..issues import Issue, Severity, Source
from ..messages import Msg, issue
from .plans import COMPLEX, PRIMITIVE, PROHIBITED, RESOURCE, ObjectPlan, PlanRegistry, Slot
from .primitives import json_type_name

__all__ = ["StructureValidator", "iter_structure_issues", "default_validator"]


class StructureValidator:
    """Checks resources against the plans of a :class:`PlanRegistry`."""

    def __init__(self, definitions: Callable[[str], dict | None] | None = None, *,
                 registry: PlanRegistry | None = None, terminology=None):
        if registry is None:
            if definitions is None:
                from .packages import R4_CORE, PackageSet

                definitions = PackageSet.of([R4_CORE])
            registry = PlanRegistry(definitions)
        self.plans = registry
        # A fhir_at.validation.terminology.Terminology: bindings and offline code checks of the
        # coded, Quantity and Identifier elements met on the walk; None = structure only.
        self.terminology = terminology
        # fingerprints of (slot, coded value) that gave no terminology issue: the results depend on
        # nothing else, and most codes of a batch recur (a cache of clean answers, bounded)
        self._term_clean: set = set()
        self._local = threading.local()  # per-thread walk state (the HTTP service validates in threads)

    def _terms(self, slot: Slot, value, loc: str, out: list, index: int | None = None) -> None:
        kind = slot.term
        if kind < 0:
            kind = slot.term = _term_kind(slot)
        if kind == _NO_TERMS:
            return
        fingerprint = _fingerprint(kind, id(slot), value)
        if fingerprint is not None and fingerprint in self._term_clean:
            return
        before = len(out)
        self._check_terms(kind, slot, value, loc, out, index)
        if fingerprint is not None and len(out) == before:
            if len(self._term_clean) > _TERM_CACHE_SIZE:
                self._term_clean.clear()
            self._term_clean.add(fingerprint)

    def _check_terms(self, kind: int, slot: Slot, value, loc: str, out: list, index: int | None) -> None:
        expression = f"{loc}.{slot.label}" if index is None else f"{loc}.{slot.label}[{index}]"
        t = self.terminology
        if kind == _BOUND:
            b = slot.element.binding
            # the codings themselves are checked when the walk reaches them (kind _CODING)
            out.extend(t.check_binding(value, b.strength, b.value_set, expression,
                                       check_codings=slot.type == "code"))
        elif kind == _CODING and type(value) is dict:
            out.extend(t.check_coding(value.get("system"), value.get("code"), value.get("display"),
                                      expression, unknown_severity=Severity.WARNING))
        elif kind == _QUANTITY and type(value) is dict:
            out.extend(t.check_quantity(value, expression))
        elif kind == _IDENTIFIER and type(value) is dict:
            out.extend(t.check_identifier(value, expression))

    def iter_issues(self, resource, location: str = "", *, refs: list | None = None,
                    extensions: list | None = None) -> Iterator[Issue]:
        """The structure issues of ``resource``; with ``refs``, every ``Reference.reference`` met on
        the walk is appended to it as ``(reference, location)`` (for the Bundle rules, which then
        need no walk of their own); with ``extensions``, every extension object as ``(extension,
        location, path of the object holding it (its type for a datatype), whether that is a
        resource)`` (for the checks against their definitions)."""
        out: list[Issue] = []
        self._local.refs = refs
        self._local.extensions = extensions
        try:
            self._resource(resource, location, out)
        finally:
            self._local.refs = None
            self._local.extensions = None
        return iter(out)

    # -- resources ---------------------------------------------------------------------------

    def _resource(self, obj, loc: str, out: list) -> None:
        if type(obj) is not dict:
            _add(out, Msg.VAL_JSON_TYPE, f"A resource must be a JSON object, not {json_type_name(obj)}",
                 loc or "$")
            return
        rt = obj.get("resourceType")
        if type(rt) is not str or not rt:
            if rt is None:
                _add(out, Msg.VAL_RESOURCE_TYPE_MISSING,
                     "The resource has no resourceType: it cannot be validated", loc or "$")
            else:
                _add(out, Msg.VAL_JSON_TYPE, "resourceType must be a non-empty JSON string, not "
                     f"{json_type_name(rt) if rt != '' else 'an empty string'}", (loc or "$"))
            return
        plan, why = self.plans.resource_plan(rt)
        if plan is None:
            _add(out, Msg.VAL_RESOURCE_TYPE_UNKNOWN, self._unknown_type_text(rt, why), loc or rt)
            return
        self._object(obj, plan, loc or rt, out)

    def _unknown_type_text(self, rt: str, why: str | None) -> str:
        if why == "abstract":
            return f"'{rt}' is an abstract type: a resource must have a concrete resourceType"
        text = f"Unknown resource type '{rt}'"
        for guess in (rt[:1].upper() + rt[1:], rt.capitalize()):
            if guess != rt and self.plans.resource_plan(guess)[0] is not None:
                return f"{text} (did you mean '{guess}'?)"
        return text

    # -- objects -----------------------------------------------------------------------------

    def _object(self, obj: dict, plan: ObjectPlan, loc: str, out: list) -> None:
        if not obj:
            _add(out, Msg.VAL_EMPTY_OBJECT, "An object must have some content: leave the element out "
                 "when it has none", loc)
            return
        slots = plan.slots
        choices = None
        if plan.name == "Reference":
            refs = getattr(self._local, "refs", None)
            ref = obj.get("reference")
            if refs is not None and type(ref) is str:
                refs.append((ref, f"{loc}.reference"))
        terms = self.terminology is not None
        extensions = getattr(self._local, "extensions", None)
        for key, value in obj.items():
            slot = slots.get(key)
            if extensions is not None and slot is not None and slot.type == "Extension" and type(value) is list \
                    and plan.name != "Extension":      # (an extension's own parts: its definition's business)
                label = slot.label
                extensions.extend((x, f"{loc}.{label}[{i}]", plan.path, plan.is_resource)
                                  for i, x in enumerate(value) if type(x) is dict)
            if terms and slot is not None and value is not None and not slot.array and slot.term != _NO_TERMS:
                self._terms(slot, value, loc, out)
            if slot is None:
                if key == "resourceType" and plan.is_resource:
                    continue
                if key[:1] == "_":
                    choices = self._primitive_extension(obj, key, value, plan, loc, out, choices)
                else:
                    self._unknown(key, plan, loc, out)
                continue
            if slot.choice is not None:
                if choices is None:
                    choices = {slot.choice: key}
                else:
                    _note_choice(choices, slot, key, loc, out)
            if slot.array:
                if type(value) is not list:
                    self._not_array(slot, value, loc, out)
                elif not value:
                    _add(out, Msg.VAL_EMPTY_ARRAY, f"The array '{key}' is empty: leave the element out "
                         "when it has no values", f"{loc}.{slot.label}")
                else:
                    self._array(obj, slot, value, loc, out)
                continue
            kind = slot.kind
            if kind == PRIMITIVE:
                if type(value) is str and value in slot.ok:      # already found valid
                    continue
                if type(value) in _SCALARS:
                    problem = slot.primitive.check(value)
                    if problem is not None:
                        _add(out, problem[0], problem[1], f"{loc}.{slot.label}")
                else:
                    self._bad_single(slot, value, loc, out)
            elif type(value) is dict:
                if kind == COMPLEX:
                    sub = slot.plan
                    if sub is None:
                        sub = self._resolve(slot)
                        if sub is None:
                            continue
                    self._object(value, sub, f"{loc}.{slot.label}", out)
                elif kind == RESOURCE:
                    self._resource(value, f"{loc}.{slot.label}", out)
                else:
                    self._prohibited(slot, loc, out)
            elif kind == PROHIBITED:
                self._prohibited(slot, loc, out)
            else:
                self._bad_single(slot, value, loc, out)
        for name, minimum, keys, path in plan.required:
            for k in keys:
                if k in obj:
                    if minimum == 1:
                        break
                    found = _count(obj, k.lstrip("_"))
                    if found < minimum:
                        _add(out, Msg.VAL_CARDINALITY_MIN,
                             f"{path}: minimum required = {minimum}, but only found {found}", loc)
                    break
            else:
                _add(out, Msg.VAL_CARDINALITY_MIN, f"{path}: minimum required = {minimum}, but only found 0",
                     loc)

    def _array(self, obj: dict, slot: Slot, value: list, loc: str, out: list) -> None:
        kind = slot.kind
        label = slot.label
        if kind == PROHIBITED or 0 < slot.max < len(value):
            _add(out, Msg.VAL_CARDINALITY_MAX,
                 f"{slot.element.path}: max allowed = {slot.max}, but found {len(value)}", f"{loc}.{label}")
            if kind == PROHIBITED:
                return
        if self.terminology is not None and slot.term != _NO_TERMS:
            for i, v in enumerate(value):
                if v is not None:
                    self._terms(slot, v, loc, out, i)
        if kind == PRIMITIVE:
            check = slot.primitive.check
            ok = slot.ok
            ext = None
            for i, v in enumerate(value):
                if type(v) is str and v in ok:
                    continue
                if v is None:
                    if ext is None:
                        ext = obj.get("_" + slot.key)
                        if type(ext) is not list:
                            ext = []
                    if i >= len(ext) or ext[i] is None:
                        _add(out, Msg.VAL_NULL, f"'{slot.key}[{i}]' is null and has no extension in "
                             f"'_{slot.key}[{i}]': remove it", f"{loc}.{label}[{i}]")
                    continue
                if type(v) in _SCALARS:
                    problem = check(v)
                    if problem is not None:
                        _add(out, problem[0], problem[1], f"{loc}.{label}[{i}]")
                else:
                    _add(out, Msg.VAL_JSON_TYPE, f"An item of '{slot.key}' must be a {slot.type} "
                         f"({slot.primitive.kind}), not {json_type_name(v)}", f"{loc}.{label}[{i}]")
            return
        sub = slot.plan
        if sub is None and kind == COMPLEX:
            sub = self._resolve(slot)
            if sub is None:
                return
        for i, v in enumerate(value):
            if type(v) is dict:
                if kind == COMPLEX:
                    self._object(v, sub, f"{loc}.{label}[{i}]", out)
                else:
                    self._resource(v, f"{loc}.{label}[{i}]", out)
            elif v is None:
                _add(out, Msg.VAL_NULL, f"'{slot.key}[{i}]' is null: null is not allowed here",
                     f"{loc}.{label}[{i}]")
            else:
                _add(out, Msg.VAL_JSON_TYPE, f"An item of '{slot.key}' must be an object ({slot.type}), "
                     f"not {json_type_name(v)}", f"{loc}.{label}[{i}]")

    def _prohibited(self, slot: Slot, loc: str, out: list) -> None:
        _add(out, Msg.VAL_CARDINALITY_MAX, f"{slot.element.path}: max allowed = 0, but found 1",
             f"{loc}.{slot.label}")

    def _resolve(self, slot: Slot) -> ObjectPlan | None:
        sub = self.plans.type_plan(slot.type)
        slot.plan = sub
        return sub

    # -- problems found on the way (cold paths) ----------------------------------------------

    def _not_array(self, slot: Slot, value, loc: str, out: list) -> None:
        where = f"{loc}.{slot.label}"
        if value is None:
            _add(out, Msg.VAL_NULL, f"'{slot.key}' is null: leave the element out when it has no "
                 "values", where)
        else:
            _add(out, Msg.VAL_ARRAY_EXPECTED, f"'{slot.key}' can repeat ({slot.element.path} "
                 f"{slot.min}..*), so it must be a JSON array, not {json_type_name(value)}", where)

    def _bad_single(self, slot: Slot, value, loc: str, out: list) -> None:
        where = f"{loc}.{slot.label}"
        if value is None:
            _add(out, Msg.VAL_NULL, f"'{slot.key}' is null: leave the element out when it has no "
                 "value", where)
        elif type(value) is list:
            _add(out, Msg.VAL_ARRAY_UNEXPECTED, f"'{slot.key}' cannot repeat ({slot.element.path} "
                 f"{slot.min}..1), so it must not be a JSON array", where)
        elif slot.kind == PRIMITIVE:
            _add(out, Msg.VAL_JSON_TYPE, f"'{slot.key}' is a {slot.type}: it must be a JSON "
                 f"{slot.primitive.kind}, not {json_type_name(value)}", where)
        else:
            what = "a resource" if slot.kind == RESOURCE else f"a {slot.type}"
            _add(out, Msg.VAL_JSON_TYPE, f"'{slot.key}' is {what}: it must be a JSON object, not "
                 f"{json_type_name(value)}", where)

    def _unknown(self, key: str, plan: ObjectPlan, loc: str, out: list) -> None:
        where = f"{loc}.{key}"
        for choice, keys in plan.choices.items():
            base = choice[:-3]
            if key == base:
                _add(out, Msg.VAL_CHOICE_NO_TYPE, f"'{key}' must name its type: {choice} is written "
                     f"as {_alternatives(keys)}", where)
                return
            if key.startswith(base) and key[len(base):len(base) + 1].isupper():
                _add(out, Msg.VAL_CHOICE_UNKNOWN_TYPE, f"'{key}': {key[len(base):]} is not a type "
                     f"allowed for {plan.path}.{choice}; use {_alternatives(keys)}", where)
                return
        text = f"Unknown element '{key}' in {plan.name}"
        guess = _guess(key, plan)
        if guess:
            text += f" (did you mean '{guess}'?)"
        _add(out, Msg.VAL_UNKNOWN_ELEMENT, text, where)

    def _primitive_extension(self, obj: dict, key: str, value, plan: ObjectPlan, loc: str, out: list,
                             choices):
        base = key[1:]
        slot = plan.slots.get(base)
        if slot is None or not slot.extensible:
            if slot is not None:
                _add(out, Msg.VAL_UNKNOWN_ELEMENT, f"'{key}': {slot.element.path} is not a primitive "
                     "element that can carry extensions this way", f"{loc}.{key}")
            else:
                self._unknown(key, plan, loc, out)
            return choices
        if slot.choice is not None and base not in obj:
            choices = _note_choice(choices, slot, key, loc, out)
        where = f"{loc}.{slot.label}"
        ext_plan = self.plans.type_plan(slot.type)
        if not slot.array:
            if type(value) is dict:
                if ext_plan is not None:
                    self._object(value, ext_plan, where, out)
            elif value is None:
                _add(out, Msg.VAL_NULL, f"'{key}' is null: leave it out when '{base}' has no extensions",
                     where)
            elif type(value) is list:
                _add(out, Msg.VAL_ARRAY_UNEXPECTED, f"'{key}' must be an object like '{base}' is a single "
                     "value, not an array", where)
            else:
                _add(out, Msg.VAL_JSON_TYPE, f"'{key}' must be a JSON object (id and extension), not "
                     f"{json_type_name(value)}", where)
            return choices
        if type(value) is not list:
            if value is None:
                _add(out, Msg.VAL_NULL, f"'{key}' is null: leave it out when '{base}' has no extensions",
                     where)
            else:
                _add(out, Msg.VAL_ARRAY_EXPECTED, f"'{key}' must be an array like '{base}', not "
                     f"{json_type_name(value)}", where)
            return choices
        if not value:
            _add(out, Msg.VAL_EMPTY_ARRAY, f"The array '{key}' is empty: leave it out", where)
            return choices
        main = obj.get(base)
        if type(main) is list and len(main) != len(value):
            _add(out, Msg.VAL_PRIMITIVE_EXTENSION, f"'{key}' has {len(value)} items but '{base}' has "
                 f"{len(main)}: the two arrays must line up item by item", where)
        for i, v in enumerate(value):
            if type(v) is dict:
                if ext_plan is not None:
                    self._object(v, ext_plan, f"{where}[{i}]", out)
            elif v is None:
                if type(main) is not list:     # (a null in both arrays is reported on the values)
                    _add(out, Msg.VAL_NULL, f"'{key}[{i}]' is null and '{base}[{i}]' has no value: "
                         "the item is empty", f"{where}[{i}]")
            else:
                _add(out, Msg.VAL_JSON_TYPE, f"An item of '{key}' must be a JSON object (id and "
                     f"extension) or null, not {json_type_name(v)}", f"{where}[{i}]")
        return choices


_SCALARS = frozenset({str, bool, int, float})


_NO_TERMS, _BOUND, _CODING, _QUANTITY, _IDENTIFIER = range(5)
_QUANTITY_TYPES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration", "SimpleQuantity", "MoneyQuantity"})


_TERM_CACHE_SIZE = 200_000


def _fingerprint(kind: int, slot_id: int, value) -> tuple | None:
    """What the terminology checks of ``value`` at one slot depend on, hashable; ``None`` when the
    value is odd enough not to be cached (the checks then run every time)."""
    if type(value) is str:
        return (slot_id, value)
    if type(value) is not dict:
        return None
    get = value.get
    try:
        if kind == _IDENTIFIER:
            fingerprint = (slot_id, get("system"), get("value"))
        elif kind == _QUANTITY:
            fingerprint = (slot_id, get("system"), get("code"))
        else:
            coding = get("coding")
            codes = None if coding is None else tuple(
                (c.get("system"), c.get("code"), c.get("display")) for c in coding)
            fingerprint = (slot_id, get("system"), get("code"), get("display"), "text" in value,
                           "coding" in value, codes)
        hash(fingerprint)
    except (AttributeError, TypeError):   # a coding that is not an object, a list where a code goes…
        return None
    return fingerprint


def _term_kind(slot: Slot) -> int:
    """Which terminology check a slot's values get (computed once per slot)."""
    ty = slot.type
    b = slot.element.binding
    if ty in ("code", "Coding", "CodeableConcept") and b is not None and b.value_set \
            and b.strength in ("required", "extensible", "preferred"):
        return _BOUND
    if ty == "Coding":
        return _CODING
    if ty in _QUANTITY_TYPES:
        return _QUANTITY
    if ty == "Identifier":
        return _IDENTIFIER
    return _NO_TERMS


def _add(out: list, msg: Msg, text: str, expression: str, severity: Severity = Severity.ERROR) -> None:
    out.append(issue(msg, text, severity=severity, source=Source.VALIDATOR, expression=expression))


def _note_choice(choices: dict | None, slot: Slot, key: str, loc: str, out: list) -> dict:
    if choices is None:
        choices = {}
    key = key.lstrip("_")
    first = choices.get(slot.choice)
    if first is None:
        choices[slot.choice] = key
    elif first != key:
        _add(out, Msg.VAL_CHOICE_MULTIPLE, f"{slot.element.path} takes one type only, but both "
             f"'{first}' and '{key}' are present", f"{loc}.{slot.name}")
    return choices


def _count(obj: dict, key: str) -> int:
    value = obj.get(key)
    if value is None:
        value = obj.get("_" + key)
    if type(value) is list:
        return len(value)
    return 1 if value is not None else 0


def _alternatives(keys: tuple[str, ...]) -> str:
    if len(keys) <= 6:
        return ", ".join(keys[:-1]) + (" or " if len(keys) > 1 else "") + keys[-1]
    return ", ".join(keys[:5]) + f", … ({len(keys)} types)"


def _guess(key: str, plan: ObjectPlan) -> str | None:
    names = list(plan.slots)
    lower = {n.lower(): n for n in names}
    if key.lower() in lower:
        return lower[key.lower()]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    return close[0] if close else None


_DEFAULT: StructureValidator | None = None


def default_validator() -> StructureValidator:
    """The validator over the installed R4 core package, built on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = StructureValidator()
    return _DEFAULT


def iter_structure_issues(resource, location: str = "") -> Iterator[Issue]:
    """Every structure issue of ``resource``; ``location`` is its FHIRPath (default: its type)."""
    return default_validator().iter_issues(resource, location)
