"""Security by default: credentials, scopes, JWTs, configuration rules, CORS, logs without PHI."""

from __future__ import annotations

import json
import logging
import time

import pytest

from fhir_at.errors import ConfigError
from fhir_at.service.settings import Settings, load_settings
from tests.service.conftest import ALL_KEY, VALIDATE_KEY, message_ids, post, rsa_key, settings_of, sha

PATIENT = {"resourceType": "Patient"}


def test_no_credentials_is_401_with_a_challenge(anonymous):
    r = post(anonymous, "/$validate", PATIENT)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="fhir-at"'
    assert message_ids(r) == ["SVC_UNAUTHENTICATED"]
    assert r.json()["issue"][0]["details"]["text"] == \
        "authentication required: send an X-API-Key header or an Authorization: Bearer token"


def test_every_protected_endpoint_needs_credentials(anonymous):
    for method, url in (("post", "/Assessment/$convert"), ("post", "/Bundle/$extract"), ("post", "/$validate"),
                        ("post", "/Patient/$validate"), ("post", "/Assessment/$push?target=x"),
                        ("get", "/Patient/1/$conditions?ehr=x"), ("get", "/outbox")):
        r = getattr(anonymous, method)(url, **({"content": b"{}", "headers": {"Content-Type": "application/json"}}
                                               if method == "post" else {}))
        assert r.status_code == 401, url


def test_a_wrong_api_key_is_401(anonymous):
    r = post(anonymous, "/$validate", PATIENT, **{"X-API-Key": ALL_KEY + "x"})
    assert r.status_code == 401
    assert r.json()["issue"][0]["details"]["text"] == "the API key is not valid"
    assert ALL_KEY not in r.text


def test_a_key_without_the_scope_is_403(anonymous, seed):
    assert post(anonymous, "/$validate", PATIENT, **{"X-API-Key": VALIDATE_KEY}).status_code == 200
    r = post(anonymous, "/Assessment/$convert", seed, **{"X-API-Key": VALIDATE_KEY})
    assert r.status_code == 403
    assert message_ids(r) == ["SVC_FORBIDDEN"]
    assert r.json()["issue"][0]["details"]["text"] == "this operation needs the scope fhir-at/convert"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    for url in ("/outbox", "/Patient/1/$conditions?ehr=x"):
        assert anonymous.get(url, headers={"X-API-Key": VALIDATE_KEY}).status_code == 403


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_jwt_with_the_scope_is_accepted(anonymous, make_token):
    r = post(anonymous, "/$validate", PATIENT, **bearer(make_token("openid fhir-at/validate")))
    assert r.status_code == 200


def test_a_jwt_without_the_scope_is_403(anonymous, make_token):
    r = post(anonymous, "/$validate", PATIENT, **bearer(make_token("fhir-at/convert")))
    assert r.status_code == 403


def test_a_forged_jwt_is_401(anonymous, make_token):
    forged = make_token("fhir-at/validate", key=rsa_key())  # same kid, another key
    r = post(anonymous, "/$validate", PATIENT, **bearer(forged))
    assert r.status_code == 401
    assert r.json()["issue"][0]["details"]["text"] == "the token's signature is not valid"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    unknown_kid = make_token("fhir-at/validate", key=rsa_key(), kid="other")
    r = post(anonymous, "/$validate", PATIENT, **bearer(unknown_kid))
    assert r.status_code == 401
    assert r.json()["issue"][0]["details"]["text"] == "the token is not signed by a key of the identity provider"


def test_an_expired_jwt_is_401(anonymous, make_token):
    r = post(anonymous, "/$validate", PATIENT, **bearer(make_token(exp=time.time() - 3600)))
    assert r.status_code == 401
    assert r.json()["issue"][0]["details"]["text"] == "the token has expired"


def test_a_jwt_for_another_audience_or_issuer_is_401(anonymous, make_token):
    r = post(anonymous, "/$validate", PATIENT, **bearer(make_token(aud="another-api")))
    assert r.json()["issue"][0]["details"]["text"] == "the token is not meant for this service (audience)"
    r = post(anonymous, "/$validate", PATIENT, **bearer(make_token(iss="https://evil.test/")))
    assert r.json()["issue"][0]["details"]["text"] == "the token is not from the configured issuer"
    assert r.status_code == 401


