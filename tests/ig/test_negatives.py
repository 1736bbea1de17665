"""The negative examples (tests/ig/negative/) are well-formed: each named in the manifest, claiming
an existing fhir-at profile whose snapshot has the element said to fail. (Validating them is the
profile validator's test.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_at.terminology import systems

HERE = Path(__file__).resolve().parent / "negative"
MANIFEST = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))["negatives"]


def test_the_manifest_lists_every_file_once():
    files = sorted(p.name for p in HERE.glob("*.json") if p.name != "manifest.json")
    assert sorted(n["file"] for n in MANIFEST) == files
    assert len({n["file"] for n in MANIFEST}) == len(MANIFEST)


@pytest.mark.parametrize("case", MANIFEST, ids=lambda c: c["file"])
def test_each_names_a_profile_element_and_location(case, package_resources):
    known = {*systems.PROFILES.values(), systems.EXT_TIMED_MINUTES, systems.EXT_LATERALITY}
    assert case["profile"] in known
    sd = package_resources[f"package/StructureDefinition-{case['profile'].rsplit('/', 1)[1]}.json"]
    assert case["element"] in {e["id"] for e in sd["snapshot"]["element"]}
    res = json.loads((HERE / case["file"]).read_text(encoding="utf-8"))
    assert case["expression"].split(".", 1)[0] == res["resourceType"]
    assert res["meta"]["profile"][0] in systems.PROFILES.values()
