"""Bundle references, entry requests, documents, contained references, Attachment size and hash."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest

from fhir_at import api
from fhir_at.validation.bundle_rules import check_attachment, iter_bundle_issues, iter_reference_issues
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def bundle():
    return api.convert(json.loads((EXAMPLES / "duchenne-mobility.json").read_text()), pdf=False)[0]


def ids(issues):
    return [(i.message_id, i.severity.value, i.expression) for i in issues]


def test_our_bundles_have_no_issue(bundle):
    assert ids(iter_bundle_issues(bundle)) == []


def test_unresolved_urn_uuid_and_missing_request(bundle):
    b = copy.deepcopy(bundle)
    b["entry"][5]["resource"]["subject"]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    del b["entry"][6]["request"]
    found = ids(iter_bundle_issues(b))
    assert ("VAL_BDL_REF_UNRESOLVED", "error", "Bundle.entry[5].resource.subject.reference") in found
    assert ("VAL_BDL_REQUEST", "error", "Bundle.entry[6]") in found


def test_relative_references(bundle):
    b = copy.deepcopy(bundle)
    b["entry"][5]["resource"]["subject"]["reference"] = "Patient/on-the-server"
    assert ("VAL_BDL_REF_OUTSIDE", "warning", "Bundle.entry[5].resource.subject.reference") in ids(iter_bundle_issues(b))
    for e in b["entry"]:
        del e["request"]
    b["type"] = "collection"
    assert ("VAL_BDL_REF_OUTSIDE", "warning", "Bundle.entry[5].resource.subject.reference") in ids(iter_bundle_issues(b))
    b["type"] = "searchset"
    assert ids(iter_bundle_issues(b)) == []
    b["type"] = "document"
    assert ("VAL_BDL_REF_UNRESOLVED", "error", "Bundle.entry[5].resource.subject.reference") in ids(iter_bundle_issues(b))
    b["entry"][0]["resource"]["id"] = "on-the-server"
    assert "VAL_BDL_REF_UNRESOLVED" not in [i[0] for i in ids(iter_bundle_issues(b))]


def test_document_starts_with_a_composition(bundle):
    b = {"resourceType": "Bundle", "type": "document", "entry": [{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"}}]}
    assert ids(iter_bundle_issues(b)) == [("VAL_BDL_DOCUMENT", "error", "Bundle.entry[0]")]


def test_contained_references():
    res = {"resourceType": "Observation", "contained": [{"resourceType": "Device", "id": "d1"}, {"resourceType": "Device", "id": "d2"}],
           "device": {"reference": "#d1"}, "performer": [{"reference": "#nope"}]}
    found = ids(iter_reference_issues(res, "Observation"))
    assert ("VAL_REF_CONTAINED", "error", "Observation.performer[0].reference") in found
    assert ("VAL_REF_CONTAINED_UNUSED", "error", "Observation.contained[1]") in found
    assert len(found) == 2


def test_attachment_size_and_hash():
    data = b"%PDF-1.4 report"
    att = {"contentType": "application/pdf", "data": base64.b64encode(data).decode(), "size": len(data),
           "hash": base64.b64encode(hashlib.sha1(data).digest()).decode()}
    assert list(check_attachment(att, "X")) == []
    att["size"] += 1
    att["hash"] = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    assert [i.message_id for i in check_attachment(att, "X")] == ["VAL_ATT_SIZE", "VAL_ATT_HASH"]


def test_positions_of_fhirpath_locations():
    from fhir_at.validation.positions import PositionIndex, parse_location

    assert parse_location("Observation.value.ofType(Quantity).code") == ("valueQuantity", "code")
    assert parse_location("Bundle.entry[2].resource.name[0].given[1]") == ("entry", 2, "resource", "name", 0, "given", 1)
    text = '{\n  "resourceType": "Observation",\n  "valueQuantity": {\n    "code": "kg"\n  },\n  "note": [{"text": "a"}, {"text": "b"}]\n}'
    index = PositionIndex(text)
    assert index.find("Observation.value.ofType(Quantity).code") == (4, 5)
    assert index.find("Observation.note[1].text") == (6, 28)
    assert index.find("Observation.missing") == (1, 1)


def test_validator_checks_bundle_references_from_its_structure_walk(bundle):
    """The Validator hands the references its structure walk met to the Bundle rules (no second
    walk): the result must equal the standalone rules' on the same Bundle."""
    from fhir_at.validation.packages import R4_CORE
    from fhir_at.validation.validator import Validator
    from tests.conftest import require_package

    require_package(R4_CORE)
    b = copy.deepcopy(bundle)
    b["entry"][5]["resource"]["subject"]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    b["entry"][5]["resource"]["contained"] = [{"resourceType": "Patient", "id": "c1",
                                               "managingOrganization": {"reference": "urn:uuid:nowhere"}}]
    b["entry"][5]["resource"]["participant"][0]["individual"] = {"reference": "#c1"}
    found = [i for i in Validator().iter_issues(b) if i.message_id.startswith("VAL_BDL_REF")]
    standalone = [i for i in iter_bundle_issues(b, structural=False) if i.message_id.startswith("VAL_BDL_REF")]
    assert ids(found) == ids(standalone) == [
        ("VAL_BDL_REF_UNRESOLVED", "error", "Bundle.entry[5].resource.subject.reference")]
