"""``fhir-at validate``: FHIR R4 resources and bundles → OperationOutcomes."""

from __future__ import annotations

import sys

import click


@click.command("validate")
@click.argument("sources", nargs=-1, required=True, metavar="PATH...")
@click.option("--ig", "igs", multiple=True, metavar="PKG",
              help="An extra package: id#version (installed), a package folder, a .tgz, a folder of "
                   "conformance resources or one StructureDefinition file (repeatable).")
@click.option("--profile", "profiles", multiple=True, metavar="CANONICAL[|version]",
              help="Validate each input resource of the profile's type against it (repeatable); "
                   "meta.profile claims are always validated.")
@click.option("--must-support", is_flag=True, help="Report absent mustSupport elements (information).")
@click.option("--no-fhir-at-profiles", "no_own", is_flag=True,
              help="Do not load fhir-at's own package (its profiles and code systems) by default.")
@click.option("--level", type=click.Choice(["error", "warning", "information"]), default="information",
              show_default=True, help="Show issues of this severity or worse (the exit code counts errors anyway).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Validate with N processes.")
def command(sources, igs, profiles, must_support, no_own, level, fmt, jobs) -> None:
    """Validate JSON resources or bundles, NDJSON, folders (recursive) or - (stdin) against FHIR R4,
    the profiles they claim in meta.profile and the --profile ones. --ig takes a package (id#version,
    folder, .tgz) or a StructureDefinition file. Exit 0 when no issue is an error, 1 when some are,
    3 when a file, a package or a --profile cannot be found."""
    from ..errors import ConfigError, InputError
    from ..validation.inputs import iter_raw, parse
    from ..validation.packages import R4_CORE
    from ..validation.reporting import Reporter
    from ..validation.validator import Validator

    own = () if no_own else (_own_package(),)
    validator = Validator((R4_CORE, *igs, *own), profiles=profiles, must_support=must_support)
    validator.definitions  # noqa: B018 - a missing package is a configuration error (exit 3), up front
    unknown = validator.unknown_profiles()
    if unknown:
        raise ConfigError(f"profile {', '.join(unknown)} is not in the loaded packages: add its package with --ig")
    tty = sys.stderr.isatty()
    reporter = Reporter(fmt, color=tty and sys.stdout.isatty(), progress=tty, level=level)
    raws = iter_raw(list(sources))
    if jobs > 1:
        from ..validation.parallel import validate_in_parallel

        for rendered in validate_in_parallel(validator, raws, jobs, fmt, reporter.color, level=level):
            reporter.add_rendered(*rendered)
    else:
        for raw in raws:
            doc = parse(raw)
            reporter.add(doc, validator.validate(doc.resource) if doc.resource is not None else None)
    reporter.finish()
    if reporter.errors:
        raise InputError(f"{reporter.errors} error(s) in {reporter.with_errors} of {reporter.count} input(s)")


def _own_package() -> str:
    from ..ig.runtime import package_folder

    return package_folder()
