"""Structure validation against the base R4 StructureDefinitions: one defect per case, valid controls.

Each defect case changes one thing in a valid resource and expects exactly the listed error issues,
compared on (severity, code, expression, message id). The valid controls are the R4 specification's
own examples (package ``hl7.fhir.r4.examples#4.0.1``) of the types fhir-at emits and reads, and the
bundles fhir-at builds from ``examples/*.json``.
"""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from fhir_at.errors import ConfigError
from fhir_at.validation import packages
from tests.conftest import EXAMPLES

EXAMPLES_PACKAGE = "hl7.fhir.r4.examples#4.0.1"
CONTROL_TYPES = ("Patient", "Practitioner", "Organization", "Encounter", "Procedure", "Condition",
                 "Observation", "DeviceRequest", "DocumentReference", "Bundle", "Claim", "Coverage",
                 "ServiceRequest")


def _core_or_skip():
    try:
        return packages.load_package(packages.R4_CORE)
    except ConfigError as exc:
        pytest.skip(f"the R4 core package is not installed (bash scripts/setup.sh): {exc}")


@pytest.fixture(scope="module")
def validator():
    _core_or_skip()
    from fhir_at.validation.structure import StructureValidator

    return StructureValidator()


def errors(validator, resource, location: str = "") -> set[tuple[str, str, str, str]]:
    return {(i.severity.value, i.code.value, i.expression, i.message_id)
            for i in validator.iter_issues(resource, location) if i.severity.value in ("error", "fatal")}


PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {"lastUpdated": "2024-03-01T10:00:00Z"},
    "identifier": [{"system": "http://example.org/mrn", "value": "123"}],
    "active": True,
    "name": [{"family": "Doe", "given": ["Jane", "Q"]}],
    "gender": "female",
    "birthDate": "1980-02-29",
    "deceasedBoolean": False,
    "multipleBirthInteger": 1,
    "contact": [{"name": {"family": "Roe"}}],
}


