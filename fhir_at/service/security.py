"""Who is calling, and may they: API keys and OAuth2 bearer JWTs, with one scope per operation.

- **API key** in ``X-API-Key``: its SHA-256 is compared with every configured hash in constant time
  (``hmac.compare_digest``, all of them, no early exit). Keys are random and long, so a fast hash
  is the right one (a password hash would only slow every request down).
- **Bearer JWT** in ``Authorization: Bearer``: the signature is checked with a key of the configured
  JWKS (a file read at start, or a URL fetched with a timeout and cached by PyJWT's
  ``PyJWKClient``), with the configured asymmetric algorithms only, and ``exp``, ``iss`` and
  ``aud`` required and checked (with a small leeway). Scopes come from ``scope`` (space-separated)
  or ``scp``.
- A missing or bad credential → 401 with ``WWW-Authenticate``; a scope missing → 403. Messages
  never quote the credential.
- With ``auth: none`` every caller has every scope (local development only: the CLI then binds to
  127.0.0.1 and logs a warning).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from pathlib import Path as FsPath

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ..errors import ConfigError
from ..messages import Msg
from .errors import ServiceError
from .settings import SCOPES, AuthSettings, JwtSettings

__all__ = ["Principal", "Authenticator", "require", "hash_api_key", "API_KEY_HEADER"]

API_KEY_HEADER = "X-API-Key"
ALL_SCOPES = "fhir-at/*"
log = logging.getLogger("fhir_at.service.security")

_api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="apiKey",
                               description="An API key; the service stores only its SHA-256 hash.")
_bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearerJwt", bearerFormat="JWT",
                            description="An OAuth2 access token (JWT) from the configured issuer, "
                                        "with scopes fhir-at/convert, fhir-at/validate, …")


def hash_api_key(key: str) -> str:
    """The hex SHA-256 of an API key: what the configuration stores."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    name: str                    # the API key's name, or the token's client (azp/client_id), never a secret
    method: str                  # api-key | jwt | none
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return ALL_SCOPES in self.scopes or scope in self.scopes


def _unauthorized(text: str, error: str | None = None) -> ServiceError:
    challenge = 'Bearer realm="fhir-at"' + (f', error="{error}"' if error else "")
    return ServiceError(401, Msg.SVC_UNAUTHENTICATED, text, {"WWW-Authenticate": challenge})


class _Jwks:
    """Signing keys by ``kid``: from a file (read once) or a URL (PyJWKClient, cached)."""

    def __init__(self, cfg: JwtSettings):
        import jwt

        self.cfg = cfg
        self._set = None
        self._client = None
        if cfg.jwks_file:
            try:
                data = json.loads(FsPath(cfg.jwks_file).read_text(encoding="utf-8"))
                self._set = jwt.PyJWKSet.from_dict(data)
            except (OSError, ValueError, jwt.PyJWKSetError) as exc:
                raise ConfigError(f"the JWKS file {cfg.jwks_file} cannot be used: {type(exc).__name__}") from None
        else:
            self._client = jwt.PyJWKClient(cfg.jwks_url, cache_keys=True, lifespan=300,
                                           timeout=int(max(1, cfg.jwks_timeout)))

    def key_for(self, token: str):
        import jwt

        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError:
                raise ServiceError(502, Msg.SVC_DOWNSTREAM_ERROR, "the identity provider's keys cannot be fetched") \
                    from None
            except (jwt.PyJWKClientError, jwt.DecodeError):
                raise _unauthorized("the token is not signed by a key of the identity provider",
                                    "invalid_token") from None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError:
            raise _unauthorized("the bearer token is not a JWT", "invalid_token") from None
        keys = self._set.keys
        if kid is None and len(keys) == 1:
            return keys[0].key
        for k in keys:
            if k.key_id == kid:
                return k.key
        raise _unauthorized("the token is not signed by a key of the identity provider", "invalid_token")


class Authenticator:
    def __init__(self, settings: AuthSettings):
        self.settings = settings
        self.disabled = settings.mode == "none"
        self._keys = tuple((bytes.fromhex(k.sha256), k) for k in settings.api_keys)
        self._jwks = _Jwks(settings.jwt) if settings.jwt is not None else None

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m, on in (("api-key", bool(self._keys)), ("jwt", self._jwks is not None)) if on)

    def authenticate(self, api_key: str | None, bearer: str | None) -> Principal:
        if self.disabled:
            return Principal("anonymous", "none", frozenset({ALL_SCOPES}))
        if api_key and self._keys:
            return self._by_key(api_key)
        if bearer and self._jwks is not None:
            return self._by_jwt(bearer)
        offered = " or ".join({"api-key": f"an {API_KEY_HEADER} header",
                               "jwt": "an Authorization: Bearer token"}[m] for m in self.methods)
        raise _unauthorized(f"authentication required: send {offered}")

    def _by_key(self, presented: str) -> Principal:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = None
        for stored, key in self._keys:  # every key compared, in constant time each
            if hmac.compare_digest(digest, stored) and found is None:
                found = key
        if found is None:
            raise _unauthorized("the API key is not valid")
        return Principal(found.name, "api-key", frozenset(found.scopes))

    def _by_jwt(self, token: str) -> Principal:
        import jwt

        cfg = self.settings.jwt
        key = self._jwks.key_for(token)
        try:
            claims = jwt.decode(token, key=key, algorithms=list(cfg.algorithms), audience=cfg.audience,
                                issuer=cfg.issuer, leeway=cfg.leeway,
                                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise _unauthorized("the token has expired", "invalid_token") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized("the token is not meant for this service (audience)", "invalid_token") from None
        except jwt.InvalidIssuerError:
            raise _unauthorized("the token is not from the configured issuer", "invalid_token") from None
        except jwt.InvalidSignatureError:
            raise _unauthorized("the token's signature is not valid", "invalid_token") from None
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"the token is not valid ({type(exc).__name__})", "invalid_token") from None
        raw = claims.get("scope", claims.get("scp", ""))
        scopes = frozenset(raw.split() if isinstance(raw, str) else [str(s) for s in raw or []])
        name = str(claims.get("azp") or claims.get("client_id") or "jwt")[:64]
        return Principal(name, "jwt", scopes)


def require(scope: str):
    """A FastAPI dependency: the caller, authenticated and holding ``scope`` (else 401 / 403)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope}")

    def dependency(request: Request, api_key: str | None = Security(_api_key_scheme),
                   bearer: HTTPAuthorizationCredentials | None = Security(_bearer_scheme)) -> Principal:
        auth: Authenticator = request.app.state.authenticator
        principal = auth.authenticate(api_key, bearer.credentials if bearer else None)
        request.state.principal = principal
        if not principal.may(scope):
            raise ServiceError(403, Msg.SVC_FORBIDDEN, f"this operation needs the scope {scope}",
                               {"WWW-Authenticate": f'Bearer realm="fhir-at", error="insufficient_scope", '
                                                    f'scope="{scope}"'})
        return principal

    return dependency
