"""The billing rules of ``mappings/billing.yaml``: payers, thresholds and rule texts with sources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from ..issues import Issue, IssueCode, Path, Severity, Source

__all__ = ["Rule", "Payer", "BillingRules", "billing_rules"]

_CODES = {"error": IssueCode.BUSINESS_RULE, "warning": IssueCode.BUSINESS_RULE,
          "information": IssueCode.INFORMATIONAL}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    message: str
    payers: tuple[str, ...] | None  # None = all payers
    source: str                     # the source text (resolved from its key)
    start: date | None = None
    end: date | None = None

    def applies(self, payer: str | None, on: date) -> bool:
        if self.payers is not None and payer not in self.payers:
            return False
        return (self.start is None or on >= self.start) and (self.end is None or on <= self.end)

    def issue(self, path: Path = Path(), expression: str | None = None, **params) -> Issue:
        """The issue of this rule; ``expression`` names a command-line option when the problem is
        in what is billed rather than in the assessment."""
        code = IssueCode.CODE_INVALID if self.id.startswith("ICD_") else _CODES[self.severity.value]
        return Issue(self.severity, code, self.id, self.message.format(**params), path, Source.BILLING,
                     expression=expression, citation=self.source)


@dataclass(frozen=True, slots=True)
class Payer:
    key: str
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class BillingRules:
    rules: dict[str, Rule]
    payers: dict[str, Payer]
    not_available: tuple[str, ...]
    thresholds: dict[int, dict]
    rehab_power_mobility: frozenset[str]
    ncci_modifiers: frozenset[str]
    therapy_modifier: dict[str, str]
    assistant_modifier: dict[str, str]

    def payer(self, name: str) -> Payer | None:
        """The payer named (key, name or alias, case-insensitive), or None."""
        wanted = " ".join(name.lower().split())
        for p in self.payers.values():
            if wanted in (p.key, p.name.lower(), *p.aliases):
                return p
        return None


def _date(value) -> date | None:
    return value if isinstance(value, date) or value is None else date.fromisoformat(str(value))


@cache
def billing_rules() -> BillingRules:
    from ..terminology.catalog import load_mapping

    doc = load_mapping("billing.yaml")
    sources = doc["sources"]
    rules = {}
    for r in doc["rules"]:
        payers = None if r["payers"] == "all" else tuple(r["payers"])
        rules[r["id"]] = Rule(r["id"], Severity(r["severity"]), r["message"], payers,
                              sources[r["source"]], _date(r.get("from")), _date(r.get("to")))
    payers = {k: Payer(k, v["name"], tuple(a.lower() for a in v["aliases"])) for k, v in doc["payers"].items()}
    return BillingRules(
        rules=rules,
        payers=payers,
        not_available=tuple(doc["not-available"]),
        thresholds={t["year"]: {**t, "source": sources[t["source"]]} for t in doc["therapy-thresholds"]},
        rehab_power_mobility=frozenset(doc["rehab-power-mobility"]),
        ncci_modifiers=frozenset(str(m) for m in doc["ncci-modifiers"]),
        therapy_modifier=dict(doc["therapy-modifier-by-discipline"]),
        assistant_modifier=dict(doc["assistant-modifier-by-discipline"]),
    )
