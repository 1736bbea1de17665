"""CodeSystems and ValueSets of the implementation guide, generated from the tables of ``mappings/``.

Nothing here is written by hand: every code and display comes from the catalog
(:func:`fhir_at.terminology.catalog.catalog`), so the package always holds exactly what the mappers
emit.

- one CodeSystem per fhir-at code system the tables use (``CS_*`` of ``systems.py``), content
  ``complete``, concepts in table order (measures carry their ``kind`` and ``domain`` as properties);
- one ValueSet per CodeSystem holding all of it (same id), for bindings;
- per Observation kind, the ValueSet of its measure codes (``<profile>-codes``) and, when some of its
  measures are coded, of their answers (``<profile>-answers``); one ValueSet per answer set
  (``at-answer-<set>``);
- the verified HCPCS devices (``at-devices``), the report types (``at-report-types``) and the CPT
  codes of the workflow (``at-procedure-codes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..terminology import systems
from ..terminology.catalog import Catalog, catalog

__all__ = ["code_systems", "value_sets", "emitted_code_systems"]

_PROPERTIES = {
    systems.CS_MEASURE: [
        {"code": "kind", "description": "The Observation shape (measures.yaml kinds)", "type": "code"},
        {"code": "domain", "description": "The group of the report the measure belongs to", "type": "code"},
    ],
    systems.CS_ANSWER: [
        {"code": "answer-set", "description": "The answer set of measures.yaml the answer belongs to", "type": "code"},
    ],
}


@dataclass
class _CodeSystem:
    url: str
    sources: list[str] = field(default_factory=list)
    concepts: dict[str, dict] = field(default_factory=dict)

    def add(self, code: str, display: str, source: str, properties: dict | None = None) -> None:
        if source not in self.sources:
            self.sources.append(source)
        have = self.concepts.get(code)
        if have is not None:
            if have["display"] != display:
                raise ConfigError(f"{self.url}: code {code!r} has two displays ({have['display']!r} in "
                                  f"{have['_source']}, {display!r} in {source})")
            return
        concept = {"code": code, "display": display, "_source": source}
        if properties:
            concept["property"] = [{"code": k, "valueCode": v} for k, v in properties.items()]
        self.concepts[code] = concept


def emitted_code_systems() -> tuple[str, ...]:
    """fhir-at's own code systems (the ``CS_*`` canonicals the tables may name)."""
    return tuple(url for name, url in systems.BY_NAME.items() if url.startswith(systems.CODE_SYSTEM_BASE))


def _collect(cat: Catalog) -> dict[str, _CodeSystem]:
    ours = {url: _CodeSystem(url) for url in emitted_code_systems()}
    for m in cat.measures.values():
        if m.system in ours:
            ours[m.system].add(m.code, m.display, "measures.yaml", {"kind": m.kind, "domain": m.domain})
    for set_name, answers in cat.answers.items():
        for concept in answers.values():
            ours[concept.system].add(concept.code, concept.display, "measures.yaml (answer-sets)",
                                     {"answer-set": set_name})
    for table, concepts in cat.concepts.items():
        for concept in concepts.values():
            if concept.system in ours:
                ours[concept.system].add(concept.code, concept.display, f"concepts.yaml ({table})")
    for name, table in (("devices.yaml", cat.devices), ("documents.yaml", cat.document_types),
                        ("procedures.yaml", cat.procedures)):
        for concept in table.values():
            if concept.system in ours:
                ours[concept.system].add(concept.code, concept.display, name)
    return {url: cs for url, cs in ours.items() if cs.concepts}


def _id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def _name(rid: str) -> str:
    return "".join("AT" if w == "at" else w[:1].upper() + w[1:] for w in rid.split("-"))


def _header(resource_type: str, rid: str, url: str, version: str, title: str, description: str) -> dict:
    return {"resourceType": resource_type, "id": rid, "url": url, "version": version, "name": _name(rid),
            "title": title, "status": "draft", "experimental": False, "publisher": "fhir-at",
            "description": description}


