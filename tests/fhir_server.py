"""Pytest plugin: access to the real FHIR test server (SEKMET) for integration tests.

Load it from tests/conftest.py with ``pytest_plugins = ["tests.fhir_server"]``
(or ``["fhir_server"]`` when tests/ is on sys.path rather than a package).

The server is started outside pytest by ``bash scripts/test.sh`` (or ``.ci/run``),
which exports its base URL, e.g. ``http://127.0.0.1:PORT/fhir``, as
``FHIR_AT_TEST_SERVER``. The server starts with an empty store for every run,
but tests share it within a run: use unique identifiers per test.
"""

from __future__ import annotations

import os

import pytest
import requests

ENV_VAR = "FHIR_AT_TEST_SERVER"


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # loopback server: never route through a proxy from the environment
    return s


@pytest.fixture(scope="session")
def fhir_server_url() -> str:
    """Base URL of the running FHIR test server, without trailing slash."""
    url = os.environ.get(ENV_VAR, "").strip().rstrip("/")
    if not url:
        msg = (
            f"{ENV_VAR} is not set: integration tests need the FHIR test server; "
            "run the tests with `bash scripts/test.sh`, which starts it"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        with _session() as s:
            r = s.get(
                f"{url}/metadata",
                headers={"Accept": "application/fhir+json"},
                timeout=5,
            )
    except requests.RequestException as exc:
        pytest.fail(f"FHIR test server at {url} is not reachable: {exc}")
    if r.status_code != 200:
        pytest.fail(f"GET {url}/metadata answered {r.status_code}, expected 200")
    return url
