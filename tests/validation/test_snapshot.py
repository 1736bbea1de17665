"""Snapshot generation from differentials: US Core 6.1.0's published snapshots, a small hand-written
profile, bad inputs (missing and circular bases), and ``fhir-at snapshot``."""

from __future__ import annotations

import json
import time

import pytest

from fhir_at.issues import Severity
from fhir_at.terminology.systems import FHIR_SD_BASE, LOINC
from fhir_at.validation.packages import R4_CORE, PackageSet
from fhir_at.validation.snapshot import generate_snapshot
from tests.conftest import require_package, run_cli as run

US_CORE = "hl7.fhir.us.core#6.1.0"
EX = "http://example.org/fhir/StructureDefinition/"
# Profiles whose base chain needs a package that is not available (the expected mismatches).
UNRESOLVABLE = {"us-core-questionnaireresponse"}  # based on SDC's sdc-questionnaireresponse


def _key(e: dict) -> dict:
    b = e.get("binding") or {}
    return {
        "id": e.get("id"), "path": e.get("path"), "min": e.get("min"), "max": e.get("max"),
        "type": [(t.get("code"), tuple(t.get("profile") or ()), tuple(t.get("targetProfile") or ()))
                 for t in e.get("type") or ()],
        "binding": (b.get("strength"), b.get("valueSet")),
        "fixed/pattern": sorted(k for k in e if k.startswith(("fixed", "pattern"))),
        "sliceName": e.get("sliceName"),
        "discriminators": [(d.get("type"), d.get("path"))
                           for d in (e.get("slicing") or {}).get("discriminator") or ()],
    }


def _first_difference(generated: list[dict], published: list[dict]) -> str:
    for n, (a, b) in enumerate(zip(map(_key, generated), map(_key, published))):
        if a != b:
            return f"element {n}: " + ", ".join(f"{k} {a[k]!r} != {b[k]!r}" for k in a if a[k] != b[k])
    return f"{len(generated)} elements generated, {len(published)} published"


@pytest.fixture(scope="module")
def us_core(us_core_package):
    """(US Core package, core + US Core, the URLs of US Core's StructureDefinitions)."""
    core = require_package(R4_CORE)
    assert us_core_package.ref == US_CORE
    own = {e["url"] for e in us_core_package.iter_index("StructureDefinition") if e.get("url")}
    return us_core_package, PackageSet([us_core_package, core]), own


def _definitions(pset: PackageSet, hidden: set[str]):
    """``pset`` with the snapshots of ``hidden`` StructureDefinitions removed."""
    def definitions(url: str):
        found = pset(url)
        if found is not None and found.get("url") in hidden:
            found = {k: v for k, v in found.items() if k != "snapshot"}
        return found

    return definitions


@pytest.mark.parametrize("hide_bases", [True, False], ids=["us-core-bases-generated", "us-core-bases-published"])
def test_us_core_snapshots_agree_with_the_published_ones(us_core, hide_bases):
    """Every profile's snapshot from its differential alone; with ``hide_bases`` a US Core base in a
    chain (us-core-vital-signs under us-core-body-weight...) is generated from its differential too."""
    pkg, pset, own = us_core
    definitions = _definitions(pset, own if hide_bases else set())
    exact, mismatches, count = [], {}, 0
    started = time.perf_counter()
    for entry in pkg.iter_index("StructureDefinition"):
        sd = pkg.load(entry["filename"])
        count += 1
        generated, issues = generate_snapshot({k: v for k, v in sd.items() if k != "snapshot"}, definitions)
        published = sd["snapshot"]["element"]
        if [_key(e) for e in generated] == [_key(e) for e in published]:
            exact.append(sd["id"])
            assert not [i for i in issues if i.severity is Severity.ERROR], (sd["id"], issues)
        else:
            mismatches[sd["id"]] = _first_difference(generated, published) + "".join(
                f"; {i.message}" for i in issues)
    elapsed = time.perf_counter() - started
    print(f"\n{len(exact)}/{count} US Core 6.1.0 snapshots match exactly ({elapsed:.2f}s)")
    for sid, why in sorted(mismatches.items()):
        print(f"  {sid}: {why}")
    assert count == 59
    assert len(exact) >= 58
    assert set(mismatches) <= UNRESOLVABLE, mismatches


def test_a_profile_with_a_missing_base_in_its_chain_is_reported_not_raised(us_core):
    pkg, pset, own = us_core
    definitions = _definitions(pset, own)
    sd = pkg.resource_by_url("http://hl7.org/fhir/us/core/StructureDefinition/us-core-questionnaireresponse")
    elements, issues = generate_snapshot({k: v for k, v in sd.items() if k != "snapshot"}, definitions)
    assert elements == []
    assert [i.message_id for i in issues] == ["VAL_SNAP_BASE_MISSING"]
    assert "sdc-questionnaireresponse" in issues[0].message and "us-core-questionnaireresponse" in issues[0].message


