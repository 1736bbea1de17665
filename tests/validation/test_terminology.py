"""Terminology layer of the validator: offline ValueSet expansion, bindings, per-system code checks."""

from __future__ import annotations

import pytest

from fhir_at.issues import Severity
from fhir_at.terminology import systems
from fhir_at.validation import terminology as tx
from fhir_at.validation.terminology import Terminology
from fhir_at.validation.valuesets import (Expander, chain, core_package_dir, directory_resolver, language_tag_ok,
                                          mime_type_ok, ucum_misspelling, ucum_syntax_error)

CS = "http://example.org/fhir/CodeSystem/shapes"
CS_FRAGMENT = "http://example.org/fhir/CodeSystem/fragment"
VS = "http://example.org/fhir/ValueSet/"

SHAPES = {
    "resourceType": "CodeSystem", "url": CS, "version": "1", "content": "complete",
    "hierarchyMeaning": "is-a",
    "concept": [
        {"code": "shape", "display": "Shape", "property": [{"code": "notSelectable", "valueBoolean": True}],
         "concept": [
             {"code": "polygon", "display": "Polygon", "concept": [
                 {"code": "triangle", "display": "Triangle", "designation": [{"value": "Trigon"}]},
                 {"code": "square", "display": "Square", "property": [{"code": "kind", "valueCode": "regular"}]},
             ]},
             {"code": "circle", "display": "Circle", "property": [{"code": "kind", "valueCode": "round"},
                                                                 {"code": "child", "valueCode": "disc"}]},
         ]},
        {"code": "disc", "display": "Disc"},
        {"code": "colour", "display": "Colour"},
    ],
}
FRAGMENT = {"resourceType": "CodeSystem", "url": CS_FRAGMENT, "content": "fragment",
            "concept": [{"code": "a", "display": "A"}]}


def _vs(name: str, compose: dict, version: str | None = None) -> dict:
    vs = {"resourceType": "ValueSet", "url": VS + name, "compose": compose}
    if version:
        vs["version"] = version
    return vs


