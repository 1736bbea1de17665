"""What the mappers emit conforms to the fhir-at profiles: every example bundle (with and without
PDF, with a Claim) and every example resource of the package, validated with the package loaded, has
no error from a fhir-at profile (errors of the base specification are the validator's own tests);
and each negative example of tests/ig/negative/ gives exactly one, from its profile."""

from __future__ import annotations

import json

import pytest

from fhir_at.issues import Severity
from fhir_at.validation.packages import R4_CORE
from tests.ig.test_negatives import HERE, MANIFEST


@pytest.fixture(scope="module")
def validator(built, tmp_path_factory):
    from fhir_at.ig.package import write
    from fhir_at.validation.validator import Validator

    folder = tmp_path_factory.mktemp("ig")
    write(built, folder)
    return Validator((R4_CORE, str(folder)))


def _profile_errors(outcome) -> list[str]:
    return [str(i) for i in outcome.issues
            if i.severity in (Severity.ERROR, Severity.FATAL) and "(profile " in i.message]


def test_every_bundle_the_mappers_emit_conforms(validator, example_bundles):
    for bundle in example_bundles:
        assert _profile_errors(validator.validate(bundle)) == []


def test_every_example_resource_of_the_package_conforms(validator, package_resources):
    examples = [r for n, r in package_resources.items() if n.startswith("package/example/") and "resourceType" in r]
    for res in examples:
        assert _profile_errors(validator.validate(res)) == [], (res["resourceType"], res["id"])


@pytest.mark.parametrize("case", MANIFEST, ids=lambda c: c["file"])
def test_each_negative_example_breaks_exactly_one_constraint_of_its_profile(validator, case):
    res = json.loads((HERE / case["file"]).read_text(encoding="utf-8"))
    errors = _profile_errors(validator.validate(res))
    assert len(errors) == 1 and f"(profile {case['profile'].rsplit('/', 1)[1]}" in errors[0], (case, errors)
