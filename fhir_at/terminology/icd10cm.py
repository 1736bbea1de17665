"""ICD-10-CM validity and billability from the official CDC tabular (via ``simple-icd-10-cm``).

Importing ``simple_icd_10_cm`` parses the 10 MB tabular XML (about 2-3 s). The first look-up
therefore builds a small SQLite index in the user cache (``$FHIR_AT_CACHE_DIR`` or
``~/.cache/fhir-at``), keyed by the package version; later processes open it in about a millisecond.
If the cache cannot be written the index is kept in memory for this process.

Editions. :func:`lookup`, :func:`billable_descendants` and :func:`release` answer from the edition
shipped in the installed package (the latest). Billability on a date of service uses
:func:`edition_for` / :func:`lookup_on` / :func:`billable_descendants_on`: earlier releases of
``simple-icd-10-cm`` carry earlier official tables, and :func:`install_editions` (``python -m
fhir_at.terminology.icd10cm install``) downloads those wheels with pip, checks their sha256 against
:data:`EDITIONS`, and keeps only the two data files and an index per edition in
``<cache>/icd10cm-editions/<id>/``.

Rule for dates: ICD-10-CM fiscal year N runs 1 Oct N-1 .. 30 Sep N. An edition that includes a
mid-year update (January or April) is *exact* from that update's effective date to 30 September;
for 1 October up to the update it is the nearest available table, not the exact one (the update
may have added codes or turned a code into a header). A date outside every installed edition's
fiscal year gets the nearest installed edition, not exact (e.g. FY2027, from 2026-10-01, whose
table no ``simple-icd-10-cm`` release carries).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

__all__ = ["IcdEntry", "lookup", "billable_descendants", "release", "Edition", "EDITIONS",
           "EditionInstallError", "installed_edition", "installed_editions", "edition_for", "lookup_on",
           "billable_descendants_on", "install_editions", "verify_wheel", "main"]

_PACKAGE = "simple-icd-10-cm"
_lock = threading.RLock()


@dataclass(frozen=True, slots=True)
class IcdEntry:
    code: str
    description: str
    billable: bool


@dataclass(frozen=True, slots=True)
class Edition:
    """One official ICD-10-CM table as shipped in one ``simple-icd-10-cm`` wheel."""

    id: str                 # "FY2026-April"
    fiscal_year: int        # 2026 = 2025-10-01 .. 2026-09-30
    exact_from: date        # effective date of the mid-year update the table includes
    package_version: str    # the simple-icd-10-cm release that carries it
    codes_file: str         # data file names inside the wheel (simple_icd_10_cm/data/)
    tabular_file: str
    wheel_sha256: str
    codes_format: str = "list"  # "list": one code per line; "order": CDC order file (code in columns 7-13)

    @property
    def fy_start(self) -> date:
        return date(self.fiscal_year - 1, 10, 1)

    @property
    def end(self) -> date:
        return date(self.fiscal_year, 9, 30)

    def is_exact(self, on: date) -> bool:
        return self.exact_from <= _as_date(on) <= self.end

    @property
    def wheel_name(self) -> str:
        return f"simple_icd_10_cm-{self.package_version}-py3-none-any.whl"


#: Known editions, oldest first. Hashes are of the wheels on PyPI (1.3.0 carries the same
#: FY2025 files as 1.4.0, and 1.1.2 the same FY2021 files as 1.2.0).
EDITIONS: tuple[Edition, ...] = (
    Edition("FY2021-January", 2021, date(2021, 1, 1), "1.2.0",
            "icd10cm-order-Jan-2021.txt", "icd10cm_tabular_2021.xml",
            "9f325bdc507f8b273568afc6a609271ddcd89032ff599090f460a024b122d960", codes_format="order"),
    Edition("FY2025-April", 2025, date(2025, 4, 1), "1.4.0",
            "code-list-April-2025.txt", "icd10cm-tabular-April-2025.xml",
            "d8a1b58282315af86acf4a4fc1765a6f42f5456ec216e53173b7be880825c36c"),
    Edition("FY2026-April", 2026, date(2026, 4, 1), "1.5.0",
            "code-list-April-2026.txt", "icd10c-tabular-April-1-2026.xml",
            "6d461d71dc26aedc530ae65f02cfb578a154e49507c32e8241e75f701d4b7e42"),
)
_BY_ID = {e.id: e for e in EDITIONS}


class EditionInstallError(RuntimeError):
    """An edition could not be downloaded, verified or unpacked."""


def cache_dir() -> Path:
    """``$FHIR_AT_CACHE_DIR``, else ``$XDG_CACHE_HOME/fhir-at``, else ``~/.cache/fhir-at``."""
    env = os.environ
    return _cache_dir(env.get("FHIR_AT_CACHE_DIR"), env.get("XDG_CACHE_HOME"), env.get("HOME"))


@cache
def _cache_dir(root: str | None, xdg: str | None, home: str | None) -> Path:  # noqa: ARG001 - cache key
    if root:
        return Path(root)
    return Path(xdg) / "fhir-at" if xdg else Path.home() / ".cache" / "fhir-at"


@cache
def release() -> str:
    from importlib.metadata import version

    return f"{_PACKAGE}-{version(_PACKAGE)}"


def _as_date(on: date | datetime | str) -> date:
    if isinstance(on, datetime):
        return on.date()
    if isinstance(on, str):
        return date.fromisoformat(on[:10])
    return on


# --- building and opening an index ---------------------------------------------------------------

_loaded: object = None  # the data files simple_icd_10_cm currently holds (None: its own)


def _build_rows(files: tuple[Path, Path] | None = None) -> list[tuple[str, str, int]]:
    """Rows of the index for the package's own table, or for ``(codes list, tabular XML)``."""
    global _loaded
    import simple_icd_10_cm as icd

    if files != _loaded:
        _loaded = "unknown"
        if files is None:
            icd.change_version()
        else:
            icd.change_version(all_codes_file_path=str(files[0]), classification_data_file_path=str(files[1]))
        _loaded = files
    rows = []
    for code in icd.get_all_codes(with_dots=True):
        if icd.is_chapter_or_block(code):
            continue
        rows.append((code, icd.get_description(code), 1 if icd.is_leaf(code) else 0))
    return rows


