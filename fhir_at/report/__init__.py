"""The written report of an assistive technology assessment (CPT 97755), as HTML or PDF.

Both renderers draw from one view model (:mod:`fhir_at.report.content`) and are deterministic:
the same assessment gives byte-identical output. Jinja2 and fpdf2 are imported on first use, so
importing this package stays cheap.
"""

__all__ = ["render_html", "render_pdf"]


def render_html(assessment: dict) -> str:
    """The report of ``assessment`` (internal format, schema-valid) as a standalone HTML page."""
    from .html import render_html as render

    return render(assessment)


def render_pdf(assessment: dict) -> bytes:
    """The report of ``assessment`` (internal format, schema-valid) as PDF bytes."""
    from .pdf import render_pdf as render

    return render(assessment)
