"""ValueSet expansion from loaded definitions, offline.

Everything comes through one callable, ``resources(canonical) -> dict | None``, which maps a
canonical URL (``url`` or ``url|version``) to a ValueSet or CodeSystem resource as JSON. How the
packages were loaded is not this module's business (:func:`directory_resolver` reads an extracted
NPM package folder, for tests and scripts; :func:`chain` combines several resolvers).

What is computed locally
  * ``compose.include`` / ``exclude`` with ``concept`` lists (any system, known or not);
  * a whole code system (``system`` alone) when its CodeSystem is loaded with ``content: complete``,
    nested concepts included;
  * ``valueSet`` imports (a union; several in one include, and with a ``system``, intersect);
  * filters on a loaded complete CodeSystem: ``is-a``, ``descendent-of``, ``is-not-a``, ``in`` and
    ``=`` on ``concept`` (or ``code``), ``=``/``in``/``exists`` on a concept property, ``regex`` on
    ``code``. The hierarchy is the nesting plus the ``child``/``parent``/``subsumedBy`` properties
    (HL7 v3 code systems are poly-hierarchies);
  * systems with no table but a decidable membership, included whole: ICD-10-CM (the official
    table, :mod:`fhir_at.terminology.icd10cm`), UCUM (unit syntax), MIME types (BCP 13) and language
    tags (BCP 47) — see :data:`PREDICATE_SYSTEMS`.

Anything else — SNOMED CT / LOINC / RxNorm based sets, unknown systems, unsupported filters, CodeSystems
of ``content`` other than ``complete`` — leaves the expansion *incomplete*: the codes that could be
enumerated still count as members, but a code outside them cannot be judged ("cannot be expanded
locally"). An ``exclude`` that cannot be computed makes even the enumerated members unsure.

Expansions are cached per :class:`Expander` (keyed by ``url|version``); a membership test is a
frozenset look-up.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ..terminology import systems

__all__ = ["ucum_syntax_error", "ucum_misspelling", "mime_type_ok", "language_tag_ok", "Resolver", "Concept", "CodeSystemIndex", "Expansion", "Expander", "PREDICATE_SYSTEMS",
           "directory_resolver", "chain", "core_package_dir", "split_canonical"]

Resolver = Callable[[str], "dict | None"]

_MAX_IMPORT_DEPTH = 16


def split_canonical(url: str) -> tuple[str, str | None]:
    """``"url|version"`` → ``("url", "version")``; ``"url"`` → ``("url", None)``."""
    base, sep, version = url.partition("|")
    return base, (version or None) if sep else None


# --- predicate systems: membership decided without a table of codes -----------------------------

_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
                   r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"]*\"|[^;\"]+))*$")  # parameter values: lenient, as in the wild
# RFC 5646 language tag (the common forms: language[-script][-region][-variant]*[-extension]*[-x-private]).
_BCP47 = re.compile(
    r"^(?:(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})"
    r"(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*"
    r"(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?"
    r"|[xX](?:-[A-Za-z0-9]{1,8})+|i-[A-Za-z]{2,8}|art-lojban|cel-gaulish|zh-guoyu|zh-hakka|zh-xiang)$")


# FHIR's own shorthands for its formats (CapabilityStatement.format: "xml | json | ttl | mime type").
_FHIR_FORMATS = frozenset({"xml", "json", "ttl"})


def mime_type_ok(code: str) -> bool:
    return code in _FHIR_FORMATS or bool(_MIME.match(code))


def language_tag_ok(code: str) -> bool:
    return bool(_BCP47.match(code))


def _icd10cm_member(code: str) -> bool:
    from ..terminology import icd10cm

    return icd10cm.lookup(code) is not None


def _ucum_member(code: str) -> bool:
    return ucum_syntax_error(code) is None and ucum_misspelling(code) is None


# --- UCUM syntax (the grammar of the UCUM specification, section 2, without a table of units) ------
#
#   main-term  ::= "/" term | term
#   term       ::= term "." component | term "/" component | component
#   component  ::= annotatable annotation | annotatable | annotation | factor | "(" term ")"
#   annotatable::= simple-unit exponent | simple-unit
#   simple-unit::= ATOM | PREFIX ATOM        (symbols of ASCII 33-126 except "()+-./=[]{},
#                                             with [...] segments that may hold anything but [ ])
#   exponent   ::= sign? digits              annotation ::= "{" ASCII 33-126 except { } "}"
#
# Without the table of atoms a few lexical facts still hold: an atom starting with a digit is only
# 10* or 10^, and "*" / "^" occur in no other atom; a symbol never ends in a digit (that digit is
# the exponent); whitespace and non-ASCII characters never occur.

_UCUM_EXCLUDED = frozenset('"()+-./=[]{}')


def _is_symbol_char(ch: str) -> bool:
    return "!" <= ch <= "~" and ch not in _UCUM_EXCLUDED


class _UcumError(ValueError):
    pass


class _UcumParser:
    def __init__(self, text: str):
        self.s, self.pos, self.n = text, 0, len(text)

    def fail(self, why: str, at: int | None = None) -> _UcumError:
        return _UcumError(f"{why} at position {(self.pos if at is None else at) + 1}")

    def peek(self) -> str:
        return self.s[self.pos] if self.pos < self.n else ""

    def parse(self) -> None:
        if self.peek() == "/":
            self.pos += 1
        self.term()
        if self.pos < self.n:
            ch = self.peek()
            raise self.fail("unbalanced ')'" if ch == ")" else f"unexpected {ch!r}")

    def term(self) -> None:
        self.component()
        while self.peek() in (".", "/") and self.pos < self.n:
            self.pos += 1
            self.component()

    def component(self) -> None:
        ch = self.peek()
        if ch == "(":
            self.pos += 1
            self.term()
            if self.peek() != ")":
                raise self.fail("missing ')'")
            self.pos += 1
        elif ch == "{":
            self.annotation()
        elif ch == "" or ch in "./)":
            raise self.fail("a unit is missing")
        else:
            self.annotatable()
            if self.peek() == "{":
                self.annotation()

    def annotation(self) -> None:
        end = self.s.find("}", self.pos + 1)
        if end < 0:
            raise self.fail("unclosed '{'")
        body = self.s[self.pos + 1:end]
        bad = next((c for c in body if not ("!" <= c <= "~") or c == "{"), None)
        if bad is not None:
            raise self.fail(f"{bad!r} is not allowed in an annotation")
        self.pos = end + 1

    def annotatable(self) -> None:
        start = self.pos
        plain_tail = start  # where the trailing run outside brackets begins
        while self.pos < self.n:
            ch = self.s[self.pos]
            if ch == "[":
                end = self.s.find("]", self.pos + 1)
                if end < 0:
                    raise self.fail("unclosed '['")
                inner = self.s[self.pos + 1:end]
                bad = next((c for c in inner if not ("!" <= c <= "~") or c == "["), None)
                if bad is not None or not inner:
                    raise self.fail(f"{bad!r} is not allowed inside [...]" if bad else "empty []")
                self.pos = end + 1
                plain_tail = self.pos
            elif _is_symbol_char(ch):
                self.pos += 1
            elif ch in "+-":
                break
            elif ch in "./(){}" or ch == "":
                break
            elif ch == "]":
                raise self.fail("unbalanced ']'")
            elif ch.isspace():
                raise self.fail("whitespace is not allowed")
            elif ch == "=" or ch == '"':
                raise self.fail(f"{ch!r} is not allowed")
            else:
                raise self.fail(f"{ch!r} is not an ASCII unit character (micro is 'u')")
        text = self.s[start:self.pos]
        signed = self.peek() in ("+", "-")
        if signed:
            self.pos += 1
            digits_from = self.pos
            while self.pos < self.n and self.s[self.pos].isdigit():
                self.pos += 1
            if self.pos == digits_from:
                raise self.fail("a sign must be followed by the digits of an exponent")
            unit = text
        else:
            k = len(text)
            while k > plain_tail - start and text[k - 1].isdigit():
                k -= 1
            unit = text[:k]
            if not unit:
                if not text:
                    raise self.fail("a unit is missing")
                return  # a factor (a positive integer)
        if not unit:
            raise self.fail("an exponent needs a unit", start)
        if unit[-1].isdigit():
            raise self.fail(f"the unit {unit!r} cannot end with a digit before an exponent", start)
        if unit[0].isdigit() and not (unit.startswith("10*") or unit.startswith("10^")):
            raise self.fail(f"{unit!r}: a unit symbol cannot start with a digit (only 10* and 10^ do)", start)
        outside = re.sub(r"\[[^\]]*\]", "", unit)
        if ("*" in outside or "^" in outside) and unit not in ("10*", "10^"):
            raise self.fail(f"{unit!r}: '*' and '^' occur only in the units 10* and 10^", start)


@functools.lru_cache(maxsize=4096)
def ucum_syntax_error(code: str) -> str | None:
    """None when ``code`` is a syntactically valid UCUM expression, else why not."""
    if not code:
        return "the unit is empty"
    try:
        _UcumParser(code).parse()
    except _UcumError as exc:
        return str(exc)
    return None


#: Spellings that pass the grammar (or nearly) but are not the UCUM units meant.
UCUM_MISSPELLINGS: dict[str, str] = {
    "mcg": "ug", "cc": "mL", "lb": "[lb_av]", "lbs": "[lb_av]", "in": "[in_i]", "inch": "[in_i]",
    "inches": "[in_i]", "hr": "h", "hrs": "h", "sec": "s", "secs": "s", "mins": "min",
    "mmHg": "mm[Hg]", "degF": "[degF]", "degC": "Cel", "bpm": "/min", "kgs": "kg", "oz": "[oz_av]",
    "feet": "[ft_i]", "yd": "[yd_i]", "IU": "[IU]", "iu": "[IU]", "mEq": "meq",
}


def ucum_misspelling(code: str) -> str | None:
    """The UCUM unit meant when ``code`` contains a common non-UCUM spelling, else None."""
    for atom in re.split(r"[./()]", code):
        stripped = re.sub(r"\{[^}]*\}", "", atom).rstrip("0123456789+-")
        if stripped in UCUM_MISSPELLINGS:
            return code.replace(stripped, UCUM_MISSPELLINGS[stripped], 1)
    return None


#: System → predicate deciding whether a code belongs to the whole system.
PREDICATE_SYSTEMS: dict[str, Callable[[str], bool]] = {
    systems.ICD10CM: _icd10cm_member,
    systems.UCUM: _ucum_member,
    systems.BCP13: mime_type_ok,
    systems.BCP47: language_tag_ok,
}


# --- code systems ---------------------------------------------------------------------------------

@dataclass(slots=True)
class Concept:
    code: str
    display: str | None
    designations: tuple[str, ...] = ()
    properties: dict[str, list] = field(default_factory=dict)
    parents: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)

    @property
    def abstract(self) -> bool:
        return any(v is True for v in self.properties.get("notSelectable", []) + self.properties.get("abstract", []))

    @property
    def inactive(self) -> bool:
        status = self.properties.get("status", [])
        return "retired" in status or True in self.properties.get("inactive", [])


_VALUE_KEYS = ("valueCode", "valueString", "valueBoolean", "valueInteger", "valueDecimal", "valueDateTime",
               "valueCoding")


class CodeSystemIndex:
    """A loaded CodeSystem: its concepts by code and the is-a hierarchy."""

    def __init__(self, resource: dict):
        self.url: str = resource.get("url", "")
        self.version: str | None = resource.get("version")
        self.content: str = resource.get("content", "complete")
        self.case_sensitive: bool = resource.get("caseSensitive", True) is not False
        self.concepts: dict[str, Concept] = {}
        self._walk(resource.get("concept") or [], None)
        for c in self.concepts.values():
            for child in c.properties.get("child", []):
                self._link(c.code, child)
            for parent in c.properties.get("parent", []) + c.properties.get("subsumedBy", []):
                self._link(parent, c.code)
        self._lower: dict[str, str] | None = None
        self._desc_cache: dict[str, frozenset[str]] = {}

    def _walk(self, concepts: list, parent: str | None) -> None:
        for raw in concepts:
            code = raw.get("code")
            if not isinstance(code, str):
                continue
            props: dict[str, list] = {}
            for p in raw.get("property") or []:
                value = next((p[k] for k in _VALUE_KEYS if k in p), None)
                if isinstance(value, dict):
                    value = value.get("code")
                props.setdefault(p.get("code", ""), []).append(value)
            designations = tuple(d["value"] for d in raw.get("designation") or [] if isinstance(d.get("value"), str))
            concept = self.concepts.get(code)
            if concept is None:
                concept = self.concepts[code] = Concept(code, raw.get("display"), designations, props)
            if parent is not None:
                self._link(parent, code)
            self._walk(raw.get("concept") or [], code)

    def _link(self, parent: str, child: str) -> None:
        p, c = self.concepts.get(parent), self.concepts.get(child)
        if p is not None and c is not None and parent != child:
            p.children.add(child)
            c.parents.add(parent)

    @property
    def complete(self) -> bool:
        return self.content == "complete"

    def get(self, code: str) -> Concept | None:
        concept = self.concepts.get(code)
        if concept is None and not self.case_sensitive:
            if self._lower is None:
                self._lower = {k.lower(): k for k in self.concepts}
            real = self._lower.get(code.lower())
            concept = self.concepts.get(real) if real else None
        return concept

    def descendants(self, code: str) -> frozenset[str]:
        """Codes strictly below ``code`` (transitively)."""
        hit = self._desc_cache.get(code)
        if hit is not None:
            return hit
        out: set[str] = set()
        stack = list(self.concepts[code].children) if code in self.concepts else []
        while stack:
            c = stack.pop()
            if c not in out:
                out.add(c)
                stack.extend(self.concepts[c].children)
        result = self._desc_cache[code] = frozenset(out)
        return result


# --- expansions -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Expansion:
    """A (possibly partial) expansion.

    ``codes``: the enumerated members as ``(system, code)``; ``whole``: systems included in full whose
    membership a predicate decides (:data:`PREDICATE_SYSTEMS`); ``complete``: whether every code not in
    ``codes``/``whole`` is known *not* to be a member; ``unsure``: set when an exclude could not be
    computed, so that not even the enumerated members are certain; ``reasons``: why it is incomplete.
    """

    url: str
    version: str | None
    codes: frozenset[tuple[str, str]]
    displays: Mapping[tuple[str, str], str]
    whole: frozenset[str] = frozenset()
    complete: bool = True
    unsure: bool = False
    reasons: tuple[str, ...] = ()
    by_code: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url

    @property
    def systems(self) -> frozenset[str]:
        return frozenset(s for s, _ in self.codes) | self.whole

    def __len__(self) -> int:
        return len(self.codes)

    def contains(self, system: str | None, code: str) -> bool | None:
        """True (member), False (not a member) or None (cannot tell locally).

        ``system=None`` is a bare ``code`` element: a member when any system of the set has the code.
        """
        if self.unsure:
            return None
        if system is None:
            if code in self.by_code:
                return True
            if any(PREDICATE_SYSTEMS[s](code) for s in self.whole):
                return True
        else:
            if (system, code) in self.codes:
                return True
            if system in self.whole and PREDICATE_SYSTEMS[system](code):
                return True
        return False if self.complete else None


@dataclass(slots=True)
class _Part:
    """A set under construction (members, whole predicate systems, completeness)."""

    codes: dict[tuple[str, str], str | None] = field(default_factory=dict)
    whole: set[str] = field(default_factory=set)
    complete: bool = True
    unsure: bool = False
    reasons: list[str] = field(default_factory=list)

    def incomplete(self, reason: str) -> "_Part":
        self.complete = False
        self.reasons.append(reason)
        return self


class Expander:
    """Expands ValueSets through a resolver and caches the results (thread-safe)."""

    def __init__(self, resources: Resolver):
        self.resources = resources
        self._expansions: dict[str, Expansion | None] = {}
        self._code_systems: dict[str, CodeSystemIndex | None] = {}
        self._lock = threading.RLock()

    # -- look-ups ----------------------------------------------------------------------------------
    def resolve(self, canonical: str, resource_type: str) -> dict | None:
        url, version = split_canonical(canonical)
        found = None
        if version:
            found = self._fetch(canonical, resource_type)
        if found is None:
            found = self._fetch(url, resource_type)
        return found

    def _fetch(self, canonical: str, resource_type: str) -> dict | None:
        try:
            found = self.resources(canonical)
        except (KeyError, LookupError):
            return None
        if isinstance(found, dict) and found.get("resourceType") == resource_type:
            return found
        return None

    def code_system(self, system: str, version: str | None = None) -> CodeSystemIndex | None:
        """The loaded CodeSystem for a system URI (any ``content``), or None."""
        key = f"{system}|{version}" if version else system
        try:
            return self._code_systems[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._code_systems:
                resource = self.resolve(key, "CodeSystem")
                self._code_systems[key] = CodeSystemIndex(resource) if resource else None
            return self._code_systems[key]

    # -- expansion ---------------------------------------------------------------------------------
    def expand(self, canonical: str) -> Expansion | None:
        """The expansion of a ValueSet, or None when the ValueSet is not loaded."""
        try:
            return self._expansions[canonical]
        except KeyError:
            pass
        with self._lock:
            if canonical not in self._expansions:
                self._expansions[canonical] = self._expand(canonical, ())
            return self._expansions[canonical]

    def warm(self, canonicals: Iterable[str]) -> int:
        """Expand (and cache) value sets ahead of time; returns how many are loaded."""
        return sum(1 for c in canonicals if self.expand(c) is not None)

    def _expand(self, canonical: str, stack: tuple[str, ...]) -> Expansion | None:
        vs = self.resolve(canonical, "ValueSet")
        if vs is None:
            return None
        part = self._value_set_part(vs, stack + (canonical,))
        codes = frozenset(part.codes)
        displays = {k: v for k, v in part.codes.items() if v}
        by_code: dict[str, set[str]] = {}
        for s, c in codes:
            by_code.setdefault(c, set()).add(s)
        return Expansion(vs.get("url", split_canonical(canonical)[0]), vs.get("version"), codes, displays,
                         frozenset(part.whole), part.complete, part.unsure, tuple(dict.fromkeys(part.reasons)),
                         {c: frozenset(s) for c, s in by_code.items()})

    def _value_set_part(self, vs: dict, stack: tuple[str, ...]) -> _Part:
        compose = vs.get("compose")
        if not compose:
            expansion = vs.get("expansion")
            if expansion is not None:
                return self._from_expansion(expansion, vs)
            return _Part().incomplete(f"{vs.get('url')} has neither compose nor expansion")
        out = _Part()
        for include in compose.get("include") or []:
            self._union(out, self._include(include, stack))
        for exclude in compose.get("exclude") or []:
            removed = self._include(exclude, stack)
            for key in removed.codes:
                out.codes.pop(key, None)
            out.whole -= removed.whole  # never partially exclude from a predicate system
            if not removed.complete or removed.whole:
                out.unsure = True
                out.incomplete("an exclude cannot be computed locally: " + "; ".join(removed.reasons or ["predicate system"]))
        return out

    def _from_expansion(self, expansion: dict, vs: dict) -> _Part:
        out = _Part()

        def walk(contains):
            for c in contains or []:
                if c.get("system") and c.get("code"):
                    out.codes[(c["system"], c["code"])] = c.get("display")
                walk(c.get("contains"))

        walk(expansion.get("contains"))
        total = expansion.get("total")
        if total is not None and total > len(out.codes) or expansion.get("offset"):
            out.incomplete(f"{vs.get('url')} carries a partial expansion")
        return out

    @staticmethod
    def _union(into: _Part, other: _Part) -> None:
        for k, v in other.codes.items():
            if into.codes.get(k) is None:
                into.codes[k] = v
        into.whole |= other.whole
        if not other.complete:
            into.complete = False
            into.reasons.extend(other.reasons)
        into.unsure = into.unsure or other.unsure

    def _include(self, include: dict, stack: tuple[str, ...]) -> _Part:
        imports = include.get("valueSet") or []
        system = include.get("system")
        imported: _Part | None = None
        for ref in imports:
            if ref in stack or len(stack) > _MAX_IMPORT_DEPTH:
                return _Part().incomplete(f"value set import cycle at {ref}")
            sub = self._expand_nested(ref, stack)
            imported = sub if imported is None else _intersect(imported, sub)
        if system is None:
            return imported if imported is not None else _Part()
        own = self._system_part(include, system)
        return own if imported is None else _intersect(own, imported)

    def _expand_nested(self, ref: str, stack: tuple[str, ...]) -> _Part:
        cached = self._expansions.get(ref)
        if cached is None:
            vs = self.resolve(ref, "ValueSet")
            if vs is None:
                return _Part().incomplete(f"imported value set {ref} is not loaded")
            return self._value_set_part(vs, stack + (ref,))
        part = _Part(dict((k, cached.displays.get(k)) for k in cached.codes), set(cached.whole),
                      cached.complete, cached.unsure, list(cached.reasons))
        return part

    def _system_part(self, include: dict, system: str) -> _Part:
        out = _Part()
        concepts = include.get("concept")
        filters = include.get("filter") or []
        cs = self.code_system(system, include.get("version"))
        if concepts:
            for c in concepts:
                code = c.get("code")
                if isinstance(code, str):
                    display = c.get("display")
                    if display is None and cs is not None:
                        known = cs.get(code)
                        display = known.display if known else None
                    out.codes[(system, code)] = display
            if filters:  # both given: the concepts must also pass the filters
                narrowed = self._system_part({k: v for k, v in include.items() if k != "concept"}, system)
                return _intersect(out, narrowed)
            return out
        usable = cs is not None and cs.complete
        if not filters:
            if usable:
                for code, concept in cs.concepts.items():
                    out.codes[(system, code)] = concept.display
                return out
            if system in PREDICATE_SYSTEMS:
                out.whole.add(system)
                return out
            return out.incomplete(_why_not(system, cs))
        if not usable:
            return out.incomplete(_why_not(system, cs))
        selected: set[str] | None = None
        for f in filters:
            chosen = _apply_filter(cs, f)
            if chosen is None:
                return out.incomplete(f"filter {f.get('property')} {f.get('op')} {f.get('value')} on {system} "
                                      "is not supported locally")
            selected = chosen if selected is None else selected & chosen
        for code in selected or ():
            out.codes[(system, code)] = cs.concepts[code].display
        return out


def _why_not(system: str, cs: CodeSystemIndex | None) -> str:
    if cs is None:
        return f"code system {system} is not loaded"
    return f"code system {system} is not available in full here (content = {cs.content})"


def _intersect(a: _Part, b: _Part) -> _Part:
    out = _Part()
    for key, display in a.codes.items():
        s, c = key
        if key in b.codes or (s in b.whole and PREDICATE_SYSTEMS[s](c)):
            out.codes[key] = display or b.codes.get(key)
    for key, display in b.codes.items():
        s, c = key
        if s in a.whole and PREDICATE_SYSTEMS[s](c):
            out.codes.setdefault(key, display)
    out.whole = a.whole & b.whole
    if not (a.complete and b.complete):
        out.incomplete("an intersection of value sets cannot be computed locally")
        out.reasons.extend(a.reasons + b.reasons)
    out.unsure = a.unsure or b.unsure
    return out


def _apply_filter(cs: CodeSystemIndex, f: dict) -> set[str] | None:
    prop, op, value = f.get("property"), f.get("op"), f.get("value")
    if not isinstance(value, str) and op != "exists":
        return None
    if prop in ("concept", "code"):
        if op in ("is-a", "descendent-of", "is-not-a"):
            if value not in cs.concepts:
                return set() if op != "is-not-a" else set(cs.concepts)
            below = cs.descendants(value)
            if op == "is-a":
                return set(below) | {value}
            if op == "descendent-of":
                return set(below)
            return set(cs.concepts) - below - {value}
        if op == "=":
            return {value} if value in cs.concepts else set()
        if op == "in":
            return {v.strip() for v in value.split(",") if v.strip() in cs.concepts}
        if op == "not-in":
            return set(cs.concepts) - {v.strip() for v in value.split(",")}
        if op == "regex" and prop == "code":
            try:
                pattern = re.compile(value)
            except re.error:
                return None
            return {c for c in cs.concepts if pattern.fullmatch(c)}
        return None
    if op in ("=", "in", "exists"):
        wanted = {v.strip() for v in value.split(",")} if op == "in" else {value}
        out = set()
        for code, concept in cs.concepts.items():
            values = concept.properties.get(prop)
            if op == "exists":
                if (values is not None) == (str(value).lower() != "false"):
                    out.add(code)
            elif values and any(_as_text(v) in wanted for v in values):
                out.add(code)
        if op != "exists" and not out and not any(prop in c.properties for c in cs.concepts.values()):
            return None  # a property this CodeSystem does not carry: do not guess
        return out
    return None


def _as_text(value) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


# --- resolvers ------------------------------------------------------------------------------------

def core_package_dir() -> Path:
    """The FHIR R4 core package in the standard FHIR package cache of the current user."""
    return Path.home() / ".fhir" / "packages" / "hl7.fhir.r4.core#4.0.1" / "package"


def directory_resolver(folder: str | Path, types: tuple[str, ...] = ("ValueSet", "CodeSystem")) -> Resolver:
    """A resolver over an extracted NPM package folder (its ``.index.json``), files read lazily."""
    folder = Path(folder)
    index: dict[str, list[tuple[str | None, str]]] = {}
    listing = folder / ".index.json"
    if listing.is_file():
        for entry in json.loads(listing.read_text(encoding="utf-8")).get("files", []):
            if entry.get("resourceType") in types and entry.get("url"):
                index.setdefault(entry["url"], []).append((entry.get("version"), entry["filename"]))
    else:
        for path in sorted(folder.glob("*.json")):
            if path.name.split("-", 1)[0] in types:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("url"):
                    index.setdefault(data["url"], []).append((data.get("version"), path.name))
    cache: dict[str, dict] = {}
    lock = threading.Lock()

    def load(name: str) -> dict:
        with lock:
            if name not in cache:
                cache[name] = json.loads((folder / name).read_text(encoding="utf-8"))
            return cache[name]

    def resolve(canonical: str) -> dict | None:
        url, version = split_canonical(canonical)
        entries = index.get(url)
        if not entries:
            return None
        for v, name in entries:
            if version is None or v == version:
                return load(name)
        return None

    return resolve


def chain(*resolvers: Resolver) -> Resolver:
    """The first answer of several resolvers, in order."""
    def resolve(canonical: str) -> dict | None:
        for r in resolvers:
            found = r(canonical)
            if found is not None:
                return found
        return None

    return resolve
