"""FHIRPath invariants (``ElementDefinition.constraint``) of FHIR R4, evaluated fast.

:class:`InvariantEngine` reads StructureDefinitions through a ``definitions(url) -> dict | None``
callable (a :class:`~fhir_at.validation.packages.PackageSet` is one), walks a resource's JSON with
the element tree of its StructureDefinition (choice types, BackboneElements, content references,
complex datatypes and their profiles such as SimpleQuantity, contained and Bundle entry resources,
primitive extensions) and checks every constraint at every element instance it applies to.

How a constraint is checked, cheapest first:

1. **Native** — the most frequent constraints are re-implemented in Python on plain JSON (see
   ``_NATIVE``): ele-1 (every element) and ext-1 (every extension) in the walk itself; dom-2, dom-3
   (when nothing is contained), dom-4, dom-5, dom-6, ref-1, per-1, qty-3, cpt-2, att-1, rng-2 (fhirpathpy
   cannot compare Quantities: same units compared, other units pass), txt-1, txt-2, obs-3, obs-6, obs-7 (no value or no component), pat-1, con-3
   (all but the category-without-status case), con-4, con-5, bdl-5, bdl-8. A native is used only
   when the StructureDefinition's expression is exactly the one it implements, and it may answer
   "don't know" (``None``), which hands the instance over to fhirpathpy. The test suite checks every
   native against fhirpathpy on every core example.
2. **Skipped when provably true** — for each expression the names it navigates from the context
   node are collected from the parse tree. If every path from the context starts with such a name
   (no ``$this``, no function on the context such as ``hasValue()``/``children()``, no
   ``%resource``-like variable except ``%ucum``, no type name), then the result depends only on those
   elements; ``%resource`` and functions are allowed inside ``where/select/all/exists/repeat``
   arguments applied to a path rooted at such a name through steps that keep an empty input empty,
   since those arguments are never evaluated when the name is absent. The expression is evaluated
   once on an empty element; if that gives ``true``, then at run time an instance holding none of
   the names (nor ``_name`` nor a choice-type ``nameType``) passes without evaluation.
3. **fhirpathpy** with the R4 model, each expression parsed once (cache keyed by the text), with the
   FHIR functions fhirpathpy lacks implemented in :mod:`.fhirpath_functions` and here:
   ``hasValue()``, ``htmlChecks()``, ``resolve()`` (``#id`` in the root resource's ``contained``;
   in the current Bundle by ``fullUrl`` and by ``Type/id``; empty when not found), ``memberOf(vs)``
   and ``conformsTo(profile)`` (injectable callbacks; ``None`` = unknown: the constraint is skipped
   with an information issue).

An expression that cannot be parsed or uses a function nothing implements is reported once per
resource as a warning ("cannot be evaluated"), never raised; so is an evaluation that raises.
A result that is empty counts as satisfied (fhirpathpy returns empty e.g. for dateTimes of different
precision, where the answer is unknown); only a single ``false`` fails.

The element tables are built lazily under a lock, but fhirpathpy keeps module-level state (the
model used by ``is``/``as``), so evaluate with one thread per process (parallelise with processes).
dom-6 (a best-practice warning) is not checked on contained resources.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable, Iterator

from ..terminology import systems
from ..issues import Issue, IssueCode, Path, Severity, Source
from ..messages import Msg
from .bundle_rules import entry_index, find_entry
from .fhirpath_functions import Unknown, has_value, html_checks, narrative_is_empty, narrative_problems

__all__ = ["InvariantEngine", "Constraint", "UNSUPPORTED_BY_FHIRPATHPY", "NATIVE_KEYS", "IG_NATIVE"]

CORE = systems.FHIR_SD_BASE
# The functions fhirpathpy 2.2.4 lacks and this module supplies.
UNSUPPORTED_BY_FHIRPATHPY = ("hasValue", "htmlChecks", "resolve", "memberOf", "conformsTo")

_ITERATING = frozenset({"where", "select", "all", "exists", "repeat"})
# Functions that give an empty result for an empty input (so their input's emptiness carries over).
_KEEP_EMPTY = frozenset({"where", "select", "repeat", "ofType", "as", "first", "last", "tail", "skip",
                         "take", "single", "distinct", "trace", "resolve", "children", "descendants",
                         "extension"})


class _NotSkippable(Exception):
    pass


@dataclass(eq=False)
class Constraint:
    """One constraint of one element, ready to check."""

    key: str
    severity: Severity
    human: str
    expression: str
    source: str                      # the StructureDefinition that defines it (name)
    type_path: str                   # the FHIRPath type of the context (e.g. "Quantity")
    native: Callable[[object, "_State"], bool | None] | None = None
    parsed: dict | None = None
    problem: str | None = None       # why it cannot be evaluated
    skip_keys: frozenset[str] | None = None


@dataclass
class _Child:
    segment: str                     # "name", or "value.ofType(Quantity)" for a choice
    array: bool
    kind: str                        # "complex" | "primitive" | "resource"
    node: "_Node | None" = None
    extra: tuple[Constraint, ...] = ()   # constraints of the element beyond its type's
    ele1: bool = True
    ext_node: "_Node | None" = None   # Extension node for a primitive's _name.extension
    ext_key: str = ""                # "_name": the JSON key of a primitive's id and extensions


@dataclass(eq=False)
class _Node:
    sd: dict
    path: str                        # element path inside sd ("Quantity", "Observation.component")
    type_path: str                   # FHIRPath type of the instance
    constraints: tuple[Constraint, ...] = ()
    children: dict[str, _Child] | None = None
    ext1: bool = False


@dataclass
class _State:
    resource: dict
    root: dict
    bundle: dict | None
    options: dict = field(default_factory=dict)
    reported: set = field(default_factory=set)
    bundle_index: dict | None = None
    bundle_for_index: dict | None = None


# ---------------------------------------------------------------------------------------------
# native implementations

def _ex(d: dict, name: str) -> bool:
    v = d.get(name)
    if v is not None and v != []:
        return True
    v = d.get("_" + name)
    return v is not None and v != []


def _choice(d: dict, base: str) -> bool:
    n = len(base)
    for k, v in d.items():
        if k[:1] == "_":
            k = k[1:]
        if len(k) > n and k[n].isupper() and k.startswith(base) and v is not None and v != []:
            return True
    return False


def _items(v) -> list:
    if isinstance(v, list):
        return [x for x in v if isinstance(x, dict)]
    return [v] if isinstance(v, dict) else []


def _ele1_complex(d: dict) -> bool:
    for k, v in d.items():
        if k != "id" and v is not None and v != [] and k != "fhir_comments":
            return True
    return False


def _ele1_primitive(value, ext) -> bool:
    if value is not None:
        return True
    return isinstance(ext, dict) and any(k != "id" and v is not None and v != [] for k, v in ext.items())


def _dom2(d, st):
    return not any(_ex(c, "contained") for c in _items(d.get("contained")))


def _strings(v, out: set[str]) -> set[str]:
    if isinstance(v, str):
        if v[:1] == "#":
            out.add(v)
    elif isinstance(v, dict):
        for x in v.values():
            _strings(x, out)
    elif isinstance(v, list):
        for x in v:
            _strings(x, out)
    return out


def _dom3(d, st):
    contained = _items(d.get("contained"))
    if not contained:
        return True
    refs = _strings(d, set())
    for c in contained:
        if "#" + str(c.get("id")) not in refs and "#" not in _strings(c, set()):
            return False
    return True


def _dom4(d, st):
    for c in _items(d.get("contained")):
        for m in _items(c.get("meta")):
            if _ex(m, "versionId") or _ex(m, "lastUpdated"):
                return False
    return True


def _dom5(d, st):
    return not any(_ex(m, "security") for c in _items(d.get("contained")) for m in _items(c.get("meta")))


def _dom6(d, st):
    return any(_ex(t, "div") for t in _items(d.get("text")))


def _ref1(d, st):
    ref = d.get("reference")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return True
    ids = [c.get("id") for c in _items(st.root.get("contained"))]
    return ref[1:] in ids


_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _per1(d, st):
    s, e = d.get("start"), d.get("end")
    if not isinstance(s, str) or not isinstance(e, str):
        return True if (s is None or e is None) else None
    if len(s) == len(e):
        if _DATE_RE.match(s) and _DATE_RE.match(e):
            return s <= e
        if len(s) > 19 and s[19:] == e[19:] and s[10:11] == "T" and e[10:11] == "T":
            return s <= e                     # same precision, same zone
    if len(s) >= 20 and len(e) >= 20:         # both with seconds (and a zone): compare instants
        try:
            a = datetime.fromisoformat(s.replace("Z", "+00:00"))
            b = datetime.fromisoformat(e.replace("Z", "+00:00"))
        except ValueError:
            return None
        if a.tzinfo is not None and b.tzinfo is not None:
            return a <= b
    return None


def _obs7(d, st):
    if not _choice(d, "value"):
        return True
    comps = _items(d.get("component"))
    if not comps:
        return True
    own = [c for cc in _items(d.get("code")) for c in _items(cc.get("coding"))]
    for comp in comps:
        for cc in _items(comp.get("code")):
            for c in _items(cc.get("coding")):
                if c in own:
                    return False
    return True


_CLINICAL = systems.CONDITION_CLINICAL
_VER = systems.CONDITION_VER_STATUS


def _codings(cc) -> list:
    return [c for x in _items(cc) for c in _items(x.get("coding"))]


def _eie(d) -> bool:
    return any(c.get("system") == _VER and c.get("code") == "entered-in-error"
               for c in _codings(d.get("verificationStatus")))


def _con3(d, st):
    if _ex(d, "clinicalStatus") or _eie(d) or not _ex(d, "category"):
        return True
    return None


def _con4(d, st):
    if not _choice(d, "abatement"):
        return True
    return any(c.get("system") == _CLINICAL and c.get("code") in ("resolved", "remission", "inactive")
               for c in _codings(d.get("clinicalStatus")))


def _con5(d, st):
    return not _eie(d) or not _ex(d, "clinicalStatus")


def _rng2(d, st):
    lo, hi = d.get("low"), d.get("high")
    if not lo or not hi:
        return True
    if not isinstance(lo, dict) or not isinstance(hi, dict):
        return None
    a, b = lo.get("value"), hi.get("value")
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool) or isinstance(b, bool):
        return True                   # a bound without a value: not comparable (empty), passes
    if (lo.get("system"), lo.get("code")) != (hi.get("system"), hi.get("code")):
        return True                   # different units: not converted (UCUM conversion not done), passes
    return a <= b


def _bdl8(d, st):
    fu = d.get("fullUrl")
    return "/_history/" not in fu if isinstance(fu, str) else True


_SCALAR_TYPES = (str, int, float, bool)


def _entries(d) -> list:
    return [e for e in d.get("entry") or () if isinstance(e, dict)]


def _bdl3(d, st):
    want = d.get("type") in ("batch", "transaction", "history")
    return all(("request" in e) == want for e in _entries(d))


def _bdl4(d, st):
    want = d.get("type") in ("batch-response", "transaction-response", "history")
    return all(("response" in e) == want for e in _entries(d))


def _bdl7(d, st):
    if d.get("type") == "history":
        return True
    seen = set()
    for e in _entries(d):
        fu = e.get("fullUrl")
        if fu is None:
            continue
        version = ((e.get("resource") or {}).get("meta") or {}).get("versionId")
        key = (fu, version)
        if key in seen:
            return False
        seen.add(key)
    return True


def _bdl9(d, st):
    if d.get("type") != "document":
        return True
    ident = d.get("identifier") or {}
    return bool(ident.get("system")) and bool(ident.get("value"))


def _first_type(d) -> str | None:
    entries = _entries(d)
    return ((entries[0].get("resource") or {}).get("resourceType")) if entries else None


def _questionnaire_item(rule: Callable[[dict, str], bool]) -> Callable:
    """A native que-* rule: ``rule(item, type)`` with the item's type ("" when it has none: every
    comparison with it is then empty, which these rules all pass); odd JSON, and a type with
    extensions and no value, go to fhirpathpy."""
    def check(d, st):
        t = d.get("type")
        if t is None:
            return None if "_type" in d else True
        return rule(d, t) if type(t) is str else None
    return check


_QUE_ANSWERED = frozenset({"choice", "open-choice", "decimal", "integer", "date", "dateTime", "time", "string",
                           "quantity"})
_QUE_MAX_LENGTH = frozenset({"boolean", "decimal", "integer", "string", "text", "url", "open-choice"})


_NATIVE: dict[str, tuple[str, Callable]] = {
    # Bundle rules: fhirpathpy evaluates these in milliseconds on a big Bundle; natively microseconds
    "bdl-1": ("total.empty() or (type = 'searchset') or (type = 'history')",
              lambda d, st: "total" not in d or d.get("type") in ("searchset", "history")),
    "bdl-2": ("entry.search.empty() or (type = 'searchset')",
              lambda d, st: d.get("type") == "searchset" or not any("search" in e for e in _entries(d))),
    "bdl-3": ("entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or "
              "%resource.type = 'history'))", _bdl3),
    "bdl-4": ("entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = "
              "'transaction-response' or %resource.type = 'history'))", _bdl4),
    "bdl-7": ("(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId)"
              ".isDistinct()", _bdl7),
    "bdl-9": ("type = 'document' implies (identifier.system.exists() and identifier.value.exists())", _bdl9),
    "bdl-10": ("type = 'document' implies (timestamp.hasValue())",
               lambda d, st: d.get("type") != "document" or isinstance(d.get("timestamp"), str)),
    "bdl-11": ("type = 'document' implies entry.first().resource.is(Composition)",
               lambda d, st: d.get("type") != "document" or _first_type(d) == "Composition"),
    "bdl-12": ("type = 'message' implies entry.first().resource.is(MessageHeader)",
               lambda d, st: d.get("type") != "message" or _first_type(d) == "MessageHeader"),
    "dom-2": ("contained.contained.empty()", _dom2),
    "dom-3": ("contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants()"
              ".as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or "
              "descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#')"
              ".exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', "
              "id).empty()", _dom3),
    "dom-4": ("contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", _dom4),
    "dom-5": ("contained.meta.security.empty()", _dom5),
    "dom-6": ("text.`div`.exists()", lambda d, st: st.resource is not st.root or _dom6(d, st)),
    "ref-1": ("reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
              "%rootResource.contained.id.trace('ids'))", _ref1),
    "per-1": ("start.hasValue().not() or end.hasValue().not() or (start <= end)", _per1),
    "qty-3": ("code.empty() or system.exists()", lambda d, st: not _ex(d, "code") or _ex(d, "system")),
    "cpt-2": ("value.empty() or system.exists()", lambda d, st: not _ex(d, "value") or _ex(d, "system")),
    "att-1": ("data.empty() or contentType.exists()",
              lambda d, st: not _ex(d, "data") or _ex(d, "contentType")),
    "rng-2": ("low.empty() or high.empty() or (low <= high)", _rng2),
    "txt-1": ("htmlChecks()", lambda v, st: not narrative_problems(v)),
    "txt-2": ("htmlChecks()", lambda v, st: not narrative_is_empty(v)),
    "obs-3": ("low.exists() or high.exists() or text.exists()",
              lambda d, st: _ex(d, "low") or _ex(d, "high") or _ex(d, "text")),
    "obs-6": ("dataAbsentReason.empty() or value.empty()",
              lambda d, st: not _ex(d, "dataAbsentReason") or not _choice(d, "value")),
    "obs-7": ("value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists())"
              ".empty()", _obs7),
    "pat-1": ("name.exists() or telecom.exists() or address.exists() or organization.exists()",
              lambda d, st: _ex(d, "name") or _ex(d, "telecom") or _ex(d, "address") or _ex(d, "organization")),
    # the SD's expression texts, to the character (the URIs come from systems.py)
    "con-3": (f"clinicalStatus.exists() or verificationStatus.coding.where(system='{_VER}'"
              " and code = 'entered-in-error').exists() or category.select("
              "$this='problem-list-item').empty()", _con3),
    "con-4": (f"abatement.empty() or clinicalStatus.coding.where(system='{_CLINICAL}'"
              " and (code='resolved' or code='remission' or code='inactive')).exists()",
              _con4),
    "con-5": (f"verificationStatus.coding.where(system='{_VER}'"
              " and code='entered-in-error').empty() or clinicalStatus.empty()", _con5),
    "bdl-5": ("resource.exists() or request.exists() or response.exists()",
              lambda d, st: _ex(d, "resource") or _ex(d, "request") or _ex(d, "response")),
    "bdl-8": ("fullUrl.contains('/_history/').not()", _bdl8),
    "org-1": ("(identifier.count() + name.count()) > 0", lambda d, st: _ex(d, "identifier") or _ex(d, "name")),
    "prr-1": ("orderDetail.empty() or code.exists()", lambda d, st: not _ex(d, "orderDetail") or _ex(d, "code")),
    # Questionnaire.item: the spec examples are full of them
    "que-1": ("(type='group' implies item.empty().not()) and (type.trace('type')='display' implies "
              "item.trace('item').empty())",
              _questionnaire_item(lambda d, t: _ex(d, "item") if t == "group" else
                                  not _ex(d, "item") if t == "display" else True)),
    "que-3": ("type!='display' or code.empty()",
              _questionnaire_item(lambda d, t: t != "display" or not _ex(d, "code"))),
    "que-5": ("(type ='choice' or type = 'open-choice' or type = 'decimal' or type = 'integer' or type = "
              "'date' or type = 'dateTime' or type = 'time' or type = 'string' or type = 'quantity') or "
              "(answerValueSet.empty() and answerOption.empty())",
              _questionnaire_item(lambda d, t: t in _QUE_ANSWERED or
                                  not (_ex(d, "answerValueSet") or _ex(d, "answerOption")))),
    "que-6": ("type!='display' or (required.empty() and repeats.empty())",
              _questionnaire_item(lambda d, t: t != "display" or not (_ex(d, "required") or _ex(d, "repeats")))),
    "que-8": ("(type!='group' and type!='display') or initial.empty()",
              _questionnaire_item(lambda d, t: t not in ("group", "display") or not _ex(d, "initial"))),
    "que-9": ("type!='display' or readOnly.empty()",
              _questionnaire_item(lambda d, t: t != "display" or not _ex(d, "readOnly"))),
    "que-10": ("(type in ('boolean' | 'decimal' | 'integer' | 'string' | 'text' | 'url' | 'open-choice')) or "
               "maxLength.empty()",
               _questionnaire_item(lambda d, t: t in _QUE_MAX_LENGTH or not _ex(d, "maxLength"))),
}
# ele-1 and ext-1 are checked natively inside the walk (see InvariantEngine._walk).
NATIVE_KEYS = ("ele-1", "ext-1") + tuple(_NATIVE)


# The frequent constraints of US Core 6.1.0 (and of fhir-at's profiles, which carry them), by key and
# exact expression. us-core-1 is implemented as meant ("at least to the day"): fhirpathpy answers
# `$this is DateTime` false for a FHIR dateTime, which would make the constraint always true.
def _npi_luhn(d, st):
    v = d.get("value")
    if not isinstance(v, str) or len(v) != 10 or not v.isdigit():
        return None          # fhirpathpy decides what a malformed value gives
    total = 24
    for i, ch in enumerate(v):
        n = int(ch)
        total += (n * 2 if n < 5 else n * 2 - 9) if i % 2 == 0 else n
    return total % 10 == 0


def _matches(pattern: str):
    rx = re.compile(pattern)

    def check(d, st):
        v = d.get("value")
        if v is None and "_value" not in d:
            return True
        return bool(rx.search(v)) if isinstance(v, str) else None
    return check


def _us_core_2(d, st):
    if _ex(d, "component") or _ex(d, "hasMember"):
        return True
    return _ex(d, "dataAbsentReason") or _choice(d, "value")


def _us_core_3(d, st):
    q = d.get("valueQuantity")
    if not isinstance(q, dict):
        return True if q is None else None
    system = q.get("system")
    return True if system is None else system == systems.UCUM


def _us_core_6_name(d, st):
    named = _ex(d, "family") or _ex(d, "given")
    absent = any(isinstance(x, dict) and x.get("url") == systems.EXT_DATA_ABSENT_REASON
                 for x in _items(d.get("extension")))
    return named != absent


def _us_core_15(d, st):
    if _ex(d, "subscriberId"):
        return True
    return any(isinstance(c, dict) and c.get("system") == systems.V2_0203 and c.get("code") == "MB"
               for i in _items(d.get("identifier")) for c in _items((i.get("type") or {}).get("coding")))


_US_CORE_LUHN = ("(((select(value.substring(0,1).toInteger()).select(iif($this<5, $this*2, (($this*2)-9))))+"
                 "(value.substring(1,1).toInteger())+(select(value.substring(2,1).toInteger()).select(iif($this<5, "
                 "$this*2, (($this*2)-9))))+(value.substring(3,1).toInteger())+(select(value.substring(4,1)"
                 ".toInteger()).select(iif($this<5, $this*2, (($this*2)-9))))+(value.substring(5,1).toInteger())+"
                 "(select(value.substring(6,1).toInteger()).select(iif($this<5, $this*2, (($this*2)-9))))+"
                 "(value.substring(7,1).toInteger())+(select(value.substring(8,1).toInteger()).select(iif($this<5, "
                 "$this*2, (($this*2)-9))))+(value.substring(9,1).toInteger()) + 24)mod 10=0)")
IG_NATIVE: dict[tuple[str, str], Callable] = {
    ("us-core-1", "$this is DateTime implies $this.toString().length() >= 10"):
        lambda v, st: len(v) >= 10 if isinstance(v, str) else True,
    ("us-core-2", "(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())"):
        _us_core_2,
    ("us-core-3", "value.ofType(Quantity).system.empty() or value.ofType(Quantity).system = "
                  f"'{systems.UCUM}'"): _us_core_3,
    ("us-core-6", "(family.exists() or given.exists()) xor extension.where(url='"
                  f"{systems.EXT_DATA_ABSENT_REASON}').exists()"): _us_core_6_name,
    ("us-core-6", "url.exists() or data.exists()"): lambda d, st: _ex(d, "url") or _ex(d, "data"),
    ("us-core-7", "(status='completed' or status='in-progress') implies performed.exists()"):
        lambda d, st: d.get("status") not in ("completed", "in-progress") or _choice(d, "performed"),
    ("us-core-15", f"identifier.type.coding.where(system='{systems.V2_0203}' and code='MB').exists() or "
                   "subscriberId.exists()"): _us_core_15,
    ("us-core-16", "value.matches('^[0-9]{10}$')"): _matches("^[0-9]{10}$"),
    ("us-core-17", _US_CORE_LUHN): _npi_luhn,
}
_ELE1 = "hasValue() or (children().count() > id.count())"
_EXT1 = "extension.exists() != value.exists()"


# ---------------------------------------------------------------------------------------------
# parse-tree analysis

def _ident(node: dict) -> str:
    for ch in node.get("children", ()):
        if ch["type"] == "Identifier":
            return ch.get("text", "").strip("`")
        found = _ident(ch)
        if found:
            return found
    return ""


def _function(inv: dict) -> tuple[str, list[dict]]:
    functn = inv["children"][0]
    name = _ident(functn["children"][0]) if functn["children"][0]["type"] != "Identifier" \
        else functn["children"][0].get("text", "")
    params: list[dict] = []
    for ch in functn["children"][1:]:
        if ch["type"] == "ParamList":
            params = ch.get("children", [])
    return name, params


def _function_names(node: dict, out: set[str]) -> set[str]:
    if node.get("type") == "Functn":
        first = node["children"][0]
        out.add(first.get("text", "") if first["type"] == "Identifier" else _ident(first))
    for ch in node.get("children", ()):
        _function_names(ch, out)
    return out


def _rooted(node: dict) -> bool:
    """The expression is empty whenever the member it starts with is absent."""
    t = node["type"]
    if t == "TermExpression":
        term = node["children"][0]
        if term["type"] == "InvocationTerm":
            inv = term["children"][0]
            return inv["type"] == "MemberInvocation" and not _ident(inv)[:1].isupper()
        if term["type"] == "ParenthesizedTerm":
            return _rooted(term["children"][0])
        return False
    if t == "InvocationExpression":
        lhs, inv = node["children"]
        if inv["type"] == "MemberInvocation":
            return _rooted(lhs)
        if inv["type"] == "FunctionInvocation":
            return _function(inv)[0] in _KEEP_EMPTY and _rooted(lhs)
        return False
    if t == "IndexerExpression":
        return _rooted(node["children"][0])
    return False


def _context_names(node: dict, out: set[str]) -> set[str]:
    """Names navigated from the context node; raises _NotSkippable if anything else is read from it."""
    t = node["type"]
    if t == "TermExpression":
        term = node["children"][0]
        tt = term["type"]
        if tt == "InvocationTerm":
            inv = term["children"][0]
            if inv["type"] == "MemberInvocation":
                name = _ident(inv)
                if not name or name[:1].isupper():
                    raise _NotSkippable(name)
                out.add(name)
                return out
            raise _NotSkippable(inv["type"])       # f() on the context, $this, $index, $total
        if tt == "ExternalConstantTerm":
            if _ident(term) != "ucum" and "ucum" not in term.get("text", ""):
                raise _NotSkippable("variable")
            return out
        if tt == "LiteralTerm":
            return out
    if t == "InvocationExpression":
        lhs, inv = node["children"]
        _context_names(lhs, out)
        if inv["type"] == "FunctionInvocation":
            name, params = _function(inv)
            if not (name in _ITERATING and _rooted(lhs)):
                for p in params:
                    _context_names(p, out)
        elif inv["type"] != "MemberInvocation":
            raise _NotSkippable(inv["type"])
        return out
    for ch in node.get("children", ()):
        _context_names(ch, out)
    return out


# ---------------------------------------------------------------------------------------------

class InvariantEngine:
    """Checks the FHIRPath constraints of FHIR R4 StructureDefinitions on resources (JSON dicts)."""

    def __init__(self, definitions: Callable[[str], dict | None], *,
                 member_of: Callable[[object, str], bool | None] | None = None,
                 conforms_to: Callable[[dict, str], bool | None] | None = None,
                 native: bool = True, skip: bool = True):
        from fhirpathpy.models import models  # imported lazily: loading the model takes ~0.3 s

        self._definitions = definitions
        self.member_of = member_of
        self.conforms_to = conforms_to
        self._use_native = native
        self._use_skip = skip
        self._model = models["r4"]
        self._choice_paths: dict = self._model["choiceTypePaths"]
        self._parsed: dict[str, dict | Exception] = {}
        self._empty_ok: dict[tuple[str, str], bool] = {}
        self._sds: dict[str, dict | None] = {}
        self._kids: dict[str, dict[str, list[dict]]] = {}
        self._elements: dict[str, dict[str, dict]] = {}
        self._nodes: dict[tuple[str, str], _Node] = {}
        self._resource_nodes: dict[str, _Node | None] = {}
        self._lock = threading.RLock()
        self.constraints: dict[tuple[str, str], Constraint] = {}   # (type path, key) -> constraint
        self._profile_constraints: dict[tuple, tuple] = {}
        self.unevaluable: dict[str, str] = {}                      # key -> reason

    # ----- compiling

    def parse(self, expression: str) -> dict | Exception:
        """fhirpathpy's parse tree of an expression (cached), or the exception parsing raised."""
        got = self._parsed.get(expression)
        if got is None:
            from fhirpathpy.parser import parse
            try:
                got = parse(expression)
            except Exception as exc:  # noqa: BLE001 - any parser failure means "cannot evaluate"
                got = exc
            self._parsed[expression] = got
        return got

    def compile_problem(self, expression: str) -> str | None:
        """Why an expression cannot be evaluated here (None when it can)."""
        from fhirpathpy.engine.invocations import invocation_registry
        parsed = self.parse(expression)
        if isinstance(parsed, Exception):
            return f"syntax: {str(parsed).strip() or type(parsed).__name__}"
        if not parsed.get("children"):
            return "syntax: the expression does not parse"
        known = set(invocation_registry) | set(UNSUPPORTED_BY_FHIRPATHPY)
        missing = sorted(_function_names(parsed, set()) - known)
        if missing:
            return "unsupported function " + ", ".join(f"{m}()" for m in missing)
        return None

    def _constraint(self, raw: dict, type_path: str, source: str) -> Constraint:
        key = raw.get("key", "?")
        expr = raw.get("expression") or ""
        con = Constraint(key=key, severity=Severity.WARNING if raw.get("severity") == "warning" else Severity.ERROR,
                         human=raw.get("human", ""), expression=expr, source=source, type_path=type_path)
        if self._use_native and key in _NATIVE and _NATIVE[key][0] == expr:
            con.native = _NATIVE[key][1]
        elif self._use_native and (key, expr) in IG_NATIVE:
            con.native = IG_NATIVE[(key, expr)]
        if not expr:
            con.problem = "no FHIRPath expression"
        else:
            con.problem = self.compile_problem(expr)
        if con.problem:
            self.unevaluable.setdefault(key, con.problem)
        else:
            con.parsed = self.parse(expr)
            if self._use_skip:
                con.skip_keys = self._skip_keys(con)
        self.constraints.setdefault((type_path, key), con)
        return con

    def _skip_keys(self, con: Constraint) -> frozenset[str] | None:
        try:
            names = _context_names(con.parsed["children"][0], set())
        except (_NotSkippable, KeyError, IndexError, ValueError):
            return None
        if not names:
            return None
        ck = (con.expression, con.type_path)
        ok = self._empty_ok.get(ck)
        if ok is None:
            st = _State({}, {}, None)
            st.options = self._options(st)
            try:
                ok = self._fhirpath(con, {}, st) is True
            except Exception:  # noqa: BLE001
                ok = False
            self._empty_ok[ck] = ok
        if not ok:
            return None
        keys: set[str] = set()
        for n in names:
            keys.update((n, "_" + n))
            for t in self._choice_paths.get(f"{con.type_path}.{n}", ()):
                keys.update((n + t, "_" + n + t))
        return frozenset(keys)

    # ----- StructureDefinitions to element trees

    def _sd(self, url: str) -> dict | None:
        if url not in self._sds:
            sd = self._definitions(url)
            self._sds[url] = sd if isinstance(sd, dict) and sd.get("snapshot") else None
            if self._sds[url] is not None:
                kids: dict[str, list[dict]] = {}
                elements: dict[str, dict] = {}
                for el in sd["snapshot"].get("element", []):
                    if el.get("sliceName") or ":" in el.get("id", ""):
                        continue   # slices: profile-specific, not walked
                    elements[el["path"]] = el
                    parent, _, _ = el["path"].rpartition(".")
                    if parent:
                        kids.setdefault(parent, []).append(el)
                self._kids[url] = kids
                self._elements[url] = elements
        return self._sds[url]

    def _node(self, url: str, path: str, type_path: str) -> _Node | None:
        key = (url, path)
        node = self._nodes.get(key)
        if node is None:
            with self._lock:
                node = self._nodes.get(key)
                if node is None:
                    sd = self._sd(url)
                    if sd is None:
                        return None
                    el = self._elements[url].get(path, {})
                    cons = []
                    for raw in el.get("constraint") or []:
                        if raw.get("key") == "ele-1":
                            continue        # native, applied by the walk to every element
                        if raw.get("key") == "ext-1" and raw.get("expression") == _EXT1 and self._use_native:
                            continue        # native, applied by the walk
                        cons.append(self._constraint(raw, type_path, _source(raw, sd)))
                    node = _Node(sd, path, type_path, tuple(cons))
                    node.ext1 = self._use_native and any(
                        r.get("key") == "ext-1" and r.get("expression") == _EXT1 for r in el.get("constraint") or [])
                    self._nodes[key] = node
        return node

    def _type_node(self, code: str, profile: str | None = None) -> _Node | None:
        url = profile or CORE + code
        sd = self._sd(url)
        if sd is None and profile:
            url = CORE + code
            sd = self._sd(url)
        if sd is None:
            return None
        return self._node(url, sd.get("type", code), sd.get("type", code))

    def _resource_node(self, resource_type: str) -> _Node | None:
        if resource_type not in self._resource_nodes:
            self._resource_nodes[resource_type] = self._type_node(resource_type)
        return self._resource_nodes[resource_type]

    def _children(self, node: _Node) -> dict[str, _Child]:
        if node.children is not None:
            return node.children
        with self._lock:
            if node.children is not None:
                return node.children
            url = node.sd["url"]
            out: dict[str, _Child] = {}
            for el in self._kids[url].get(node.path, []):
                name = el["path"].rsplit(".", 1)[1]
                array = el.get("max", "1") not in ("0", "1")
                raw_cons = el.get("constraint") or []
                ele1 = any(c.get("key") == "ele-1" for c in raw_cons)
                ref = el.get("contentReference")
                if ref:
                    target_path = ref.split("#", 1)[1]
                    target = self._node(url, target_path, target_path)
                    out[name] = _Child(name, array, "complex", target, (), ele1)
                    continue
                types = el.get("type") or []
                choice = name.endswith("[x]")
                base = name[:-3] if choice else name
                for t in types:
                    code = t.get("code", "")
                    profile = (t.get("profile") or [None])[0]
                    key = base + code[:1].upper() + code[1:] if choice else base
                    segment = f"{base}.ofType({code})" if choice else base
                    if code in ("BackboneElement", "Element") and el["path"] != node.path:
                        kind, child_node = "complex", self._node(url, el["path"], el["path"])
                        type_path = el["path"]
                    elif code == "Resource" or (code[:1].isupper() and self._is_resource(code)):
                        kind, child_node, type_path = "resource", None, code
                    elif code[:1].islower() or code.startswith(systems.FHIRPATH_TYPES):
                        kind, child_node, type_path = "primitive", None, code
                    else:
                        kind, child_node = "complex", self._type_node(code, profile)
                        type_path = child_node.type_path if child_node else code
                    have = {c.key for c in child_node.constraints} if child_node else set()
                    extra = []
                    for raw in raw_cons:
                        k = raw.get("key")
                        if k in have or (k == "ele-1" and (self._use_native or kind != "complex")):
                            continue
                        if k == "ext-1" and child_node is not None and child_node.ext1:
                            continue
                        extra.append(self._constraint(raw, type_path, _source(raw, node.sd)))
                    child = _Child(segment, array, kind, child_node, tuple(extra),
                                   ele1 and (self._use_native or kind != "complex"))
                    if kind == "primitive":
                        child.ext_node = self._type_node("Extension")
                        child.ext_key = "_" + key
                    out[key] = child
            node.children = out
            return out

    def _is_resource(self, code: str) -> bool:
        sd = self._sd(CORE + code)
        return bool(sd and sd.get("kind") == "resource")

    # ----- fhirpathpy

    def _options(self, st: _State) -> dict:
        from fhirpathpy.engine.nodes import ResourceNode

        def resolve(items):
            out = []
            for item in items:
                target = self._resolve(item, st)
                if target is not None:
                    out.append(ResourceNode.create_node(target, target.get("resourceType")))
            return out

        def one_item(name: str, callback):
            """memberOf(url) / conformsTo(url): the injected callback on the single input item."""
            def fn(items, url):
                if not items:
                    return []
                if len(items) > 1:
                    raise ValueError(f"{name}() on more than one item")
                answer = callback(items[0], url) if callback else None
                if answer is None:
                    raise Unknown(name, url)
                return answer
            return fn

        member_of = one_item("memberOf", self.member_of)
        conforms_to = one_item("conformsTo", self.conforms_to)

        table = {
            "hasValue": {"fn": lambda items: has_value(items)},
            "htmlChecks": {"fn": lambda items: html_checks(items)},
            "resolve": {"fn": resolve},
            "memberOf": {"fn": member_of, "arity": {1: ["String"]}},
            "conformsTo": {"fn": conforms_to, "arity": {1: ["String"]}},
        }
        return {"userInvocationTable": table, "returnRawData": True, "traceFn": _no_trace}

    def _fhirpath(self, con: Constraint, data, st: _State, ext=None) -> bool:
        """True/False as fhirpathpy evaluates the constraint on `data` (an element instance)."""
        from fhirpathpy import apply_parsed_path
        from fhirpathpy.engine.nodes import ResourceNode
        from fhirpathpy.engine.util import get_data

        if not st.options:
            st.options = self._options(st)
        node = ResourceNode.create_node(data, con.type_path, ext)
        result = apply_parsed_path(node, con.parsed, {"resource": st.resource, "rootResource": st.root},
                                   self._model, st.options)
        if len(result) == 1 and get_data(result[0]) is False:
            return False
        return True

    def _resolve(self, item, st: _State) -> dict | None:
        ref = item.get("reference") if isinstance(item, dict) else item
        if not isinstance(ref, str) or not ref:
            return None
        if ref.startswith("#"):
            if ref == "#":
                return st.root
            for c in _items(st.root.get("contained")):
                if c.get("id") == ref[1:]:
                    return c
            return None
        bundle = st.bundle
        if not bundle:
            return None
        if st.bundle_for_index is not bundle:
            st.bundle_index, st.bundle_for_index = entry_index(bundle), bundle
        return find_entry(st.bundle_index or {}, ref)

    # ----- evaluation

    def iter_invariant_issues(self, resource: dict, *, location: str = "",
                              bundle: dict | None = None) -> Iterator[Issue]:
        """Issues for every constraint that fails at any element of `resource` (JSON).

        `location` is the FHIRPath of the resource in its document (e.g. ``Bundle.entry[2].resource``;
        default: its resourceType); `bundle` is the Bundle holding it (for ``resolve()``).
        """
        if not isinstance(resource, dict):
            return
        rt = resource.get("resourceType")
        node = self._resource_node(rt) if isinstance(rt, str) else None
        if node is None:
            return
        st = _State(resource, resource, resource if rt == "Bundle" else bundle)   # options: on first use
        out: list[Issue] = []
        self._check(node.constraints, resource, st, location or rt, out)
        self._walk(node, resource, st, location or rt, out)
        yield from out

    def _check(self, cons, data, st: _State, loc: str, out: list, ext=None) -> None:
        for con in cons:
            verdict = None
            if con.native is not None:
                try:
                    verdict = con.native(data, st)
                except Exception:  # noqa: BLE001 - odd JSON: let fhirpathpy decide
                    verdict = None
            if verdict is None:
                if con.problem:
                    if con.key not in st.reported:
                        st.reported.add(con.key)
                        out.append(self._issue(Msg.VAL_INV_UNEVALUABLE, Severity.WARNING, con, loc,
                                               f"invariant {con.key} cannot be evaluated ({con.problem})"))
                    continue
                if con.skip_keys is not None and isinstance(data, dict) and con.skip_keys.isdisjoint(data):
                    continue
                try:
                    verdict = self._fhirpath(con, data, st, ext)
                except Unknown as unk:
                    out.append(self._issue(Msg.VAL_INV_UNKNOWN, Severity.INFORMATION, con, loc,
                                           f"invariant {con.key} skipped: {unk}"))
                    continue
                except Exception as exc:  # noqa: BLE001 - fhirpathpy raises plain Exceptions
                    self.unevaluable.setdefault(con.key, f"{type(exc).__name__}: {str(exc)[:200]}")
                    if con.key not in st.reported:
                        st.reported.add(con.key)
                        out.append(self._issue(Msg.VAL_INV_UNEVALUABLE, Severity.WARNING, con, loc,
                                               f"invariant {con.key} cannot be evaluated ({type(exc).__name__}: "
                                               f"{str(exc)[:200]})"))
                    continue
            if verdict is False:
                out.append(self._issue(Msg.VAL_INV_FAILED, con.severity, con, loc,
                                       f"Constraint failed: {con.key}: '{con.human}' (defined at {con.source})"))

    @staticmethod
    def _issue(msg: Msg, severity: Severity, con: Constraint, loc: str, text: str) -> Issue:
        from ..messages import _CODE
        return Issue(severity, _CODE.get(msg, IssueCode.INVARIANT), msg.value, text, Path(),
                     Source.VALIDATOR, loc, citation=f"{CORE}{con.source}" if con.source[:1].isupper() else None)

    def _walk(self, node: _Node, data: dict, st: _State, loc: str, out: list) -> None:
        children = node.children if node.children is not None else self._children(node)
        for key, value in data.items():
            child = children.get(key)
            if child is None:
                if key[:1] == "_" and key[1:] not in data:
                    child = children.get(key[1:])
                    if child is not None and child.kind == "primitive":
                        self._primitives(child, None, value, st, loc, out)
                continue
            kind = child.kind
            if kind == "complex":
                sub = child.node
                if sub is None:
                    continue
                if child.array and isinstance(value, list):
                    for i, item in enumerate(value):
                        if isinstance(item, dict):
                            self._complex(sub, child, item, st, f"{loc}.{child.segment}[{i}]", out)
                        elif child.ele1 and item is None:
                            self._ele1_fail(st, f"{loc}.{child.segment}[{i}]", out)
                elif isinstance(value, dict):
                    self._complex(sub, child, value, st, f"{loc}.{child.segment}", out)
            elif kind == "primitive":
                if not child.extra and type(value) in _SCALAR_TYPES and child.ext_key not in data:
                    continue  # a plain value satisfies ele-1; nothing else to check
                self._primitives(child, value, data.get(child.ext_key), st, loc, out)
            else:
                items = value if isinstance(value, list) else [value]
                for i, item in enumerate(items):
                    if not isinstance(item, dict):
                        continue
                    rt = item.get("resourceType")
                    rnode = self._resource_node(rt) if isinstance(rt, str) else None
                    if rnode is None:
                        continue
                    where = f"{loc}.{child.segment}[{i}]" if isinstance(value, list) else f"{loc}.{child.segment}"
                    saved = (st.resource, st.root, st.bundle)
                    if key == "contained":
                        st.resource = item
                    else:
                        st.resource, st.root = item, item
                        if data.get("resourceType") == "Bundle":
                            st.bundle = data
                    try:
                        self._check(rnode.constraints, item, st, where, out)
                        self._walk(rnode, item, st, where, out)
                    finally:
                        st.resource, st.root, st.bundle = saved

    def _complex(self, sub: _Node, child: _Child, item: dict, st: _State, loc: str, out: list) -> None:
        if child.ele1 and not _ele1_complex(item):
            self._ele1_fail(st, loc, out)
        if sub.ext1 and (_ex(item, "extension") == _choice(item, "value")):
            out.append(self._native_issue("ext-1", loc))
        if sub.constraints:
            self._check(sub.constraints, item, st, loc, out)
        if child.extra:
            self._check(child.extra, item, st, loc, out)
        self._walk(sub, item, st, loc, out)

    def _primitives(self, child: _Child, value, ext, st: _State, loc: str, out: list) -> None:
        if ext is None and not child.extra:
            # the common case: plain values, no extension, no constraint beyond ele-1 (which a
            # value satisfies) -- nothing to check, and no location string to build
            if child.array:
                if type(value) is list and all(type(v) in _SCALAR_TYPES for v in value):
                    return
            elif type(value) in _SCALAR_TYPES:
                return
        if child.array:
            values = value if isinstance(value, list) else ([] if value is None else [value])
            exts = ext if isinstance(ext, list) else []
            for i in range(max(len(values), len(exts))):
                v = values[i] if i < len(values) else None
                x = exts[i] if i < len(exts) else None
                self._primitive(child, v, x, st, f"{loc}.{child.segment}[{i}]", out)
        else:
            self._primitive(child, value, ext, st, f"{loc}.{child.segment}", out)

    def _primitive(self, child: _Child, value, ext, st: _State, loc: str, out: list) -> None:
        if isinstance(value, (dict, list)):
            return  # wrong JSON type: the structure checks report it
        if child.ele1 and not _ele1_primitive(value, ext):
            self._ele1_fail(st, loc, out)
        if child.extra:
            self._check(child.extra, value, st, loc, out, ext if isinstance(ext, dict) else None)
        if isinstance(ext, dict) and ext.get("extension") and child.ext_node is not None:
            enode = child.ext_node
            for i, item in enumerate(ext["extension"] if isinstance(ext["extension"], list) else []):
                if isinstance(item, dict):
                    self._complex(enode, _EXT_CHILD, item, st, f"{loc}.extension[{i}]", out)

    def _ele1_fail(self, st: _State, loc: str, out: list) -> None:
        out.append(self._native_issue("ele-1", loc))

    def _native_issue(self, key: str, loc: str) -> Issue:
        human, source = _WALK_NATIVE[key]
        return Issue(Severity.ERROR, IssueCode.INVARIANT, Msg.VAL_INV_FAILED.value,
                     f"Constraint failed: {key}: '{human}' (defined at {source})", Path(), Source.VALIDATOR,
                     loc, citation=f"{CORE}{source}")

    def check(self, raw_constraints: tuple[dict, ...], data, *, type_path: str, location: str, source: str,
              resource: dict, bundle: dict | None = None) -> list[Issue]:
        """The issues of constraints that are not the base specification's (a profile's, with
        ``source`` its name) on one element instance: compiled once (natives, skipping), then
        checked as the base ones are."""
        key = (type_path, source, tuple(id(c) for c in raw_constraints))
        cons = self._profile_constraints.get(key)
        if cons is None:
            with self._lock:
                cons = tuple(self._constraint(c, type_path, source) for c in raw_constraints)
                self._profile_constraints[key] = (cons, raw_constraints)   # (keeps the dicts' ids)
        else:
            cons = cons[0]
        st = _State(resource, resource, bundle)
        out: list[Issue] = []
        self._check(cons, data, st, location, out)
        said = f"(defined at {source})"    # a profile's constraint: said as the profile layer says things
        return [replace(i, message=i.message.replace(said, f"(profile {source})"), citation=None)
                if said in i.message else i for i in out]

    def evaluate(self, expression: str, data, *, type_path: str | None = None, resource: dict | None = None,
                 bundle: dict | None = None) -> list:
        """fhirpathpy's result (plain data) of `expression` on `data`, with the FHIR functions of this module.

        `type_path` is the FHIRPath type of `data` (default: its resourceType); `resource` is
        ``%resource``/``%rootResource`` (default: `data`); `bundle` is what ``resolve()`` searches.
        """
        from fhirpathpy import apply_parsed_path
        from fhirpathpy.engine.nodes import ResourceNode

        problem = self.compile_problem(expression)
        if problem:
            raise ValueError(problem)
        root = resource if resource is not None else data if isinstance(data, dict) else {}
        st = _State(root, root, bundle)
        st.options = self._options(st)
        node = ResourceNode.create_node(data, type_path or (data.get("resourceType") if isinstance(data, dict) else None))
        from fhirpathpy.engine.util import get_data
        result = apply_parsed_path(node, self.parse(expression), {"resource": root, "rootResource": root},
                                   self._model, st.options)
        return [get_data(x) for x in result]

    # ----- introspection

    def core_expressions(self, urls) -> dict[tuple[str, str], str]:
        """(key, expression) -> defining StructureDefinition for the constraints declared in `urls`."""
        found: dict[tuple[str, str], str] = {}
        for url in urls:
            sd = self._definitions(url)
            if not sd:
                continue
            for el in (sd.get("differential") or {}).get("element", []):
                for c in el.get("constraint") or []:
                    found.setdefault((c.get("key"), c.get("expression") or ""), sd.get("name", url))
        return found


def _no_trace(label, items) -> None:
    return None


_WALK_NATIVE = {
    "ele-1": ("All FHIR elements must have a @value or children", "Element"),
    "ext-1": ("Must have either extensions or value[x], not both", "Extension"),
}
_EXT_CHILD = _Child("extension", True, "complex", None, (), True)


def _source(raw: dict, sd: dict) -> str:
    src = raw.get("source") or sd.get("url", "")
    return src.rsplit("/", 1)[-1]
