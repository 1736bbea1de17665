"""Terminology checks of the FHIR R4 validator: bindings and offline code checks.

Two entry points, both generators of :class:`~fhir_at.issues.Issue`:

* :meth:`Terminology.check_binding` ``(value, strength, valueset_url, expression)`` — ``value`` is a
  ``code`` string, a Coding or a CodeableConcept. Outside a *required* value set → error; outside
  *extensible* → warning; outside *preferred* → information; *example* → no membership check. A
  required CodeableConcept needs a coding from the set (text alone → error). A value set that
  cannot be expanded locally (SNOMED CT / LOINC based, unknown systems, unsupported filters) gives a
  warning "cannot be expanded locally; code not checked" for required/extensible, never an error.
  By default it also runs :meth:`check_coding` on every coding (pass ``check_codings=False`` when the
  caller checks the codings itself). Call it *instead of* ``check_coding`` for bound elements.
* :meth:`Terminology.check_coding` ``(system, code, display, expression)`` — what can be known of one
  code offline: ICD-10-CM against the official table (unknown → ``unknown_severity``, a header →
  warning naming its billable codes), LOINC mod-10 check digit, SNOMED CT SCTID form and Verhoeff
  check digit, UCUM syntax, CPT and HCPCS Level II lexical forms, codes of every CodeSystem loaded
  in full (unknown code → ``unknown_severity``, display mismatch → warning), MIME types and
  language tags by syntax. An unknown code system → warning "not known; cannot be validated".

Plus :meth:`check_identifier` (NPI Luhn) and :meth:`check_quantity` (UCUM units of a Quantity).

Definitions come through a resolver (``canonical -> resource``; see :mod:`.valuesets`). The
module-level functions use :func:`default`, which reads the R4 core package (a ``PackageSet`` of
:mod:`.packages` is itself a resolver) unless :func:`configure` gave another resolver.
"""

from __future__ import annotations

import re
import threading
from typing import Iterable, Iterator

from ..issues import Issue, Severity, Source
from ..messages import Msg, issue
from ..model.checks import npi_is_valid
from ..terminology import systems
from .valuesets import (CodeSystemIndex, Expander, Expansion, Resolver, core_package_dir, directory_resolver,
                        language_tag_ok, mime_type_ok, ucum_misspelling, ucum_syntax_error)

__all__ = ["Terminology", "default", "configure", "check_binding", "check_coding", "check_identifier",
           "check_quantity", "loinc_check_digit", "loinc_check_digit_ok", "loinc_form_ok", "verhoeff_ok",
           "sctid_error", "cpt_form_ok", "hcpcs_form_ok", "ucum_syntax_error", "STRENGTHS"]

STRENGTHS = ("required", "extensible", "preferred", "example")

_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFORMATION
_NOT_IN_SEVERITY = {"required": _E, "extensible": _W, "preferred": _I}


def _issue(msg: Msg, text: str, expression: str, severity: Severity) -> Issue:
    return issue(msg, text, severity=severity, source=Source.VALIDATOR, expression=expression)


# --- LOINC ------------------------------------------------------------------------------------------

_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_LOINC_PART = re.compile(r"^L[APG]\d{1,8}-\d$")  # answers (LA), parts (LP), groups (LG)


def loinc_check_digit(body: str) -> int:
    """The LOINC mod-10 check digit of the digits before the dash (Luhn, doubling from the right)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def loinc_check_digit_ok(code: str) -> bool:
    """True when a LOINC term code (``NNNNN-C``) carries the right mod-10 check digit."""
    m = _LOINC.match(code)
    return bool(m) and loinc_check_digit(m.group(1)) == int(m.group(2))


def loinc_form_ok(code: str) -> bool:
    return bool(_LOINC.match(code) or _LOINC_PART.match(code))


# --- SNOMED CT ----------------------------------------------------------------------------------------

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8))


def verhoeff_ok(digits: str) -> bool:
    """True when the last digit is the Verhoeff check digit of the others."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


_PARTITIONS = {"00": "concept", "10": "concept", "01": "description", "11": "description",
               "02": "relationship", "12": "relationship"}


