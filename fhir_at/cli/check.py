"""``fhir-at check``: every problem of an assessment and of its coding for billing, without converting."""

from __future__ import annotations

import click

from .billing_options import billing_options, claim_context
from .options import issues_format_option


@click.command("check")
@click.argument("source", metavar="FILE|-")
@billing_options
@click.option("--no-billing", is_flag=True, help="Check only the assessment itself, not its billing.")
@click.option("--sources", is_flag=True, help="Print the source (document, section or URL) of each rule.")
@issues_format_option
def command(source: str, no_billing: bool, sources: bool, issues_format: str, **billing) -> None:
    """Check an assessment: schema, ICD-10-CM, HCPCS, units, times — and, unless --no-billing, the
    coding and documentation of 97755 for the payer (8-minute rule, modifiers, NCCI, ICD-10-CM on
    the date of service, documentation elements). Exit 1 on errors."""
    from .. import api
    from ..errors import InputError
    from .io import read_json
    from .report import print_outcome, summary

    doc = read_json(source)
    outcome = api.check_assessment(doc, None if no_billing else claim_context(**billing))
    print_outcome(outcome, issues_format, source=source, sources=sources)
    if not outcome.ok:
        raise InputError(f"{source}: {summary(outcome)}")
    click.echo(f"{source}: ok ({summary(outcome)})", err=True)
