"""The whole delivery path under faults: assessments queued in the outbox, delivered through a
fault-injecting proxy in front of the real server (503, 429 with Retry-After, dropped connections,
answers lost after the server acted). The run ends with every resource on the server exactly once
and an outbox with nothing left to deliver."""

from __future__ import annotations

import pytest
import requests

from fhir_at import api
from fhir_at.client.http import FhirClient, RetryPolicy
from fhir_at.client.outbox import Backoff, Outbox, SqliteBackend
from fhir_at.client.push import push_bundle
from tests.fault_proxy import FaultProxy
from tests.test_server_roundtrip import unique

pytestmark = pytest.mark.integration
TYPES = ("Patient", "Practitioner", "Organization", "Coverage", "Encounter", "ServiceRequest", "Condition",
         "Procedure", "Observation", "DeviceRequest", "DocumentReference")


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def totals(client: FhirClient) -> dict[str, int]:
    return {t: client.get(t, {"_summary": "count"})["total"] for t in TYPES}


def test_outbox_through_faults_delivers_everything_exactly_once(fhir_server_url, tmp_path):
    direct = FhirClient(fhir_server_url, session=session())
    assessments = [unique(name) for name in ("duchenne-mobility.json", "als-power-seating.json",
                                              "stroke-afo-walker.json")]
    bundles = [api.convert(a, pdf=False)[0] for a in assessments]
    expected = {t: sum(1 for b in bundles for e in b["entry"] if e["resource"]["resourceType"] == t) for t in TYPES}
    # Practitioners/Organizations are shared between assessments only when their NPIs are: none are here
    before = totals(direct)

    with FaultProxy(fhir_server_url) as proxy:
        proxy.plan(["503", "reset", "429:1", "pass",                   # metadata, after three faults
                    "forward-then-reset", "503", "pass",               # 1st bundle: acted on, answer lost
                    "reset", "forward-then-reset", "pass",              # 2nd bundle
                    "502", "forward-then-reset", "forward-then-reset", "pass"])  # 3rd bundle
        client = FhirClient(proxy.url, session=session(), retry=RetryPolicy(attempts=3, backoff=0.05, max_delay=2))
        outbox = Outbox(SqliteBackend(tmp_path / "outbox.sqlite"), backoff=Backoff(base=0.05, cap=0.2))
        ids = [outbox.enqueue(proxy.url, b) for b in bundles]
        summary = outbox.run(lambda item: push_bundle(client, item.bundle, update_create=True),
                             worker_id="test", server=proxy.url, tries=5, lease_seconds=60)
        assert proxy.received > proxy.forwarded  # faults really happened

    assert len(summary.delivered) == 3 and summary.remaining == 0 and not summary.failed, summary
    assert {i.state for i in outbox.list()} == {"delivered"}
    assert all(outbox.get(i).attempts >= 1 for i in ids)
    after = totals(direct)
    assert {t: after[t] - before[t] for t in TYPES} == expected
    for a in assessments:
        found = direct.get("Procedure", {"identifier": f"{a['identifier']['system']}|{a['identifier']['value']}"})
        assert found["total"] == 1
