"""Every bad-input class of the assessment gets a precise issue with its JSON path."""

from __future__ import annotations

import pytest

from fhir_at import api
from fhir_at.model.checks import npi_is_valid


def issues_of(doc):
    return [(i.message_id, i.path.json_path, i.message) for i in api.check_assessment(doc).issues]


def only(doc, message_id):
    found = [i for i in issues_of(doc) if i[0] == message_id]
    assert found, issues_of(doc)
    return found


def test_seed_example_is_clean(seed):
    assert issues_of(seed) == []


def test_header_code_g71_0_names_billable_children(seed):
    seed["diagnoses"][0]["code"] = "G71.0"
    seed["recommendations"] = []
    [(mid, path, text)] = only(seed, "ICD_HEADER")
    assert path == "$.diagnoses[0].code"
    assert "G71.0 (Muscular dystrophy) is a header code, not billable" in text
    assert "G71.01" in text and "G71.00" in text and "G71.09" in text


def test_g35_is_no_longer_billable(seed):
    seed["diagnoses"][1]["code"] = "G35"
    seed["recommendations"][0]["diagnoses"] = ["G71.01"]
    [(_, path, text)] = only(seed, "ICD_HEADER")
    assert path == "$.diagnoses[1].code" and "G35.A" in text


def test_code_that_does_not_exist(seed):
    seed["diagnoses"][1]["code"] = "R26.7"
    seed["recommendations"][0]["diagnoses"] = ["G71.01"]
    [(_, path, text)] = only(seed, "ICD_UNKNOWN")
    assert path == "$.diagnoses[1].code" and "R26.7 is not an ICD-10-CM code" in text


def test_malformed_icd_code(seed):
    seed["diagnoses"][0]["code"] = "G7101"
    [(_, path, text)] = only(seed, "SCHEMA_FORMAT")
    assert path == "$.diagnoses[0].code" and "ICD-10-CM code with its dot" in text


def test_duplicate_diagnosis_and_primary_count(seed):
    seed["diagnoses"].append({"code": "G71.01", "role": "primary"})
    assert only(seed, "ICD_DUPLICATE")[0][1] == "$.diagnoses[2].code"
    assert "found 2" in only(seed, "PRIMARY_DIAGNOSIS_COUNT")[0][2]


def test_unknown_measure_key_suggests(seed):
    seed["measures"][0]["key"] = "rom-hip-extensoin"
    [(_, path, text)] = only(seed, "MEASURE_UNKNOWN")
    assert path == "$.measures[0].key" and "did you mean rom-hip-extension" in text


def test_unit_that_does_not_fit_the_measure(seed):
    seed["measures"][5]["value"]["unit"] = "deg"  # grip strength in degrees
    [(_, path, text)] = only(seed, "MEASURE_UNIT")
    assert path == "$.measures[5].value.unit"
    assert "'deg' does not fit measure 'grip-strength'" in text and "'kg' or '[lb_av]'" in text


def test_quantity_without_unit(seed):
    del seed["measures"][5]["value"]["unit"]
    assert only(seed, "MEASURE_UNIT")[0][1] == "$.measures[5].value"


def test_value_of_the_wrong_kind(seed):
    seed["measures"][6]["value"] = {"quantity": 3, "unit": "kg"}  # sit-to-stand is coded
    [(_, path, text)] = only(seed, "MEASURE_VALUE_KIND")
    assert path == "$.measures[6].value" and "'code'" in text


def test_answer_outside_the_set(seed):
    seed["measures"][6]["value"] = {"code": "07x"}
    assert "expected one of 06, 05" in only(seed, "MEASURE_ANSWER")[0][2]


def test_implausible_value(seed):
    seed["measures"][0]["value"]["quantity"] = 720
    assert only(seed, "MEASURE_RANGE")[0][1] == "$.measures[0].value.quantity"


@pytest.mark.parametrize("code, message_id", [("K000", "SCHEMA_FORMAT"), ("k0001", "SCHEMA_FORMAT"),
                                              ("E2300", "HCPCS_UNVERIFIED"), ("Z9999", "SCHEMA_FORMAT")])
def test_malformed_or_unverified_hcpcs(seed, code, message_id):
    seed["recommendations"][0]["hcpcs"] = code
    assert only(seed, message_id)[0][1] == "$.recommendations[0].hcpcs"


def test_trialled_device_hcpcs_checked(seed):
    seed["deviceTrials"][0]["device"]["hcpcs"] = "E2300"
    assert only(seed, "HCPCS_UNVERIFIED")[0][1] == "$.deviceTrials[0].device.hcpcs"


def test_recommendation_links_unknown_diagnosis(seed):
    seed["recommendations"][1]["diagnoses"] = ["G12.21"]
    [(_, path, _)] = only(seed, "LINKED_DIAGNOSIS_UNKNOWN")
    assert path == "$.recommendations[1].diagnoses[0]"


def test_end_before_start(seed):
    seed["session"]["endTime"] = "08:30"
    [(_, path, text)] = only(seed, "TIME_END_BEFORE_START")
    assert path == "$.session.endTime" and "08:30 is not after startTime 09:05" in text


def test_encounter_period_end_before_start(seed):
    seed["encounter"]["period"]["end"] = "2026-11-02T08:00:00-05:00"
    assert only(seed, "TIME_END_BEFORE_START")[0][1] == "$.encounter.period.end"


def test_negative_minutes(seed):
    seed["session"]["timedMinutes"] = -5
    [(_, path, text)] = only(seed, "SCHEMA_OTHER")
    assert path == "$.session.timedMinutes" and "minimum of 0" in text


