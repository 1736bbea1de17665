"""fhir_at.client.http.FhirClient: retries, errors, same-server rules, capabilities, paging
(with ``responses``), and retries against the real server through a fault-injecting proxy."""

from __future__ import annotations

import random
import pytest
import requests
import responses
from responses import matchers

from fhir_at import api
from fhir_at.client.http import Capabilities, FhirClient, RetryPolicy
from fhir_at.errors import NotFound, ServerError, TransportError
from tests.fault_proxy import FaultProxy

BASE = "https://ehr.example/fhir"
FHIR_JSON = "application/fhir+json"


class Sleeps(list):
    """An injected ``sleep`` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def client(base: str = BASE, **kw) -> FhirClient:
    kw.setdefault("sleep", Sleeps())
    return FhirClient(base, session=_session(), **kw)


def oo(text: str, code: str = "not-found") -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code,
                                                           "details": {"text": text}}]}


PATIENT = {"resourceType": "Patient", "id": "1"}


# ---------------------------------------------------------------------------------- retries
@responses.activate
def test_429_waits_as_long_as_retry_after_says():
    responses.add(responses.GET, f"{BASE}/Patient/1", status=429, headers={"Retry-After": "7"})
    responses.add(responses.GET, f"{BASE}/Patient/1", json=PATIENT)
    c = client()
    assert c.get("Patient/1") == PATIENT
    assert c.sleep == [7.0]
    assert len(responses.calls) == 2


@responses.activate
def test_retry_after_is_capped_by_max_delay():
    responses.add(responses.GET, f"{BASE}/Patient/1", status=429, headers={"Retry-After": "3600"})
    responses.add(responses.GET, f"{BASE}/Patient/1", json=PATIENT)
    c = client(retry=RetryPolicy(max_delay=12.0))
    c.get("Patient/1")
    assert c.sleep == [12.0]


def test_backoff_is_exponential_with_full_jitter_and_capped():
    p = RetryPolicy(backoff=0.5, max_delay=3.0)
    assert [p.delay(n, None, rng=lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert p.delay(2, None, rng=lambda: 0.25) == 0.5
    assert p.delay(0, "not a number nor a date", rng=lambda: 1.0) == 0.5  # an unreadable Retry-After is ignored


@responses.activate
def test_503_is_retried_with_bounded_backoff_then_raised():
    responses.add(responses.GET, f"{BASE}/Patient/1", status=503, json=oo("overloaded", "transient"))
    c = client(retry=RetryPolicy(attempts=4, backoff=1.0, max_delay=2.5))
    with pytest.raises(ServerError) as e:
        c.get("Patient/1")
    assert len(responses.calls) == 4                 # attempts in all, the first included
    assert len(c.sleep) == 3
    assert all(0 <= d <= min(2.5, 1.0 * 2 ** n) for n, d in enumerate(c.sleep)), c.sleep
    assert e.value.message == f"GET {BASE}/Patient/1 failed: 503 Service Unavailable: overloaded"
    assert e.value.status == 503


@responses.activate
def test_connection_errors_are_retried_then_a_transport_error():
    responses.add(responses.GET, f"{BASE}/Patient/1", body=requests.ConnectionError("[Errno 111] Connection refused"))
    c = client(retry=RetryPolicy(attempts=3))
    with pytest.raises(TransportError) as e:
        c.get("Patient/1", params={"identifier": "urn:oid:1.2|MRN-SECRET"})
    assert len(responses.calls) == 3 and len(c.sleep) == 2
    assert e.value.message == f"GET {BASE}/Patient/1: connection refused (after 3 attempts)"
    assert "MRN-SECRET" not in e.value.message       # the query (PHI) stays out of messages


@responses.activate
def test_a_timeout_then_success():
    responses.add(responses.GET, f"{BASE}/Patient/1", body=requests.ReadTimeout("read timed out"))
    responses.add(responses.GET, f"{BASE}/Patient/1", json=PATIENT)
    assert client().get("Patient/1") == PATIENT


@responses.activate
def test_a_401_is_retried_once_after_invalidate():
    class Auth(requests.auth.AuthBase):
        invalidated = 0

        def __call__(self, r):
            r.headers["Authorization"] = f"Bearer t{self.invalidated}"
            return r

        def invalidate(self):
            self.invalidated += 1

    responses.add(responses.GET, f"{BASE}/Patient/1", status=401)
    responses.add(responses.GET, f"{BASE}/Patient/1", json=PATIENT)
    a = Auth()
    assert client(auth=a).get("Patient/1") == PATIENT
    assert a.invalidated == 1
    assert [c.request.headers["Authorization"] for c in responses.calls] == ["Bearer t0", "Bearer t1"]


# ----------------------------------------------------------------------------------- errors
@responses.activate
def test_404_is_not_found_with_the_outcome_as_issues():
    responses.add(responses.GET, f"{BASE}/Patient/nope", status=404, json=oo("Resource Patient/nope is not known"),
                  content_type=FHIR_JSON)
    with pytest.raises(NotFound) as e:
        client().get("Patient/nope")
    assert e.value.message == f"GET {BASE}/Patient/nope failed: 404 Not Found: Resource Patient/nope is not known"
    assert [i.message for i in e.value.issues] == ["Resource Patient/nope is not known"]
    assert e.value.issues[0].code.value == "not-found"
    assert e.value.body == ""  # the outcome is in the issues


@responses.activate
def test_html_error_page_is_named_as_such():
    responses.add(responses.POST, BASE, status=500, body="<html><body>Internal Server Error</body></html>",
                  content_type="text/html; charset=utf-8")
    with pytest.raises(ServerError) as e:
        client().transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert e.value.message == (f"POST {BASE} failed: 500 Internal Server Error; "
                               "the server answered an HTML page, not a FHIR OperationOutcome")
    assert e.value.issues == () and "Internal Server Error" in e.value.body


@responses.activate
def test_a_success_that_is_not_fhir_json():
    responses.add(responses.GET, f"{BASE}/Patient/1", body="<html/>", content_type="text/html")
    with pytest.raises(TransportError) as e:
        client().get("Patient/1")
    assert e.value.message == "GET Patient/1: the server answered 200 with text/html, not FHIR JSON"


@responses.activate
def test_a_transaction_without_a_response_bundle():
    responses.add(responses.POST, BASE, json=oo("accepted", "informational"))
    with pytest.raises(TransportError) as e:
        client().transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert e.value.message == f"POST {BASE}: the server answered 200 without a response Bundle"


# ------------------------------------------------------------------------------ same server
@responses.activate
def test_redirect_to_another_host_is_refused_and_not_followed():
    responses.add(responses.GET, f"{BASE}/Patient/1", status=302,
                  headers={"Location": "https://evil.example/fhir/Patient/1?token=x"})
    with pytest.raises(TransportError) as e:
        client(auth=lambda r: r).get("Patient/1")
    assert e.value.message == (f"GET {BASE}/Patient/1: redirect to https://evil.example/fhir/Patient/1 "
                               "refused (another server)")
    assert len(responses.calls) == 1


@responses.activate
def test_redirect_on_the_same_server_is_not_followed_either():
    responses.add(responses.GET, f"{BASE}/Patient/1", status=301, headers={"Location": "/fhir/Patient/2"})
    with pytest.raises(TransportError) as e:
        client().get("Patient/1")
    assert e.value.message == f"GET {BASE}/Patient/1: unexpected redirect (301) to {BASE}/Patient/2"


def test_url_keeps_to_the_base():
    c = client(BASE + "/")
    assert c.url("Patient/1") == f"{BASE}/Patient/1"
    assert c.url("/Patient/1") == f"{BASE}/Patient/1"
    assert c.url(f"{BASE}/Patient?_page=2") == f"{BASE}/Patient?_page=2"
    assert c.url("HTTPS://EHR.example/fhir/Patient/1") == "HTTPS://EHR.example/fhir/Patient/1"
    refused = {"https://evil.example/fhir/Patient/1": "https://evil.example/fhir/Patient/1",
               "http://ehr.example/fhir/Patient/1": "http://ehr.example/fhir/Patient/1",      # another scheme
               "https://ehr.example:8443/fhir/Patient/1": "https://ehr.example:8443/fhir/Patient/1",
               "https://ehr.example/admin/users": "https://ehr.example/admin/users",           # outside the base
               "https://ehr.example/fhirX/Patient?identifier=MRN-1": "https://ehr.example/fhirX/Patient"}
    for url, shown in refused.items():
        with pytest.raises(TransportError) as e:
            c.url(url)
        assert e.value.message == f"refused: {shown} is outside the server {BASE}"


def test_base_url_must_be_absolute_http():
    from fhir_at.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        FhirClient("ehr.example/fhir")
    assert e.value.message == "server URL 'ehr.example/fhir' is not an absolute http(s) URL"


# ----------------------------------------------------------------------------- capabilities
CAPABILITY_STATEMENT = {
    "resourceType": "CapabilityStatement", "status": "active", "date": "2026-01-01", "kind": "instance",
    "fhirVersion": "4.0.1", "format": ["json"],
    "rest": [
        {"mode": "server",
         "security": {"service": [{"coding": [{"code": "SMART-on-FHIR"}]}]},
         "resource": [
             {"type": "Patient", "interaction": [{"code": "read"}, {"code": "create"}, {"code": "search-type"}],
              "updateCreate": False, "conditionalCreate": True,
              "searchParam": [{"name": "identifier", "type": "token"}, {"name": "birthdate", "type": "date"}]},
             {"type": "Procedure", "updateCreate": True,
              "searchParam": [{"name": "identifier", "type": "token"}, {"name": "patient", "type": "reference"}]},
             {"type": "DeviceRequest", "interaction": [{"code": "create"}]},
         ],
         "interaction": [{"code": "transaction"}, {"code": "history-system"}]},
        {"mode": "client", "interaction": [{"code": "batch"}],
         "resource": [{"type": "Claim", "searchParam": [{"name": "identifier"}]}]},
    ],
}


def test_capabilities_of_a_capability_statement():
    caps = Capabilities.of(CAPABILITY_STATEMENT)
    assert caps.is_r4 and caps.fhir_version == "4.0.1"
    assert caps.transaction and not caps.batch                 # batch is only in the client part
    assert caps.searchable_by_identifier("Patient") and caps.searchable_by_identifier("Procedure")
    assert not caps.searchable_by_identifier("DeviceRequest")
    assert not caps.searchable_by_identifier("Claim")           # client mode is not the server's
    assert caps.update_create == {"Patient": False, "Procedure": True, "DeviceRequest": False}
    assert not Capabilities.of({"fhirVersion": "4.3.0"}).is_r4


@responses.activate
def test_capabilities_are_read_once():
    responses.add(responses.GET, f"{BASE}/metadata", json=CAPABILITY_STATEMENT)
    c = client()
    assert c.capabilities.transaction and c.capabilities.transaction
    assert len(responses.calls) == 1


# ----------------------------------------------------------------------------------- paging
def page(n: int, next_url: str | None) -> dict:
    links = [{"relation": "self", "url": f"{BASE}/Procedure?page={n}"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "link": links,
            "entry": [{"resource": {"resourceType": "Procedure", "id": f"p{n}"}}]}


def _page_response(n: int, next_url: str | None, query: dict):
    responses.add(responses.GET, f"{BASE}/Procedure", json=page(n, next_url),
                  match=[matchers.query_param_matcher(query)])


@responses.activate
def test_iter_pages_follows_relative_and_absolute_next_links():
    _page_response(1, "Procedure?subject=Patient/1&page=2", {"subject": "Patient/1"})
    _page_response(2, f"{BASE}/Procedure?subject=Patient/1&page=3", {"subject": "Patient/1", "page": "2"})
    _page_response(3, None, {"subject": "Patient/1", "page": "3"})
    pages = list(client().iter_pages("Procedure", {"subject": "Patient/1"}))
    assert [p["entry"][0]["resource"]["id"] for p in pages] == ["p1", "p2", "p3"]


@responses.activate
def test_iter_pages_detects_a_loop():
    _page_response(1, f"{BASE}/Procedure?page=2", {})
    _page_response(2, f"{BASE}/Procedure?page=3", {"page": "2"})
    _page_response(3, "Procedure?page=2", {"page": "3"})        # back to page 2
    it = client().iter_pages("Procedure")
    with pytest.raises(TransportError) as e:
        list(it)
    assert e.value.message == f"the server's next link repeats a page ({BASE}/Procedure)"
    assert len(responses.calls) == 3


@responses.activate
def test_iter_pages_refuses_a_next_link_to_another_server():
    _page_response(1, "https://evil.example/fhir/Procedure?page=2", {})
    it = client().iter_pages("Procedure")
    next(it)
    with pytest.raises(TransportError, match="refused: https://evil.example/fhir/Procedure is outside the server"):
        next(it)


# ------------------------------------------------------------- real server, through the proxy
@pytest.fixture
def proxy(fhir_server_url):
    with FaultProxy(fhir_server_url) as p:
        yield p


@pytest.mark.integration
def test_metadata_survives_429_503_and_a_reset(proxy):
    proxy.plan(["429:1", "503", "reset"])
    c = client(proxy.url, retry=RetryPolicy(attempts=5))
    caps = c.capabilities
    assert caps.is_r4 and caps.transaction
    assert proxy.received == 4 and proxy.forwarded == 1
    assert [fault for _, _, fault in proxy.log] == ["429:1", "503", "reset", "pass"]
    assert len(c.sleep) == 3 and c.sleep[0] == 1.0       # Retry-After honoured


@pytest.mark.integration
def test_proxy_rewrites_the_servers_urls(proxy):
    proxy.plan([])
    doc = client(proxy.url).get("metadata")
    assert doc["url"].startswith(proxy.origin)          # SEKMET writes its own base URL into answers


def _npi() -> str:
    """A random NPI with a valid check digit (Luhn over the 80840 prefix)."""
    base = f"1{random.randrange(10 ** 8):08d}"
    digits = [int(d) for d in "80840" + base]
    total = sum(d if i % 2 else sum(divmod(2 * d, 10)) for i, d in enumerate(reversed(digits)))
    return base + str((10 - total % 10) % 10)


def _unique_bundle() -> tuple[dict, str]:
    """The seed example as a transaction Bundle, with identifiers (NPIs included: the store is
    shared with tests that expect their practitioners to be new) unique to this run; no
    ifNoneExist on DeviceRequest (SEKMET has no search parameters for it)."""
    from tests.test_server_roundtrip import unique

    a = unique("duchenne-mobility.json")
    for who in (a["clinician"], a["organization"], a["referral"]["referrer"]):
        who["npi"] = _npi()
    bundle, outcome = api.convert(a, pdf=False)
    assert bundle is not None, outcome
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "DeviceRequest":
            e["request"].pop("ifNoneExist", None)
    return bundle, f"{a['identifier']['system']}|{a['identifier']['value']}"


@pytest.mark.integration
def test_a_transaction_whose_answer_is_lost_is_retried_without_duplicates(proxy, fhir_server_url):
    bundle, ident = _unique_bundle()
    assert any("ifNoneExist" in e["request"] for e in bundle["entry"]
               if e["resource"]["resourceType"] == "Procedure")
    proxy.plan(["forward-then-reset"])                  # the server commits, the client hears nothing
    result = client(proxy.url).transaction(bundle)
    assert proxy.forwarded == 2
    statuses = {sent["resource"]["resourceType"]: got["response"]["status"]
                for sent, got in zip(bundle["entry"], result["entry"])}
    assert statuses["Procedure"].startswith("200")     # the retry found the first one

    with _session() as s:                               # count on the server itself, not through the proxy
        found = s.get(f"{fhir_server_url}/Procedure", params={"identifier": ident},
                      headers={"Accept": FHIR_JSON}, timeout=10).json()
    matches = [e for e in found.get("entry", []) if e.get("search", {}).get("mode", "match") == "match"]
    assert len(matches) == 1, [e["resource"]["id"] for e in matches]
