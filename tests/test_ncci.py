"""The CMS NCCI file reader: layouts, dates of service, either column order, errors, streaming.

Every edit and MUE in tests/data/ncci is fictitious (test data in the CMS layout, not real edits).
"""

from __future__ import annotations

import shutil
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

import pytest

import fhir_at.billing.ncci as ncci
from fhir_at.billing.ncci import MUE_COLUMNS, PTP_COLUMNS, Mue, NcciTables, PtpEdit
from fhir_at.errors import ConfigError
from fhir_at.issues import IssueCode

DATA = Path(__file__).parent / "data" / "ncci"
QUARTER = DATA / "quarter"
PTP_TXT = QUARTER / "ccipra-test-f1.txt"
PTP_CSV = QUARTER / "ccipra-test-f2.csv"
MUE_CSV = QUARTER / "mue-practitioner-test.csv"
PTP_HEADER = "\t".join(PTP_COLUMNS)
MUE_HEADER = ",".join(MUE_COLUMNS)


@pytest.fixture(scope="module")
def tables() -> NcciTables:
    return NcciTables.load(QUARTER)


def _error(path, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        NcciTables.load(path, **kw)
    assert info.value.exit_code == 3
    return info.value


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- parsing ---------------------------------------------------------------------------------


def test_ptp_text_file_with_preamble_and_header_split_over_rows():
    t = NcciTables.load(PTP_TXT)
    assert t.ptp_files == [str(PTP_TXT)] and t.mue_files == [] and t.files == [str(PTP_TXT)]
    assert t.edit_count == 7  # every data row; the three header continuation rows are not rows
    (edit,) = t.edits_between("97755", "97542", date(2024, 5, 1))
    assert edit == PtpEdit("97755", "97542", date(2020, 1, 1), None, "1",
                           "Standards of medical / surgical practice", "ccipra-test-f1.txt:8")
    (old,) = t.edits_between("97112", "97110", date(1996, 1, 1))  # "*" in the pre-1996 column
    assert old.source == "ccipra-test-f1.txt:14" and old.deleted is None


def test_ptp_csv_export_with_one_header_row():
    t = NcciTables.load(PTP_CSV)
    (edit,) = t.edits_between("97530", "97542", date(2024, 1, 1))
    assert (edit.column1, edit.column2, edit.modifier_indicator) == ("97542", "97530", "1")
    assert edit.rationale == "Misuse of column two code with column one code"
    assert edit.source == "ccipra-test-f2.csv:3"


def test_mue_csv_with_quoted_preamble_and_a_line_break_in_the_code_header():
    t = NcciTables.load(MUE_CSV)
    assert t.mue_files == [str(MUE_CSV)] and t.ptp_files == [] and t.mue_count == 3
    # the preamble and the header hold quoted line breaks: sources are physical line numbers
    assert t.mue("97755") == Mue("97755", 3, "3 Date of Service Edit: Clinical", "Clinical: Data",
                                 "mue-practitioner-test.csv:5")
    assert t.mue(" 97542 ").adjudication == "2 Date of Service Edit: Policy"
    assert t.mue("97110").value == 5
    assert t.mue("97535") is None
    assert t.edits_between("97755", "97542", date(2024, 1, 1)) == []  # no PTP file: no edits


def test_test_data_says_it_is_not_real(tables):
    for f in [*QUARTER.iterdir(), *(DATA / "broken").iterdir()]:
        assert "test data in the CMS layout, not real edits" in f.read_text(encoding="utf-8").splitlines()[0]


def test_public_names():
    public = {n for n, v in vars(ncci).items() if not n.startswith("_")
              and getattr(v, "__module__", None) == ncci.__name__}
    assert public <= set(ncci.__all__)
    assert all(hasattr(ncci, n) for n in ncci.__all__)


# --- dates of service ------------------------------------------------------------------------


def test_edit_in_force_from_its_effective_date(tables):
    assert tables.edits_between("97755", "97542", date(2019, 12, 31)) == []
    assert len(tables.edits_between("97755", "97542", date(2020, 1, 1))) == 1


def test_edit_not_in_force_on_or_after_its_deletion_date(tables):
    # 97755/97750: indicator 1 from 2015-01-01, deleted 2023-01-01; a new edit (indicator 0) from 2023-01-01
    (before,) = tables.edits_between("97755", "97750", date(2022, 12, 31))
    assert (before.modifier_indicator, before.deleted, before.source) == ("1", date(2023, 1, 1), "ccipra-test-f1.txt:10")
    (on,) = tables.edits_between("97755", "97750", date(2023, 1, 1))
    assert (on.modifier_indicator, on.deleted, on.source) == ("0", None, "ccipra-test-f1.txt:11")
    assert before.in_force(date(2022, 12, 31)) and not before.in_force(date(2023, 1, 1))
    assert not before.in_force(date(2014, 12, 31)) and before.in_force(date(2015, 1, 1))
    assert tables.edits_between("97755", "97750", date(2014, 12, 31)) == []


def test_either_column_order_and_code_spelling(tables):
    day = date(2025, 3, 4)
    assert tables.edits_between("97755", "97535", day) == tables.edits_between("97535", "97755", day)
    assert tables.edits_between(" 97535", "97755 ", day)[0].column1 == "97755"
    assert tables.edits_between("97755", "97110", day) == []


# --- modifier indicators ---------------------------------------------------------------------


def test_modifier_indicators(tables):
    day = date(2025, 3, 4)
    assert [e.modifier_indicator for e in tables.edits_between("97755", "97542", day)] == ["1"]
    assert [e.modifier_indicator for e in tables.edits_between("97755", "97535", day)] == ["0"]
    (nine,) = tables.edits_between("97755", "97163", day)  # listed, indicator 9: no edit applies
    assert (nine.column1, nine.column2, nine.modifier_indicator) == ("97163", "97755", "9")


def test_indicator_9_deleted_the_day_it_took_effect_is_never_in_force(tables):
    for d in (date(2020, 12, 31), date(2021, 1, 1), date(2021, 1, 2), date(2030, 1, 1)):
        assert tables.edits_between("97760", "97755", d) == []


# --- directories and the codes filter --------------------------------------------------------


def test_directory_with_mixed_files_is_classified_by_header(tmp_path, tables):
    assert tables.ptp_files == [str(PTP_TXT), str(PTP_CSV)]
    assert tables.mue_files == [str(MUE_CSV)]
    assert tables.edit_count == 8 and tables.mue_count == 3
    # names do not matter, only headers do; spreadsheets and other files next to them are skipped
    shutil.copy(PTP_TXT, tmp_path / "b.txt")
    shutil.copy(MUE_CSV, tmp_path / "a.txt.csv")
    (tmp_path / "ccipra-test.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "readme.pdf").write_bytes(b"%PDF")
    t = NcciTables.load(tmp_path)
    assert t.ptp_files == [str(tmp_path / "b.txt")] and t.mue_files == [str(tmp_path / "a.txt.csv")]
    assert t.mue("97755").value == 3


def test_several_paths():
    t = NcciTables.load([PTP_CSV, MUE_CSV])
    assert t.files == [str(PTP_CSV), str(MUE_CSV)] and t.edit_count == 1


def test_the_same_edit_in_two_files_counts_once(tmp_path):
    shutil.copy(PTP_CSV, tmp_path / "f2.csv")
    shutil.copy(PTP_CSV, tmp_path / "f2-export.txt.csv")
    t = NcciTables.load(tmp_path)
    assert len(t.ptp_files) == 2 and t.edit_count == 1
    assert t.edits_between("97542", "97530", date(2024, 1, 1))[0].source == "f2-export.txt.csv:3"


def test_codes_filter_keeps_rows_naming_a_code_of_interest():
    t = NcciTables.load(QUARTER, codes={"97755"})
    assert t.edit_count == 6  # 97112/97110 and 97542/97530 are dropped
    assert t.edits_between("97110", "97112", date(2020, 1, 1)) == []
    assert len(t.edits_between("97542", "97755", date(2020, 1, 1))) == 1
    assert t.mue_count == 1 and t.mue("97542") is None and t.mue("97755").value == 3
    assert NcciTables.load(QUARTER, codes={"97530"}).edit_count == 1
    assert NcciTables.load(QUARTER, codes=set()).edit_count == 0


def test_streaming_a_large_file_keeps_only_the_rows_of_interest(tmp_path):
    rows = 200_000
    path = tmp_path / "ccipra-big.txt"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("test data in the CMS layout, not real edits\r\n" + PTP_HEADER + "\r\n")
        start = date(2000, 1, 1)
        for i in range(rows):
            c1 = "97755" if i % 1000 == 0 else f"{10000 + i % 80000:05d}"
            eff = (start + timedelta(days=i % 7000)).strftime("%Y%m%d")
            fh.write(f"{c1}\t{20000 + i % 50000:05d}\t\t{eff}\t*\t{i % 2}\tStandards of medical / surgical practice\r\n")
    assert path.stat().st_size > 10_000_000

    tracemalloc.start()
    try:
        t = NcciTables.load(path, codes={"97755"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert t.edit_count == rows // 1000
    # the whole file would take > 10 MB as text and far more as rows: the reader holds neither
    assert peak < 4_000_000, peak
    assert t.edits_between("20000", "97755", date(2030, 1, 1))[0].source == "ccipra-big.txt:3"


def test_cp1252_preamble_and_utf8_bom(tmp_path):
    cp = _write(tmp_path, "ptp.txt", "CPT\u00ae only copyright American Medical Association.\r\n"
                + PTP_HEADER + "\r\n97755\t97542\t\t20200101\t*\t1\tTest \u2013 rationale\r\n", "cp1252")
    assert NcciTables.load(cp).edits_between("97755", "97542", date(2021, 1, 1))[0].rationale == "Test \u2013 rationale"
    bom = _write(tmp_path, "mue.csv", "\ufeff" + MUE_HEADER + "\r\n97755,1,1 Line Edit,Clinical: Data\r\n")
    assert NcciTables.load(bom).mue("97755").value == 1


def test_conflicting_mues_across_files(tmp_path):
    _write(tmp_path, "q1.csv", MUE_HEADER + "\n97755,2,1 Line Edit,x\n")
    _write(tmp_path, "q2.csv", MUE_HEADER + "\n97755,4,1 Line Edit,x\n")
    e = _error(tmp_path)
    assert "97755 has MUE 4 at q2.csv:2 but 2 at q1.csv:2" in e.message
    assert "one quarter only" in e.message


# --- errors ----------------------------------------------------------------------------------


def test_header_missing_columns():
    path = DATA / "broken" / "ptp-missing-columns.txt"
    e = _error(path)
    assert e.message.startswith(f"NCCI file {path}, line 2: PTP header lacks column(s) 'Deletion Date', 'Modifier'")
    assert "expected " + " | ".join(PTP_COLUMNS) in e.message
    (i,) = e.issues
    assert (i.message_id, i.code, i.expression, i.line) == ("NCCI_FILE_LAYOUT", IssueCode.STRUCTURE, str(path), 2)


def test_mue_header_missing_columns(tmp_path):
    path = _write(tmp_path, "mue.csv", "HCPCS/CPT Code,MUE Rationale\n97755,x\n")
    e = _error(path)
    assert e.message == (f"NCCI file {path}, line 1: MUE header lacks column(s) 'Practitioner Services MUE Values', "
                         f"'MUE Adjudication Indicator'; expected {' | '.join(MUE_COLUMNS)}")


def test_no_header_lists_both_layouts(tmp_path):
    path = _write(tmp_path, "notes.txt", "just\tsome\ttext\n" * 60)
    e = _error(path)
    assert e.message.startswith(f"NCCI file {path}: no NCCI column header in the first 50 lines; expected")
    for column in (*PTP_COLUMNS, *MUE_COLUMNS):
        assert column in e.message
    assert e.issues[0].message_id == "NCCI_FILE_LAYOUT" and e.issues[0].line is None


def test_bad_date_in_test_file():
    path = DATA / "broken" / "ptp-bad-date.txt"
    e = _error(path)
    assert e.message == f"NCCI file {path}, line 4: column \"Effective Date\": '2020-01-01' is not a YYYYMMDD date"
    (i,) = e.issues
    assert (i.message_id, i.code, i.line, i.column) == ("NCCI_FILE_VALUE", IssueCode.VALUE, 4, 4)


@pytest.mark.parametrize("row, line_text, column", [
    ("97755\t97542\t\t20200101\t*\tX\tr", "column \"Modifier\": 'X' is not a modifier indicator (0, 1 or 9)", 6),
    ("97755\t97542\t\t20200101\t*\t2\tr", "column \"Modifier\": '2' is not a modifier indicator (0, 1 or 9)", 6),
    ("97755\t97542\t\t20200101\t20231301\t1\tr", "column \"Deletion Date\": '20231301' is not a YYYYMMDD date", 5),
    ("97755\t97542\t\t\t*\t1\tr", "column \"Effective Date\": '' is not a YYYYMMDD date", 4),
    ("9775\t97542\t\t20200101\t*\t1\tr", "column \"Column 1\": '9775' is not a 5-character HCPCS/CPT code", 1),
    ("97755\t\t\t20200101\t*\t1\tr", "column \"Column 2\": '' is not a 5-character HCPCS/CPT code", 2),
    ("97755\t97542\t\t20200101", "column \"Deletion Date\" is missing (the row has 4 field(s))", 5),
])
def test_bad_ptp_values(tmp_path, row, line_text, column):
    path = _write(tmp_path, "ptp.txt", "test data\nmore preamble\n" + PTP_HEADER + "\n97755\t97535\t\t20200101\t*\t0\tr\n"
                  + row + "\n")
    e = _error(path, codes={"00000"})  # rows outside the codes of interest are checked too
    assert e.message == f"NCCI file {path}, line 5: {line_text}"
    assert (e.issues[0].line, e.issues[0].column) == (5, column)


@pytest.mark.parametrize("value", ["2.5", "-1", "", "two"])
def test_bad_mue_value(tmp_path, value):
    path = _write(tmp_path, "mue.csv", '"preamble, quoted"\n' + MUE_HEADER + f'\n97542,1,1 Line Edit,x\n97755,"{value}",1 Line Edit,x\n')
    e = _error(path)
    assert e.message == (f"NCCI file {path}, line 4: column \"Practitioner Services MUE Values\": {value!r} "
                         "is not a whole number of units")
    assert (e.issues[0].message_id, e.issues[0].line, e.issues[0].column) == ("NCCI_FILE_VALUE", 4, 2)


def test_only_practitioner_mue_files(tmp_path):
    path = _write(tmp_path, "oph.csv", "HCPCS/CPT Code,Outpatient Hospital Services MUE Values,"
                  "MUE Adjudication Indicator,MUE Rationale\n97755,1,1 Line Edit,x\n")
    e = _error(path)
    assert e.message == (f'NCCI file {path}, line 1: column "Outpatient Hospital Services MUE Values": only the '
                         'practitioner-services MUE file ("Practitioner Services MUE Values") is read')


def test_spreadsheets_are_refused(tmp_path):
    sheet = _write(tmp_path, "ccipra-v321r0-f1.xlsx", "PK")
    e = _error(sheet)
    assert e.message == f"NCCI file {sheet}: .xlsx spreadsheets are not read: export the sheet as CSV (or use CMS's .txt file)"
    assert (e.issues[0].message_id, e.issues[0].code) == ("NCCI_FILE_FORMAT", IssueCode.NOT_SUPPORTED)
    e = _error(tmp_path)  # a directory holding only the spreadsheet
    assert e.message == (f"NCCI files: no .txt or .csv file in {tmp_path} (found ccipra-v321r0-f1.xlsx: "
                         "spreadsheets are not read, export the sheet as CSV)")


def test_missing_and_unsupported_paths(tmp_path):
    assert _error(tmp_path / "nope").message == f"NCCI files: {tmp_path / 'nope'} does not exist"
    pdf = _write(tmp_path, "manual.pdf", "%PDF")
    assert _error(pdf).message == f"NCCI file {pdf}: not a .txt (tab-delimited) or .csv file"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _error(empty).message == f"NCCI files: no .txt or .csv file in {empty}"
