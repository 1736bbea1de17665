"""The written assessment report: content, PDF text, HTML escaping, determinism, 8-minute rule."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from pypdf import PdfReader

import fhir_at.report
from fhir_at.report import render_html, render_pdf
from fhir_at.report.content import build
from fhir_at.report.transliteration import to_pdf_text
from fhir_at.billing.units import timed_units

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "duchenne-mobility.json"


@pytest.fixture(scope="module")
def example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def example_pdf(example) -> bytes:
    return render_pdf(example)


def minimal() -> dict:
    """Only the required fields: no payer, referral, history, measures, trials, recommendations,
    follow-up or signature."""
    return {
        "schemaVersion": "1.0",
        "identifier": {"system": "urn:oid:2.16.840.1.113883.3.9999.1", "value": "ATA-MIN-1"},
        "patient": {"fhirId": "pat-123"},
        "encounter": {"setting": "home-visit"},
        "clinician": {"npi": "1234567893", "name": {"family": "Okafor"}, "discipline": "PT"},
        "organization": {"name": "Lakeside Outpatient Rehabilitation"},
        "session": {"date": "2026-11-03", "startTime": "13:00", "endTime": "13:40",
                    "utcOffset": "Z", "timedMinutes": 37},
        "diagnoses": [{"code": "R26.2", "role": "primary"}],
        "report": {"narrative": "Home visit; no device recommended at this time."},
    }


def test_the_minimal_assessment_is_valid():
    import jsonschema

    from fhir_at._data import schema_file

    schema = json.loads(schema_file().read_text(encoding="utf-8"))
    assert not list(jsonschema.Draft202012Validator(schema).iter_errors(minimal()))


def pdf_pages(data: bytes) -> list[str]:
    """Text of each page with whitespace collapsed (wrapped lines joined by one space)."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def pdf_text(data: bytes) -> str:
    return " ".join(pdf_pages(data))


# --- 8-minute rule ------------------------------------------------------------------------------

@pytest.mark.parametrize(("minutes", "units"), [
    (0, 0), (7, 0), (8, 1), (22, 1), (23, 2), (37, 2), (38, 3), (52, 3), (53, 4),
    (60, 4), (67, 4), (68, 5), (82, 5), (83, 6),
])
def test_timed_units_follow_the_8_minute_rule(minutes, units):
    assert timed_units(minutes) == units


def test_timed_units_refuse_negative_and_non_integer_minutes():
    with pytest.raises(ValueError, match="timed minutes cannot be negative: -1"):
        timed_units(-1)
    with pytest.raises(TypeError, match="timed minutes must be an integer, not float"):
        timed_units(8.0)
    with pytest.raises(TypeError, match="timed minutes must be an integer, not bool"):
        timed_units(True)


# --- package surface ----------------------------------------------------------------------------