def _create(conn: sqlite3.Connection, rows) -> None:
    conn.execute("CREATE TABLE code (code TEXT PRIMARY KEY, description TEXT, billable INTEGER)")
    conn.executemany("INSERT OR REPLACE INTO code VALUES (?, ?, ?)", rows)
    conn.commit()


def _open_index(path: Path, build) -> sqlite3.Connection:
    """Open the index at ``path`` read-only, building it first from ``build()`` rows if needed."""
    with _lock:
        if path.is_file():
            try:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                conn.execute("SELECT 1 FROM code LIMIT 1").fetchone()
                return conn
            except sqlite3.DatabaseError:
                pass
        rows = build()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            conn = sqlite3.connect(tmp)
            _create(conn, rows)
            conn.close()
            os.replace(tmp, path)
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        except OSError:
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            _create(conn, rows)
            return conn


@cache
def _db() -> sqlite3.Connection:
    return _open_index(cache_dir() / f"icd10cm-{release()}.sqlite", _build_rows)


def _edition_dir(edition: Edition, root: Path | None = None) -> Path:
    return (root or cache_dir()) / "icd10cm-editions" / edition.id


def _edition_rows(folder: Path, edition: Edition) -> list[tuple[str, str, int]]:
    codes, tabular = folder / edition.codes_file, folder / edition.tabular_file
    if edition.codes_format == "list":
        return _build_rows((codes, tabular))
    # The CDC order file (FY2021 wheels) has the code in columns 7-13; the installed loader wants
    # one code per line (same parse as simple-icd-10-cm 1.2.0; verified to give identical rows).
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        listed = Path(tmp) / "code-list.txt"
        text = codes.read_text(encoding="utf-8")
        listed.write_text("\n".join(line[6:13].strip() for line in text.split("\n")), encoding="utf-8")
        try:
            return _build_rows((listed, tabular))
        finally:
            global _loaded
            _loaded = "unknown"  # the temporary path is gone; never treat it as loaded again


