"""``fhir-at convert``: assessment JSON → FHIR R4 transaction Bundle."""

from __future__ import annotations

import click

from .billing_options import billing_options, claim_context
from .options import issues_format_option, output_option


@click.command("convert")
@click.argument("source", metavar="FILE|-")
@output_option
@click.option("--no-pdf", is_flag=True, help="Embed only the HTML report (faster); no PDF attachment.")
@click.option("--claim", is_flag=True,
              help="Add a professional Claim (97755 units, modifiers, diagnoses); billing errors then stop.")
@billing_options
@issues_format_option
def command(source: str, output: str | None, no_pdf: bool, claim: bool, issues_format: str, **billing) -> None:
    """Convert an assessment (JSON) into a FHIR R4 transaction Bundle.

    The billing checks run too: without --claim their errors are shown as warnings."""
    from .. import api
    from ..errors import InputError
    from .io import dumps, read_json, write_output
    from .report import print_outcome

    doc = read_json(source)
    bundle, outcome = api.convert(doc, pdf=not no_pdf, billing=claim_context(**billing), claim=claim)
    if bundle is None:
        raise InputError(f"{source}: the assessment has {len(outcome.errors)} error(s); nothing written",
                         outcome.issues)
    outcome = type(outcome)(tuple(i for i in outcome.issues if i.severity.value != "information"))
    print_outcome(outcome, issues_format, source=source)
    write_output(dumps(bundle), output)
    if output and output != "-":
        from collections import Counter

        counts = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
        summary = ", ".join(f"{n} {t}" for t, n in counts.items())
        click.echo(f"wrote {output}: transaction Bundle of {len(bundle['entry'])} entries ({summary})", err=True)
