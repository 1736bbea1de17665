"""Pushing a transaction Bundle to a FHIR server, idempotently, whatever the server supports.

- A server with transactions gets the Bundle as is: every entry is a conditional create
  (``ifNoneExist`` on a business identifier), so pushing twice creates nothing new.
- Resource types the server cannot search by ``identifier`` cannot be created conditionally: where
  the server allows update-as-create, the entry becomes ``PUT Type/<id>`` with the entry's
  deterministic id (from its ``urn:uuid`` fullUrl) — still idempotent; otherwise a plain create,
  reported with a warning.
- A server without transactions gets ordered conditional creates (``If-None-Exist``), references
  rewritten to the ids created; references inside a cycle are filled in afterwards by an update.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from urllib.parse import quote

from ..errors import TransportError
from ..issues import Issue, IssueCode, Outcome, Severity, Source
from .http import FhirClient

__all__ = ["EntryResult", "PushReport", "push_bundle", "prepare"]


@dataclass(frozen=True)
class EntryResult:
    resource_type: str
    outcome: str                 # created | existed | updated | failed
    id: str | None = None
    location: str | None = None
    issues: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class PushReport:
    mode: str                    # transaction | sequential
    entries: tuple[EntryResult, ...]
    issues: tuple[Issue, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(e.outcome != "failed" for e in self.entries) and Outcome(self.issues).ok

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.outcome] = out.get(e.outcome, 0) + 1
        return out


def _warning(message_id: str, text: str, where: str) -> Issue:
    return Issue(Severity.WARNING, IssueCode.NOT_SUPPORTED, message_id, text, source=Source.CLIENT,
                 expression=where)


def prepare(client: FhirClient, bundle: dict, *, update_create: bool | None = None) -> tuple[dict, list[Issue]]:
    """The Bundle adapted to the server's capabilities (a copy), and what that costs.

    ``update_create``: whether the server accepts ``PUT`` of a new resource with a client-chosen
    id; None = as its CapabilityStatement says (``updateCreate``)."""
    caps = client.capabilities
    out = copy.deepcopy(bundle)
    issues = []
    renamed: dict[str, str] = {}
    for i, entry in enumerate(out.get("entry") or []):
        request = entry.get("request") or {}
        rtype = entry["resource"]["resourceType"]
        if "ifNoneExist" not in request or caps.searchable_by_identifier(rtype):
            continue
        where = f"Bundle.entry[{i}].request"
        allowed = caps.update_create.get(rtype) if update_create is None else update_create
        if allowed and entry.get("fullUrl", "").startswith("urn:uuid:"):
            rid = entry["fullUrl"][len("urn:uuid:"):]
            entry["resource"]["id"] = rid
            entry["request"] = {"method": "PUT", "url": f"{rtype}/{rid}"}
            renamed[entry["fullUrl"]] = f"{rtype}/{rid}"
            entry["fullUrl"] = f"{client.base}/{rtype}/{rid}"
        else:
            del request["ifNoneExist"]
            issues.append(_warning("PUSH_NOT_IDEMPOTENT",
                                   f"the server cannot search {rtype} by identifier nor create it by update: "
                                   "it is created unconditionally, and pushing again would duplicate it", where))
    if renamed:
        _rewrite(out, renamed)
    return out, issues


def _rewrite(node, renamed: dict[str, str]) -> None:
    """Replaces ``{"reference": old}`` by the new reference everywhere in ``node``."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in renamed:
            node["reference"] = renamed[ref]
        for v in node.values():
            if isinstance(v, (dict, list)):
                _rewrite(v, renamed)
    elif isinstance(node, list):
        for v in node:
            _rewrite(v, renamed)


def _id_of(location: str | None) -> str | None:
    if not location:
        return None
    parts = location.split("/_history/")[0].rstrip("/").split("/")
    return parts[-1] if len(parts) >= 2 else None


def _result(entry: dict, response: dict, method: str) -> EntryResult:
    rtype = entry["resource"]["resourceType"]
    status = str(response.get("status", ""))
    code = status.split(" ")[0]
    issues = ()
    if response.get("outcome"):
        issues = Outcome.from_operation_outcome(response["outcome"]).issues
    if code.startswith("201"):
        outcome = "created"
    elif code.startswith("200"):
        outcome = "updated" if method == "PUT" else "existed"
    else:
        outcome = "failed"
    location = response.get("location")
    return EntryResult(rtype, outcome, _id_of(location), location, issues)


