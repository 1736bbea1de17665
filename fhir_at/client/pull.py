"""Pulling a patient's Conditions from a FHIR R4 server, as candidate diagnoses for an assessment.

:func:`iter_conditions` is a generator over :class:`PulledCondition` that holds one search page at a
time (plus a set of ids and content digests for de-duplication):

- with ``identifier`` (``SYSTEM|VALUE``) the Patient is resolved first by ``Patient?identifier=``;
  the returned Patients are checked to carry that identifier (a server that ignores the parameter
  must not pick a patient), 0 → :class:`PatientNotFound`, more than 1 → :class:`AmbiguousPatient`;
- ``Condition?patient=<id>&category=…&clinical-status=…&_count=N``, every page followed through
  :meth:`FhirClient.iter_pages` (absolute or relative ``next`` links; another host is refused);
- ``search.mode = outcome`` entries become warning issues; ``_include``-d resources are skipped;
  Conditions seen before (same id, or the same content under another id: offset paging can shift
  pages when the server is written to meanwhile) are skipped;
- the filters are checked again on the client: a Condition of another subject, or one that does not
  match a category/clinical-status asked for (a server that ignores a parameter), is skipped and
  reported once.

Issues are passed to ``on_issue`` (e.g. ``issues.append``) as they arise. Nothing about a patient or
a condition is logged.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from ..errors import InputError, TransportError
from ..issues import Issue, Path, Severity, Source
from ..messages import Msg, issue
from ..terminology import icd10cm, systems
from .http import FhirClient

__all__ = ["IcdCoding", "PulledCondition", "PatientNotFound", "AmbiguousPatient", "resolve_patient",
           "iter_conditions", "normalize_icd10cm", "is_fhir_id"]

_ICD_SYSTEMS = frozenset({systems.ICD10CM, systems.ICD10CM_OID})
_SNOMED_SYSTEMS = frozenset({systems.SNOMED, systems.SNOMED_OID})
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
# ICD-10-CM Official Guidelines, Section IV.H: outpatient services do not code uncertain diagnoses.
_UNCERTAIN = frozenset({"unconfirmed", "provisional", "differential"})
_NOT_A_DIAGNOSIS = frozenset({"refuted", "entered-in-error"})
_CHILDREN_SHOWN = 6
_WARN = Severity.WARNING


class PatientNotFound(InputError):
    """No Patient on the server carries the identifier given."""


class AmbiguousPatient(InputError):
    """More than one Patient carries the identifier given."""


def is_fhir_id(value: str) -> bool:
    """Whether ``value`` is a FHIR logical id (1-64 letters, digits, ``-`` or ``.``)."""
    return bool(_FHIR_ID.match(value))


def normalize_icd10cm(code: str) -> str:
    """``g7101`` / `` G71.01 `` → ``G71.01`` (the FHIR ICD-10-CM system writes codes with the dot)."""
    code = code.strip().upper()
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code


@dataclass(frozen=True, slots=True)
class IcdCoding:
    code: str                        # normalised, with its dot
    display: str | None              # the coding's display, else the table's description
    status: str                      # "billable" | "header" | "unknown"
    children: tuple[str, ...] = ()   # billable codes under a header (the first few)


def _icd(coding: dict) -> IcdCoding:
    code = normalize_icd10cm(coding["code"])
    entry = icd10cm.lookup(code)
    display = coding.get("display") or (entry.description if entry else None)
    if entry is None:
        return IcdCoding(code, display, "unknown")
    if entry.billable:
        return IcdCoding(code, display, "billable")
    return IcdCoding(code, display, "header", tuple(icd10cm.billable_descendants(code, _CHILDREN_SHOWN + 1)))


def _codes(concept: dict | None) -> tuple[str, ...]:
    return tuple(c["code"] for c in (concept or {}).get("coding") or [] if c.get("code"))


@dataclass(frozen=True, slots=True)
class PulledCondition:
    """One Condition as received, with what the assessment can take from it."""

    id: str
    clinical_status: str | None
    verification_status: str | None
    categories: tuple[str, ...]
    icd10cm: tuple[IcdCoding, ...]        # every ICD-10-CM coding, in the order received
    snomed: tuple[str, ...]               # SNOMED CT codes
    text: str | None                      # code.text
    onset: str | None                     # onsetDateTime or onsetPeriod.start, as received
    recorded: str | None                  # recordedDate
    codings: tuple[dict, ...] = field(default=(), compare=False)  # code.coding, as received

    @classmethod
    def from_resource(cls, res: dict) -> "PulledCondition":
        code = res.get("code") or {}
        codings = tuple(c for c in code.get("coding") or [] if isinstance(c, dict))
        icd = tuple(_icd(c) for c in codings if c.get("system") in _ICD_SYSTEMS and c.get("code"))
        snomed = tuple(c["code"] for c in codings if c.get("system") in _SNOMED_SYSTEMS and c.get("code"))
        onset = res.get("onsetDateTime") or (res.get("onsetPeriod") or {}).get("start")
        clinical = _codes(res.get("clinicalStatus"))
        verification = _codes(res.get("verificationStatus"))
        categories = tuple(c for concept in res.get("category") or [] for c in _codes(concept))
        return cls(res.get("id", ""), clinical[0] if clinical else None,
                   verification[0] if verification else None, categories, icd, snomed,
                   code.get("text"), onset, res.get("recordedDate"), codings)

    # ------------------------------------------------------------------------------ what it is
    @property
    def chosen(self) -> IcdCoding | None:
        """The ICD-10-CM coding the assessment would carry: the first billable one, else the first."""
        return next((c for c in self.icd10cm if c.status == "billable"), self.icd10cm[0] if self.icd10cm else None)

    @property
    def snomed_only(self) -> bool:
        return not self.icd10cm and bool(self.snomed)

    @property
    def no_usable_coding(self) -> bool:
        return not self.icd10cm and not self.snomed

    @property
    def kind(self) -> str:
        """``billable``, ``header``, ``unknown``, ``snomed-only`` or ``no-coding``."""
        if self.chosen:
            return self.chosen.status
        return "snomed-only" if self.snomed else "no-coding"

    @property
    def display(self) -> str | None:
        return (self.chosen.display if self.chosen else None) or self.text

    @property
    def flags(self) -> tuple[str, ...]:
        out = [] if self.kind == "billable" else [self.kind]
        if self.verification_status in _UNCERTAIN | _NOT_A_DIAGNOSIS:
            out.append(self.verification_status)
        if self.onset and not _FULL_DATE.match(self.onset):
            out.append("partial-onset")
        return tuple(out)

    # ---------------------------------------------------------------------- to the assessment
    def to_diagnosis(self) -> tuple[dict | None, tuple[Issue, ...]]:
        """The assessment's ``diagnoses[]`` item (role ``secondary``: the clinician picks the primary),
        or None with warnings saying why the condition is not carried."""
        where = f"Condition/{self.id}"
        issues: list[Issue] = []

        def warn(msg: Msg, text: str, expr: str, severity: Severity = _WARN) -> None:
            issues.append(issue(msg, f"{where}: {text}", Path(), severity=severity, source=Source.CLIENT,
                                expression=expr))

        chosen = self.chosen
        if chosen is None:
            if self.snomed:
                warn(Msg.PULL_NO_ICD10CM, f"SNOMED CT {', '.join(self.snomed)} only, no ICD-10-CM coding; "
                     "code it before billing", "Condition.code")
            else:
                warn(Msg.PULL_NO_CODING, "no ICD-10-CM or SNOMED CT coding"
                     + (f" (text {self.text!r})" if self.text else "") + "; code it before billing",
                     "Condition.code")
            return None, tuple(issues)
        if chosen.status == "header":
            more = ", …" if len(chosen.children) > _CHILDREN_SHOWN else ""
            warn(Msg.ICD_HEADER, f"{chosen.code} is a header code, not billable; use one of "
                 f"{', '.join(chosen.children[:_CHILDREN_SHOWN])}{more}", "Condition.code")
            return None, tuple(issues)
        if chosen.status == "unknown":
            warn(Msg.ICD_UNKNOWN, f"{chosen.code} is not an ICD-10-CM code ({icd10cm.release()})",
                 "Condition.code")
            return None, tuple(issues)
        if self.verification_status in _NOT_A_DIAGNOSIS:
            warn(Msg.PULL_NOT_CONFIRMED, f"{chosen.code} is recorded as {self.verification_status}; not carried",
                 "Condition.verificationStatus")
            return None, tuple(issues)
        if self.verification_status in _UNCERTAIN:
            warn(Msg.PULL_NOT_CONFIRMED, f"{chosen.code} is {self.verification_status}; outpatient coding does "
                 "not code uncertain diagnoses (ICD-10-CM guidelines IV.H); not carried",
                 "Condition.verificationStatus")
            return None, tuple(issues)
        others = [c.code for c in self.icd10cm if c.status == "billable" and c.code != chosen.code]
        if others:
            warn(Msg.PULL_EXTRA_ICD10CM, f"also coded as {', '.join(others)}; {chosen.code} carried",
                 "Condition.code", Severity.INFORMATION)
        out = {"code": chosen.code, "role": "secondary"}
        if self.onset:
            if _FULL_DATE.match(self.onset):
                out["onset"] = self.onset[:10]
            else:
                warn(Msg.PULL_PARTIAL_ONSET, f"onset {self.onset!r} is not a full date; not carried",
                     "Condition.onset", Severity.INFORMATION)
        return out, tuple(issues)

    def to_dict(self) -> dict:
        chosen = self.chosen
        return {
            "id": self.id,
            "icd10cm": chosen.code if chosen else None,
            "display": self.display,
            "kind": self.kind,
            "billableChildren": list(chosen.children) if chosen and chosen.status == "header" else [],
            "clinicalStatus": self.clinical_status,
            "verificationStatus": self.verification_status,
            "categories": list(self.categories),
            "onset": self.onset,
            "recorded": self.recorded,
            "snomed": list(self.snomed),
            "codings": list(self.codings),
        }


# ----------------------------------------------------------------------------------- searching

def _server_issues(oo: dict) -> Iterator[Issue]:
    """A search's OperationOutcome entry, as warnings (the search itself went through)."""
    from ..issues import Outcome

    for i in Outcome.from_operation_outcome(oo, Source.CLIENT).issues:
        yield issue(Msg.PULL_SERVER_OUTCOME, f"the server says: {i.message or i.code.value}",
                    severity=_WARN if i.severity.rank <= _WARN.rank else i.severity,
                    source=Source.CLIENT, expression=i.expression)