def test_minutes_longer_than_the_session(seed):
    seed["session"]["timedMinutes"] = 90
    [(_, path, text)] = only(seed, "TIMED_MINUTES_EXCEED")
    assert path == "$.session.timedMinutes" and "75 minutes" in text


def test_impossible_calendar_date(seed):
    seed["session"]["date"] = "2026-02-30"
    assert only(seed, "TIME_INVALID_DATE")[0][1] == "$.session.date"


def test_onset_after_the_session(seed):
    seed["diagnoses"][0]["onset"] = "2027-01-01"
    assert only(seed, "ONSET_AFTER_SESSION")[0][1] == "$.diagnoses[0].onset"


def test_npi_check_digit(seed):
    seed["clinician"]["npi"] = "1234567890"
    [(_, path, text)] = only(seed, "NPI_CHECK_DIGIT")
    assert path == "$.clinician.npi" and "Luhn" in text


def test_npi_luhn_known_values():
    assert npi_is_valid("1234567893") and not npi_is_valid("1234567890")


def test_missing_field_and_unknown_field_are_located(seed):
    del seed["clinician"]["discipline"]
    seed["encounter"]["room"] = "3B"
    found = issues_of(seed)
    assert ("SCHEMA_REQUIRED", "$.clinician.discipline", "required field 'discipline' is missing") in found
    unknown = [f for f in found if f[0] == "SCHEMA_UNKNOWN_FIELD"]
    assert unknown[0][1] == "$.encounter.room" and "unknown field 'room'" in unknown[0][2]


def test_wrong_type_and_enum(seed):
    seed["session"]["timedMinutes"] = "60"
    seed["clinician"]["discipline"] = "RN"
    found = issues_of(seed)
    assert ("SCHEMA_TYPE", "$.session.timedMinutes", "expected integer, got string") in found
    assert any(f[0] == "SCHEMA_ENUM" and f[1] == "$.clinician.discipline" and "'OT'" in f[2] for f in found)


def test_schema_and_content_errors_in_one_pass(seed):
    seed["encounter"]["room"] = "3B"
    seed["diagnoses"][0]["code"] = "G71.0"
    ids = {i[0] for i in issues_of(seed)}
    assert {"SCHEMA_UNKNOWN_FIELD", "ICD_HEADER"} <= ids


def test_patient_by_fhir_id_takes_nothing_else(seed):
    seed["patient"]["fhirId"] = "p1"
    assert only(seed, "SCHEMA_OTHER")[0][1] == "$.patient"


def test_unit_on_a_text_specification(seed):
    seed["recommendations"][0]["specifications"][2]["unit"] = "cm"
    assert only(seed, "SPEC_UNIT_WITHOUT_NUMBER")[0][1] == "$.recommendations[0].specifications[2].unit"


def test_unknown_report_type(seed):
    seed["report"]["type"] = "discharge-summary"
    assert only(seed, "REPORT_TYPE_UNKNOWN")[0][1] == "$.report.type"


def test_payer_without_member_id_is_a_warning(seed):
    del seed["payer"]["memberId"]
    [found] = [i for i in api.check_assessment(seed).issues if i.message_id == "PAYER_NO_MEMBER_ID"]
    assert found.severity.value == "warning" and str(found.path) == "$.payer.memberId" and "us-core-15" in found.message


def test_payer_relationship_is_mapped_and_unknown_is_said(seed):
    from fhir_at.terminology import systems

    def coverage(doc):
        bundle, _ = api.convert(doc, pdf=False)
        return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage")

    seed["payer"]["relationship"] = "child"
    assert coverage(seed)["relationship"]["coding"] == [
        {"system": systems.SUBSCRIBER_RELATIONSHIP, "code": "child", "display": "Child"}]
    del seed["payer"]["relationship"]
    assert coverage(seed)["relationship"] == {"extension": [{"url": systems.EXT_DATA_ABSENT_REASON,
                                                             "valueCode": "unknown"}]}


def test_signed_before_the_session(seed):
    seed["signature"]["signedAt"] = "2026-11-01T16:45:00-05:00"
    assert only(seed, "SIGNED_BEFORE_SESSION")[0][1] == "$.signature.signedAt"


def test_not_an_object():
    found = issues_of([1, 2])
    assert found and found[0][0] == "SCHEMA_TYPE" and found[0][1] == "$"


def test_convert_refuses_invalid_input(seed):
    seed["diagnoses"][0]["code"] = "G71.0"
    bundle, outcome = api.convert(seed, pdf=False)
    assert bundle is None and not outcome.ok


@pytest.mark.parametrize("where", ["signature", "period-start", "period-end"])
def test_impossible_date_times_are_issues_not_crashes(seed, where):
    if where == "signature":
        seed["signature"]["signedAt"], path = "2026-02-30T10:00:00Z", "$.signature.signedAt"
    elif where == "period-start":
        seed["encounter"]["period"] = {"start": "2026-11-31T09:00:00Z"}
        path = "$.encounter.period.start"
    else:
        seed["encounter"]["period"]["end"], path = "2026-11-31T09:00:00Z", "$.encounter.period.end"
    assert only(seed, "TIME_INVALID_DATE")[0][1] == path


def test_referrer_with_the_clinicians_npi_and_another_name(seed):
    seed["referral"]["referrer"]["npi"] = seed["clinician"]["npi"]
    assert only(seed, "NPI_CONFLICT")[0][1] == "$.referral.referrer.name"
