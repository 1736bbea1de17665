"""Profile validation: one small profile per constraint kind (a differential on R4 core, its snapshot
generated), each with an instance that meets it and one that breaks it; then US Core 6.1.0's
examples against the profiles they claim."""

from __future__ import annotations

import json
from functools import cache

import pytest

from fhir_at.validation.packages import R4_CORE
from fhir_at.validation.validator import Validator
from tests.conftest import require_package

BASE = "http://example.org/fhir/StructureDefinition/"
CORE = "http://hl7.org/fhir/StructureDefinition/"
LOINC = "http://loinc.org"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
VS_FINAL = "http://example.org/fhir/ValueSet/final-only"


def sd(name: str, type_: str, elements: list[dict], *, base: str | None = None, kind: str = "resource",
       context: list | None = None) -> dict:
    out = {"resourceType": "StructureDefinition", "url": BASE + name, "name": name, "status": "active",
           "fhirVersion": "4.0.1", "kind": kind, "abstract": False, "type": type_, "derivation": "constraint",
           "baseDefinition": base or CORE + type_, "differential": {"element": [{"id": type_, "path": type_}]
                                                                   + elements}}
    if context:
        out["context"] = context
    return out


def el(eid: str, **kw) -> dict:
    path = ".".join(part.split(":")[0] for part in eid.split("."))
    return {"id": eid, "path": path, **kw}