def _matches(entries: list) -> Iterator[dict]:
    """The resources of a searchset page's entries, without ``_include``-d ones."""
    for e in entries:
        res = e.get("resource")
        if isinstance(res, dict) and (e.get("search") or {}).get("mode") != "include":
            yield res


def _pages(client: FhirClient, ref: str, params: dict) -> Iterator[dict]:
    for page in client.iter_pages(ref, params):
        if page.get("resourceType") != "Bundle" or page.get("type") != "searchset":
            kind = page.get("resourceType", "something")
            raise TransportError(f"GET {client.base}/{ref}: the server answered {kind}"
                                 f"{' ' + page['type'] if page.get('type') else ''}, not a searchset Bundle")
        yield page


def _ignore(_: Issue) -> None:
    pass


def _split_identifier(identifier: str) -> tuple[str, str]:
    system, sep, value = identifier.partition("|")
    if not sep or not system or not value:
        raise InputError("a patient identifier is written SYSTEM|VALUE (both parts non-empty)")
    return system, value


def resolve_patient(client: FhirClient, identifier: str,
                    on_issue: Callable[[Issue], None] | None = None) -> str:
    """The id of the one Patient carrying ``identifier`` (``SYSTEM|VALUE``) on the server."""
    system, value = _split_identifier(identifier)
    report = on_issue or _ignore
    found: list[str] = []
    ignored = 0
    for page in _pages(client, "Patient", {"identifier": identifier, "_count": 50}):
        for res in _matches(page.get("entry") or []):
            if res.get("resourceType") == "OperationOutcome":
                for i in _server_issues(res):
                    report(i)
                continue
            if res.get("resourceType") != "Patient" or not res.get("id"):
                continue
            if not any(i.get("system") == system and i.get("value") == value for i in res.get("identifier") or []):
                ignored += 1
                continue
            if res["id"] not in found:
                found.append(res["id"])
    if ignored:
        report(issue(Msg.PULL_FILTER_IGNORED, f"the server returned {ignored} Patient(s) without the identifier "
                       "asked for (does it support Patient?identifier=?); ignored", severity=_WARN,
                       source=Source.CLIENT))
    if not found:
        text = f"no Patient on {client.base} has an identifier of system {system} with the value given"
        raise PatientNotFound(text, [issue(Msg.PULL_PATIENT_NOT_FOUND, text, source=Source.CLIENT)])
    if len(found) > 1:
        text = (f"{len(found)} Patients on {client.base} have the identifier given (system {system}); "
                "give the Patient's id with --patient instead")
        raise AmbiguousPatient(text, [issue(Msg.PULL_PATIENT_AMBIGUOUS, text, source=Source.CLIENT)])
    return found[0]


