"""CMS's quarterly NCCI files (practitioner PTP edits and MUEs), read in their published layouts.

The 97755 edit pairs and its MUE are not known to fhir-at: they come only from the files the user
supplies (``--ncci DIR``); nothing here is hard-coded.

Layouts read
------------
*PTP edits, practitioner* (``ccipra-*.txt``, tab-delimited; or a ``.csv`` export of the sheet):
a few copyright/disclaimer lines, then the column header, whose cells are

    Column 1 | Column 2 | *=in existence prior to 1996 | Effective Date |
    Deletion Date *=no data | Modifier 0=not allowed 1=allowed 9=not applicable | PTP Edit Rationale

The header may be split over several rows (``Effective`` / ``Date``, ``Modifier`` / ``0=not
allowed`` / ``1=allowed`` / …), so columns are matched by normalized prefix ("column 1",
"column 2", "effective", "deletion", "modifier", "ptp edit rationale"), and rows with both code
cells empty (header continuation rows, blank lines) are skipped. Dates are YYYYMMDD; a deletion
date of ``*`` (or an empty cell) means the edit has not been deleted.

*MUE, practitioner services* (``.csv``, or tab-delimited ``.txt``): disclaimer line(s), then
``HCPCS/CPT Code | Practitioner Services MUE Values | MUE Adjudication Indicator | MUE Rationale``
(the code header may hold a line break, "HCPCS/\\nCPT Code"; "MUE Value" is accepted too).

Each file is classified by its header, not by its name; a directory may hold several PTP and MUE
files. Spreadsheets (``.xlsx``/``.xls``) are not read: export the sheet as CSV.

Dates of service
----------------
An edit is in force on a date of service ``d`` when ``effective <= d`` and, if it has a deletion
date, ``d < deleted``: the deletion date is taken as the first day the edit no longer applies (so an
edit whose deletion date equals its effective date — CMS's indicator-9 rows — never applies).

Files are streamed record by record; with ``codes`` only the rows that mention a code of interest
are kept, so memory follows the codes, not the file (practitioner PTP files hold ~10^6 rows). Every
row is still checked, so a damaged file is reported wherever the damage is.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import ConfigError
from ..messages import Msg, issue

__all__ = ["PtpEdit", "Mue", "NcciTables", "PTP_COLUMNS", "MUE_COLUMNS"]

#: The published column headers of the practitioner PTP file (for messages; matched by prefix).
PTP_COLUMNS = ("Column 1", "Column 2", "*=in existence prior to 1996", "Effective Date",
               "Deletion Date *=no data", "Modifier 0=not allowed 1=allowed 9=not applicable",
               "PTP Edit Rationale")
#: The published column headers of the practitioner-services MUE file.
MUE_COLUMNS = ("HCPCS/CPT Code", "Practitioner Services MUE Values", "MUE Adjudication Indicator",
               "MUE Rationale")

_READABLE = {".txt": "\t", ".csv": ","}
_SPREADSHEETS = {".xlsx", ".xls", ".xlsm"}
_HEADER_SEARCH_ROWS = 50
_CODE = re.compile(r"^[A-Z0-9]{5}$")
_MODIFIER_INDICATORS = frozenset({"0", "1", "9"})


@dataclass(frozen=True, slots=True)
class PtpEdit:
    """One procedure-to-procedure edit: ``column2`` is not paid with ``column1`` on one date.

    ``modifier_indicator``: "0" no modifier bypasses the edit; "1" an NCCI PTP-associated modifier
    (59, XE, XS, XP, XU, …) may, when the record supports it; "9" not applicable (no edit applies).
    ``source`` is "file:line" of the row it came from.
    """

    column1: str
    column2: str
    effective: date
    deleted: date | None
    modifier_indicator: str
    rationale: str
    source: str

    def in_force(self, on: date) -> bool:
        """True on dates from ``effective`` up to, not including, ``deleted``."""
        return self.effective <= on and (self.deleted is None or on < self.deleted)


@dataclass(frozen=True, slots=True)
class Mue:
    """A medically unlikely edit: at most ``value`` units of ``code`` (per line or per date of
    service, as ``adjudication`` says, e.g. "3 Date of Service Edit: Clinical")."""

    code: str
    value: int
    adjudication: str
    rationale: str
    source: str


class NcciTables:
    """PTP edits and MUEs loaded from CMS's quarterly files (see :meth:`load`)."""

    def __init__(self, edits: Iterable[PtpEdit] = (), mues: Iterable[Mue] = (), *,
                 ptp_files: Iterable[str] = (), mue_files: Iterable[str] = ()):
        self._edits: dict[tuple[str, str], list[PtpEdit]] = {}
        for e in edits:
            same = self._edits.setdefault(_pair(e.column1, e.column2), [])
            if not any(_key(e) == _key(o) for o in same):  # the same edit from a .txt and its .csv export
                same.append(e)
        self._mues: dict[str, Mue] = {m.code: m for m in mues}
        self.ptp_files: list[str] = list(ptp_files)
        self.mue_files: list[str] = list(mue_files)

    @property
    def files(self) -> list[str]:
        """Every file read, PTP files first."""
        return self.ptp_files + self.mue_files

    @property
    def edit_count(self) -> int:
        """How many PTP edits were kept (all dates)."""
        return sum(len(v) for v in self._edits.values())

    @property
    def mue_count(self) -> int:
        """How many codes have an MUE."""
        return len(self._mues)

    @classmethod
    def load(cls, path: str | Path | Iterable[str | Path], codes: set[str] | None = None) -> "NcciTables":
        """Read a directory of NCCI files (its ``.txt``/``.csv`` files, not recursively), one file,
        or several. With ``codes``, keep only PTP rows naming one of them in Column 1 or Column 2
        and MUE rows of one of them. Raises :class:`ConfigError` (naming file, line and column) on
        a file that is missing, not in a published layout, or holds a bad value."""
        wanted = None if codes is None else {c.strip().upper() for c in codes}
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        edits: list[PtpEdit] = []
        mues: dict[str, Mue] = {}
        ptp_files: list[str] = []
        mue_files: list[str] = []
        for f in (f for p in paths for f in _files_of(Path(p))):
            records = _records(f)
            kind, columns = _find_header(f, records)
            if kind == "ptp":
                ptp_files.append(str(f))
                edits.extend(_ptp_rows(f, records, columns, wanted))
            else:
                mue_files.append(str(f))
                for m in _mue_rows(f, records, columns, wanted):
                    old = mues.get(m.code)
                    if old is not None and old.value != m.value:
                        raise _error(Msg.NCCI_FILE_VALUE, f, None, None,
                                     f"{m.code} has MUE {m.value} at {m.source} but {old.value} at "
                                     f"{old.source}: give the MUE file of one quarter only")
                    mues.setdefault(m.code, m)
        return cls(edits, mues.values(), ptp_files=ptp_files, mue_files=mue_files)

    def edits_between(self, a: str, b: str, on: date) -> list[PtpEdit]:
        """The PTP edits between codes ``a`` and ``b`` (in either column order) in force on the
        date of service ``on``, including indicator-"9" rows as CMS lists them."""
        found = self._edits.get(_pair(a.strip().upper(), b.strip().upper()), ())
        return [e for e in found if e.in_force(on)]

    def mue(self, code: str) -> Mue | None:
        """The practitioner-services MUE of ``code``, or None when the files hold none."""
        return self._mues.get(code.strip().upper())


