"""Coding and documentation rules of 97755 (mappings/billing.yaml), each with its boundary cases."""

from __future__ import annotations

import re
from datetime import date


import pytest
import yaml

from fhir_at import api
from fhir_at.billing.checks import ClaimContext, TimedService, claim_lines, iter_billing_issues
from fhir_at.billing.rules import billing_rules
from fhir_at.billing.units import allocate_units, timed_units
from tests.conftest import ROOT

MEDICARE_OT = dict(payer="medicare", modifiers=("GO",))


def ids(a, **ctx):
    return [i.message_id for i in iter_billing_issues(a, ClaimContext(**ctx))]


def find(a, rule_id, **ctx):
    found = [i for i in iter_billing_issues(a, ClaimContext(**ctx)) if i.message_id == rule_id]
    assert found, ids(a, **ctx)
    return found[0]


# --- rules as data ----------------------------------------------------------------------------

def test_every_rule_has_a_source_and_every_rule_used_exists():
    rules = billing_rules()
    assert all(r.source.strip() and r.message.strip() for r in rules.rules.values())
    code = "\n".join(p.read_text() for p in (ROOT / "fhir_at" / "billing").glob("*.py"))
    used = set(re.findall(r'rule\("([A-Z_]+)"', code))
    assert used == set(rules.rules), (used ^ set(rules.rules))


def test_sources_are_cited_in_each_issue(seed):
    issue = find(seed, "UNITS_INFO", **MEDICARE_OT)
    assert issue.citation.startswith("CMS IOM 100-04, Medicare Claims Processing Manual, chapter 5, section 20.2")
    oo = api.check_assessment(seed, ClaimContext(**MEDICARE_OT)).to_operation_outcome()
    units = next(i for i in oo["issue"] if i["extension"][0]["valueString"] == "UNITS_INFO")
    assert units["diagnostics"].startswith("source: CMS IOM 100-04")


def test_payers_of_the_seed_are_known():
    rules = billing_rules()
    for name in ("Medicare", "medicare part b", "Aetna", "Blue Cross Blue Shield", "BCBS", "Cigna Health",
                 "UnitedHealthcare", "UHC"):
        assert rules.payer(name) is not None, name
    assert rules.payer("Kaiser") is None
    doc = yaml.safe_load((ROOT / "mappings" / "billing.yaml").read_text())
    assert doc["not-available"]  # what is not known is said


# --- units ------------------------------------------------------------------------------------

@pytest.mark.parametrize("minutes, units", [(0, 0), (7, 0), (8, 1), (22, 1), (23, 2), (37, 2), (38, 3),
                                            (52, 3), (53, 4), (67, 4), (68, 5), (127, 8), (128, 9)])
def test_8_minute_rule(minutes, units):
    assert timed_units(minutes) == units


def test_units_of_several_timed_services_come_from_the_total():
    assert allocate_units({"97755": 7, "97542": 33}) == {"97755": 1, "97542": 2}  # 40 min -> 3 units
    assert allocate_units({"97755": 10, "97542": 10}) == {"97755": 1, "97542": 0}  # 20 min -> 1 unit
    assert allocate_units({"97755": 5, "97542": 2}) == {"97755": 0, "97542": 0}    # 7 min -> none
    assert sum(allocate_units({"97755": 33, "97542": 33, "97530": 33}).values()) == timed_units(99)


@pytest.mark.parametrize("minutes, expected", [(7, "UNITS_NOT_BILLABLE"), (8, "UNITS_INFO"),
                                               (22, "UNITS_INFO"), (23, "UNITS_INFO"), (0, "DOC_ZERO_MINUTES")])
def test_units_boundaries(seed, minutes, expected):
    seed["session"]["timedMinutes"] = minutes
    issue = find(seed, expected, **MEDICARE_OT)
    assert issue.path.json_path == "$.session.timedMinutes"
    if expected == "UNITS_INFO":
        assert f"97755: {timed_units(minutes)} unit(s) from {minutes} timed minutes" in issue.message


