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
LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"
UCUM_OID = "urn:oid:2.16.840.1.113883.6.8"
CPT_OID = "urn:oid:2.16.840.1.113883.6.12"
HCPCS_OID = "urn:oid:2.16.840.1.113883.6.285"
NPI_OID = "urn:oid:2.16.840.1.113883.4.6"
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
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
US_CORE_DOCREF_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"

# The FHIR specification's own namespaces, as the validator meets them.
FHIR_SD_BASE = "http://hl7.org/fhir/StructureDefinition/"
EXT_FHIR_TYPE = FHIR_SD_BASE + "structuredefinition-fhir-type"
EXT_REGEX = FHIR_SD_BASE + "regex"
EXT_DATA_ABSENT_REASON = FHIR_SD_BASE + "data-absent-reason"
FHIRPATH_TYPES = "http://hl7.org/fhirpath/"
FHIRPATH_SYSTEM = FHIRPATH_TYPES + "System."
XHTML_NS = "http://www.w3.org/1999/xhtml"
OID_PREFIX = "urn:oid:"

# Extensions of HL7's own, used on validator output.
EXT_OO_FILE = "http://hl7.org/fhir/StructureDefinition/operationoutcome-file"

# Grammar-based code systems (checked by syntax; no table of codes exists).
BCP13 = "urn:ietf:bcp:13"   # MIME types
BCP47 = "urn:ietf:bcp:47"   # language tags

# OIDs some senders use as Coding.system/Identifier.system, and the canonical URI they stand for.
OID_TO_URI: dict[str, str] = {
    ICD10CM_OID: ICD10CM,
    SNOMED_OID: SNOMED,
    LOINC_OID: LOINC,
    UCUM_OID: UCUM,
    CPT_OID: CPT,
    HCPCS_OID: HCPCS,
    NPI_OID: NPI,
}

# --- FHIR R4 core value sets (the bindings the validator meets most; warmed at start-up) -------
FHIR_VS = "http://hl7.org/fhir/ValueSet/"
VS_ADMINISTRATIVE_GENDER = FHIR_VS + "administrative-gender"
VS_OBSERVATION_STATUS = FHIR_VS + "observation-status"
VS_EVENT_STATUS = FHIR_VS + "event-status"
VS_REQUEST_STATUS = FHIR_VS + "request-status"
VS_REQUEST_INTENT = FHIR_VS + "request-intent"
VS_REQUEST_PRIORITY = FHIR_VS + "request-priority"
VS_CONDITION_CLINICAL = FHIR_VS + "condition-clinical"
VS_CONDITION_VER_STATUS = FHIR_VS + "condition-ver-status"
VS_DOCUMENT_REFERENCE_STATUS = FHIR_VS + "document-reference-status"
VS_COMPOSITION_STATUS = FHIR_VS + "composition-status"
VS_BUNDLE_TYPE = FHIR_VS + "bundle-type"
VS_HTTP_VERB = FHIR_VS + "http-verb"
VS_ENCOUNTER_STATUS = FHIR_VS + "encounter-status"
VS_FM_STATUS = FHIR_VS + "fm-status"
VS_CLAIM_USE = FHIR_VS + "claim-use"
VS_PUBLICATION_STATUS = FHIR_VS + "publication-status"
VS_IDENTIFIER_USE = FHIR_VS + "identifier-use"
VS_NAME_USE = FHIR_VS + "name-use"
VS_CONTACT_POINT_SYSTEM = FHIR_VS + "contact-point-system"
VS_CONTACT_POINT_USE = FHIR_VS + "contact-point-use"
VS_ADDRESS_USE = FHIR_VS + "address-use"
VS_ADDRESS_TYPE = FHIR_VS + "address-type"
VS_QUANTITY_COMPARATOR = FHIR_VS + "quantity-comparator"
VS_NARRATIVE_STATUS = FHIR_VS + "narrative-status"
VS_MIMETYPES = FHIR_VS + "mimetypes"
VS_LANGUAGES = FHIR_VS + "languages"
VS_ALL_LANGUAGES = FHIR_VS + "all-languages"
VS_UCUM_UNITS = FHIR_VS + "ucum-units"
VS_CONDITION_CODE = FHIR_VS + "condition-code"

CORE_COMMON_VALUE_SETS: tuple[str, ...] = (
    VS_ADMINISTRATIVE_GENDER, VS_OBSERVATION_STATUS, VS_EVENT_STATUS, VS_REQUEST_STATUS,
    VS_REQUEST_INTENT, VS_REQUEST_PRIORITY, VS_CONDITION_CLINICAL, VS_CONDITION_VER_STATUS,
    VS_DOCUMENT_REFERENCE_STATUS, VS_COMPOSITION_STATUS, VS_BUNDLE_TYPE, VS_HTTP_VERB,
    VS_ENCOUNTER_STATUS, VS_FM_STATUS, VS_CLAIM_USE, VS_PUBLICATION_STATUS, VS_IDENTIFIER_USE,
    VS_NAME_USE, VS_CONTACT_POINT_SYSTEM, VS_CONTACT_POINT_USE, VS_ADDRESS_USE, VS_ADDRESS_TYPE,
    VS_QUANTITY_COMPARATOR, VS_NARRATIVE_STATUS, VS_MIMETYPES,
)

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

# The implementation guide (fhir_at/ig/): its package, value sets and conformance resources.
CODE_SYSTEM_BASE = _CS
VALUE_SET_BASE = CANONICAL_BASE + "/ValueSet/"
VS_DEVICES = VALUE_SET_BASE + "at-devices"
VS_REPORT_TYPES = VALUE_SET_BASE + "at-report-types"
VS_PROCEDURE_CODES = VALUE_SET_BASE + "at-procedure-codes"
IG_PACKAGE_ID = "fhir.at.assessment"
IG_URL = CANONICAL_BASE + "/ImplementationGuide/" + IG_PACKAGE_ID
CAPABILITY_RECEIVER = CANONICAL_BASE + "/CapabilityStatement/at-bundle-receiver"
EXT_COMPLIES_WITH_PROFILE = FHIR_SD_BASE + "structuredefinition-compliesWithProfile"

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
    "SUBSCRIBER_RELATIONSHIP": SUBSCRIBER_RELATIONSHIP,
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

# --- Operations of the HTTP service (its CapabilityStatement) -------------------------------
OPDEF_VALIDATE = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
_OD = CANONICAL_BASE + "/OperationDefinition/"
OPDEF_CONVERT = _OD + "Assessment-convert"
OPDEF_EXTRACT = _OD + "Bundle-extract"
OPDEF_PUSH = _OD + "Assessment-push"
OPDEF_CONDITIONS = _OD + "Patient-conditions"
RESTFUL_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