def cc(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


PROFILES = [
    sd("min-identifier", "Patient", [el("Patient.identifier", min=1)]),
    sd("no-photo", "Patient", [el("Patient.photo", max="0")]),
    sd("one-name", "Patient", [el("Patient.name", max="1")]),
    sd("quantity-only", "Observation", [el("Observation.value[x]", type=[{"code": "Quantity"}])]),
    sd("simple-quantity", "Observation", [el("Observation.value[x]", type=[
        {"code": "Quantity", "profile": [CORE + "SimpleQuantity"]}])]),
    sd("patient-subject", "Observation", [el("Observation.subject", type=[
        {"code": "Reference", "targetProfile": [CORE + "Patient"]}])]),
    sd("final-status", "Observation", [el("Observation.status", fixedCode="final")]),
    sd("loinc-code", "Observation", [el("Observation.code", patternCodeableConcept=cc(LOINC, "8867-4"))]),
    sd("bound-status", "Observation", [el("Observation.status", binding={"strength": "required",
                                                                          "valueSet": VS_FINAL})]),
    sd("named", "Patient", [el("Patient", constraint=[
        {"key": "ex-1", "severity": "error", "human": "A name is needed", "expression": "name.exists()"}])]),
    sd("bad-invariant", "Patient", [el("Patient", constraint=[
        {"key": "ex-2", "severity": "error", "human": "broken", "expression": "name.exists( and"}])]),
    sd("vital-category", "Observation", [
        el("Observation.category", slicing={"discriminator": [{"type": "pattern", "path": "$this"}],
                                            "rules": "open"}, min=1),
        el("Observation.category:vs", sliceName="vs", min=1, max="1",
           patternCodeableConcept=cc(OBS_CAT, "vital-signs"))]),
    sd("closed-identifiers", "Patient", [
        el("Patient.identifier", slicing={"discriminator": [{"type": "value", "path": "system"}],
                                          "rules": "closed"}),
        el("Patient.identifier:mrn", sliceName="mrn", max="1"),
        el("Patient.identifier:mrn.system", fixedUri="http://example.org/mrn")]),
    sd("ordered-identifiers", "Patient", [
        el("Patient.identifier", slicing={"discriminator": [{"type": "value", "path": "system"}],
                                          "rules": "open", "ordered": True}),
        el("Patient.identifier:a", sliceName="a"), el("Patient.identifier:a.system", fixedUri="urn:a"),
        el("Patient.identifier:b", sliceName="b"), el("Patient.identifier:b.system", fixedUri="urn:b")]),
    sd("at-end-identifiers", "Patient", [
        el("Patient.identifier", slicing={"discriminator": [{"type": "value", "path": "system"}],
                                          "rules": "openAtEnd"}),
        el("Patient.identifier:a", sliceName="a"), el("Patient.identifier:a.system", fixedUri="urn:a")]),
    sd("gendered", "Patient", [el("Patient.gender", min=1)]),
    sd("patient-bundle", "Bundle", [
        el("Bundle.entry", slicing={"discriminator": [{"type": "type", "path": "resource"}], "rules": "open"}),
        el("Bundle.entry:patient", sliceName="patient", min=1, max="1"),
        el("Bundle.entry:patient.resource", type=[{"code": "Patient"}])]),
    sd("profiled-bundle", "Bundle", [
        el("Bundle.entry", slicing={"discriminator": [{"type": "profile", "path": "resource"}], "rules": "closed"}),
        el("Bundle.entry:patient", sliceName="patient", min=1),
        el("Bundle.entry:patient.resource", type=[{"code": "Patient", "profile": [BASE + "gendered"]}])]),
    sd("measured-components", "Observation", [
        el("Observation.component", slicing={"discriminator": [{"type": "exists", "path": "value"}],
                                             "rules": "open"}),
        el("Observation.component:measured", sliceName="measured", min=1),
        el("Observation.component:measured.value[x]", min=1)]),
    sd("born-somewhere", "Patient", [
        el("Patient.extension", slicing={"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}),
        el("Patient.extension:place", sliceName="place", min=1, max="1",
           type=[{"code": "Extension", "profile": [CORE + "patient-birthPlace"]}])]),
    sd("plain-patient", "Patient", []),
    sd("ex-on-procedure", "Extension", [el("Extension.url", fixedUri=BASE + "ex-on-procedure"),
                                        el("Extension.value[x]", type=[{"code": "integer"}])],
       kind="complex-type", context=[{"type": "element", "expression": "Procedure"}]),
    sd("typed-quantity", "Observation", [
        el("Observation.value[x]", slicing={"discriminator": [{"type": "type", "path": "$this"}], "rules": "closed"}),
        el("Observation.value[x]:valueQuantity", sliceName="valueQuantity", type=[{"code": "Quantity"}])]),
    sd("resliced", "Patient", [
        el("Patient.identifier", slicing={"discriminator": [{"type": "value", "path": "system"}], "rules": "open"}),
        el("Patient.identifier:a", sliceName="a", slicing={"discriminator": [{"type": "value", "path": "use"}],
                                                           "rules": "open"}),
        el("Patient.identifier:a.system", fixedUri="urn:a"),
        el("Patient.identifier:a/official", sliceName="a/official", min=1),
        el("Patient.identifier:a/official.use", fixedCode="official")]),
    sd("unplaceable", "Patient", [el("Patient.nosuchelement", min=1)]),
    sd("unknown-value-set", "Patient", [el("Patient.gender", binding={"strength": "required",
                                                                      "valueSet": "http://example.org/vs/none"})]),
    sd("supported", "Patient", [el("Patient.birthDate", mustSupport=True), el("Patient.gender", mustSupport=True)]),
    sd("orphan", "Patient", [el("Patient.gender", min=1)], base=BASE + "no-such-base"),
    sd("loop-a", "Patient", [el("Patient.gender", min=1)], base=BASE + "loop-b"),
    sd("loop-b", "Patient", [el("Patient.gender", min=1)], base=BASE + "loop-a"),
    {"resourceType": "ValueSet", "url": VS_FINAL, "status": "active", "compose": {"include": [
        {"system": "http://hl7.org/fhir/observation-status", "concept": [{"code": "final"}]}]}},
]

PATIENT = {"resourceType": "Patient", "text": {"status": "generated",
                                               "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}
OBS = {"resourceType": "Observation", "text": PATIENT["text"], "status": "final", "code": cc(LOINC, "8867-4"),
       "subject": {"reference": "Patient/p"}, "valueQuantity": {"value": 60, "unit": "/min",
                                                               "system": "http://unitsofmeasure.org", "code": "/min"}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    require_package(R4_CORE)
    path = tmp_path_factory.mktemp("profiles")
    for r in PROFILES:
        name = r["url"].rsplit("/", 1)[-1]
        (path / f"{r['resourceType']}-{name}.json").write_text(json.dumps(r))
    return path


@cache
def _validator(folder: str, profile: str) -> Validator:
    return Validator((R4_CORE, folder), profiles=(BASE + profile,))


def found(folder, profile: str, resource: dict, *, errors_only: bool = True) -> list[tuple[str, str]]:
    v = _validator(str(folder), profile)
    return [(i.message_id, i.expression) for i in v.iter_issues(resource)
            if i.message_id.startswith(("VAL_PROFILE", "VAL_INV")) or "(profile " in i.message
            if not errors_only or i.severity.value in ("error", "fatal")]


def messages(folder, profile: str, resource: dict) -> list[str]:
    return [i.message for i in _validator(str(folder), profile).iter_issues(resource) if "(profile " in i.message]


CASES = [
    # profile, valid instance, invalid instance, expected (message id, expression) of the invalid one
    ("min-identifier", {**PATIENT, "identifier": [{"value": "1"}]}, PATIENT, [("VAL_PROFILE_MIN", "Patient")]),
    ("no-photo", PATIENT, {**PATIENT, "photo": [{"contentType": "image/png"}]},
     [("VAL_PROFILE_MAX", "Patient.photo")]),
    ("one-name", {**PATIENT, "name": [{"text": "a"}]}, {**PATIENT, "name": [{"text": "a"}, {"text": "b"}]},
     [("VAL_PROFILE_MAX", "Patient.name")]),
    ("quantity-only", OBS, {**{k: v for k, v in OBS.items() if k != "valueQuantity"}, "valueString": "60"},
     [("VAL_PROFILE_TYPE", "Observation.value.ofType(string)")]),
    ("simple-quantity", OBS, {**OBS, "valueQuantity": {**OBS["valueQuantity"], "comparator": "<"}},
     [("VAL_PROFILE_MAX", "Observation.value.ofType(Quantity).comparator"),    # and SimpleQuantity's sqty-1
      ("VAL_INV_FAILED", "Observation.value.ofType(Quantity)")]),
    ("patient-subject", OBS, {**OBS, "subject": {"reference": "Group/g"}},
     [("VAL_PROFILE_TARGET", "Observation.subject.reference")]),
    ("final-status", OBS, {**OBS, "status": "amended"}, [("VAL_PROFILE_FIXED", "Observation.status")]),
    ("loinc-code", {**OBS, "code": {"coding": [{"system": "urn:x", "code": "y"}, cc(LOINC, "8867-4")["coding"][0]],
                                    "text": "Heart rate"}},
     {**OBS, "code": cc(LOINC, "8310-5")}, [("VAL_PROFILE_PATTERN", "Observation.code")]),
    ("bound-status", OBS, {**OBS, "status": "preliminary"}, [("VAL_TX_NOT_IN_VALUE_SET", "Observation.status")]),
    ("named", {**PATIENT, "name": [{"text": "a"}]}, PATIENT, [("VAL_INV_FAILED", "Patient")]),
    ("vital-category", {**OBS, "category": [cc(OBS_CAT, "laboratory"), cc(OBS_CAT, "vital-signs")]},
     {**OBS, "category": [cc(OBS_CAT, "laboratory")]}, [("VAL_PROFILE_SLICE_MIN", "Observation")]),
    ("closed-identifiers", {**PATIENT, "identifier": [{"system": "http://example.org/mrn", "value": "1"}]},
     {**PATIENT, "identifier": [{"system": "http://example.org/mrn", "value": "1"}, {"system": "urn:ssn", "value": "2"}]},
     [("VAL_PROFILE_SLICE_UNMATCHED", "Patient.identifier[1]")]),
    ("ordered-identifiers", {**PATIENT, "identifier": [{"system": "urn:a", "value": "1"}, {"system": "urn:b", "value": "2"}]},
     {**PATIENT, "identifier": [{"system": "urn:b", "value": "2"}, {"system": "urn:a", "value": "1"}]},
     [("VAL_PROFILE_SLICE_ORDER", "Patient.identifier[1]")]),
    ("at-end-identifiers", {**PATIENT, "identifier": [{"system": "urn:a", "value": "1"}, {"system": "urn:z", "value": "2"}]},
     {**PATIENT, "identifier": [{"system": "urn:z", "value": "2"}, {"system": "urn:a", "value": "1"}]},
     [("VAL_PROFILE_SLICE_ORDER", "Patient.identifier[1]")]),
    ("patient-bundle", {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": PATIENT}, {"fullUrl": "urn:uuid:2", "resource": OBS}]},
     {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "urn:uuid:2", "resource": OBS}]},
     [("VAL_PROFILE_SLICE_MIN", "Bundle")]),
    ("profiled-bundle", {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {**PATIENT, "gender": "other"}}]},
     {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "urn:uuid:1", "resource": PATIENT}]},
     [("VAL_PROFILE_SLICE_MIN", "Bundle"), ("VAL_PROFILE_SLICE_UNMATCHED", "Bundle.entry[0]")]),
    ("measured-components", {**OBS, "component": [{"code": cc(LOINC, "8480-6"), "valueQuantity": {"value": 1}}]},
     {**OBS, "component": [{"code": cc(LOINC, "8480-6"), "dataAbsentReason": {"text": "x"}}]},
     [("VAL_PROFILE_SLICE_MIN", "Observation")]),
    ("born-somewhere", {**PATIENT, "extension": [{"url": CORE + "patient-birthPlace", "valueAddress": {"city": "X"}}]},
     {**PATIENT, "extension": [{"url": CORE + "patient-birthPlace", "valueString": "X"}]},
     [("VAL_PROFILE_TYPE", "Patient.extension[0].value.ofType(string)")]),     # in the slice (by url), wrong value
    ("typed-quantity", OBS, {**{k: v for k, v in OBS.items() if k != "valueQuantity"}, "valueInteger": 60},
     [("VAL_PROFILE_SLICE_UNMATCHED", "Observation.value.ofType(integer)")]),
]


@pytest.mark.parametrize("profile,valid,invalid,expected", CASES, ids=[c[0] for c in CASES])
def test_constraint_kind(folder, profile, valid, invalid, expected):
    assert found(folder, profile, valid) == []
    assert sorted(found(folder, profile, invalid)) == sorted(expected)


def test_messages_name_the_profile_the_slice_and_what_belongs_to_it(folder):
    [text] = messages(folder, "vital-category", {**OBS, "category": [cc(OBS_CAT, "laboratory")]})
    assert text.startswith("Observation.category: minimum required = 1, but only found 0 in slice 'vs'")
    assert "an item belongs to it when the item contains" in text and "vital-signs" in text
    assert text.endswith("(profile vital-category)")
    [unmatched] = messages(folder, "closed-identifiers", {**PATIENT, "identifier": [{"system": "urn:ssn", "value": "2"}]})
    assert "belongs to none of the slices ('mrn') and the slicing is closed" in unmatched


def test_meta_profile_claims_are_validated_and_unknown_claims_warned(folder):
    v = Validator((R4_CORE, str(folder)))
    claimed = {**PATIENT, "meta": {"profile": [BASE + "gendered", "http://example.org/unknown"]}}
    issues = [(i.severity.value, i.message_id) for i in v.iter_issues(claimed) if "rofile" in i.message]
    assert ("error", "VAL_PROFILE_MIN") in issues and ("warning", "VAL_PROFILE_UNKNOWN") in issues
    assert [i for i in v.iter_issues({**claimed, "gender": "male"}) if i.severity.value == "error"] == []


def test_bundle_entries_and_contained_resources_are_validated_against_their_claims(folder):
    v = Validator((R4_CORE, str(folder)))
    claimed = {**PATIENT, "id": "c", "meta": {"profile": [BASE + "gendered"]}}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": claimed},
        {"fullUrl": "urn:uuid:2", "resource": {**OBS, "contained": [claimed], "subject": {"reference": "#c"}}}]}
    where = sorted(i.expression for i in v.iter_issues(bundle) if i.message_id == "VAL_PROFILE_MIN")
    assert where == ["Bundle.entry[0].resource", "Bundle.entry[1].resource.contained[0]"]


