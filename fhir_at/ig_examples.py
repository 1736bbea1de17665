"""Examples of the implementation guide (the FHIR package :mod:`fhir_at.ig` builds), made by the
mappers from the assessments of ``examples/`` -- through :mod:`fhir_at.api`, which is why this
module sits beside the API rather than in :mod:`fhir_at.ig` (which the API uses).

Each assessment gives its transaction Bundle (id: the file's stem, exactly as ``convert --no-pdf``
writes it) and every resource of it as a stand-alone example: id = the uuid of its ``urn:uuid``
fullUrl, references between them rewritten to ``Type/id``. An assessment with a payer also gives its
professional Claim (``convert --claim`` with the therapy modifier of the clinician's discipline).
A resource met in several bundles (the same practitioner) must be the same every time.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from .errors import ConfigError, InputError

__all__ = ["Example", "examples", "source_examples"]

_UUID = "urn:uuid:"

Example = tuple[str, dict]  # (the example's source assessment, resource)


def examples(folder: Path) -> list[Example]:
    """The example resources made from every ``*.json`` assessment of ``folder`` (sorted)."""
    if not folder.is_dir():
        raise ConfigError(f"the examples folder {folder} does not exist")
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise ConfigError(f"no assessment (*.json) in the examples folder {folder}")
    out: list[Example] = []
    seen: dict[tuple[str, str], tuple[str, dict]] = {}
    for path in paths:
        for res in _from_assessment(path):
            key = (res["resourceType"], res["id"])
            if key in seen:
                if seen[key][1] != res:
                    raise InputError(f"{path.name}: {key[0]}/{key[1]} differs from the one made from "
                                     f"{seen[key][0]}; the examples must agree on shared resources")
                continue
            seen[key] = (path.name, res)
            out.append((path.name, res))
    return out


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot be read as JSON ({exc})") from None


def _from_assessment(path: Path) -> list[dict]:
    from . import api

    doc = _read(path)
    bundle, outcome = api.convert(doc, pdf=False)
    if bundle is None:
        raise InputError(f"{path.name}: the example assessment cannot be converted", outcome.issues)
    resources = [{"resourceType": "Bundle", "id": path.stem, **{k: v for k, v in bundle.items()
                                                                if k != "resourceType"}}]
    resources += _standalone(bundle)
    claim = _claim(doc)
    if claim is not None:
        resources += [r for r in _standalone(claim) if r["resourceType"] == "Claim"]
    return resources


def _claim(doc: dict) -> dict | None:
    if "payer" not in doc:
        return None
    from . import api
    from .billing.checks import ClaimContext
    from .billing.rules import billing_rules

    modifier = billing_rules().therapy_modifier.get(doc["clinician"]["discipline"])
    bundle, _ = api.convert(doc, pdf=False, claim=True,
                            billing=ClaimContext(modifiers=(modifier,) if modifier else ()))
    return bundle


def _standalone(bundle: dict) -> list[dict]:
    refs = {}
    for entry in bundle["entry"]:
        full_url = entry["fullUrl"]
        if full_url.startswith(_UUID):
            refs[full_url] = f"{entry['resource']['resourceType']}/{full_url[len(_UUID):]}"
    out = []
    for entry in bundle["entry"]:
        if entry["fullUrl"] not in refs:
            continue
        res = _rewritten(copy.deepcopy(entry["resource"]), refs)
        rid = refs[entry["fullUrl"]].split("/", 1)[1]
        out.append({"resourceType": res.pop("resourceType"), "id": rid, **res}
                   if "id" not in res else res)
    return out


def _rewritten(node, refs: dict[str, str]):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in refs:
                node[key] = refs[value]
            else:
                _rewritten(value, refs)
    elif isinstance(node, list):
        for item in node:
            _rewritten(item, refs)
    return node


def source_examples() -> Path:
    """``examples/`` of a source checkout (the wheel does not ship it)."""
    from ._data import data_dir

    try:
        return data_dir("examples")
    except ConfigError:
        raise ConfigError("the examples folder is not part of this installation: give --examples DIR "
                          "(a folder of assessment .json files)") from None
