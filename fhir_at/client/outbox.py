"""A durable outbox: Bundles waiting to be delivered to a FHIR server, retried until they are.

::

    Outbox            the caller-facing API: enqueue, claim, complete, retry_later, list, run
     └── Backend      storage protocol (atomic claims, one pending item per business key)
          └── SqliteBackend   one local file, several worker processes

- An item holds the server URL and the Bundle JSON. The Bundle is PHI: it stays in the outbox file
  (mode 0600, directory 0700) and is dropped from it once delivered; only the per-entry summary of
  the delivery (resource types, outcomes, server ids) is kept.
- States: ``pending`` → ``in-flight`` (a worker holds a lease) → ``delivered`` | ``failed``
  (permanent: the server refused the Bundle with a 4xx). A transient failure (transport error,
  5xx, 429, an unexpected exception) puts the item back to ``pending`` with the next attempt after
  an exponential, jittered and bounded backoff. A worker killed mid-delivery leaves the item
  ``in-flight``; once its lease has expired another worker claims it again. Delivery is
  idempotent (conditional creates), so delivering twice creates nothing new.
- The business key is the Bundle's Procedure identifier ``system|value``. Enqueueing a key that is
  already pending for the same server replaces that item's Bundle: one pending item per key.
- Error texts are the exceptions' messages, which never hold request or response bodies.

A PostgreSQL backend fits the same protocol: ``claim`` becomes ``SELECT … WHERE … ORDER BY
next_attempt FOR UPDATE SKIP LOCKED LIMIT 1`` then ``UPDATE`` in one transaction, and the
one-pending-per-key rule the same partial unique index.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any, Callable, Iterable, Protocol

from ..errors import (ConfigError, FhirAtError, Forbidden, HttpStatusError, InputError, MappingError,
                      TransportError, Unauthorized)

__all__ = ["STATES", "Item", "Backoff", "RunSummary", "Backend", "SqliteBackend", "Outbox", "default_path",
           "business_key", "classify", "enqueue_for_push"]

log = logging.getLogger("fhir_at.client.outbox")

STATES = ("pending", "in-flight", "delivered", "failed")
ENV_PATH = "FHIR_AT_OUTBOX"
_MAX_ERROR = 500  # characters of an error text kept


@dataclass(frozen=True)
class Item:
    """One Bundle for one server. Times are seconds since the epoch (UTC)."""

    id: str
    created: float
    server: str
    key: str | None
    state: str
    attempts: int = 0
    next_attempt: float = 0.0
    lease_until: float | None = None
    worker: str | None = None
    last_error: str | None = None
    summary: tuple[dict, ...] = ()
    bundle: dict | None = field(default=None, repr=False)  # None in listings and once delivered

    def to_dict(self) -> dict:
        """For listings: no Bundle."""
        return {"id": self.id, "created": _iso(self.created), "server": self.server, "key": self.key,
                "state": self.state, "attempts": self.attempts,
                "nextAttempt": _iso(self.next_attempt) if self.state == "pending" else None,
                "leaseUntil": _iso(self.lease_until) if self.state == "in-flight" else None,
                "worker": self.worker, "lastError": self.last_error, "summary": list(self.summary)}


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass(frozen=True)
class Backoff:
    """The wait before the n-th retry: ``base * 2**(n-1)``, at most ``cap``, with "equal jitter"
    (between half of that and all of it), so workers do not retry in step and never too soon."""

    base: float = 30.0
    cap: float = 3600.0

    def delay(self, attempts: int, rng: Callable[[], float] = random.random) -> float:
        full = min(self.cap, self.base * 2.0 ** min(max(attempts - 1, 0), 40))
        return full / 2 + rng() * full / 2


@dataclass(frozen=True)
class RunSummary:
    """What one :meth:`Outbox.run` did: item ids by how they ended, and the items still pending."""

    delivered: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()        # permanently, in this run
    retrying: tuple[str, ...] = ()      # tried in this run, pending again
    remaining: int = 0                  # pending items (of the run's server) when the run ended

    @property
    def exit_code(self) -> int:
        """0 all delivered, 1 some failed permanently, 3 some still pending."""
        return 1 if self.failed else (3 if self.remaining or self.retrying else 0)


def business_key(bundle: dict) -> str | None:
    """``system|value`` of the first identifier of the Bundle's (first) Procedure."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "Procedure":
            for ident in resource.get("identifier") or []:
                if ident.get("system") and ident.get("value"):
                    return f"{ident['system']}|{ident['value']}"
    return None


