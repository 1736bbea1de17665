"""The options that say how an assessment is billed (payer, date of service, modifiers, NCCI…)."""

from __future__ import annotations

import re
from datetime import date

import click

_SERVICE = re.compile(r"^(?P<code>[0-9]{5})(?::(?P<minutes>[0-9]+))(?::(?P<mods>[0-9A-Z]{2}(?:\+[0-9A-Z]{2})*))?$")
_MODIFIER = re.compile(r"^[0-9A-Z]{2}$")


def _payer(ctx, param, value):
    if value is None:
        return None
    from ..billing.rules import billing_rules

    rules = billing_rules()
    payer = rules.payer(value)
    if payer is None:
        known = ", ".join(p.name for p in rules.payers.values())
        raise click.BadParameter(f"unknown payer {value!r}; known payers: {known}")
    return payer.key


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else _fail(value)
    except ValueError:
        _fail(value)


def _fail(value):
    raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD")


def _modifiers(ctx, param, values):
    mods = [m.strip().upper() for v in values for m in v.split(",") if m.strip()]
    for m in mods:
        if not _MODIFIER.match(m):
            raise click.BadParameter(f"{m!r} is not a modifier (two letters or digits, e.g. GO, 59, XU)")
    return tuple(dict.fromkeys(mods))


def _services(ctx, param, values):
    from ..billing.checks import TimedService

    out = []
    for v in values:
        m = _SERVICE.match(v.strip().upper())
        if not m:
            raise click.BadParameter(f"{v!r}: expected CODE:MINUTES[:MOD+MOD], e.g. 97542:20:GO+59")
        if m["code"] == "97755":
            raise click.BadParameter("97755 is the assessment itself; its minutes are session.timedMinutes")
        from ..terminology.catalog import catalog

        proc = catalog().procedures.get(m["code"])
        if proc is None:
            raise click.BadParameter(f"{m['code']} is not among the verified CPT codes (mappings/procedures.yaml)")
        if not proc.extra.get("timed"):
            raise click.BadParameter(f"{m['code']} ({proc.display}) is not a 15-minute timed code; "
                                     "its minutes do not count toward the 8-minute rule")
        mods = tuple(m["mods"].split("+")) if m["mods"] else ()
        out.append(TimedService(m["code"], int(m["minutes"]), mods))
    return tuple(out)


def billing_options(f):
    options = [
        click.option("--payer", callback=_payer, metavar="NAME",
                     help="Payer (Medicare, Aetna, Blue Cross Blue Shield, Cigna, UnitedHealthcare, "
                          "Medicaid); default: the assessment's payer."),
        click.option("--date-of-service", "date_of_service", callback=_date, metavar="YYYY-MM-DD",
                     help="Date of service; default: the session date."),
        click.option("--modifier", "modifiers", multiple=True, callback=_modifiers, metavar="MOD[,MOD]",
                     help="Modifiers on the 97755 line (repeatable), e.g. GO or GO,KX."),
        click.option("--assistant", is_flag=True, help="Furnished in whole or in part by a PTA/OTA."),
        click.option("--other-service", "other_services", multiple=True, callback=_services,
                     metavar="CODE:MIN[:MOD+MOD]", help="Another timed service of the day (repeatable)."),
        click.option("--therapy-amount", type=click.FloatRange(min=0), metavar="USD",
                     help="Year-to-date therapy amount including this service (KX check)."),
        click.option("--ncci", type=click.Path(exists=True), metavar="DIR|FILE",
                     help="CMS quarterly NCCI practitioner PTP and MUE files (txt/csv)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def claim_context(*, payer, date_of_service, modifiers, assistant, other_services, therapy_amount, ncci):
    from ..billing.checks import ClaimContext

    tables = None
    if ncci:
        from ..billing.ncci import NcciTables

        codes = {"97755", *(s.code for s in other_services)}
        tables = NcciTables.load(ncci, codes=codes)
    return ClaimContext(payer=payer, date_of_service=date_of_service, modifiers=modifiers,
                        assistant=assistant, other_services=other_services,
                        therapy_amount=therapy_amount, ncci=tables)