def test_extensions_are_checked_against_their_definitions(folder):
    ok = {**PATIENT, "extension": [{"url": CORE + "patient-birthPlace", "valueAddress": {"city": "X"}}]}
    assert found(folder, "plain-patient", ok) == []
    wrong_type = {**PATIENT, "extension": [{"url": CORE + "patient-birthPlace", "valueString": "X"}]}
    assert found(folder, "plain-patient", wrong_type) == [("VAL_PROFILE_TYPE", "Patient.extension[0].value.ofType(string)")]
    wrong_place = {**PATIENT, "extension": [{"url": BASE + "ex-on-procedure", "valueInteger": 1}]}
    assert found(folder, "plain-patient", wrong_place) == [("VAL_PROFILE_EXTENSION_CONTEXT", "Patient.extension[0]")]
    unknown = {**PATIENT, "extension": [{"url": "http://example.org/no-such-extension", "valueString": "x"}]}
    assert found(folder, "plain-patient", unknown, errors_only=False) == [
        ("VAL_PROFILE_EXTENSION_UNKNOWN", "Patient.extension[0]")]


def test_broken_profiles_are_reported_and_the_rest_still_validated(folder):
    for name in ("orphan", "loop-a"):
        v = _validator(str(folder), name)
        issues = list(v.iter_issues({**PATIENT, "birthDate": "1990-13-01"}))
        ids = {i.message_id for i in issues}
        assert "VAL_PRIMITIVE_FORMAT" in ids                         # the base checks still ran
        assert any(i.message_id.startswith("VAL_SNAP") and name.split("-")[0] in i.message or
                   "no-such-base" in i.message or "loop" in i.message for i in issues), ids
    issues = list(_validator(str(folder), "bad-invariant").iter_issues(PATIENT))
    assert [(i.severity.value, i.message_id) for i in issues if "ex-2" in i.message] == [
        ("warning", "VAL_INV_UNEVALUABLE")]