def sctid_error(code: str, expect: str = "concept") -> tuple[Msg, str] | None:
    """Why ``code`` is not an SCTID of the expected kind (form, partition, check digit), or None."""
    if not code.isdigit() or not code.isascii():
        return Msg.VAL_TX_SNOMED_FORM, f"SNOMED CT id '{code}' is not all digits"
    if not 6 <= len(code) <= 18 or code[0] == "0":
        return Msg.VAL_TX_SNOMED_FORM, (f"SNOMED CT id '{code}' must have 6 to 18 digits and no "
                                        "leading zero")
    kind = _PARTITIONS.get(code[-3:-1])
    if kind is None:
        return Msg.VAL_TX_SNOMED_FORM, f"SNOMED CT id '{code}' has an invalid partition identifier '{code[-3:-1]}'"
    if code[-3] == "1" and len(code) < 11:
        return Msg.VAL_TX_SNOMED_FORM, f"SNOMED CT id '{code}' is in a namespace partition but too short"
    if not verhoeff_ok(code):
        return Msg.VAL_TX_SNOMED_CHECK_DIGIT, f"SNOMED CT id '{code}' fails its Verhoeff check digit"
    if kind != expect:
        return Msg.VAL_TX_SNOMED_FORM, f"SNOMED CT id '{code}' is a {kind} id, not a {expect} id"
    return None


_SCT_TERM = re.compile(r"\|[^|]*\|")
_SCT_ID = re.compile(r"\d+")


# --- CPT / HCPCS ----------------------------------------------------------------------------------

_CPT = re.compile(r"^(?:\d{5}|\d{4}[FTU]|\d{2})$")           # two digits: a CPT modifier (59, 76…)
_HCPCS = re.compile(r"^(?:[A-V]\d{4}|[A-Z][A-Z0-9]|[0-9][A-Z])$")  # two characters: a Level II modifier (GP, KX, XE…)


def cpt_form_ok(code: str) -> bool:
    """CPT Category I (5 digits), II (4 digits + F), III (+ T), PLA (+ U), or a modifier (2 digits)."""
    return bool(_CPT.match(code))


def hcpcs_form_ok(code: str) -> bool:
    """HCPCS Level II: a letter A-V and four digits, or a two-character modifier with a letter."""
    return bool(_HCPCS.match(code))


# --- the checker --------------------------------------------------------------------------------------

