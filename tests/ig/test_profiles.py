"""The profiles of profiles/: well-formed differentials on R4 core whose snapshots generate without
any issue, whose bindings and profile references resolve inside the package, and which carry the
US Core 6.1.0 constraints of the profile they declare to comply with."""

from __future__ import annotations

import json
import re

import pytest

from fhir_at.cli.main import main
from fhir_at.terminology import systems
from fhir_at.validation.packages import R4_CORE, PackageSet
from fhir_at.validation.snapshot import generate_snapshot
from tests.ig.conftest import PROFILES

FILES = sorted(PROFILES.glob("StructureDefinition-*.json"))
SDS = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in FILES}
BY_URL = {sd["url"]: sd for sd in SDS.values()}
US_CORE_BASE = "http://hl7.org/fhir/us/core/StructureDefinition/"


def test_one_profile_per_canonical_and_one_extension_per_ext_constant():
    urls = set(BY_URL)
    assert set(systems.PROFILES.values()) <= urls
    assert {systems.EXT_TIMED_MINUTES, systems.EXT_LATERALITY} <= urls
    assert len(urls) == len(systems.PROFILES) + 2


@pytest.mark.parametrize("name", sorted(SDS))
def test_a_differential_on_r4_core(name):
    sd = SDS[name]
    assert name == f"StructureDefinition-{sd['id']}.json"
    assert sd["fhirVersion"] == "4.0.1" and sd["derivation"] == "constraint"
    assert sd["baseDefinition"] == systems.FHIR_SD_BASE + sd["type"]
    assert "snapshot" not in sd and sd["differential"]["element"][0]["id"] == sd["type"]
    for e in sd["differential"]["element"]:
        assert e["path"] == re.sub(r":[^.]+", "", e["id"]), e["id"]
    if sd["type"] == "Extension":
        assert sd["kind"] == "complex-type" and sd["context"]
    else:
        assert sd["kind"] == "resource"


@pytest.mark.parametrize("name", sorted(SDS))
def test_the_snapshot_generates_without_any_issue(name, core):
    elements, issues = generate_snapshot(SDS[name], PackageSet([core]))
    assert issues == [] and elements


@pytest.mark.parametrize("name", sorted(SDS))
def test_fhir_at_snapshot_reports_nothing(name, core, capsys, tmp_path):
    code = main(["snapshot", str(PROFILES / name), "-o", str(tmp_path / "out.json")])
    assert code == 0 and capsys.readouterr().err == ""