def test_other_services_of_the_day_count(seed):
    seed["session"]["timedMinutes"] = 7
    ctx = dict(**MEDICARE_OT, other_services=(TimedService("97542", 33, ("GO",)),))
    assert "UNITS_NOT_BILLABLE" not in ids(seed, **ctx)
    assert "97755: 1 unit(s) from 7 timed minutes (40 timed minutes of the day -> 3 unit(s) in all)" in \
        find(seed, "UNITS_INFO", **ctx).message
    lines = claim_lines(seed, ClaimContext(**ctx))
    assert [(l.code, l.units) for l in lines] == [("97755", 1), ("97542", 2)]


# --- modifiers (Medicare) ---------------------------------------------------------------------

def test_therapy_modifier_by_discipline(seed):
    missing = find(seed, "THERAPY_MODIFIER_MISSING", payer="medicare").message
    assert "Medicare requires the therapy modifier GO on 97755 under the occupational therapy plan of care; " \
           "the line has no modifier" in missing
    wrong = find(seed, "THERAPY_MODIFIER_WRONG", payer="medicare", modifiers=("GP",))
    assert "GP does not match the occupational therapy plan of care; use GO" in wrong.message
    assert not {"THERAPY_MODIFIER_MISSING", "THERAPY_MODIFIER_WRONG"} & set(ids(seed, **MEDICARE_OT))
    seed["clinician"]["discipline"] = "PT"
    assert "GP" in find(seed, "THERAPY_MODIFIER_MISSING", payer="medicare").message


def test_assistant_modifiers(seed):
    assert "CO" in find(seed, "ASSISTANT_MODIFIER_MISSING", **MEDICARE_OT, assistant=True).message
    assert "ASSISTANT_MODIFIER_MISSING" not in ids(seed, payer="medicare", modifiers=("GO", "CO"), assistant=True)
    assert find(seed, "ASSISTANT_MODIFIER_UNEXPECTED", payer="medicare", modifiers=("GO", "CO")).severity.value == "warning"


@pytest.mark.parametrize("amount, mods, expected", [
    (2480.00, ("GO",), None), (2480.01, ("GO",), "KX_MISSING"), (2600, ("GO", "KX"), None),
    (1000, ("GO", "KX"), "KX_UNNEEDED")])
def test_kx_threshold_2026(seed, amount, mods, expected):
    found = {i for i in ids(seed, payer="medicare", modifiers=mods, therapy_amount=amount)} & {"KX_MISSING", "KX_UNNEEDED"}
    assert found == ({expected} if expected else set())


def test_kx_threshold_of_a_year_not_available(seed):
    issue = find(seed, "KX_THRESHOLD_NOT_AVAILABLE", **MEDICARE_OT, therapy_amount=3000,
                 date_of_service=date(2025, 6, 1))
    assert "CY2025 is not available" in issue.message and issue.severity.value == "warning"
    assert "KX_NOT_CHECKED" in ids(seed, **MEDICARE_OT)


def test_commercial_payer_rules_are_not_available_not_invented(seed):
    found = ids(seed, payer="aetna")
    assert "PAYER_RULES_NOT_AVAILABLE" in found
    assert not [i for i in found if i.startswith(("THERAPY_", "KX_", "ASSISTANT_"))]


def test_payer_taken_from_the_assessment(seed):
    assert "THERAPY_MODIFIER_MISSING" in ids(seed)  # seed payer: Medicare Part B
    seed["payer"] = {"name": "Cigna", "kind": "commercial"}
    assert "PAYER_RULES_NOT_AVAILABLE" in ids(seed)


# --- documentation ----------------------------------------------------------------------------

def test_documentation_elements(seed):
    assert not [i for i in ids(seed, **MEDICARE_OT) if i.startswith("DOC_")]
    for key in ("signature", "deviceTrials", "measures", "history", "recommendations"):
        del seed[key]
    seed["clinician"]["credentials"] = []
    found = ids(seed, **MEDICARE_OT)
    for rule in ("DOC_UNSIGNED", "DOC_NO_TRIALS", "DOC_NO_FINDINGS", "DOC_NO_HISTORY",
                 "DOC_NO_RECOMMENDATIONS", "DOC_NO_CREDENTIALS"):
        assert rule in found