def _core_definitions():
    return PackageSet([require_package(R4_CORE)])


PROFILE = {
    "resourceType": "StructureDefinition", "url": EX + "small-observation", "name": "SmallObservation",
    "status": "draft", "kind": "resource", "abstract": False, "type": "Observation",
    "baseDefinition": FHIR_SD_BASE + "Observation", "derivation": "constraint",
    "differential": {"element": [
        {"id": "Observation", "path": "Observation"},
        {"id": "Observation.category", "path": "Observation.category",
         "slicing": {"discriminator": [{"type": "pattern", "path": "$this"}], "rules": "open"}},
        {"id": "Observation.category:lab", "path": "Observation.category", "sliceName": "lab",
         "min": 1, "max": "1", "patternCodeableConcept": {"coding": [{"code": "laboratory"}]}},
        {"id": "Observation.code", "path": "Observation.code", "mustSupport": True, "short": "What"},
        {"id": "Observation.code.coding", "path": "Observation.code.coding", "min": 1},
        {"id": "Observation.code.coding.system", "path": "Observation.code.coding.system", "min": 1,
         "fixedUri": LOINC},
        {"id": "Observation.subject", "path": "Observation.subject", "min": 1,
         "type": [{"code": "Reference", "targetProfile": [FHIR_SD_BASE + "Patient"]}]},
        {"id": "Observation.valueQuantity", "path": "Observation.valueQuantity", "min": 1},
        {"id": "Observation.valueQuantity.unit", "path": "Observation.valueQuantity.unit", "min": 1},
        {"id": "Observation.bodySite", "path": "Observation.bodySite", "max": "0"},
        {"id": "Observation.status", "path": "Observation.status",
         "constraint": [{"key": "small-1", "severity": "error", "human": "h", "expression": "true"}]},
    ]},
}


def test_a_small_profile():
    elements, issues = generate_snapshot(PROFILE, _core_definitions())
    assert issues == []
    by_id = {e["id"]: e for e in elements}
    ids = [e["id"] for e in elements]
    assert by_id["Observation.bodySite"]["max"] == "0"                               # max = 0
    assert (by_id["Observation.subject"]["min"], by_id["Observation.subject"]["max"]) == (1, "1")  # 1..1
    assert by_id["Observation.subject"]["type"][0]["targetProfile"] == [FHIR_SD_BASE + "Patient"]
    lab = by_id["Observation.category:lab"]                                          # a slice
    assert (lab["sliceName"], lab["path"], lab["min"], lab["max"]) == ("lab", "Observation.category", 1, "1")
    assert "patternCodeableConcept" in lab and "slicing" not in lab
    assert ids.index("Observation.category:lab") == ids.index("Observation.category") + 1
    assert by_id["Observation.category"]["slicing"]["discriminator"] == [{"type": "pattern", "path": "$this"}]
    # below a datatype: CodeableConcept's and Coding's children, rebased
    assert ids[ids.index("Observation.code") + 1:ids.index("Observation.code") + 4] == [
        "Observation.code.id", "Observation.code.extension", "Observation.code.coding"]
    system = by_id["Observation.code.coding.system"]
    assert (system["path"], system["min"], system["fixedUri"]) == ("Observation.code.coding.system", 1, LOINC)
    assert by_id["Observation.code"]["mustSupport"] is True and by_id["Observation.code"]["short"] == "What"
    # a choice type named by one type: a type slice, required → the choice is narrowed and closed
    vq = by_id["Observation.value[x]:valueQuantity"]
    assert (vq["path"], vq["sliceName"], [t["code"] for t in vq["type"]]) == (
        "Observation.value[x]", "valueQuantity", ["Quantity"])
    assert by_id["Observation.value[x]:valueQuantity.unit"]["path"] == "Observation.value[x].unit"
    assert by_id["Observation.value[x]:valueQuantity.unit"]["min"] == 1
    choice = by_id["Observation.value[x]"]
    assert [t["code"] for t in choice["type"]] == ["Quantity"] and choice["slicing"]["rules"] == "closed"
    keys = [c["key"] for c in by_id["Observation.status"]["constraint"]]
    assert keys[-1] == "small-1" and "ele-1" in keys                                 # appended
    assert "valueQuantity" not in json.dumps(ids).replace(":valueQuantity", "")