VALUE_SETS = [
    _vs("all-shapes", {"include": [{"system": CS}]}, version="2.0"),
    _vs("polygons", {"include": [{"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "polygon"}]}]}),
    _vs("below-polygon", {"include": [{"system": CS, "filter": [
        {"property": "concept", "op": "descendent-of", "value": "polygon"}]}]}),
    _vs("not-polygons", {"include": [{"system": CS, "filter": [
        {"property": "concept", "op": "is-not-a", "value": "polygon"}]}]}),
    _vs("round", {"include": [{"system": CS, "filter": [{"property": "kind", "op": "=", "value": "round"}]}]}),
    _vs("in-list", {"include": [{"system": CS, "filter": [{"property": "concept", "op": "in", "value": "square,circle"}]}]}),
    _vs("equals", {"include": [{"system": CS, "filter": [{"property": "concept", "op": "=", "value": "colour"}]}]}),
    _vs("circle-family", {"include": [{"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "circle"}]}]}),
    _vs("enumerated", {"include": [{"system": CS, "concept": [{"code": "square"}, {"code": "circle", "display": "Round"}]},
                                   {"system": "http://example.org/unknown", "concept": [{"code": "x1", "display": "X one"}]}]}),
    _vs("no-colour", {"include": [{"system": CS}], "exclude": [{"system": CS, "concept": [{"code": "colour"}]}]}),
    _vs("imports", {"include": [{"valueSet": [VS + "polygons"]}, {"valueSet": [VS + "round"]}]}),
    _vs("intersect", {"include": [{"valueSet": [VS + "polygons", VS + "in-list"]}]}),
    _vs("sct-and-shapes", {"include": [{"system": systems.SNOMED, "filter": [
        {"property": "concept", "op": "is-a", "value": "404684003"}]}, {"system": CS, "concept": [{"code": "square"}]}]}),
    _vs("sct-excluded", {"include": [{"system": CS}], "exclude": [{"system": systems.SNOMED, "filter": [
        {"property": "concept", "op": "is-a", "value": "404684003"}]}]}),
    _vs("unsupported-filter", {"include": [{"system": CS, "filter": [{"property": "concept", "op": "generalizes", "value": "square"}]}]}),
    _vs("fragment", {"include": [{"system": CS_FRAGMENT}]}),
    _vs("cycle-a", {"include": [{"valueSet": [VS + "cycle-b"]}]}),
    _vs("cycle-b", {"include": [{"valueSet": [VS + "cycle-a"]}]}),
    _vs("icd-or-square", {"include": [{"system": systems.ICD10CM}, {"system": CS, "concept": [{"code": "square"}]}]}),
    _vs("units", {"include": [{"system": systems.UCUM}]}),
]


def _resolver(resources):
    by_url = {}
    for r in resources:
        by_url[r["url"]] = r
        if r.get("version"):
            by_url[f"{r['url']}|{r['version']}"] = r
    return by_url.get


@pytest.fixture
def local() -> Terminology:
    return Terminology(_resolver([SHAPES, FRAGMENT, *VALUE_SETS]))


def codes(t: Terminology, name: str) -> set[str]:
    return {c for _, c in t.expand(VS + name).codes}


def ids(issues) -> list[str]:
    return [i.message_id for i in issues]


# --- expansion ------------------------------------------------------------------------------------

def test_whole_code_system_includes_nested_concepts(local):
    e = local.expand(VS + "all-shapes")
    assert e.complete and {c for _, c in e.codes} == {"shape", "polygon", "triangle", "square", "circle", "disc", "colour"}
    assert e.displays[(CS, "triangle")] == "Triangle"


def test_versioned_canonical_and_cache(local):
    e = local.expand(VS + "all-shapes|2.0")
    assert e is not None and e.version == "2.0" and e.key == VS + "all-shapes|2.0"
    assert local.expand(VS + "all-shapes|2.0") is e  # cached
    assert local.expand(VS + "all-shapes|9.9") is not None  # unknown version: falls back to the url


def test_filters(local):
    assert codes(local, "polygons") == {"polygon", "triangle", "square"}
    assert codes(local, "below-polygon") == {"triangle", "square"}
    assert codes(local, "not-polygons") == {"shape", "circle", "disc", "colour"}
    assert codes(local, "round") == {"circle"}
    assert codes(local, "in-list") == {"square", "circle"}
    assert codes(local, "equals") == {"colour"}
    # the v3-style 'child' property adds a second parent
    assert codes(local, "circle-family") == {"circle", "disc"}


def test_enumerated_exclude_import_intersection(local):
    e = local.expand(VS + "enumerated")
    assert e.complete and e.codes == {(CS, "square"), (CS, "circle"), ("http://example.org/unknown", "x1")}
    assert e.displays[(CS, "square")] == "Square" and e.displays[(CS, "circle")] == "Round"
    assert "colour" not in codes(local, "no-colour") and "disc" in codes(local, "no-colour")
    assert codes(local, "imports") == {"polygon", "triangle", "square", "circle"}
    assert codes(local, "intersect") == {"square"}


def test_not_expandable_cases(local):
    partial = local.expand(VS + "sct-and-shapes")
    assert not partial.complete and partial.contains(CS, "square") is True
    assert partial.contains(systems.SNOMED, "7771000") is None
    unsure = local.expand(VS + "sct-excluded")
    assert unsure.unsure and unsure.contains(CS, "square") is None
    assert local.expand(VS + "unsupported-filter").contains(CS, "square") is None
    assert local.expand(VS + "fragment").contains(CS_FRAGMENT, "a") is None
    assert local.expand(VS + "cycle-a").contains(CS, "square") is None
    assert local.expand(VS + "nope") is None


def test_predicate_systems(local):
    icd = local.expand(VS + "icd-or-square")
    assert icd.complete and icd.contains(systems.ICD10CM, "G71.01") is True
    assert icd.contains(systems.ICD10CM, "G71.99") is False
    units = local.expand(VS + "units")
    assert units.contains(systems.UCUM, "mm[Hg]") and units.contains(None, "kg/m2")
    assert units.contains(systems.UCUM, "kg//m") is False


# --- bindings -------------------------------------------------------------------------------------

def test_code_not_in_required_value_set_is_an_error_at_the_expression(local):
    [i] = local.check_binding("hexagon", "required", VS + "polygons", "Thing.shape")
    assert i.severity is Severity.ERROR and i.message_id == "VAL_TX_NOT_IN_VALUE_SET"
    assert i.location == "Thing.shape" and "required" in i.message
    assert list(local.check_binding("square", "required", VS + "polygons", "Thing.shape")) == []


@pytest.mark.parametrize("strength, severity", [("required", Severity.ERROR), ("extensible", Severity.WARNING),
                                                ("preferred", Severity.INFORMATION)])
def test_strengths(local, strength, severity):
    cc = {"coding": [{"system": CS, "code": "circle", "display": "Circle"}]}
    [i] = local.check_binding(cc, strength, VS + "polygons", "Thing.shape")
    assert i.severity is severity and i.message_id == "VAL_TX_NOT_IN_VALUE_SET"


def test_example_binding_checks_nothing_but_the_codings(local):
    assert list(local.check_binding({"system": CS, "code": "circle"}, "example", VS + "polygons", "X.c")) == []
    [i] = local.check_binding({"system": CS, "code": "nonesuch"}, "example", VS + "polygons", "X.c")
    assert i.message_id == "VAL_TX_CODE_UNKNOWN" and i.severity is Severity.WARNING


def test_codeable_concept_needs_one_coding_from_the_set(local):
    cc = {"coding": [{"system": "http://example.org/other", "code": "z"}, {"system": CS, "code": "square"}]}
    issues = list(local.check_binding(cc, "required", VS + "polygons", "Thing.shape"))
    assert ids(issues) == ["VAL_TX_SYSTEM_UNKNOWN"]  # the foreign coding only, as a warning
    assert issues[0].location == "Thing.shape.coding[0]" and issues[0].severity is Severity.WARNING


def test_required_codeable_concept_with_text_only_is_an_error(local):
    [i] = local.check_binding({"text": "a square"}, "required", VS + "polygons", "Thing.shape")
    assert i.message_id == "VAL_TX_NO_CODE" and i.severity is Severity.ERROR
    assert list(local.check_binding({"text": "a square"}, "extensible", VS + "polygons", "Thing.shape")) == []


def test_unknown_code_in_a_complete_code_system_follows_the_binding(local):
    bad = {"system": CS, "code": "hexagon"}
    req = list(local.check_binding(bad, "required", VS + "polygons", "T.c"))
    assert ids(req) == ["VAL_TX_CODE_UNKNOWN", "VAL_TX_NOT_IN_VALUE_SET"]
    assert [i.severity for i in req] == [Severity.ERROR, Severity.ERROR]
    ext = list(local.check_binding(bad, "extensible", VS + "polygons", "T.c"))
    assert [i.severity for i in ext] == [Severity.WARNING, Severity.WARNING]
    assert ids(local.check_binding(bad, "required", VS + "polygons", "T.c", check_codings=False)) == [
        "VAL_TX_NOT_IN_VALUE_SET"]


def test_display_mismatch_is_a_warning(local):
    [i] = local.check_binding({"system": CS, "code": "square", "display": "Box"}, "required", VS + "polygons", "T.c")
    assert i.message_id == "VAL_TX_DISPLAY" and i.severity is Severity.WARNING and i.location == "T.c.display"
    assert "'Square'" in i.message
    for ok in ("Square", "  square ", "Trigon"):
        code = "triangle" if ok == "Trigon" else "square"
        assert list(local.check_binding({"system": CS, "code": code, "display": ok}, "required",
                                        VS + "polygons", "T.c")) == []


def test_display_against_the_value_set_when_the_system_is_not_loaded(local):
    unknown = {"system": "http://example.org/unknown", "code": "x1", "display": "Ex one"}
    issues = list(local.check_binding(unknown, "required", VS + "enumerated", "T.c"))
    assert ids(issues) == ["VAL_TX_SYSTEM_UNKNOWN", "VAL_TX_DISPLAY"]


def test_value_set_not_expandable_is_a_warning_never_an_error(local):
    coding = {"system": systems.SNOMED, "code": "7771000"}
    for strength in ("required", "extensible"):
        [i] = local.check_binding(coding, strength, VS + "sct-and-shapes", "Condition.code")
        assert i.message_id == "VAL_TX_VALUE_SET_NOT_EXPANDABLE" and i.severity is Severity.WARNING
        assert "cannot be expanded locally" in i.message and "code not checked" in i.message
    assert list(local.check_binding(coding, "preferred", VS + "sct-and-shapes", "Condition.code")) == []
    # a member of the enumerated part is still recognised
    assert list(local.check_binding({"system": CS, "code": "square"}, "required", VS + "sct-and-shapes", "X")) == []


def test_unknown_value_set_is_a_warning(local):
    [i] = local.check_binding("square", "required", VS + "nope", "X.y")
    assert i.message_id == "VAL_TX_VALUE_SET_UNKNOWN" and i.severity is Severity.WARNING


def test_resolvers_chain():
    a, b = _resolver([SHAPES]), _resolver(VALUE_SETS)
    assert Expander(chain(a, b)).expand(VS + "polygons").complete


# --- per-system code checks ----------------------------------------------------------------------

@pytest.mark.parametrize("code, ok", [("38227-5", True), ("8302-2", True), ("11488-4", True), ("52737-0", False),
                                      ("89200-7", False)])
def test_loinc_check_digit(code, ok):
    assert tx.loinc_check_digit_ok(code) is ok
    found = ids(Terminology().check_coding(systems.LOINC, code, None, "Observation.code.coding[0]"))
    assert found == ([] if ok else ["VAL_TX_LOINC_CHECK_DIGIT"])


def test_loinc_form():
    t = Terminology()
    assert ids(t.check_coding(systems.LOINC, "38227", None, "x")) == ["VAL_TX_LOINC_FORM"]
    assert ids(t.check_coding(systems.LOINC, "LA33-6", None, "x")) == []  # answer codes: form only


@pytest.mark.parametrize("code, expected", [
    ("7771000", None), ("404684003", None), ("22298006", None), ("128045006", None),
    ("7771001", "VAL_TX_SNOMED_CHECK_DIGIT"), ("404684004", "VAL_TX_SNOMED_CHECK_DIGIT"),
    ("12345", "VAL_TX_SNOMED_FORM"), ("0404684003", "VAL_TX_SNOMED_FORM"), ("12a456", "VAL_TX_SNOMED_FORM"),
    ("1234567031", "VAL_TX_SNOMED_FORM"),  # partition 03 does not exist
])
def test_snomed_sctid(code, expected):
    assert tx.verhoeff_ok("7771000")
    found = ids(Terminology().check_coding(systems.SNOMED, code, None, "x"))
    assert found == ([expected] if expected else [])


def test_snomed_description_id_is_not_a_concept_id():
    # 1234567013 is a well-formed description id (partition 01, Verhoeff digit 3)
    assert tx.verhoeff_ok("1234567013")
    [i] = Terminology().check_coding(systems.SNOMED, "1234567013", None, "x")
    assert "description id" in i.message


def test_snomed_expression():
    t = Terminology()
    [i] = t.check_coding(systems.SNOMED, "128045006:{363698007=56459004}", None, "x")
    assert i.message_id == "VAL_TX_SNOMED_EXPRESSION" and i.severity is Severity.INFORMATION
    assert ids(t.check_coding(systems.SNOMED, "128045006|Cellulitis|:{363698007=56459005}", None, "x")) == [
        "VAL_TX_SNOMED_CHECK_DIGIT"]


def test_icd10cm_header_names_its_billable_children():
    [i] = Terminology().check_coding(systems.ICD10CM, "G71.0", None, "Condition.code.coding[0]")
    assert i.message_id == "VAL_TX_ICD_HEADER" and i.severity is Severity.WARNING and "G71.01" in i.message
    assert list(Terminology().check_coding(systems.ICD10CM, "G71.01", None, "x")) == []
    assert list(Terminology().check_coding(systems.ICD10CM, "R26.2", None, "x")) == []


def test_icd10cm_unknown_code_severity_is_a_parameter():
    [e] = Terminology().check_coding(systems.ICD10CM, "G71.99", None, "x")
    assert e.message_id == "VAL_TX_ICD_UNKNOWN" and e.severity is Severity.ERROR
    [w] = Terminology().check_coding(systems.ICD10CM, "G71.99", None, "x", unknown_severity=Severity.WARNING)
    assert w.severity is Severity.WARNING
    [f] = Terminology().check_coding(systems.ICD10CM, "G7101", None, "x")
    assert f.message_id == "VAL_TX_ICD_FORMAT" and "G71.01" in f.message


def test_icd10cm_under_a_binding(local):
    ext = list(local.check_binding({"system": systems.ICD10CM, "code": "G71.99"}, "extensible", VS + "icd-or-square", "x"))
    assert ids(ext) == ["VAL_TX_ICD_UNKNOWN", "VAL_TX_NOT_IN_VALUE_SET"]
    assert all(i.severity is Severity.WARNING for i in ext)


def test_icd10cm_oid_system_is_accepted_with_a_warning():
    issues = list(Terminology().check_coding(systems.ICD10CM_OID, "G71.01", None, "C.code.coding[0]"))
    assert ids(issues) == ["VAL_TX_SYSTEM_OID"] and issues[0].location == "C.code.coding[0].system"


@pytest.mark.parametrize("unit", ["mm[Hg]", "kg/m2", "10*3/uL", "{score}", "[lb_av]", "/min", "s-1", "10*-3", "%",
                                  "[in_i]2", "mL{total}", "kg.m/s2", "(kg.m)/s2", "1", "cm[H2O]", "[iU]/L",
                                  "{beats}/min", "10^3", "g/dL", "deg", "[degF]", "Cel", "m[H2O]"])
def test_ucum_valid(unit):
    assert ucum_syntax_error(unit) is None
    assert list(Terminology().check_quantity({"value": 1, "system": systems.UCUM, "code": unit}, "Q")) == []


@pytest.mark.parametrize("unit", ["kg//m", "[in_i", "in_i]", "kg /m", "µg", "2m", "m*2", "(kg", "kg)", "m2-1",
                                  "{a b}", "{x", "kg.", "m-", "[]"])
def test_ucum_invalid(unit):
    assert ucum_syntax_error(unit) is not None
    [i] = Terminology().check_quantity({"value": 1, "system": systems.UCUM, "code": unit}, "Observation.value.ofType(Quantity)")
    assert i.message_id == "VAL_TX_UCUM_SYNTAX" and i.severity is Severity.ERROR
    assert i.location == "Observation.value.ofType(Quantity).code"


def test_ucum_empty_unit():
    assert ucum_syntax_error("") == "the unit is empty"


def test_ucum_common_misspellings():
    assert ucum_misspelling("mcg/kg") == "ug/kg" and ucum_misspelling("mmHg") == "mm[Hg]"
    assert ucum_misspelling("mg/dL") is None
    [i] = Terminology().check_coding(systems.UCUM, "lbs", None, "x")
    assert i.message_id == "VAL_TX_UCUM_NOT_A_UNIT" and "[lb_av]" in i.message


@pytest.mark.parametrize("code, ok", [("97755", True), ("0001F", True), ("0042T", True), ("0001U", True),
                                      ("59", True), ("9775", False), ("97755A", False), ("A9775", False),
                                      ("5", False), ("GP", False)])
def test_cpt_form(code, ok):
    assert tx.cpt_form_ok(code) is ok
    assert ids(Terminology().check_coding(systems.CPT, code, None, "x")) == ([] if ok else ["VAL_TX_CPT_FORM"])


@pytest.mark.parametrize("code, ok", [("E1161", True), ("K0001", True), ("L1900", True), ("W1161", False),
                                      ("e1161", False), ("E116", False), ("97755", False),
                                      ("GP", True), ("KX", True), ("XE", True), ("59", False), ("G", False)])
def test_hcpcs_form(code, ok):
    assert tx.hcpcs_form_ok(code) is ok
    assert ids(Terminology().check_coding(systems.HCPCS, code, None, "x")) == ([] if ok else ["VAL_TX_HCPCS_FORM"])


def test_hcpcs_https_is_accepted_with_information():
    [i] = Terminology().check_coding(systems.HCPCS_HTTPS, "E1161", None, "D.code.coding[0]")
    assert i.message_id == "VAL_TX_SYSTEM_HTTPS" and i.severity is Severity.INFORMATION
    assert systems.HCPCS in i.message


def test_npi_identifier():
    t = Terminology()
    assert list(t.check_identifier({"system": systems.NPI, "value": "1234567893"}, "Practitioner.identifier[0]")) == []
    [i] = t.check_identifier({"system": systems.NPI, "value": "1234567890"}, "Practitioner.identifier[0]")
    assert i.message_id == "VAL_TX_NPI_CHECK_DIGIT" and i.location == "Practitioner.identifier[0].value"
    [f] = t.check_identifier({"system": systems.NPI, "value": "12345"}, "P.identifier[0]")
    assert f.message_id == "VAL_TX_NPI_FORM"
    assert list(t.check_identifier({"system": "http://example.org/mrn", "value": "x"}, "P.identifier[0]")) == []


def test_unknown_code_system_is_a_warning_it_cannot_be_validated():
    [i] = Terminology().check_coding("http://example.org/mystery", "a", None, "X.code.coding[0]")
    assert i.message_id == "VAL_TX_SYSTEM_UNKNOWN" and i.severity is Severity.WARNING
    assert "is not known" in i.message and "cannot be validated" in i.message


def test_fragment_code_system(local):
    assert list(local.check_coding(CS_FRAGMENT, "a", "A", "x")) == []
    [i] = local.check_coding(CS_FRAGMENT, "b", None, "x")
    assert i.message_id == "VAL_TX_SYSTEM_INCOMPLETE" and i.severity is Severity.WARNING


def test_mime_and_language_syntax():
    assert mime_type_ok("application/pdf") and mime_type_ok("text/plain; charset=utf-8") and not mime_type_ok("pdf")
    assert language_tag_ok("en-US") and language_tag_ok("zh-Hant-TW") and not language_tag_ok("english!")


# --- the R4 core package ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def core() -> Terminology:
    folder = core_package_dir()
    if not (folder / ".index.json").is_file():
        pytest.skip("the hl7.fhir.r4.core#4.0.1 package is not in the FHIR package cache")
    t = Terminology(directory_resolver(folder))
    assert t.warm() == len(systems.CORE_COMMON_VALUE_SETS)
    return t


def test_core_administrative_gender(core):
    [i] = core.check_binding("xyz", "required", systems.VS_ADMINISTRATIVE_GENDER + "|4.0.1", "Patient.gender")
    assert i.severity is Severity.ERROR and i.location == "Patient.gender" and i.message_id == "VAL_TX_NOT_IN_VALUE_SET"
    assert list(core.check_binding("female", "required", systems.VS_ADMINISTRATIVE_GENDER, "Patient.gender")) == []


def test_core_common_required_bindings_are_complete(core):
    for url in systems.CORE_COMMON_VALUE_SETS:
        e = core.expand(url)
        assert e is not None and e.complete, url
    assert core.expand(systems.VS_EVENT_STATUS).contains(None, "completed")
    assert core.expand(systems.VS_REQUEST_INTENT).contains(None, "proposal")
    assert core.expand(systems.VS_HTTP_VERB).contains(None, "PUT")


def test_core_condition_clinical_coding_and_display(core):
    good = {"coding": [{"system": systems.CONDITION_CLINICAL, "code": "active", "display": "Active"}]}
    assert list(core.check_binding(good, "required", systems.VS_CONDITION_CLINICAL, "Condition.clinicalStatus")) == []
    bad = {"coding": [{"system": systems.CONDITION_CLINICAL, "code": "gone"}]}
    assert ids(core.check_binding(bad, "required", systems.VS_CONDITION_CLINICAL, "Condition.clinicalStatus")) == [
        "VAL_TX_CODE_UNKNOWN", "VAL_TX_NOT_IN_VALUE_SET"]


def test_core_snomed_value_set_is_not_expandable(core):
    coding = {"system": systems.SNOMED, "code": "7771000"}
    [i] = core.check_binding({"coding": [coding]}, "extensible", systems.VS_CONDITION_CODE, "Condition.code")
    assert i.message_id == "VAL_TX_VALUE_SET_NOT_EXPANDABLE" and i.severity is Severity.WARNING


def test_core_mimetypes_by_syntax(core):
    assert list(core.check_binding("application/pdf", "required", systems.VS_MIMETYPES, "A.contentType")) == []
    [i] = core.check_binding("pdf", "required", systems.VS_MIMETYPES, "A.contentType")
    assert i.severity is Severity.ERROR


def test_module_level_functions_use_the_configured_resolver():
    try:
        tx.configure(_resolver([SHAPES, *VALUE_SETS]))
        [i] = tx.check_binding("hexagon", "required", VS + "polygons", "T.s")
        assert i.message_id == "VAL_TX_NOT_IN_VALUE_SET"
        assert list(tx.check_coding(CS, "square", "Square", "T.s")) == []
    finally:
        tx.configure(None)


def test_a_package_set_is_a_resolver(core):
    from fhir_at.validation.packages import R4_CORE, PackageSet

    t = Terminology(PackageSet.of([R4_CORE]))
    [i] = t.check_binding("maybe", "required", systems.VS_OBSERVATION_STATUS + "|4.0.1", "Observation.status")
    assert i.severity is Severity.ERROR
    assert t.expand(systems.VS_BUNDLE_TYPE).contains(None, "transaction")


def test_clean_codes_are_remembered_and_bad_codes_reported_every_time(core):
    """The structure walk remembers the codes that gave no issue; a wrong one is reported each time."""
    from fhir_at.validation.packages import R4_CORE, PackageSet
    from fhir_at.validation.structure import StructureValidator

    walker = StructureValidator(PackageSet.of([R4_CORE]), terminology=core)

    def found(gender, npi):
        patient = {"resourceType": "Patient", "gender": gender, "identifier": [{"system": systems.NPI, "value": npi}]}
        return [(i.message_id, i.location) for i in walker.iter_issues(patient)]

    for _ in range(3):
        assert found("female", "1234567893") == []
        assert found("hermaphrodite", "1234567890") == [       # 1234567890 fails the Luhn check digit
            ("VAL_TX_NOT_IN_VALUE_SET", "Patient.gender"),
            ("VAL_TX_NPI_CHECK_DIGIT", "Patient.identifier[0].value")]
    assert walker._term_clean   # the clean answers were kept