def test_power_mobility_needs_a_specialty_evaluation(seed):
    issue = find(seed, "POWER_MOBILITY_EVALUATION", **MEDICARE_OT)
    assert issue.path.json_path == "$.recommendations[0].hcpcs" and "K0861" in issue.message
    assert "POWER_MOBILITY_EVALUATION" not in ids(seed, payer="aetna")


# --- the claim ----------------------------------------------------------------------------------

def claim_of(bundle):
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Claim")


def test_claim_line(seed):
    bundle, outcome = api.convert(seed, pdf=False, billing=ClaimContext(**MEDICARE_OT), claim=True)
    assert outcome.ok, [str(i) for i in outcome.issues]
    claim = claim_of(bundle)
    [item] = claim["item"]
    assert item["productOrService"]["coding"][0]["code"] == "97755"
    assert item["quantity"] == {"value": 4}  # 60 minutes
    assert item["modifier"] == [{"coding": [{"system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "GO"}]}]
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in claim["diagnosis"]] == ["G71.01", "R26.2"]
    assert item["diagnosisSequence"] == [1, 2] and item["servicedDate"] == "2026-11-02"
    coverage = next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage")
    assert claim["insurance"][0]["coverage"]["reference"] == coverage
    from fhir.resources.R4B.claim import Claim
    Claim.model_validate(claim)
    back, out = api.extract(bundle)  # the claim is derived output: the assessment is unchanged
    assert out.ok and back == seed


def test_claim_with_other_services_and_ncci_modifier_systems(seed):
    ctx = ClaimContext(payer="medicare", modifiers=("GO",), other_services=(TimedService("97542", 20, ("GO", "59")),))
    bundle, outcome = api.convert(seed, pdf=False, billing=ctx, claim=True)
    assert bundle is not None, [str(i) for i in outcome.issues]
    items = claim_of(bundle)["item"]
    assert [(i["productOrService"]["coding"][0]["code"], i["quantity"]["value"]) for i in items] == [("97755", 4), ("97542", 1)]  # 80 min -> 5 units
    mods = {c["coding"][0]["code"]: c["coding"][0]["system"] for c in items[1]["modifier"]}
    assert mods["59"] == "http://www.ama-assn.org/go/cpt"


def test_claim_needs_a_payer_and_no_billing_error(seed):
    del seed["payer"]
    bundle, outcome = api.convert(seed, pdf=False, billing=ClaimContext(payer="medicare", modifiers=("GO",)), claim=True)
    assert bundle is None and "CLAIM_NO_PAYER" in [i.message_id for i in outcome.issues]
    seed["payer"] = {"name": "Medicare", "kind": "medicare"}
    bundle, outcome = api.convert(seed, pdf=False, billing=ClaimContext(), claim=True)  # no GO
    assert bundle is None and "THERAPY_MODIFIER_MISSING" in [i.message_id for i in outcome.errors]


def test_without_claim_billing_errors_are_warnings(seed):
    bundle, outcome = api.convert(seed, pdf=False)
    assert bundle is not None and outcome.ok
    missing = [i for i in outcome.issues if i.message_id == "THERAPY_MODIFIER_MISSING"]
    assert missing[0].severity.value == "warning" and missing[0].message.startswith("not billable as is:")


# --- NCCI (fictitious test rows in CMS's published layouts: tests/data/ncci/quarter) -------------

@pytest.fixture(scope="module")
def ncci():
    from fhir_at.billing.ncci import NcciTables

    return NcciTables.load(ROOT / "tests" / "data" / "ncci" / "quarter")


def test_ncci_indicator_1_needs_a_modifier_on_column_2(seed, ncci):
    seed["session"]["timedMinutes"] = 40
    ctx = dict(**MEDICARE_OT, ncci=ncci)
    issue = find(seed, "NCCI_MODIFIER_MISSING", **ctx, other_services=(TimedService("97542", 20, ("GO",)),))
    assert "97755 and 97542 are a PTP edit pair with modifier indicator 1 on 2026-11-02" in issue.message
    assert "ccipra-test-f1.txt:8" in issue.message
    assert "NCCI_MODIFIER_MISSING" not in ids(seed, **ctx, other_services=(TimedService("97542", 20, ("GO", "XU")),))


def test_ncci_indicator_0_cannot_be_bypassed(seed, ncci):
    seed["session"]["timedMinutes"] = 40
    issue = find(seed, "NCCI_PAIR_NOT_ALLOWED", **MEDICARE_OT, ncci=ncci,
                 other_services=(TimedService("97535", 20, ("GO", "59")),))
    assert "no modifier bypasses it" in issue.message and issue.severity.value == "error"


def test_ncci_edit_in_force_on_the_date_of_service(seed, ncci):
    seed["session"]["timedMinutes"] = 40
    other = (TimedService("97750", 20, ("GO",)),)
    assert "NCCI_MODIFIER_MISSING" in ids(seed, **MEDICARE_OT, ncci=ncci, other_services=other,
                                          date_of_service=date(2022, 12, 31))
    assert "NCCI_PAIR_NOT_ALLOWED" in ids(seed, **MEDICARE_OT, ncci=ncci, other_services=other,
                                          date_of_service=date(2023, 1, 1))


def test_ncci_modifier_without_an_edit_and_indicator_9(seed, ncci):
    assert "NCCI_MODIFIER_WITHOUT_EDIT" in ids(seed, payer="medicare", modifiers=("GO", "59"), ncci=ncci)
    seed["session"]["timedMinutes"] = 40
    found = ids(seed, **MEDICARE_OT, ncci=ncci, other_services=(TimedService("97760", 20, ("GO",)),))
    assert not {"NCCI_PAIR_NOT_ALLOWED", "NCCI_MODIFIER_MISSING"} & set(found)


def test_ncci_mue(seed, ncci):
    issue = find(seed, "NCCI_MUE_EXCEEDED", **MEDICARE_OT, ncci=ncci)  # 60 minutes -> 4 units > 3
    assert "4 units of 97755 exceed its MUE of 3 per day" in issue.message
    seed["session"]["timedMinutes"] = 45
    assert "NCCI_MUE_EXCEEDED" not in ids(seed, **MEDICARE_OT, ncci=ncci)
    assert "NCCI_NOT_CHECKED" in ids(seed, **MEDICARE_OT)


# --- ICD-10-CM on the date of service -------------------------------------------------------------

def _needs_editions():
    import os

    from fhir_at.terminology import icd10cm

    edition, exact = icd10cm.edition_for(date(2025, 6, 1))
    if not exact:
        if os.environ.get("CI") == "true":
            pytest.fail("the FY2025 ICD-10-CM edition is not installed (bash scripts/setup.sh)")
        pytest.skip("the FY2025 ICD-10-CM edition is not installed: run bash scripts/setup.sh")


def test_g35_is_billable_until_fy2026(seed):
    _needs_editions()
    seed["diagnoses"][1]["code"] = "G35"
    seed["recommendations"][0]["diagnoses"] = ["G71.01"]
    assert "ICD_NOT_BILLABLE_ON_DOS" not in ids(seed, **MEDICARE_OT, date_of_service=date(2025, 6, 1))
    issue = find(seed, "ICD_NOT_BILLABLE_ON_DOS", **MEDICARE_OT, date_of_service=date(2025, 11, 1))
    assert issue.path.json_path == "$.diagnoses[1].code" and "G35.A" in issue.message
    assert "not billable on 2025-11-01" in issue.message


def test_edition_not_exact_is_said(seed):
    issue = find(seed, "ICD_EDITION_NOT_EXACT", **MEDICARE_OT)  # 2026-11-02 is FY2027: no table yet
    assert "2026-11-02" in issue.message and issue.severity.value == "warning"


def test_code_that_did_not_exist_yet_on_the_date_of_service(seed):
    _needs_editions()
    seed["diagnoses"][1]["code"] = "G35.A"  # new in FY2026
    seed["recommendations"][0]["diagnoses"] = ["G71.01"]
    issue = find(seed, "ICD_UNKNOWN_ON_DOS", **MEDICARE_OT, date_of_service=date(2025, 6, 1))
    assert "G35.A is not in the ICD-10-CM edition FY2025-April that covers 2025-06-01" in issue.message
