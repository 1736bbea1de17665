"""The written report as PDF (fpdf2, core Helvetica font), drawn from the view model of ``content``.

The output is deterministic: the creation date is the signature time (else the end of the
session), fpdf2 derives the file /ID from the content and that date, and no other metadata varies.
Every page carries the patient banner (name and birth date) at the top and "Page n of N" below.
"""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF, FontFace, XPos, YPos
from fpdf import __version__ as _FPDF_VERSION

from .. import __version__ as _FHIR_AT_VERSION
from .content import build
from .transliteration import ENCODING, to_pdf_text as _t

__all__ = ["render_pdf"]

_FONT = "Helvetica"
_MARGIN = 15.0
_LINE = 4.6           # line height of body text (mm)
_BODY_PT = 9.5
_TABLE_PT = 8.5
_TABLE_LINE = 3.9     # line height in table cells (mm)
_CELL_PADDING = (0.9, 1.2)  # top/bottom, left/right (mm)
_ROW_LINES = 50       # most lines of a table row: a taller row would not fit on a page
_INK = (33, 37, 41)
_MUTED = (100, 106, 112)
_ACCENT = (31, 78, 121)
_RULE = (170, 178, 186)
_HEADING_FILL = (225, 232, 240)
_GROUP_FILL = (243, 246, 249)
_HEADINGS = FontFace(emphasis="BOLD", fill_color=_HEADING_FILL)
_GROUP = FontFace(emphasis="BOLD", fill_color=_GROUP_FILL)


