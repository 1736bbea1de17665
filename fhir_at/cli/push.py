"""``fhir-at push``: check and send assessments or transaction Bundles to a FHIR server."""

from __future__ import annotations

import click

from .options import issues_format_option
from .server_options import server_kwargs, server_options


@click.command("push")
@click.argument("sources", nargs=-1, required=True, metavar="FILE...")
@server_options
@click.option("--force", is_flag=True, help="Push a Bundle even when its checks find errors.")
@click.option("--queue", is_flag=True, help="Record in the outbox first; `fhir-at outbox run` delivers.")
@click.option("--update-create/--no-update-create", default=None,
              help="Whether the server accepts PUT with a new client-chosen id (default: as its "
                   "CapabilityStatement says); used for types it cannot search by identifier.")
@click.option("--no-pdf", is_flag=True, help="Embed only the HTML report.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@issues_format_option
def command(sources, force, queue, update_create, no_pdf, fmt, issues_format, **kwargs) -> None:
    """Check and push assessments (converted first) or transaction Bundles. Every entry is a
    conditional create, so pushing the same assessment twice creates nothing new."""
    from .. import api
    from ..errors import FhirAtError, InputError, TransportError
    from .io import dumps, read_json
    from .report import print_outcome

    server = server_kwargs(kwargs)
    client = None if queue else _client(server)
    failed = 0
    results = []
    for source in sources:
        try:
            doc = read_json(source)
        except FhirAtError as exc:
            print_outcome(exc.outcome, issues_format, source=source)
            click.echo(f"{source}: {exc.message}", err=True)
            failed += 1
            continue
        bundle, outcome = api.bundle_for_push(doc, force=force, pdf=not no_pdf)
        print_outcome(outcome, issues_format, source=source)
        if bundle is None:
            click.echo(f"{source}: not pushed ({len(outcome.errors)} error(s))", err=True)
            failed += 1
            continue
        if queue:
            from ..client.outbox import enqueue_for_push

            item = enqueue_for_push(server["server"], bundle)
            click.echo(f"{source}: queued as {item} (deliver with: fhir-at outbox run --server …)", err=True)
            results.append({"source": source, "queued": item})
            continue
        from ..client.push import push_bundle

        try:
            report = push_bundle(client, bundle, update_create=update_create)
        except TransportError as exc:
            print_outcome(exc.outcome, issues_format, source=source)
            raise TransportError(f"{source}: {exc.message} — nothing was lost: retry, or push with "
                                 "--queue to keep it in the outbox") from None
        print_outcome(type(outcome)(report.issues), issues_format, source=source)
        results.append({"source": source, "mode": report.mode, "entries": [
            {"resourceType": e.resource_type, "outcome": e.outcome, "id": e.id} for e in report.entries]})
        if fmt == "text":
            for e in report.entries:
                click.echo(f"{e.outcome:8} {e.resource_type}/{e.id or '?'}")
            counts = ", ".join(f"{n} {k}" for k, n in report.counts().items())
            click.echo(f"{source}: pushed to {client.base} as a {report.mode} ({counts})", err=True)
        if not report.ok:
            failed += 1
    if fmt == "json":
        click.echo(dumps(results).decode(), nl=False)
    if failed:
        raise InputError(f"{failed} of {len(sources)} input(s) not pushed")


def _client(server: dict):
    from .server_options import make_client

    return make_client(**server)
