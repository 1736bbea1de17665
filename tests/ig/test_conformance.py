"""What the mappers emit conforms to the fhir-at profiles: every example bundle (with and without
PDF, with a Claim) and every example resource of the package, validated with the package loaded, has
no error from a fhir-at profile (errors of the base specification are the validator's own tests);
and each negative example of tests/ig/negative/ gives exactly one, from its profile."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from fhir_at.issues import Severity
from fhir_at.validation.packages import R4_CORE
from tests.ig.test_negatives import HERE, MANIFEST
from tests.strategies import assessment


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


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(a=assessment())
def test_the_bundles_of_generated_assessments_conform(validator, a):
    from fhir_at import api

    bundle, outcome = api.convert(a, pdf=False)
    assert bundle is not None, [str(i) for i in outcome.issues]
    errors = _profile_errors(validator.validate(bundle))
    if "payer" in a and not a["payer"].get("memberId"):
        # warned at the input (PAYER_NO_MEMBER_ID): the Coverage cannot meet us-core-15, and only that
        assert any(i.message_id == "PAYER_NO_MEMBER_ID" for i in outcome.issues)
        assert len(errors) == 1 and "us-core-15" in errors[0] and "(profile at-coverage)" in errors[0], errors
    else:
        assert errors == []


def test_every_example_also_meets_us_core_6_1_0(built, us_core, package_resources):
    """Each example resource whose profile complies with a US Core 6.1.0 profile validates against
    that US Core profile (with US Core's package, not ours) without any error."""
    from fhir_at.terminology import systems
    from fhir_at.validation.validator import Validator

    complies = {}
    for name, res in package_resources.items():
        if res.get("resourceType") == "StructureDefinition":
            for ext in res.get("extension", ()):
                if ext["url"] == systems.EXT_COMPLIES_WITH_PROFILE:
                    complies[res["url"]] = ext["valueCanonical"].split("|")[0]
    us = Validator((R4_CORE, str(us_core.folder)), claims=False)
    checked, failed = 0, {}
    for name, res in package_resources.items():
        if not name.startswith("package/example/") or name.endswith(".index.json"):
            continue
        wanted = [complies[p] for p in (res.get("meta") or {}).get("profile", ()) if p in complies]
        if not wanted:
            continue
        checked += 1
        errors = [str(i) for i in us.validate(res, profiles=tuple(wanted)).issues
                  if i.severity in (Severity.ERROR, Severity.FATAL)]
        if errors:
            failed[name] = errors[:3]
    assert checked >= 100 and failed == {}, failed
