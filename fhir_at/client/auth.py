"""Authentication for :class:`fhir_at.client.http.FhirClient`: ``requests`` auth objects.

- :class:`BearerAuth` — a static bearer token, from :func:`bearer_from_env_or_file`;
- :class:`BasicAuth` — user name and password, the password from :func:`basic_from_env_or_file`;
- :class:`SmartBackendAuth` — SMART Backend Services (client-credentials grant with a signed JWT
  assertion, ``private_key_jwt``): discovers the token endpoint, caches the access token until
  shortly before it expires, and drops it on :meth:`~SmartBackendAuth.invalidate` (the client calls
  that on a 401 and retries once).

Secrets never appear on a command line, in a log, in a ``repr`` or in an exception message: they
come from the environment or from a file, and messages name only where they came from.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from ..errors import ConfigError, TransportError

__all__ = ["BearerAuth", "BasicAuth", "SmartBackendAuth", "bearer_from_env_or_file",
           "basic_from_env_or_file", "TOKEN_ENV", "PASSWORD_ENV", "CLIENT_ASSERTION_TYPE"]

TOKEN_ENV = "FHIR_AT_TOKEN"
PASSWORD_ENV = "FHIR_AT_PASSWORD"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SMART_CONFIGURATION = ".well-known/smart-configuration"
ASSERTION_LIFETIME = 240      # seconds; SMART caps exp at now + 5 minutes: keep a margin for clock skew
DEFAULT_EXPIRES_IN = 300      # when the token response has no expires_in
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
log = logging.getLogger("fhir_at.client.auth")


# ------------------------------------------------------------------------------ static secrets
def _secret(what: str, env: str, path: str | os.PathLike | None) -> str:
    """A secret from ``path`` (first line, stripped) when given, else from the variable ``env``."""
    if path is not None:
        p = Path(path)
        try:
            mode = p.stat().st_mode
            first = p.read_text(encoding="utf-8").splitlines()[:1]
        except FileNotFoundError:
            raise ConfigError(f"the {what} file {p} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"the {what} file {p} cannot be read: {exc.__class__.__name__}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning("the %s file %s can be read by other users (chmod 600 it)", what, p)
        value = first[0].strip() if first else ""
        if not value:
            raise ConfigError(f"the {what} file {p} is empty (the {what} is its first line)")
        return value
    value = os.environ.get(env, "").strip()
    if not value:
        raise ConfigError(f"no {what}: set the environment variable {env} or give a {what} file")
    return value


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str):
        if not token or not token.strip():
            raise ConfigError("the bearer token is empty")
        self._token = token.strip()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(<token>)"


def bearer_from_env_or_file(env: str = TOKEN_ENV, path: str | os.PathLike | None = None) -> BearerAuth:
    """A :class:`BearerAuth` with the token from the file ``path`` (its first line) when given, else
    from the environment variable ``env``. A file others can read is used, with a warning."""
    return BearerAuth(_secret("bearer token", env, path))


class BasicAuth(HTTPBasicAuth):
    """HTTP Basic authentication; the user name comes from an option, the password never does."""

    def __init__(self, user: str, password: str):
        if not user:
            raise ConfigError("basic authentication needs a user name")
        super().__init__(user, password)

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, <password>)"


def basic_from_env_or_file(user: str, env: str = PASSWORD_ENV,
                           path: str | os.PathLike | None = None) -> BasicAuth:
    """A :class:`BasicAuth` for ``user`` with the password from the file ``path`` (its first line)
    when given, else from the environment variable ``env``."""
    return BasicAuth(user, _secret("password", env, path))


# --------------------------------------------------------------------- SMART Backend Services
_KEY_TYPES = {"RS384": "RSA", "ES384": "EC"}


class SmartBackendAuth(AuthBase):
    """SMART Backend Services: an access token from the client-credentials grant, authenticated by a
    JWT signed with the client's private key (``RS384`` or ``ES384``).

    The token endpoint is ``token_url`` or else the ``token_endpoint`` of
    ``{fhir_base}/.well-known/smart-configuration``, discovered on first use. Token requests go to
    that endpoint only (no redirects), over https (plain http only for a loopback host), with the
    session's TLS verification (a session with ``verify=False`` is refused). ``kid`` defaults to the
    RFC 7638 thumbprint of the public key. ``clock`` is injectable for tests.
    """

    def __init__(self, client_id: str, private_key_pem_path: str | os.PathLike, *, fhir_base: str,
                 token_url: str | None = None, scope: str = "system/*.read system/*.write",
                 alg: str = "RS384", kid: str | None = None, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time, timeout: tuple[float, float] = (10.0, 30.0),
                 refresh_margin: float = 30.0):
        if not client_id:
            raise ConfigError("SMART backend authentication needs a client id")
        if alg not in _KEY_TYPES:
            raise ConfigError(f"signing algorithm {alg!r} is not supported (use one of {', '.join(_KEY_TYPES)})")
        self.client_id = client_id
        self.alg = alg
        self.scope = scope
        self.fhir_base = fhir_base.rstrip("/")
        self.session = session or requests.Session()
        if self.session.verify is False:
            raise ConfigError("SMART backend authentication refuses a session without TLS verification")
        self.clock = clock
        self.timeout = timeout
        self.refresh_margin = refresh_margin
        self._key = _load_private_key(Path(private_key_pem_path), alg)
        self.kid = kid or _thumbprint(self._key, alg)
        self._token_url = _checked_endpoint(token_url, "token URL") if token_url else None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SmartBackendAuth(client_id={self.client_id!r}, token_url={self._token_url!r})"

    # ------------------------------------------------------------------------------ requests
    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.access_token()}"
        return r

    def invalidate(self) -> None:
        """Forget the cached access token (the server refused it): the next request gets a new one."""
        with self._lock:
            self._token = None
            self._expires_at = 0.0

    # -------------------------------------------------------------------------------- tokens
    @property
    def token_url(self) -> str:
        if self._token_url is None:
            self._token_url = self._discover()
        return self._token_url

    def access_token(self) -> str:
        """The cached access token, or a new one when there is none or it expires soon."""
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at:
                self._token, self._expires_at = self._fetch()
            return self._token

    def assertion(self) -> str:
        """A fresh client assertion: a JWT signed with the private key, for one token request."""
        import jwt

        now = int(self.clock())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_url,
                  "exp": now + ASSERTION_LIFETIME, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self._key, algorithm=self.alg, headers={"kid": self.kid, "typ": "JWT"})

    def _fetch(self) -> tuple[str, float]:
        url = self.token_url
        assertion = self.assertion()
        form = {"grant_type": "client_credentials", "scope": self.scope,
                "client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}
        started = self.clock()
        try:
            response = self.session.post(url, data=form, headers={"Accept": "application/json"},
                                         timeout=self.timeout, allow_redirects=False, auth=_no_auth)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransportError(f"token request to {url} failed: {exc.__class__.__name__}") from None
        log.debug("POST %s -> %s", urlsplit(url).path, response.status_code)
        doc = _json_object(response)
        if response.status_code != 200:
            raise _token_error(url, response, doc, assertion)
        token = doc.get("access_token") if doc else None
        if not isinstance(token, str) or not token:
            raise TransportError(f"token endpoint {url} answered 200 without an access_token")
        token_type = str(doc.get("token_type", "bearer"))
        if token_type.lower() != "bearer":
            raise TransportError(f"token endpoint {url} issued a {token_type!r} token, not a bearer token")
        try:
            expires_in = float(doc.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        margin = min(self.refresh_margin, expires_in / 2)
        log.info("access token for %s obtained, valid %ds", self.client_id, int(expires_in))
        return token, started + expires_in - margin

    def _discover(self) -> str:
        url = f"{self.fhir_base}/{SMART_CONFIGURATION}"
        try:
            response = self.session.get(url, headers={"Accept": "application/json"}, timeout=self.timeout,
                                        allow_redirects=False, auth=_no_auth)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransportError(f"SMART discovery at {url} failed: {exc.__class__.__name__}") from None
        doc = _json_object(response)
        if response.status_code != 200 or doc is None:
            raise ConfigError(f"the server publishes no SMART configuration ({url} answered "
                              f"{response.status_code}); give the token URL explicitly")
        endpoint = doc.get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise ConfigError(f"the SMART configuration at {url} has no token_endpoint")
        methods = doc.get("token_endpoint_auth_methods_supported")
        if isinstance(methods, list) and "private_key_jwt" not in methods:
            raise ConfigError(f"the server's token endpoint does not accept private_key_jwt "
                              f"(it supports: {', '.join(map(str, methods)) or 'nothing'})")
        algs = doc.get("token_endpoint_auth_signing_alg_values_supported")
        if isinstance(algs, list) and self.alg not in algs:
            raise ConfigError(f"the server's token endpoint does not accept {self.alg} assertions "
                              f"(it accepts: {', '.join(map(str, algs)) or 'nothing'})")
        return _checked_endpoint(endpoint, "token endpoint")


def _no_auth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    """Keeps a session-wide ``auth`` off the token and discovery requests."""
    return r


def _checked_endpoint(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.netloc:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise ConfigError(f"the {what} {url} is not an https URL")


def _json_object(response: requests.Response) -> dict | None:
    try:
        doc = response.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _token_error(url: str, response: requests.Response, doc: dict | None, assertion: str) -> Exception:
    """A token request failed: invalid client/grant/scope are configuration problems, the rest
    transport problems. The message never holds the assertion, even if the server echoes it."""
    status = response.status_code
    if 300 <= status < 400:
        return TransportError(f"token endpoint {url} answered a redirect ({status}); not followed")
    error = str(doc.get("error", "")) if doc else ""
    detail = str(doc.get("error_description", "")) if doc else ""
    detail = detail.replace(assertion, "<assertion>")[:300]
    if status in (400, 401) and error:
        hint = {"invalid_client": "check the client id, the key and its kid registered with the server",
                "invalid_scope": "check the scope requested",
                "unauthorized_client": "the client may not use this grant or scope"}.get(error, "")
        text = f"token endpoint {url} refused the request: {error}"
        text += f" ({detail})" if detail else ""
        text += f"; {hint}" if hint else ""
        return ConfigError(text)
    kind = response.headers.get("Content-Type", "") or "no content type"
    return TransportError(f"token endpoint {url} failed: {status} {response.reason}"
                          + (f": {error}" if error else f" ({kind})"))


# --------------------------------------------------------------------------------------- keys
def _load_private_key(path: Path, alg: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"the private key file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"the private key file {path} cannot be read: {exc.__class__.__name__}") from None
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("the private key file %s can be read by other users (chmod 600 it)", path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"the private key file {path} holds no unencrypted PEM private key") from None
    if alg == "RS384" and not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"RS384 needs an RSA private key; {path} holds another kind")
    if alg == "ES384" and not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"):
        raise ConfigError(f"ES384 needs an EC private key on the P-384 curve; {path} holds another kind")
    return key


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _thumbprint(key, alg: str) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256) of the public key: a stable default ``kid``."""
    pub = key.public_key().public_numbers()
    if alg == "RS384":
        members = {"e": _b64(pub.e), "kty": "RSA", "n": _b64(pub.n)}
    else:
        size = 48  # P-384 coordinates are 48 bytes, left-padded
        pad = lambda v: base64.urlsafe_b64encode(v.to_bytes(size, "big")).rstrip(b"=").decode()  # noqa: E731
        members = {"crv": "P-384", "kty": "EC", "x": pad(pub.x), "y": pad(pub.y)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
