"""CodeSystems and ValueSets generated from mappings/: complete, and holding every code the mappers emit."""

from __future__ import annotations

import json

import pytest

from fhir_at.errors import ConfigError
from fhir_at.ig import terminology
from fhir_at.terminology import systems
from fhir_at.terminology.catalog import Concept, catalog


def _codings(node):
    if isinstance(node, dict):
        if isinstance(node.get("system"), str) and "code" in node:
            yield node["system"], node["code"], node.get("display")
        for v in node.values():
            yield from _codings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _codings(v)


@pytest.fixture(scope="module")
def code_systems():
    return {cs["url"]: cs for cs in terminology.code_systems("0.1.0")}


def test_every_fhir_at_code_the_mappers_emit_is_in_its_code_system(example_bundles, code_systems):
    emitted = {(s, c, d) for b in example_bundles for s, c, d in _codings(b) if s.startswith(systems.CANONICAL_BASE)}
    assert {s for s, _, _ in emitted} == set(code_systems)  # every code system is used by some example
    for system, code, display in sorted(emitted):
        concepts = {c["code"]: c for c in code_systems[system]["concept"]}
        assert code in concepts, (system, code)
        assert concepts[code]["display"] == display, (system, code)


def test_code_systems_are_complete_with_every_code_and_display_of_the_tables(code_systems):
    cat = catalog()
    expected = {(m.system, m.code, m.display) for m in cat.measures.values()}
    expected |= {(c.system, c.code, c.display) for a in cat.answers.values() for c in a.values()}
    expected |= {(c.system, c.code, c.display) for t in cat.concepts.values() for c in t.values()}
    expected = {e for e in expected if e[0].startswith(systems.CODE_SYSTEM_BASE)}
    found = {(url, c["code"], c["display"]) for url, cs in code_systems.items() for c in cs["concept"]}
    assert found == expected
    for cs in code_systems.values():
        assert cs["content"] == "complete" and cs["count"] == len(cs["concept"]) and cs["caseSensitive"] is True
    assert set(code_systems) == set(terminology.emitted_code_systems())


def test_answer_codes_carry_their_set_and_measures_their_kind_and_domain(code_systems):
    fair = next(c for c in code_systems[systems.CS_ANSWER]["concept"] if c["code"] == "balance-fair")
    assert fair["property"] == [{"code": "answer-set", "valueCode": "balance"}]
    hip = next(c for c in code_systems[systems.CS_MEASURE]["concept"] if c["code"] == "rom-hip-flexion")
    assert hip["property"] == [{"code": "kind", "valueCode": "exam"}, {"code": "domain", "valueCode": "range-of-motion"}]


def test_value_sets_list_codes_of_their_code_systems_and_the_verified_tables(code_systems):
    cat = catalog()
    sets = {vs["id"]: vs for vs in terminology.value_sets("0.1.0")}
    for vs in sets.values():
        for inc in vs["compose"]["include"]:
            if inc["system"] in code_systems:
                have = {c["code"]: c["display"] for c in code_systems[inc["system"]]["concept"]}
                for c in inc.get("concept", ()):
                    assert have[c["code"]] == c["display"], (vs["id"], c["code"])
    devices = sets["at-devices"]["compose"]["include"]
    assert devices == [{"system": systems.HCPCS, "concept": [{"code": c.code, "display": c.display}
                                                             for c in cat.devices.values()]}]
    assert {c["code"] for c in sets["at-report-types"]["compose"]["include"][0]["concept"]} == \
        {c.code for c in cat.document_types.values()}
    exam = {c["code"] for i in sets["at-exam-measure-codes"]["compose"]["include"] for c in i["concept"]}
    assert exam == {m.code for m in cat.measures.values() if m.kind == "exam"}
    assert {c["code"] for c in sets["at-functional-item-answers"]["compose"]["include"][0]["concept"]} == \
        {f"{s}-{a}" for s in ("cms-performance", "wheelchair-type") for a in cat.answers[s]}
    assert sets["at-laterality"]["compose"] == {"include": [{"system": systems.CS_LATERALITY}]}


def test_generation_is_deterministic():
    first = json.dumps([terminology.code_systems("1"), terminology.value_sets("1")])
    assert json.dumps([terminology.code_systems("1"), terminology.value_sets("1")]) == first


def test_two_displays_for_one_code_are_refused():
    cat = catalog()
    clash = dict(cat.concepts)
    clash["laterality-bis"] = {"l": Concept(systems.CS_LATERALITY, "left", "Gauche", "l")}
    broken = type(cat)(**{**cat.__dict__, "concepts": clash})
    with pytest.raises(ConfigError) as e:
        terminology.code_systems("1", broken)
    assert e.value.message == (f"{systems.CS_LATERALITY}: code 'left' has two displays ('Left' in concepts.yaml "
                               "(laterality), 'Gauche' in concepts.yaml (laterality-bis))")