def test_re_slicing(folder):
    ok = {**PATIENT, "identifier": [{"system": "urn:a", "use": "official", "value": "1"}]}
    assert found(folder, "resliced", ok) == []
    usual = {**PATIENT, "identifier": [{"system": "urn:a", "use": "usual", "value": "1"}]}
    assert found(folder, "resliced", usual) == [("VAL_PROFILE_SLICE_MIN", "Patient")]
    [text] = messages(folder, "resliced", usual)
    assert "slice 'a/official'" in text


def test_a_broken_differential_and_an_unknown_value_set_are_named(folder):
    issues = list(_validator(str(folder), "unplaceable").iter_issues({**PATIENT, "gender": "male"}))
    assert any("Patient.nosuchelement" in i.message and i.severity.value == "error" for i in issues), issues
    issues = list(_validator(str(folder), "unknown-value-set").iter_issues({**PATIENT, "gender": "male"}))
    assert [(i.severity.value, i.message_id) for i in issues if "example.org/vs/none" in i.message] == [
        ("warning", "VAL_TX_VALUE_SET_UNKNOWN")]


def test_an_unknown_modifier_extension_is_an_error(folder):
    unknown = {**PATIENT, "modifierExtension": [{"url": "http://example.org/no-such-modifier", "valueString": "x"}]}
    assert found(folder, "plain-patient", unknown) == [("VAL_PROFILE_EXTENSION_UNKNOWN", "Patient.modifierExtension[0]")]