def classify(exc: BaseException) -> tuple[bool, bool, str]:
    """``(permanent, stop_run, error text)`` for an exception raised by a delivery.

    Permanent: the server refused this Bundle (4xx other than 401/403/408/429), or the Bundle is not
    deliverable (input/mapping errors). 401/403 and configuration errors are the credentials' or the
    set-up's fault, not the item's: it is retried later and the run stops, as every item would fail
    the same way. Everything else (transport errors, 5xx, 429, unexpected exceptions) is retried."""
    if isinstance(exc, (Unauthorized, Forbidden)):
        return False, True, _text(exc)
    if isinstance(exc, HttpStatusError):
        return (400 <= exc.status < 500 and exc.status not in (408, 429)), False, _text(exc)
    if isinstance(exc, TransportError):
        return False, False, _text(exc)
    if isinstance(exc, (InputError, MappingError)):
        return True, False, _text(exc)
    if isinstance(exc, ConfigError):
        return False, True, _text(exc)
    # an unexpected exception: its message may quote data, so only its type is kept
    return False, False, f"unexpected {type(exc).__name__} (a bug: see the worker's debug log)"


def _text(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, FhirAtError) else str(exc)
    return f"{type(exc).__name__}: {text}"[:_MAX_ERROR]


def _summary(report: Any) -> tuple[tuple[dict, ...], str | None]:
    """The per-entry summary of a delivery's report, and an error text when some entries failed."""
    entries = getattr(report, "entries", None)
    if entries is None:
        return (), None
    rows = tuple({"resourceType": e.resource_type, "outcome": e.outcome, "id": e.id, "location": e.location}
                 for e in entries)
    failed = [r["resourceType"] for r in rows if r["outcome"] == "failed"]
    if failed or getattr(report, "ok", True) is False:
        return rows, f"{len(failed)} of {len(rows)} entries failed ({', '.join(sorted(set(failed)))})"
    return rows, None


class Backend(Protocol):
    """Storage of an outbox. Every method is atomic; times come from the caller (testable)."""

    def add(self, item: Item) -> str:
        """Stores a new pending item, or replaces the Bundle of the pending item with the same server
        and key; the id of the pending item."""

    def claim(self, worker: str, now: float, lease_until: float, server: str | None,
              exclude: Iterable[str]) -> Item | None:
        """Takes the oldest due item (pending and due, or in-flight with an expired lease) for
        ``worker``: state in-flight, one more attempt. Two workers never get the same item."""

    def finish(self, item_id: str, now: float, state: str, summary: tuple[dict, ...],
               error: str | None, worker: str | None) -> bool:
        """An in-flight (or pending) item becomes ``delivered`` or ``failed``; False if it was not
        (e.g. another worker already finished it)."""

    def reschedule(self, item_id: str, now: float, error: str, delay: Callable[[int], float],
                   worker: str | None) -> bool:
        """An in-flight item held by ``worker`` (any worker if None) is pending again at
        ``now + delay(attempts)``; if a newer pending item has the same key, this one is dropped
        (superseded). False if the item was not in flight for that worker."""

    def items(self, state: str | None, server: str | None) -> list[Item]:
        """Items without their Bundle, oldest first."""

    def get(self, item_id: str) -> Item | None:
        """One item, with its Bundle."""

    def next_due(self, server: str | None, exclude: Iterable[str]) -> float | None:
        """When the next pending item (not excluded) is due."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    server TEXT NOT NULL,
    key TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'in-flight', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    lease_until REAL,
    worker TEXT,
    last_error TEXT,
    summary TEXT,
    bundle BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS items_one_pending_per_key ON items (server, key)
    WHERE state = 'pending' AND key IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_due ON items (state, next_attempt);
"""
_LIST_COLUMNS = "id, created, server, key, state, attempts, next_attempt, lease_until, worker, last_error, summary"


