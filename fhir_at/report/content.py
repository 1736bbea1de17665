"""The content of the written report as a plain view model, shared by the HTML and PDF renderers.

``build(assessment)`` turns an assessment (the internal format, already valid against
``assessment.schema.json``) into plain dicts, lists and strings: displays come from the terminology
catalog, ICD-10-CM descriptions from the official table, units of 97755 from the 8-minute rule.
Nothing is invented: an absent optional field becomes ``NOT_AVAILABLE`` or is left out.

Shape::

    {"title", "document_type", "identifier",
     "banner": {"name", "suffix"},   # page banner: patient name (or Patient/<id>) + ", DOB <date>"
     "metadata": {"title", "author", "subject", "keywords", "created"},   # created: ISO dateTime
     "header": [section, ...],      # patient, encounter, clinician, organization, payer, session
     "sections": [section, ...]}    # referral ... signature, in report order

    section = {"key", "heading", "blocks": [block, ...]}
    block   = {"kind": "fields", "rows": [[label, value], ...]}
            | {"kind": "text", "text": str}
            | {"kind": "subheading", "text": str}
            | {"kind": "table", "columns": [str, ...], "widths": [number, ...],  # % of text width
               "rows": [{"cells": [str, ...]} | {"group": str}, ...]}
"""

from __future__ import annotations

from ..terminology.catalog import catalog
from ..terminology.icd10cm import lookup
from ..billing.units import timed_units

__all__ = ["TITLE", "NOT_AVAILABLE", "NOT_SIGNED", "build"]

TITLE = "Assistive Technology Assessment (CPT 97755)"
NOT_AVAILABLE = "Not available"
NOT_SIGNED = "Not signed"

# --- small formatters -------------------------------------------------------------------------

def _display(table: str, key: str) -> str:
    concept = catalog().concepts.get(table, {}).get(key)
    return concept.display if concept else key


def _name(name: dict | None) -> str:
    if not name:
        return ""
    return " ".join([*name.get("given", ()), name["family"]])


def _number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _quantity(value: int | float, unit: str | None) -> str:
    number = _number(value)
    if not unit:
        return number
    if unit.startswith("{") and unit.endswith("}"):  # UCUM annotation, e.g. {score}: no unit
        return number
    symbol, spaced = catalog().unit_displays.get(unit, (unit, True))
    return f"{number} {symbol}" if spaced else f"{number}{symbol}"


def _spec_value(spec: dict) -> str:
    value = spec["value"]
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (int, float)):
        return _quantity(value, spec.get("unit"))
    return str(value)


def _offset(offset: str) -> str:
    return "UTC" if offset == "Z" else f"UTC{offset}"


def _split_datetime(value: str) -> tuple[str, str, str]:
    """``2026-11-02T16:45:00-05:00`` -> (``2026-11-02``, ``16:45``, ``-05:00``).

    Seconds are kept when they are not zero.
    """
    date, rest = value.split("T", 1)
    offset = "Z" if rest.endswith("Z") else rest[-6:]
    clock = rest[:-1] if offset == "Z" else rest[:-6]
    if len(clock) == 8 and clock.endswith(":00"):
        clock = clock[:5]
    return date, clock, offset


def _datetime(value: str) -> str:
    date, clock, offset = _split_datetime(value)
    return f"{date} {clock} ({_offset(offset)})"


def _period(period: dict) -> str:
    start = _split_datetime(period["start"])
    if "end" not in period:
        return f"From {_datetime(period['start'])}"
    end = _split_datetime(period["end"])
    if start[0] == end[0] and start[2] == end[2]:
        return f"{start[0]} {start[1]}–{end[1]} ({_offset(start[2])})"
    return f"{_datetime(period['start'])} – {_datetime(period['end'])}"


def _icd(code: str) -> str:
    entry = lookup(code)
    if entry is None:
        return f"{NOT_AVAILABLE} (not in ICD-10-CM)"
    return entry.description if entry.billable else f"{entry.description} (not billable)"


def _hcpcs(code: str | None) -> str:
    if not code:
        return ""
    device = catalog().devices.get(code)
    return f"{code} (CMS: {device.display})" if device else code


def _or_na(value: str | None) -> str:
    return value if value else NOT_AVAILABLE


def _fields(*rows: tuple[str, str | None]) -> dict:
    """A fields block of the rows whose value is present."""
    return {"kind": "fields", "rows": [[label, value] for label, value in rows if value]}


def _text(text: str | None) -> dict:
    return {"kind": "text", "text": _or_na(text)}


def _section(key: str, heading: str, *blocks: dict) -> dict:
    """A section of the blocks that hold something (a fields block of absent values is left out)."""
    return {"key": key, "heading": heading,
            "blocks": [b for b in blocks if b["kind"] != "fields" or b["rows"]]}


def _person_with_credentials(clinician: dict) -> str:
    return ", ".join([_name(clinician["name"]), *clinician.get("credentials", ())])


# --- header -----------------------------------------------------------------------------------

