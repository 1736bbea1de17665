"""``fhir-at outbox``: list the queued Bundles, deliver them (``fhir-at push --queue`` queues).

The outbox file is ``$FHIR_AT_OUTBOX`` or ``~/.local/state/fhir-at/outbox.sqlite``."""

from __future__ import annotations

import click

from .server_options import server_kwargs, server_options

_COLUMNS = (("id", "ID"), ("created", "CREATED"), ("server", "SERVER"), ("key", "KEY"), ("state", "STATE"),
            ("attempts", "ATTEMPTS"), ("nextAttempt", "NEXT ATTEMPT"), ("lastError", "LAST ERROR"))
_ERROR_WIDTH = 80


@click.group("outbox")
def command() -> None:
    """The outbox: Bundles waiting to be delivered to a FHIR server (see push --queue)."""


@command.command("list")
@click.option("--state", type=click.Choice(["pending", "in-flight", "delivered", "failed"]), default=None,
              help="Only the items in this state.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_items(state: str | None, fmt: str) -> None:
    """List the items (never their Bundles): id, created, server, key, state, attempts, next attempt,
    last error."""
    from ..client.outbox import Outbox
    from .io import dumps

    rows = [i.to_dict() for i in Outbox().list(state)]
    if fmt == "json":
        click.echo(dumps(rows).decode(), nl=False)
        return
    if not rows:
        click.echo("the outbox is empty" if state is None else f"no {state} item", err=True)
        return
    click.echo(_table(rows))


def _table(rows: list[dict]) -> str:
    cells = [[title for _, title in _COLUMNS]]
    for r in rows:
        error = r["lastError"] or ""
        if len(error) > _ERROR_WIDTH:
            error = error[:_ERROR_WIDTH - 1] + "…"
        cells.append([str(r[k]) if r[k] is not None else "-" for k, _ in _COLUMNS[:-1]] + [error or "-"])
    widths = [max(len(row[c]) for row in cells) for c in range(len(_COLUMNS) - 1)]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)) + "  " + row[-1] for row in cells)


@command.command("run")
@server_options
@click.option("--max-items", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop after N deliveries.")
@click.option("--once", is_flag=True,
              help="One attempt at each item due now; no waiting for the retries' backoff.")
@click.option("--update-create/--no-update-create", default=None,
              help="Whether the server accepts PUT with a new client-chosen id (default: as its "
                   "CapabilityStatement says); see fhir-at push.")
def run(max_items: int | None, once: bool, update_create: bool | None, **kwargs) -> None:
    """Deliver the pending items queued for --server (items for other servers are left alone).

    Transient failures are retried with backoff (3 attempts per item in one run); a Bundle the
    server refuses (4xx) fails for good. Exit 0 all delivered, 1 some failed, 3 some still pending."""
    import time

    from ..client.outbox import Outbox
    from ..client.push import push_bundle
    from ..errors import InputError, TransportError
    from .server_options import make_client

    server = server_kwargs(kwargs)
    client = make_client(**server)
    outbox = Outbox()

    def deliver(item):
        report = push_bundle(client, item.bundle, update_create=update_create)
        click.echo(f"{item.id}: delivered ({_counts(report)})", err=True)
        return report

    def sleep(seconds: float) -> None:
        click.echo(f"waiting {seconds:.0f} s for the next attempt", err=True)
        time.sleep(seconds)

    summary = outbox.run(deliver, server=client.base, max_items=max_items, tries=1 if once else 3,
                         patience=0.0 if once else 300.0, sleep=sleep)
    click.echo(f"{client.base}: {len(summary.delivered)} delivered, {len(summary.failed)} failed, "
               f"{summary.remaining} pending", err=True)
    if summary.failed:
        raise InputError(f"{len(summary.failed)} item(s) refused by the server; see: "
                         "fhir-at outbox list --state failed")
    if summary.remaining:
        raise TransportError(f"{summary.remaining} item(s) still pending; run again later "
                             "(fhir-at outbox list --state pending)")


def _counts(report) -> str:
    counts = report.counts() if hasattr(report, "counts") else {}
    return ", ".join(f"{n} {k}" for k, n in counts.items()) or "no entries"
