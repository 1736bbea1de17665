"""fhir_at.client.auth: bearer and basic secrets from the environment or a file; SMART Backend
Services (discovery, signed client assertion, token cache and refresh, token endpoint errors)."""

from __future__ import annotations

import base64
import logging
import types
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_at.client import auth as auth_mod
from fhir_at.client.auth import (CLIENT_ASSERTION_TYPE, BasicAuth, BearerAuth, SmartBackendAuth,
                                 basic_from_env_or_file, bearer_from_env_or_file)
from fhir_at.client.http import FhirClient
from fhir_at.errors import ConfigError, TransportError, Unauthorized

BASE = "https://ehr.example/fhir"
DISCOVERY = f"{BASE}/.well-known/smart-configuration"
TOKEN = "https://auth.example/oauth2/token"
NOW = 1_800_000_000.0


# ------------------------------------------------------------------------------------ keys
def _write_key(tmp_path, key, name):
    path = tmp_path / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def keys(tmp_path, rsa_key, ec_key):
    return {"RS384": (rsa_key, _write_key(tmp_path, rsa_key, "rsa.pem")),
            "ES384": (ec_key, _write_key(tmp_path, ec_key, "ec.pem"))}


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def smart(keys, alg="RS384", **kw):
    kw.setdefault("clock", Clock())
    kw.setdefault("session", _session())
    return SmartBackendAuth("at-client", keys[alg][1], fhir_base=BASE, alg=alg, **kw)


def _session():
    s = requests.Session()
    s.trust_env = False
    return s


def discovery(rsps, **extra):
    doc = {"token_endpoint": TOKEN, "token_endpoint_auth_methods_supported": ["private_key_jwt"],
           "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"], **extra}
    rsps.add(responses.GET, DISCOVERY, json=doc)


def token_endpoint(rsps, *tokens, expires_in=300):
    for t in tokens:
        rsps.add(responses.POST, TOKEN, json={"access_token": t, "token_type": "Bearer", "expires_in": expires_in})


def token_calls(rsps):
    return [c for c in rsps.calls if c.request.url == TOKEN]


def fhir_calls(rsps):
    return [c for c in rsps.calls if c.request.url.startswith(BASE + "/Patient")]


def form(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def client(a, **kw) -> FhirClient:
    return FhirClient(BASE, auth=a, session=_session(), sleep=lambda s: None, **kw)


# -------------------------------------------------------------------------- SMART: discovery
def test_discovers_the_token_endpoint_and_sends_its_token(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        token_endpoint(rsps, "tok-1")
        rsps.add(responses.GET, f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
        a = smart(keys)
        assert client(a).get("Patient/1")["id"] == "1"
        assert [c.request.url for c in rsps.calls] == [DISCOVERY, TOKEN, f"{BASE}/Patient/1"]
        assert rsps.calls[2].request.headers["Authorization"] == "Bearer tok-1"
        assert "Authorization" not in rsps.calls[1].request.headers
        assert a.token_url == TOKEN


def test_given_token_url_skips_discovery(keys):
    with responses.RequestsMock() as rsps:
        token_endpoint(rsps, "tok-1")
        assert smart(keys, token_url=TOKEN).access_token() == "tok-1"
        assert [c.request.url for c in rsps.calls] == [TOKEN]


def test_no_smart_configuration_is_a_config_error(keys):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, DISCOVERY, status=404, body="not here")
        with pytest.raises(ConfigError) as e:
            smart(keys).access_token()
    assert e.value.message == (f"the server publishes no SMART configuration ({DISCOVERY} answered 404); "
                               "give the token URL explicitly")


def test_smart_configuration_without_token_endpoint(keys):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, DISCOVERY, json={"capabilities": []})
        with pytest.raises(ConfigError, match="has no token_endpoint"):
            smart(keys).access_token()


def test_server_that_does_not_accept_the_algorithm_or_private_key_jwt(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps, token_endpoint_auth_signing_alg_values_supported=["RS384"])
        with pytest.raises(ConfigError) as e:
            smart(keys, "ES384").access_token()
    assert e.value.message == "the server's token endpoint does not accept ES384 assertions (it accepts: RS384)"
    with responses.RequestsMock() as rsps:
        discovery(rsps, token_endpoint_auth_methods_supported=["client_secret_basic"])
        with pytest.raises(ConfigError) as e:
            smart(keys).access_token()
    assert e.value.message == ("the server's token endpoint does not accept private_key_jwt "
                               "(it supports: client_secret_basic)")


def test_discovered_token_endpoint_must_be_https(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps, token_endpoint="http://auth.example/token")
        with pytest.raises(ConfigError) as e:
            smart(keys).access_token()
    assert e.value.message == "the token endpoint http://auth.example/token is not an https URL"
    # plain http is accepted on a loopback host only (test servers)
    assert smart(keys, token_url="http://127.0.0.1:8080/token").token_url == "http://127.0.0.1:8080/token"


def test_discovery_unreachable(keys):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, DISCOVERY, body=requests.ConnectionError("Connection refused"))
        with pytest.raises(TransportError, match=r"SMART discovery at .* failed: ConnectionError"):
            smart(keys).access_token()


