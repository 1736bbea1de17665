"""``fhir-at snapshot``: a StructureDefinition with its snapshot generated from its differential."""

from __future__ import annotations

import click


@click.command("snapshot")
@click.argument("source", metavar="SD.json")
@click.option("--ig", "igs", multiple=True, metavar="PKG",
              help="A package holding the base chain: id#version (installed), a folder or a .tgz (repeatable).")
@click.option("-o", "--output", metavar="FILE", help="Write the StructureDefinition here (default: stdout).")
def command(source, igs, output) -> None:
    """Print the StructureDefinition SD.json with its snapshot generated from its base chain
    (R4 core and the --ig packages). Issues go to stderr. Exit 1 when the profile is broken
    (missing or circular base, a differential element that cannot be placed), 3 on I/O errors."""
    from ..errors import InputError
    from ..issues import Outcome, Severity
    from ..validation.packages import R4_CORE, PackageSet
    from ..validation.snapshot import with_snapshot
    from .io import dumps, read_json, write_output
    from .report import print_outcome

    sd = read_json(source)
    if not isinstance(sd, dict) or sd.get("resourceType") != "StructureDefinition":
        raise InputError(f"{source} is not a StructureDefinition")
    definitions = PackageSet.of([R4_CORE, *igs])
    out, issues = with_snapshot(sd, definitions)
    errors = [i for i in issues if i.severity in (Severity.ERROR, Severity.FATAL)]
    if "snapshot" in out:
        write_output(dumps(out), output)
    if errors:
        raise InputError(f"{source}: the snapshot of this profile cannot be generated completely", issues)
    if issues:
        print_outcome(Outcome.of(issues))
