"""The outbox: durable queue states, backoff, error classes, de-duplication, leases, concurrent
claimers, file mode, the CLI, and a worker killed between the server's answer and its record."""

from __future__ import annotations

import copy
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from fhir_at.client import outbox as outbox_module
from fhir_at.client.outbox import Backoff, Item, Outbox, RunSummary, SqliteBackend, business_key, classify
from fhir_at.cli.main import main
from fhir_at.errors import (ConfigError, Conflict, HttpStatusError, InputError, ServerError, TransportError,
                            Unauthorized, Unprocessable)
from tests.conftest import ROOT

SERVER = "https://ehr.example/fhir"
OTHER = "https://other.example/fhir"


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds

    slept: list


@pytest.fixture
def clock():
    c = Clock()
    c.slept = []
    return c


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state" / "outbox.sqlite"


@pytest.fixture
def box(path, clock):
    return Outbox(SqliteBackend(path), clock=clock, rng=lambda: 0.5)


def bundle(value: str = "ATA-1", note: str = "") -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "name": [{"family": "Doe" + note}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Procedure",
                                               "identifier": [{"system": "urn:oid:1.2.3", "value": value}]},
         "request": {"method": "POST", "url": "Procedure", "ifNoneExist": f"identifier=urn:oid:1.2.3|{value}"}}]}


class Entry:
    def __init__(self, rtype, outcome, rid):
        self.resource_type, self.outcome, self.id, self.location = rtype, outcome, rid, f"{rtype}/{rid}/_history/1"


class Report:
    def __init__(self, *outcomes):
        self.entries = tuple(Entry(t, o, str(n)) for n, (t, o) in enumerate(outcomes))

    @property
    def ok(self):
        return all(e.outcome != "failed" for e in self.entries)


OK = Report(("Patient", "created"), ("Procedure", "created"))


# ----------------------------------------------------------------------------- basic life cycle
def test_enqueue_claim_complete(box, clock):
    iid = box.enqueue(SERVER + "/", bundle())
    [item] = box.list()
    assert (item.id, item.server, item.key, item.state, item.attempts) == (iid, SERVER, "urn:oid:1.2.3|ATA-1",
                                                                           "pending", 0)
    assert item.bundle is None  # listings never carry the Bundle
    claimed = box.claim("w1", 60)
    assert claimed.id == iid and claimed.bundle == bundle() and claimed.attempts == 1
    assert claimed.state == "in-flight" and claimed.worker == "w1" and claimed.lease_until == clock.t + 60
    assert box.claim("w2", 60) is None  # held by w1
    assert box.complete(iid, OK)
    done = box.get(iid)
    assert done.state == "delivered" and done.bundle is None  # the PHI leaves the file once delivered
    assert [(s["resourceType"], s["outcome"], s["id"]) for s in done.summary] == [("Patient", "created", "0"),
                                                                                 ("Procedure", "created", "1")]
    assert box.claim("w1", 60) is None
    assert not box.complete(iid, OK)  # already delivered: nothing changes


def test_a_report_with_failed_entries_fails_the_item(box):
    iid = box.enqueue(SERVER, bundle())
    box.claim("w", 60)
    box.complete(iid, Report(("Patient", "created"), ("Procedure", "failed")))
    item = box.get(iid)
    assert item.state == "failed" and item.last_error == "1 of 2 entries failed (Procedure)"
    assert item.bundle == bundle()  # kept for whoever fixes it


def test_only_bundles_are_queued(box):
    with pytest.raises(InputError, match="only a FHIR Bundle can be queued"):
        box.enqueue(SERVER, {"resourceType": "Patient"})


def test_unknown_state_is_refused(box):
    with pytest.raises(ConfigError, match="unknown outbox state 'done': one of pending, in-flight, delivered, failed"):
        box.list("done")


def test_business_key_is_the_procedure_identifier():
    assert business_key(bundle("X-9")) == "urn:oid:1.2.3|X-9"
    assert business_key({"resourceType": "Bundle", "entry": [bundle()["entry"][0]]}) is None


