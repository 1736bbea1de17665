"""The service's configuration: a YAML or JSON file, checked strictly, plus a few environment variables.

::

    auth:                       # required; "auth: none" only for local development (127.0.0.1 only)
      api_keys:                 # keys stored as SHA-256 hashes (hex), never in clear
        - name: integration-engine
          sha256: 9f86d081884c7d65...
          scopes: [fhir-at/convert, fhir-at/validate]      # or ["fhir-at/*"]
      jwt:                      # OAuth2 bearer JWTs
        jwks_file: /etc/fhir-at/jwks.json                 # or jwks_url: https://idp.example/jwks
        issuer: https://idp.example/
        audience: fhir-at
        algorithms: [RS256, ES256]
    limits: {max_body_bytes: 10485760, max_json_depth: 100}
    cors: {allow_origins: []}   # CORS stays off unless origins are listed
    targets:                    # where $push may send (by name; never a URL from a request)
      sekmet: {url: https://fhir.example/r4, update_create: true, token_env: SEKMET_TOKEN, timeout: 30}
    ehrs:                       # where $conditions may pull from (same shape)
      main: {url: https://ehr.example/fhir, token_file: /run/secrets/ehr-token}
    outbox: {path: /var/lib/fhir-at/outbox.sqlite}

Secrets (the bearer token or password of a target) come only from an environment variable or a
file named here: a key that looks like an inline secret (``token``, ``password``, ``api_key``,
``secret``) is refused. ``FHIR_AT_SERVICE_CONFIG`` names the file when ``--config`` is not given,
and ``FHIR_AT_SERVICE_API_KEY_SHA256`` adds one key hash with every scope (for containers).
"""

from __future__ import annotations

import os
import re
from pathlib import Path as FsPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError

__all__ = ["SCOPES", "ApiKey", "JwtSettings", "AuthSettings", "Limits", "Cors", "Server", "OutboxSettings",
           "Settings", "load_settings", "CONFIG_ENV", "API_KEY_HASH_ENV"]

CONFIG_ENV = "FHIR_AT_SERVICE_CONFIG"
API_KEY_HASH_ENV = "FHIR_AT_SERVICE_API_KEY_SHA256"
SCOPES = ("fhir-at/convert", "fhir-at/validate", "fhir-at/push", "fhir-at/conditions", "fhir-at/outbox")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SECRET_KEYS = {"token", "password", "api_key", "apikey", "secret", "key", "client_secret"}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKey(_Strict):
    name: str = Field(pattern=_NAME)
    sha256: str
    scopes: tuple[str, ...]

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        v = v.strip().lower().removeprefix("sha256:")
        if not _HEX64.match(v):
            raise ValueError("an API key is stored as the 64 hex digits of its SHA-256 hash")
        return v

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in v if s not in SCOPES and s != "fhir-at/*"]
        if unknown:
            raise ValueError(f"unknown scope(s) {', '.join(unknown)}: use {', '.join(SCOPES)} or fhir-at/*")
        return v


class JwtSettings(_Strict):
    jwks_file: str | None = None
    jwks_url: str | None = None
    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: float = Field(default=30.0, ge=0, le=300)
    jwks_timeout: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _one_source(self) -> "JwtSettings":
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("give exactly one of jwks_file and jwks_url")
        if self.jwks_url is not None and not self.jwks_url.startswith("https://") \
                and not re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])[:/]", self.jwks_url):
            raise ValueError("jwks_url must be https (plain http only on loopback)")
        weak = [a for a in self.algorithms if not a.startswith(("RS", "ES", "PS", "EdDSA"))]
        if weak or not self.algorithms:
            raise ValueError("algorithms must be asymmetric (RS*, PS*, ES*, EdDSA); 'none' and HS* are refused")
        return self


