"""Options shared by several commands."""

from __future__ import annotations

import click

output_option = click.option(
    "-o", "--output", metavar="OUT", default=None,
    help="Write here (atomically) instead of standard output.")

issues_format_option = click.option(
    "--issues", "issues_format", type=click.Choice(["text", "oo"]), default="text", show_default=True,
    help="How problems are printed on standard error: text lines or an OperationOutcome.")
