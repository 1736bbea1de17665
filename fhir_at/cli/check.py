"""``fhir-at check``: report every problem of an assessment without converting it."""

from __future__ import annotations

import click

from .options import issues_format_option


@click.command("check")
@click.argument("source", metavar="FILE|-")
@issues_format_option
def command(source: str, issues_format: str) -> None:
    """Check an assessment (schema, ICD-10-CM, HCPCS, units, times); exit 1 on errors."""
    from .. import api
    from ..errors import InputError
    from .io import read_json
    from .report import print_outcome

    outcome = api.check_assessment(read_json(source))
    if not outcome.ok:
        raise InputError(f"{source}: {len(outcome.errors)} error(s)", outcome.issues)
    print_outcome(outcome, issues_format, source=source)
    click.echo(f"{source}: ok", err=True)
