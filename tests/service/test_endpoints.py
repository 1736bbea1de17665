"""Every endpoint of the service, in process (TestClient)."""

from __future__ import annotations

import json

from fhir_at import api
from tests.service.conftest import message_ids, post


def test_convert_answers_the_transaction_bundle(client, seed):
    r = post(client, "/Assessment/$convert?pdf=false", seed)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/fhir+json"
    bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    assert bundle == api.convert(seed, pdf=False)[0]


def test_convert_with_outcome_answers_parameters(client, seed):
    r = post(client, "/Assessment/$convert?pdf=false&outcome=true", seed)
    assert r.status_code == 200
    names = [p["name"] for p in r.json()["parameter"]]
    assert names == ["return", "outcome"]
    assert r.json()["parameter"][1]["resource"]["resourceType"] == "OperationOutcome"


def test_convert_of_an_assessment_with_errors_is_422_with_its_issues(client, seed):
    del seed["patient"]
    r = post(client, "/Assessment/$convert?pdf=false", seed)
    assert r.status_code == 422
    assert "SCHEMA_REQUIRED" in message_ids(r)


def test_extract_answers_the_assessment(client, seed):
    bundle = api.convert(seed, pdf=False)[0]
    r = post(client, "/Bundle/$extract", bundle)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["identifier"] == seed["identifier"]
    r = post(client, "/Bundle/$extract?outcome=true", bundle)
    assert set(r.json()) == {"assessment", "outcome"}


def test_extract_of_a_bundle_without_an_assessment_is_422(client):
    r = post(client, "/Bundle/$extract", {"resourceType": "Bundle", "type": "collection", "entry": []})
    assert r.status_code == 422
    assert r.json()["resourceType"] == "OperationOutcome"


def test_validate_answers_an_operation_outcome(client, seed):
    bundle = api.convert(seed, pdf=False)[0]
    for url in ("/$validate", "/Bundle/$validate"):
        r = post(client, url, bundle)
        assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json"
        assert r.json()["resourceType"] == "OperationOutcome"


def test_validate_answers_200_even_when_the_resource_has_errors(client):
    r = post(client, "/$validate", [1, 2])
    assert r.status_code == 200
    assert "VAL_NOT_A_RESOURCE" in message_ids(r)


def test_validate_with_an_unknown_profile_is_an_error_issue(client):
    r = post(client, "/Patient/$validate?profile=http%3A%2F%2Fexample.org%2Fp", {"resourceType": "Patient"})
    assert r.status_code == 200
    [unknown] = [i for i in r.json()["issue"] if i["severity"] == "error"]
    assert unknown["details"]["text"].startswith("profile http://example.org/p is not loaded")


def test_validate_with_a_core_profile(client):
    """A profile of the core package: vitalsigns requires a category and a subject."""
    profile = "http%3A%2F%2Fhl7.org%2Ffhir%2FStructureDefinition%2Fvitalsigns"
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueString": "y"}
    r = post(client, f"/Observation/$validate?profile={profile}", obs)
    assert r.status_code == 200
    ids = message_ids(r)
    assert "VAL_PROFILE_MIN" in ids or "VAL_PROFILE_SLICE_MIN" in ids


def test_validate_takes_fhir_parameters_input(client):
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient"}},
        {"name": "profile", "valueUri": "http://example.org/p"}]}
    r = post(client, "/Patient/$validate", params)
    assert r.status_code == 200
    assert "VAL_PROFILE_UNKNOWN" in message_ids(r)


def test_validate_of_an_unknown_type_is_404(client):
    r = post(client, "/Assessment/$validate", {"resourceType": "Assessment"})
    assert r.status_code == 404
    assert message_ids(r) == ["SVC_UNKNOWN_TYPE"]
    assert r.json()["issue"][0]["details"]["text"] == "not a FHIR R4 resource type"


