"""Text for the PDF core fonts, which can only show the Windows-1252 (WinAnsi) repertoire.

Characters of that repertoire (Latin-1 plus the typographic punctuation – — ‘ ’ “ ” • … €) pass
unchanged, after NFC composition; others are transliterated: NFKD with combining marks stripped
(``Ż`` → ``Z``), a few letters without a decomposition (``Ł`` → ``L``) and punctuation
(``−`` → ``-``). Invisible format characters are dropped and anything else becomes ``?``.
The HTML report keeps the original text.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["ENCODING", "to_pdf_text"]

ENCODING = "cp1252"
"""Encoding of the core-font text; fpdf2 declares the core fonts with /WinAnsiEncoding."""

_REPLACEMENTS = {
    # letters with no canonical decomposition
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "ĸ": "k",
    "Ŧ": "T", "ŧ": "t", "Ŋ": "N", "ŋ": "n", "Ə": "E", "ə": "e", "Ɖ": "D", "ɖ": "d",
    # punctuation and symbols outside Windows-1252
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2015": "—", "\u2212": "-", "\u2043": "-",
    "\u2032": "'", "\u2033": '"', "\u201b": "'", "\u201f": '"', "\u2027": "·",
    "\u2190": "<-", "\u2192": "->", "\u2194": "<->", "\u21d2": "=>",
    "\u2264": "<=", "\u2265": ">=", "\u2260": "!=", "\u2248": "~", "\u221e": "inf",
    "\u2713": "v", "\u2714": "v", "\u2717": "x", "\u2718": "x", "\u25cf": "•", "\u25e6": "o",
}
_SKIN_TONES = range(0x1F3FB, 0x1F400)


def _encodable(text: str) -> bool:
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


@lru_cache(maxsize=1024)
def _char(ch: str) -> str:
    if ch in _REPLACEMENTS:
        return _REPLACEMENTS[ch]
    category = unicodedata.category(ch)
    if category in ("Mn", "Me", "Cf") or ord(ch) in _SKIN_TONES:
        return ""  # combining marks, zero-width joiners, variation selectors, emoji modifiers
    if category == "Zs":
        return " "
    folded = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return folded if folded and _encodable(folded) else "?"


def to_pdf_text(text: str) -> str:
    """``text`` restricted to what the PDF core fonts can show (see the module docstring)."""
    if _encodable(text):
        return text
    text = unicodedata.normalize("NFC", text)  # e + combining acute -> é, which the font has
    return "".join(ch if _encodable(ch) else _char(ch) for ch in text)