def test_malformed_profiles_never_crash(tmp_path):
    """Garbage in a profile (a non-numeric min, a number as a value set, a pattern of the wrong JSON
    type) gives issues naming the profile, never an exception; the base checks still run."""
    bad = {"resourceType": "StructureDefinition", "url": BASE + "garbage", "type": "Patient", "kind": "resource",
           "snapshot": {"element": [{"id": "Patient", "path": "Patient"},
                                    {"id": "Patient.gender", "path": "Patient.gender", "min": "x", "max": 5},
                                    {"nopath": 1}]}}
    odd = sd("odd", "Patient", [el("Patient.gender", min=1, patternCodeableConcept="x",
                                   binding={"strength": "required", "valueSet": 7})])
    for r in (bad, odd):
        (tmp_path / f"StructureDefinition-{r['url'].rsplit('/', 1)[1]}.json").write_text(json.dumps(r))
    for name, expected in (("garbage", "VAL_PROFILE_BROKEN"), ("odd", "VAL_PROFILE_PATTERN")):
        v = Validator((R4_CORE, str(tmp_path)), profiles=(BASE + name,))
        ids = [i.message_id for i in v.iter_issues({"resourceType": "Patient", "gender": "male", "birthDate": "x"})]
        assert expected in ids and "VAL_PRIMITIVE_FORMAT" in ids, ids


