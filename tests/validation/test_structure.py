"""Structure validation against the base R4 StructureDefinitions: one defect per case, valid controls.

Each defect case changes one thing in a valid resource and expects exactly the listed error issues,
compared on (severity, code, expression, message id). The valid controls are the R4 specification's
own examples (package ``hl7.fhir.r4.examples#4.0.1``) of the types fhir-at emits and reads, and the
bundles fhir-at builds from ``examples/*.json``.
"""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from fhir_at.errors import ConfigError
from fhir_at.validation import packages
from tests.conftest import EXAMPLES

EXAMPLES_PACKAGE = "hl7.fhir.r4.examples#4.0.1"
CONTROL_TYPES = ("Patient", "Practitioner", "Organization", "Encounter", "Procedure", "Condition",
                 "Observation", "DeviceRequest", "DocumentReference", "Bundle", "Claim", "Coverage",
                 "ServiceRequest")


def _core_or_skip():
    try:
        return packages.load_package(packages.R4_CORE)
    except ConfigError as exc:
        pytest.skip(f"the R4 core package is not installed (bash scripts/setup.sh): {exc}")


@pytest.fixture(scope="module")
def validator():
    _core_or_skip()
    from fhir_at.validation.structure import StructureValidator

    return StructureValidator()


def errors(validator, resource, location: str = "") -> set[tuple[str, str, str, str]]:
    return {(i.severity.value, i.code.value, i.expression, i.message_id)
            for i in validator.iter_issues(resource, location) if i.severity.value in ("error", "fatal")}


PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {"lastUpdated": "2024-03-01T10:00:00Z"},
    "identifier": [{"system": "http://example.org/mrn", "value": "123"}],
    "active": True,
    "name": [{"family": "Doe", "given": ["Jane", "Q"]}],
    "gender": "female",
    "birthDate": "1980-02-29",
    "deceasedBoolean": False,
    "multipleBirthInteger": 1,
    "contact": [{"name": {"family": "Roe"}}],
}


def patient(**changes) -> dict:
    out = copy.deepcopy(PATIENT)
    for key, value in changes.items():
        if value is _DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


_DROP = object()


def test_valid_patient(validator):
    assert errors(validator, patient()) == set()