def _patient(patient: dict) -> dict:
    if "fhirId" in patient:
        return _section("patient", "Patient", _fields(("Patient", f"Patient/{patient['fhirId']}")))
    rows = [
        ("Name", _name(patient.get("name"))),
        ("Birth date", _or_na(patient.get("birthDate"))),
        ("Sex", patient["sex"].capitalize() if "sex" in patient else None),
    ]
    for ident in patient.get("identifiers", ()):
        if ident.get("type") == "MR":
            rows.append(("MRN", ident["value"]))
        else:
            rows.append(("Identifier", f"{ident['value']} ({ident['system']})"))
    return _section("patient", "Patient", _fields(*rows))


def _banner(patient: dict) -> dict:
    """Who the report is about, for the top of every page: name (or reference) and birth date."""
    if "fhirId" in patient:
        return {"name": f"Patient/{patient['fhirId']}", "suffix": ""}
    birth_date = _or_na(patient.get("birthDate"))
    return {"name": _name(patient.get("name")), "suffix": f", DOB {birth_date}"}


def _encounter(encounter: dict) -> dict:
    return _section("encounter", "Encounter", _fields(
        ("Setting", _display("encounter-settings", encounter["setting"])),
        ("Identifier", encounter.get("identifier", {}).get("value")),
        ("Period", _period(encounter["period"]) if "period" in encounter else None),
    ))


def _clinician(clinician: dict) -> dict:
    return _section("clinician", "Clinician", _fields(
        ("Name", _person_with_credentials(clinician)),
        ("Discipline", _display("disciplines", clinician["discipline"])),
        ("NPI", clinician["npi"]),
    ))


def _organization(organization: dict) -> dict:
    return _section("organization", "Organization", _fields(
        ("Name", organization["name"]),
        ("NPI", organization.get("npi")),
    ))


def _payer(payer: dict | None) -> dict:
    if not payer:
        return _section("payer", "Payer", _text(None))
    return _section("payer", "Payer", _fields(
        ("Name", payer["name"]),
        ("Kind", _display("payer-kinds", payer["kind"])),
        ("Member ID", payer.get("memberId")),
    ))


def _session(session: dict) -> dict:
    minutes = session["timedMinutes"]
    return _section("session", "Session", _fields(
        ("Date", session["date"]),
        ("Time", f"{session['startTime']}–{session['endTime']} "
                 f"({_offset(session['utcOffset'])})"),
        ("Timed minutes", str(minutes)),
        ("97755 units (8-minute rule)", str(timed_units(minutes))),
    ))


# --- body -------------------------------------------------------------------------------------

def _referral(referral: dict | None) -> dict:
    heading = "Reason for referral"
    if not referral:
        return _section("referral", heading, _text(None))
    referrer = referral.get("referrer")
    return _section("referral", heading, _fields(
        ("Reason", referral["reason"]),
        ("Referred by", f"{_name(referrer['name'])} (NPI {referrer['npi']})" if referrer else None),
        ("Referral date", referral.get("date")),
    ))


def _diagnoses(diagnoses: list[dict]) -> dict:
    rows = [
        {"cells": [d["code"], _icd(d["code"]), d["role"].capitalize(), d.get("onset", "")]}
        for d in diagnoses
    ]
    return _section("diagnoses", "Diagnoses (ICD-10-CM)", {
        "kind": "table", "columns": ["Code", "Description", "Role", "Onset"],
        "widths": [14, 56, 14, 16], "rows": rows,
    })


def _measure_value(measure, value: dict) -> str:
    if "absent" in value:
        return f"{NOT_AVAILABLE} ({_display('absent-reasons', value['absent'])})"
    if "quantity" in value:
        return _quantity(value["quantity"], value.get("unit"))
    if "code" in value:
        code = value["code"]
        answer = catalog().answers.get(measure.answers or "", {}).get(code) if measure else None
        if answer is None:
            return code
        if code.isdigit() and not answer.display.startswith(code):
            return f"{answer.display} ({code})"  # numbered scales (CMS section GG): keep the score
        return answer.display
    if "boolean" in value:
        return "Yes" if value["boolean"] else "No"
    if "integer" in value:
        return str(value["integer"])
    if "text" in value:
        return value["text"]
    return NOT_AVAILABLE


def _site(item: dict) -> str:
    side = _display("laterality", item["laterality"]) if "laterality" in item else ""
    site = item.get("bodySite", "")
    if site and side:
        return f"{site} ({side.lower()})"
    return site or side


def _findings(measures: list[dict] | None) -> dict:
    heading = "Functional findings"
    if not measures:
        return _section("findings", heading, _text(None))
    known = catalog().measures
    by_domain: dict[str, list[dict]] = {}  # first appearance of each domain keeps the input order
    for item in measures:
        measure = known.get(item["key"])
        by_domain.setdefault(measure.domain if measure else "", []).append({"cells": [
            measure.display if measure else item["key"],
            _measure_value(measure, item["value"]),
            _site(item),
            item.get("method", ""),
            item.get("note", ""),
        ]})
    return _section("findings", heading, _without_empty_columns({
        "kind": "table", "columns": ["Measure", "Result", "Side / body site", "Method", "Note"],
        "widths": [34, 21, 14, 17, 14],
        "rows": [
            row
            for domain, domain_rows in by_domain.items()
            for row in ({"group": _domain_heading(domain)}, *domain_rows)
        ],
    }, keep=2))


