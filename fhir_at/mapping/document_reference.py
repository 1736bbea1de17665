"""DocumentReference: the written assessment report, as PDF and HTML attachments."""

from __future__ import annotations

import base64
import hashlib

from ..model.datatypes import coding, concept
from ..terminology import systems

CLINICAL_NOTE = concept(coding(systems.US_CORE_DOCREF_CATEGORY, "clinical-note", "Clinical Note"))


def attachment(data: bytes, content_type: str, title: str, creation: str) -> dict:
    """An Attachment carrying ``data`` with its size and base64 SHA-1 hash (R4 att-1 rules)."""
    return {
        "contentType": content_type,
        "data": base64.b64encode(data).decode("ascii"),
        "size": len(data),
        "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
        "title": title,
        "creation": creation,
    }


def report_type_key(a: dict, cat) -> str:
    return a["report"].get("type") or cat.default_document_type[a["clinician"]["discipline"]]


def to_fhir(a: dict, ctx, *, pdf: bool = True) -> None:
    from ..report import render_html, render_pdf

    doc_type = ctx.cat.document_types[report_type_key(a, ctx.cat)]
    signature = a.get("signature")
    period = ctx.period
    created = signature["signedAt"] if signature else period["end"]
    title = f"Assistive technology assessment {a['session']['date']}"
    ident = ctx.derived("report")
    res = {
        "resourceType": "DocumentReference",
        "meta": {"profile": [systems.PROFILE_DOCUMENT_REFERENCE]},
        "identifier": [ident],
        "status": "current",
        "docStatus": "final" if signature else "preliminary",
        "type": concept(doc_type.coding()),
        "category": [CLINICAL_NOTE],
        "subject": ctx.ref("patient"),
    }
    if signature:
        res["date"] = signature["signedAt"]
    res["author"] = [ctx.ref("clinician"), ctx.ref("organization")]
    if signature:
        res["authenticator"] = ctx.ref("clinician")
    res["custodian"] = ctx.ref("organization")
    res["description"] = a["report"]["narrative"]
    content = []
    if pdf:
        content.append({"attachment": attachment(render_pdf(a), "application/pdf", title + ".pdf", created)})
    html = render_html(a).encode("utf-8")
    content.append({"attachment": attachment(html, "text/html", title + ".html", created)})
    res["content"] = content
    res["context"] = {
        "encounter": [ctx.ref("encounter")],
        "period": dict(period),
        "related": [ctx.ref("procedure")],
    }
    ctx.add("report", res, ident)


def from_fhir(res: dict, discipline: str | None, clinician_url_ok: bool, cat) -> tuple[dict, dict | None]:
    report: dict = {}
    if res.get("description"):
        report["narrative"] = res["description"]
    for c in (res.get("type") or {}).get("coding", []):
        doc = cat.document_types_by_code.get(c.get("code")) if c.get("system") == systems.LOINC else None
        if doc:
            if doc.key != cat.default_document_type.get(discipline or ""):
                report["type"] = doc.key
            break
    signature = None
    if res.get("authenticator") and res.get("date") and clinician_url_ok:
        signature = {"signedAt": res["date"]}
    return report, signature
