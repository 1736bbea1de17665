"""Checks of an assessment beyond its JSON Schema: codes, units, times, cross-references.

Each ``check_*`` is a small generator of Issues; :func:`iter_issues` runs the schema first and the
content checks only on a document whose shape is right.
"""

from __future__ import annotations

import difflib
from datetime import date, datetime
from typing import Iterator

from ..issues import Issue, Path, Severity
from ..messages import Msg, issue
from ..terminology import icd10cm
from ..terminology.catalog import Catalog, catalog
from .schema import iter_schema_issues

__all__ = ["iter_issues", "npi_is_valid", "session_bounds", "full_time", "check_npis", "check_times",
           "check_diagnoses", "check_measures", "check_devices", "check_report", "check_payer"]

ROOT = Path()


def npi_is_valid(npi: str) -> bool:
    """Luhn check of a 10-digit NPI with the 80840 card-issuer prefix."""
    digits = [int(c) for c in "80840" + npi]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def session_bounds(session: dict) -> tuple[datetime, datetime]:
    """Start and end of the session as aware datetimes."""
    off = session["utcOffset"]
    off = "+00:00" if off == "Z" else off
    start = datetime.fromisoformat(f"{session['date']}T{full_time(session['startTime'])}{off}")
    end = datetime.fromisoformat(f"{session['date']}T{full_time(session['endTime'])}{off}")
    return start, end


def full_time(hhmm: str) -> str:
    """``09:05`` → ``09:05:00``; a time with seconds is kept."""
    return hhmm if len(hhmm) == 8 else hhmm + ":00"


def _date(value: str, path: Path) -> tuple[date | None, Issue | None]:
    try:
        return date.fromisoformat(value), None
    except ValueError:
        return None, issue(Msg.TIME_INVALID_DATE, f"{value!r} is not a calendar date", path)


