"""Assessment ⇄ FHIR R4: the transaction Bundle out, and any bundle or resource set back in."""

from __future__ import annotations

from ..issues import Issue, Severity
from ..messages import Msg, issue
from ..model.schema import SCHEMA_VERSION
from ..terminology import systems
from ..terminology.catalog import catalog
from . import (claim, condition, coverage, device_request, document_reference, encounter, observation,
               organization, patient, practitioner, procedure, service_request)
from .context import ToFhir
from .index import ResourceIndex

__all__ = ["to_bundle", "index_resources", "from_index"]


def to_bundle(a: dict, *, pdf: bool = True, claim_lines=None, date_of_service: str | None = None) -> dict:
    """The transaction Bundle of a *checked* assessment (see ``fhir_at.model.checks``); with
    ``claim_lines`` (billing line items, 97755 first) a professional Claim is added."""
    ctx = ToFhir(a, catalog(), period=procedure.session_period(a["session"]))
    patient.to_fhir(a, ctx)
    practitioner.to_fhir(a["clinician"], "clinician", ctx)
    organization.to_fhir(a["organization"], "organization", ctx)
    coverage.to_fhir(a, ctx)
    encounter.to_fhir(a, ctx)
    service_request.to_fhir(a, ctx)
    condition.to_fhir(a, ctx)
    procedure.to_fhir(a, ctx)
    observation.measures_to_fhir(a, ctx)
    observation.trials_to_fhir(a, ctx)
    device_request.to_fhir(a, ctx)
    document_reference.to_fhir(a, ctx, pdf=pdf)
    if claim_lines:
        claim.to_fhir(a, ctx, claim_lines, date_of_service or a["session"]["date"])
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [systems.PROFILE_BUNDLE]},
        "type": "transaction",
        "entry": ctx.entries,
    }


# --------------------------------------------------------------------------------- FHIR → assessment

def index_resources(doc, origin: str = "") -> ResourceIndex:
    """Indexes a Bundle (transaction, batch, collection, searchset…), a resource or a list of them."""
    index = ResourceIndex()
    _index_into(index, doc, origin)
    return index


def _index_into(index: ResourceIndex, doc, origin: str) -> None:
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            _index_into(index, item, f"{origin}[{i}]" if origin else f"[{i}]")
        return
    if not isinstance(doc, dict) or "resourceType" not in doc:
        index.issues.append(issue(Msg.FHIR_NOT_A_BUNDLE, "not a FHIR resource (no resourceType)",
                                  expression=origin or "$"))
        return
    if doc["resourceType"] != "Bundle":
        index.add(doc, origin or doc["resourceType"])
        return
    for i, entry in enumerate(doc.get("entry") or []):
        res = entry.get("resource")
        where = f"{origin or 'Bundle'}.entry[{i}]"
        if not isinstance(res, dict):
            continue
        if (entry.get("search") or {}).get("mode") == "outcome" or res.get("resourceType") == "OperationOutcome":
            continue
        index.add(res, f"{where}.resource", entry.get("fullUrl"))


def _is_assessment(res: dict) -> bool:
    return any(c.get("system") == systems.CPT and c.get("code") == "97755"
               for c in (res.get("code") or {}).get("coding", []))


def _points_to(index: ResourceIndex, refs, target: dict) -> bool:
    return any(index.lookup(r) is target for r in refs or ())


def from_index(index: ResourceIndex) -> list[tuple[dict, list[Issue]]]:
    """One assessment per 97755 Procedure found, each with the issues of its extraction."""
    procs = [p for p in index.of_type("Procedure") if _is_assessment(p)]
    if not procs:
        return [({}, index.issues + [issue(
            Msg.FHIR_NO_ASSESSMENT, "no Procedure with CPT 97755 (http://www.ama-assn.org/go/cpt) found",
            expression="Procedure.code")])]
    return [_extract(index, proc) for proc in procs]