def code_systems(version: str, cat: Catalog | None = None) -> list[dict]:
    """The CodeSystem resources, in the order of ``systems.BY_NAME``."""
    out = []
    for url, cs in _collect(cat or catalog()).items():
        rid = _id(url)
        res = _header("CodeSystem", rid, url, version, "fhir-at " + rid.removeprefix("at-").replace("-", " "),
                      "Generated from mappings/" + ", ".join(cs.sources) + ".")
        res.update({"caseSensitive": True, "valueSet": systems.VALUE_SET_BASE + rid, "content": "complete",
                    "count": len(cs.concepts)})
        if url in _PROPERTIES:
            res["property"] = _PROPERTIES[url]
        res["concept"] = [{k: v for k, v in c.items() if not k.startswith("_")} for c in cs.concepts.values()]
        out.append(res)
    return out


def _enumerated(codings: list[tuple[str, str, str]]) -> dict:
    """A compose listing codings (system, code, display), one include per system in first-seen order."""
    by_system: dict[str, list[dict]] = {}
    for system, code, display in codings:
        concepts = by_system.setdefault(system, [])
        if all(c["code"] != code for c in concepts):
            concepts.append({"code": code, "display": display})
    return {"include": [{"system": s, "concept": c} for s, c in by_system.items()]}


def value_sets(version: str, cat: Catalog | None = None) -> list[dict]:
    """The ValueSet resources (see the module docstring), in a fixed order."""
    cat = cat or catalog()
    out = []

    def add(rid: str, title: str, description: str, compose: dict) -> None:
        res = _header("ValueSet", rid, systems.VALUE_SET_BASE + rid, version, title, description)
        res["compose"] = compose
        out.append(res)

    for cs in code_systems(version, cat):
        add(cs["id"], cs["title"] + " (all codes)", f"Every code of the CodeSystem {cs['url']}.",
            {"include": [{"system": cs["url"]}]})
    for kind, spec in cat.kinds.items():
        profile = _id(spec["profile"])
        measures = [m for m in cat.measures.values() if m.kind == kind]
        add(f"{profile}-codes", f"fhir-at {kind} measure codes",
            f"The codes of the measures of kind {kind} (mappings/measures.yaml): Observation.code of {profile}.",
            _enumerated([(m.system, m.code, m.display) for m in measures]))
        answer_sets = list(dict.fromkeys(m.answers for m in measures if m.answers))
        if answer_sets:
            add(f"{profile}-answers", f"fhir-at {kind} answers",
                f"The answers of the coded measures of kind {kind}: answer sets {', '.join(answer_sets)}.",
                _enumerated([(c.system, c.code, c.display) for s in answer_sets for c in cat.answers[s].values()]))
    for set_name, answers in cat.answers.items():
        add(f"at-answer-{set_name}", f"fhir-at answers: {set_name}",
            f"The answer set {set_name} of mappings/measures.yaml.",
            _enumerated([(c.system, c.code, c.display) for c in answers.values()]))
    add(_id(systems.VS_DEVICES), "fhir-at verified HCPCS devices",
        "The HCPCS Level II device codes fhir-at may emit (mappings/devices.yaml), verified against the CMS "
        "release with their short descriptors.",
        _enumerated([(c.system, c.code, c.display) for c in cat.devices.values()]))
    add(_id(systems.VS_REPORT_TYPES), "fhir-at report types",
        "The LOINC document types of the written report (mappings/documents.yaml); a subset of US Core's "
        "us-core-documentreference-type.",
        _enumerated([(c.system, c.code, c.display) for c in cat.document_types.values()]))
    add(_id(systems.VS_PROCEDURE_CODES), "fhir-at workflow CPT codes",
        "The CPT codes of the assessment's workflow that fhir-at may put on a Claim line (mappings/procedures.yaml).",
        _enumerated([(c.system, c.code, c.display) for c in cat.procedures.values()]))
    return out
