"""The declarative data: mapping files against their schema, verified codes only, URIs in one module."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from fhir_at.terminology import systems
from fhir_at.terminology.catalog import catalog
from fhir_at.validation.terminology import loinc_check_digit_ok
from tests.conftest import ROOT, SHARED

MAPPINGS = sorted(p for p in (ROOT / "mappings").glob("*.yaml") if p.name != "billing.yaml")


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_mapping_file_matches_schema(path):
    schema = json.loads((ROOT / "mappings" / "_schema.json").read_text())
    doc = yaml.safe_load(path.read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    for table in doc["tables"]:
        assert table["system"] in systems.BY_NAME


def test_billing_rules_match_their_schema_and_refer_to_known_things():
    schema = json.loads((ROOT / "mappings" / "_billing.schema.json").read_text())
    doc = yaml.safe_load((ROOT / "mappings" / "billing.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    for rule in doc["rules"]:
        assert rule["source"] in doc["sources"], rule["id"]
        assert rule["payers"] == "all" or set(rule["payers"]) <= set(doc["payers"]), rule["id"]
    for t in doc["therapy-thresholds"]:
        assert t["source"] in doc["sources"]
    assert set(doc["rehab-power-mobility"]) <= set(catalog().devices)


def test_schema_rejects_a_broken_table():
    schema = json.loads((ROOT / "mappings" / "_schema.json").read_text())
    bad = {"version": 1, "tables": [{"name": "x", "system": "LOINC", "codes": [{"code": "1"}]}]}
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad)


def test_every_loinc_code_passes_its_check_digit():
    cat = catalog()
    codes = [m.code for m in cat.measures.values() if m.system == systems.LOINC]
    codes += [c.code for c in cat.document_types.values()]
    assert codes and all(loinc_check_digit_ok(c) for c in codes), [c for c in codes if not loinc_check_digit_ok(c)]
    assert not loinc_check_digit_ok("52737-0") and not loinc_check_digit_ok("89200-7")  # known fakes


def _verified():
    path = SHARED / "reference" / "codes.json"
    if not path.is_file():
        pytest.skip("shared/reference/codes.json is not beside the repository")
    return json.loads(path.read_text())


def test_devices_and_loinc_codes_are_the_verified_ones():
    ref = _verified()
    verified_hcpcs = {e["code"]: e["cms_short_descriptor_2026"] for e in ref["hcpcs"]}
    cat = catalog()
    for code, concept in cat.devices.items():
        assert verified_hcpcs.get(code) == concept.display, code
    verified_cpt = {e["code"]: e["cms_short_descriptor"] for e in ref["cpt"]}
    for code, concept in cat.procedures.items():
        assert verified_cpt.get(code) == concept.display, code
    verified_loinc = {e["code"] for e in ref["loinc"]}
    used = {m.code for m in cat.measures.values() if m.system == systems.LOINC}
    used |= {c.code for c in cat.document_types.values()}
    assert used <= verified_loinc, used - verified_loinc


def test_every_measure_answer_set_and_kind_exists():
    cat = catalog()
    for m in cat.measures.values():
        assert m.kind in cat.kinds
        assert (m.answers in cat.answers) if m.value_type == "coded" else m.answers is None
        assert bool(m.units) == (m.value_type == "quantity"), m.key


URI = re.compile(r"""["'](https?://|urn:oid:)[^"']+["']""")


def test_uri_literals_only_in_systems_module():
    offenders = []
    for path in (ROOT / "fhir_at").rglob("*.py"):
        if path.name == "systems.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if URI.search(line) and "operationoutcome-message-id" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert offenders == []


def test_emitted_systems_are_known(seed):
    from fhir_at import api

    bundle, _ = api.convert(seed, pdf=False)
    found = set(re.findall(r'"system": "([^"]+)"', json.dumps(bundle)))
    known = {v for k, v in vars(systems).items() if k.isupper() and isinstance(v, str)}
    patient_and_business = {seed["identifier"]["system"], seed["patient"]["identifiers"][0]["system"],
                            seed["encounter"]["identifier"]["system"], seed["referral"]["identifier"]["system"]}
    assert found - known <= patient_and_business


def test_every_domain_has_a_heading_and_every_quantity_unit_reads_well():
    cat = catalog()
    assert {m.domain for m in cat.measures.values()} <= set(cat.domains)
    units = {u for m in cat.measures.values() for u in m.units}
    plain = {"kg", "cm", "m", "s", "m/s"}  # read as themselves
    assert units - plain - {"{score}"} <= set(cat.unit_displays)
