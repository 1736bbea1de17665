"""ICD-10-CM billability on the date of service, across the installed editions of the official table."""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import replace
from datetime import date

import pytest

from fhir_at.terminology import icd10cm
from fhir_at.terminology.icd10cm import EDITIONS, EditionInstallError, edition_for, lookup_on

IN_CI = os.environ.get("CI") == "true"


def need(edition_id: str) -> None:
    """Skip (fail in CI, where scripts/setup.sh installs them) when an extra edition is not installed."""
    if any(e.id == edition_id for e in icd10cm.installed_editions()):
        return
    message = (f"ICD-10-CM edition {edition_id} is not installed in {icd10cm.cache_dir()}; "
               "run `bash scripts/setup.sh` (needs network access to download simple-icd-10-cm wheels)")
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def test_g35_billable_in_fy2025_exact():
    need("FY2025-April")
    entry, edition, exact = lookup_on("G35", date(2025, 6, 1))
    assert entry is not None and entry.billable and entry.description == "Multiple sclerosis"
    assert (edition.id, exact) == ("FY2025-April", True)


def test_g35_header_from_fy2026_names_children():
    entry, edition, exact = lookup_on("G35", date(2025, 11, 1))
    assert entry is not None and not entry.billable
    assert edition.id == "FY2026-April" and exact is False  # before the April 2026 update
    children = icd10cm.billable_descendants_on("G35", date(2025, 11, 1))
    assert {"G35.A", "G35.B0", "G35.C2", "G35.D"} <= set(children)


def test_g35_children_do_not_exist_in_fy2025():
    need("FY2025-April")
    assert lookup_on("G35.A", date(2025, 6, 1))[0] is None
    assert icd10cm.billable_descendants_on("G35", date(2025, 6, 1)) == []


@pytest.mark.parametrize("on", [date(2025, 6, 1), date(2025, 11, 1)])
def test_g71_0_is_a_header_on_both_dates(on):
    if on.year == 2025 and on.month < 10:
        need("FY2025-April")
    entry, _, _ = lookup_on("G71.0", on)
    assert entry is not None and not entry.billable
    assert "G71.01" in icd10cm.billable_descendants_on("G71.0", on)


def test_fy2027_falls_back_to_fy2026_april_not_exact():
    edition, exact = edition_for(date(2026, 11, 2))
    assert (edition.id, exact) == ("FY2026-April", False)
    entry, edition, exact = lookup_on("G71.01", date(2026, 11, 2))
    assert entry.billable and edition.id == "FY2026-April" and exact is False


def test_boundaries_of_the_fiscal_year_and_the_april_update():
    need("FY2025-April")
    assert [(e.id, x) for e, x in map(edition_for, [date(2025, 9, 30), date(2025, 10, 1), date(2026, 3, 31),
                                                    date(2026, 4, 1), date(2026, 9, 30), date(2026, 10, 1)])] == [
        ("FY2025-April", True), ("FY2026-April", False), ("FY2026-April", False),
        ("FY2026-April", True), ("FY2026-April", True), ("FY2026-April", False)]


def test_fy2021_edition_has_seventh_character_codes():
    need("FY2021-January")
    entry, edition, exact = lookup_on("S72.001A", date(2021, 6, 1))
    assert entry is not None and entry.billable and (edition.id, exact) == ("FY2021-January", True)
    assert lookup_on("G35", date(2021, 6, 1))[0].billable
    assert lookup_on("Z20.822", date(2021, 6, 1))[0].billable  # the January 2021 update


def test_latest_edition_functions_are_unchanged():
    assert icd10cm.release() == "simple-icd-10-cm-1.5.0"
    assert icd10cm.installed_edition().id == "FY2026-April"
    assert not icd10cm.lookup("G35").billable and icd10cm.lookup("G71.01").billable
    assert icd10cm.billable_descendants("G71.0")[:4] == ["G71.00", "G71.01", "G71.02", "G71.09"]


def test_edition_table_is_consistent():
    for e in EDITIONS:
        assert e.fy_start == date(e.fiscal_year - 1, 10, 1) and e.end == date(e.fiscal_year, 9, 30)
        assert e.fy_start < e.exact_from <= e.end and len(e.wheel_sha256) == 64


def _fake_wheel(path, edition):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"simple_icd_10_cm/data/{edition.codes_file}", "1\nA00\n")
        z.writestr(f"simple_icd_10_cm/data/{edition.tabular_file}", "<ICD10CM.tabular/>")
        z.writestr("simple_icd_10_cm/__init__.py", "raise SystemExit('never executed')\n")


def test_wheel_with_another_hash_is_refused(tmp_path):
    edition = EDITIONS[1]
    wheel = tmp_path / edition.wheel_name
    _fake_wheel(wheel, edition)
    with pytest.raises(EditionInstallError, match="differs from the recorded"):
        icd10cm._unpack(wheel, edition, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tampered_copy_of_a_real_wheel_is_refused(tmp_path):
    """A byte changed in a copy of a wheel that matches its recorded hash is refused."""
    edition = EDITIONS[1]
    wheel = tmp_path / edition.wheel_name
    _fake_wheel(wheel, edition)
    good = replace(edition, wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest())
    icd10cm._unpack(wheel, good, tmp_path / "ok")  # accepted: only the two data files come out
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == sorted([edition.codes_file, edition.tabular_file])
    tampered = tmp_path / "copy" / edition.wheel_name
    tampered.parent.mkdir()
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(EditionInstallError, match="refusing"):
        icd10cm.verify_wheel(tampered, good)


def test_install_reports_a_failed_download_with_exit_3(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FHIR_AT_CACHE_DIR", str(tmp_path))

    def offline(edition, dest):
        raise EditionInstallError(f"pip download of simple-icd-10-cm=={edition.package_version} failed; offline?")

    monkeypatch.setattr(icd10cm, "_download", offline)
    assert icd10cm.main(["install", "FY2025-April"]) == 3
    assert "offline?" in capsys.readouterr().err
    assert icd10cm.main(["install", "FY1999"]) == 3
    assert not (tmp_path / "icd10cm-editions" / "FY2025-April").exists()