def test_must_support_is_reported_on_request(folder):
    v = Validator((R4_CORE, str(folder)), profiles=(BASE + "supported",), must_support=True)
    found_ms = [(i.severity.value, i.expression, i.message) for i in v.iter_issues({**PATIENT, "gender": "male"})
                if i.message_id == "VAL_PROFILE_MUST_SUPPORT"]
    assert found_ms == [("information", "Patient",
                         "Patient.birthDate is mustSupport and absent (profile supported)")]
    quiet = Validator((R4_CORE, str(folder)), profiles=(BASE + "supported",))
    assert not [i for i in quiet.iter_issues(PATIENT) if i.message_id == "VAL_PROFILE_MUST_SUPPORT"]


def test_a_profile_given_as_a_single_file(folder, tmp_path):
    v = Validator((R4_CORE, str(folder / "StructureDefinition-gendered.json")), profiles=(BASE + "gendered",))
    assert [i.message_id for i in v.iter_issues(PATIENT) if i.severity.value == "error"] == ["VAL_PROFILE_MIN"]
    assert v.unknown_profiles() == []
    assert Validator((R4_CORE,), profiles=(BASE + "gendered",)).unknown_profiles() == [BASE + "gendered"]


# ----- US Core 6.1.0


US_CORE = "hl7.fhir.us.core#6.1.0"
# SDC is not a dependency of US Core 6.1.0's package: its three Questionnaire examples claim an SDC
# profile that cannot be loaded here (a warning, not an error).
US_CORE_SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire"


def test_us_core_examples_meet_the_profiles_they_claim(us_core_package):
    pkg = us_core_package
    v = Validator((R4_CORE, str(pkg.folder)))
    checked, failed = 0, {}
    folder = pkg.folder / "example"
    files = sorted(folder.glob("*.json"))
    assert len(files) == 183
    for f in files:
        r = json.loads(f.read_bytes())
        claims = (r.get("meta") or {}).get("profile") or []
        if not claims:
            continue
        checked += 1
        errors = [str(i) for i in v.iter_issues(r) if i.severity.value in ("error", "fatal")]
        if errors:
            failed[f.name] = errors[:3]
        unknown = [i.message for i in v.iter_issues(r) if i.message_id == "VAL_PROFILE_UNKNOWN"]
        assert all(US_CORE_SDC in m for m in unknown), unknown
    assert checked >= 170 and failed == {}, failed


def test_us_core_profiles_catch_what_they_require(us_core_package):
    pkg = us_core_package
    v = Validator((R4_CORE, str(pkg.folder)))
    patient = json.loads((pkg.folder / "example" / "Patient-example.json").read_bytes())
    broken = {k: v_ for k, v_ in patient.items() if k not in ("identifier", "gender")}
    errors = {(i.message_id, i.expression) for i in v.iter_issues(broken) if i.severity.value == "error"}
    assert errors == {("VAL_PROFILE_MIN", "Patient")}
    texts = [i.message for i in v.iter_issues(broken) if i.message_id == "VAL_PROFILE_MIN"]
    assert sorted(texts) == ["Patient.gender: minimum required = 1, but only found 0 (profile us-core-patient)",
                             "Patient.identifier: minimum required = 1, but only found 0 (profile us-core-patient)"]
    condition = json.loads((pkg.folder / "example" / "Condition-encounter-diagnosis-example1.json").read_bytes())
    condition["category"] = [{"coding": [{"system": "http://example.org", "code": "x"}]}]
    slice_errors = [i.message for i in v.iter_issues(condition) if i.message_id == "VAL_PROFILE_SLICE_MIN"]
    assert len(slice_errors) == 1 and "slice 'us-core'" in slice_errors[0]


def test_cli_profile_options(folder, tmp_path, capsys):
    from tests.conftest import run_cli as run

    f = tmp_path / "p.json"
    f.write_text(json.dumps(PATIENT))
    code, out, err = run(capsys, "validate", str(f), "--ig", str(folder), "--profile", BASE + "gendered")
    assert code == 1 and "Patient.gender: minimum required = 1, but only found 0 (profile gendered)" in out
    code, out, err = run(capsys, "validate", str(f), "--ig", str(folder), "--profile", BASE + "gendered",
                         "--format", "json", "--jobs", "2")
    assert code == 1 and json.loads(out)["resourceType"] == "OperationOutcome"
    code, _, err = run(capsys, "validate", str(f), "--profile", BASE + "gendered")
    assert code == 3 and "not in the loaded packages" in err
    f.write_text(json.dumps({**PATIENT, "gender": "female"}))
    assert run(capsys, "validate", str(f), "--ig", str(folder), "--profile", BASE + "gendered")[0] == 0