def _changed(base: dict, changes: dict) -> dict:
    """A copy of ``base`` with ``changes`` applied (``_DROP`` removes the key)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is _DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def patient(**changes) -> dict:
    return _changed(PATIENT, changes)


_DROP = object()


def test_valid_patient(validator):
    assert errors(validator, patient()) == set()


OBSERVATION = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2024-03-01T10:00:00-05:00",
    "valueQuantity": {"value": 172.5, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"},
    "note": [{"text": "measured *standing*"}],
}


def observation(**changes) -> dict:
    return _changed(OBSERVATION, changes)


def _with(base: dict, path: tuple, value) -> dict:
    """A copy of ``base`` with ``value`` set at ``path`` (keys and indexes; _DROP removes)."""
    out = copy.deepcopy(base)
    node = out
    for part in path[:-1]:
        node = node[part]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


E = "error"
EXT = [{"url": "http://example.org/ext", "valueString": "why"}]

# (case id, resource, expected errors as (code, expression, message id))
CASES = [
    # resourceType
    ("resourceType missing", patient(resourceType=_DROP), {("structure", "$", "VAL_RESOURCE_TYPE_MISSING")}),
    ("resourceType unknown", patient(resourceType="Patinet"),
     {("structure", "Patinet", "VAL_RESOURCE_TYPE_UNKNOWN")}),
    ("resourceType abstract", patient(resourceType="DomainResource"),
     {("structure", "DomainResource", "VAL_RESOURCE_TYPE_UNKNOWN")}),
    ("resourceType a datatype", {"resourceType": "HumanName", "family": "x"},
     {("structure", "HumanName", "VAL_RESOURCE_TYPE_UNKNOWN")}),
    ("resourceType not a string", patient(resourceType=["Patient"]), {("structure", "$", "VAL_JSON_TYPE")}),
    # unknown elements
    ("unknown element", patient(foo=1), {("structure", "Patient.foo", "VAL_UNKNOWN_ELEMENT")}),
    ("unknown nested element", _with(PATIENT, ("name", 0, "surname"), "Doe"),
     {("structure", "Patient.name[0].surname", "VAL_UNKNOWN_ELEMENT")}),
    ("resourceType inside a datatype", _with(PATIENT, ("name", 0, "resourceType"), "HumanName"),
     {("structure", "Patient.name[0].resourceType", "VAL_UNKNOWN_ELEMENT")}),
    # JSON type per FHIR type
    ("code as a number", patient(gender=1), {("structure", "Patient.gender", "VAL_JSON_TYPE")}),
    ("boolean as a string", patient(active="true"), {("structure", "Patient.active", "VAL_JSON_TYPE")}),
    ("complex as a string", patient(meta="x"), {("structure", "Patient.meta", "VAL_JSON_TYPE")}),
    ("array item not an object", patient(name=["Doe"]), {("structure", "Patient.name[0]", "VAL_JSON_TYPE")}),
    ("array item of the wrong primitive type", _with(PATIENT, ("name", 0, "given", 1), 7),
     {("structure", "Patient.name[0].given[1]", "VAL_JSON_TYPE")}),
    ("decimal as a string", _with(OBSERVATION, ("valueQuantity", "value"), "172.5"),
     {("structure", "Observation.value.ofType(Quantity).value", "VAL_JSON_TYPE")}),
    ("integer with a fraction", patient(multipleBirthInteger=1.5),
     {("structure", "Patient.multipleBirth.ofType(integer)", "VAL_JSON_TYPE")}),
    ("array expected", patient(name={"family": "Doe"}), {("structure", "Patient.name", "VAL_ARRAY_EXPECTED")}),
    ("array unexpected", patient(gender=["female"]), {("structure", "Patient.gender", "VAL_ARRAY_UNEXPECTED")}),
    ("complex array unexpected", patient(maritalStatus=[{"text": "married"}]),
     {("structure", "Patient.maritalStatus", "VAL_ARRAY_UNEXPECTED")}),
    # primitives
    ("date month 13", patient(birthDate="1980-13-01"), {("value", "Patient.birthDate", "VAL_PRIMITIVE_FORMAT")}),
    ("date not a real day", patient(birthDate="1981-02-29"),
     {("value", "Patient.birthDate", "VAL_PRIMITIVE_FORMAT")}),
    ("date with a time", patient(birthDate="1980-02-29T10:00:00Z"),
     {("value", "Patient.birthDate", "VAL_PRIMITIVE_FORMAT")}),
    ("dateTime with a time but no zone", patient(deceasedDateTime="2020-01-01T10:00:00", deceasedBoolean=_DROP),
     {("value", "Patient.deceased.ofType(dateTime)", "VAL_PRIMITIVE_FORMAT")}),
    ("dateTime without seconds", patient(deceasedDateTime="2020-01-01T10:00Z", deceasedBoolean=_DROP),
     {("value", "Patient.deceased.ofType(dateTime)", "VAL_PRIMITIVE_FORMAT")}),
    ("instant without a zone", _with(PATIENT, ("meta", "lastUpdated"), "2024-03-01T10:00:00"),
     {("value", "Patient.meta.lastUpdated", "VAL_PRIMITIVE_FORMAT")}),
    ("instant only a date", _with(PATIENT, ("meta", "lastUpdated"), "2024-03-01"),
     {("value", "Patient.meta.lastUpdated", "VAL_PRIMITIVE_FORMAT")}),
    ("time hour 25", observation(valueTime="25:00:00", valueQuantity=_DROP),
     {("value", "Observation.value.ofType(time)", "VAL_PRIMITIVE_FORMAT")}),
    ("integer above 2^31-1", patient(multipleBirthInteger=2 ** 31, deceasedBoolean=False),
     {("value", "Patient.multipleBirth.ofType(integer)", "VAL_INTEGER_RANGE")}),
    ("integer written as 2.0", patient(multipleBirthInteger=2.0),
     {("value", "Patient.multipleBirth.ofType(integer)", "VAL_PRIMITIVE_FORMAT")}),
    ("unsignedInt negative", patient(photo=[{"contentType": "image/png", "size": -1}]),
     {("value", "Patient.photo[0].size", "VAL_INTEGER_RANGE")}),
    ("positiveInt zero", {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
                          "subject": {"reference": "Patient/p1"},
                          "occurrenceTiming": {"repeat": {"frequency": 0}}},
     {("value", "ServiceRequest.occurrence.ofType(Timing).repeat.frequency", "VAL_INTEGER_RANGE")}),
    ("decimal not finite", _with(OBSERVATION, ("valueQuantity", "value"), float("inf")),
     {("structure", "Observation.value.ofType(Quantity).value", "VAL_JSON_TYPE")}),
    ("base64Binary invalid", patient(photo=[{"contentType": "image/png", "data": "abc"}]),
     {("value", "Patient.photo[0].data", "VAL_PRIMITIVE_FORMAT")}),
    ("id with an underscore", patient(id="p_1"), {("value", "Patient.id", "VAL_PRIMITIVE_FORMAT")}),
    ("id of 65 characters", patient(id="a" * 65), {("value", "Patient.id", "VAL_PRIMITIVE_FORMAT")}),
    ("uri with a space", _with(PATIENT, ("identifier", 0, "system"), "http://example.org/m rn"),
     {("value", "Patient.identifier[0].system", "VAL_PRIMITIVE_FORMAT")}),
    ("canonical with a space", _with(PATIENT, ("meta", "profile"), ["http://example.org/a b"]),
     {("value", "Patient.meta.profile[0]", "VAL_PRIMITIVE_FORMAT")}),
    ("extension url with a space", patient(extension=[{"url": "http://example.org/a b", "valueString": "x"}]),
     {("value", "Patient.extension[0].url", "VAL_PRIMITIVE_FORMAT")}),
    ("oid", patient(extension=[{"url": "http://example.org/e", "valueOid": "1.2.3"}]),
     {("value", "Patient.extension[0].value.ofType(oid)", "VAL_PRIMITIVE_FORMAT")}),
    ("uuid upper case", patient(extension=[{"url": "http://example.org/e",
                                            "valueUuid": "urn:uuid:A8C7E3B0-0000-4000-8000-000000000000"}]),
     {("value", "Patient.extension[0].value.ofType(uuid)", "VAL_PRIMITIVE_FORMAT")}),
    ("url with a space", patient(extension=[{"url": "http://example.org/e", "valueUrl": "http://a b"}]),
     {("value", "Patient.extension[0].value.ofType(url)", "VAL_PRIMITIVE_FORMAT")}),
    ("code with leading whitespace", patient(gender=" female"),
     {("value", "Patient.gender", "VAL_PRIMITIVE_FORMAT")}),
    ("code with a double space", _with(PATIENT, ("identifier", 0, "use"), "us  ual"),
     {("value", "Patient.identifier[0].use", "VAL_PRIMITIVE_FORMAT")}),
    ("string with a control character", _with(PATIENT, ("name", 0, "family"), "Do\x00e"),
     {("value", "Patient.name[0].family", "VAL_STRING_CONTROL_CHARS")}),
    ("markdown with a control character", _with(OBSERVATION, ("note", 0, "text"), "a\x1bb"),
     {("value", "Observation.note[0].text", "VAL_STRING_CONTROL_CHARS")}),
    ("string over 1 MiB", _with(PATIENT, ("name", 0, "family"), "x" * (1024 * 1024 + 1)),
     {("value", "Patient.name[0].family", "VAL_STRING_LENGTH")}),
    # empty values and nulls
    ("empty string", _with(PATIENT, ("name", 0, "family"), ""),
     {("invalid", "Patient.name[0].family", "VAL_EMPTY_STRING")}),
    ("empty string in an array", _with(PATIENT, ("name", 0, "given", 0), ""),
     {("invalid", "Patient.name[0].given[0]", "VAL_EMPTY_STRING")}),
    ("empty markdown", _with(OBSERVATION, ("note", 0, "text"), ""),
     {("invalid", "Observation.note[0].text", "VAL_EMPTY_STRING")}),
    ("empty object", _with(PATIENT, ("name", 0), {}), {("invalid", "Patient.name[0]", "VAL_EMPTY_OBJECT")}),
    ("empty complex object", patient(maritalStatus={}), {("invalid", "Patient.maritalStatus", "VAL_EMPTY_OBJECT")}),
    ("empty array", patient(identifier=[]), {("invalid", "Patient.identifier", "VAL_EMPTY_ARRAY")}),
    ("null value", patient(gender=None), {("invalid", "Patient.gender", "VAL_NULL")}),
    ("null complex", patient(maritalStatus=None), {("invalid", "Patient.maritalStatus", "VAL_NULL")}),
    ("null array", patient(name=None), {("invalid", "Patient.name", "VAL_NULL")}),
    ("null in an object array", patient(name=[None]), {("invalid", "Patient.name[0]", "VAL_NULL")}),
    ("null in a primitive array", _with(PATIENT, ("name", 0, "given", 1), None),
     {("invalid", "Patient.name[0].given[1]", "VAL_NULL")}),
    # choice types
    ("two choice variants", patient(deceasedDateTime="2020"),
     {("structure", "Patient.deceased", "VAL_CHOICE_MULTIPLE")}),
    ("choice without its type", patient(deceased=True, deceasedBoolean=_DROP),
     {("structure", "Patient.deceased", "VAL_CHOICE_NO_TYPE")}),
    ("choice with a type not allowed", patient(deceasedString="yes", deceasedBoolean=_DROP),
     {("structure", "Patient.deceasedString", "VAL_CHOICE_UNKNOWN_TYPE")}),
    ("choice variant of the wrong JSON type", patient(deceasedBoolean="false"),
     {("structure", "Patient.deceased.ofType(boolean)", "VAL_JSON_TYPE")}),
    # cardinality
    ("required element missing", observation(status=_DROP),
     {("required", "Observation", "VAL_CARDINALITY_MIN")}),
    ("required complex element missing", observation(code=_DROP),
     {("required", "Observation", "VAL_CARDINALITY_MIN")}),
    ("required backbone child missing", patient(link=[{"type": "seealso"}]),
     {("required", "Patient.link[0]", "VAL_CARDINALITY_MIN")}),
    ("required choice missing", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                 "component": [{"code": {"text": "y"}, "valueQuantity": {"value": 1}}],
                                 "referenceRange": [{"text": "ok"}]}, set()),
    ("required element in a datatype missing", patient(extension=[{"valueString": "x"}]),
     {("required", "Patient.extension[0]", "VAL_CARDINALITY_MIN")}),
    # primitive extensions
    ("extension on a primitive", patient(_birthDate={"extension": EXT}), set()),
    ("extension without a value", patient(_birthDate={"extension": EXT}, birthDate=_DROP), set()),
    ("extension on the resource id", patient(_id={"extension": EXT}), set()),
    ("extension on an array item with a null value",
     _with(PATIENT, ("name", 0), {"given": ["Jane", None], "_given": [None, {"extension": EXT}]}), set()),
    ("primitive extension as an array", patient(_birthDate=[{"extension": EXT}]),
     {("structure", "Patient.birthDate", "VAL_ARRAY_UNEXPECTED")}),
    ("primitive extension null", patient(_birthDate=None), {("invalid", "Patient.birthDate", "VAL_NULL")}),
    ("primitive extension not an object", patient(_birthDate="x"),
     {("structure", "Patient.birthDate", "VAL_JSON_TYPE")}),
    ("primitive extension empty", patient(_birthDate={}), {("invalid", "Patient.birthDate", "VAL_EMPTY_OBJECT")}),
    ("primitive extension content checked", patient(_birthDate={"extension": {"url": "http://x"}}),
     {("structure", "Patient.birthDate.extension", "VAL_ARRAY_EXPECTED")}),
    ("primitive extension arrays of different lengths",
     _with(PATIENT, ("name", 0, "_given"), [{"extension": EXT}]),
     {("structure", "Patient.name[0].given", "VAL_PRIMITIVE_EXTENSION")}),
    ("null in both arrays", _with(PATIENT, ("name", 0), {"given": ["Jane", None], "_given": [None, None]}),
     {("invalid", "Patient.name[0].given[1]", "VAL_NULL")}),
    ("null in an extension array alone", _with(PATIENT, ("name", 0), {"_given": [None]}),
     {("invalid", "Patient.name[0].given[0]", "VAL_NULL")}),
    ("extension array not an array", _with(PATIENT, ("name", 0, "_given"), {"extension": EXT}),
     {("structure", "Patient.name[0].given", "VAL_ARRAY_EXPECTED")}),
    ("_x for a complex element", patient(_name=[{"extension": EXT}]),
     {("structure", "Patient._name", "VAL_UNKNOWN_ELEMENT")}),
    ("_x for an attribute", _with(PATIENT, ("name", 0, "_id"), {"extension": EXT}),
     {("structure", "Patient.name[0]._id", "VAL_UNKNOWN_ELEMENT")}),
    ("_x for a choice variant", patient(_deceasedBoolean={"extension": EXT}), set()),
    ("_x of a second choice variant", patient(_deceasedDateTime={"extension": EXT}),
     {("structure", "Patient.deceased", "VAL_CHOICE_MULTIPLE")}),
    # contained and nested resources
    ("contained resource checked", patient(contained=[{"resourceType": "Practitioner", "id": "pr",
                                                       "name": [{"family": 1}]}]),
     {("structure", "Patient.contained[0].name[0].family", "VAL_JSON_TYPE")}),
    ("contained without resourceType", patient(contained=[{"id": "pr"}]),
     {("structure", "Patient.contained[0]", "VAL_RESOURCE_TYPE_MISSING")}),
    ("contained unknown type", patient(contained=[{"resourceType": "Doctor", "id": "pr"}]),
     {("structure", "Patient.contained[0]", "VAL_RESOURCE_TYPE_UNKNOWN")}),
    ("contained not an object", patient(contained=["Practitioner/pr"]),
     {("structure", "Patient.contained[0]", "VAL_JSON_TYPE")}),
    ("bundle entry resource checked", {"resourceType": "Bundle", "type": "collection",
                                       "entry": [{"fullUrl": "urn:uuid:a8c7e3b0-0000-4000-8000-000000000000",
                                                  "resource": observation(status=_DROP)}]},
     {("required", "Bundle.entry[0].resource", "VAL_CARDINALITY_MIN")}),
    ("parameters resource checked", {"resourceType": "Parameters",
                                     "parameter": [{"name": "p", "resource": patient(gender=1)}]},
     {("structure", "Parameters.parameter[0].resource.gender", "VAL_JSON_TYPE")}),
    ("nested backbone via contentReference",
     {"resourceType": "Questionnaire", "status": "active",
      "item": [{"linkId": "1", "type": "group", "item": [{"type": "string", "text": "x", "colour": "red"}]}]},
     {("required", "Questionnaire.item[0].item[0]", "VAL_CARDINALITY_MIN"),
      ("structure", "Questionnaire.item[0].item[0].colour", "VAL_UNKNOWN_ELEMENT")}),
]


@pytest.mark.parametrize("resource,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_single_defect(validator, resource, expected):
    assert errors(validator, resource) == {(E, *e) for e in expected}


def test_location_prefixes_every_expression(validator):
    found = errors(validator, patient(foo=1), "Bundle.entry[3].resource")
    assert found == {(E, "structure", "Bundle.entry[3].resource.foo", "VAL_UNKNOWN_ELEMENT")}


def test_not_an_object(validator):
    assert errors(validator, []) == {(E, "structure", "$", "VAL_JSON_TYPE")}


def _messages(validator, resource) -> list[str]:
    return [i.message for i in validator.iter_issues(resource)]


def test_messages(validator):
    assert _messages(validator, observation(status=_DROP)) == [
        "Observation.status: minimum required = 1, but only found 0"]
    assert _messages(validator, patient(birthdate="1980-01-01")) == [
        "Unknown element 'birthdate' in Patient (did you mean 'birthDate'?)"]
    assert _messages(validator, patient(genedr="male")) == [
        "Unknown element 'genedr' in Patient (did you mean 'gender'?)"]
    assert _messages(validator, patient(resourceType="patient")) == [
        "Unknown resource type 'patient' (did you mean 'Patient'?)"]
    assert _messages(validator, patient(deceased=True, deceasedBoolean=_DROP)) == [
        "'deceased' must name its type: deceased[x] is written as deceasedBoolean or deceasedDateTime"]
    assert _messages(validator, patient(birthDate="1980-13-01")) == [
        "The value '1980-13-01' is not a valid date (expected YYYY, YYYY-MM or YYYY-MM-DD)"]
    assert _messages(validator, patient(multipleBirthInteger=-2 ** 31 - 1)) == [
        "The integer value -2147483649 is out of range (-2147483648..2147483647)"]
    assert _messages(validator, patient(name={"family": "Doe"})) == [
        "'name' can repeat (Patient.name 0..*), so it must be a JSON array, not an object"]


def test_issue_fields(validator):
    [found] = validator.iter_issues(patient(gender=1))
    assert found.source.value == "validator"
    assert found.line is None and found.path.parts == ()


@pytest.mark.parametrize("value", ["2024", "2024-02", "2024-02-29", "2024-02-29T23:59:60.123+14:00",
                                   "0001-01-01T00:00:00Z"])
def test_valid_date_times(validator, value):
    assert errors(validator, patient(deceasedDateTime=value, deceasedBoolean=_DROP)) == set()


@pytest.mark.parametrize("value", ["aGVsbG8=", "aGVs\nbG8=", "aGVs bG8=", ""[:0] + "QQ=="])
def test_valid_base64(validator, value):
    assert errors(validator, patient(photo=[{"contentType": "text/plain", "data": value}])) == set()


def test_decimal_accepts_integers_and_floats(validator):
    for value in (0, -3, 1e-3, 12345678901234):
        assert errors(validator, _with(OBSERVATION, ("valueQuantity", "value"), value)) == set()


# -- the definitions callable and the plans ------------------------------------------------------

THING = {
    "resourceType": "StructureDefinition", "url": "http://hl7.org/fhir/StructureDefinition/Thing",
    "name": "Thing", "type": "Thing", "kind": "resource", "abstract": False, "derivation": "specialization",
    "snapshot": {"element": [
        {"path": "Thing", "min": 0, "max": "*"},
        {"path": "Thing.id", "min": 0, "max": "1",
         "type": [{"code": "http://hl7.org/fhirpath/System.String"}]},
        {"path": "Thing.pair", "min": 0, "max": "2", "type": [{"code": "string"}]},
        {"path": "Thing.never", "min": 0, "max": "0", "type": [{"code": "string"}]},
    ]},
}


def test_definitions_callable_and_max_cardinality():
    core = _core_or_skip()
    from fhir_at.validation.structure import StructureValidator

    def definitions(url):
        return THING if url == THING["url"] else core.resource_by_url(url)

    v = StructureValidator(definitions)
    assert errors(v, {"resourceType": "Thing", "pair": ["a", "b"]}) == set()
    assert errors(v, {"resourceType": "Thing", "pair": ["a", "b", "c"]}) == {
        (E, "structure", "Thing.pair", "VAL_CARDINALITY_MAX")}
    assert errors(v, {"resourceType": "Thing", "never": "x"}) == {
        (E, "structure", "Thing.never", "VAL_CARDINALITY_MAX")}


def test_plans_are_lazy_and_picklable():
    core = _core_or_skip()
    from fhir_at.validation.plans import PlanRegistry
    from fhir_at.validation.structure import StructureValidator

    asked: list[str] = []

    def definitions(url):
        asked.append(url)
        return core.resource_by_url(url)

    registry = PlanRegistry(definitions)
    v = StructureValidator(registry=registry)
    assert errors(v, patient()) == set()
    assert len(set(asked)) < 40, sorted(set(asked))
    plan = registry.type_plan("Patient")
    slot = plan.slots["gender"]
    assert slot.element.binding.strength == "required"
    assert any(c.key == "dom-2" for c in plan.element.constraints)
    clone = pickle.loads(pickle.dumps(plan))
    assert set(clone.slots) == set(plan.slots)
    assert clone.slots["birthDate"].primitive.check("1980-13-01") is not None
    assert clone.slots["name"].plan.slots["given"].array


def test_public_names():
    from fhir_at.validation import plans, primitives, structure

    for module in (structure, plans, primitives):
        public = {n for n, v in vars(module).items() if not n.startswith("_")
                  and getattr(v, "__module__", module.__name__) == module.__name__ and callable(v)}
        assert public <= set(module.__all__), public - set(module.__all__)


# -- valid controls ------------------------------------------------------------------------------

def _spec_examples() -> list:
    folder = packages.cache_root() / EXAMPLES_PACKAGE / "package"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    wanted = []
    for f in files:
        if f.name.split("-", 1)[0] in CONTROL_TYPES:
            wanted.append(pytest.param(f, id=f.name))
    return wanted or [pytest.param(None, marks=pytest.mark.skip(
        reason=f"{EXAMPLES_PACKAGE} is not installed (npm pack hl7.fhir.r4.examples@4.0.1, then "
               "fhir-at packages install the .tgz)"))]


@pytest.mark.parametrize("path", _spec_examples())
def test_spec_examples_are_valid(validator, path):
    doc = json.loads(path.read_bytes())
    if doc.get("resourceType") not in CONTROL_TYPES:
        pytest.skip(f"{path.name} is a {doc.get('resourceType')}")
    assert errors(validator, doc) == set()


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_converted_examples_are_valid(validator, name):
    from fhir_at import api

    bundle = api.convert(json.loads((EXAMPLES / name).read_text(encoding="utf-8")), pdf=False)[0]
    assert bundle is not None
    assert errors(validator, bundle) == set()