def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class Terminology:
    """Terminology checks over one set of loaded definitions (expansions cached per instance)."""

    def __init__(self, resources: Resolver | None = None, *, expander: Expander | None = None):
        if expander is None:
            expander = Expander(resources or (lambda _url: None))
        self.expander = expander
        self._handlers = {
            systems.ICD10CM: self._icd10cm,
            systems.LOINC: self._loinc,
            systems.SNOMED: self._snomed,
            systems.UCUM: self._ucum,
            systems.CPT: self._cpt,
            systems.HCPCS: self._hcpcs,
            systems.BCP13: self._mime,
            systems.BCP47: self._language,
        }

    def warm(self, urls: Iterable[str] = systems.CORE_COMMON_VALUE_SETS) -> int:
        """Expand the common core bindings now; returns how many were found."""
        return self.expander.warm(urls)

    def expand(self, valueset_url: str) -> Expansion | None:
        return self.expander.expand(valueset_url)

    # -- one code --------------------------------------------------------------------------------
    def check_coding(self, system: str | None, code: str | None, display: str | None = None,
                     expression: str = "", *, unknown_severity: Severity = _E,
                     version: str | None = None) -> Iterator[Issue]:
        """Offline checks of one (system, code, display); see the module docstring.

        ``unknown_severity``: for a code absent from a system whose full table is here (ICD-10-CM,
        CodeSystems loaded with ``content: complete``) — error under a required binding, else warning.
        Malformed codes (failed check digits, bad syntax) are errors whatever the binding.
        """
        if not system or not isinstance(system, str) or not isinstance(code, str) or not code:
            return
        canonical = systems.OID_TO_URI.get(system)
        if canonical is not None:
            yield _issue(Msg.VAL_TX_SYSTEM_OID, f"use the canonical URI {canonical} instead of the OID {system}",
                         expression + ".system" if expression else expression, _W)
            system = canonical
        elif system == systems.HCPCS_HTTPS:
            yield _issue(Msg.VAL_TX_SYSTEM_HTTPS, f"HCPCS system {system}: use {systems.HCPCS} (canonical "
                         "since 2023; https is accepted for US Core <= 8.0.1 and Da Vinci CRD)",
                         expression + ".system" if expression else expression, _I)
            system = systems.HCPCS
        handler = self._handlers.get(system)
        if handler is not None:
            yield from handler(code, display, expression, unknown_severity)
            return
        cs = self.expander.code_system(system, version)
        if cs is None:
            yield _issue(Msg.VAL_TX_SYSTEM_UNKNOWN, f"code system {system} is not known; the code '{code}' "
                         "cannot be validated", expression, _W)
            return
        yield from self._in_code_system(cs, code, display, expression, unknown_severity)

    def _in_code_system(self, cs: CodeSystemIndex, code: str, display: str | None, expression: str,
                        unknown_severity: Severity) -> Iterator[Issue]:
        concept = cs.get(code)
        if concept is None:
            if cs.complete:
                yield _issue(Msg.VAL_TX_CODE_UNKNOWN, f"unknown code '{code}' in the code system {cs.url}"
                             + (f" version {cs.version}" if cs.version else ""), expression, unknown_severity)
            else:
                yield _issue(Msg.VAL_TX_SYSTEM_INCOMPLETE, f"code system {cs.url} is not available in full here "
                             f"(content = {cs.content}); the code '{code}' cannot be validated", expression, _W)
            return
        if concept.code != code:
            yield _issue(Msg.VAL_TX_CODE_UNKNOWN, f"code '{code}' differs in case from '{concept.code}' in {cs.url}",
                         expression, _W)
        if display and concept.display:
            allowed = (concept.display,) + concept.designations
            if _norm(display) not in {_norm(a) for a in allowed}:
                yield _issue(Msg.VAL_TX_DISPLAY, f"wrong display '{display}' for {cs.url}#{code}: should be "
                             + " or ".join(f"'{a}'" for a in dict.fromkeys(allowed)),
                             _sub(expression, "display"), _W)

    # -- per system -------------------------------------------------------------------------------
    def _icd10cm(self, code, display, expression, unknown_severity):
        from ..terminology import icd10cm

        entry = icd10cm.lookup(code)
        if entry is None:
            dotted = f"{code[:3]}.{code[3:]}" if "." not in code and len(code) > 3 else None
            hint = icd10cm.lookup(dotted) if dotted else None
            if hint is not None:
                yield _issue(Msg.VAL_TX_ICD_FORMAT, f"ICD-10-CM code '{code}' must be written with its dot: "
                             f"'{hint.code}'", expression, unknown_severity)
                return
            yield _issue(Msg.VAL_TX_ICD_UNKNOWN, f"'{code}' is not an ICD-10-CM code (official table "
                         f"{icd10cm.release()})", expression, unknown_severity)
            return
        if not entry.billable:
            children = icd10cm.billable_descendants(entry.code, limit=9)
            shown = ", ".join(children[:8]) + (", …" if len(children) > 8 else "")
            yield _issue(Msg.VAL_TX_ICD_HEADER, f"ICD-10-CM {entry.code} ({entry.description}) is a header, not "
                         f"billable: use a billable code below it ({shown or 'none listed'})", expression, _W)
        if display and _norm(display) != _norm(entry.description):
            yield _issue(Msg.VAL_TX_DISPLAY, f"wrong display '{display}' for ICD-10-CM {entry.code}: should be "
                         f"'{entry.description}'", _sub(expression, "display"), _W)

    def _loinc(self, code, display, expression, unknown_severity):
        if _LOINC_PART.match(code):
            return
        m = _LOINC.match(code)
        if not m:
            yield _issue(Msg.VAL_TX_LOINC_FORM, f"'{code}' is not a LOINC code: expected digits, a dash and a "
                         "check digit (e.g. 38227-5)", expression, _E)
        elif loinc_check_digit(m.group(1)) != int(m.group(2)):
            yield _issue(Msg.VAL_TX_LOINC_CHECK_DIGIT, f"'{code}' is not a LOINC code: it fails the mod-10 "
                         f"check digit (would be {m.group(1)}-{loinc_check_digit(m.group(1))})", expression, _E)

    def _snomed(self, code, display, expression, unknown_severity):
        if code.isdigit():
            problem = sctid_error(code)
            if problem:
                yield _issue(problem[0], problem[1], expression, _E)
            return
        # A post-coordinated expression: check the ids outside |terms|, note it is not validated further.
        ids = _SCT_ID.findall(_SCT_TERM.sub("", code))
        if not ids:
            yield _issue(Msg.VAL_TX_SNOMED_FORM, f"'{code}' is neither an SCTID nor a SNOMED CT expression",
                         expression, _E)
            return
        for sctid in ids:
            problem = sctid_error(sctid)
            if problem:
                yield _issue(problem[0], problem[1] + f" (in the expression '{code}')", expression, _E)
                return
        yield _issue(Msg.VAL_TX_SNOMED_EXPRESSION, f"SNOMED CT expression '{code}': only its concept ids were "
                     "checked", expression, _I)

    def _ucum(self, code, display, expression, unknown_severity):
        why = ucum_syntax_error(code)
        if why is not None:
            yield _issue(Msg.VAL_TX_UCUM_SYNTAX, f"'{code}' is not a valid UCUM unit: {why}", expression, _E)
            return
        meant = ucum_misspelling(code)
        if meant is not None:
            yield _issue(Msg.VAL_TX_UCUM_NOT_A_UNIT, f"'{code}' is not the UCUM unit meant: write '{meant}'",
                         expression, _E)

    def _cpt(self, code, display, expression, unknown_severity):
        if not cpt_form_ok(code):
            yield _issue(Msg.VAL_TX_CPT_FORM, f"'{code}' is not a CPT code: expected 5 digits, 4 digits and "
                         "F, T or U, or a 2-digit modifier", expression, _E)

    def _hcpcs(self, code, display, expression, unknown_severity):
        if not hcpcs_form_ok(code):
            yield _issue(Msg.VAL_TX_HCPCS_FORM, f"'{code}' is not an HCPCS Level II code: expected a letter "
                         "A-V and 4 digits, or a 2-character modifier", expression, _E)

    def _mime(self, code, display, expression, unknown_severity):
        if not mime_type_ok(code):
            yield _issue(Msg.VAL_TX_MIME_SYNTAX, f"'{code}' is not a MIME type (type/subtype)", expression, _E)

    def _language(self, code, display, expression, unknown_severity):
        if not language_tag_ok(code):
            yield _issue(Msg.VAL_TX_LANGUAGE_SYNTAX, f"'{code}' is not a BCP 47 language tag", expression, _E)

    # -- bindings ---------------------------------------------------------------------------------
    def check_binding(self, value, binding_strength: str, valueset_url: str | None, expression: str, *,
                      check_codings: bool = True) -> Iterator[Issue]:
        """Binding check of a ``code`` string, Coding or CodeableConcept; see the module docstring."""
        strength = binding_strength
        required = strength == "required"
        codings: list[tuple[str | None, str, str | None, str]] = []  # system, code, display, expression
        text_only = False
        if isinstance(value, str):
            codings.append((None, value, None, expression))
        elif isinstance(value, dict):
            if "coding" in value or "text" in value and "code" not in value:
                for i, c in enumerate(value.get("coding") or []):
                    if isinstance(c, dict) and isinstance(c.get("code"), str):
                        codings.append((c.get("system"), c["code"], c.get("display"), f"{expression}.coding[{i}]"))
                text_only = not codings
            elif isinstance(value.get("code"), str):
                codings.append((value.get("system"), value["code"], value.get("display"), expression))
            else:
                text_only = True
        else:
            return
        if check_codings:
            severity = _E if required else _W
            for system, code, display, where in codings:
                if system:
                    yield from self.check_coding(system, code, display, where, unknown_severity=severity)
        if strength not in _NOT_IN_SEVERITY or not valueset_url:
            return
        if text_only:
            if required:
                yield _issue(Msg.VAL_TX_NO_CODE, f"no code provided, and a code is required from the value set "
                             f"{valueset_url}", expression, _E)
            return
        expansion = self.expander.expand(valueset_url)
        if expansion is None:
            if strength != "preferred":
                yield _issue(Msg.VAL_TX_VALUE_SET_UNKNOWN, f"value set {valueset_url} is not loaded; the code "
                             "was not checked", expression, _W)
            return
        unsure = False
        for system, code, display, where in codings:
            canonical = _canonical_system(system)
            member = expansion.contains(canonical, code)
            if member:
                if canonical and display and canonical not in self._handlers:
                    yield from self._vs_display(expansion, canonical, code, display, where)
                return
            unsure = unsure or member is None
        if unsure:
            if strength != "preferred":
                yield _issue(Msg.VAL_TX_VALUE_SET_NOT_EXPANDABLE, f"value set {valueset_url} cannot be expanded "
                             f"locally ({'; '.join(expansion.reasons[:2])}); code not checked", expression, _W)
            return
        shown = ", ".join(f"{s}#{c}" if s else f"'{c}'" for s, c, _, _ in codings)
        yield _issue(Msg.VAL_TX_NOT_IN_VALUE_SET, f"{shown} is not in the value set {valueset_url} "
                     f"({strength} binding)", expression, _NOT_IN_SEVERITY[strength])

    def _vs_display(self, expansion: Expansion, system: str, code: str, display: str,
                    where: str) -> Iterator[Issue]:
        """Display of a member from a system with no CodeSystem here: compare with the value set's."""
        if self.expander.code_system(system) is not None:
            return  # check_coding compared it with the CodeSystem
        expected = expansion.displays.get((system, code))
        if expected and _norm(expected) != _norm(display):
            yield _issue(Msg.VAL_TX_DISPLAY, f"display '{display}' for {system}#{code} differs from the value "
                         f"set's '{expected}'", _sub(where, "display"), _W)

    # -- identifiers and quantities -----------------------------------------------------------------
    def check_identifier(self, identifier: dict, expression: str) -> Iterator[Issue]:
        """NPI identifiers (system us-npi or its OID): 10 digits and the Luhn check digit."""
        if not isinstance(identifier, dict):
            return
        system, value = identifier.get("system"), identifier.get("value")
        if system == systems.NPI_OID:
            yield _issue(Msg.VAL_TX_SYSTEM_OID, f"use the canonical URI {systems.NPI} instead of the OID {system}",
                         _sub(expression, "system"), _W)
            system = systems.NPI
        if system != systems.NPI or not isinstance(value, str):
            return
        where = _sub(expression, "value")
        # Warnings, not errors: FHIR itself does not constrain the value (the HL7 validator does not
        # check it), and published examples use made-up NPIs; fhir-at's own input checks refuse them.
        if not re.fullmatch(r"[12]\d{9}", value):
            yield _issue(Msg.VAL_TX_NPI_FORM, f"NPI '{value}' must be 10 digits starting with 1 or 2", where, _W)
        elif not npi_is_valid(value):
            yield _issue(Msg.VAL_TX_NPI_CHECK_DIGIT, f"NPI {value} fails its Luhn check digit (with prefix 80840)",
                         where, _W)

    def check_quantity(self, quantity: dict, expression: str) -> Iterator[Issue]:
        """The coded unit of a Quantity (UCUM syntax when the system is UCUM)."""
        if isinstance(quantity, dict) and quantity.get("system") and isinstance(quantity.get("code"), str):
            yield from self.check_coding(quantity["system"], quantity["code"], None, _sub(expression, "code"))