class AuthSettings(_Strict):
    mode: Literal["required", "none"] = "required"
    api_keys: tuple[ApiKey, ...] = ()
    jwt: JwtSettings | None = None

    @model_validator(mode="after")
    def _something(self) -> "AuthSettings":
        if self.mode == "required" and not self.api_keys and self.jwt is None:
            raise ValueError("authentication is required: configure api_keys and/or jwt "
                             "(or, for local development only, auth: none)")
        return self


class Limits(_Strict):
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=100, ge=2, le=1000)


class Cors(_Strict):
    allow_origins: tuple[str, ...] = ()

    @field_validator("allow_origins")
    @classmethod
    def _no_wildcard(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if "*" in v:
            raise ValueError("list the origins allowed; '*' is refused for an API that handles PHI")
        return v


class Server(_Strict):
    """A FHIR server the service may talk to, by name. Credentials only from env or a file."""

    url: str
    update_create: bool | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)
    connect_timeout: float = Field(default=5.0, gt=0, le=60)
    attempts: int = Field(default=2, ge=1, le=10)
    token_env: str | None = None
    token_file: str | None = None
    user: str | None = None
    password_env: str | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("a server URL is an absolute http(s) URL")
        return v.rstrip("/")


class OutboxSettings(_Strict):
    path: str | None = None   # None: the default outbox (FHIR_AT_OUTBOX or the user's state folder)


class Settings(_Strict):
    auth: AuthSettings
    limits: Limits = Limits()
    cors: Cors = Cors()
    targets: dict[str, Server] = {}
    ehrs: dict[str, Server] = {}
    outbox: OutboxSettings = OutboxSettings()

    @field_validator("targets", "ehrs")
    @classmethod
    def _names(cls, v: dict[str, Server]) -> dict[str, Server]:
        bad = [n for n in v if not re.match(_NAME, n)]
        if bad:
            raise ValueError(f"server names are letters, digits, '_', '.', '-': {', '.join(bad)}")
        return v

    @property
    def auth_disabled(self) -> bool:
        return self.auth.mode == "none"

    @classmethod
    def of(cls, data: dict) -> "Settings":
        """Settings from a parsed configuration (``auth: none`` is short for ``auth: {mode: none}``)."""
        if not isinstance(data, dict):
            raise ConfigError("the service configuration must be a mapping")
        _refuse_inline_secrets(data, "")
        data = dict(data)
        if data.get("auth") == "none":
            data["auth"] = {"mode": "none"}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            lines = [f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors()]
            raise ConfigError("the service configuration is not valid: " + "; ".join(lines)) from None


def _refuse_inline_secrets(data, where: str) -> None:
    if isinstance(data, dict):
        for k, v in data.items():
            if str(k).lower() in _SECRET_KEYS:
                raise ConfigError(f"the configuration holds a secret inline at {where}{k}: give it in an "
                                  "environment variable (…_env) or a file (…_file) instead")
            _refuse_inline_secrets(v, f"{where}{k}.")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _refuse_inline_secrets(v, f"{where}{i}.")


def load_settings(path: str | os.PathLike | None = None, env: dict | None = None) -> Settings:
    """The settings in the file ``path`` (else ``$FHIR_AT_SERVICE_CONFIG``), YAML or JSON."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV)
    data: dict = {}
    if path:
        p = FsPath(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the service configuration {p}: {exc.strerror or exc}") from None
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"the service configuration {p} is not YAML or JSON: {exc}") from None
    extra = env.get(API_KEY_HASH_ENV, "").strip()
    if extra:
        auth = data.get("auth")
        auth = {} if auth in (None, "none") else dict(auth)
        auth["api_keys"] = [*auth.get("api_keys", []),
                            {"name": "env", "sha256": extra, "scopes": ["fhir-at/*"]}]
        data = {**data, "auth": auth}
    if not data:
        raise ConfigError("no service configuration: give --config FILE (or set FHIR_AT_SERVICE_CONFIG); "
                          "authentication must be configured")
    return Settings.of(data)
