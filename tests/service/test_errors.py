"""Every error is an OperationOutcome with its status: bad JSON, media type, size, depth, routing."""

from __future__ import annotations

from tests.service.conftest import message_ids, post


def test_malformed_json_is_400(client):
    r = post(client, "/$validate", b'{"resourceType": "Patient",')
    assert r.status_code == 400 and r.headers["content-type"] == "application/fhir+json"
    assert message_ids(r) == ["SVC_BAD_REQUEST"]
    assert r.json()["issue"][0]["details"]["text"].startswith("the body is not valid JSON: ")


def test_not_utf8_is_400(client):
    r = post(client, "/$validate", b'{"a": "\xff"}')
    assert r.status_code == 400


def test_an_empty_body_is_400(client):
    r = post(client, "/$validate", b"")
    assert r.status_code == 400
    assert r.json()["issue"][0]["details"]["text"] == "the request has no body"


def test_wrong_or_missing_content_type_is_415(client):
    for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/xml"}, {}):
        r = client.post("/$validate", content=b"{}", headers=headers)
        assert r.status_code == 415, headers
        assert message_ids(r) == ["SVC_MEDIA_TYPE"]
        assert r.json()["issue"][0]["details"]["text"] == \
            "send the body as application/fhir+json or application/json (Content-Type)"


def test_application_json_is_accepted_too(client):
    r = client.post("/$validate", content=b'{"resourceType": "Patient"}',
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/fhir+json"


def _small(tmp_path, jwks_file):
    from fastapi.testclient import TestClient

    from fhir_at.service.app import create_app
    from tests.service.conftest import ALL_KEY, settings_of

    settings = settings_of(tmp_path, jwks_file, limits={"max_body_bytes": 2048, "max_json_depth": 10})
    return TestClient(create_app(settings), headers={"X-API-Key": ALL_KEY})


def test_a_declared_oversize_body_is_413(tmp_path, jwks_file):
    with _small(tmp_path, jwks_file) as c:
        r = post(c, "/$validate", b'{"resourceType": "Patient", "x": "' + b"y" * 4000 + b'"}')
        assert r.status_code == 413
        assert message_ids(r) == ["SVC_TOO_LARGE"]
        assert r.json()["issue"][0]["details"]["text"] == "the body is larger than 2048 bytes"


def test_a_streamed_oversize_body_is_413(tmp_path, jwks_file):
    def chunks():  # no Content-Length: chunked transfer
        yield b'{"resourceType": "Patient", "x": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    with _small(tmp_path, jwks_file) as c:
        r = c.post("/$validate", content=chunks(), headers={"Content-Type": "application/fhir+json"})
        assert r.status_code == 413


def test_the_default_limit_is_10_mb(client):
    r = post(client, "/$validate", b"[" + b"0," * (5 * 1024 * 1024) + b"0]")
    assert r.status_code == 413
    assert r.json()["issue"][0]["details"]["text"] == "the body is larger than 10485760 bytes"


def test_deeply_nested_json_is_400(client, tmp_path, jwks_file):
    r = post(client, "/$validate", b"[" * 101 + b"]" * 101)
    assert r.status_code == 400
    assert message_ids(r) == ["SVC_JSON_DEPTH"]
    assert r.json()["issue"][0]["details"]["text"] == "the JSON is nested more than 100 levels deep"
    assert post(client, "/$validate", b"[" * 100 + b"]" * 100).status_code == 200
    assert post(client, "/$validate", b"[" * 5000 + b"]" * 5000).status_code == 400  # past orjson's own limit
    with _small(tmp_path, jwks_file) as c:
        assert post(c, "/$validate", b'{"a":' * 11 + b"1" + b"}" * 11).status_code == 400


def test_an_unknown_path_is_404_and_a_wrong_method_405(client):
    r = client.get("/Nothing/here")
    assert r.status_code == 404 and message_ids(r) == ["SVC_NOT_FOUND"]
    assert r.json()["issue"][0]["details"]["text"] == "no such endpoint (see GET /metadata)"
    r = client.get("/$validate")
    assert r.status_code == 405 and message_ids(r) == ["SVC_METHOD_NOT_ALLOWED"]
    assert r.json()["issue"][0]["details"]["text"] == "GET is not allowed here"


def test_a_bad_query_parameter_is_400_without_echoing_it(client, seed):
    r = post(client, "/Assessment/$convert?pdf=maybe-PHI-here", seed)
    assert r.status_code == 400
    assert message_ids(r) == ["SVC_BAD_REQUEST"]
    assert "maybe-PHI-here" not in r.text
    assert r.json()["issue"][0]["expression"] == ["query.pdf"]


def test_an_unexpected_exception_is_500_without_detail(client, monkeypatch):
    from fhir_at import api

    def boom(*a, **k):
        raise RuntimeError("secret patient data")

    monkeypatch.setattr(api, "validate", boom)
    from fastapi.testclient import TestClient

    with TestClient(client.app, raise_server_exceptions=False, headers=dict(client.headers)) as c:
        r = post(c, "/$validate", {"resourceType": "Patient"})
    assert r.status_code == 500
    assert message_ids(r) == ["SVC_INTERNAL"]
    assert "secret" not in r.text
    assert r.json()["issue"][0]["details"]["text"] == "internal error; the request id is in the log"
