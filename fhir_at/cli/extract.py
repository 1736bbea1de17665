"""``fhir-at extract``: FHIR Bundle / resources → assessment JSON."""

from __future__ import annotations

import click

from .options import issues_format_option, output_option


@click.command("extract")
@click.argument("source", metavar="FILE|DIR|-")
@output_option
@click.option("--all", "all_", is_flag=True, help="Output a JSON array with every assessment found.")
@issues_format_option
def command(source: str, output: str | None, all_: bool, issues_format: str) -> None:
    """Turn a FHIR Bundle (transaction, collection, searchset), NDJSON or a folder into assessments."""
    from .. import api
    from ..errors import InputError
    from ..issues import Outcome
    from .io import dumps, read_fhir_input, write_output
    from .report import print_outcome

    doc = read_fhir_input(source)
    if all_:
        results = api.extract_all(doc)
        outcome = Outcome.of(i for _, o in results for i in o.issues)
        result = [a for a, _ in results]
        failed = any(a is None for a in result)
    else:
        a, outcome = api.extract(doc)
        result, failed = a, a is None
    if failed:
        raise InputError(f"{source}: {len(outcome.errors)} error(s); nothing written", outcome.issues)
    print_outcome(outcome, issues_format, source=source)
    write_output(dumps(result), output)
    if output and output != "-":
        n = len(result) if all_ else 1
        click.echo(f"wrote {output}: {n} assessment{'s' if n != 1 else ''}", err=True)