def _instant(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def check_npis(doc: dict) -> Iterator[Issue]:
    places = [(("clinician", "npi"), doc["clinician"].get("npi")),
              (("organization", "npi"), doc["organization"].get("npi")),
              (("referral", "referrer", "npi"), doc.get("referral", {}).get("referrer", {}).get("npi"))]
    for parts, npi in places:
        if npi and not npi_is_valid(npi):
            yield issue(Msg.NPI_CHECK_DIGIT,
                        f"NPI {npi} fails its Luhn check digit (with prefix 80840)", Path.of(parts))
    referrer = doc.get("referral", {}).get("referrer")
    if referrer and referrer["npi"] == doc["clinician"]["npi"] and referrer["name"] != doc["clinician"]["name"]:
        yield issue(Msg.NPI_CONFLICT,
                    "the referrer has the clinician's NPI but another name; one NPI is one practitioner",
                    ROOT / "referral" / "referrer" / "name")


def check_times(doc: dict) -> Iterator[Issue]:
    session = doc["session"]
    d, bad = _date(session["date"], ROOT / "session" / "date")
    if bad:
        yield bad
        return
    start, end = session_bounds(session)
    if end <= start:
        yield issue(Msg.TIME_END_BEFORE_START,
                    f"endTime {session['endTime']} is not after startTime {session['startTime']}",
                    ROOT / "session" / "endTime")
    else:
        minutes = int((end - start).total_seconds() // 60)
        if session["timedMinutes"] > minutes:
            yield issue(Msg.TIMED_MINUTES_EXCEED,
                        f"timedMinutes {session['timedMinutes']} exceeds the session length of "
                        f"{minutes} minutes ({session['startTime']}-{session['endTime']})",
                        ROOT / "session" / "timedMinutes")
    period = doc["encounter"].get("period")
    if period:
        p_start = _instant(period["start"])
        p_end = _instant(period["end"]) if "end" in period else None
        for key, value in (("start", p_start), ("end", p_end)):
            if key in period and value is None:
                yield issue(Msg.TIME_INVALID_DATE, f"{period[key]!r} is not a calendar date-time",
                            ROOT / "encounter" / "period" / key)
        if p_start and p_end:
            if p_end < p_start:
                yield issue(Msg.TIME_END_BEFORE_START,
                            f"encounter period ends ({period['end']}) before it starts ({period['start']})",
                            ROOT / "encounter" / "period" / "end")
    for i, dx in enumerate(doc["diagnoses"]):
        if "onset" in dx:
            onset, bad = _date(dx["onset"], ROOT / "diagnoses" / i / "onset")
            if bad:
                yield bad
            elif onset > d:
                yield issue(Msg.ONSET_AFTER_SESSION,
                            f"onset {dx['onset']} is after the assessment date {session['date']}",
                            ROOT / "diagnoses" / i / "onset")
    for label, value, path in (("birthDate", doc["patient"].get("birthDate"), ROOT / "patient" / "birthDate"),
                               ("referral date", doc.get("referral", {}).get("date"), ROOT / "referral" / "date")):
        if value:
            day, bad = _date(value, path)
            if bad:
                yield bad
            elif day > d:
                yield issue(Msg.ONSET_AFTER_SESSION,
                            f"{label} {value} is after the assessment date {session['date']}", path)
    sig = doc.get("signature")
    if sig:
        signed = _instant(sig["signedAt"])
        if signed is None:
            yield issue(Msg.TIME_INVALID_DATE, f"{sig['signedAt']!r} is not a calendar date-time",
                        ROOT / "signature" / "signedAt")
        elif end > start and signed < start:
            yield issue(Msg.SIGNED_BEFORE_SESSION,
                        f"the report is signed ({sig['signedAt']}) before the session starts",
                        ROOT / "signature" / "signedAt")


def check_diagnoses(doc: dict) -> Iterator[Issue]:
    seen: dict[str, int] = {}
    primaries = 0
    for i, dx in enumerate(doc["diagnoses"]):
        path = ROOT / "diagnoses" / i / "code"
        code = dx["code"]
        if dx["role"] == "primary":
            primaries += 1
        if code in seen:
            yield issue(Msg.ICD_DUPLICATE, f"{code} is listed twice (also at diagnoses[{seen[code]}])", path)
            continue
        seen[code] = i
        entry = icd10cm.lookup(code)
        if entry is None:
            yield issue(Msg.ICD_UNKNOWN,
                        f"{code} is not an ICD-10-CM code in the official table ({icd10cm.release()})", path)
        elif not entry.billable:
            children = icd10cm.billable_descendants(code)
            yield issue(Msg.ICD_HEADER,
                        f"{code} ({entry.description}) is a header code, not billable; use a billable "
                        f"code below it, such as {', '.join(children)}", path)
    if primaries != 1:
        yield issue(Msg.PRIMARY_DIAGNOSIS_COUNT,
                    f"expected exactly one diagnosis with role 'primary', found {primaries}",
                    ROOT / "diagnoses")


def _value_kind(value: dict) -> str | None:
    kinds = [k for k in ("quantity", "code", "integer", "boolean", "text", "absent") if k in value]
    return kinds[0] if len(kinds) == 1 else None


_KIND_FOR_TYPE = {"quantity": "quantity", "coded": "code", "integer": "integer",
                  "boolean": "boolean", "text": "text"}


def _value_fits(spec, value: dict, kind: str, cat: Catalog) -> bool:
    if kind == "quantity":
        number = value["quantity"]
        return value.get("unit") in spec.units and (spec.min is None or number >= spec.min) \
            and (spec.max is None or number <= spec.max)
    if "unit" in value:
        return False
    if kind == "code":
        return value["code"] in cat.answers[spec.answers]
    if kind == "integer":
        number = value["integer"]
        return (spec.min is None or number >= spec.min) and (spec.max is None or number <= spec.max)
    return True


def check_measures(doc: dict, cat: Catalog) -> Iterator[Issue]:
    for i, m in enumerate(doc.get("measures", ())):
        spec = cat.measures.get(m["key"])
        value = m["value"]
        kind = _value_kind(value)
        if spec is not None and kind == _KIND_FOR_TYPE[spec.value_type] and _value_fits(spec, value, kind, cat):
            continue  # the common case, checked without building paths
        path = ROOT / "measures" / i
        if spec is None:
            close = difflib.get_close_matches(m["key"], cat.measures, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else " (see mappings/measures.yaml)"
            yield issue(Msg.MEASURE_UNKNOWN, f"unknown measure key {m['key']!r}{hint}", path / "key")
            continue
        value = m["value"]
        kind = _value_kind(value)
        expected = _KIND_FOR_TYPE[spec.value_type]
        vpath = path / "value"
        if kind is None or (kind != expected and kind != "absent"):
            extra = [k for k in value if k != "unit"]
            yield issue(Msg.MEASURE_VALUE_KIND,
                        f"measure {spec.key!r} takes exactly one of '{expected}' or 'absent'; got "
                        f"{', '.join(repr(k) for k in extra) or 'nothing'}", vpath)
            continue
        if "unit" in value and kind != "quantity":
            yield issue(Msg.MEASURE_UNIT, "'unit' goes only with a quantity", vpath / "unit")
        if kind == "quantity":
            unit = value.get("unit")
            if unit not in spec.units:
                yield issue(Msg.MEASURE_UNIT,
                            f"unit {unit!r} does not fit measure {spec.key!r}; expected UCUM "
                            f"{' or '.join(repr(u) for u in spec.units)}",
                            vpath / "unit" if unit else vpath)
        if kind == "code":
            answers = cat.answers[spec.answers]
            if value["code"] not in answers:
                yield issue(Msg.MEASURE_ANSWER,
                            f"{value['code']!r} is not an answer of {spec.answers!r} for measure "
                            f"{spec.key!r}; expected one of {', '.join(answers)}", vpath / "code")
        if kind in ("quantity", "integer"):
            number = value[kind]
            lo, hi = spec.min, spec.max
            if (lo is not None and number < lo) or (hi is not None and number > hi):
                yield issue(Msg.MEASURE_RANGE,
                            f"{number} is outside the plausible range {lo}..{hi} of measure {spec.key!r}",
                            vpath / kind)


def _check_hcpcs(code: str | None, path: Path, cat: Catalog) -> Iterator[Issue]:
    if code and code not in cat.devices:
        yield issue(Msg.HCPCS_UNVERIFIED,
                    f"HCPCS {code} is not among the verified device codes (mappings/devices.yaml); "
                    "an unverified code is not emitted", path)


def check_devices(doc: dict, cat: Catalog) -> Iterator[Issue]:
    codes = {dx["code"] for dx in doc["diagnoses"]}
    for i, trial in enumerate(doc.get("deviceTrials", ())):
        yield from _check_hcpcs(trial["device"].get("hcpcs"), ROOT / "deviceTrials" / i / "device" / "hcpcs", cat)
    for i, rec in enumerate(doc.get("recommendations", ())):
        path = ROOT / "recommendations" / i
        yield from _check_hcpcs(rec.get("hcpcs"), path / "hcpcs", cat)
        for j, code in enumerate(rec.get("diagnoses", ())):
            if code not in codes:
                yield issue(Msg.LINKED_DIAGNOSIS_UNKNOWN,
                            f"{code} is not one of this assessment's diagnoses ({', '.join(sorted(codes))})",
                            path / "diagnoses" / j)
        for j, spec in enumerate(rec.get("specifications", ())):
            if "unit" in spec and (isinstance(spec["value"], bool) or not isinstance(spec["value"], (int, float))):
                yield issue(Msg.SPEC_UNIT_WITHOUT_NUMBER, "'unit' goes only with a numeric value",
                            path / "specifications" / j / "unit")


def check_report(doc: dict, cat: Catalog) -> Iterator[Issue]:
    key = doc["report"].get("type")
    if key and key not in cat.document_types:
        yield issue(Msg.REPORT_TYPE_UNKNOWN,
                    f"unknown report type {key!r}; expected one of {', '.join(cat.document_types)}",
                    ROOT / "report" / "type")


def check_payer(doc: dict) -> Iterator[Issue]:
    payer = doc.get("payer")
    if isinstance(payer, dict) and not payer.get("memberId"):
        yield issue(Msg.PAYER_NO_MEMBER_ID, "the payer has no memberId: the Coverage cannot meet US Core 6.1.0 "
                    "(us-core-15: a member id or subscriberId) nor fhir-at's at-coverage profile",
                    ROOT / "payer" / "memberId", severity=Severity.WARNING)


def iter_issues(doc) -> Iterator[Issue]:
    """Every problem of an assessment document, schema first."""
    schema_issues = list(iter_schema_issues(doc))
    yield from schema_issues
    if not isinstance(doc, dict):
        return
    cat = catalog()
    checks = (lambda: check_npis(doc), lambda: check_times(doc), lambda: check_diagnoses(doc),
              lambda: check_measures(doc, cat), lambda: check_devices(doc, cat),
              lambda: check_report(doc, cat), lambda: check_payer(doc))
    for check in checks:
        if not schema_issues:
            yield from check()
            continue
        # The shape is wrong somewhere: run each content check as far as the shape allows, so one
        # pass reports every problem; a check that trips over the broken shape is skipped.
        try:
            found = list(check())
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            continue
        reported = {i.path for i in schema_issues}
        yield from (i for i in found if i.path not in reported)
