"""The canonical form of an assessment: what a round trip through FHIR gives back.

Two assessments that mean the same thing have the same canonical form: times without ``:00``
seconds, no empty optional lists, no report type equal to the clinician's default.
"""

from __future__ import annotations

from ..terminology.catalog import catalog

__all__ = ["canonical"]


def _drop_empty_lists(value):
    if isinstance(value, dict):
        return {k: _drop_empty_lists(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_drop_empty_lists(v) for v in value]
    return value


def canonical(a: dict) -> dict:
    out = _drop_empty_lists(a)
    session = out.get("session")
    if isinstance(session, dict):
        for key in ("startTime", "endTime"):
            t = session.get(key)
            if isinstance(t, str) and len(t) == 8 and t.endswith(":00"):
                session[key] = t[:5]
    report = out.get("report")
    discipline = (out.get("clinician") or {}).get("discipline")
    if isinstance(report, dict) and report.get("type") and \
            report["type"] == catalog().default_document_type.get(discipline):
        del report["type"]
    return out