def _values(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _values(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v, key)


def test_every_binding_resolves_in_the_package_or_r4_core(package_resources, core):
    ours = {r["url"] for r in package_resources.values() if r.get("resourceType") == "ValueSet"}
    for sd in SDS.values():
        for binding in _values(sd["differential"], "binding"):
            url = binding["valueSet"].split("|")[0]
            assert url in ours or core.resource_by_url(url) is not None, (sd["id"], url)
            assert not url.startswith("http://hl7.org/fhir/us/core/"), "the package depends on R4 core only"


def test_every_profile_referenced_is_in_the_package_or_r4_core(core):
    for sd in SDS.values():
        for key in ("profile", "targetProfile"):
            for urls in _values(sd["differential"], key):
                for url in urls:
                    assert url in BY_URL or core.resource_by_url(url) is not None, (sd["id"], url)


def test_what_the_procedure_requires():
    diff = {e["id"]: e for e in SDS["StructureDefinition-at-assessment-procedure.json"]["differential"]["element"]}
    assert diff["Procedure.code.coding:cpt"]["patternCoding"] == {"system": systems.CPT, "code": "97755"}
    assert diff["Procedure.performed[x]"]["min"] == 1 and diff["Procedure.performed[x]"]["type"] == [{"code": "Period"}]
    assert diff["Procedure.reasonReference"]["type"][0]["targetProfile"] == [systems.PROFILE_CONDITION]
    assert diff["Procedure.performer"]["min"] == 1 and diff["Procedure.report"]["min"] == 1


def test_the_bundle_slices_entries_by_resource_type_with_their_profiles():
    diff = {e["id"]: e for e in SDS["StructureDefinition-at-assessment-bundle.json"]["differential"]["element"]}
    assert diff["Bundle.type"]["fixedCode"] == "transaction"
    assert diff["Bundle.entry"]["slicing"] == {"discriminator": [{"type": "type", "path": "resource"}],
                                               "description": "By resource type", "ordered": False, "rules": "open"}
    assert (diff["Bundle.entry:procedure"]["min"], diff["Bundle.entry:procedure"]["max"]) == (1, "1")
    assert (diff["Bundle.entry:report"]["min"], diff["Bundle.entry:report"]["max"]) == (1, "1")
    assert (diff["Bundle.entry:diagnosis"]["min"], diff["Bundle.entry:diagnosis"]["max"]) == (1, "*")
    profiled = {p for e in diff.values() if e["id"].endswith(".resource") for t in e.get("type", ()) for p in t["profile"]}
    assert profiled == set(systems.PROFILES.values()) - {systems.PROFILE_BUNDLE}


# --- US Core 6.1.0 --------------------------------------------------------------------------------

def _complies(sd: dict) -> str | None:
    for ext in sd.get("extension", ()):
        if ext["url"] == systems.EXT_COMPLIES_WITH_PROFILE:
            return ext["valueCanonical"]
    return None


COMPLYING = sorted(n for n, sd in SDS.items() if _complies(sd))


def test_every_profile_with_a_us_core_counterpart_declares_it():
    claimed = {SDS[n]["id"]: _complies(SDS[n]) for n in COMPLYING}
    assert all(v.startswith(US_CORE_BASE) and v.endswith("|6.1.0") for v in claimed.values())
    assert set(claimed) == {"at-patient", "at-practitioner", "at-organization", "at-encounter", "at-referral",
                            "at-assessment-procedure", "at-diagnosis", "at-functional-item", "at-exam-measure",
                            "at-clinical-judgement", "at-device-trial", "at-assessment-report", "at-coverage"}


def _max(value: str) -> float:
    return float("inf") if value == "*" else int(value)


@pytest.mark.parametrize("name", COMPLYING)
def test_us_core_cardinalities_types_and_invariants_are_carried(name, us_core, core):
    """Every US Core element's min/max is at least as strict in ours, our types are among US Core's,
    fixed/pattern values are kept, a required binding stays required (on our own, narrower value set
    when US Core's is not in R4 core) or becomes a pattern, and every us-core-* invariant is copied
    with its expression."""
    ours_sd = SDS[name]
    theirs = us_core.resource_by_url(_complies(ours_sd).split("|")[0])
    definitions = PackageSet([core]).resource
    ours_snapshot, issues = generate_snapshot(ours_sd, lambda u: BY_URL.get(u) or definitions(u))
    assert issues == []
    ours = {e["id"]: e for e in ours_snapshot}
    our_keys = {c["key"]: c["expression"] for e in ours_snapshot for c in e.get("constraint", ())}
    for e in theirs["differential"]["element"]:
        mine = ours.get(e["id"])
        if mine is None:  # an optional US Core slice or a must-support child we leave to the base
            assert e.get("min", 0) == 0, (e["id"], "required by US Core, absent from ours")
            continue
        if "min" in e:
            assert mine["min"] >= e["min"], (e["id"], mine["min"], e["min"])
        if "max" in e:
            assert _max(mine["max"]) <= _max(e["max"]), (e["id"], mine["max"], e["max"])
        if "type" in e:
            theirs_types = {t["code"] for t in e["type"]}
            assert {t["code"] for t in mine["type"]} <= theirs_types, e["id"]
        for key in [k for k in e if k.startswith(("fixed", "pattern"))]:
            assert mine.get(key) == e[key], (e["id"], key)
        if (e.get("binding") or {}).get("strength") == "required":
            fixed = any(k.startswith(("fixed", "pattern")) for k in mine)
            assert fixed or (mine.get("binding") or {}).get("strength") == "required", (e["id"], "binding")
        for c in e.get("constraint", ()):
            assert our_keys.get(c["key"]) == c["expression"], (e["id"], c["key"])