@cache
def _edition_db(edition_id: str, root: Path) -> sqlite3.Connection:
    edition = _BY_ID[edition_id]
    if edition.package_version == _installed_version():
        return _db()
    folder = _edition_dir(edition, root)
    return _open_index(folder / "index.sqlite", lambda: _edition_rows(folder, edition))


def _query_lookup(conn: sqlite3.Connection, code: str) -> IcdEntry | None:
    row = conn.execute("SELECT code, description, billable FROM code WHERE code = ?", (code,)).fetchone()
    return IcdEntry(row[0], row[1], bool(row[2])) if row else None


def _query_billable_descendants(conn: sqlite3.Connection, code: str, limit: int) -> list[str]:
    rows = conn.execute(
        "SELECT code FROM code WHERE billable = 1 AND code > ? AND code < ? "
        "ORDER BY length(code), code LIMIT ?",
        (code, code + "\uffff", limit),
    ).fetchall()
    return [r[0] for r in rows]


# --- the latest edition (the installed package) ---------------------------------------------------

@cache
def lookup(code: str) -> IcdEntry | None:
    """The entry for a code written with its dot (``G71.01``), or None when it does not exist."""
    return _query_lookup(_db(), code)


def billable_descendants(code: str, limit: int = 12) -> list[str]:
    """Billable codes under a header code, in table order (``G71.0`` → ``G71.00``, ``G71.01`` …)."""
    return _query_billable_descendants(_db(), code, limit)


# --- editions by date of service ------------------------------------------------------------------

def _installed_version() -> str:
    return release().removeprefix(f"{_PACKAGE}-")


def installed_edition() -> Edition:
    """The edition shipped in the installed ``simple-icd-10-cm`` (always available)."""
    version = _installed_version()
    for edition in EDITIONS:
        if edition.package_version == version:
            return edition
    raise LookupError(f"{_PACKAGE} {version} is installed but its edition is not in "
                      "fhir_at.terminology.icd10cm.EDITIONS; add it there")


@cache
def _installed_in(root: Path) -> tuple[Edition, ...]:
    builtin = installed_edition()
    found = []
    for edition in EDITIONS:
        folder = _edition_dir(edition, root)
        if edition == builtin or ((folder / edition.codes_file).is_file() and (folder / edition.tabular_file).is_file()):
            found.append(edition)
    return tuple(found)


def installed_editions() -> tuple[Edition, ...]:
    """Editions usable now, oldest first: the package's own and those installed in the cache."""
    return _installed_in(cache_dir())


def edition_for(on: date | datetime | str) -> tuple[Edition, bool]:
    """The installed edition for a date of service and whether it is the exact one for that date.

    The exact edition if installed; else the installed edition of the same fiscal year; else the
    installed edition whose fiscal year is nearest (the later one on a tie).
    """
    return _edition_for(_as_date(on), cache_dir())


@cache
def _edition_for(on: date, root: Path) -> tuple[Edition, bool]:
    def rank(e: Edition):
        distance = 0 if e.fy_start <= on <= e.end else min(abs((on - e.fy_start).days), abs((on - e.end).days))
        return (not e.is_exact(on), distance, -e.fiscal_year)

    best = min(_installed_in(root), key=rank)
    return best, best.is_exact(on)


def lookup_on(code: str, on: date | datetime | str) -> tuple[IcdEntry | None, Edition, bool]:
    """``(entry or None, edition used, exact)`` for a code on a date of service."""
    edition, exact = edition_for(on)
    return _lookup_in(edition.id, cache_dir(), code), edition, exact


@cache
def _lookup_in(edition_id: str, root: Path, code: str) -> IcdEntry | None:
    return _query_lookup(_edition_db(edition_id, root), code)


def billable_descendants_on(code: str, on: date | datetime | str, limit: int = 12) -> list[str]:
    """Billable codes under a header code in the edition :func:`edition_for` picks for the date."""
    edition, _ = edition_for(on)
    return _query_billable_descendants(_edition_db(edition.id, cache_dir()), code, limit)


# --- installing editions --------------------------------------------------------------------------

def verify_wheel(path: Path, edition: Edition) -> None:
    """Raise :class:`EditionInstallError` unless the file's sha256 is the one recorded for the edition."""
    import hashlib

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != edition.wheel_sha256:
        raise EditionInstallError(f"{Path(path).name}: sha256 {digest} differs from the recorded "
                                  f"{edition.wheel_sha256} for {edition.id}; refusing it")


