"""The Python API of fhir-at: what the CLI and the HTTP service call.

Every function returns its result with an :class:`~fhir_at.issues.Outcome`; data problems are
issues, never exceptions.
"""

from __future__ import annotations

from functools import lru_cache

from .issues import Issue, Outcome, Path

__all__ = ["check_assessment", "convert", "extract", "extract_all", "bundle_for_push", "push", "validate",
           "resource_types"]


def check_assessment(doc, billing=None) -> Outcome:
    """Every problem of an assessment document (schema, codes, units, times) and, with a
    :class:`fhir_at.billing.checks.ClaimContext`, of its coding and documentation for billing."""
    from .model.checks import iter_issues

    outcome = Outcome.of(iter_issues(doc))
    if billing is not None and outcome.ok:
        from .billing.checks import iter_billing_issues

        outcome = outcome + Outcome.of(iter_billing_issues(doc, billing))
    return outcome


def convert(doc, *, pdf: bool = True, billing=None, claim: bool = False) -> tuple[dict | None, Outcome]:
    """Assessment → FHIR R4 transaction Bundle. The bundle is None when the input has errors.

    The billing checks run too (``billing``: a ClaimContext; the default one when omitted). Without
    ``claim`` their errors are reported as warnings — the clinical record is still worth sending;
    with ``claim`` a professional Claim is added and billing errors stop the conversion.
    """
    from .billing.checks import ClaimContext, claim_lines, date_of_service, iter_billing_issues
    from .mapping.bundle import to_bundle

    content = check_assessment(doc)
    if not content.ok:
        return None, content
    billing = billing or ClaimContext()
    found = Outcome.of(iter_billing_issues(doc, billing))
    if not claim:
        return to_bundle(doc, pdf=pdf), content + Outcome.of(_demoted(i) for i in found)
    if "payer" not in doc:
        from .messages import Msg, issue

        found = found + Outcome.of([issue(Msg.CLAIM_NO_PAYER, "a claim needs the assessment's payer",
                                          Path() / "payer")])
    if not found.ok:
        return None, content + found
    bundle = to_bundle(doc, pdf=pdf, claim_lines=claim_lines(doc, billing),
                       date_of_service=date_of_service(doc, billing).isoformat())
    return bundle, content + found


def _demoted(i: Issue) -> Issue:
    """A billing error shown as a warning (the clinical bundle is written anyway)."""
    from dataclasses import replace

    from .issues import Severity

    if i.severity.rank <= Severity.ERROR.rank:
        return replace(i, severity=Severity.WARNING, message=f"not billable as is: {i.message}")
    return i


def extract_all(doc, origin: str = "") -> list[tuple[dict | None, Outcome]]:
    """FHIR (Bundle, resource or list of resources) → one assessment per 97755 Procedure."""
    from .mapping.bundle import from_index, index_resources
    from .model.checks import iter_issues

    results = []
    for a, issues in from_index(index_resources(doc, origin)):
        outcome = Outcome.of(issues)
        if a and outcome.ok:
            outcome = outcome + Outcome.of(_as_extracted(i) for i in iter_issues(a))
        results.append((a if outcome.ok else None, outcome))
    return results


def _as_extracted(i: Issue) -> Issue:
    """An issue of the extracted assessment, its path prefixed so the reader knows where it is."""
    from dataclasses import replace

    return replace(i, message=f"in the extracted assessment: {i.message}")


def extract(doc, origin: str = "") -> tuple[dict | None, Outcome]:
    """Like :func:`extract_all` for an input that holds exactly one assessment."""
    from .messages import Msg, issue

    results = extract_all(doc, origin)
    if len(results) > 1:
        return None, Outcome.of([issue(Msg.FHIR_MANY_ASSESSMENTS,
                                       f"the input holds {len(results)} assessments (97755 Procedures); "
                                       "use extract_all / --all", expression="Procedure")])
    return results[0]


def bundle_for_push(doc, *, force: bool = False, pdf: bool = True) -> tuple[dict | None, Outcome]:
    """The transaction Bundle to push for an assessment or a Bundle, checked first.

    An assessment is converted (it must be valid). A Bundle must be a transaction; an assessment
    Bundle is checked by extracting its assessment; a Bundle that is not one is refused, and any
    error refuses the Bundle, unless ``force``."""
    from .issues import Severity
    from .messages import Msg, issue

    if isinstance(doc, dict) and doc.get("resourceType") is None:
        return convert(doc, pdf=pdf)
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle" or doc.get("type") != "transaction":
        return None, Outcome.of([issue(Msg.PUSH_NOT_A_TRANSACTION,
                                       "expected an assessment or a transaction Bundle", Path())])
    _, outcome = extract(doc)
    if not outcome.ok and force:
        from dataclasses import replace

        outcome = Outcome.of(replace(i, severity=Severity.WARNING, message=f"pushed anyway (--force): {i.message}")
                             if i.severity.rank <= Severity.ERROR.rank else i for i in outcome.issues)
    return (doc if outcome.ok else None), outcome


def push(doc, client, *, force: bool = False, pdf: bool = True, update_create: bool | None = None):
    """Checks and pushes an assessment or transaction Bundle: ``(PushReport | None, Outcome)``.
    Transport failures raise :class:`fhir_at.errors.TransportError`."""
    from .client.push import push_bundle

    bundle, outcome = bundle_for_push(doc, force=force, pdf=pdf)
    if bundle is None:
        return None, outcome
    report = push_bundle(client, bundle, update_create=update_create)
    return report, outcome + Outcome(report.issues)


_VALIDATOR = None


def _validator():
    global _VALIDATOR
    from .validation.validator import Validator

    if _VALIDATOR is None:
        from .ig.runtime import package_folder
        from .validation.packages import R4_CORE

        _VALIDATOR = Validator((R4_CORE, package_folder()))
    return _VALIDATOR


@lru_cache(maxsize=1)
def resource_types() -> frozenset[str]:
    """The resource types the validator's definitions know (R4 core: Patient, Bundle, …)."""
    return frozenset(row["type"] for p in _validator().definitions.packages
                     for row in p.iter_index("StructureDefinition")
                     if row.get("kind") == "resource" and row.get("type"))


def validate(resource, profile: str | None = None) -> Outcome:
    """Every issue of a FHIR resource or Bundle: the base R4 specification, the profiles its
    resources claim in ``meta.profile`` and ``profile`` (a canonical URL, ``url|version`` allowed;
    one that is not loaded is an error issue).

    One :class:`~fhir_at.validation.validator.Validator` is built on first use and kept (its
    definitions are loaded once)."""
    return _validator().validate(resource, profiles=(profile,) if profile else ())