def test_validate_of_a_badly_named_type_is_400(client):
    r = post(client, "/patient%20x/$validate", {"resourceType": "Patient"})
    assert r.status_code == 400
    assert message_ids(r) == ["SVC_BAD_REQUEST"]


def test_validate_of_another_type_than_the_path_says_is_400(client):
    r = post(client, "/Patient/$validate", {"resourceType": "Observation"})
    assert r.status_code == 400
    assert r.json()["issue"][0]["details"]["text"] == "the body is not a Patient resource"


def test_metadata_is_a_capability_statement_of_the_operations(anonymous):
    r = anonymous.get("/metadata")
    assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json"
    cs = r.json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    rest = cs["rest"][0]
    assert {o["name"] for o in rest["operation"]} == {"validate", "convert", "push"}
    assert {r["type"] for r in rest["resource"]} == {"Bundle", "Patient"}
    assert rest["security"]["cors"] is False
    assert "OAuth" in json.dumps(rest["security"])


def test_metadata_validates(client, anonymous):
    cs = anonymous.get("/metadata").json()
    assert api.validate(cs).ok


def test_health_and_openapi_need_no_credentials(anonymous):
    assert anonymous.get("/health").json() == {"status": "ok"}
    schema = anonymous.get("/openapi.json").json()
    assert {"/Assessment/$convert", "/Bundle/$extract", "/$validate", "/{type}/$validate", "/Assessment/$push",
            "/Patient/{id}/$conditions", "/outbox", "/metadata", "/health"} <= set(schema["paths"])
    assert set(schema["components"]["securitySchemes"]) == {"apiKey", "bearerJwt"}
    assert anonymous.get("/docs").status_code == 200


def test_the_request_id_is_echoed_or_made(client):
    assert client.get("/health", headers={"X-Request-ID": "req-42"}).headers["x-request-id"] == "req-42"
    made = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert made != "bad id\twith spaces" and len(made) == 32


def test_push_with_queue_goes_to_the_outbox_and_the_listing_has_no_bundle(tmp_path, jwks_file, seed):
    from fastapi.testclient import TestClient

    from fhir_at.service.app import create_app
    from tests.service.conftest import ALL_KEY, settings_of

    settings = settings_of(tmp_path, jwks_file, targets={"ehr": {"url": "http://127.0.0.1:9/fhir"}})
    with TestClient(create_app(settings), headers={"X-API-Key": ALL_KEY}) as c:
        r = post(c, "/Assessment/$push?target=ehr&queue=true&pdf=false", seed)
        assert r.status_code == 202, r.text
        item = r.json()["parameter"][0]["valueString"]
        assert "SVC_QUEUED" in json.dumps(r.json())
        again = post(c, "/Assessment/$push?target=ehr&queue=true&pdf=false", seed)
        assert again.json()["parameter"][0]["valueString"] == item  # one pending item per business key
        listing = c.get("/outbox?state=pending&target=ehr")
        assert listing.status_code == 200 and listing.headers["content-type"] == "application/json"
        items = listing.json()["items"]
        assert [i["id"] for i in items] == [item]
        assert items[0]["server"] == "http://127.0.0.1:9/fhir" and "bundle" not in items[0]
        assert c.get("/outbox?state=delivered").json() == {"items": []}
        assert c.get("/outbox?state=lost").status_code == 400
        assert c.get("/outbox?target=nowhere").status_code == 404


def test_push_of_an_invalid_assessment_is_422_and_nothing_is_queued(tmp_path, jwks_file, seed):
    from fastapi.testclient import TestClient

    from fhir_at.service.app import create_app
    from tests.service.conftest import ALL_KEY, settings_of

    del seed["patient"]
    settings = settings_of(tmp_path, jwks_file, targets={"ehr": {"url": "http://127.0.0.1:9/fhir"}})
    with TestClient(create_app(settings), headers={"X-API-Key": ALL_KEY}) as c:
        r = post(c, "/Assessment/$push?target=ehr&queue=true", seed)
        assert r.status_code == 422
        assert c.get("/outbox").json() == {"items": []}
