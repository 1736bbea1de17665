"""``fhir-at packages``: install and list FHIR packages in the standard cache."""

from __future__ import annotations

import click


@click.group("packages")
def command() -> None:
    """FHIR packages (NPM format) in the cache (~/.fhir/packages or $FHIR_AT_PACKAGE_CACHE)."""


@command.command("install")
@click.argument("what", metavar="FILE.tgz|ID#VERSION|r4-core")
@click.option("--registry", metavar="URL", envvar="FHIR_AT_PACKAGE_REGISTRY",
              help="FHIR package registry for ID#VERSION (or $FHIR_AT_PACKAGE_REGISTRY).")
def install(what: str, registry: str | None) -> None:
    """Install a package from a .tgz file, from a registry, or the R4 core (r4-core)."""
    from pathlib import Path

    from ..errors import ConfigError
    from ..validation import packages

    if what == "r4-core":
        pkg = packages.install_r4_core()
    elif Path(what).is_file():
        pkg = packages.install_tgz(Path(what))
    elif "#" in what:
        if not registry:
            raise ConfigError(f"{what}: give --registry URL (or FHIR_AT_PACKAGE_REGISTRY) to download it, "
                              "or install it from a .tgz file")
        pkg = packages.install_from_registry(what, registry)
    else:
        raise click.UsageError(f"{what!r}: expected a .tgz file, ID#VERSION or r4-core")
    click.echo(f"installed {pkg.ref} in {pkg.folder.parent}", err=True)


@command.command("list")
def list_packages() -> None:
    """The packages installed in the cache."""
    from ..validation.packages import cache_root

    root = cache_root()
    for folder in sorted(root.glob("*#*")) if root.is_dir() else []:
        if (folder / "package" / "package.json").is_file():
            click.echo(folder.name)
