"""Round trips are lossless, proven over generated assessments (hypothesis), not only examples."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from fhir_at import api
from fhir_at.model.canonical import canonical
from tests.conftest import EXAMPLES
from tests.strategies import ICD, assessment

from fhir_at.terminology import icd10cm

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_generator_codes_are_billable():
    assert all(icd10cm.lookup(c).billable for c in ICD)


@PROFILE
@given(assessment())
def test_assessment_to_fhir_to_assessment_is_identity(a):
    outcome = api.check_assessment(a)
    assert outcome.ok, [str(i) for i in outcome.issues]
    bundle, _ = api.convert(a, pdf=False)
    back, outcome = api.extract(bundle)
    assert outcome.ok, [str(i) for i in outcome.issues]
    assert back == canonical(a)


@PROFILE
@given(assessment())
def test_fhir_to_assessment_to_fhir_keeps_every_element(a):
    bundle, _ = api.convert(a, pdf=False)
    back, _ = api.extract(bundle)
    again, outcome = api.convert(back, pdf=False)
    assert outcome.ok
    assert again == bundle


@PROFILE
@given(assessment())
def test_bundle_survives_json_serialisation(a):
    bundle, _ = api.convert(a, pdf=False)
    back, outcome = api.extract(json.loads(json.dumps(bundle)))
    assert outcome.ok and back == canonical(a)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_examples_round_trip_with_pdf(path):
    a = json.loads(path.read_text(encoding="utf-8"))
    bundle, outcome = api.convert(a)
    assert outcome.ok, [str(i) for i in outcome.issues]
    back, outcome = api.extract(bundle)
    assert outcome.ok and back == canonical(a)