# --- files -----------------------------------------------------------------------------------


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _key(e: PtpEdit) -> tuple:
    return e.column1, e.column2, e.effective, e.deleted, e.modifier_indicator


def _files_of(path: Path) -> list[Path]:
    if not path.exists():
        raise ConfigError(f"NCCI files: {path} does not exist")
    if path.is_file():
        return [_readable(path)]
    entries = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    found = [p for p in entries if p.suffix.lower() in _READABLE]
    if not found:
        sheets = [p.name for p in entries if p.suffix.lower() in _SPREADSHEETS]
        hint = (f" (found {', '.join(sheets)}: spreadsheets are not read, export the sheet as CSV)"
                if sheets else "")
        raise ConfigError(f"NCCI files: no .txt or .csv file in {path}{hint}",
                          [issue(Msg.NCCI_FILE_FORMAT, f"no .txt or .csv file{hint}", expression=str(path))])
    return found


def _readable(path: Path) -> Path:
    ext = path.suffix.lower()
    if ext in _SPREADSHEETS:
        raise _error(Msg.NCCI_FILE_FORMAT, path, None, None,
                     f"{ext} spreadsheets are not read: export the sheet as CSV (or use CMS's .txt file)")
    if ext not in _READABLE:
        raise _error(Msg.NCCI_FILE_FORMAT, path, None, None,
                     "not a .txt (tab-delimited) or .csv file")
    return path