def test_a_choice_narrowed_by_renaming(folder, tmp_path):
    """``Observation.valueQuantity`` in a snapshot: value[x] with one type, as the renaming says."""
    renamed = sd("renamed", "Observation", [])
    renamed["snapshot"] = {"element": [
        {"id": "Observation", "path": "Observation", "min": 0, "max": "*", "base": {"path": "Observation", "min": 0, "max": "*"}},
        {"id": "Observation.valueQuantity", "path": "Observation.valueQuantity", "min": 1, "max": "1",
         "base": {"path": "Observation.value[x]", "min": 0, "max": "1"}, "type": [{"code": "Quantity"}]}]}
    (tmp_path / "StructureDefinition-renamed.json").write_text(json.dumps(renamed))
    v = Validator((R4_CORE, str(tmp_path)), profiles=(BASE + "renamed",))
    assert [i for i in v.iter_issues(OBS) if i.severity.value == "error"] == []
    text = {**{k: x for k, x in OBS.items() if k != "valueQuantity"}, "valueString": "60"}
    assert sorted((i.message_id, i.expression) for i in v.iter_issues(text) if i.severity.value == "error") == [
        ("VAL_PROFILE_TYPE", "Observation.value.ofType(string)")]


def test_us_core_natives_agree_with_fhirpathpy(us_core_package):
    """The US Core constraints evaluated natively fail exactly where fhirpathpy fails them, on every US
    Core example (made to fail too) -- but us-core-1, which fhirpathpy cannot evaluate as meant."""
    from fhir_at.validation.invariants import IG_NATIVE

    pkg = us_core_package
    expressions = {(c["key"], c["expression"]) for e in pkg.iter_index("StructureDefinition")
                   for el in (pkg.load(e["filename"]).get("snapshot") or {}).get("element", ())
                   for c in el.get("constraint", ()) if c.get("key", "").startswith("us-core-")}
    assert set(IG_NATIVE) <= expressions
    native = Validator((R4_CORE, str(pkg.folder)))
    pure = Validator((R4_CORE, str(pkg.folder)))
    pure.invariants._use_native = False

    def failed(v, r):
        return sorted((i.message.split(":")[1].strip(), i.expression) for i in v.iter_issues(r)
                      if i.message_id == "VAL_INV_FAILED" and "us-core-" in i.message and "us-core-1:" not in i.message)

    cases = [json.loads(f.read_bytes()) for f in sorted((pkg.folder / "example").glob("*.json"))]
    broken = []
    for r in cases:
        r = json.loads(json.dumps(r))
        if r["resourceType"] == "Observation":
            r.pop("component", None), r.pop("hasMember", None)
            for k in [k for k in r if k.startswith("value")]:
                r.pop(k)
            r.pop("dataAbsentReason", None)
            broken.append(json.loads(json.dumps(r)))           # no value at all: us-core-2
            r["valueQuantity"] = {"value": 1, "system": "http://example.org/units", "code": "x"}
        elif r["resourceType"] == "Patient":
            r["name"] = [{"text": "only text"}]
        elif r["resourceType"] in ("Practitioner", "Organization"):
            r["identifier"] = [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567890"},
                               {"system": "http://hl7.org/fhir/sid/us-npi", "value": "12345"}]
        elif r["resourceType"] == "Procedure":
            r["status"] = "completed"
            for k in [k for k in r if k.startswith("performed")]:
                r.pop(k)
        elif r["resourceType"] == "Coverage":
            r.pop("subscriberId", None), r.pop("identifier", None)
        broken.append(r)
    keys = set()
    for r in cases + broken:
        got = failed(native, r)
        assert got == failed(pure, r), (r["resourceType"], r.get("id"))
        keys.update(k for k, _ in got)
    assert keys >= {"us-core-2", "us-core-3", "us-core-6", "us-core-7", "us-core-15", "us-core-16", "us-core-17"}, keys