def test_a_profile_on_a_profile_without_a_snapshot():
    derived = {**PROFILE, "url": EX + "smaller", "baseDefinition": PROFILE["url"], "differential": {"element": [
        {"id": "Observation.category:lab", "path": "Observation.category", "sliceName": "lab",
         "slicing": {"discriminator": [{"type": "value", "path": "coding.system"}], "rules": "open"}},
        {"id": "Observation.category:lab/sub", "path": "Observation.category", "sliceName": "lab/sub"},
        {"id": "Observation.note", "path": "Observation.note", "max": "0"}]}}
    core = _core_definitions()
    mine = {PROFILE["url"]: PROFILE}
    elements, issues = generate_snapshot(derived, lambda url: mine.get(url) or core(url))
    assert issues == []
    ids = [e["id"] for e in elements]
    assert ids.index("Observation.category:lab/sub") == ids.index("Observation.category:lab") + 1  # re-slice
    by_id = {e["id"]: e for e in elements}
    assert by_id["Observation.note"]["max"] == "0" and by_id["Observation.bodySite"]["max"] == "0"


def test_missing_and_circular_bases_are_issues():
    a = {"resourceType": "StructureDefinition", "url": EX + "a", "baseDefinition": EX + "b",
         "differential": {"element": [{"id": "Observation", "path": "Observation"}]}}
    b = {**a, "url": EX + "b", "baseDefinition": EX + "a"}
    known = {EX + "a": a, EX + "b": b}
    elements, issues = generate_snapshot(a, known.get)
    assert elements == [] and [i.message_id for i in issues] == ["VAL_SNAP_CIRCULAR"]
    assert EX + "a" in issues[0].message and EX + "b" in issues[0].message
    selfish = {**a, "baseDefinition": EX + "a"}
    assert [i.message_id for i in generate_snapshot(selfish, {EX + "a": selfish}.get)[1]] == ["VAL_SNAP_CIRCULAR"]
    missing = {**a, "baseDefinition": EX + "nowhere"}
    elements, issues = generate_snapshot(missing, known.get)
    assert elements == [] and [i.message_id for i in issues] == ["VAL_SNAP_BASE_MISSING"]
    assert EX + "nowhere" in issues[0].message and EX + "a" in issues[0].message
    assert [i.message_id for i in generate_snapshot({"resourceType": "StructureDefinition"}, known.get)[1]] == [
        "VAL_SNAP_BASE_MISSING"]


def test_a_malformed_base_snapshot_is_an_issue_not_a_crash():
    base = {"resourceType": "StructureDefinition", "url": EX + "base", "snapshot": {"element": [
        {"id": "Observation", "path": "Observation"}, {"id": "Observation.code"}]}}
    sd = {**PROFILE, "baseDefinition": EX + "base"}
    elements, issues = generate_snapshot(sd, {EX + "base": base}.get)
    assert elements == [] and [i.message_id for i in issues] == ["VAL_SNAP_BAD_ELEMENT"]
    assert EX + "base" in issues[0].message


def test_a_broken_differential_is_reported_element_by_element():
    sd = {**PROFILE, "differential": {"element": [
        {"id": "Observation.nonsense", "path": "Observation.nonsense", "min": 1},
        "not an element",
        {"id": "Observation.value[x].unit", "path": "Observation.value[x].unit", "min": 1},
        {"id": "Observation.status", "path": "Observation.status", "short": "kept"}]}}
    elements, issues = generate_snapshot(sd, _core_definitions())
    assert [i.message_id for i in issues] == ["VAL_SNAP_ELEMENT_UNKNOWN", "VAL_SNAP_BAD_ELEMENT",
                                        "VAL_SNAP_ELEMENT_UNKNOWN"]
    assert "Observation.nonsense" in issues[0].message and PROFILE["url"] in issues[0].message
    assert {e["id"]: e for e in elements}["Observation.status"]["short"] == "kept"


def test_cli_prints_the_profile_with_its_snapshot(tmp_path, capsys):
    require_package(R4_CORE)
    path = tmp_path / "sd.json"
    path.write_text(json.dumps(PROFILE))
    code, out, err = run(capsys, "snapshot", str(path))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["differential"] == PROFILE["differential"]
    assert any(e["id"] == "Observation.category:lab" for e in doc["snapshot"]["element"])
    target = tmp_path / "out.json"
    assert run(capsys, "snapshot", str(path), "-o", str(target))[0] == 0
    assert json.loads(target.read_text())["snapshot"] == doc["snapshot"]


def test_cli_broken_profile_and_io_errors(tmp_path, capsys):
    require_package(R4_CORE)
    path = tmp_path / "sd.json"
    path.write_text(json.dumps({**PROFILE, "baseDefinition": EX + "nowhere"}))
    code, out, err = run(capsys, "snapshot", str(path))
    assert code == 1 and out == "" and "VAL_SNAP_BASE_MISSING" in err and EX + "nowhere" in err
    assert run(capsys, "snapshot", str(tmp_path / "absent.json"))[0] == 3
    assert run(capsys, "snapshot", str(path), "--ig", "no.such.package#1.0.0")[0] == 3