# ------------------------------------------------------------------------ SMART: assertion
@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_client_assertion_is_signed_and_claims_are_right(keys, alg):
    key, _ = keys[alg]
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        token_endpoint(rsps, "tok-1")
        a = smart(keys, alg, clock=Clock(NOW + 0.7), scope="system/Procedure.write")
        a.access_token()
        sent = form(token_calls(rsps)[0])
    assert sent["grant_type"] == "client_credentials"
    assert sent["scope"] == "system/Procedure.write"
    assert sent["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    header = jwt.get_unverified_header(sent["client_assertion"])
    assert header["alg"] == alg and header["kid"] == a.kid and header["typ"] == "JWT"
    claims = jwt.decode(sent["client_assertion"], key.public_key(), algorithms=[alg], audience=TOKEN,
                        options={"verify_exp": False})  # the injected clock is not the real one
    assert claims["iss"] == claims["sub"] == "at-client"
    assert claims["aud"] == TOKEN
    assert NOW < claims["exp"] <= NOW + 300
    assert claims["jti"]
    # the signature is the key's: another key of the same kind does not verify it
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS384" \
        else ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(sent["client_assertion"], other.public_key(), algorithms=[alg], audience=TOKEN,
                   options={"verify_exp": False})


def test_every_assertion_has_its_own_jti(keys):
    a = smart(keys, token_url=TOKEN)
    jtis = {jwt.decode(a.assertion(), options={"verify_signature": False})["jti"] for _ in range(5)}
    assert len(jtis) == 5


def test_kid_given_or_the_rfc7638_thumbprint(keys):
    assert smart(keys, kid="key-2026").kid == "key-2026"
    # RFC 7638, section 3.1: the example key and its thumbprint
    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
         "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0"
         "zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF4"
         "4-csFCur-kEgU8awapJzKnqDKgw")
    def num(s):
        return int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
    public = rsa.RSAPublicNumbers(num("AQAB"), num(n))
    fake = types.SimpleNamespace(public_key=lambda: types.SimpleNamespace(public_numbers=lambda: public))
    assert auth_mod._thumbprint(fake, "RS384") == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert smart(keys, "ES384").kid != smart(keys, "RS384").kid


