"""Options that say which FHIR server to talk to and how to authenticate (never a secret on the
command line: tokens and passwords come from the environment or a file)."""

from __future__ import annotations

import os

import click


def server_options(f):
    options = [
        click.option("--server", required=True, metavar="URL", help="FHIR R4 base URL, e.g. https://ehr.example/fhir"),
        click.option("--token-file", type=click.Path(dir_okay=False), metavar="PATH",
                     help="Bearer token in a file (or set FHIR_AT_TOKEN)."),
        click.option("--user", metavar="NAME", help="Basic auth user; the password comes from FHIR_AT_PASSWORD."),
        click.option("--smart-client-id", metavar="ID", help="SMART Backend Services client id."),
        click.option("--smart-key", type=click.Path(exists=True, dir_okay=False), metavar="PEM",
                     help="SMART Backend Services private key (RS384 or ES384)."),
        click.option("--smart-scope", default="system/*.read system/*.write", show_default=True, metavar="SCOPES"),
        click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
                     metavar="SECONDS", help="Read timeout of one request."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def make_client(*, server, token_file, user, smart_client_id, smart_key, smart_scope, timeout):
    """The FhirClient the options describe."""
    from ..client.http import FhirClient
    from ..errors import ConfigError

    auth = None
    if smart_client_id or smart_key:
        if not (smart_client_id and smart_key):
            raise click.UsageError("--smart-client-id and --smart-key go together")
        from ..client.auth import SmartBackendAuth

        auth = SmartBackendAuth(smart_client_id, smart_key, fhir_base=server, scope=smart_scope)
    elif user:
        from ..client.auth import BasicAuth

        password = os.environ.get("FHIR_AT_PASSWORD")
        if not password:
            raise ConfigError("basic auth: set the password in FHIR_AT_PASSWORD")
        auth = BasicAuth(user, password)
    elif token_file or os.environ.get("FHIR_AT_TOKEN"):
        from ..client.auth import bearer_from_env_or_file

        auth = bearer_from_env_or_file(path=token_file)
    return FhirClient(server, auth=auth, timeout=(10.0, timeout))


def server_kwargs(kwargs: dict) -> dict:
    """Pops the server options out of a command's keyword arguments."""
    names = ("server", "token_file", "user", "smart_client_id", "smart_key", "smart_scope", "timeout")
    return {n: kwargs.pop(n) for n in names}
