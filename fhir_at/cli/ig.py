"""``fhir-at ig``: the implementation guide's FHIR package (profiles, terminology, examples)."""

from __future__ import annotations

import click


@click.group("ig")
def command() -> None:
    """The implementation guide of fhir-at as an NPM-format FHIR package."""


@command.command("build")
@click.option("-o", "--output", metavar="DIR|FILE.tgz", default=None,
              help="A .tgz file, or a folder to write package/ into "
                   "(default: fhir.at.assessment-<version>.tgz here).")
@click.option("--examples", "examples_dir", metavar="DIR", default=None,
              help="The assessments to make the examples from (default: examples/ of the source checkout).")
@click.option("--date", metavar="YYYY-MM-DD", default=None,
              help="Date of the conformance resources (default: $SOURCE_DATE_EPOCH or the release date).")
def build(output: str | None, examples_dir: str | None, date: str | None) -> None:
    """Build the package fhir.at.assessment: profiles with generated snapshots, CodeSystems and
    ValueSets generated from mappings/, an ImplementationGuide, a CapabilityStatement and examples
    made by the mappers. The same inputs give the same bytes. Exit 1 when a profile's snapshot or an
    example cannot be made, 3 on I/O errors."""
    import re
    from pathlib import Path

    from ..ig.package import build as build_package
    from ..ig.package import write
    from ..issues import Outcome
    from .report import print_outcome

    if date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise click.BadParameter(f"{date!r} is not a date YYYY-MM-DD", param_hint="--date")
    from ..ig_examples import examples, source_examples

    made = examples(Path(examples_dir) if examples_dir else source_examples())
    pkg = build_package(example_resources=[res for _, res in made], date=date)
    print_outcome(Outcome.of(pkg.warnings))
    target = Path(output) if output else Path(f"{pkg.name}-{pkg.version}.tgz")
    write(pkg, target)
    what = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in pkg.counts.items())
    where = target if target.suffix == ".tgz" else target / "package"
    click.echo(f"wrote {where}: package {pkg.ref} ({what})", err=True)
