"""The declarative tables of ``mappings/`` loaded into look-up dictionaries (once per process)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from . import systems

__all__ = ["Concept", "Measure", "Catalog", "catalog", "load_mapping"]


@dataclass(frozen=True, slots=True)
class Concept:
    system: str
    code: str
    display: str
    key: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def coding(self) -> dict:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True, slots=True)
class Measure:
    key: str
    system: str
    code: str
    display: str
    domain: str
    kind: str
    value_type: str  # quantity | integer | coded | boolean | text
    units: tuple[str, ...] = ()
    answers: str | None = None
    min: float | None = None
    max: float | None = None

    def coding(self) -> dict:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class Catalog:
    measures: dict[str, Measure]
    measures_by_code: dict[tuple[str, str], Measure]
    kinds: dict[str, dict[str, Any]]
    kind_by_profile: dict[str, str]
    answers: dict[str, dict[str, Concept]]           # set -> answer code -> concept (FHIR code)
    answers_by_code: dict[tuple[str, str], tuple[str, str]]  # (system, fhir code) -> (set, answer)
    devices: dict[str, Concept]
    procedures: dict[str, Concept]                   # CPT codes of the workflow (extra: timed)
    document_types: dict[str, Concept]
    document_types_by_code: dict[str, Concept]
    default_document_type: dict[str, str]
    concepts: dict[str, dict[str, Concept]]          # table -> key -> concept
    domains: dict[str, str]                          # measure domain -> heading, in report order
    unit_displays: dict[str, tuple[str, bool]]       # UCUM code -> (symbol, space before it)
    concepts_by_code: dict[str, dict[tuple[str, str], Concept]]

    def concept(self, table: str, key: str) -> Concept:
        return self.concepts[table][key]

    def concept_key(self, table: str, coding: dict) -> str | None:
        c = self.concepts_by_code[table].get((coding.get("system"), coding.get("code")))
        return c.key if c else None


def load_mapping(name: str) -> dict:
    """A file of ``mappings/`` parsed (YAML, with the C loader when available)."""
    import yaml

    from .._data import mapping_file

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(mapping_file(name), encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


def _concept_table(table: dict) -> dict[str, Concept]:
    system = systems.BY_NAME[table["system"]]
    out = {}
    for row in table["codes"]:
        code = str(row["code"])
        key = str(row.get("key", code))
        extra = {k: v for k, v in row.items() if k not in ("key", "code", "display")}
        out[key] = Concept(system, code, str(row["display"]), key, extra)
    return out


@cache
def catalog() -> Catalog:
    measures_doc = load_mapping("measures.yaml")
    kinds = {}
    kind_by_profile = {}
    for name, spec in measures_doc["kinds"].items():
        profile = systems.PROFILES[spec["profile"]]
        kinds[name] = {
            "profile": profile,
            "categories": [
                {"system": systems.BY_NAME[c["system"]], "code": c["code"], "display": c["display"]}
                for c in spec["categories"]
            ],
        }
        kind_by_profile[profile] = name
    answers: dict[str, dict[str, Concept]] = {}
    answers_by_code = {}
    for set_name, rows in measures_doc["answer-sets"].items():
        answers[set_name] = {}
        for row in rows:
            code = str(row["code"])
            concept = Concept(systems.CS_ANSWER, f"{set_name}-{code}", str(row["display"]), code)
            answers[set_name][code] = concept
            answers_by_code[(concept.system, concept.code)] = (set_name, code)
    measures: dict[str, Measure] = {}
    for table in measures_doc["tables"]:
        system = systems.BY_NAME[table["system"]]
        for row in table["measures"]:
            value = row.get("value") or table["value"]  # a row's value replaces the table's
            m = Measure(
                key=row["key"], system=system, code=str(row.get("code", row["key"])),
                display=row["display"], domain=row["domain"], kind=row.get("kind", table["kind"]),
                value_type=value["type"], units=tuple(value.get("units", ())),
                answers=value.get("answers"), min=value.get("min"), max=value.get("max"),
            )
            measures[m.key] = m
    measures_by_code = {(m.system, m.code): m for m in measures.values()}

    devices = _concept_table(load_mapping("devices.yaml")["tables"][0])
    procedures = _concept_table(load_mapping("procedures.yaml")["tables"][0])
    docs = load_mapping("documents.yaml")
    document_types = _concept_table(docs["tables"][0])
    concepts = {t["name"]: _concept_table(t) for t in load_mapping("concepts.yaml")["tables"]}
    return Catalog(
        measures=measures,
        measures_by_code=measures_by_code,
        kinds=kinds,
        kind_by_profile=kind_by_profile,
        answers=answers,
        answers_by_code=answers_by_code,
        devices=devices,
        procedures=procedures,
        document_types=document_types,
        document_types_by_code={c.code: c for c in document_types.values()},
        default_document_type=dict(docs["default-by-discipline"]),
        concepts=concepts,
        domains=dict(measures_doc["domains"]),
        unit_displays={u: (d["symbol"], d["spaced"]) for u, d in measures_doc["unit-displays"].items()},
        concepts_by_code={
            t: {(c.system, c.code): c for c in rows.values()} for t, rows in concepts.items()
        },
    )