def default_path() -> FsPath:
    """``$FHIR_AT_OUTBOX``, else ``$XDG_STATE_HOME/fhir-at/outbox.sqlite`` (``~/.local/state``)."""
    if os.environ.get(ENV_PATH):
        return FsPath(os.environ[ENV_PATH]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or FsPath.home() / ".local" / "state"
    return FsPath(state) / "fhir-at" / "outbox.sqlite"


class SqliteBackend:
    """An outbox in one SQLite file (WAL), shared by the worker processes of one machine.

    Claims run in ``BEGIN IMMEDIATE`` transactions (one writer at a time), so two workers never
    take the same item. The file is created with mode 0600; SQLite gives its -wal and -shm files
    the same mode."""

    def __init__(self, path: str | os.PathLike | None = None, *, busy_timeout: float = 30.0):
        self.path = FsPath(path) if path is not None else default_path()
        self.busy_timeout = busy_timeout
        try:
            if not self.path.parent.exists():
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the outbox {self.path}: {_why(exc)}") from None

    def _connect(self) -> "_Connection":
        return _Connection(self.path, self.busy_timeout)

    # ------------------------------------------------------------------------------ writes
    def add(self, item: Item) -> str:
        import orjson

        data = orjson.dumps(item.bundle)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = None
            if item.key is not None:
                row = db.execute("SELECT id FROM items WHERE server = ? AND key = ? AND state = 'pending'",
                                 (item.server, item.key)).fetchone()
            if row:
                db.execute("UPDATE items SET bundle = ?, updated = ? WHERE id = ?", (data, item.created, row[0]))
                return row[0]
            db.execute("INSERT INTO items (id, created, updated, server, key, state, attempts, next_attempt, bundle) "
                       "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                       (item.id, item.created, item.created, item.server, item.key, item.next_attempt, data))
            return item.id

    def claim(self, worker, now, lease_until, server, exclude) -> Item | None:
        where, args = self._due(now, server, exclude, reclaim=True)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(f"SELECT {_LIST_COLUMNS}, bundle FROM items WHERE {where} "
                             "ORDER BY next_attempt, created, rowid LIMIT 1", args).fetchone()
            if row is None:
                return None
            db.execute("UPDATE items SET state = 'in-flight', worker = ?, lease_until = ?, "
                       "attempts = attempts + 1, updated = ? WHERE id = ?", (worker, lease_until, now, row[0]))
        item = _item(row)
        return replace(item, state="in-flight", worker=worker, lease_until=lease_until, attempts=item.attempts + 1)

    def finish(self, item_id, now, state, summary, error, worker) -> bool:
        import orjson

        bundle = "NULL" if state == "delivered" else "bundle"  # a delivered Bundle leaves the file
        guard, args = ("AND worker = ?", (worker,)) if worker and state == "failed" else ("", ())
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute(f"UPDATE items SET state = ?, summary = ?, last_error = ?, bundle = {bundle}, "
                             "lease_until = NULL, updated = ? "
                             f"WHERE id = ? AND state IN ('in-flight', 'pending') {guard}",
                             (state, orjson.dumps(list(summary)).decode(), error, now, item_id, *args))
            return cur.rowcount == 1

    def reschedule(self, item_id, now, error, delay, worker) -> bool:
        guard, args = ("AND worker = ?", (worker,)) if worker else ("", ())
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(f"SELECT attempts, server, key FROM items WHERE id = ? AND state = 'in-flight' {guard}",
                             (item_id, *args)).fetchone()
            if row is None:
                return False
            attempts, server, key = row
            if key is not None and db.execute("SELECT 1 FROM items WHERE server = ? AND key = ? AND state = 'pending'",
                                              (server, key)).fetchone():
                log.info("outbox item %s superseded by a newer Bundle for the same key; dropped", item_id)
                db.execute("DELETE FROM items WHERE id = ?", (item_id,))
                return True
            db.execute("UPDATE items SET state = 'pending', next_attempt = ?, last_error = ?, lease_until = NULL, "
                       "updated = ? WHERE id = ?", (now + delay(attempts), error, now, item_id))
            return True

    # ------------------------------------------------------------------------------- reads
    def items(self, state, server) -> list[Item]:
        where, args = ["1 = 1"], []
        if state:
            where.append("state = ?")
            args.append(state)
        if server:
            where.append("server = ?")
            args.append(server)
        with self._connect() as db:
            rows = db.execute(f"SELECT {_LIST_COLUMNS}, NULL FROM items WHERE {' AND '.join(where)} "
                              "ORDER BY created, rowid", args).fetchall()
        return [_item(r) for r in rows]

    def get(self, item_id) -> Item | None:
        with self._connect() as db:
            row = db.execute(f"SELECT {_LIST_COLUMNS}, bundle FROM items WHERE id = ?", (item_id,)).fetchone()
        return _item(row) if row else None

    def next_due(self, server, exclude) -> float | None:
        where, args = self._due(None, server, exclude, reclaim=False)
        with self._connect() as db:
            row = db.execute(f"SELECT MIN(next_attempt) FROM items WHERE {where}", args).fetchone()
        return row[0] if row else None

    @staticmethod
    def _due(now, server, exclude, *, reclaim: bool) -> tuple[str, list]:
        exclude = list(exclude)
        if now is None:
            where, args = "state = 'pending'", []
        elif reclaim:
            where = "((state = 'pending' AND next_attempt <= ?) OR (state = 'in-flight' AND lease_until <= ?))"
            args = [now, now]
        else:
            where, args = "(state = 'pending' AND next_attempt <= ?)", [now]
        if server:
            where += " AND server = ?"
            args.append(server)
        if exclude:
            where += f" AND id NOT IN ({', '.join('?' * len(exclude))})"
            args += exclude
        return where, args


class _Connection:
    """A connection for one operation: autocommit, explicit transactions, committed on success."""

    def __init__(self, path: FsPath, timeout: float):
        self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.db.close()


def _item(row) -> Item:
    import orjson

    (iid, created, server, key, state, attempts, next_attempt, lease_until, worker, last_error,
     summary, bundle) = row
    return Item(iid, created, server, key, state, attempts, next_attempt, lease_until, worker, last_error,
                tuple(orjson.loads(summary)) if summary else (), orjson.loads(bundle) if bundle else None)


def _why(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Outbox:
    """Bundles to deliver, over a :class:`Backend` (a :class:`SqliteBackend` at the default path
    unless given). ``clock`` and ``rng`` are injectable for tests."""

    def __init__(self, backend: Backend | None = None, *, backoff: Backoff = Backoff(),
                 clock: Callable[[], float] = time.time, rng: Callable[[], float] = random.random):
        self.backend = backend if backend is not None else SqliteBackend()
        self.backoff = backoff
        self.clock = clock
        self.rng = rng

    def enqueue(self, server: str, bundle: dict) -> str:
        """Records ``bundle`` for ``server``; the item id (the existing pending item's, when the
        same business key is already pending for that server: its Bundle is replaced)."""
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise InputError("only a FHIR Bundle can be queued")
        now = self.clock()
        item = Item(str(uuid.uuid4()), now, _server(server), business_key(bundle), "pending",
                    next_attempt=now, bundle=bundle)
        return self.backend.add(item)

    def claim(self, worker_id: str, lease_seconds: float = 300.0, *, server: str | None = None,
              exclude: Iterable[str] = (), now: float | None = None) -> Item | None:
        """The next due item (or one whose worker's lease expired), held by ``worker_id`` for
        ``lease_seconds``; None when nothing is due."""
        now = self.clock() if now is None else now
        return self.backend.claim(worker_id, now, now + lease_seconds, _server(server) if server else None,
                                  exclude)

    def complete(self, item_id: str, report: Any = None, *, now: float | None = None) -> bool:
        """Records a delivery's report (a PushReport or anything with ``entries``): ``delivered``,
        or ``failed`` when some entries failed (the server refused them)."""
        summary, error = _summary(report)
        now = self.clock() if now is None else now
        return self.backend.finish(item_id, now, "failed" if error else "delivered", summary, error, None)

    def retry_later(self, item_id: str, error: str | BaseException, permanent: bool = False, *,
                    worker_id: str | None = None, now: float | None = None) -> bool:
        """A failed delivery: ``failed`` for good if ``permanent``, else pending again after the
        backoff. With ``worker_id``, only while that worker still holds the item."""
        text = error if isinstance(error, str) else _text(error)
        now = self.clock() if now is None else now
        if permanent:
            return self.backend.finish(item_id, now, "failed", (), text[:_MAX_ERROR], worker_id)
        return self.backend.reschedule(item_id, now, text[:_MAX_ERROR],
                                       lambda attempts: self.backoff.delay(attempts, self.rng), worker_id)

    def list(self, state: str | None = None, *, server: str | None = None) -> list[Item]:
        if state is not None and state not in STATES:
            raise ConfigError(f"unknown outbox state {state!r}: one of {', '.join(STATES)}")
        return self.backend.items(state, _server(server) if server else None)

    def get(self, item_id: str) -> Item | None:
        return self.backend.get(item_id)

    def run(self, deliver: Callable[[Item], Any], *, worker_id: str | None = None, server: str | None = None,
            until_empty: bool = True, max_items: int | None = None, tries: int = 3,
            lease_seconds: float = 300.0, patience: float = 300.0, poll: float = 5.0,
            clock: Callable[[], float] | None = None,
            sleep: Callable[[float], None] = time.sleep) -> RunSummary:
        """Claims and delivers items until none is left (``until_empty``) or ``max_items`` deliveries.

        Each item gets at most ``tries`` attempts in this run; between them the run sleeps out the
        backoff, but never for an item due later than ``patience`` seconds from then. With
        ``until_empty=False`` it is a daemon: it polls every ``poll`` seconds. ``deliver(item)``
        returns the delivery's report or raises (see :func:`classify`)."""
        clock = clock or self.clock
        worker_id = worker_id or _default_worker()
        delivered, failed, tried, exhausted = [], [], {}, set()
        done = 0
        while max_items is None or done < max_items:
            item = self.claim(worker_id, lease_seconds, server=server, exclude=exhausted, now=clock())
            if item is None:
                due = self.backend.next_due(_server(server) if server else None, exhausted)
                wait = None if due is None else max(due - clock(), 0.0)
                if until_empty:
                    if wait is None or wait > patience:
                        break
                    sleep(wait)
                else:
                    sleep(poll if wait is None else min(wait, poll))
                continue
            done += 1
            tried[item.id] = tried.get(item.id, 0) + 1
            try:
                report = deliver(item)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the item
                permanent, stop, text = classify(exc)
                log.warning("outbox item %s: attempt %d failed: %s", item.id, item.attempts, text)
                log.debug("outbox item %s", item.id, exc_info=True)
                self.retry_later(item.id, text, permanent, worker_id=worker_id, now=clock())
                if permanent:
                    failed.append(item.id)
                elif tried[item.id] >= tries:
                    exhausted.add(item.id)
                if stop:
                    raise
                continue
            except BaseException:
                # interrupted: the item is due again at once, not after its lease
                self.backend.reschedule(item.id, clock(), "interrupted", lambda _: 0.0, worker_id)
                raise
            if self.complete(item.id, report, now=clock()):
                (failed if _summary(report)[1] else delivered).append(item.id)
        remaining = len(self.list("pending", server=server))
        retrying = tuple(i for i in tried if i not in delivered and i not in failed)
        return RunSummary(tuple(delivered), tuple(failed), retrying, remaining)


def _server(url: str) -> str:
    return url.strip().rstrip("/")


def enqueue_for_push(server: str, bundle: dict) -> str:
    """For ``fhir-at push --queue``: records ``bundle`` in the default outbox; the item id."""
    return Outbox().enqueue(server, bundle)
