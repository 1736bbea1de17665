"""Regenerates the negative examples of this folder and manifest.json from the package's examples:

    .venv/bin/python tests/ig/negative/generate.py

Each negative is one example resource (or bundle) of ``fhir-at ig build`` with ONE change that breaks
ONE constraint of ONE fhir-at profile; manifest.json names the profile, the ElementDefinition
(``element``, its id in the profile), the instance location as FHIRPath (``expression``) and what
is broken. They are for the profile validator's tests.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from fhir_at.ig.package import build  # noqa: E402
from fhir_at.ig_examples import examples, source_examples  # noqa: E402
from fhir_at.terminology import systems as S  # noqa: E402

SNOMED_DIABETES = {"system": S.SNOMED, "code": "73211009", "display": "Diabetes mellitus"}


def main() -> None:
    pkg = build(example_resources=[res for _, res in examples(source_examples())])
    ex = [json.loads(v) for k, v in sorted(pkg.files.items())
          if k.startswith("package/example/") and not k.endswith(".index.json")]

    def first(profile: str, pred=lambda r: True) -> dict:
        return copy.deepcopy(next(r for r in ex if profile in (r.get("meta") or {}).get("profile", []) and pred(r)))

    P = S.PROFILES
    seed = copy.deepcopy(next(r for r in ex if r["resourceType"] == "Bundle" and r["id"] == "duchenne-mobility"))
    out = []

    def add(name, res, profile, element, expression, breaks):
        (HERE / f"{name}.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
        out.append({"file": f"{name}.json", "profile": profile, "element": element, "expression": expression,
                    "breaks": breaks})

    r = first(P["at-assessment-procedure"]); r["code"]["coding"][0].update(code="97750", display="Physical performance test")
    add("procedure-code-97750", r, P["at-assessment-procedure"], "Procedure.code.coding:cpt", "Procedure.code.coding",
        "slice cpt 1..1: a coding CPT 97755 (here 97750)")
    r = first(P["at-assessment-procedure"]); r["performedDateTime"] = r.pop("performedPeriod")["start"]
    add("procedure-performed-datetime", r, P["at-assessment-procedure"], "Procedure.performed[x]",
        "Procedure.performed.ofType(dateTime)", "performed[x] must be a Period")
    r = first(P["at-assessment-procedure"]); del r["extension"]
    add("procedure-no-timed-minutes", r, P["at-assessment-procedure"], "Procedure.extension:timedMinutes",
        "Procedure.extension", "slice timedMinutes 1..1 missing")
    r = first(P["at-assessment-procedure"]); del r["reasonReference"]
    add("procedure-no-reason", r, P["at-assessment-procedure"], "Procedure.reasonReference", "Procedure.reasonReference",
        "reasonReference 1..* (the diagnoses) missing")
    r = first(P["at-assessment-procedure"]); del r["report"]
    add("procedure-no-report", r, P["at-assessment-procedure"], "Procedure.report", "Procedure.report",
        "report 1..1 missing")
    r = first(P["at-assessment-procedure"]); r["extension"][0]["valueQuantity"].update(unit="s", code="s")
    add("procedure-timed-minutes-in-seconds", r, S.EXT_TIMED_MINUTES, "Extension.value[x]",
        "Procedure.extension[0].value.ofType(Quantity)", "patternQuantity: UCUM min (here s)")

    r = first(P["at-diagnosis"]); r["code"]["coding"] = [SNOMED_DIABETES]
    add("condition-no-icd10cm", r, P["at-diagnosis"], "Condition.code.coding:icd10cm", "Condition.code.coding",
        "slice icd10cm 1..1: no ICD-10-CM coding (SNOMED CT only)")
    r = first(P["at-diagnosis"], lambda r: r["code"]["coding"][0]["code"] == "G71.01")
    r["code"]["coding"].append({"system": S.ICD10CM, "code": "G71.09", "display": "Other specified muscular dystrophies"})
    add("condition-two-icd10cm", r, P["at-diagnosis"], "Condition.code.coding:icd10cm", "Condition.code.coding",
        "slice icd10cm max 1: two ICD-10-CM codings")
    r = first(P["at-diagnosis"]); r["category"][0]["coding"][0].update(code="problem-list-item", display="Problem List Item")
    add("condition-problem-list-category", r, P["at-diagnosis"], "Condition.category:us-core", "Condition.category",
        "slice us-core 1..1: category encounter-diagnosis missing (problem-list-item instead)")
    r = first(P["at-diagnosis"]); del r["encounter"]
    add("condition-no-encounter", r, P["at-diagnosis"], "Condition.encounter", "Condition.encounter",
        "encounter 1..1 missing")

    def with_twin(resource_type: str, n: int) -> dict:
        """The seed bundle with a second entry of ``resource_type`` (another identifier), right after it."""
        b = copy.deepcopy(seed)
        entry = next(e for e in b["entry"] if e["resource"]["resourceType"] == resource_type)
        twin = copy.deepcopy(entry)
        twin["fullUrl"] = f"urn:uuid:00000000-0000-5000-8000-00000000000{n}"
        twin["resource"]["identifier"][0]["value"] += "-copy"
        twin["request"]["ifNoneExist"] += "-copy"
        b["entry"].insert(b["entry"].index(entry) + 1, twin)
        return b

    add("bundle-two-procedures", with_twin("Procedure", 1), P["at-assessment-bundle"], "Bundle.entry:procedure",
        "Bundle.entry", "slice procedure max 1: two 97755 Procedures")
    add("bundle-two-reports", with_twin("DocumentReference", 2), P["at-assessment-bundle"], "Bundle.entry:report",
        "Bundle.entry", "slice report max 1: two report DocumentReferences")
    b = copy.deepcopy(seed); b["type"] = "batch"
    add("bundle-type-batch", b, P["at-assessment-bundle"], "Bundle.type", "Bundle.type",
        "fixed transaction (here batch)")

    r = first(P["at-assessment-report"]); del r["content"][0]["attachment"]["hash"]
    add("docref-attachment-without-hash", r, P["at-assessment-report"], "DocumentReference.content:html.attachment.hash",
        "DocumentReference.content[0].attachment.hash", "attachment.hash 1..1 missing (HTML report)")
    r = first(P["at-assessment-report"]); r["type"]["coding"][0].update(code="11506-3", display="Progress note")
    add("docref-type-not-a-report-type", r, P["at-assessment-report"], "DocumentReference.type", "DocumentReference.type",
        "required binding at-report-types (LOINC 11506-3 is not one)")
    r = first(P["at-assessment-report"])
    r["category"][0]["coding"][0]["system"] = S.CONDITION_CATEGORY
    r["category"][0]["coding"][0].update(code="encounter-diagnosis", display="Encounter Diagnosis")
    add("docref-no-clinical-note-category", r, P["at-assessment-report"], "DocumentReference.category:uscore",
        "DocumentReference.category", "slice uscore 1..1: category clinical-note missing")

    r = first(P["at-device-recommendation"], lambda r: r["codeCodeableConcept"].get("coding"))
    r["codeCodeableConcept"]["coding"][0].update(code="E1399", display="Durable medical equipment misc")
    add("devicerequest-unverified-hcpcs", r, P["at-device-recommendation"], "DeviceRequest.code[x].coding:hcpcs",
        "DeviceRequest.code.ofType(CodeableConcept).coding[0]", "required binding at-devices (E1399 is not verified)")
    r = first(P["at-device-recommendation"]); del r["supportingInfo"]
    add("devicerequest-no-supporting-info", r, P["at-device-recommendation"], "DeviceRequest.supportingInfo",
        "DeviceRequest.supportingInfo", "supportingInfo 2..* (procedure and report) missing")

    r = first(P["at-functional-item"]); r["category"] = [c for c in r["category"] if c["coding"][0]["code"] != "survey"]
    add("functional-item-no-survey-category", r, P["at-functional-item"], "Observation.category:survey",
        "Observation.category", "slice survey 1..1 missing")
    r = first(P["at-exam-measure"], lambda r: "valueQuantity" in r); r["valueQuantity"]["system"] = "http://example.org/units"
    add("exam-measure-quantity-not-ucum", r, P["at-exam-measure"], "Observation", "Observation",
        "invariant us-core-3: Quantity system must be UCUM")
    r = first(P["at-exam-measure"], lambda r: "valueQuantity" in r); del r["valueQuantity"]
    add("exam-measure-no-value", r, P["at-exam-measure"], "Observation", "Observation",
        "invariant us-core-2: no value and no dataAbsentReason")
    r = first(P["at-exam-measure"], lambda r: "bodySite" in r and "extension" in r["bodySite"])
    r["bodySite"]["extension"][0]["valueCoding"] = {"system": S.CS_DISCIPLINE, "code": "OT", "display": "Occupational therapy"}
    add("exam-measure-laterality-not-a-side", r, S.EXT_LATERALITY, "Extension.value[x]",
        "Observation.bodySite.extension[0].value.ofType(Coding)", "required binding at-laterality")
    r = first(P["at-device-trial"])
    r["valueCodeableConcept"] = {"coding": [{"system": S.CS_ANSWER, "code": "balance-fair", "display": "Fair"}]}
    add("device-trial-outcome-not-an-outcome", r, P["at-device-trial"], "Observation.value[x]",
        "Observation.value.ofType(CodeableConcept)", "required binding at-device-trial-outcome")

    r = first(P["at-practitioner"]); r["identifier"][0]["value"] = "1234567890"
    add("practitioner-npi-check-digit", r, P["at-practitioner"], "Practitioner.identifier:NPI",
        "Practitioner.identifier[0]", "invariant us-core-17: NPI check digit")
    r = first(P["at-practitioner"]); r["identifier"][0] = {"system": "urn:oid:2.16.840.1.113883.3.9999.9", "value": "OKAFOR-1"}
    add("practitioner-no-npi", r, P["at-practitioner"], "Practitioner.identifier:NPI", "Practitioner.identifier",
        "slice NPI 1..1 missing")
    r = first(P["at-encounter"]); del r["type"]
    add("encounter-no-type", r, P["at-encounter"], "Encounter.type", "Encounter.type", "type 1..* missing")
    r = first(P["at-patient"]); del r["gender"]
    add("patient-no-gender", r, P["at-patient"], "Patient.gender", "Patient.gender", "gender 1..1 missing")
    r = first(P["at-organization"]); del r["name"]
    add("organization-no-name", r, P["at-organization"], "Organization.name", "Organization.name", "name 1..1 missing")
    r = first(P["at-coverage"]); del r["subscriberId"]
    add("coverage-no-member-id", r, P["at-coverage"], "Coverage", "Coverage",
        "invariant us-core-15: no member id (identifier type MB) and no subscriberId")
    r = first(P["at-referral"]); r["code"]["coding"][0].update(code="97750", display="Physical performance test")
    add("referral-code-97750", r, P["at-referral"], "ServiceRequest.code", "ServiceRequest.code",
        "patternCodeableConcept CPT 97755 (here 97750)")
    r = first(P["at-claim"]); r["item"][0]["productOrService"]["coding"][0].update(code="97750",
                                                                                 display="Physical performance test")
    add("claim-first-line-not-97755", r, P["at-claim"], "Claim", "Claim", "invariant at-claim-1: line 1 is 97755")

    manifest = {"about": "Each file breaks exactly one constraint of one fhir-at profile (see generate.py).",
                "negatives": out}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(out)} negative examples written to {HERE}")


if __name__ == "__main__":
    main()
