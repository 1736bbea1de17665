"""Rules that need more than one element at a time: references inside a Bundle or to contained
resources, entry requests, documents, and Attachment size/hash against the data."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Iterator

from ..terminology import systems
from ..issues import Issue, IssueCode, Severity, Source

__all__ = ["iter_bundle_issues", "iter_reference_issues", "check_attachment", "entry_index", "find_entry"]


def entry_index(bundle: dict) -> dict[str, dict]:
    """The resources of a Bundle's entries by ``fullUrl`` and by ``Type/id`` (first one wins)."""
    index: dict[str, dict] = {}
    for e in bundle.get("entry") or ():
        r = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(r, dict):
            continue
        fu = e.get("fullUrl")
        if isinstance(fu, str):
            index.setdefault(fu, r)
        if r.get("resourceType") and r.get("id"):
            index.setdefault(f"{r['resourceType']}/{r['id']}", r)
    return index


def find_entry(index: dict[str, dict], ref: str) -> dict | None:
    """The entry resource a reference points to (``urn:uuid:``, ``Type/id``, an absolute URL, a
    version with ``/_history/``), or ``None``."""
    ref = ref.split("/_history/", 1)[0]
    found = index.get(ref)
    if found is None and "://" in ref:
        parts = ref.rstrip("/").split("/")
        if len(parts) >= 2:
            found = index.get(f"{parts[-2]}/{parts[-1]}")
    return found


def _issue(severity: Severity, code: IssueCode, mid: str, text: str, expression: str) -> Issue:
    return Issue(severity, code, mid, text, source=Source.VALIDATOR, expression=expression)


def _references(node, path: str) -> Iterator[tuple[str, str]]:
    """Every ``reference`` string below ``node`` with its FHIRPath location (contained excluded).

    The location is joined only for the references found: the walk itself keeps a list of steps
    (most elements of a resource hold no reference, and this runs over every Bundle entry)."""
    found: list[tuple[str, str]] = []
    steps: list[str] = [path]

    def walk(obj: dict) -> None:
        ref = obj.get("reference")
        if type(ref) is str:
            found.append((ref, "".join(steps) + ".reference"))
        for key, value in obj.items():
            t = type(value)
            if t is dict:
                if key in ("contained", "reference") or key[:1] == "_":
                    continue
                steps.append("." + key)
                walk(value)
                steps.pop()
            elif t is list and key != "contained" and key[:1] != "_":
                for i, item in enumerate(value):
                    if type(item) is dict:
                        steps.append(f".{key}[{i}]")
                        walk(item)
                        steps.pop()

    if isinstance(node, dict):
        walk(node)
    return iter(found)


def iter_reference_issues(resource: dict, location: str) -> Iterator[Issue]:
    """``#id`` references must name a contained resource; contained resources must be referenced."""
    contained = {c.get("id") for c in resource.get("contained") or [] if isinstance(c, dict)}
    used = set()
    for ref, where in _references(resource, location):
        if ref.startswith("#"):
            used.add(ref[1:])
            if ref != "#" and ref[1:] not in contained:
                yield _issue(Severity.ERROR, IssueCode.NOT_FOUND, "VAL_REF_CONTAINED",
                             f"reference {ref!r} names no contained resource", where)
    for i, c in enumerate(resource.get("contained") or []):
        if isinstance(c, dict) and c.get("id") not in used and not any(
                r == "#" for r, _ in _references(c, "")):
            yield _issue(Severity.ERROR, IssueCode.INVARIANT, "VAL_REF_CONTAINED_UNUSED",
                         f"contained resource {c.get('resourceType')}/{c.get('id')} is not referenced "
                         "from the resource (dom-3)", f"{location}.contained[{i}]")


# A relative reference to no entry: a document must be self-contained (error); the resources of a
# message, transaction, batch or collection may live elsewhere (warning); search and
# history results routinely refer to resources they do not include (not reported).
_OUTSIDE = {"document": Severity.ERROR, "message": Severity.WARNING, "transaction": Severity.WARNING,
            "batch": Severity.WARNING, "collection": Severity.WARNING}