def test_all_is_the_public_api():
    public = {name for name, value in vars(fhir_at.report).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert sorted(fhir_at.report.__all__) == sorted(public) == ["render_html", "render_pdf"]


def test_importing_the_package_loads_neither_fpdf_nor_jinja2():
    code = ("import sys, fhir_at.report; "
            "print(sorted(m for m in ('fpdf', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "[]"


# --- PDF content --------------------------------------------------------------------------------

def test_pdf_has_the_key_content(example_pdf):
    text = pdf_text(example_pdf)
    expected = [
        "Assistive Technology Assessment (CPT 97755)",
        "Occupational therapy Consult note",
        # header
        "Name: Daniel J Rivera", "Birth date: 1998-03-14", "Sex: Male", "MRN: MRN-448812",
        "Setting: Outpatient rehabilitation clinic", "Identifier: ENC-20261102-17",
        "Name: Grace Okafor, OTR/L, ATP", "Discipline: Occupational therapy", "NPI: 1234567893",
        "Name: Lakeside Outpatient Rehabilitation", "NPI: 1245319599",
        "Name: Medicare Part B", "Kind: Medicare", "Member ID: 1EG4-TE5-MK72",
        "Date: 2026-11-02", "Time: 09:05–10:20 (UTC-05:00)",
        "Timed minutes: 60", "97755 units (8-minute rule): 4",
        # referral and diagnoses
        "Reason: Progressive mobility decline and increasing difficulty ambulating; "
        "evaluate for mobility devices.",
        "Referred by: Thomas Nguyen (NPI 1679576722)", "Referral date: 2026-10-15",
        "G71.01 Duchenne or Becker muscular dystrophy Primary 2003-06-01",
        "R26.2 Difficulty in walking, not elsewhere classified Secondary",
        # history
        "28-year-old man with Duchenne muscular dystrophy, diagnosed age 5.",
        # findings
        "Range of motion", "Hip extension range of motion -15° Bilateral Goniometer, supine",
        "Grip strength (dynamometer) 11.5 kg Right Jamar dynamometer, position 2, mean of 3 trials",
        "Partial/moderate assistance (03)", "Not available (Not Performed)",
        "Not attempted: fall risk", "Seated hip width 15.5 in", "Body weight 68.2 kg",
        "Sitting balance Fair", "Stand-pivot transfer",
        # trials
        "Folding wheeled walker", "E0143 (CMS: Walker folding wheeled w/o s)", "Unsuccessful trial",
        "K0861 (CMS: Pwc gp3 std mult pow opt s/b) Successful trial",
        # recommendations
        "1. Group 3 power wheelchair with multiple power options",
        "HCPCS: K0861 (CMS: Pwc gp3 std mult pow opt s/b)",
        "Seat width 16 in", "Seat depth 18 in",
        "Drive control Standard proportional joystick, right side",
        "Justification: Progressive proximal weakness prevents safe ambulation and self-propulsion "
        "of a manual wheelchair; needs independent mobility for home and community.",
        "Diagnoses: G71.01 Duchenne or Becker muscular dystrophy; "
        "R26.2 Difficulty in walking, not elsewhere classified",
        "2. Power seat tilt", "HCPCS: E1002 (CMS: Pwr seat tilt)", "Tilt range 45°",
        # follow-up, summary, signature
        "Follow-up: Seating and mobility fitting and delivery visit once the power wheelchair is "
        "approved.",
        "Referral need: Refer to physical therapy for a home exercise programme and transfer "
        "training.",
        "A Group 3 power wheelchair with power tilt and a skin-protection and positioning cushion "
        "is recommended",
        "Electronically signed by Grace Okafor, OTR/L, ATP on 2026-11-02 16:45 (UTC-05:00)",
    ]
    missing = [phrase for phrase in expected if phrase not in text]
    assert not missing


def test_pdf_sections_come_in_report_order(example_pdf):
    text = pdf_text(example_pdf)
    headings = ["Patient", "Encounter", "Clinician", "Organization", "Payer", "Session",
                "Reason for referral", "Diagnoses (ICD-10-CM)", "History", "Functional findings",
                "Device trials", "Recommendations", "Follow-up and referral needs", "Summary",
                "Signature"]
    positions = [text.index(h, text.index("Consult note")) for h in headings]
    assert positions == sorted(positions)


def test_findings_are_grouped_by_domain_in_order_of_first_appearance(example):
    findings = next(s for s in build(example)["sections"] if s["key"] == "findings")
    groups = [row["group"] for row in findings["blocks"][0]["rows"] if "group" in row]
    assert groups == ["Range of motion", "Strength", "Transfers", "Ambulation",
                      "Wheelchair mobility", "Seating and positioning", "Anthropometrics"]


def test_every_page_has_the_patient_banner_and_page_number(example_pdf):
    pages = pdf_pages(example_pdf)
    assert len(pages) > 1
    for number, page in enumerate(pages, 1):
        assert page.startswith("Daniel J Rivera, DOB 1998-03-14 ATA-2026-0001")
        assert page.endswith(f"Page {number} of {len(pages)}")


def test_pdf_metadata(example_pdf):
    meta = PdfReader(io.BytesIO(example_pdf)).metadata
    assert meta.title == "Assistive Technology Assessment (CPT 97755)"
    assert meta.author == "Grace Okafor, OTR/L, ATP"
    assert meta.subject == "Assistive technology assessment ATA-2026-0001"
    assert meta["/CreationDate"] == "D:20261102164500-05'00'"


# --- determinism --------------------------------------------------------------------------------

def test_renders_are_byte_identical(example, example_pdf):
    assert render_pdf(example) == example_pdf
    assert render_pdf(copy.deepcopy(example)) == example_pdf
    assert render_html(example) == render_html(copy.deepcopy(example))


def test_renders_are_byte_identical_across_processes(example, example_pdf):
    code = (
        "import hashlib, json, sys; from fhir_at.report import render_html, render_pdf; "
        "a = json.load(open(sys.argv[1], encoding='utf-8')); "
        "print(hashlib.sha256(render_pdf(a)).hexdigest(), "
        "hashlib.sha256(render_html(a).encode()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code, str(EXAMPLE)], capture_output=True,
                         text=True, check=True, cwd=REPO, env=None)
    pdf_hash, html_hash = out.stdout.split()
    assert pdf_hash == hashlib.sha256(example_pdf).hexdigest()
    assert html_hash == hashlib.sha256(render_html(example).encode()).hexdigest()


# --- HTML ---------------------------------------------------------------------------------------

def test_html_has_the_same_content(example):
    html = render_html(example)
    for phrase in ["<title>Assistive Technology Assessment (CPT 97755)</title>",
                   "<dt>97755 units (8-minute rule)</dt><dd>4</dd>",
                   "<td>G71.01</td><td>Duchenne or Becker muscular dystrophy</td>",
                   "<td>Grip strength (dynamometer)</td><td>11.5 kg</td>",
                   "<td>Seat width</td><td>16 in</td>",
                   "Electronically signed by Grace Okafor, OTR/L, ATP on 2026-11-02 16:45 "
                   "(UTC-05:00)"]:
        assert phrase in html


def test_html_escapes_text(example):
    assessment = copy.deepcopy(example)
    assessment["history"] = 'Said "no" to <script>alert(1)</script> & left'
    html = render_html(assessment)
    assert "<script>" not in html
    assert "Said &#34;no&#34; to &lt;script&gt;alert(1)&lt;/script&gt; &amp; left" in html


# --- text outside the PDF fonts' repertoire -----------------------------------------------------

def test_non_latin1_text_is_transliterated_in_pdf_and_kept_in_html(example):
    assessment = copy.deepcopy(example)
    assessment["patient"]["name"] = {"family": "Żółć", "given": ["Łukasz"]}
    assessment["clinician"]["name"] = {"family": "Ørsted-Łęcka", "given": ["Grace"]}
    assessment["history"] = "Plays power-chair football ⚽🏆 − twice a week; says “дякую”."
    pdf = render_pdf(assessment)
    pages = pdf_pages(pdf)
    assert all(page.startswith("Lukasz Zólc, DOB 1998-03-14") for page in pages)
    assert "Name: Lukasz Zólc" in pages[0]
    assert "Name: Grace Ørsted-Lecka, OTR/L, ATP" in pages[0]
    assert PdfReader(io.BytesIO(pdf)).metadata.author == "Grace Ørsted-Łęcka, OTR/L, ATP"
    assert "Plays power-chair football ?? - twice a week; says “?????”." in " ".join(pages)
    html = render_html(assessment)
    assert "Łukasz Żółć" in html
    assert "⚽🏆 − twice a week; says “дякую”." in html


@pytest.mark.parametrize(("text", "expected"), [
    ("Łukasz Żółć", "Lukasz Zólc"),
    ("a – b — ‘c’ “d” • e … €", "a – b — ‘c’ “d” • e … €"),  # all in Windows-1252: kept
    ("−3 ≥ 2 ﬁne", "-3 >= 2 fine"),
    ("👍🏽 e\u0301 👨\u200d👩\u200d👧 日本", "? é ??? ??"),
])
def test_to_pdf_text(text, expected):
    assert to_pdf_text(text) == expected


# --- only the required fields -------------------------------------------------------------------

def test_minimal_assessment_renders_and_says_what_is_missing():
    assessment = minimal()
    text = pdf_text(render_pdf(assessment))
    for phrase in [
        "Patient/pat-123 ATA-MIN-1",  # banner
        "Patient: Patient/pat-123",
        "Setting: Home visit",
        "Name: Okafor", "Discipline: Physical therapy", "Physical therapy Consult note",
        "Payer Not available",
        "Time: 13:00–13:40 (UTC)", "Timed minutes: 37", "97755 units (8-minute rule): 2",
        "Reason for referral Not available",
        "R26.2 Difficulty in walking, not elsewhere classified Primary",
        "History Not available", "Functional findings Not available", "Device trials Not available",
        "Recommendations Not available", "Follow-up and referral needs Not available",
        "Summary Home visit; no device recommended at this time.",
        "Signature Not signed",
    ]:
        assert phrase in text, phrase
    assert "Electronically signed" not in text
    html = render_html(assessment)
    assert "<p>Not signed</p>" in html
    assert PdfReader(io.BytesIO(render_pdf(assessment))).metadata["/CreationDate"] == (
        "D:20261103134000Z"
    )


def test_absent_optional_header_fields_are_not_invented():
    assessment = minimal()
    assessment["patient"] = {
        "identifiers": [{"system": "urn:oid:2.16.840.1.113883.3.9999.2", "value": "X-1"}],
        "name": {"family": "Doe"}, "sex": "unknown",
    }
    patient = build(assessment)["header"][0]["blocks"][0]["rows"]
    assert patient == [["Name", "Doe"], ["Birth date", "Not available"], ["Sex", "Unknown"],
                       ["Identifier", "X-1 (urn:oid:2.16.840.1.113883.3.9999.2)"]]
    organization = build(assessment)["header"][3]["blocks"][0]["rows"]
    assert organization == [["Name", "Lakeside Outpatient Rehabilitation"]]


def test_optional_parts_of_a_recommendation_are_left_out(example):
    assessment = copy.deepcopy(example)
    assessment["recommendations"] = [{
        "description": "Reacher",
        "justification": "Cannot reach the floor.",
        "specifications": [{"name": "Folding", "value": True},
                           {"name": "Length", "value": 32.0, "unit": "[in_i]"}],
    }]
    assessment["deviceTrials"] = [
        {"device": {"description": "Reacher, 32 in"}, "outcome": "partially-successful"},
    ]
    view = build(assessment)
    recommendations = next(s for s in view["sections"] if s["key"] == "recommendations")
    assert recommendations["blocks"] == [
        {"kind": "subheading", "text": "1. Reacher"},
        {"kind": "table", "columns": ["Specification", "Value"], "widths": [30, 40],
         "rows": [{"cells": ["Folding", "Yes"]}, {"cells": ["Length", "32 in"]}]},
        {"kind": "fields", "rows": [["Justification", "Cannot reach the floor."]]},
    ]
    trials = next(s for s in view["sections"] if s["key"] == "trials")
    assert trials["blocks"][0]["rows"] == [
        {"cells": ["Reacher, 32 in", "", "Partially successful trial", ""]},
    ]
    text = pdf_text(render_pdf(assessment))
    assert ("1. Reacher Specification Value Folding Yes Length 32 in "
            "Justification: Cannot reach the floor.") in text
    assert "HCPCS:" not in text


def test_a_row_taller_than_a_page_continues_on_the_next_rows(example):
    assessment = copy.deepcopy(example)
    note = " ".join(f"word{i}" for i in range(1500))
    assessment["measures"] = [
        {"key": "grip-strength", "value": {"quantity": 11.5, "unit": "kg"}, "note": note},
    ]
    pages = pdf_pages(render_pdf(assessment))
    assert len(pages) > 3
    assert re.findall(r"word\d+", " ".join(pages)) == note.split()  # all of it, in order


def test_findings_columns_empty_in_every_row_are_left_out(example):
    assessment = copy.deepcopy(example)
    assessment["measures"] = [
        {"key": "body-weight", "value": {"quantity": 68.2, "unit": "kg"}},
        {"key": "uses-wheelchair", "value": {"boolean": False}, "note": "Walks indoors"},
        {"key": "berg-balance-total", "value": {"integer": 31}},
        {"key": "walk-150ft", "value": {"absent": "asked-declined"}},
    ]
    findings = next(s for s in build(assessment)["sections"] if s["key"] == "findings")
    table = findings["blocks"][0]
    assert table["columns"] == ["Measure", "Result", "Note"]
    assert sum(table["widths"]) == pytest.approx(100, abs=0.05)
    assert [row.get("cells", row.get("group")) for row in table["rows"]] == [
        "Anthropometrics", ["Body weight", "68.2 kg", ""],
        "Wheelchair mobility",
        ["Does the patient use a wheelchair or scooter during 3 day assessment period "
         "[CMS Assessment]", "No", "Walks indoors"],
        "Standardized tests", ["Berg Balance Scale total score", "31", ""],
        "Ambulation",
        ["Walk 150 feet - functional ability during 3 day assessment period [CMS Assessment]",
         "Not available (Asked But Declined)", ""],
    ]
    text = pdf_text(render_pdf(assessment))
    assert "Measure Result Note Anthropometrics Body weight 68.2 kg" in text
