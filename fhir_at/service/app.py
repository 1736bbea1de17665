"""The HTTP service: ``create_app(settings)`` wires the routers, the error handlers and security.

Workers are stateless: what they keep in memory is caches (FHIR clients with their capabilities,
the validator's definitions, JWKS keys); the outbox store is the only shared state, so several
instances can run behind a load balancer (with an outbox file on a shared volume, or a shared
backend).
"""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI

from .. import __version__
from ..errors import ConfigError
from .errors import install_handlers
from .logs import RequestLogMiddleware
from .security import Authenticator
from .settings import Server, Settings

__all__ = ["create_app", "app_from_environment", "Downstream"]

log = logging.getLogger("fhir_at.service")

DESCRIPTION = """FHIR R4 adapter for the assistive technology assessment (CPT 97755), over HTTP.

Requests and responses are `application/fhir+json` (`application/json` is accepted). Every error is
an OperationOutcome. Authentication: an `X-API-Key` header or an OAuth2 bearer JWT; each operation
needs its scope (`fhir-at/convert`, `fhir-at/validate`, `fhir-at/push`, `fhir-at/conditions`,
`fhir-at/outbox`)."""


class Downstream:
    """FHIR clients for the configured servers, by name, built on first use and kept (a cache)."""

    def __init__(self, servers: dict[str, Server], kind: str):
        self.servers = servers
        self.kind = kind
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()
        for name, server in servers.items():
            _auth(server, name)  # fail at start when a secret is missing

    def client(self, name: str):
        with self._lock:
            if name not in self._clients:
                self._clients[name] = _client(self.servers[name], name)
            return self._clients[name]


def _auth(server: Server, name: str):
    from ..client.auth import basic_from_env_or_file, bearer_from_env_or_file

    if server.user:
        if not server.password_env:
            raise ConfigError(f"server {name}: a user needs password_env (the password is never inline)")
        return basic_from_env_or_file(server.user, env=server.password_env)
    if server.token_env or server.token_file:
        return bearer_from_env_or_file(env=server.token_env or "", path=server.token_file)
    return None


def _client(server: Server, name: str):
    from urllib.parse import urlsplit

    from ..client.http import FhirClient, RetryPolicy

    client = FhirClient(server.url, auth=_auth(server, name), timeout=(server.connect_timeout, server.timeout),
                        retry=RetryPolicy(attempts=server.attempts, backoff=0.5, max_delay=5.0))
    if urlsplit(server.url).hostname in ("127.0.0.1", "localhost", "::1"):
        client.session.trust_env = False  # a loopback server: never through a proxy from the environment
    return client


def create_app(settings: Settings) -> FastAPI:
    """The ASGI application for ``settings``."""
    from .routers import conditions, meta, operations, push

    app = FastAPI(title="fhir-at", version=__version__, description=DESCRIPTION,
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    app.state.settings = settings
    app.state.authenticator = Authenticator(settings.auth)
    app.state.targets = Downstream(settings.targets, "target")
    app.state.ehrs = Downstream(settings.ehrs, "EHR")
    if settings.auth_disabled:
        log.warning("AUTHENTICATION IS OFF (auth: none): every caller may do everything; "
                    "for local development only")
    install_handlers(app)
    for module in (operations, push, conditions, meta):
        app.include_router(module.router)
    if settings.cors.allow_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors.allow_origins),
                           allow_methods=["GET", "POST"], allow_credentials=False,
                           allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
                           expose_headers=["X-Request-ID"])
    app.add_middleware(RequestLogMiddleware)
    return app


def app_from_environment() -> FastAPI:
    """The app of ``$FHIR_AT_SERVICE_CONFIG``: the factory uvicorn's workers call (``fhir-at serve``)."""
    from .logs import configure_logging
    from .settings import load_settings

    if not logging.getLogger("fhir_at").handlers:
        configure_logging()
    return create_app(load_settings())