def iter_bundle_issues(bundle: dict, location: str = "Bundle", *, structural: bool = True,
                       refs: list | None = None) -> Iterator[Issue]:
    """References between entries; with ``structural``, also entry requests and the document's first
    entry (rules bdl-3 and bdl-11 say the same: leave them to the invariant layer when it runs)."""
    btype = bundle.get("type")
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
    full_urls = {e["fullUrl"] for e in entries if isinstance(e.get("fullUrl"), str)}
    local = set()
    for e in entries:
        res = e.get("resource")
        if isinstance(res, dict) and res.get("id") and res.get("resourceType"):
            local.add(f"{res['resourceType']}/{res['id']}")
    tails = {u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1] for u in full_urls
             if not u.startswith("urn:") and u.count("/") >= 2}
    by_entry = None
    if refs is not None:  # collected by the structure walk: grouped by entry, contained ones left out
        by_entry = {}
        prefix = re.compile(re.escape(location) + r"\.entry\[(\d+)\]\.resource\.")
        for ref, at in refs:
            m = prefix.match(at)
            if m and ".contained[" not in at[m.end() - 1:]:
                by_entry.setdefault(int(m.group(1)), []).append((ref, at))
    for i, e in enumerate(entries):
        where = f"{location}.entry[{i}]"
        if structural and btype in ("transaction", "batch") and "request" not in e:
            yield _issue(Severity.ERROR, IssueCode.REQUIRED, "VAL_BDL_REQUEST",
                         f"an entry of a {btype} needs a request (method and url)", where)
        res = e.get("resource")
        if not isinstance(res, dict):
            continue
        for ref, at in (by_entry.get(i, ()) if by_entry is not None else _references(res, f"{where}.resource")):
            if ref.startswith("#") or "/_history/" in ref and ref in full_urls:
                continue
            if ref.startswith(("urn:uuid:", systems.OID_PREFIX)):
                if ref not in full_urls:
                    yield _issue(Severity.ERROR, IssueCode.NOT_FOUND, "VAL_BDL_REF_UNRESOLVED",
                                 f"reference {ref!r} does not resolve to an entry of the bundle", at)
            elif "://" not in ref and ref.count("/") == 1:
                if ref not in local and ref not in tails:
                    severity = _OUTSIDE.get(btype)
                    if severity is Severity.ERROR:
                        yield _issue(Severity.ERROR, IssueCode.NOT_FOUND, "VAL_BDL_REF_UNRESOLVED",
                                     f"reference {ref!r} does not resolve to an entry of the {btype}, "
                                     "which must hold everything it refers to", at)
                    elif severity is not None:
                        yield _issue(severity, IssueCode.NOT_FOUND, "VAL_BDL_REF_OUTSIDE",
                                     f"reference {ref!r} is not an entry of the {btype}; it must exist "
                                     "on the server", at)
    if structural and btype == "document":
        first = (entries[0].get("resource") or {}).get("resourceType") if entries else None
        if first != "Composition":
            yield _issue(Severity.ERROR, IssueCode.INVARIANT, "VAL_BDL_DOCUMENT",
                         "a document Bundle must start with a Composition (bdl-11)", f"{location}.entry[0]")


def check_attachment(att: dict, location: str) -> Iterator[Issue]:
    """An Attachment's ``size`` and ``hash`` (base64 SHA-1) must match its ``data``."""
    data = att.get("data")
    if not isinstance(data, str):
        return
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return  # the base64Binary primitive rule reports it
    size = att.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size != len(raw):
        yield _issue(Severity.ERROR, IssueCode.VALUE, "VAL_ATT_SIZE",
                     f"size is {size} but the data holds {len(raw)} bytes", f"{location}.size")
    digest = att.get("hash")
    if isinstance(digest, str):
        actual = base64.b64encode(hashlib.sha1(raw).digest()).decode()
        if digest != actual:
            yield _issue(Severity.ERROR, IssueCode.VALUE, "VAL_ATT_HASH",
                         f"hash {digest} is not the base64 SHA-1 of the data ({actual})", f"{location}.hash")