def test_unsigned_and_garbage_tokens_are_401(anonymous):
    import jwt

    unsigned = jwt.encode({"iss": "https://idp.test/", "aud": "fhir-at", "exp": int(time.time()) + 60,
                           "scope": "fhir-at/validate"}, None, algorithm="none", headers={"kid": "test-key-1"})
    for token in (unsigned, "not-a-jwt", "a.b.c"):
        r = post(anonymous, "/$validate", PATIENT, **bearer(token))
        assert r.status_code == 401, token


def test_an_hs256_token_signed_with_the_public_key_is_401(anonymous, signing_key, make_token):
    from cryptography.hazmat.primitives import serialization

    pem = signing_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    import hmac, hashlib, base64  # noqa: E401 - PyJWT refuses to make this token itself

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "kid": "test-key-1", "typ": "JWT"}).encode())
    body = b64(json.dumps({"iss": "https://idp.test/", "aud": "fhir-at", "exp": int(time.time()) + 60,
                           "scope": "fhir-at/validate"}).encode())
    sig = b64(hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    r = post(anonymous, "/$validate", PATIENT, **bearer(f"{head}.{body}.{sig}"))
    assert r.status_code == 401


def test_auth_none_must_be_explicit_and_warns(tmp_path, caplog):
    from fastapi.testclient import TestClient

    from fhir_at.service.app import create_app

    with pytest.raises(ConfigError, match="authentication is required: configure api_keys and/or jwt"):
        Settings.of({"auth": {}})
    with pytest.raises(ConfigError, match="no service configuration"):
        load_settings(None, env={})
    with caplog.at_level(logging.WARNING, logger="fhir_at.service"):
        app = create_app(Settings.of({"auth": "none", "outbox": {"path": str(tmp_path / "o.sqlite")}}))
    assert "AUTHENTICATION IS OFF" in caplog.text
    with TestClient(app) as c:
        assert post(c, "/$validate", PATIENT).status_code == 200


def test_serve_with_auth_none_binds_to_loopback_only(tmp_path, monkeypatch):
    import uvicorn

    from fhir_at.cli.main import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(k))
    monkeypatch.delenv("FHIR_AT_SERVICE_CONFIG", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text("auth: none\n")
    assert main(["serve", "--host", "0.0.0.0", "--config", str(config)]) == 0
    assert seen["host"] == "127.0.0.1" and seen["access_log"] is False and seen["factory"] is True


def test_serve_without_a_configuration_refuses_to_start(monkeypatch, capsys):
    from fhir_at.cli.main import main

    monkeypatch.delenv("FHIR_AT_SERVICE_CONFIG", raising=False)
    monkeypatch.delenv("FHIR_AT_SERVICE_API_KEY_SHA256", raising=False)
    assert main(["serve"]) == 3
    assert "authentication must be configured" in capsys.readouterr().err


def test_configuration_rules(tmp_path):
    key = {"name": "k", "sha256": sha("x" * 40), "scopes": ["fhir-at/validate"]}
    with pytest.raises(ConfigError, match="holds a secret inline at targets.a.token"):
        Settings.of({"auth": {"api_keys": [key]}, "targets": {"a": {"url": "https://x.test", "token": "s3cret"}}})
    with pytest.raises(ConfigError, match="64 hex digits"):
        Settings.of({"auth": {"api_keys": [{**key, "sha256": "plain-key"}]}})
    with pytest.raises(ConfigError, match="unknown scope"):
        Settings.of({"auth": {"api_keys": [{**key, "scopes": ["admin"]}]}})
    with pytest.raises(ConfigError, match="'\\*' is refused"):
        Settings.of({"auth": {"api_keys": [key]}, "cors": {"allow_origins": ["*"]}})
    with pytest.raises(ConfigError, match="asymmetric"):
        Settings.of({"auth": {"jwt": {"jwks_file": "j", "issuer": "i", "audience": "a", "algorithms": ["HS256"]}}})
    with pytest.raises(ConfigError, match="jwks_url must be https"):
        Settings.of({"auth": {"jwt": {"jwks_url": "http://idp.test/jwks", "issuer": "i", "audience": "a"}}})
    with pytest.raises(ConfigError, match="targets.a.uri: Extra inputs are not permitted"):
        Settings.of({"auth": {"api_keys": [key]}, "targets": {"a": {"url": "https://x.test", "uri": "y"}}})
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"auth": {"api_keys": [key]}}))
    env = {"FHIR_AT_SERVICE_CONFIG": str(cfg), "FHIR_AT_SERVICE_API_KEY_SHA256": sha("from-env" * 5)}
    loaded = load_settings(None, env=env)
    assert [k.name for k in loaded.auth.api_keys] == ["k", "env"]


