"""Every canonical URI fhir-at emits or reads, in one place.

Nothing else in the package writes a code-system, identifier-system or profile URI as a literal:
import the constant from here (a test checks it). Declarative tables in ``mappings/`` name their
system once per table, by one of the keys of :data:`BY_NAME`.
"""

from __future__ import annotations

# --- HL7 / external code systems -----------------------------------------------------------
CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
# US Core <= 8.0.1 and Da Vinci CRD still use https; accepted on input, never emitted.
HCPCS_HTTPS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
# OIDs some EHRs send as Coding.system instead of the canonical URIs (accepted on input only).
ICD10CM_OID = "urn:oid:2.16.840.1.113883.6.90"
SNOMED_OID = "urn:oid:2.16.840.1.113883.6.96"
UCUM = "http://unitsofmeasure.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY_US_CORE = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
US_CORE_DOCREF_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"

# --- fhir-at's own canonical base (profiles, code systems, extensions) ----------------------
CANONICAL_BASE = "http://fhir-at.org/fhir"
_SD = CANONICAL_BASE + "/StructureDefinition/"
_CS = CANONICAL_BASE + "/CodeSystem/"

CS_MEASURE = _CS + "at-measure"
CS_ANSWER = _CS + "at-answer"
CS_SETTING = _CS + "at-encounter-setting"
CS_DISCIPLINE = _CS + "at-discipline"
CS_FOLLOW_UP_KIND = _CS + "at-follow-up-kind"
CS_PAYER_KIND = _CS + "at-payer-kind"
CS_LATERALITY = _CS + "at-laterality"
CS_TRIAL_OUTCOME = _CS + "at-device-trial-outcome"

EXT_TIMED_MINUTES = _SD + "timed-minutes"
EXT_LATERALITY = _SD + "laterality"

PROFILE_PATIENT = _SD + "at-patient"
PROFILE_PRACTITIONER = _SD + "at-practitioner"
PROFILE_ORGANIZATION = _SD + "at-organization"
PROFILE_ENCOUNTER = _SD + "at-encounter"
PROFILE_COVERAGE = _SD + "at-coverage"
PROFILE_SERVICE_REQUEST = _SD + "at-referral"
PROFILE_PROCEDURE = _SD + "at-assessment-procedure"
PROFILE_CONDITION = _SD + "at-diagnosis"
PROFILE_OBS_ASSESSMENT = _SD + "at-functional-item"
PROFILE_OBS_EXAM = _SD + "at-exam-measure"
PROFILE_OBS_JUDGEMENT = _SD + "at-clinical-judgement"
PROFILE_OBS_DEVICE_TRIAL = _SD + "at-device-trial"
PROFILE_DEVICE_REQUEST = _SD + "at-device-recommendation"
PROFILE_DOCUMENT_REFERENCE = _SD + "at-assessment-report"
PROFILE_CLAIM = _SD + "at-claim"
PROFILE_BUNDLE = _SD + "at-assessment-bundle"

# Names by which the declarative tables in mappings/ refer to a system.
BY_NAME: dict[str, str] = {
    "CPT": CPT,
    "ICD10CM": ICD10CM,
    "HCPCS": HCPCS,
    "LOINC": LOINC,
    "UCUM": UCUM,
    "V3_ACT_CODE": V3_ACT_CODE,
    "OBSERVATION_CATEGORY": OBSERVATION_CATEGORY,
    "US_CORE_CATEGORY": US_CORE_CATEGORY,
    "CS_MEASURE": CS_MEASURE,
    "CS_ANSWER": CS_ANSWER,
    "CS_SETTING": CS_SETTING,
    "CS_DISCIPLINE": CS_DISCIPLINE,
    "CS_PAYER_KIND": CS_PAYER_KIND,
    "CS_LATERALITY": CS_LATERALITY,
    "CS_FOLLOW_UP_KIND": CS_FOLLOW_UP_KIND,
    "CS_TRIAL_OUTCOME": CS_TRIAL_OUTCOME,
    "DATA_ABSENT_REASON": DATA_ABSENT_REASON,
}

PROFILES: dict[str, str] = {
    "at-patient": PROFILE_PATIENT,
    "at-practitioner": PROFILE_PRACTITIONER,
    "at-organization": PROFILE_ORGANIZATION,
    "at-encounter": PROFILE_ENCOUNTER,
    "at-coverage": PROFILE_COVERAGE,
    "at-referral": PROFILE_SERVICE_REQUEST,
    "at-assessment-procedure": PROFILE_PROCEDURE,
    "at-diagnosis": PROFILE_CONDITION,
    "at-functional-item": PROFILE_OBS_ASSESSMENT,
    "at-exam-measure": PROFILE_OBS_EXAM,
    "at-clinical-judgement": PROFILE_OBS_JUDGEMENT,
    "at-device-trial": PROFILE_OBS_DEVICE_TRIAL,
    "at-device-recommendation": PROFILE_DEVICE_REQUEST,
    "at-assessment-report": PROFILE_DOCUMENT_REFERENCE,
    "at-claim": PROFILE_CLAIM,
    "at-assessment-bundle": PROFILE_BUNDLE,
}