def _encoding(path: Path) -> str:
    """UTF-8 when the file starts as UTF-8, else cp1252 (CMS's preambles carry a raw "®")."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Stream a file's records (lists of cells), each with the physical line it ends on."""
    delimiter = _READABLE[path.suffix.lower()]
    try:
        with path.open(encoding=_encoding(path), errors="replace", newline="") as fh:
            if delimiter == "\t":  # CMS's text files are not quoted: a quote there is just text
                reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            else:
                reader = csv.reader(fh)
            for row in reader:
                yield reader.line_num, row
    except OSError as exc:
        raise ConfigError(f"NCCI files: cannot read {path}: {exc.strerror or exc}") from exc
    except csv.Error as exc:
        raise _error(Msg.NCCI_FILE_LAYOUT, path, None, None, f"not readable as CSV: {exc}") from exc


def _norm(cell: str) -> str:
    s = re.sub(r"\s+", " ", cell.replace("\ufeff", "")).strip().strip('"').strip().lower()
    return re.sub(r"\s*/\s*", "/", s)


# Column keys, the published header each is reported by, and how a header cell is recognised.
_PTP_MATCH = {
    "column1": ("Column 1", lambda c: re.fullmatch(r"column ?1", c) is not None),
    "column2": ("Column 2", lambda c: re.fullmatch(r"column ?2", c) is not None),
    "effective": ("Effective Date", lambda c: c.startswith("effective")),
    "deleted": ("Deletion Date", lambda c: c.startswith("deletion")),
    "modifier": ("Modifier", lambda c: c.startswith("modifier")),
    "rationale": ("PTP Edit Rationale", lambda c: c.startswith("ptp edit rationale") or c == "rationale"),
}
_PTP_REQUIRED = ("column1", "column2", "effective", "deleted", "modifier")
_MUE_MATCH = {
    "code": ("HCPCS/CPT Code", lambda c: c.startswith("hcpcs/cpt code") or c.startswith("cpt/hcpcs code")),
    "value": ("Practitioner Services MUE Values", lambda c: "mue value" in c),
    "adjudication": ("MUE Adjudication Indicator", lambda c: c.startswith("mue adjudication indicator")),
    "rationale": ("MUE Rationale", lambda c: c.startswith("mue rationale")),
}
_MUE_REQUIRED = ("code", "value", "adjudication")