def _download(edition: Edition, dest: Path) -> Path:
    import subprocess

    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
           "--disable-pip-version-check", "-q", f"{_PACKAGE}=={edition.package_version}", "-d", str(dest)]
    r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wheel = dest / edition.wheel_name
    if r.returncode != 0 or not wheel.is_file():
        detail = (r.stderr or r.stdout).strip().splitlines()
        raise EditionInstallError(f"pip download of {_PACKAGE}=={edition.package_version} (for {edition.id}) "
                                  f"failed (exit {r.returncode}); offline? "
                                  + (detail[-1] if detail else "no output"))
    return wheel


def _unpack(wheel: Path, edition: Edition, folder: Path) -> None:
    """Verify the wheel, then extract only the edition's two data files into ``folder``."""
    import zipfile

    verify_wheel(wheel, edition)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for name in (edition.codes_file, edition.tabular_file):
            try:
                data = z.read(f"simple_icd_10_cm/data/{name}")
            except KeyError:
                raise EditionInstallError(f"{wheel.name} has no simple_icd_10_cm/data/{name}") from None
            (folder / name).write_bytes(data)


def install_editions(ids: list[str] | None = None) -> list[tuple[Edition, str]]:
    """Install the editions not shipped in the installed package (all known ones by default).

    Idempotent: returns ``(edition, "installed" | "already installed" | "shipped with the package")``.
    Raises :class:`EditionInstallError` when a download, hash check or unpack fails.
    """
    import shutil
    import tempfile

    wanted = [_BY_ID[i] if i in _BY_ID else _unknown(i) for i in ids] if ids else list(EDITIONS)
    builtin = installed_edition()
    root = cache_dir()
    done = []
    try:
        for edition in wanted:
            if edition == builtin:
                _db()
                done.append((edition, "shipped with the package"))
                continue
            folder = _edition_dir(edition, root)
            if (folder / edition.codes_file).is_file() and (folder / edition.tabular_file).is_file():
                _open_index(folder / "index.sqlite", lambda: _edition_rows(folder, edition)).close()
                done.append((edition, "already installed"))
                continue
            folder.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{edition.id}.") as tmp:
                wheel = _download(edition, Path(tmp) / "wheel")
                staging = Path(tmp) / edition.id
                _unpack(wheel, edition, staging)
                _open_index(staging / "index.sqlite", lambda: _edition_rows(staging, edition)).close()
                try:
                    os.replace(staging, folder)
                except OSError:
                    if not (folder / edition.tabular_file).is_file():  # not a concurrent install
                        shutil.rmtree(folder, ignore_errors=True)
                        os.replace(staging, folder)
            done.append((edition, "installed"))
    finally:
        _installed_in.cache_clear()
        _edition_db.cache_clear()
        _lookup_in.cache_clear()
    return done


def _unknown(edition_id: str) -> Edition:
    raise EditionInstallError(f"unknown edition {edition_id!r}; known: {', '.join(_BY_ID)}")


def _describe(edition: Edition) -> str:
    return (f"{edition.id}: FY{edition.fiscal_year} {edition.fy_start}..{edition.end}, exact from "
            f"{edition.exact_from} ({_PACKAGE} {edition.package_version})")


def main(argv: list[str] | None = None) -> int:
    """``python -m fhir_at.terminology.icd10cm install [EDITION ...] | list``."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in {"install", "list"}:
        print("usage: python -m fhir_at.terminology.icd10cm install [EDITION ...] | list", file=sys.stderr)
        return 2
    if args[0] == "list":
        have = set(installed_editions())
        for edition in EDITIONS:
            print(f"{'installed' if edition in have else 'missing  '}  {_describe(edition)}")
        return 0
    try:
        for edition, status in install_editions(args[1:] or None):
            print(f"{status}: {_describe(edition)}")
    except EditionInstallError as exc:
        print(f"icd10cm install: {exc}", file=sys.stderr)
        return 3
    print(f"ICD-10-CM editions in {cache_dir() / 'icd10cm-editions'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
