"""Schemathesis against the service's own OpenAPI schema, in process: no server errors, and every
response (status, media type, body) as the schema says. Bounded: 25 examples an operation,
derandomized, so it fits in CI."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from fhir_at.service.app import create_app
from tests.service.conftest import ALL_KEY, settings_of

# No targets or EHRs: $push and $conditions answer 404 before contacting anything (a 502 from a
# server that is not there would be a 5xx by design, not a failure of the service).
_STATE = Path(tempfile.mkdtemp(prefix="fhir-at-schemathesis-"))
APP = create_app(settings_of(_STATE))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@pytest.mark.filterwarnings("ignore")
def test_the_service_keeps_its_own_schema(case):
    case.call_and_validate(headers={"X-API-Key": ALL_KEY}, checks=CHECKS)