class _ReportPDF(FPDF):
    """Letter-size pages with the patient banner on top and the page number at the bottom."""

    def __init__(self, banner: dict, identifier: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="letter")
        self._banner = (_t(banner["name"]), _t(banner["suffix"]))
        self._identifier = _t(identifier)
        self.core_fonts_encoding = ENCODING
        self.c_margin = 0  # text starts at the margins; table cells have their own padding
        self.set_margins(_MARGIN, 16, _MARGIN)
        self.set_auto_page_break(True, margin=16)

    def header(self) -> None:
        self.set_font(_FONT, "", 8)
        self.set_text_color(*_MUTED)
        self.set_y(7)
        id_width = self.get_string_width(self._identifier) + 4
        name, suffix = self._banner
        name = _fit(self, name, self.epw - id_width - self.get_string_width(suffix))
        self.cell(self.epw - id_width, 4, name + suffix)
        self.cell(id_width, 4, self._identifier, align="R")
        self.set_draw_color(*_RULE)
        self.line(self.l_margin, 11.5, self.w - self.r_margin, 11.5)
        self.set_y(16)
        self.set_text_color(*_INK)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(_FONT, "", 8)
        self.set_text_color(*_MUTED)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(*_INK)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` cut to ``width`` with an ellipsis (for the one-line page banner only)."""
    width = max(width, 20.0)
    if pdf.get_string_width(text) <= width:
        return text
    width -= pdf.get_string_width("...")
    used = 0.0
    for end, char in enumerate(text):
        used += pdf.get_string_width(char)
        if used > width:
            return text[:end].rstrip() + "..."
    return text


def _heading(pdf: FPDF, text: str) -> None:
    if pdf.will_page_break(22):  # keep a heading with the start of its section
        pdf.add_page()
    pdf.ln(2.5)
    pdf.set_font(_FONT, "B", 11.5)
    pdf.set_text_color(*_ACCENT)
    pdf.set_draw_color(*_ACCENT)
    pdf.cell(0, 6.5, _t(text), border="B", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)
    pdf.ln(1.5)


def _subheading(pdf: FPDF, text: str) -> None:
    if pdf.will_page_break(16):
        pdf.add_page()
    pdf.ln(1)
    pdf.set_font(_FONT, "B", 10)
    pdf.multi_cell(0, 5.5, _t(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _wrap(pdf: FPDF, text: str, first: float, width: float) -> list[str]:
    """``text`` broken into lines at spaces: the first line ``first`` wide, the others ``width``.

    Greedy and linear in the text: fpdf2's own line breaker (``write``/``multi_cell``) re-measures
    the whole line at every character, which made it most of the time of a report.
    """
    measure = pdf.get_string_width
    space = measure(" ")
    lines: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    for paragraph in text.split("\n"):
        line, used = "", 0.0
        available = first if not lines else width
        for word in paragraph.split(" "):
            size = measure(word)
            if line and used + space + size > available:
                lines.append(line)
                line, used, available = "", 0.0, width
            if line:
                line, used = f"{line} {word}", used + space + size
                continue
            if size > available:  # a word longer than a line: split it between characters
                piece, used = "", 0.0
                for char in word:
                    char_size = measure(char)
                    if piece and used + char_size > available:
                        lines.append(piece)
                        piece, used, available = "", 0.0, width
                    piece, used = piece + char, used + char_size
                line = piece
                continue
            line, used = word, size
        lines.append(line)
    return lines


def _lines(pdf: FPDF, lines: list[str], indent: float = 0.0) -> None:
    """One cell per line (the first after ``indent``), each starting a new line after it."""
    for line in lines:
        pdf.set_x(pdf.l_margin + indent)
        pdf.cell(pdf.w - pdf.r_margin - pdf.get_x(), _LINE, line,
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        indent = 0.0


def _fields(pdf: FPDF, rows: list[list[str]]) -> None:
    """``Label: value`` lines; a long value wraps back to the left margin."""
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for label, value in rows:
        label = _t(f"{label}: ")
        pdf.set_font(_FONT, "B", _BODY_PT)
        label_width = pdf.get_string_width(label)
        if pdf.will_page_break(_LINE):
            pdf.add_page()
        pdf.set_x(pdf.l_margin)
        pdf.cell(label_width, _LINE, label)
        pdf.set_font(_FONT, "", _BODY_PT)
        _lines(pdf, _wrap(pdf, _t(value), width - label_width, width), label_width)


def _text(pdf: FPDF, text: str) -> None:
    pdf.set_font(_FONT, "", _BODY_PT)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    _lines(pdf, _wrap(pdf, _t(text), width, width))


def _row_parts(pdf: FPDF, cells: list[str], inner_widths: list[float]) -> list[list[str]]:
    """The cells of one row, split into several rows when it would not fit on one page.

    fpdf2 refuses a table row taller than a page; such a row continues in the next rows instead,
    each cell carrying the next ``_ROW_LINES`` of its own lines.
    """
    rough = max(pdf.get_string_width(c) / w + c.count("\n") for c, w in zip(cells, inner_widths))
    if rough < _ROW_LINES / 2:
        return [cells]
    wrapped = [_wrap(pdf, c, w, w) for c, w in zip(cells, inner_widths)]
    count = max(len(lines) for lines in wrapped)
    return [
        ["\n".join(lines[start:start + _ROW_LINES]) for lines in wrapped]
        for start in range(0, count, _ROW_LINES)
    ]


def _table(pdf: FPDF, block: dict) -> None:
    columns = block["columns"]
    widths = block["widths"]
    width = pdf.epw * sum(widths) / 100
    inner_widths = [width * w / sum(widths) - 2 * _CELL_PADDING[1] for w in widths]
    pdf.set_font(_FONT, "", _TABLE_PT)
    pdf.set_draw_color(*_RULE)
    pdf.ln(0.5)
    with pdf.table(
        width=width,
        col_widths=widths,
        align="LEFT",
        text_align="LEFT",
        v_align="TOP",
        line_height=_TABLE_LINE,
        padding=_CELL_PADDING,
        borders_layout="HORIZONTAL_LINES",
        headings_style=_HEADINGS,
    ) as table:
        heading = table.row()
        for column in columns:
            heading.cell(_t(column))
        for row in block["rows"]:
            if "group" in row:
                table.row().cell(_t(row["group"]), colspan=len(columns), style=_GROUP)
                continue
            for part in _row_parts(pdf, [_t(c) for c in row["cells"]], inner_widths):
                line = table.row()
                for cell in part:
                    line.cell(cell)
    pdf.ln(1.5)


_BLOCKS = {
    "fields": lambda pdf, block: _fields(pdf, block["rows"]),
    "text": lambda pdf, block: _text(pdf, block["text"]),
    "subheading": lambda pdf, block: _subheading(pdf, block["text"]),
    "table": _table,
}


def _section(pdf: FPDF, section: dict) -> None:
    _heading(pdf, section["heading"])
    for block in section["blocks"]:
        _BLOCKS[block["kind"]](pdf, block)


def _header(pdf: FPDF, sections: list[dict]) -> None:
    """The patient, encounter, clinician, organization, payer and session in two columns."""
    gap = 8.0
    column = (pdf.epw - gap) / 2
    left, right = pdf.l_margin, pdf.r_margin
    for i in range(0, len(sections), 2):
        top = pdf.get_y()
        bottom = top
        for j, section in enumerate(sections[i:i + 2]):
            x = left + j * (column + gap)
            pdf.set_left_margin(x)
            pdf.set_right_margin(pdf.w - x - column)
            pdf.set_xy(x, top)
            _section(pdf, section)
            bottom = max(bottom, pdf.get_y())
        pdf.set_left_margin(left)
        pdf.set_right_margin(right)
        pdf.set_xy(left, bottom)


def _document(view: dict) -> _ReportPDF:
    meta = view["metadata"]
    pdf = _ReportPDF(view["banner"], view["identifier"])
    pdf.set_title(meta["title"])  # metadata strings are not font text: fpdf2 writes UTF-16
    pdf.set_author(meta["author"])
    pdf.set_subject(meta["subject"])
    pdf.set_keywords(meta["keywords"])
    pdf.set_creator(f"fhir-at {_FHIR_AT_VERSION}")
    pdf.set_producer(f"fpdf2 {_FPDF_VERSION}")
    pdf.set_lang("en-US")
    pdf.set_creation_date(datetime.fromisoformat(meta["created"]))
    pdf.add_page()
    pdf.set_font(_FONT, "B", 16)
    pdf.set_text_color(*_ACCENT)
    pdf.multi_cell(0, 8, _t(view["title"]), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)
    if view["document_type"]:
        pdf.set_font(_FONT, "", 10)
        pdf.set_text_color(*_MUTED)
        pdf.cell(0, 5, _t(view["document_type"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*_INK)
    _header(pdf, view["header"])
    for section in view["sections"]:
        _section(pdf, section)
    return pdf


def render_pdf(assessment: dict) -> bytes:
    """The written report of ``assessment`` as PDF bytes (identical for identical input)."""
    return bytes(_document(build(assessment)).output())