def _extract(index: ResourceIndex, proc: dict) -> tuple[dict, list[Issue]]:
    cat = catalog()
    found: list[Issue] = []

    def missing(res: dict, element: str, what: str) -> None:
        found.append(issue(Msg.FHIR_MISSING, f"{what} is missing",
                           expression=f"{index.location(res)}.{element}"))

    def dropped(res: dict, element: str, why: str) -> None:
        found.append(issue(Msg.FHIR_UNMAPPED_CODE, f"{why}; this resource is not carried into the assessment",
                           severity=Severity.WARNING, expression=f"{index.location(res)}.{element}"))

    a: dict = {"schemaVersion": SCHEMA_VERSION}
    ident = next((i for i in proc.get("identifier") or [] if i.get("system") and i.get("value")), None)
    if ident is None:
        missing(proc, "identifier", "the assessment's business identifier (system and value)")
        ident = {"system": "urn:uuid:unknown", "value": "unknown"}
    a["identifier"] = {"system": ident["system"], "value": ident["value"]}

    subject = proc.get("subject")
    pat = index.lookup(subject)
    if pat is not None:
        a["patient"] = patient.from_fhir(pat, None)
    elif subject and str(subject.get("reference", "")).startswith("Patient/"):
        a["patient"] = patient.from_fhir(None, subject["reference"])
    else:
        index.resolve(subject, proc, "subject") if subject else missing(proc, "subject", "the patient")

    enc = index.resolve(proc.get("encounter"), proc, "encounter")
    if enc is None:
        if not proc.get("encounter"):
            missing(proc, "encounter", "the encounter")
    else:
        a["encounter"], problems = encounter.from_fhir(enc, a["identifier"], cat)
        for p in problems:
            found.append(issue(Msg.FHIR_UNMAPPED_CODE,
                               "no fhir-at setting in serviceType; the setting was inferred from Encounter.class",
                               severity=Severity.WARNING, expression=f"{index.location(enc)}.{p}"))

    performer = (proc.get("performer") or [{}])[0]
    prac = index.resolve(performer.get("actor"), proc, "performer[0].actor")
    if prac is None:
        if not performer.get("actor"):
            missing(proc, "performer[0].actor", "the clinician")
    else:
        a["clinician"] = practitioner.from_fhir(prac)
        discipline = procedure.discipline_from_fhir(proc, cat)
        if discipline:
            a["clinician"]["discipline"] = discipline
        else:
            missing(proc, "performer[0].function", "the clinician's discipline (OT, PT or SLP)")
    org = index.resolve(performer.get("onBehalfOf") or (enc or {}).get("serviceProvider"), proc,
                        "performer[0].onBehalfOf")
    if org is not None:
        a["organization"] = organization.from_fhir(org)
    else:
        missing(proc, "performer[0].onBehalfOf", "the organization")

    session, problems = procedure.session_from_fhir(proc)
    a["session"] = session
    for p in problems:
        missing(proc, p, "the session's start/end date-times (with UTC offset) or the timed minutes")

    based_on = proc.get("basedOn") or []
    if based_on:
        sr = index.resolve(based_on[0], proc, "basedOn[0]")
        if sr is not None:
            requester = index.resolve(sr.get("requester"), sr, "requester") if sr.get("requester") else None
            a["referral"] = service_request.from_fhir(sr, requester, a["identifier"])

    ranked = [index.lookup(d.get("condition")) for d in sorted(
        (enc or {}).get("diagnosis") or [], key=lambda d: d.get("rank", 99))]
    diagnoses = []
    condition_codes: dict[int, str] = {}
    for i, ref in enumerate(proc.get("reasonReference") or []):
        cond = index.resolve(ref, proc, f"reasonReference[{i}]")
        if cond is None:
            continue
        code = condition.icd_code(cond)
        if code is None:
            dropped(cond, "code", "no ICD-10-CM coding (http://hl7.org/fhir/sid/icd-10-cm)")
            continue
        primary = (ranked[0] is cond) if ranked else not diagnoses
        diagnoses.append(condition.from_fhir(cond, primary))
        condition_codes[id(cond)] = code
    a["diagnoses"] = diagnoses

    notes = [n["text"] for n in proc.get("note") or [] if n.get("text")]
    if notes:
        a["history"] = "\n\n".join(notes)

    measures, trials = [], []
    for obs in index.of_type("Observation"):
        if not _points_to(index, obs.get("partOf"), proc):
            continue
        if observation.is_trial(obs, cat):
            trials.append(observation.trial_from_fhir(obs, cat))
            continue
        m, problem = observation.measure_from_fhir(obs, cat)
        if m is None:
            dropped(obs, problem, "not a measure of mappings/measures.yaml (or an answer outside its set)")
        else:
            measures.append(m)
    if measures:
        a["measures"] = measures
    if trials:
        a["deviceTrials"] = trials

    recs = []
    coverage_res = None
    for dr in index.of_type("DeviceRequest"):
        if not _points_to(index, dr.get("supportingInfo"), proc):
            continue
        codes = [condition_codes.get(id(index.lookup(r)))
                 for r in dr.get("reasonReference") or []]
        recs.append(device_request.from_fhir(dr, [c for c in codes if c]))
        for ins in dr.get("insurance") or []:
            coverage_res = coverage_res or index.lookup(ins)
    if recs:
        a["recommendations"] = recs

    follow = procedure.follow_up_from_fhir(proc, cat)
    if follow:
        a["followUp"] = follow

    if coverage_res is None:
        derived = f"{a['identifier']['value']}/coverage"
        for cov in index.of_type("Coverage"):
            if any(i.get("value") == derived for i in cov.get("identifier") or []) or \
                    (pat is not None and index.lookup(cov.get("beneficiary")) is pat):
                coverage_res = cov
                break
    if coverage_res is not None:
        payor = index.lookup((coverage_res.get("payor") or [None])[0])
        a["payer"], problems = coverage.from_fhir(coverage_res, payor, cat)
        for p in problems:
            missing(coverage_res, p, "the payer organization")

    report_ref = (proc.get("report") or [None])[0]
    doc = index.resolve(report_ref, proc, "report[0]") if report_ref else None
    if doc is None:
        if not report_ref:
            missing(proc, "report", "the written report (DocumentReference)")
    else:
        signer_ok = prac is not None and index.lookup(doc.get("authenticator")) is prac
        a["report"], signature = document_reference.from_fhir(
            doc, (a.get("clinician") or {}).get("discipline"), signer_ok, cat)
        if signature:
            a["signature"] = signature
        if "narrative" not in a["report"]:
            missing(doc, "description", "the report narrative")
    return a, index.issues + found
