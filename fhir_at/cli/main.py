"""Entry point of ``fhir-at``. Exit codes: 0 ok, 1 the input has errors, 2 usage, 3 I/O or
configuration, 4 internal error (a bug: please report it)."""

from __future__ import annotations

import sys

import click

from .. import __version__

_COMMANDS = {
    "check": "fhir_at.cli.check",
    "convert": "fhir_at.cli.convert",
    "extract": "fhir_at.cli.extract",
    "ig": "fhir_at.cli.ig",
    "outbox": "fhir_at.cli.outbox",
    "push": "fhir_at.cli.push",
    "packages": "fhir_at.cli.packages",
    "validate": "fhir_at.cli.validate",
    "pull-conditions": "fhir_at.cli.pull_conditions",
    "serve": "fhir_at.cli.serve",
    "snapshot": "fhir_at.cli.snapshot",
}


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (fast start-up)."""

    def list_commands(self, ctx):
        return sorted(_COMMANDS)

    def get_command(self, ctx, name):
        if name not in _COMMANDS:
            return None
        from importlib import import_module

        return import_module(_COMMANDS[name]).command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fhir-at")
def cli() -> None:
    """FHIR R4 adapter for the assistive technology assessment (CPT 97755)."""


def main(argv: list[str] | None = None) -> int:
    from ..errors import FhirAtError

    try:
        cli.main(args=argv, prog_name="fhir-at", standalone_mode=False)
    except FhirAtError as exc:
        from .report import print_outcome

        print_outcome(exc.outcome, _issues_format(argv))
        print(f"fhir-at: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except click.exceptions.Abort:
        print("fhir-at: aborted", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        print(f"fhir-at: internal error ({type(exc).__name__}: {exc}); please report it",
              file=sys.stderr)
        return 4
    return 0


def _issues_format(argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    for i, a in enumerate(args):
        if a == "--issues" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--issues="):
            return a.split("=", 1)[1]
    return "text"


if __name__ == "__main__":
    sys.exit(main())
