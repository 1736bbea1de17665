"""``$push`` and ``$conditions`` against the real FHIR server (SEKMET), through the service."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fhir_at.service.app import create_app
from tests.service.conftest import ALL_KEY, post, settings_of
from tests.test_server_roundtrip import unique

pytestmark = pytest.mark.integration


@pytest.fixture
def service(tmp_path, jwks_file, fhir_server_url):
    # SEKMET cannot search DeviceRequest by identifier but accepts PUT with a new id: update_create
    servers = {"sekmet": {"url": fhir_server_url, "update_create": True, "attempts": 2}}
    settings = settings_of(tmp_path, jwks_file, targets=servers, ehrs=servers)
    with TestClient(create_app(settings), headers={"X-API-Key": ALL_KEY}) as c:
        yield c


def entries(parameters: dict) -> list[dict]:
    return [{p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in e["part"]}
            for e in parameters["parameter"] if e["name"] == "entry"]


def test_push_twice_then_pull_the_patients_conditions(service):
    a = unique("duchenne-mobility.json")
    r = post(service, "/Assessment/$push?target=sekmet&pdf=false", a)
    assert r.status_code == 200, r.text
    first = entries(r.json())
    assert r.json()["parameter"][0] == {"name": "mode", "valueCode": "transaction"}
    assert {e["outcome"] for e in first} <= {"created", "existed", "updated"}
    again = entries(post(service, "/Assessment/$push?target=sekmet&pdf=false", a).json())
    assert {e["outcome"] for e in again} <= {"existed", "updated"}
    assert [e.get("id") for e in again] == [e.get("id") for e in first]

    patient = next(e["id"] for e in first if e["resourceType"] == "Patient")
    r = service.get(f"/Patient/{patient}/$conditions?ehr=sekmet")
    assert r.status_code == 200, r.text
    pulled = {c["icd10cm"] for c in r.json()["conditions"]}
    assert {d["code"] for d in a["diagnoses"]} <= pulled


def test_push_queued_then_listed(service):
    a = unique("stroke-afo-walker.json")
    r = post(service, "/Assessment/$push?target=sekmet&queue=true&pdf=false", a)
    assert r.status_code == 202, r.text
    item = r.json()["parameter"][0]["valueString"]
    listed = service.get("/outbox?target=sekmet&state=pending").json()["items"]
    assert item in [i["id"] for i in listed]


def test_conditions_of_a_patient_without_any(service):
    r = service.get("/Patient/no-such-patient-0/$conditions?ehr=sekmet")
    assert r.status_code == 200
    assert r.json()["conditions"] == []