def _domain_heading(domain: str) -> str:
    return catalog().domains.get(domain) or domain.replace("-", " ").capitalize() or "Other"


def _without_empty_columns(table: dict, keep: int) -> dict:
    """``table`` without the columns after the first ``keep`` that are empty in every row; the
    widths of the others are scaled back to the table's total."""
    cells = [row["cells"] for row in table["rows"] if "cells" in row]
    kept = [j for j in range(len(table["columns"]))
            if j < keep or any(row[j] for row in cells)]
    if len(kept) == len(table["columns"]):
        return table
    total = sum(table["widths"])
    scale = total / sum(table["widths"][j] for j in kept)
    return {
        **table,
        "columns": [table["columns"][j] for j in kept],
        "widths": [round(table["widths"][j] * scale, 2) for j in kept],
        "rows": [row if "group" in row else {"cells": [row["cells"][j] for j in kept]}
                 for row in table["rows"]],
    }


def _trials(trials: list[dict] | None) -> dict:
    heading = "Device trials"
    if not trials:
        return _section("trials", heading, _text(None))
    rows = [
        {"cells": [
            t["device"]["description"],
            _hcpcs(t["device"].get("hcpcs")),
            _display("trial-outcomes", t["outcome"]),
            t.get("notes", ""),
        ]}
        for t in trials
    ]
    return _section("trials", heading, {
        "kind": "table", "columns": ["Device", "HCPCS", "Outcome", "Notes"],
        "widths": [24, 22, 14, 40], "rows": rows,
    })


def _recommendations(recommendations: list[dict] | None) -> dict:
    heading = "Recommendations"
    if not recommendations:
        return _section("recommendations", heading, _text(None))
    blocks: list[dict] = []
    for number, rec in enumerate(recommendations, 1):
        blocks.append({"kind": "subheading", "text": f"{number}. {rec['description']}"})
        blocks.append(_fields(("HCPCS", _hcpcs(rec.get("hcpcs")))))
        specs = rec.get("specifications")
        if specs:
            blocks.append({
                "kind": "table", "columns": ["Specification", "Value"], "widths": [30, 40],
                "rows": [{"cells": [s["name"], _spec_value(s)]} for s in specs],
            })
        blocks.append(_fields(
            ("Justification", rec["justification"]),
            ("Diagnoses", "; ".join(f"{code} {_icd(code)}" for code in rec.get("diagnoses", ()))),
        ))
    return _section("recommendations", heading, *blocks)


def _follow_up(items: list[dict] | None) -> dict:
    heading = "Follow-up and referral needs"
    if not items:
        return _section("follow-up", heading, _text(None))
    return _section("follow-up", heading, _fields(
        *((_display("follow-up-kinds", item["kind"]), item["text"]) for item in items)
    ))


def _signature(assessment: dict) -> dict:
    signature = assessment.get("signature")
    if not signature:
        return _section("signature", "Signature", _text(NOT_SIGNED))
    who = _person_with_credentials(assessment["clinician"])
    return _section("signature", "Signature", _text(
        f"Electronically signed by {who} on {_datetime(signature['signedAt'])}"
    ))


def _created(assessment: dict) -> str:
    """When the document was made: the signature time, else the end of the session."""
    if "signature" in assessment:
        return assessment["signature"]["signedAt"]
    s = assessment["session"]
    return f"{s['date']}T{s['endTime']}:00{s['utcOffset']}"


def _document_type(assessment: dict) -> str:
    cat = catalog()
    key = assessment["report"].get("type") or cat.default_document_type.get(
        assessment["clinician"]["discipline"], "")
    concept = cat.document_types.get(key)
    return concept.display if concept else ""


def build(assessment: dict) -> dict:
    """The view model of the written report of ``assessment``."""
    identifier = assessment["identifier"]["value"]
    return {
        "title": TITLE,
        "document_type": _document_type(assessment),
        "identifier": identifier,
        "banner": _banner(assessment["patient"]),
        "metadata": {
            "title": TITLE,
            "author": _person_with_credentials(assessment["clinician"]),
            "subject": f"Assistive technology assessment {identifier}",
            "keywords": "CPT 97755; assistive technology assessment",
            "created": _created(assessment),
        },
        "header": [
            _patient(assessment["patient"]),
            _encounter(assessment["encounter"]),
            _clinician(assessment["clinician"]),
            _organization(assessment["organization"]),
            _payer(assessment.get("payer")),
            _session(assessment["session"]),
        ],
        "sections": [
            _referral(assessment.get("referral")),
            _diagnoses(assessment["diagnoses"]),
            _section("history", "History", _text(assessment.get("history"))),
            _findings(assessment.get("measures")),
            _trials(assessment.get("deviceTrials")),
            _recommendations(assessment.get("recommendations")),
            _follow_up(assessment.get("followUp")),
            _section("summary", "Summary", _text(assessment["report"]["narrative"])),
            _signature(assessment),
        ],
    }
