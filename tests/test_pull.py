"""Pulling Conditions: paging (relative/absolute/foreign next links), outcomes, duplicates, code
choice and flags (unit tests with ``responses``), then the real server (SEKMET) and the CLI."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
import responses
from responses import matchers

from fhir_at.cli.main import main
from fhir_at.client.http import FhirClient, RetryPolicy
from fhir_at.client.pull import (AmbiguousPatient, PatientNotFound, PulledCondition, iter_conditions,
                                 normalize_icd10cm, resolve_patient)
from fhir_at.errors import InputError, ServerError, TransportError
from fhir_at.terminology import systems
from tests.conftest import run_cli as run

BASE = "https://ehr.example/fhir"
VENDOR = "urn:oid:1.2.840.114350.1.13.0.1.7.2.696871"  # an EHR's own diagnosis ids


def client() -> FhirClient:
    return FhirClient(BASE, retry=RetryPolicy(attempts=1), sleep=lambda s: None)


def cond(cid: str, *codings: tuple[str, str], patient: str = "p1", **extra) -> dict:
    res = {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{patient}"},
           "clinicalStatus": {"coding": [{"system": systems.CONDITION_CLINICAL, "code": "active"}]},
           "category": [{"coding": [{"system": systems.CONDITION_CATEGORY, "code": "problem-list-item"}]}],
           "code": {"coding": [{"system": s, "code": c} for s, c in codings]}}
    res.update(extra)
    return res


def page(*resources: dict, next_url: str | None = None, outcome: dict | None = None, include=()) -> dict:
    entry = [{"fullUrl": f"{BASE}/Condition/{r['id']}", "resource": r, "search": {"mode": "match"}}
             for r in resources]
    entry += [{"resource": r, "search": {"mode": "include"}} for r in include]
    if outcome:
        entry.append({"resource": outcome, "search": {"mode": "outcome"}})
    doc = {"resourceType": "Bundle", "type": "searchset", "entry": entry,
           "link": [{"relation": "self", "url": f"{BASE}/Condition"}]}
    if next_url:
        doc["link"].append({"relation": "next", "url": next_url})
    return doc


def fhir(doc: dict, status: int = 200) -> dict:
    return {"json": doc, "status": status, "content_type": "application/fhir+json"}


def q(**params) -> list:
    return [matchers.query_param_matcher({k: str(v) for k, v in params.items()})]


ICD = systems.ICD10CM
SCT = systems.SNOMED


# ------------------------------------------------------------------------------- paging

@responses.activate
def test_relative_and_absolute_next_links_are_followed_each_page_once():
    responses.get(f"{BASE}/Condition", match=q(patient="p1", _count=2),
                  **fhir(page(cond("a", (ICD, "G71.01")), cond("b", (ICD, "Z99.3")),
                              next_url="Condition?patient=p1&_count=2&_offset=2")))
    responses.get(f"{BASE}/Condition", match=q(patient="p1", _count=2, _offset=2),
                  **fhir(page(cond("c", (ICD, "R26.89")), cond("d", (ICD, "M62.81")),
                              next_url=f"{BASE}/Condition?patient=p1&_count=2&_offset=4")))
    responses.get(f"{BASE}/Condition", match=q(patient="p1", _count=2, _offset=4),
                  **fhir(page(cond("e", (ICD, "G80.9")))))
    got = list(iter_conditions(client(), patient="p1", page_size=2))
    assert [c.id for c in got] == ["a", "b", "c", "d", "e"]
    assert len(responses.calls) == 3


@responses.activate
def test_a_next_link_to_another_host_is_refused(capsys):
    responses.get(f"{BASE}/Condition", **fhir(page(cond("a", (ICD, "G71.01")),
                                                   next_url="https://evil.example/fhir/Condition?page=2")))
    it = iter_conditions(client(), patient="p1")
    assert next(it).id == "a"
    with pytest.raises(TransportError, match="refused: https://evil.example/fhir/Condition is outside "
                                             "the server https://ehr.example/fhir"):
        next(it)
    assert len(responses.calls) == 1

    code = main(["pull-conditions", "--server", BASE, "--patient", "p1", "-o", "-"])
    _, err = capsys.readouterr()
    assert code == 3
    assert "outside the server https://ehr.example/fhir" in err and "Traceback" not in err
    assert all("evil" not in c.request.url for c in responses.calls)


@responses.activate
def test_search_outcome_entries_become_warnings_and_includes_are_skipped():
    oo = {"resourceType": "OperationOutcome",
          "issue": [{"severity": "warning", "code": "processing", "diagnostics": "parameter _foo ignored"}]}
    patient = {"resourceType": "Patient", "id": "p1"}
    responses.get(f"{BASE}/Condition", **fhir(page(cond("a", (ICD, "G71.01")), outcome=oo, include=[patient])))
    issues = []
    got = list(iter_conditions(client(), patient="p1", on_issue=issues.append))
    assert [c.id for c in got] == ["a"]
    assert [(i.message_id, i.severity.value, i.message) for i in issues] == [
        ("PULL_SERVER_OUTCOME", "warning", "the server says: parameter _foo ignored")]


@responses.activate
def test_duplicates_across_pages_are_removed_by_id_and_by_content():
    same_as_b = cond("b-copy", (ICD, "Z99.3"))
    same_as_b["meta"] = {"versionId": "7"}
    responses.get(f"{BASE}/Condition", match=q(patient="p1", _count=2),
                  **fhir(page(cond("a", (ICD, "G71.01")), cond("b", (ICD, "Z99.3")),
                              next_url=f"{BASE}/Condition?patient=p1&_count=2&_offset=2")))
    # a write between the two pages shifted the offset: b comes again, and a copy of it under another id
    responses.get(f"{BASE}/Condition", match=q(patient="p1", _count=2, _offset=2),
                  **fhir(page(cond("b", (ICD, "Z99.3")), same_as_b, cond("c", (ICD, "R26.89")))))
    issues = []
    got = list(iter_conditions(client(), patient="p1", page_size=2, on_issue=issues.append))
    assert [c.id for c in got] == ["a", "b", "c"]
    assert [i.message for i in issues] == ["2 Condition(s) returned twice (same id or same content) were skipped"]


@responses.activate
def test_conditions_the_server_should_not_have_returned_are_skipped():
    """A server that ignores clinical-status, or answers for another patient, is caught."""
    resolved = cond("r", (ICD, "S72.001A"))
    resolved["clinicalStatus"]["coding"][0]["code"] = "resolved"
    responses.get(f"{BASE}/Condition", match=q(patient="p1", _count=100, **{"clinical-status": "active"}),
                  **fhir(page(cond("a", (ICD, "G71.01")), resolved, cond("x", (ICD, "Z99.3"), patient="p2"))))
    issues = []
    got = list(iter_conditions(client(), patient="p1", clinical_status=["active"], on_issue=issues.append))
    assert [c.id for c in got] == ["a"]
    assert [i.message for i in issues] == [
        "the server returned 1 Condition(s) of another subject; skipped",
        "the server returned 1 Condition(s) outside the category/clinical-status asked for "
        "(is the parameter supported?); skipped"]


@responses.activate
def test_category_and_status_values_are_or_ed_in_one_parameter():
    responses.get(f"{BASE}/Condition", match=q(patient="p1", category="problem-list-item,encounter-diagnosis",
                                               _count=100, **{"clinical-status": "active,recurrence"}),
                  **fhir(page(cond("a", (ICD, "G71.01")))))
    got = list(iter_conditions(client(), patient="p1", category=["problem-list-item", "encounter-diagnosis"],
                               clinical_status=["active", "recurrence"]))
    assert [c.id for c in got] == ["a"]


# ----------------------------------------------------------------------------- errors

@responses.activate
def test_an_html_error_page_gives_a_clear_message(capsys):
    responses.get(f"{BASE}/Condition", body="<html><body>Bad gateway</body></html>", status=500,
                  content_type="text/html")
    with pytest.raises(ServerError, match=r"GET https://ehr.example/fhir/Condition failed: 500 Internal Server "
                                          r"Error; the server answered an HTML page, not a FHIR OperationOutcome"):
        list(iter_conditions(client(), patient="p1"))
    code = main(["pull-conditions", "--server", BASE, "--patient", "p1"])
    out, err = capsys.readouterr()
    assert code == 3 and out == "" and "an HTML page, not a FHIR OperationOutcome" in err and "Traceback" not in err


@responses.activate
def test_an_html_page_with_status_200_is_not_taken_for_fhir(capsys):
    responses.get(f"{BASE}/Condition", body="<html>Please log in</html>", status=200, content_type="text/html")
    code = main(["pull-conditions", "--server", BASE, "--patient", "p1"])
    _, err = capsys.readouterr()
    assert code == 3
    assert ("fhir-at: pulling Conditions from https://ehr.example/fhir: GET Condition: the server answered 200 "
            "with text/html, not FHIR JSON") in err


@responses.activate
def test_a_resource_that_is_not_a_searchset_is_refused():
    responses.get(f"{BASE}/Condition", **fhir({"resourceType": "Condition", "id": "a"}))
    with pytest.raises(TransportError, match="the server answered Condition, not a searchset Bundle"):
        list(iter_conditions(client(), patient="p1"))


def test_bad_arguments():
    with pytest.raises(InputError, match="exactly one of a Patient id and a patient identifier"):
        next(iter_conditions(client()))
    with pytest.raises(InputError, match="page size 0 is not between 1 and 1000"):
        next(iter_conditions(client(), patient="p1", page_size=0))
    with pytest.raises(InputError, match="a Patient id is 1-64 letters"):
        next(iter_conditions(client(), patient="p1&subject=x"))
    with pytest.raises(InputError, match=r"SYSTEM\|VALUE"):
        resolve_patient(client(), "MRN123")


# --------------------------------------------------------------------- the patient by identifier

MRN = "urn:oid:2.16.840.1.113883.19.5"


def patient(pid: str, value: str = "123") -> dict:
    return {"resourceType": "Patient", "id": pid, "identifier": [{"system": MRN, "value": value}]}


def patients(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}


@responses.activate
def test_identifier_resolves_to_one_patient_then_its_conditions():
    responses.get(f"{BASE}/Patient", match=q(identifier=f"{MRN}|123", _count=50), **fhir(patients(patient("p7"))))
    responses.get(f"{BASE}/Condition", match=q(patient="p7", _count=100),
                  **fhir(page(cond("a", (ICD, "G71.01"), patient="p7"))))
    assert [c.id for c in iter_conditions(client(), identifier=f"{MRN}|123")] == ["a"]


@responses.activate
def test_identifier_matching_no_patient_or_several(capsys):
    responses.get(f"{BASE}/Patient", **fhir(patients()))
    with pytest.raises(PatientNotFound, match=f"no Patient on {BASE} has an identifier of system {MRN} "
                                              "with the value given"):
        resolve_patient(client(), f"{MRN}|123")
    code = main(["pull-conditions", "--server", BASE, "--identifier", f"{MRN}|123"])
    _, err = capsys.readouterr()
    assert code == 1 and "no Patient on" in err and "123" not in err.replace(MRN, "")  # the value is not echoed

    responses.replace(responses.GET, f"{BASE}/Patient", **fhir(patients(patient("p1"), patient("p2"))))
    with pytest.raises(AmbiguousPatient, match=f"2 Patients on {BASE} have the identifier given"):
        resolve_patient(client(), f"{MRN}|123")


@responses.activate
def test_patients_without_the_identifier_are_not_taken():
    """A server that ignores ``identifier`` answers with every patient: none may be picked."""
    responses.get(f"{BASE}/Patient", **fhir(patients(patient("p1", "999"))))
    issues = []
    with pytest.raises(PatientNotFound):
        resolve_patient(client(), f"{MRN}|123", issues.append)
    assert [i.message_id for i in issues] == ["PULL_FILTER_IGNORED"]


# --------------------------------------------------------------------- codes and diagnoses

def pulled(*codings, **extra) -> PulledCondition:
    return PulledCondition.from_resource(cond("c1", *codings, **extra))


def test_multi_coded_condition_carries_the_icd10cm_code_and_keeps_the_originals():
    c = pulled((SCT, "76670001"), (VENDOR, "12345"), (ICD, "G71.01"), onsetDateTime="2019-03-01T10:00:00Z",
               recordedDate="2024-05-02")
    assert c.chosen.code == "G71.01" and c.kind == "billable" and not c.snomed_only
    assert c.snomed == ("76670001",) and [x["system"] for x in c.codings] == [SCT, VENDOR, ICD]
    assert c.display == "Duchenne or Becker muscular dystrophy"
    assert (c.onset, c.recorded) == ("2019-03-01T10:00:00Z", "2024-05-02")
    assert c.to_diagnosis() == ({"code": "G71.01", "role": "secondary", "onset": "2019-03-01"}, ())
    assert c.to_dict()["codings"] == list(c.codings)


def test_snomed_only_is_flagged_and_not_carried():
    c = pulled((SCT, "76670001"))
    assert c.snomed_only and c.kind == "snomed-only" and c.chosen is None
    dx, issues = c.to_diagnosis()
    assert dx is None
    assert [(i.message_id, i.severity.value, i.message) for i in issues] == [
        ("PULL_NO_ICD10CM", "warning",
         "Condition/c1: SNOMED CT 76670001 only, no ICD-10-CM coding; code it before billing")]


def test_no_usable_coding():
    c = PulledCondition.from_resource(cond("c1", (VENDOR, "12345"), code={"text": "weak legs"}))
    assert c.no_usable_coding and c.kind == "no-coding"
    assert c.to_diagnosis()[1][0].message == ("Condition/c1: no ICD-10-CM or SNOMED CT coding (text 'weak legs'); "
                                              "code it before billing")


def test_header_code_is_flagged_with_its_billable_children():
    c = pulled((ICD, "G71.0"))
    assert c.kind == "header" and "G71.01" in c.chosen.children and c.flags == ("header",)
    dx, issues = c.to_diagnosis()
    assert dx is None
    assert issues[0].message_id == "ICD_HEADER"
    assert issues[0].message == ("Condition/c1: G71.0 is a header code, not billable; use one of "
                                 "G71.00, G71.01, G71.02, G71.09, G71.031, G71.032, …")
    assert c.to_dict()["billableChildren"][:2] == ["G71.00", "G71.01"]


def test_unknown_code_and_a_billable_one_beside_a_header():
    c = pulled((ICD, "Q99.99"))
    assert c.kind == "unknown"
    assert "Q99.99 is not an ICD-10-CM code" in c.to_diagnosis()[1][0].message
    both = pulled((ICD, "G71.0"), (ICD, "G71.01"))
    assert both.chosen.code == "G71.01" and both.to_diagnosis()[0]["code"] == "G71.01"


def test_codes_without_their_dot_and_oid_systems_are_understood():
    assert normalize_icd10cm(" g7101 ") == "G71.01" and normalize_icd10cm("Z99") == "Z99"
    c = pulled((systems.ICD10CM_OID, "G7101"))
    assert c.chosen.code == "G71.01" and c.codings[0]["code"] == "G7101"


def test_two_billable_codes_carry_the_first_and_say_so():
    dx, issues = pulled((ICD, "G71.01"), (ICD, "Z99.3")).to_diagnosis()
    assert dx["code"] == "G71.01"
    assert [(i.severity.value, i.message) for i in issues] == [
        ("information", "Condition/c1: also coded as Z99.3; G71.01 carried")]


@pytest.mark.parametrize("status, carried", [("confirmed", True), ("provisional", False),
                                             ("differential", False), ("refuted", False),
                                             ("entered-in-error", False)])
def test_uncertain_refuted_or_erroneous_diagnoses_are_not_carried(status, carried):
    c = pulled((ICD, "G71.01"), verificationStatus={"coding": [{"system": systems.CONDITION_VER_STATUS,
                                                                "code": status}]})
    dx, issues = c.to_diagnosis()
    assert (dx is not None) == carried
    assert carried or issues[0].message_id == "PULL_NOT_CONFIRMED"


def test_a_partial_onset_is_not_carried():
    dx, issues = pulled((ICD, "G71.01"), onsetDateTime="2019").to_diagnosis()
    assert dx == {"code": "G71.01", "role": "secondary"}
    assert issues[0].message == "Condition/c1: onset '2019' is not a full date; not carried"


# -------------------------------------------------------------------------------------- CLI

def mixed_page() -> dict:
    return page(cond("a", (ICD, "G71.01"), onsetDateTime="2015-06-01"), cond("b", (ICD, "G71.0")),
                cond("c", (SCT, "76670001")), cond("d", (SCT, "1"), (ICD, "G71.01"), onsetDateTime="2012-01-02"),
                cond("e", (ICD, "Z99.3")))


@responses.activate
def test_cli_assessment_format(capsys, tmp_path):
    responses.get(f"{BASE}/Condition", **fhir(mixed_page()))
    out = tmp_path / "dx.json"
    code, stdout, err = run(capsys, "pull-conditions", "--server", BASE, "--patient", "p1",
                            "--format", "assessment", "-o", str(out))
    assert code == 0 and stdout == ""
    assert json.loads(out.read_text()) == {"diagnoses": [
        {"code": "G71.01", "role": "secondary", "onset": "2012-01-02"},
        {"code": "Z99.3", "role": "secondary"}]}
    assert "Condition/b: G71.0 is a header code" in err and "Condition/c: SNOMED CT 76670001 only" in err
    assert f"wrote {out}: 2 diagnoses from 5 Condition(s) on {BASE}" in err
    assert "the clinician chooses the primary one" in err
    assert list(tmp_path.iterdir()) == [out]


@responses.activate
def test_cli_table_and_json(capsys):
    responses.get(f"{BASE}/Condition", **fhir(mixed_page()))
    code, stdout, err = run(capsys, "pull-conditions", "--server", BASE, "--patient", "p1")
    lines = stdout.splitlines()
    assert code == 0 and lines[0].split() == ["ICD-10-CM", "DISPLAY", "STATUS", "ONSET", "FLAGS", "ID"]
    assert lines[1].split()[0] == "G71.01" and lines[1].split()[-4:] == ["active", "2015-06-01", "-", "a"]
    assert lines[2].split()[-2:] == ["header", "b"] and lines[3].startswith("SCT 76670001")
    assert f"5 Condition(s) from {BASE}, 3 with a billable ICD-10-CM code" in err

    code, stdout, _ = run(capsys, "pull-conditions", "--server", BASE, "--patient", "p1", "--format", "json")
    items = json.loads(stdout)
    assert code == 0 and [i["kind"] for i in items] == ["billable", "header", "snomed-only", "billable", "billable"]
    assert items[1]["issues"][0]["id"] == "ICD_HEADER" and len(items[3]["codings"]) == 2


@responses.activate
def test_cli_nothing_usable_exits_1_and_writes_nothing(capsys, tmp_path):
    responses.get(f"{BASE}/Condition", **fhir(page(cond("c", (SCT, "76670001")))))
    out = tmp_path / "dx.json"
    code, _, err = run(capsys, "pull-conditions", "--server", BASE, "--patient", "p1", "--format", "assessment",
                       "-o", str(out))
    assert code == 1 and list(tmp_path.iterdir()) == []
    assert "none of the 1 Condition(s) has a billable ICD-10-CM code for this patient on" in err
    responses.replace(responses.GET, f"{BASE}/Condition", **fhir(page()))
    code, stdout, err = run(capsys, "pull-conditions", "--server", BASE, "--patient", "p1", "--format", "json")
    assert code == 1 and stdout == "" and "no Condition for this patient on" in err


@responses.activate
def test_cli_sends_the_bearer_token_from_the_environment(capsys, monkeypatch, tmp_path):
    responses.get(f"{BASE}/Condition", match=[matchers.header_matcher({"Authorization": "Bearer s3cret"})],
                  **fhir(mixed_page()))
    monkeypatch.setenv("FHIR_AT_TOKEN", "s3cret")
    code, _, err = run(capsys, "pull-conditions", "--server", BASE, "--patient", "p1")
    assert code == 0 and "s3cret" not in err
    monkeypatch.delenv("FHIR_AT_TOKEN")
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    code, _, _ = run(capsys, "pull-conditions", "--server", BASE, "--patient", "p1", "--token-file", str(token))
    assert code == 0


@responses.activate
def test_cli_401_names_the_server(capsys):
    responses.get(f"{BASE}/Condition", **fhir({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "login", "diagnostics": "token expired"}]}, status=401))
    code, _, err = run(capsys, "pull-conditions", "--server", BASE, "--patient", "p1")
    assert code == 3 and "GET https://ehr.example/fhir/Condition failed: 401 Unauthorized: token expired" in err


@pytest.mark.parametrize("argv, text", [
    ([], "give exactly one of --patient ID and --identifier SYSTEM|VALUE"),
    (["--patient", "p1", "--identifier", "a|b"], "give exactly one of"),
    (["--identifier", "MRN123"], "write it SYSTEM|VALUE"),
    (["--patient", "a/b"], "a Patient id is 1-64 letters"),
    (["--patient", "p1", "--page-size", "0"], "0 is not in the range"),
])
def test_cli_usage_errors_exit_2(capsys, argv, text):
    code, _, err = run(capsys, "pull-conditions", "--server", BASE, *argv)
    assert code == 2 and text in err


# ----------------------------------------------------------------------- the real server

@pytest.fixture
def http():
    s = requests.Session()
    s.trust_env = False  # loopback: never through a proxy from the environment
    yield s
    s.close()


HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _seeded(http, url: str) -> tuple[str, str, dict[str, str]]:
    """A Patient with a unique MRN and 25 Conditions (billable, header, SNOMED-only, multi-coded)."""
    tag = uuid.uuid4().hex[:12]
    mrn = f"MRN-{tag}"
    kinds = ([("billable", [(ICD, code)]) for code in ("G71.01", "Z99.3", "R26.89", "M62.81", "G80.9",
                                                         "R26.2", "M62.50", "G12.21", "G80.1", "Z74.09",
                                                         "R53.1", "M21.371", "R29.898")]
             + [("header", [(ICD, "G71.0")])] * 4
             + [("snomed-only", [(SCT, "76670001")])] * 4
             + [("billable", [(SCT, "76670001"), (VENDOR, "12345"), (ICD, "G71.01")])] * 4)
    assert len(kinds) == 25
    entries = [{"fullUrl": "urn:uuid:" + (pid := str(uuid.uuid4())),
                "resource": {"resourceType": "Patient", "identifier": [{"system": MRN, "value": mrn}],
                             "name": [{"family": "Pull", "given": [tag]}], "gender": "male"},
                "request": {"method": "POST", "url": "Patient"}}]
    for n, (_, codings) in enumerate(kinds):
        res = cond(str(n), *codings, patient="x", identifier=[{"system": "urn:ietf:rfc:3986",
                                                                "value": f"urn:uuid:{uuid.uuid4()}"}],
                   onsetDateTime=f"20{10 + n % 10}-0{1 + n % 9}-15")
        del res["id"]
        res["subject"] = {"reference": f"urn:uuid:{pid}"}
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": res,
                        "request": {"method": "POST", "url": "Condition"}})
    r = http.post(url, data=json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
                  headers=HEADERS, timeout=30)
    assert r.status_code == 200, r.text[:2000]
    locations = [e["response"]["location"] for e in r.json()["entry"]]
    patient_id = locations[0].split("Patient/")[1].split("/")[0]
    ids = {loc.split("Condition/")[1].split("/")[0]: kinds[n][0] for n, loc in enumerate(locations[1:])}
    return patient_id, mrn, ids


@pytest.fixture(scope="module")
def seeded(fhir_server_url):
    with requests.Session() as s:
        s.trust_env = False
        return _seeded(s, fhir_server_url)


def server_client(url: str) -> FhirClient:
    s = requests.Session()
    s.trust_env = False
    return FhirClient(url, session=s)


@pytest.mark.integration
def test_real_server_pages_of_two_give_every_condition_once(fhir_server_url, seeded):
    patient_id, _, ids = seeded
    issues = []
    got = list(iter_conditions(server_client(fhir_server_url), patient=patient_id, page_size=2,
                               on_issue=issues.append))
    assert sorted(c.id for c in got) == sorted(ids) and len(got) == 25
    assert {c.id: c.kind for c in got} == ids
    assert issues == []
    multi = [c for c in got if len(c.codings) == 3]
    assert len(multi) == 4 and all(c.chosen.code == "G71.01" and c.snomed == ("76670001",) for c in multi)


@pytest.mark.integration
def test_real_server_by_identifier(fhir_server_url, seeded):
    patient_id, mrn, ids = seeded
    client_ = server_client(fhir_server_url)
    assert resolve_patient(client_, f"{MRN}|{mrn}") == patient_id
    got = list(iter_conditions(client_, identifier=f"{MRN}|{mrn}", page_size=2,
                               clinical_status=["active"], category=["problem-list-item"]))
    assert sorted(c.id for c in got) == sorted(ids)
    with pytest.raises(PatientNotFound):
        resolve_patient(client_, f"{MRN}|no-such-{mrn}")


@pytest.mark.integration
def test_real_server_cli_assessment(fhir_server_url, seeded, capsys, tmp_path):
    _, mrn, _ = seeded
    out = tmp_path / "dx.json"
    code, _, err = run(capsys, "pull-conditions", "--server", fhir_server_url, "--identifier", f"{MRN}|{mrn}",
                       "--format", "assessment", "--page-size", "2", "-o", str(out))
    assert code == 0, err
    doc = json.loads(out.read_text())
    codes = [d["code"] for d in doc["diagnoses"]]
    assert sorted(codes) == sorted({"G71.01", "Z99.3", "R26.89", "M62.81", "G80.9", "R26.2", "M62.50",
                                    "G12.21", "G80.1", "Z74.09", "R53.1", "M21.371", "R29.898"})
    assert {d["role"] for d in doc["diagnoses"]} == {"secondary"}
    assert all(len(d["onset"]) == 10 for d in doc["diagnoses"])
    assert err.count("is a header code") == 4 and err.count("code it before billing") == 4
    assert "13 diagnoses from 25 Condition(s)" in err

    code, _, err = run(capsys, "pull-conditions", "--server", fhir_server_url, "--identifier",
                       f"{MRN}|nobody-{mrn}")
    assert code == 1 and "no Patient on" in err
