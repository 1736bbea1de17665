"""Hypothesis strategies for valid assessments, built from the declarative catalog."""

from __future__ import annotations

from hypothesis import strategies as st

from fhir_at.model.checks import npi_is_valid
from fhir_at.terminology.catalog import catalog

CAT = catalog()
# Billable ICD-10-CM codes (checked against the official table by the round-trip test itself).
ICD = ["G71.01", "R26.2", "G12.21", "Z99.3", "M62.81", "I69.354", "G80.1", "G20.A1", "R29.6",
       "Z91.81", "G35.A", "S14.105S", "Q05.7", "L89.154", "G82.22"]
NPIS = [n for n in (f"1{i:08d}{d}" for i in range(1000, 1100) for d in range(10)) if npi_is_valid(n)][:40]

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40) \
    .filter(lambda s: s.strip() != "")
token = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,15}", fullmatch=True)
ident = st.fixed_dictionaries({"system": st.sampled_from(["urn:oid:2.16.840.1.113883.3.9999.1", "http://clinic.example/ids"]),
                               "value": token})
date = st.dates(min_value=__import__("datetime").date(1930, 1, 1),
                max_value=__import__("datetime").date(2026, 12, 31)).map(lambda d: d.isoformat())
name = st.fixed_dictionaries({"family": text}, optional={"given": st.lists(text, min_size=1, max_size=2)})
offset = st.sampled_from(["Z", "-05:00", "+01:00", "-10:00"])


def _value(spec):
    if spec.value_type == "quantity":
        lo, hi = spec.min or 0, spec.max or 1000
        return st.fixed_dictionaries({
            "quantity": st.one_of(st.integers(int(lo), int(hi)),
                                  st.floats(lo, hi, allow_nan=False).map(lambda x: round(x, 2))),
            "unit": st.sampled_from(spec.units)})
    if spec.value_type == "coded":
        return st.fixed_dictionaries({"code": st.sampled_from(sorted(CAT.answers[spec.answers]))})
    if spec.value_type == "integer":
        return st.fixed_dictionaries({"integer": st.integers(int(spec.min), int(spec.max))})
    if spec.value_type == "boolean":
        return st.fixed_dictionaries({"boolean": st.booleans()})
    return st.fixed_dictionaries({"text": text})


@st.composite
def measure(draw):
    spec = CAT.measures[draw(st.sampled_from(sorted(CAT.measures)))]
    value = draw(st.one_of(_value(spec), st.fixed_dictionaries(
        {"absent": st.sampled_from(["not-performed", "unknown", "asked-declined", "not-applicable"])})))
    return draw(st.fixed_dictionaries({"key": st.just(spec.key), "value": st.just(value)}, optional={
        "laterality": st.sampled_from(["left", "right", "bilateral"]), "bodySite": text,
        "method": text, "note": text}))


device = st.fixed_dictionaries({"description": text}, optional={"hcpcs": st.sampled_from(sorted(CAT.devices))})


@st.composite
def assessment(draw):
    codes = draw(st.lists(st.sampled_from(ICD), min_size=1, max_size=4, unique=True))
    npis = draw(st.lists(st.sampled_from(NPIS), min_size=3, max_size=3, unique=True))
    start = draw(st.integers(7 * 60, 14 * 60))
    length = draw(st.integers(1, 180))
    end = start + length
    day = draw(st.dates(min_value=__import__("datetime").date(2024, 1, 1),
                        max_value=__import__("datetime").date(2026, 12, 31)).map(lambda d: d.isoformat()))
    off = draw(offset)
    patient = draw(st.one_of(
        st.fixed_dictionaries({"fhirId": token}),
        st.fixed_dictionaries({
            "identifiers": st.lists(st.fixed_dictionaries(
                {"system": st.just("urn:oid:2.16.840.1.113883.3.9999.2"), "value": token},
                optional={"type": st.just("MR")}), min_size=1, max_size=2),
            "name": name, "sex": st.sampled_from(["male", "female", "other", "unknown"])},
            optional={"birthDate": st.dates(max_value=__import__("datetime").date(2023, 1, 1)).map(lambda d: d.isoformat())}),
    ))
    recommendation = st.fixed_dictionaries(
        {"description": text, "justification": text},
        optional={
            "hcpcs": st.sampled_from(sorted(CAT.devices)),
            "specifications": st.lists(st.one_of(
                st.fixed_dictionaries({"name": text, "value": st.integers(0, 100)},
                                      optional={"unit": st.sampled_from(["[in_i]", "cm", "deg", "kg"])}),
                st.fixed_dictionaries({"name": text, "value": st.one_of(text, st.booleans())})), max_size=3),
            "diagnoses": st.lists(st.sampled_from(codes), unique=True, max_size=len(codes)),
        })
    a = {
        "schemaVersion": "1.0",
        "identifier": draw(ident),
        "patient": patient,
        "encounter": draw(st.fixed_dictionaries({"setting": st.sampled_from(sorted(CAT.concepts["encounter-settings"]))},
                                                optional={"identifier": ident})),
        "clinician": draw(st.fixed_dictionaries(
            {"npi": st.just(npis[0]), "name": name, "discipline": st.sampled_from(["OT", "PT", "SLP"])},
            optional={"credentials": st.lists(text, min_size=1, max_size=3, unique=True)})),
        "organization": draw(st.fixed_dictionaries({"name": text}, optional={"npi": st.just(npis[1])})),
        "session": {"date": day, "startTime": f"{start // 60:02d}:{start % 60:02d}",
                    "endTime": f"{end // 60:02d}:{end % 60:02d}", "utcOffset": off,
                    "timedMinutes": draw(st.integers(0, length))},
        "diagnoses": [{"code": c, "role": "primary" if i == 0 else "secondary"} for i, c in enumerate(codes)],
        "report": draw(st.fixed_dictionaries({"narrative": text},
                                             optional={"type": st.sampled_from(sorted(CAT.document_types))})),
    }
    for dx in a["diagnoses"]:
        if draw(st.booleans()):
            dx["onset"] = draw(date.filter(lambda d: d <= day))
    optional = {
        "payer": st.fixed_dictionaries({"name": text, "kind": st.sampled_from(["medicare", "medicaid", "commercial", "other"])},
                                       optional={"memberId": text, "relationship": st.sampled_from(
                                           ["self", "spouse", "child", "parent", "common", "injured", "other"])}),
        "referral": st.fixed_dictionaries({"reason": text}, optional={
            "identifier": ident, "date": date.filter(lambda d: d <= day),
            "referrer": st.fixed_dictionaries({"npi": st.just(npis[2]), "name": name})}),
        "history": text,
        "measures": st.lists(measure(), max_size=6),
        "deviceTrials": st.lists(st.fixed_dictionaries(
            {"device": device, "outcome": st.sampled_from(["successful", "partially-successful", "unsuccessful"])},
            optional={"notes": text}), max_size=3),
        "recommendations": st.lists(recommendation, max_size=3),
        "followUp": st.lists(st.fixed_dictionaries({"kind": st.sampled_from(["follow-up", "referral"]), "text": text}), max_size=3),
        "signature": st.just({"signedAt": f"{day}T{end // 60:02d}:{end % 60:02d}:00{'+00:00' if off == 'Z' else off}"}),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            a[key] = draw(strategy)
    return a
