"""``fhir-at serve``: the HTTP service (FastAPI) under uvicorn."""

from __future__ import annotations

import click

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--config", "config", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Service configuration (YAML or JSON); else $FHIR_AT_SERVICE_CONFIG.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes (stateless: the outbox store is the shared state).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def command(host, port, config, workers, log_level) -> None:
    """Serve convert, extract, validate, push, conditions and the outbox over HTTP. Authentication
    is required unless the configuration says `auth: none` (then only on 127.0.0.1)."""
    import logging
    import os

    import uvicorn

    from ..service.logs import configure_logging
    from ..service.settings import CONFIG_ENV, load_settings

    configure_logging(log_level.upper())
    settings = load_settings(config)  # fails here (exit 3) on a bad configuration
    log = logging.getLogger("fhir_at.service")
    if settings.auth_disabled and host not in _LOOPBACK:
        log.warning("auth: none: binding to 127.0.0.1 instead of %s (no authentication off loopback)", host)
        host = "127.0.0.1"
    if config:
        os.environ[CONFIG_ENV] = os.path.abspath(config)  # the workers load the same file
    log.info("fhir-at serve on %s:%d (%d worker(s), auth %s)", host, port, workers,
             "OFF" if settings.auth_disabled else "required")
    # access_log off: uvicorn's access lines carry the path and query string (patient ids: PHI)
    uvicorn.run("fhir_at.service.app:app_from_environment", factory=True, host=host, port=port,
                workers=workers, access_log=False, log_config=None, server_header=False,
                proxy_headers=False, log_level=log_level)