def _token_codes(values: Iterable[str]) -> frozenset[str]:
    """The codes of token search values (``code`` or ``system|code``), for checking the answers."""
    return frozenset(v.rpartition("|")[2] for v in values)


def _subject_is(res: dict, patient: str) -> bool:
    ref = ((res.get("subject") or {}).get("reference") or "").split("/_history/")[0]
    return ref == f"Patient/{patient}" or ref.endswith(f"/Patient/{patient}")


def _digest(res: dict) -> bytes:
    """The content of a resource without its id, meta and narrative."""
    import orjson

    body = {k: v for k, v in res.items() if k not in ("id", "meta", "text")}
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def iter_conditions(client: FhirClient, *, patient: str | None = None, identifier: str | None = None,
                    category: Iterable[str] = (), clinical_status: Iterable[str] = (), page_size: int = 100,
                    on_issue: Callable[[Issue], None] | None = None) -> Iterator[PulledCondition]:
    """A patient's Conditions on the server, streamed page by page, each once.

    Exactly one of ``patient`` (a Patient id) and ``identifier`` (``SYSTEM|VALUE``) is given.
    ``category`` and ``clinical_status`` are token values (``code`` or ``system|code``); several
    values of one are OR-ed. Raises :class:`InputError` (bad arguments, no or several Patients) and
    :class:`TransportError` (the server failed or answered something else than FHIR).
    """
    if (patient is None) == (identifier is None):
        raise InputError("give exactly one of a Patient id and a patient identifier")
    if not 1 <= page_size <= 1000:
        raise InputError(f"page size {page_size} is not between 1 and 1000")
    category, clinical_status = tuple(category), tuple(clinical_status)
    if patient is None:
        patient = resolve_patient(client, identifier, on_issue)
    elif not is_fhir_id(patient):
        raise InputError("a Patient id is 1-64 letters, digits, '-' or '.'")

    params: dict = {"patient": patient, "_count": page_size}
    if category:
        params["category"] = ",".join(category)
    if clinical_status:
        params["clinical-status"] = ",".join(clinical_status)
    want_category, want_status = _token_codes(category), _token_codes(clinical_status)
    report = on_issue or _ignore

    seen_ids: set[str] = set()
    seen_content: set[bytes] = set()
    duplicates = off_filter = other_subject = 0
    for page in _pages(client, "Condition", params):
        for res in _matches(page.get("entry") or []):
            rtype = res.get("resourceType")
            if rtype == "OperationOutcome":
                for i in _server_issues(res):
                    report(i)
                continue
            if rtype != "Condition":
                continue
            rid = res.get("id") or ""
            digest = _digest(res)
            if rid in seen_ids or digest in seen_content:
                duplicates += 1
                continue
            seen_ids.add(rid)
            seen_content.add(digest)
            if not _subject_is(res, patient):
                other_subject += 1
                continue
            pulled = PulledCondition.from_resource(res)
            if (want_category and not want_category & set(pulled.categories)) or \
                    (want_status and pulled.clinical_status not in want_status):
                off_filter += 1
                continue
            yield pulled
    if duplicates:
        report(issue(Msg.PULL_DUPLICATE, f"{duplicates} Condition(s) returned twice (same id or same content) "
                     "were skipped", severity=Severity.INFORMATION, source=Source.CLIENT))
    if other_subject:
        report(issue(Msg.PULL_FILTER_IGNORED, f"the server returned {other_subject} Condition(s) of another "
                     "subject; skipped", severity=_WARN, source=Source.CLIENT))
    if off_filter:
        report(issue(Msg.PULL_FILTER_IGNORED, f"the server returned {off_filter} Condition(s) outside the "
                     "category/clinical-status asked for (is the parameter supported?); skipped",
                     severity=_WARN, source=Source.CLIENT))
