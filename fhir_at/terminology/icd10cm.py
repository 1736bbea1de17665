"""ICD-10-CM validity and billability from the official CDC tabular (via ``simple-icd-10-cm``).

Importing ``simple_icd_10_cm`` parses the 10 MB tabular XML (about 2-3 s). The first look-up
therefore builds a small SQLite index in the user cache (``$FHIR_AT_CACHE_DIR`` or
``~/.cache/fhir-at``), keyed by the package version; later processes open it in about a millisecond.
If the cache cannot be written the index is kept in memory for this process.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["IcdEntry", "lookup", "billable_descendants", "release"]

_PACKAGE = "simple-icd-10-cm"
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class IcdEntry:
    code: str
    description: str
    billable: bool


def cache_dir() -> Path:
    root = os.environ.get("FHIR_AT_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "fhir-at" if xdg else Path.home() / ".cache" / "fhir-at"


@cache
def release() -> str:
    from importlib.metadata import version

    return f"{_PACKAGE}-{version(_PACKAGE)}"


def _build_rows() -> list[tuple[str, str, int]]:
    import simple_icd_10_cm as icd

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


@cache
def _db() -> sqlite3.Connection:
    with _lock:
        path = cache_dir() / f"icd10cm-{release()}.sqlite"
        if path.is_file():
            try:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                conn.execute("SELECT 1 FROM code LIMIT 1").fetchone()
                return conn
            except sqlite3.DatabaseError:
                pass
        rows = _build_rows()
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
def lookup(code: str) -> IcdEntry | None:
    """The entry for a code written with its dot (``G71.01``), or None when it does not exist."""
    row = _db().execute("SELECT code, description, billable FROM code WHERE code = ?", (code,)).fetchone()
    return IcdEntry(row[0], row[1], bool(row[2])) if row else None


def billable_descendants(code: str, limit: int = 12) -> list[str]:
    """Billable codes under a header code, in table order (``G71.0`` → ``G71.00``, ``G71.01`` …)."""
    rows = _db().execute(
        "SELECT code FROM code WHERE billable = 1 AND code > ? AND code < ? "
        "ORDER BY length(code), code LIMIT ?",
        (code, code + "\uffff", limit),
    ).fetchall()
    return [r[0] for r in rows]