def push_bundle(client: FhirClient, bundle: dict, *, update_create: bool | None = None) -> PushReport:
    """Sends ``bundle`` (a transaction Bundle of conditional creates); raises TransportError (and
    its HTTP subclasses) when the server cannot be reached or refuses the whole Bundle.
    ``update_create``: see :func:`prepare`."""
    caps = client.capabilities
    if caps.fhir_version and not caps.is_r4:
        raise TransportError(f"the server at {client.base} speaks FHIR {caps.fhir_version}; "
                             "fhir-at pushes FHIR R4 (4.0.x)")
    prepared, issues = prepare(client, bundle, update_create=update_create)
    if caps.transaction:
        response = client.transaction(prepared)
        answers = response.get("entry") or []
        if len(answers) != len(prepared.get("entry") or []):
            raise TransportError(f"the server answered {len(answers)} entries for "
                                 f"{len(prepared.get('entry') or [])} sent")
        results = tuple(_result(e, a.get("response") or {}, e["request"]["method"])
                        for e, a in zip(prepared["entry"], answers))
        return PushReport("transaction", results, tuple(issues))
    return _sequential(client, prepared, issues)


def _sequential(client: FhirClient, bundle: dict, issues: list[Issue]) -> PushReport:
    """Ordered conditional creates with reference rewriting, for servers without transactions."""
    entries = bundle.get("entry") or []
    created: dict[str, str] = {}          # fullUrl -> Type/id
    results: list[EntryResult] = []
    deferred: list[tuple[int, dict]] = []  # entries whose references were not all known yet
    for i, entry in enumerate(entries):
        resource = copy.deepcopy(entry["resource"])
        missing = _resolve_refs(resource, created)
        request = entry["request"]
        headers = {}
        if request.get("ifNoneExist"):
            headers["If-None-Exist"] = request["ifNoneExist"]
        if missing:
            _drop_refs(resource, missing)
        if request["method"] == "PUT":
            status, doc, hdrs = client.put(request["url"], resource)
        else:
            status, doc, hdrs = client.post(request["url"], resource, headers)
        location = hdrs.get("Location") or hdrs.get("Content-Location")
        rid = (doc or {}).get("id") or _id_of(location)
        outcome = "created" if status == 201 else ("updated" if request["method"] == "PUT" else "existed")
        rtype = resource["resourceType"]
        results.append(EntryResult(rtype, outcome, rid, location))
        if entry.get("fullUrl") and rid:
            created[entry["fullUrl"]] = f"{rtype}/{rid}"
        if missing:
            deferred.append((i, entry))
    for i, entry in deferred:
        res = results[i]
        resource = copy.deepcopy(entry["resource"])
        resource["id"] = res.id
        _resolve_refs(resource, created)
        client.put(f"{res.resource_type}/{quote(res.id or '')}", resource)
    return PushReport("sequential", tuple(results), tuple(issues))


def _resolve_refs(node, created: dict[str, str], missing: set | None = None) -> set:
    missing = set() if missing is None else missing
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref.startswith("urn:uuid:"):
            if ref in created:
                node["reference"] = created[ref]
            else:
                missing.add(ref)
        for v in node.values():
            if isinstance(v, (dict, list)):
                _resolve_refs(v, created, missing)
    elif isinstance(node, list):
        for v in node:
            _resolve_refs(v, created, missing)
    return missing


def _mentions(node, refs: set) -> bool:
    if isinstance(node, dict):
        return node.get("reference") in refs or any(_mentions(v, refs) for v in node.values())
    if isinstance(node, list):
        return any(_mentions(v, refs) for v in node)
    return False


def _drop_refs(resource: dict, refs: set) -> None:
    """Leaves out the top-level elements (or list items) that point at resources not created yet;
    the deferred update puts them back once their targets exist."""
    for key in list(resource):
        value = resource[key]
        if isinstance(value, list):
            kept = [v for v in value if not _mentions(v, refs)]
            if kept:
                resource[key] = kept
            else:
                del resource[key]
        elif _mentions(value, refs):
            del resource[key]