def _columns(cells: list[str], match: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, cell in enumerate(cells):
        for key, (_, test) in match.items():
            if key not in out and test(cell):
                out[key] = i
                break
    return out


def _find_header(path: Path, records: Iterator[tuple[int, list[str]]]) -> tuple[str, dict[str, int]]:
    """Consume records up to and including the column header; classify the file by it."""
    for n, (line, row) in enumerate(records):
        if n >= _HEADER_SEARCH_ROWS:
            break
        cells = [_norm(c) for c in row]
        ptp = _columns(cells, _PTP_MATCH)
        if "column1" in ptp and "column2" in ptp:
            return "ptp", _complete(path, line, ptp, _PTP_MATCH, _PTP_REQUIRED, "PTP", PTP_COLUMNS)
        mue = _columns(cells, _MUE_MATCH)
        if "code" in mue and any("mue" in c for c in cells):
            if "value" in mue and not cells[mue["value"]].startswith("practitioner services mue value"):
                raise _error(Msg.NCCI_FILE_LAYOUT, path, line, mue["value"] + 1,
                             f'column "{row[mue["value"]].strip()}": only the practitioner-services '
                             f'MUE file ("{MUE_COLUMNS[1]}") is read')
            return "mue", _complete(path, line, mue, _MUE_MATCH, _MUE_REQUIRED, "MUE", MUE_COLUMNS)
    raise _error(Msg.NCCI_FILE_LAYOUT, path, None, None,
                 f"no NCCI column header in the first {_HEADER_SEARCH_ROWS} lines; expected a "
                 f"practitioner PTP header ({' | '.join(PTP_COLUMNS)}) or a practitioner-services "
                 f"MUE header ({' | '.join(MUE_COLUMNS)})")


def _complete(path: Path, line: int, found: dict[str, int], match: dict, required: tuple[str, ...],
              kind: str, published: tuple[str, ...]) -> dict[str, int]:
    missing = [match[k][0] for k in required if k not in found]
    if missing:
        raise _error(Msg.NCCI_FILE_LAYOUT, path, line, None,
                     f"{kind} header lacks column(s) {', '.join(repr(m) for m in missing)}; "
                     f"expected {' | '.join(published)}")
    return found


# --- rows ------------------------------------------------------------------------------------


def _cell(path: Path, line: int, row: list[str], columns: dict[str, int], key: str, match: dict) -> str:
    i = columns.get(key)
    if i is None:
        return ""
    if i >= len(row):
        raise _error(Msg.NCCI_FILE_LAYOUT, path, line, i + 1,
                     f'column "{match[key][0]}" is missing (the row has {len(row)} field(s))')
    return row[i].strip().strip('"').strip()


def _ymd(path: Path, line: int, column: int, name: str, text: str) -> date:
    if len(text) == 8 and text.isdigit():
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            pass
    raise _error(Msg.NCCI_FILE_VALUE, path, line, column, f'column "{name}": {text!r} is not a YYYYMMDD date')


def _code(path: Path, line: int, column: int, name: str, text: str) -> str:
    code = text.upper()
    if not _CODE.match(code):
        raise _error(Msg.NCCI_FILE_VALUE, path, line, column,
                     f'column "{name}": {text!r} is not a 5-character HCPCS/CPT code')
    return code


def _ptp_rows(path: Path, records: Iterator[tuple[int, list[str]]], columns: dict[str, int],
              wanted: set[str] | None) -> Iterator[PtpEdit]:
    i1, i2 = columns["column1"], columns["column2"]
    col = lambda key: columns[key] + 1  # noqa: E731
    for line, row in records:
        if not (row[i1].strip() if i1 < len(row) else "") and not (row[i2].strip() if i2 < len(row) else ""):
            continue  # blank line, or a continuation row of a header split over several rows
        get = lambda key: _cell(path, line, row, columns, key, _PTP_MATCH)  # noqa: E731
        c1 = _code(path, line, col("column1"), "Column 1", get("column1"))
        c2 = _code(path, line, col("column2"), "Column 2", get("column2"))
        effective = _ymd(path, line, col("effective"), "Effective Date", get("effective"))
        raw_del = get("deleted")
        deleted = None if raw_del in ("", "*") else _ymd(path, line, col("deleted"), "Deletion Date", raw_del)
        indicator = get("modifier")
        if indicator not in _MODIFIER_INDICATORS:
            raise _error(Msg.NCCI_FILE_VALUE, path, line, col("modifier"),
                         f'column "Modifier": {indicator!r} is not a modifier indicator (0, 1 or 9)')
        if wanted is not None and c1 not in wanted and c2 not in wanted:
            continue
        yield PtpEdit(c1, c2, effective, deleted, indicator, get("rationale"), f"{path.name}:{line}")


def _mue_rows(path: Path, records: Iterator[tuple[int, list[str]]], columns: dict[str, int],
              wanted: set[str] | None) -> Iterator[Mue]:
    for line, row in records:
        if not any(c.strip() for c in row):
            continue
        get = lambda key: _cell(path, line, row, columns, key, _MUE_MATCH)  # noqa: E731
        code = _code(path, line, columns["code"] + 1, "HCPCS/CPT Code", get("code"))
        raw = get("value")
        if not raw.isdigit():
            raise _error(Msg.NCCI_FILE_VALUE, path, line, columns["value"] + 1,
                         f'column "Practitioner Services MUE Values": {raw!r} is not a whole number of units')
        if wanted is not None and code not in wanted:
            continue
        yield Mue(code, int(raw), get("adjudication"), get("rationale"), f"{path.name}:{line}")


def _error(msg: Msg, path: Path, line: int | None, column: int | None, text: str) -> ConfigError:
    where = str(path) + (f", line {line}" if line is not None else "")
    return ConfigError(f"NCCI file {where}: {text}",
                       [issue(msg, text, expression=str(path), line=line, column=column)])
