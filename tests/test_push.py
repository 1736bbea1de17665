"""Pushing to the real FHIR server (SEKMET): every example, twice, and nothing is duplicated."""

from __future__ import annotations

import dataclasses
import json

import pytest
import requests

from fhir_at import api
from fhir_at.cli.main import main
from fhir_at.client.http import FhirClient
from fhir_at.client.push import push_bundle
from tests.conftest import EXAMPLES
from tests.test_server_roundtrip import unique

pytestmark = pytest.mark.integration


@pytest.fixture
def client(fhir_server_url):
    s = requests.Session()
    s.trust_env = False
    return FhirClient(fhir_server_url, session=s)


def count(client, rtype, ident):
    bundle = client.get(rtype, {"identifier": f"{ident['system']}|{ident['value']}", "_summary": "count"})
    return bundle["total"]


def totals(client) -> dict[str, int]:
    return {t: client.get(t, {"_summary": "count"})["total"]
            for t in ("Patient", "Practitioner", "Organization", "Encounter", "Condition", "Procedure",
                      "Observation", "DeviceRequest", "DocumentReference", "ServiceRequest", "Coverage")}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_push_every_example_twice_creates_nothing_new(client, path):
    a = unique(path.name)
    if "fhirId" in a["patient"]:
        client.put(f"Patient/{a['patient']['fhirId']}", {"resourceType": "Patient", "id": a["patient"]["fhirId"],
                                                        "name": [{"family": "Example"}], "gender": "female"})
    # SEKMET cannot search DeviceRequest by identifier, but accepts PUT with a new id: say so
    report, outcome = api.push(a, client, pdf=False, update_create=True)
    assert report is not None and report.ok and outcome.ok, [str(i) for i in outcome.issues]
    assert report.mode == "transaction"
    before = totals(client)
    again, _ = api.push(a, client, pdf=False, update_create=True)
    assert set(again.counts()) <= {"existed", "updated"}, again.counts()
    assert [e.id for e in again.entries] == [e.id for e in report.entries]
    assert totals(client) == before
    assert count(client, "Procedure", a["identifier"]) == 1


def test_without_update_create_the_unsearchable_type_is_said_not_idempotent(client):
    a = unique("duchenne-mobility.json")
    bundle, _ = api.convert(a, pdf=False)
    report = push_bundle(client, bundle)
    warnings = [i for i in report.issues if i.message_id == "PUSH_NOT_IDEMPOTENT"]
    assert len(warnings) == 3 and "DeviceRequest" in warnings[0].message


def test_sequential_push_for_a_server_without_transactions(client):
    a = unique("duchenne-mobility.json")
    bundle, _ = api.convert(a, pdf=False)
    client.__dict__["capabilities"] = dataclasses.replace(client.capabilities, interactions=frozenset())
    first = push_bundle(client, bundle, update_create=True)
    assert first.mode == "sequential" and first.ok
    again = push_bundle(client, bundle, update_create=True)
    assert [e.id for e in again.entries] == [e.id for e in first.entries]
    assert count(client, "Procedure", a["identifier"]) == 1
    # the references of the cycle (Encounter <-> Condition, Procedure <-> DocumentReference) were filled in
    proc = next(e for e in first.entries if e.resource_type == "Procedure")
    doc = next(e for e in first.entries if e.resource_type == "DocumentReference")
    assert client.get(f"Procedure/{proc.id}")["report"] == [{"reference": f"DocumentReference/{doc.id}"}]
    enc = next(e for e in first.entries if e.resource_type == "Encounter")
    assert len(client.get(f"Encounter/{enc.id}")["diagnosis"]) == 2
    # and what was pushed extracts back to the same assessment
    resources = [{"fullUrl": f"{client.base}/{e.resource_type}/{e.id}",
                  "resource": client.get(f"{e.resource_type}/{e.id}")} for e in first.entries]
    back, outcome = api.extract({"resourceType": "Bundle", "type": "collection", "entry": resources})
    from fhir_at.model.canonical import canonical

    assert outcome.ok and back == canonical(a)


def test_invalid_input_is_refused_and_force_pushes_a_bundle(client, tmp_path):
    bad = json.loads((EXAMPLES / "invalid" / "duchenne-g71-0.json").read_text())
    report, outcome = api.push(bad, client, pdf=False)
    assert report is None and outcome.errors[0].message_id == "ICD_HEADER"
    a = unique("duchenne-mobility.json")
    bundle, _ = api.convert(a, pdf=False)
    proc = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Procedure")
    del proc["extension"]  # the timed minutes: the bundle no longer holds a complete assessment
    report, outcome = api.push(bundle, client, pdf=False, update_create=True)
    assert report is None and not outcome.ok
    report, outcome = api.push(bundle, client, pdf=False, force=True, update_create=True)
    assert report is not None and report.ok and outcome.ok
    assert any("pushed anyway (--force)" in i.message for i in outcome.issues)


def test_cli_push(fhir_server_url, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    a = unique("stroke-afo-walker.json")
    src = tmp_path / "a.json"
    src.write_text(json.dumps(a))
    code = main(["push", str(src), "--server", fhir_server_url, "--no-pdf", "--update-create"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "created  Procedure/" in out and "as a transaction" in err
    code = main(["push", str(src), "--server", fhir_server_url, "--no-pdf", "--update-create", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0
    outcomes = {e["outcome"] for e in json.loads(out)[0]["entries"]}
    assert outcomes <= {"existed", "updated"}


def test_cli_push_to_a_server_that_is_down(tmp_path, capsys):
    code = main(["push", str(EXAMPLES / "cp-pediatric-stander.json"), "--server", "http://127.0.0.1:9/fhir",
                 "--no-pdf", "--timeout", "1"])
    _, err = capsys.readouterr()
    assert code == 3 and "connection refused" in err and "--queue" in err
