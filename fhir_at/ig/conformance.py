"""The ImplementationGuide resource and the CapabilityStatement of a server receiving fhir-at's
bundles, both derived from the package's content."""

from __future__ import annotations

from ..terminology import systems

__all__ = ["implementation_guide", "capability_statement"]

TITLE = "fhir-at: assistive technology assessment (CPT 97755)"
DESCRIPTION = ("Profiles, extensions and terminology of the FHIR R4 resources fhir-at exchanges for the "
               "assistive technology assessment (CPT 97755): the transaction Bundle of one assessment with its "
               "Procedure, encounter diagnoses, observations, device recommendations and written report. The "
               "profiles carry the constraints of US Core 6.1.0 (declared with compliesWithProfile) but depend "
               "only on FHIR R4 4.0.1.")


def implementation_guide(version: str, date: str, resources: list[dict], examples: list[dict]) -> dict:
    """``resources``: the conformance resources; ``examples``: the example resources (their first
    ``meta.profile`` is the profile they illustrate)."""
    listed = []
    for res in resources:
        item = {"reference": {"reference": f"{res['resourceType']}/{res['id']}"},
                "name": res.get("title") or res.get("name") or res["id"], "exampleBoolean": False}
        if res.get("description"):
            item["description"] = res["description"]
        listed.append(item)
    for res in examples:
        item = {"reference": {"reference": f"{res['resourceType']}/{res['id']}"},
                "name": f"{res['resourceType']} {res['id']}"}
        profiles = (res.get("meta") or {}).get("profile") or []
        if profiles:
            item["exampleCanonical"] = profiles[0]
        else:
            item["exampleBoolean"] = True
        listed.append(item)
    return {
        "resourceType": "ImplementationGuide",
        "id": systems.IG_PACKAGE_ID,
        "url": systems.IG_URL,
        "version": version,
        "name": "FhirAtAssessment",
        "title": TITLE,
        "status": "draft",
        "date": date,
        "publisher": "fhir-at",
        "description": DESCRIPTION,
        "packageId": systems.IG_PACKAGE_ID,
        "license": "Apache-2.0",
        "fhirVersion": ["4.0.1"],
        "definition": {"resource": listed},
    }


def capability_statement(version: str, date: str, profiles: list[dict]) -> dict:
    """A server that accepts fhir-at's transaction Bundles: conditional creates (``ifNoneExist`` on
    the business identifier) of every resource type the bundle profile allows, each with its profiles."""
    by_type: dict[str, list[str]] = {}
    bundle = None
    for sd in profiles:
        if sd.get("kind") != "resource" or sd.get("derivation") != "constraint":
            continue
        if sd["type"] == "Bundle":
            bundle = sd["url"]
            continue
        by_type.setdefault(sd["type"], []).append(sd["url"])
    resources = []
    for rtype in sorted(by_type):
        resources.append({
            "type": rtype,
            "supportedProfile": by_type[rtype],
            "interaction": [{"code": "create"}, {"code": "search-type"}],
            "conditionalCreate": True,
            "searchParam": [{"name": "identifier", "type": "token",
                             "documentation": "The business identifier of the conditional create"}],
        })
    doc = ("Receives the transaction Bundle of one assessment"
           + (f" ({bundle})" if bundle else "")
           + ": every entry is a conditional create on its business identifier (request.ifNoneExist), so "
             "the same assessment sent twice creates nothing the second time.")
    return {
        "resourceType": "CapabilityStatement",
        "id": systems.CAPABILITY_RECEIVER.rsplit("/", 1)[1],
        "url": systems.CAPABILITY_RECEIVER,
        "version": version,
        "name": "ATBundleReceiver",
        "title": "fhir-at bundle receiver",
        "status": "draft",
        "date": date,
        "publisher": "fhir-at",
        "description": "What a FHIR R4 server needs to receive fhir-at's assessment bundles.",
        "kind": "requirements",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "implementationGuide": [systems.IG_URL],
        "rest": [{
            "mode": "server",
            "documentation": doc,
            "resource": resources,
            "interaction": [{"code": "transaction"}],
        }],
    }
