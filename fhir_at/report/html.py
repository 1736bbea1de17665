"""The written report as a standalone HTML page (Jinja2, autoescaped) from the content view model."""

from __future__ import annotations

from functools import cache

import jinja2

from .content import build

__all__ = ["render_html"]

TEMPLATE = "report.html.j2"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("fhir_at.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(assessment: dict) -> str:
    """The report of ``assessment`` as HTML text (identical for identical input)."""
    return _environment().get_template(TEMPLATE).render(report=build(assessment))