def test_file_is_private(path, box):
    box.enqueue(SERVER, bundle())
    box.claim("w", 60)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600, suffix


def test_existing_file_is_made_private(tmp_path):
    p = tmp_path / "outbox.sqlite"
    p.touch(mode=0o644)
    os.chmod(p, 0o644)
    SqliteBackend(p)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_unopenable_outbox_is_a_config_error(tmp_path):
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(ConfigError, match=r"cannot open the outbox .*dir\.sqlite: Is a directory"):
        SqliteBackend(tmp_path / "dir.sqlite")


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FHIR_AT_OUTBOX", str(tmp_path / "x.sqlite"))
    assert outbox_module.default_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("FHIR_AT_OUTBOX")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert outbox_module.default_path() == tmp_path / "fhir-at" / "outbox.sqlite"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert outbox_module.default_path() == tmp_path / ".local" / "state" / "fhir-at" / "outbox.sqlite"


def test_enqueue_for_push_uses_the_default_outbox(monkeypatch, tmp_path):
    monkeypatch.setenv("FHIR_AT_OUTBOX", str(tmp_path / "o.sqlite"))
    iid = outbox_module.enqueue_for_push(SERVER, bundle())
    assert [i.id for i in Outbox(SqliteBackend(tmp_path / "o.sqlite")).list("pending")] == [iid]


def test_all_lists_the_public_names():
    public = {n for n, v in vars(outbox_module).items() if not n.startswith("_")
              and getattr(v, "__module__", None) == outbox_module.__name__ and (callable(v) or isinstance(v, type))}
    assert public <= set(outbox_module.__all__) and all(hasattr(outbox_module, n) for n in outbox_module.__all__)


