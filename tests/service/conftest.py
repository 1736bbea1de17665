"""Fixtures of the service tests: an app with API keys and a JWT issuer (keys made here), clients."""

from __future__ import annotations

import hashlib
import json
import time
import warnings

import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")  # starlette's TestClient on httpx

from fastapi.testclient import TestClient  # noqa: E402

from fhir_at.service.app import create_app  # noqa: E402
from fhir_at.service.settings import Settings  # noqa: E402

ALL_KEY = "all-scopes-" + "a" * 40
VALIDATE_KEY = "validate-only-" + "b" * 40
ISSUER = "https://idp.test/"
AUDIENCE = "fhir-at"
KID = "test-key-1"
FHIR = {"Content-Type": "application/fhir+json"}


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def signing_key():
    return rsa_key()


@pytest.fixture(scope="session")
def jwks_file(tmp_path_factory, signing_key):
    import jwt

    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    jwk.update({"kid": KID, "use": "sig", "alg": "RS256"})
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return path


@pytest.fixture(scope="session")
def make_token(signing_key):
    import jwt

    def make(scope: str = "fhir-at/validate", *, key=None, exp: float | None = None, aud: str = AUDIENCE,
             iss: str = ISSUER, kid: str = KID, alg: str = "RS256") -> str:
        now = int(time.time())
        claims = {"iss": iss, "aud": aud, "sub": "svc-client", "azp": "integration-engine", "scope": scope,
                  "iat": now, "exp": int(exp if exp is not None else now + 300)}
        return jwt.encode(claims, key or signing_key, algorithm=alg, headers={"kid": kid})

    return make


def settings_of(tmp_path, jwks_file=None, **extra) -> Settings:
    auth = {"api_keys": [{"name": "all", "sha256": sha(ALL_KEY), "scopes": ["fhir-at/*"]},
                         {"name": "validator", "sha256": sha(VALIDATE_KEY), "scopes": ["fhir-at/validate"]}]}
    if jwks_file is not None:
        auth["jwt"] = {"jwks_file": str(jwks_file), "issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["RS256"]}
    data = {"auth": auth, "outbox": {"path": str(tmp_path / "outbox.sqlite")}, **extra}
    return Settings.of(data)


@pytest.fixture
def settings(tmp_path, jwks_file) -> Settings:
    return settings_of(tmp_path, jwks_file)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), headers={"X-API-Key": ALL_KEY}) as c:
        yield c


@pytest.fixture
def anonymous(settings):
    with TestClient(create_app(settings)) as c:
        yield c


def post(c, url: str, doc, **headers):
    body = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
    return c.post(url, content=body, headers={**FHIR, **headers})


def message_ids(response) -> list[str]:
    oo = response.json()
    assert oo["resourceType"] == "OperationOutcome", oo
    return [e["valueString"] for i in oo["issue"] for e in i.get("extension", [])]
