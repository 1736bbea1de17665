"""``fhir-at ig build``: the package's files and index, determinism, the CLI's exit codes, and
installing and loading the package."""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest

from fhir_at.errors import ConfigError, InputError
from fhir_at.ig.package import build, tgz_bytes
from tests.ig.conftest import build_with_examples
from fhir_at.terminology import systems
from fhir_at.validation import packages
from fhir_at.validation.packages import PackageSet
from tests.conftest import EXAMPLES, run_cli as run
from tests.ig.conftest import PROFILES, example_assessments

REF = f"{systems.IG_PACKAGE_ID}#0.1.0"


def test_package_json(package_resources):
    manifest = package_resources["package/package.json"]
    assert manifest["name"] == "fhir.at.assessment" and manifest["version"] == "0.1.0"
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["dependencies"] == {"hl7.fhir.r4.core": "4.0.1"}
    assert manifest["canonical"] == systems.CANONICAL_BASE


def test_the_index_lists_every_file_with_its_identity(package_resources):
    for folder in ("package/", "package/example/"):
        index = package_resources[folder + ".index.json"]
        assert index["index-version"] == 1
        files = {n[len(folder):] for n in package_resources
                 if n.startswith(folder) and "/" not in n[len(folder):] and not n.endswith(("package.json", ".index.json"))}
        assert [e["filename"] for e in index["files"]] == sorted(files)
        for e in index["files"]:
            res = package_resources[folder + e["filename"]]
            assert e["filename"] == f"{res['resourceType']}-{res['id']}.json"
            for key in ("resourceType", "id", "url", "version", "kind", "type"):
                assert e.get(key) == res.get(key), (e["filename"], key)


def test_the_expected_conformance_resources(package_resources):
    names = set(package_resources)
    for url in [*systems.PROFILES.values(), systems.EXT_TIMED_MINUTES, systems.EXT_LATERALITY]:
        sd = package_resources[f"package/StructureDefinition-{url.rsplit('/', 1)[1]}.json"]
        assert sd["url"] == url and sd["version"] == "0.1.0"
        assert sd["snapshot"]["element"] and sd["differential"]["element"]
    for cs in ("at-measure", "at-answer", "at-laterality", "at-device-trial-outcome", "at-follow-up-kind",
               "at-discipline", "at-encounter-setting", "at-payer-kind"):
        assert f"package/CodeSystem-{cs}.json" in names and f"package/ValueSet-{cs}.json" in names
    for vs in ("at-devices", "at-report-types", "at-procedure-codes", "at-exam-measure-codes"):
        assert f"package/ValueSet-{vs}.json" in names
    guide = package_resources["package/ImplementationGuide-fhir.at.assessment.json"]
    assert guide["packageId"] == "fhir.at.assessment" and guide["url"] == systems.IG_URL
    listed = {r["reference"]["reference"] for r in guide["definition"]["resource"]}
    for name, res in package_resources.items():
        if name.endswith(".json") and "resourceType" in res and res["resourceType"] != "ImplementationGuide":
            assert f"{res['resourceType']}/{res['id']}" in listed, name


def test_the_capability_statement_receives_every_type_of_the_bundle(package_resources):
    cs = package_resources["package/CapabilityStatement-at-bundle-receiver.json"]
    rest = cs["rest"][0]
    assert rest["interaction"] == [{"code": "transaction"}]
    by_type = {r["type"]: r for r in rest["resource"]}
    assert set(by_type) == {"Patient", "Practitioner", "Organization", "Coverage", "Encounter", "ServiceRequest",
                            "Condition", "Procedure", "Observation", "DeviceRequest", "DocumentReference", "Claim"}
    assert len(by_type["Observation"]["supportedProfile"]) == 4
    assert all(r["conditionalCreate"] for r in rest["resource"])


def test_examples_are_the_mappers_bundles_and_their_resources(package_resources):
    examples = {n: r for n, r in package_resources.items() if n.startswith("package/example/") and "resourceType" in r}
    bundles = [r for r in examples.values() if r["resourceType"] == "Bundle"]
    assert sorted(b["id"] for b in bundles) == sorted(p.stem for p in example_assessments())
    ours = set(systems.PROFILES.values())
    for name, res in examples.items():
        assert set(res["meta"]["profile"]) <= ours, name
        assert "urn:uuid:" not in json.dumps(res) or res["resourceType"] == "Bundle", name
    entries = sum(len(b["entry"]) for b in bundles)
    standalone = [r for r in examples.values() if r["resourceType"] not in ("Bundle", "Claim")]
    assert 0 < len(standalone) <= entries
    assert any(r["resourceType"] == "Claim" for r in examples.values())


