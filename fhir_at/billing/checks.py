"""Coding and documentation checks of a 97755 assessment as it will be billed.

``iter_billing_issues(a, ctx)`` runs every rule of ``mappings/billing.yaml`` that applies to the
payer and the date of service; each issue cites its rule's source. What the clinic bills besides
the assessment (modifiers, other timed services of the day, assistant, therapy amount, NCCI files)
comes in a :class:`ClaimContext`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Iterator

from ..issues import Issue, Path
from .rules import BillingRules, Payer, billing_rules
from .units import allocate_units

__all__ = ["TimedService", "ClaimContext", "LineItem", "resolve_payer", "date_of_service",
           "iter_billing_issues", "claim_lines"]

CPT_CODE = "97755"
ROOT = Path()
# Rules about what is billed (not about the assessment) point at the command-line option to change.
_OPTION = {
    "THERAPY_MODIFIER_MISSING": "--modifier", "THERAPY_MODIFIER_WRONG": "--modifier",
    "ASSISTANT_MODIFIER_MISSING": "--modifier", "ASSISTANT_MODIFIER_UNEXPECTED": "--assistant",
    "KX_MISSING": "--modifier", "KX_UNNEEDED": "--modifier", "KX_THRESHOLD_NOT_AVAILABLE": "--therapy-amount",
    "KX_NOT_CHECKED": "--therapy-amount", "NCCI_NOT_CHECKED": "--ncci", "NCCI_PAIR_NOT_ALLOWED": "--other-service",
    "NCCI_MODIFIER_MISSING": "--other-service", "NCCI_MODIFIER_WITHOUT_EDIT": "--modifier",
    "NCCI_MUE_EXCEEDED": "--ncci", "PAYER_RULES_NOT_AVAILABLE": "--payer",
}


@dataclass(frozen=True, slots=True)
class TimedService:
    """Another timed service billed the same day (e.g. 97542 for 20 minutes, modifiers GO 59)."""

    code: str
    minutes: int
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimContext:
    payer: str | None = None                 # a payer key of billing.yaml; None = from the assessment
    date_of_service: date | None = None      # None = the session date
    modifiers: tuple[str, ...] = ()          # on the 97755 line
    assistant: bool = False                  # furnished in whole or in part by a PTA/OTA
    other_services: tuple[TimedService, ...] = ()
    therapy_amount: float | None = None      # year-to-date therapy amount (USD), this service included
    ncci: object | None = None               # fhir_at.billing.ncci.NcciTables


@dataclass(frozen=True, slots=True)
class LineItem:
    code: str
    minutes: int
    units: int
    modifiers: tuple[str, ...] = field(default=())


def resolve_payer(a: dict, ctx: ClaimContext, rules: BillingRules) -> Payer | None:
    if ctx.payer:
        return rules.payers[ctx.payer]
    payer = a.get("payer")
    if not payer:
        return None
    return rules.payer(payer["name"]) or (rules.payers.get(payer["kind"]))


def date_of_service(a: dict, ctx: ClaimContext) -> date:
    return ctx.date_of_service or date.fromisoformat(a["session"]["date"])


def claim_lines(a: dict, ctx: ClaimContext) -> list[LineItem]:
    """The timed lines of the day with their units by the 8-minute rule, 97755 first."""
    minutes = {CPT_CODE: a["session"]["timedMinutes"]}
    for s in ctx.other_services:
        minutes[s.code] = minutes.get(s.code, 0) + s.minutes
    units = allocate_units(minutes)
    mods = {CPT_CODE: tuple(ctx.modifiers)}
    for s in ctx.other_services:
        mods[s.code] = tuple(dict.fromkeys(mods.get(s.code, ()) + s.modifiers))
    return [LineItem(code, m, units[code], mods[code]) for code, m in minutes.items()]


def iter_billing_issues(a: dict, ctx: ClaimContext = ClaimContext()) -> Iterator[Issue]:
    rules = billing_rules()
    payer = resolve_payer(a, ctx, rules)
    key = payer.key if payer else None
    dos = date_of_service(a, ctx)

    def rule(rule_id: str, path: Path = ROOT, **params) -> Iterator[Issue]:
        r = rules.rules[rule_id]
        if r.applies(key, dos):
            yield r.issue(path, _OPTION.get(rule_id), **params)

    yield from _units(a, ctx, rule)
    if payer is None or payer.key != "medicare":
        yield from rule("PAYER_RULES_NOT_AVAILABLE", ROOT / "payer",
                        payer=payer.name if payer else "no payer given")
    else:
        yield from _modifiers(a, ctx, rules, dos, rule)
    yield from _ncci(a, ctx, rules, dos, rule)
    yield from _diagnoses(a, dos, rule)
    yield from _documentation(a, rules, rule)


def _units(a, ctx, rule):
    lines = claim_lines(a, ctx)
    line = lines[0]
    total = sum(item.minutes for item in lines)
    path = ROOT / "session" / "timedMinutes"
    if line.minutes == 0:
        yield from rule("DOC_ZERO_MINUTES", path)
    elif line.units == 0:
        yield from rule("UNITS_NOT_BILLABLE", path, minutes=line.minutes, total=total)
    else:
        others = ", ".join(f"{i.code} {i.units}" for i in lines[1:])
        yield from rule("UNITS_INFO", path, units=line.units, minutes=line.minutes, total=total,
                        total_units=sum(i.units for i in lines),
                        note=f"; other lines: {others}" if others else "")


def _modifiers(a, ctx, rules, dos, rule):
    discipline = a["clinician"]["discipline"]
    given = set(ctx.modifiers)
    expected = rules.therapy_modifier[discipline]
    therapy_given = given & set(rules.therapy_modifier.values())
    names = {"PT": "physical therapy", "OT": "occupational therapy", "SLP": "speech-language pathology"}
    if not therapy_given:
        yield from rule("THERAPY_MODIFIER_MISSING", expected=expected, discipline=names[discipline],
                        given=", ".join(sorted(given)) or "no modifier")
    for wrong in sorted(therapy_given - {expected}):
        yield from rule("THERAPY_MODIFIER_WRONG", given=wrong, discipline=names[discipline], expected=expected)
    assistant_mods = set(rules.assistant_modifier.values())
    want = rules.assistant_modifier.get(discipline)
    if ctx.assistant and want and want not in given:
        yield from rule("ASSISTANT_MODIFIER_MISSING", expected=want)
    if not ctx.assistant and given & assistant_mods:
        yield from rule("ASSISTANT_MODIFIER_UNEXPECTED", given=", ".join(sorted(given & assistant_mods)))
    threshold = rules.thresholds.get(dos.year)
    if ctx.therapy_amount is None:
        yield from rule("KX_NOT_CHECKED")
    elif threshold is None:
        yield from rule("KX_THRESHOLD_NOT_AVAILABLE", year=dos.year)
    else:
        group = "OT" if discipline == "OT" else "PT and SLP combined"
        limit = threshold["ot"] if discipline == "OT" else threshold["pt-slp"]
        params = dict(amount=f"${ctx.therapy_amount:,.2f}", year=dos.year, threshold=f"${limit:,}", group=group)
        if ctx.therapy_amount > limit and "KX" not in given:
            yield from rule("KX_MISSING", **params)
        elif ctx.therapy_amount <= limit and "KX" in given:
            yield from rule("KX_UNNEEDED", **params)


def _ncci(a, ctx, rules, dos, rule):
    if ctx.ncci is None:
        yield from rule("NCCI_NOT_CHECKED")
        return
    lines = claim_lines(a, ctx)
    on = dos.isoformat()
    bypassed: set[str] = set()
    for i, first in enumerate(lines):
        for second in lines[i + 1:]:
            for edit in ctx.ncci.edits_between(first.code, second.code, dos):
                col2 = next(x for x in lines if x.code == edit.column2)
                params = dict(column1=edit.column1, column2=edit.column2, date=on, edit=edit.source)
                if edit.modifier_indicator == "0":
                    yield from rule("NCCI_PAIR_NOT_ALLOWED", **params)
                elif edit.modifier_indicator == "1":
                    if set(col2.modifiers) & rules.ncci_modifiers:
                        bypassed.add(col2.code)
                    else:
                        yield from rule("NCCI_MODIFIER_MISSING", **params)
    for line in lines:
        for mod in sorted(set(line.modifiers) & rules.ncci_modifiers):
            if line.code not in bypassed:
                yield from rule("NCCI_MODIFIER_WITHOUT_EDIT", modifier=mod, code=line.code, date=on)
        mue = ctx.ncci.mue(line.code)
        if mue is not None and line.units > mue.value:
            yield from rule("NCCI_MUE_EXCEEDED", units=line.units, code=line.code, mue=mue.value, edit=mue.source)


def _diagnoses(a, dos, rule):
    from ..terminology import icd10cm

    on = dos.isoformat()
    warned = False
    for i, dx in enumerate(a["diagnoses"]):
        path = ROOT / "diagnoses" / i / "code"
        entry, edition, exact = icd10cm.lookup_on(dx["code"], dos)
        if not exact and not warned:
            warned = True
            yield from rule("ICD_EDITION_NOT_EXACT", ROOT / "session" / "date", date=on, edition=edition.id)
        if entry is None:
            yield from rule("ICD_UNKNOWN_ON_DOS", path, code=dx["code"], date=on, edition=edition.id)
        elif not entry.billable:
            children = ", ".join(icd10cm.billable_descendants_on(dx["code"], dos)[:8])
            yield from rule("ICD_NOT_BILLABLE_ON_DOS", path, code=dx["code"], description=entry.description,
                            date=on, edition=edition.id, children=children)


def _documentation(a, rules, rule):
    from ..terminology.catalog import catalog

    if not a["clinician"].get("credentials"):
        yield from rule("DOC_NO_CREDENTIALS", ROOT / "clinician" / "credentials")
    if not a.get("history"):
        yield from rule("DOC_NO_HISTORY", ROOT / "history")
    if not a.get("measures"):
        yield from rule("DOC_NO_FINDINGS", ROOT / "measures")
    if not a.get("deviceTrials"):
        yield from rule("DOC_NO_TRIALS", ROOT / "deviceTrials")
    if not a.get("recommendations"):
        yield from rule("DOC_NO_RECOMMENDATIONS", ROOT / "recommendations")
    if not a.get("signature"):
        yield from rule("DOC_UNSIGNED", ROOT / "signature")
    devices = catalog().devices
    for i, rec in enumerate(a.get("recommendations", ())):
        code = rec.get("hcpcs")
        if code in rules.rehab_power_mobility:
            yield from rule("POWER_MOBILITY_EVALUATION", ROOT / "recommendations" / i / "hcpcs",
                            code=code, display=devices[code].display)