def test_a_target_secret_must_be_there_at_start(tmp_path, jwks_file, monkeypatch):
    from fhir_at.service.app import create_app

    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    settings = settings_of(tmp_path, jwks_file, targets={"a": {"url": "https://x.test", "token_env": "NO_SUCH_TOKEN_VAR"}})
    with pytest.raises(ConfigError, match="set the environment variable NO_SUCH_TOKEN_VAR"):
        create_app(settings)


def test_cors_is_off_unless_configured(tmp_path, jwks_file, client):
    from fastapi.testclient import TestClient

    from fhir_at.service.app import create_app

    preflight = {"Origin": "https://app.test", "Access-Control-Request-Method": "POST"}
    r = client.options("/$validate", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    settings = settings_of(tmp_path, jwks_file, cors={"allow_origins": ["https://app.test"]})
    with TestClient(create_app(settings)) as c:
        r = c.options("/$validate", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://app.test"
        r = c.options("/$validate", headers={**preflight, "Origin": "https://evil.test"})
        assert r.headers.get("access-control-allow-origin") != "https://evil.test"


def test_logs_are_json_lines_with_the_route_template_and_no_phi(client, caplog, seed):
    from fhir_at.service.logs import JsonFormatter

    with caplog.at_level(logging.INFO, logger="fhir_at.service.access"):
        client.get("/Patient/PATIENT-ID-SECRET/$conditions?ehr=nowhere&category=MRN-SECRET",
                   headers={"X-Request-ID": "rid-1"})
        post(client, "/Assessment/$convert?pdf=false", seed)
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "fhir_at.service.access"]
    assert lines[0]["route"] == "/Patient/{id}/$conditions" and lines[0]["status"] == 404
    assert lines[0]["request_id"] == "rid-1" and lines[0]["principal"] == "all" and lines[0]["auth"] == "api-key"
    assert lines[1]["route"] == "/Assessment/$convert" and lines[1]["status"] == 200
    text = json.dumps(lines)
    for phi in ("PATIENT-ID-SECRET", "MRN-SECRET", seed["patient"]["name"]["family"] if isinstance(
            seed["patient"].get("name"), dict) else "Duchenne", ALL_KEY):
        assert phi not in text


def test_jwks_from_a_url_and_an_unreachable_one(tmp_path, jwks_file, make_token):
    import functools
    import http.server
    import threading

    from fastapi.testclient import TestClient

    from fhir_at.service.app import create_app
    from tests.service.test_downstream import closed_port

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(jwks_file.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for url, status in ((f"http://127.0.0.1:{server.server_port}/{jwks_file.name}", 200),
                            (f"http://127.0.0.1:{closed_port()}/jwks.json", 502)):
            jwt_cfg = {"jwks_url": url, "issuer": "https://idp.test/", "audience": "fhir-at", "algorithms": ["RS256"]}
            settings = Settings.of({"auth": {"jwt": jwt_cfg}, "outbox": {"path": str(tmp_path / "o.sqlite")}})
            with TestClient(create_app(settings)) as c:
                r = post(c, "/$validate", PATIENT, **bearer(make_token()))
                assert r.status_code == status, r.text
                if status == 502:
                    assert r.json()["issue"][0]["details"]["text"] == "the identity provider's keys cannot be fetched"
                else:
                    forged = make_token(key=rsa_key())
                    assert post(c, "/$validate", PATIENT, **bearer(forged)).status_code == 401
    finally:
        server.shutdown()