def _canonical_system(system: str | None) -> str | None:
    if system is None:
        return None
    if system == systems.HCPCS_HTTPS:
        return systems.HCPCS
    return systems.OID_TO_URI.get(system, system)


def _sub(expression: str, child: str) -> str:
    return f"{expression}.{child}" if expression else child


# --- module-level defaults ------------------------------------------------------------------------------

_default: Terminology | None = None
_default_lock = threading.Lock()


def configure(resources: Resolver | None) -> Terminology:
    """Make the module-level functions use ``resources`` (None: back to the core package)."""
    global _default
    with _default_lock:
        _default = Terminology(resources) if resources is not None else None
    return default()


def default() -> Terminology:
    """The shared checker: the configured resolver, else the R4 core package in ``~/.fhir/packages``."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Terminology(_core_resolver())
    return _default


def _core_resolver() -> Resolver | None:
    """The R4 core package through :mod:`.packages` (its cache, ``$FHIR_AT_PACKAGE_CACHE``), else the
    standard FHIR package cache folder, else nothing (every value set then counts as not loaded)."""
    from ..errors import ConfigError
    from .packages import R4_CORE, PackageSet

    try:
        return PackageSet.of([R4_CORE])
    except ConfigError:
        folder = core_package_dir()
        return directory_resolver(folder) if folder.is_dir() else None


def check_binding(value, binding_strength: str, valueset_url: str | None, expression: str, **kw) -> Iterator[Issue]:
    return default().check_binding(value, binding_strength, valueset_url, expression, **kw)


def check_coding(system: str | None, code: str | None, display: str | None = None, expression: str = "",
                 **kw) -> Iterator[Issue]:
    return default().check_coding(system, code, display, expression, **kw)


def check_identifier(identifier: dict, expression: str) -> Iterator[Issue]:
    return default().check_identifier(identifier, expression)


def check_quantity(quantity: dict, expression: str) -> Iterator[Issue]:
    return default().check_quantity(quantity, expression)

