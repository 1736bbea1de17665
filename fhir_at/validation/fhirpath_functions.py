"""FHIR-specific FHIRPath functions fhirpathpy 2.2.4 lacks, in plain Python.

``hasValue()``, ``htmlChecks()``, ``resolve()``, ``memberOf(vs)`` and ``conformsTo(profile)`` are
defined by the FHIR specification (FHIR R4 §2.38, "FHIRPath in FHIR"), not by FHIRPath itself. The
functions here work on plain JSON (``dict``/``list``/``str``) and are wired into fhirpathpy's
``userInvocationTable`` by :mod:`fhir_at.validation.invariants`; the narrative checks are also used
natively there (txt-1, txt-2).
"""

from __future__ import annotations

import re

from ..terminology import systems

__all__ = ["has_value", "narrative_problems", "narrative_is_empty", "html_checks", "Unknown",
           "XHTML_NS", "NARRATIVE_ELEMENTS", "NARRATIVE_ATTRIBUTES"]

XHTML_NS = systems.XHTML_NS

# The FHIR narrative subset (R4 §2.4 Narrative, txt-1: HTML 4.0 chapters 7-11 except 9.4, and 15,
# <a>, images, style attributes); the same lists as the HL7 reference validator.
NARRATIVE_ELEMENTS = frozenset({
    "p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong",
    "small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr", "address",
    "bdo", "kbd", "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre", "table", "caption",
    "colgroup", "col", "thead", "tr", "tfoot", "tbody", "th", "td", "code", "samp", "img", "map",
    "area", "s", "u", "strike", "center", "font",
})
_COMMON_ATTRIBUTES = frozenset({
    "title", "style", "class", "id", "lang", "xml:lang", "dir", "accesskey", "tabindex", "xmlns",
    # table and layout attributes (HTML 4.0 chapter 11 and 15)
    "span", "width", "height", "align", "valign", "char", "charoff", "abbr", "axis", "headers",
    "scope", "rowspan", "colspan", "summary", "frame", "rules", "border", "cellpadding",
    "cellspacing", "bgcolor", "nowrap", "color", "size", "face", "start", "type", "value", "cite",
    "datetime", "compact", "clear", "noshade",
})
NARRATIVE_ATTRIBUTES = {
    "*": _COMMON_ATTRIBUTES,
    "a": frozenset({"href", "name", "rel", "rev", "hreflang", "charset", "shape", "coords"}),
    "img": frozenset({"src", "alt", "longdesc", "usemap", "ismap", "hspace", "vspace"}),
    "area": frozenset({"href", "shape", "coords", "alt", "nohref", "name"}),
    "map": frozenset({"name"}),
}
_URL_ATTRIBUTES = frozenset({"href", "src", "longdesc", "cite", "usemap"})
_SCRIPT_SCHEMES = ("javascript:", "vbscript:", "livescript:")


class Unknown(Exception):
    """A function's answer is unknown (no terminology or profile knowledge): skip the constraint."""

    def __init__(self, function: str, argument: str):
        super().__init__(f"{function}({argument!r}) is unknown")
        self.function = function
        self.argument = argument


def has_value(items: list) -> bool:
    """``hasValue()``: a single primitive with a value (not a complex element, not only extensions)."""
    return len(items) == 1 and items[0] is not None and not isinstance(items[0], (dict, list))


_COMMENT = re.compile(r"<!--.*?-->", re.S)
_TAG = re.compile(r"<(/?)([A-Za-z][\w:.-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR = re.compile(r"([^\s=/>\"']+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
_last: tuple[object, tuple[tuple[str, ...], bool]] = (None, ((), False))


def _scan(div: str) -> tuple[tuple[str, ...], bool]:
    """(problems for txt-1, has content for txt-2) of an XHTML div; memoised for the last div."""
    global _last
    if _last[0] is div:
        return _last[1]
    problems: list[str] = []
    text = _COMMENT.sub("", div) if "<!--" in div else div
    root = None
    images = False
    for m in _TAG.finditer(text):
        if m.group(1):
            continue
        tag, rest = m.group(2), m.group(3)
        attrs = [(a.group(1), (a.group(2) or "").strip("\"'")) for a in _ATTR.finditer(rest.rstrip("/"))] \
            if rest.strip(" /") else ()
        if root is None:
            root = tag
            xmlns = dict(attrs).get("xmlns") if attrs else None
            if tag != "div":
                problems.append("the root element must be <div>")
            elif xmlns != XHTML_NS:
                problems.append(f"the root <div> must declare xmlns=\"{XHTML_NS}\"")
        if tag not in NARRATIVE_ELEMENTS:
            problems.append(f"element <{tag}> is not allowed")
        if tag == "img":
            images = True
        allowed = NARRATIVE_ATTRIBUTES.get(tag, frozenset())
        for name, value in attrs:
            if name.lower().startswith("on"):
                problems.append(f"event attribute {name} on <{tag}> is not allowed")
            elif name not in _COMMON_ATTRIBUTES and name not in allowed and not name.startswith("xmlns:"):
                problems.append(f"attribute {name} on <{tag}> is not allowed")
            elif name in _URL_ATTRIBUTES and value and \
                    re.sub(r"\s", "", value).lower().startswith(_SCRIPT_SCHEMES):
                problems.append(f"script URL in {name} on <{tag}> is not allowed")
    if root is None:
        problems.append("no XHTML element")
    bare = _TAG.sub("", text)
    if "<?" in bare or "<!" in bare:
        problems.append("processing instructions, declarations and CDATA are not allowed")
    result = (tuple(problems), images or not bare.isspace() and bare != "")
    _last = (div, result)
    return result


def narrative_problems(div: object) -> list[str]:
    """What breaks txt-1 in a Narrative ``div``: the root element, elements and attributes used."""
    if not isinstance(div, str):
        return ["the narrative is not a string of XHTML"]
    return list(_scan(div)[0])


def narrative_is_empty(div: object) -> bool:
    """txt-2: the narrative has no non-whitespace text (and no image)."""
    if not isinstance(div, str):
        return True
    return not _scan(div)[1]


def html_checks(items: list) -> bool:
    """``htmlChecks()``: the XHTML is in the FHIR narrative subset and has some content."""
    if len(items) != 1:
        return False
    return not narrative_problems(items[0]) and not narrative_is_empty(items[0])