# --------------------------------------------------------------------- SMART: cache, refresh
def test_token_is_cached_across_requests(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        token_endpoint(rsps, "tok-1")
        rsps.add(responses.GET, f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
        c = client(smart(keys))
        for _ in range(4):
            c.get("Patient/1")
        assert len(token_calls(rsps)) == 1
        assert len([c for c in rsps.calls if c.request.url == DISCOVERY]) == 1
        assert {c.request.headers["Authorization"] for c in fhir_calls(rsps)} == {"Bearer tok-1"}


def test_token_is_refreshed_shortly_before_it_expires(keys):
    clock = Clock()
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        token_endpoint(rsps, "tok-1", "tok-2", expires_in=300)
        a = smart(keys, clock=clock)
        assert a.access_token() == "tok-1"
        clock.now = NOW + 260          # 40 s left: still good
        assert a.access_token() == "tok-1"
        clock.now = NOW + 275          # within the 30 s margin: a new one
        assert a.access_token() == "tok-2"
        assert len(token_calls(rsps)) == 2
        # the second assertion is built at the new time
        claims = jwt.decode(form(token_calls(rsps)[1])["client_assertion"], options={"verify_signature": False})
        assert claims["exp"] <= NOW + 275 + 300


def test_a_401_gets_a_new_token_once(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        token_endpoint(rsps, "revoked", "tok-2")
        rsps.add(responses.GET, f"{BASE}/Patient/1", status=401)
        rsps.add(responses.GET, f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
        assert client(smart(keys)).get("Patient/1")["id"] == "1"
        assert [c.request.headers["Authorization"] for c in fhir_calls(rsps)] == ["Bearer revoked", "Bearer tok-2"]


def test_a_second_401_is_an_error(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        token_endpoint(rsps, "tok-1", "tok-2")
        rsps.add(responses.GET, f"{BASE}/Patient/1", status=401,
                 json={"resourceType": "OperationOutcome",
                       "issue": [{"severity": "error", "code": "login", "diagnostics": "token not accepted"}]})
        with pytest.raises(Unauthorized) as e:
            client(smart(keys)).get("Patient/1")
        assert len(token_calls(rsps)) == 2 and len(fhir_calls(rsps)) == 2
    assert e.value.message == f"GET {BASE}/Patient/1 failed: 401 Unauthorized: token not accepted"


# ------------------------------------------------------------------ SMART: token endpoint errors
def test_invalid_client_is_a_config_error_without_the_assertion(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        rsps.add(responses.POST, TOKEN, status=400,
                 json={"error": "invalid_client", "error_description": "unknown kid"})
        with pytest.raises(ConfigError) as e:
            smart(keys, kid="k1").access_token()
        assertion = form(token_calls(rsps)[0])["client_assertion"]
    assert e.value.message == (f"token endpoint {TOKEN} refused the request: invalid_client (unknown kid); "
                               "check the client id, the key and its kid registered with the server")
    assert assertion not in str(e.value)


def test_an_echoed_assertion_is_masked(keys):
    def echo(request):
        sent = {k: v[0] for k, v in parse_qs(request.body).items()}
        return 400, {}, f'{{"error": "invalid_grant", "error_description": "bad {sent["client_assertion"]}"}}'

    with responses.RequestsMock() as rsps:
        discovery(rsps)
        rsps.add_callback(responses.POST, TOKEN, callback=echo, content_type="application/json")
        with pytest.raises(ConfigError) as e:
            smart(keys).access_token()
    assert e.value.message == f"token endpoint {TOKEN} refused the request: invalid_grant (bad <assertion>)"


def test_token_endpoint_server_error_is_a_transport_error(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        rsps.add(responses.POST, TOKEN, status=503, body="<html>down</html>", content_type="text/html")
        with pytest.raises(TransportError) as e:
            smart(keys).access_token()
    assert e.value.message == f"token endpoint {TOKEN} failed: 503 Service Unavailable (text/html)"


def test_token_endpoint_redirect_is_not_followed(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        rsps.add(responses.POST, TOKEN, status=307, headers={"Location": "https://elsewhere.example/token"})
        with pytest.raises(TransportError) as e:
            smart(keys).access_token()
        assert [c.request.url for c in rsps.calls] == [DISCOVERY, TOKEN]
    assert e.value.message == f"token endpoint {TOKEN} answered a redirect (307); not followed"


def test_token_response_without_a_bearer_token(keys):
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        rsps.add(responses.POST, TOKEN, json={"token_type": "bearer"})
        rsps.add(responses.POST, TOKEN, json={"access_token": "x", "token_type": "mac"})
        a = smart(keys)
        with pytest.raises(TransportError, match="answered 200 without an access_token"):
            a.access_token()
        with pytest.raises(TransportError, match="issued a 'mac' token, not a bearer token"):
            a.access_token()


def test_token_endpoint_unreachable(keys):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, TOKEN, body=requests.ConnectionError("Connection refused"))
        with pytest.raises(TransportError) as e:
            smart(keys, token_url=TOKEN).access_token()
    assert e.value.message == f"token request to {TOKEN} failed: ConnectionError"


# ------------------------------------------------------------------------ SMART: configuration
def test_configuration_errors(keys, tmp_path):
    with pytest.raises(ConfigError, match="signing algorithm 'HS256' is not supported"):
        SmartBackendAuth("c", keys["RS384"][1], fhir_base=BASE, alg="HS256")
    with pytest.raises(ConfigError, match="needs a client id"):
        SmartBackendAuth("", keys["RS384"][1], fhir_base=BASE)
    insecure = requests.Session()
    insecure.verify = False
    with pytest.raises(ConfigError, match="refuses a session without TLS verification"):
        smart(keys, session=insecure)
    with pytest.raises(ConfigError, match="RS384 needs an RSA private key"):
        SmartBackendAuth("c", keys["ES384"][1], fhir_base=BASE, alg="RS384")
    with pytest.raises(ConfigError, match="ES384 needs an EC private key on the P-384 curve"):
        SmartBackendAuth("c", keys["RS384"][1], fhir_base=BASE, alg="ES384")
    with pytest.raises(ConfigError, match=r"the private key file .*missing\.pem does not exist"):
        SmartBackendAuth("c", tmp_path / "missing.pem", fhir_base=BASE)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(ConfigError, match="holds no unencrypted PEM private key"):
        SmartBackendAuth("c", junk, fhir_base=BASE)


def test_nothing_secret_in_logs_or_repr(keys, caplog):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as rsps:
        discovery(rsps)
        token_endpoint(rsps, "s3cr3t-token")
        rsps.add(responses.GET, f"{BASE}/Patient/1", json={"resourceType": "Patient", "id": "1"})
        a = smart(keys)
        client(a).get("Patient/1")
        assertion = form(token_calls(rsps)[0])["client_assertion"]
    assert "s3cr3t-token" not in caplog.text and assertion not in caplog.text
    assert "s3cr3t-token" not in repr(a)
    assert repr(BearerAuth("s3cr3t-token")) == "BearerAuth(<token>)"
    assert repr(BasicAuth("ot", "pw")) == "BasicAuth('ot', <password>)"


# ------------------------------------------------------------------------------ bearer, basic
def test_bearer_from_env(monkeypatch):
    monkeypatch.setenv("FHIR_AT_TOKEN", "  tok-env \n")
    r = requests.Request("GET", f"{BASE}/metadata", auth=bearer_from_env_or_file()).prepare()
    assert r.headers["Authorization"] == "Bearer tok-env"


def test_bearer_from_file_first_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("FHIR_AT_TOKEN", "from-env")
    f = tmp_path / "token"
    f.write_text("tok-file  \nsecond line\n")
    f.chmod(0o600)
    r = requests.Request("GET", f"{BASE}/metadata", auth=bearer_from_env_or_file(path=f)).prepare()
    assert r.headers["Authorization"] == "Bearer tok-file"  # the file wins over the environment
    assert "can be read by other users" not in caplog.text


def test_world_readable_token_file_warns(tmp_path, caplog):
    f = tmp_path / "token"
    f.write_text("tok-file\n")
    f.chmod(0o644)
    bearer_from_env_or_file(path=f)
    assert f"the bearer token file {f} can be read by other users (chmod 600 it)" in caplog.text
    assert "tok-file" not in caplog.text


def test_missing_or_empty_bearer_token(tmp_path, monkeypatch):
    monkeypatch.delenv("FHIR_AT_TOKEN", raising=False)
    with pytest.raises(ConfigError) as e:
        bearer_from_env_or_file()
    assert e.value.message == "no bearer token: set the environment variable FHIR_AT_TOKEN or give a bearer token file"
    with pytest.raises(ConfigError) as e:
        bearer_from_env_or_file(path=tmp_path / "nope")
    assert e.value.message == f"the bearer token file {tmp_path / 'nope'} does not exist"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(ConfigError) as e:
        bearer_from_env_or_file(path=empty)
    assert e.value.message == f"the bearer token file {empty} is empty (the bearer token is its first line)"
    with pytest.raises(ConfigError, match="the bearer token is empty"):
        BearerAuth(" ")


def test_basic_auth_password_from_env_or_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FHIR_AT_PASSWORD", "pw-env")
    r = requests.Request("GET", f"{BASE}/metadata", auth=basic_from_env_or_file("ot")).prepare()
    assert r.headers["Authorization"] == "Basic " + base64.b64encode(b"ot:pw-env").decode()
    f = tmp_path / "pw"
    f.write_text("pw-file\n")
    f.chmod(0o600)
    r = requests.Request("GET", f"{BASE}/metadata", auth=basic_from_env_or_file("ot", path=f)).prepare()
    assert r.headers["Authorization"] == "Basic " + base64.b64encode(b"ot:pw-file").decode()
    monkeypatch.delenv("FHIR_AT_PASSWORD")
    with pytest.raises(ConfigError) as e:
        basic_from_env_or_file("ot")
    assert e.value.message == "no password: set the environment variable FHIR_AT_PASSWORD or give a password file"
    with pytest.raises(ConfigError, match="basic authentication needs a user name"):
        BasicAuth("", "pw")