def test_the_build_is_deterministic(built, tmp_path):
    again = build_with_examples()
    assert again.files == built.files
    assert tgz_bytes(again) == tgz_bytes(built)


def test_cli_builds_the_same_tgz_twice_and_a_folder(tmp_path, capsys, core):
    a, b, folder = tmp_path / "a.tgz", tmp_path / "b.tgz", tmp_path / "out"
    code, out, err = run(capsys, "ig", "build", "-o", str(a))
    assert code == 0 and out == ""
    assert err.startswith(f"wrote {a}: package fhir.at.assessment#0.1.0 (18 StructureDefinitions, 8 CodeSystems, ")
    assert run(capsys, "ig", "build", "-o", str(b))[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert run(capsys, "ig", "build", "-o", str(folder))[0] == 0
    with tarfile.open(a) as tar:
        names = sorted(m.name for m in tar.getmembers())
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
        for name in names:
            assert tar.extractfile(name).read() == (folder / name).read_bytes()
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == names


def test_cli_default_output_is_the_tgz_named_after_the_package(tmp_path, capsys, monkeypatch, core):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "ig", "build", "--examples", str(EXAMPLES))[0] == 0
    assert (tmp_path / "fhir.at.assessment-0.1.0.tgz").is_file()


def test_cli_exit_codes_and_messages(tmp_path, capsys, core):
    code, _, err = run(capsys, "ig", "build", "-o", str(tmp_path / "x.tgz"), "--examples", str(tmp_path / "none"))
    assert code == 3 and f"fhir-at: the examples folder {tmp_path / 'none'} does not exist" in err
    assert "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "ig", "build", "-o", str(tmp_path / "x.tgz"), "--examples", str(empty))
    assert code == 3 and f"fhir-at: no assessment (*.json) in the examples folder {empty}" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(EXAMPLES / "invalid" / "duchenne-g71-0.json", bad)
    code, _, err = run(capsys, "ig", "build", "-o", str(tmp_path / "x.tgz"), "--examples", str(bad))
    assert code == 1 and "fhir-at: duchenne-g71-0.json: the example assessment cannot be converted" in err
    assert "[ICD_HEADER]" in err
    code, _, err = run(capsys, "ig", "build", "--date", "tomorrow")
    assert code == 2 and "'tomorrow' is not a date YYYY-MM-DD" in err
    afile = tmp_path / "plain"
    afile.write_text("x")
    code, _, err = run(capsys, "ig", "build", "-o", str(afile))
    assert code == 3 and f"{afile} exists and is not a folder" in err
    assert not (tmp_path / "x.tgz").exists()


def test_a_broken_profile_stops_the_build(tmp_path, core):
    folder = tmp_path / "profiles"
    shutil.copytree(PROFILES, folder)
    sd = json.loads((folder / "StructureDefinition-at-patient.json").read_text())
    sd["differential"]["element"].append({"id": "Patient.nosuch", "path": "Patient.nosuch", "min": 1})
    (folder / "StructureDefinition-at-patient.json").write_text(json.dumps(sd))
    with pytest.raises(InputError) as e:
        build(profiles_dir=folder)
    assert e.value.message == ("the snapshot of 1 profile(s) cannot be generated: "
                               f"{systems.PROFILE_PATIENT}")
    assert "Patient.nosuch" in e.value.issues[0].message
    (folder / "StructureDefinition-at-patient.json").write_text("{")
    with pytest.raises(ConfigError) as e:
        build(profiles_dir=folder)
    assert e.value.message.startswith("StructureDefinition-at-patient.json: cannot be read as JSON")


def test_the_package_installs_and_loads(built, tmp_path, monkeypatch, capsys, core):
    archive = tmp_path / "fhir.at.assessment-0.1.0.tgz"
    archive.write_bytes(tgz_bytes(built))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / core.ref).symlink_to(core.folder.parent, target_is_directory=True)
    monkeypatch.setenv("FHIR_AT_PACKAGE_CACHE", str(cache))
    packages.load_package.cache_clear()
    try:
        code, _, err = run(capsys, "packages", "install", str(archive))
        assert code == 0 and f"installed {REF} in {cache / REF}" in err
        pset = PackageSet.of([REF])
        assert [p.ref for p in pset.packages] == [REF, core.ref] and pset.missing == ()
        for url in systems.PROFILES.values():
            assert pset(url)["snapshot"]["element"]
        assert pset(systems.VS_DEVICES)["resourceType"] == "ValueSet"
        assert (cache / REF / "package" / "example" / "Bundle-duchenne-mobility.json").is_file()
        assert run(capsys, "packages", "list")[1].splitlines() == [REF, core.ref]
    finally:
        packages.load_package.cache_clear()