# ------------------------------------------------------------------------------------ backoff
def test_backoff_doubles_with_jitter_and_is_bounded():
    b = Backoff(base=30, cap=3600)
    low = [b.delay(n, rng=lambda: 0.0) for n in range(1, 12)]
    high = [b.delay(n, rng=lambda: 1.0) for n in range(1, 12)]
    assert high[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert low[:3] == [15, 30, 60]  # never sooner than half the step
    assert max(high) == 3600 and b.delay(10_000, rng=lambda: 1.0) == 3600  # bounded, no overflow
    assert all(lo <= hi for lo, hi in zip(low, high))


def test_retry_later_schedules_by_attempts(box, clock):
    iid = box.enqueue(SERVER, bundle())
    schedule = []
    for _ in range(4):
        clock.t = box.list()[0].next_attempt
        item = box.claim("w", 60)
        assert box.retry_later(iid, "TransportError: connection refused", worker_id="w")
        schedule.append(box.get(iid).next_attempt - clock.t)
    assert schedule == [22.5, 45.0, 90.0, 180.0]  # rng 0.5: 3/4 of 30 * 2**(n-1)
    item = box.get(iid)
    assert item.state == "pending" and item.attempts == 4 and item.last_error == "TransportError: connection refused"
    assert box.claim("w", 60) is None  # not due yet


# ------------------------------------------------------------------------------ error classes
@pytest.mark.parametrize("exc, permanent, stop", [
    (TransportError("POST x: connection refused (after 5 attempts)"), False, False),
    (ServerError("POST x failed: 503 Service Unavailable", 503, "x"), False, False),
    (HttpStatusError("POST x failed: 429 Too Many Requests", 429, "x"), False, False),
    (HttpStatusError("POST x failed: 408 Request Timeout", 408, "x"), False, False),
    (Unprocessable("POST x failed: 422 Unprocessable Entity: bad", 422, "x"), True, False),
    (Conflict("POST x failed: 412 Precondition Failed", 412, "x"), True, False),
    (HttpStatusError("POST x failed: 405 Method Not Allowed", 405, "x"), True, False),
    (InputError("not a transaction"), True, False),
    (Unauthorized("POST x failed: 401 Unauthorized", 401, "x"), False, True),
    (ConfigError("basic auth: set the password in FHIR_AT_PASSWORD"), False, True),
    (KeyError("Doe"), False, False),
])
def test_classify(exc, permanent, stop):
    p, s, text = classify(exc)
    assert (p, s) == (permanent, stop)
    if isinstance(exc, KeyError):
        assert text == "unexpected KeyError (a bug: see the worker's debug log)" and "Doe" not in text
    else:
        assert text == f"{type(exc).__name__}: {exc.message}"


def test_run_fails_4xx_for_good_and_retries_the_rest(box, clock):
    refused = box.enqueue(SERVER, bundle("A"))
    flaky = box.enqueue(SERVER, bundle("B"))
    calls = []

    def deliver(item):
        calls.append(item.key)
        if item.id == refused:
            raise Unprocessable("POST https://ehr.example/fhir failed: 400 Bad Request: invalid", 400, SERVER)
        if calls.count(item.key) < 3:
            raise ServerError("POST https://ehr.example/fhir failed: 503 Service Unavailable", 503, SERVER)
        return OK

    summary = box.run(deliver, worker_id="w", clock=clock, sleep=clock.sleep)
    assert summary == RunSummary(delivered=(flaky,), failed=(refused,), retrying=(), remaining=0)
    assert summary.exit_code == 1
    assert calls == ["urn:oid:1.2.3|A", "urn:oid:1.2.3|B", "urn:oid:1.2.3|B", "urn:oid:1.2.3|B"]
    assert clock.slept == [22.5, 45.0]  # the backoff, slept out
    f = box.get(refused)
    assert f.state == "failed" and f.attempts == 1
    assert f.last_error == "Unprocessable: POST https://ehr.example/fhir failed: 400 Bad Request: invalid"
    assert box.get(flaky).state == "delivered" and box.get(flaky).attempts == 3


def test_run_gives_up_after_its_tries_and_leaves_the_item_pending(box, clock):
    iid = box.enqueue(SERVER, bundle())

    def deliver(item):
        raise TransportError("POST https://ehr.example/fhir: connection refused (after 5 attempts)")

    summary = box.run(deliver, worker_id="w", tries=2, clock=clock, sleep=clock.sleep)
    assert summary == RunSummary(retrying=(iid,), remaining=1) and summary.exit_code == 3
    item = box.get(iid)
    assert item.state == "pending" and item.attempts == 2 and item.next_attempt == clock.t + 45.0
    assert item.last_error == "TransportError: POST https://ehr.example/fhir: connection refused (after 5 attempts)"


def test_run_does_not_wait_beyond_its_patience(box, clock):
    iid = box.enqueue(SERVER, bundle())
    box.claim("w", 60)
    box.retry_later(iid, "TransportError: timed out")  # due in 22.5 s
    summary = box.run(lambda item: OK, worker_id="w", patience=10, clock=clock, sleep=clock.sleep)
    assert summary == RunSummary(remaining=1) and clock.slept == []
    summary = box.run(lambda item: OK, worker_id="w", patience=30, clock=clock, sleep=clock.sleep)
    assert summary == RunSummary(delivered=(iid,)) and clock.slept == [22.5]


def test_unexpected_exception_is_retried_with_its_type(box, clock):
    iid = box.enqueue(SERVER, bundle())

    def deliver(item):
        raise ValueError("Doe, John")

    box.run(deliver, worker_id="w", tries=1, clock=clock, sleep=clock.sleep)
    item = box.get(iid)
    assert item.state == "pending" and item.last_error == "unexpected ValueError (a bug: see the worker's debug log)"


def test_bad_credentials_stop_the_run_and_keep_the_item(box, clock):
    first, second = box.enqueue(SERVER, bundle("A")), box.enqueue(SERVER, bundle("B"))

    def deliver(item):
        raise Unauthorized("POST https://ehr.example/fhir failed: 401 Unauthorized", 401, SERVER)

    with pytest.raises(Unauthorized):
        box.run(deliver, worker_id="w", clock=clock, sleep=clock.sleep)
    assert [(i.state, i.attempts) for i in box.list()] == [("pending", 1), ("pending", 0)]


def test_interrupted_delivery_is_due_again_at_once(box, clock):
    iid = box.enqueue(SERVER, bundle())

    def deliver(item):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        box.run(deliver, worker_id="w", clock=clock, sleep=clock.sleep)
    item = box.get(iid)
    assert (item.state, item.next_attempt, item.last_error) == ("pending", clock.t, "interrupted")


def test_run_leaves_other_servers_alone_and_stops_at_max_items(box, clock):
    mine = [box.enqueue(SERVER, bundle(v)) for v in ("A", "B", "C")]
    other = box.enqueue(OTHER, bundle("A"))
    seen = []
    summary = box.run(lambda item: seen.append(item.server) or OK, worker_id="w", server=SERVER + "/",
                      max_items=2, clock=clock, sleep=clock.sleep)
    assert summary == RunSummary(delivered=tuple(mine[:2]), remaining=1) and seen == [SERVER, SERVER]
    assert box.get(other).state == "pending" and box.get(mine[2]).state == "pending"


def test_daemon_mode_polls(box, clock):
    box.enqueue(SERVER, bundle())
    summary = box.run(lambda item: OK, worker_id="w", until_empty=False, max_items=1, clock=clock, sleep=clock.sleep)
    assert len(summary.delivered) == 1
    iid = box.enqueue(SERVER, bundle("B"))
    box.claim("w", 60)
    box.retry_later(iid, "TransportError: timed out")  # due in 22.5 s: polled every 5 s until then
    box.run(lambda item: OK, worker_id="w", until_empty=False, max_items=1, clock=clock, sleep=clock.sleep)
    assert clock.slept == [5.0] * 4 + [2.5] and box.get(iid).state == "delivered"


# -------------------------------------------------------------------------------- de-duplication
def test_same_key_for_the_same_server_keeps_one_pending_item(box):
    first = box.enqueue(SERVER, bundle("A", note="1"))
    again = box.enqueue(SERVER, bundle("A", note="2"))
    other_server = box.enqueue(OTHER, bundle("A"))
    other_key = box.enqueue(SERVER, bundle("B"))
    assert again == first and len({first, other_server, other_key}) == 3
    assert box.get(first).bundle == bundle("A", note="2")  # the newer Bundle replaces the older
    assert len(box.list("pending")) == 3


def test_a_key_enqueued_while_in_flight_supersedes_it_on_failure(box, clock):
    old = box.enqueue(SERVER, bundle("A", note="1"))
    box.claim("w", 60)
    new = box.enqueue(SERVER, bundle("A", note="2"))  # the in-flight Bundle is not changed under the worker
    assert new != old and box.get(old).bundle == bundle("A", note="1")
    assert box.retry_later(old, "TransportError: timed out", worker_id="w")
    assert box.get(old) is None and [i.id for i in box.list()] == [new]  # superseded, dropped


def test_bundles_without_key_are_not_merged(box):
    keyless = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    assert box.enqueue(SERVER, keyless) != box.enqueue(SERVER, keyless)


# ------------------------------------------------------------------------------------- leases
def test_expired_lease_is_reclaimed_and_the_stale_worker_loses_it(box, clock):
    iid = box.enqueue(SERVER, bundle())
    box.claim("killed", 10)
    clock.t += 9
    assert box.claim("w2", 10) is None
    clock.t += 1
    again = box.claim("w2", 10)
    assert again.id == iid and again.worker == "w2" and again.attempts == 2
    assert not box.retry_later(iid, "TransportError: late", worker_id="killed")  # no longer its item
    assert box.get(iid).state == "in-flight"
    assert box.complete(iid, OK) and box.get(iid).state == "delivered"


def test_concurrent_claimers_never_share_an_item(path):
    setup = Outbox(SqliteBackend(path))
    ids = {setup.enqueue(SERVER, bundle(f"K{n}")) for n in range(60)}
    got: dict[str, list[str]] = {}
    start = threading.Barrier(4)

    def worker(name):
        box = Outbox(SqliteBackend(path))  # its own connections, as another process would have
        start.wait()
        mine = got.setdefault(name, [])
        while (item := box.claim(name, 300)) is not None:
            mine.append(item.id)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    claimed = [i for lst in got.values() for i in lst]
    assert sorted(claimed) == sorted(ids)  # every item once, none twice
    assert all(i.state == "in-flight" for i in setup.list())


def test_concurrent_processes_never_share_an_item(path):
    setup = Outbox(SqliteBackend(path))
    ids = {setup.enqueue(SERVER, bundle(f"K{n}")) for n in range(40)}
    code = ("import sys; from fhir_at.client.outbox import Outbox, SqliteBackend\n"
            "box = Outbox(SqliteBackend(sys.argv[1]))\n"
            "while (i := box.claim(sys.argv[2], 300)) is not None: print(i.id, flush=True)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"p{n}"], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT) for n in range(3)]
    claimed = [line for p in procs for line in p.communicate(timeout=60)[0].split()]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(claimed) == sorted(ids)


# ------------------------------------------------------------------------------------------ CLI
def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env_box(monkeypatch, tmp_path):
    monkeypatch.setenv("FHIR_AT_OUTBOX", str(tmp_path / "cli.sqlite"))
    monkeypatch.delenv("FHIR_AT_TOKEN", raising=False)
    return Outbox(SqliteBackend(tmp_path / "cli.sqlite"))


def test_cli_list(env_box, capsys):
    assert cli(capsys, "outbox", "list") == (0, "", "the outbox is empty\n")
    iid = env_box.enqueue(SERVER, bundle())
    code, out, _ = cli(capsys, "outbox", "list")
    header, row = out.splitlines()
    assert code == 0 and header.split() == ["ID", "CREATED", "SERVER", "KEY", "STATE", "ATTEMPTS", "NEXT",
                                            "ATTEMPT", "LAST", "ERROR"]
    assert row.split()[0] == iid and row.split()[2:6] == [SERVER, "urn:oid:1.2.3|ATA-1", "pending", "0"]
    code, out, _ = cli(capsys, "outbox", "list", "--state", "pending", "--format", "json")
    [doc] = json.loads(out)
    assert doc["id"] == iid and doc["state"] == "pending" and "Doe" not in out  # never the Bundle
    assert cli(capsys, "outbox", "list", "--state", "failed") == (0, "", "no failed item\n")


def test_cli_run_delivers_the_items_of_its_server(env_box, capsys, monkeypatch):
    from fhir_at.client import push

    iid = env_box.enqueue(SERVER, bundle())
    other = env_box.enqueue(OTHER, bundle())
    monkeypatch.setattr(push, "push_bundle", lambda client, b, **kw: push.PushReport("transaction", tuple(
        push.EntryResult(e["resource"]["resourceType"], "created", "1") for e in b["entry"])))
    code, _, err = cli(capsys, "outbox", "run", "--server", SERVER)
    assert code == 0 and f"{iid}: delivered (2 created)" in err
    assert "https://ehr.example/fhir: 1 delivered, 0 failed, 0 pending" in err
    assert env_box.get(iid).state == "delivered" and env_box.get(other).state == "pending"


def test_cli_run_exit_3_when_items_stay_pending(env_box, capsys, monkeypatch):
    from fhir_at.client import push

    iid = env_box.enqueue(SERVER, bundle())

    def unavailable(client, b, **kw):
        raise ServerError("POST https://ehr.example/fhir failed: 503 Service Unavailable", 503, SERVER)

    monkeypatch.setattr(push, "push_bundle", unavailable)
    code, _, err = cli(capsys, "outbox", "run", "--server", SERVER, "--once")
    assert code == 3 and "1 item(s) still pending; run again later" in err
    assert "https://ehr.example/fhir: 0 delivered, 0 failed, 1 pending" in err
    assert env_box.get(iid).last_error == "ServerError: POST https://ehr.example/fhir failed: 503 Service Unavailable"


def test_cli_run_exit_1_when_the_server_refuses(env_box, capsys, monkeypatch):
    from fhir_at.client import push

    env_box.enqueue(SERVER, bundle())

    def refuse(client, b, **kw):
        raise Unprocessable("POST https://ehr.example/fhir failed: 400 Bad Request", 400, SERVER)

    monkeypatch.setattr(push, "push_bundle", refuse)
    code, _, err = cli(capsys, "outbox", "run", "--server", SERVER)
    assert code == 1 and "1 item(s) refused by the server; see: fhir-at outbox list --state failed" in err
    assert [i.state for i in env_box.list()] == ["failed"]


# ----------------------------------------------------------------------------- the real server
FHIR_JSON = {"Accept": "application/fhir+json"}


def unique_bundle() -> tuple[dict, str]:
    """The seed example with identifiers unique to this run (the server store is shared), as a
    transaction Bundle; SEKMET cannot search DeviceRequest, so those entries are plain creates."""
    from fhir_at import api
    from tests.test_server_roundtrip import unique

    a = unique("duchenne-mobility.json")
    b = copy.deepcopy(api.convert(a, pdf=False)[0])
    for e in b["entry"]:
        if e["resource"]["resourceType"] == "DeviceRequest":
            e["request"].pop("ifNoneExist", None)
    return b, f"{a['identifier']['system']}|{a['identifier']['value']}"


def procedures(http, url, ident) -> int:
    found = http.get(f"{url}/Procedure", params={"identifier": ident}, headers=FHIR_JSON, timeout=10).json()
    return len([e for e in found.get("entry", []) if e.get("search", {}).get("mode", "match") == "match"])


def worker(url, name, env, **extra):
    return subprocess.Popen([sys.executable, "-m", "tests.outbox_worker", url, name], cwd=ROOT,
                            env={**env, **{k: str(v) for k, v in extra.items()}},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.integration
def test_killed_worker_item_is_delivered_once_by_the_next(fhir_server_url, http, tmp_path):
    b, ident = unique_bundle()
    path = tmp_path / "outbox.sqlite"
    env = {**os.environ, "FHIR_AT_OUTBOX": str(path)}
    box = Outbox(SqliteBackend(path))
    iid = box.enqueue(fhir_server_url, b)
    lease = 3.0

    started = time.monotonic()
    first = worker(fhir_server_url, "doomed", env, OUTBOX_WORKER_PAUSE=120, OUTBOX_WORKER_LEASE=lease)
    try:
        deadline = time.monotonic() + 60
        while procedures(http, fhir_server_url, ident) == 0:  # the server has it, the outbox not yet
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first worker never delivered"
            time.sleep(0.05)
        on_server = time.monotonic() - started
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    item = box.get(iid)
    assert item.state == "in-flight" and item.worker == "doomed" and item.attempts == 1

    time.sleep(max(item.lease_until - time.time(), 0) + 0.1)  # the killed worker's lease runs out
    second_started = time.monotonic()
    second = worker(fhir_server_url, "next", env, OUTBOX_WORKER_PAUSE=0, OUTBOX_WORKER_LEASE=30)
    out, err = second.communicate(timeout=120)
    redelivered = time.monotonic() - second_started
    assert second.returncode == 0, out + err
    assert json.loads(out.splitlines()[-1]) == {"delivered": [iid], "failed": [], "remaining": 0}

    assert procedures(http, fhir_server_url, ident) == 1  # delivered twice, created once
    done = box.get(iid)
    assert done.state == "delivered" and done.worker == "next" and done.attempts == 2 and done.bundle is None
    proc = next(s for s in done.summary if s["resourceType"] == "Procedure")
    assert proc["outcome"] in ("existed", "updated") and proc["id"]
    print(f"\nkill test: on the server after {on_server:.2f}s, lease {lease}s, "
          f"second worker delivered in {redelivered:.2f}s, total {time.monotonic() - started:.2f}s")
