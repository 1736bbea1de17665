"""The Python API of fhir-at: what the CLI and the HTTP service call.

Every function returns its result with an :class:`~fhir_at.issues.Outcome`; data problems are
issues, never exceptions.
"""

from __future__ import annotations

from .issues import Issue, Outcome, Path

__all__ = ["check_assessment", "convert", "extract", "extract_all"]


def check_assessment(doc) -> Outcome:
    """Every problem of an assessment document (schema, codes, units, times)."""
    from .model.checks import iter_issues

    return Outcome.of(iter_issues(doc))


def convert(doc, *, pdf: bool = True) -> tuple[dict | None, Outcome]:
    """Assessment → FHIR R4 transaction Bundle. The bundle is None when the input has errors."""
    outcome = check_assessment(doc)
    if not outcome.ok:
        return None, outcome
    from .mapping.bundle import to_bundle

    return to_bundle(doc, pdf=pdf), outcome


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
