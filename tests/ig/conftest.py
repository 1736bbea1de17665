"""Fixtures of the implementation-guide tests: the built package (once), the example bundles, US Core."""

from __future__ import annotations

import json

import pytest

from fhir_at.validation.packages import R4_CORE
from tests.conftest import EXAMPLES, ROOT, require_package

PROFILES = ROOT / "profiles"
US_CORE = "hl7.fhir.us.core#6.1.0"


def example_assessments() -> list:
    return sorted(EXAMPLES.glob("*.json"))


@pytest.fixture(scope="session")
def core():
    return require_package(R4_CORE)


@pytest.fixture(scope="session")
def built(core):
    """The package fhir.at.assessment built from this checkout."""
    return build_with_examples()


def build_with_examples():
    """The package as `fhir-at ig build` makes it: conformance resources and the examples."""
    from fhir_at.ig.package import build
    from fhir_at.ig_examples import examples

    return build(example_resources=[res for _, res in examples(EXAMPLES)])


@pytest.fixture(scope="session")
def package_resources(built) -> dict[str, dict]:
    """Path inside the package -> parsed JSON."""
    return {name: json.loads(data) for name, data in built.files.items()}


@pytest.fixture(scope="session")
def example_bundles() -> list[dict]:
    """Every example converted the ways the mappers can: without PDF, with PDF, and with a Claim."""
    from fhir_at import api
    from fhir_at.billing.checks import ClaimContext
    from fhir_at.billing.rules import billing_rules

    out = []
    for path in example_assessments():
        doc = json.loads(path.read_text(encoding="utf-8"))
        for kwargs in ({"pdf": False}, {"pdf": True}):
            bundle, outcome = api.convert(doc, **kwargs)
            assert bundle is not None, (path.name, outcome.issues)
            out.append(bundle)
        if "payer" in doc:
            modifier = billing_rules().therapy_modifier[doc["clinician"]["discipline"]]
            bundle, outcome = api.convert(doc, pdf=False, claim=True, billing=ClaimContext(modifiers=(modifier,)))
            assert bundle is not None, (path.name, outcome.issues)
            out.append(bundle)
    return out


@pytest.fixture(scope="session")
def us_core(core, us_core_package):
    """US Core 6.1.0 from the shared folder, installed in a temporary cache."""
    return us_core_package
