"""Downstream servers: unconfigured names refused, 5xx → 502, timeouts → 504, conditions streamed."""

from __future__ import annotations

import socket

import pytest
import requests
import responses
from fastapi.testclient import TestClient

from fhir_at.service.app import create_app
from tests.service.conftest import ALL_KEY, message_ids, post, settings_of

EHR = "http://ehr.test/fhir"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed once the socket is


@pytest.fixture
def app_client(tmp_path, jwks_file):
    def make(**servers):
        settings = settings_of(tmp_path, jwks_file, **servers)
        return TestClient(create_app(settings), headers={"X-API-Key": ALL_KEY})

    return make


def test_push_to_an_unconfigured_target_is_refused(app_client, seed):
    with app_client(targets={"sekmet": {"url": EHR}}) as c:
        r = post(c, "/Assessment/$push?target=elsewhere", seed)
        assert r.status_code == 404
        assert message_ids(r) == ["SVC_UNKNOWN_TARGET"]
        assert r.json()["issue"][0]["details"]["text"] == \
            "no push target of that name is configured (configured: sekmet)"
        # a URL is not a name: refused before anything is contacted
        r = post(c, "/Assessment/$push?target=http://evil.test/fhir", seed)
        assert r.status_code == 400
        assert post(c, "/Assessment/$push", seed).status_code == 400  # target is required


def test_push_to_a_closed_port_is_502(app_client, seed):
    url = f"http://127.0.0.1:{closed_port()}/fhir"
    with app_client(targets={"down": {"url": url, "attempts": 1}}) as c:
        r = post(c, "/Assessment/$push?target=down&pdf=false", seed)
        assert r.status_code == 502
        assert message_ids(r) == ["SVC_DOWNSTREAM_ERROR"]
        assert "connection refused" in r.json()["issue"][0]["details"]["text"]


@responses.activate
def test_a_downstream_5xx_is_502_and_a_timeout_504(app_client, seed):
    responses.add(responses.GET, f"{EHR}/metadata", status=500, json={"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "exception", "details": {"text": "database down"}}]})
    responses.add(responses.GET, "http://slow.test/fhir/metadata", body=requests.exceptions.ReadTimeout())
    with app_client(targets={"broken": {"url": EHR, "attempts": 1},
                             "slow": {"url": "http://slow.test/fhir", "attempts": 1}}) as c:
        r = post(c, "/Assessment/$push?target=broken&pdf=false", seed)
        assert r.status_code == 502
        texts = [i["details"]["text"] for i in r.json()["issue"]]
        assert "database down" in texts  # the downstream server's own issue is passed on
        r = post(c, "/Assessment/$push?target=slow&pdf=false", seed)
        assert r.status_code == 504
        assert message_ids(r) == ["SVC_DOWNSTREAM_TIMEOUT"]
        assert "timed out" in r.json()["issue"][0]["details"]["text"]


def condition(cid: str, code: str) -> dict:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}}


def searchset(*resources, next_url: str | None = None) -> dict:
    b = {"resourceType": "Bundle", "type": "searchset",
         "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}
    if next_url:
        b["link"] = [{"relation": "next", "url": next_url}]
    return b


@responses.activate
def test_conditions_are_streamed_from_the_configured_ehr(app_client):
    responses.add(responses.GET, f"{EHR}/Condition", json=searchset(condition("c1", "G71.01"),
                                                                     next_url=f"{EHR}/Condition?page=2"),
                  match=[responses.matchers.query_param_matcher({"patient": "p1", "_count": "100"})])
    responses.add(responses.GET, f"{EHR}/Condition", json=searchset(condition("c2", "G71")),
                  match=[responses.matchers.query_param_matcher({"page": "2"})])
    with app_client(ehrs={"main": {"url": EHR, "attempts": 1}}) as c:
        r = c.get("/Patient/p1/$conditions?ehr=main")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        doc = r.json()
        assert [x["id"] for x in doc["conditions"]] == ["c1", "c2"]
        assert [x["kind"] for x in doc["conditions"]] == ["billable", "header"]
        assert doc["outcome"]["resourceType"] == "OperationOutcome"


@responses.activate
def test_conditions_errors(app_client):
    responses.add(responses.GET, f"{EHR}/Condition", status=503)
    responses.add(responses.GET, "http://slow.test/fhir/Condition", body=requests.exceptions.ConnectTimeout())
    with app_client(ehrs={"main": {"url": EHR, "attempts": 1},
                          "slow": {"url": "http://slow.test/fhir", "attempts": 1}}) as c:
        r = c.get("/Patient/p1/$conditions?ehr=other")
        assert r.status_code == 404 and message_ids(r) == ["SVC_UNKNOWN_TARGET"]
        assert r.json()["issue"][0]["details"]["text"] == "no EHR of that name is configured (configured: main, slow)"
        assert c.get("/Patient/p1/$conditions?ehr=main").status_code == 502
        assert c.get("/Patient/p1/$conditions?ehr=slow").status_code == 504
        assert c.get("/Patient/bad%20id/$conditions?ehr=main").status_code == 400


@responses.activate
def test_a_failure_after_the_first_condition_ends_the_stream_with_the_error(app_client):
    responses.add(responses.GET, f"{EHR}/Condition", json=searchset(condition("c1", "G71.01"),
                                                                     next_url=f"{EHR}/Condition?page=2"),
                  match=[responses.matchers.query_param_matcher({"patient": "p1", "_count": "100"})])
    responses.add(responses.GET, f"{EHR}/Condition", status=500,
                  match=[responses.matchers.query_param_matcher({"page": "2"})])
    with app_client(ehrs={"main": {"url": EHR, "attempts": 1}}) as c:
        r = c.get("/Patient/p1/$conditions?ehr=main")
        assert r.status_code == 200
        doc = r.json()  # still well-formed JSON
        assert [x["id"] for x in doc["conditions"]] == ["c1"]
        assert doc["outcome"]["issue"][0]["severity"] == "error"
