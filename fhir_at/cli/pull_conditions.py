"""``fhir-at pull-conditions``: a patient's Conditions on a FHIR server, as a table, JSON, or the
assessment's ``diagnoses`` (billable ICD-10-CM codes only, all secondary).

Output is streamed: ``table`` and ``json`` write each Condition as it arrives (constant memory);
``assessment`` keeps one item per distinct code. With ``-o`` the file appears only when the pull
succeeded (written to a temporary file, then renamed).
"""

from __future__ import annotations


import click

from .io import open_output
from .options import issues_format_option, output_option
from .server_options import server_kwargs, server_options

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _identifier(ctx, param, value):
    if value is None:
        return None
    system, sep, code = value.partition("|")
    if not (sep and system and code):
        raise click.BadParameter("write it SYSTEM|VALUE, e.g. urn:oid:1.2.3|MRN123")
    return value


def _patient_id(ctx, param, value):
    from ..client.pull import is_fhir_id

    if value is not None and not is_fhir_id(value):
        raise click.BadParameter("a Patient id is 1-64 letters, digits, '-' or '.'")
    return value


@click.command("pull-conditions")
@server_options
@click.option("--patient", metavar="ID", callback=_patient_id, help="The Patient's id on the server.")
@click.option("--identifier", metavar="SYSTEM|VALUE", callback=_identifier,
              help="A business identifier of the Patient (e.g. an MRN), resolved to one Patient first.")
@click.option("--category", multiple=True, metavar="CODE",
              help="Only this category (problem-list-item, encounter-diagnosis, health-concern; "
                   "or SYSTEM|CODE). Repeat for several (any of them).")
@click.option("--clinical-status", multiple=True, metavar="CODE",
              help="Only this clinical status (active, recurrence, relapse, inactive, remission, resolved). "
                   "Repeat for several.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "assessment"]), default="table",
              show_default=True, help="table: one line a condition; json: an array of every condition; "
                                      "assessment: {\"diagnoses\": [...]} to paste into an assessment.")
@output_option
@click.option("--page-size", type=click.IntRange(1, 1000), default=100, show_default=True, metavar="N",
              help="Conditions asked for per search page.")
@issues_format_option
def command(patient, identifier, category, clinical_status, fmt, output, page_size, issues_format, **kwargs):
    """Pull a patient's Conditions from a FHIR R4 server (exit 1 when nothing usable was found)."""
    from ..errors import InputError, TransportError
    from ..issues import Outcome
    from .report import print_outcome
    from .server_options import make_client

    if (patient is None) == (identifier is None):
        raise click.UsageError("give exactly one of --patient ID and --identifier SYSTEM|VALUE")
    client = make_client(**server_kwargs(kwargs))
    if _host(client.base) in _LOOPBACK:
        client.session.trust_env = False  # a loopback server: never through a proxy from the environment

    collected = []  # issues kept for an OperationOutcome (--issues oo); printed as they come otherwise

    def report(i) -> None:
        if issues_format == "oo":
            collected.append(i)
        else:
            print_outcome(Outcome((i,)), "text")

    from ..client.pull import iter_conditions

    pulled = iter_conditions(client, patient=patient, identifier=identifier, category=category,
                             clinical_status=clinical_status, page_size=page_size, on_issue=report)
    writer = {"table": _write_table, "json": _write_json, "assessment": _write_assessment}[fmt]
    try:
        with open_output(output) as out:
            count, usable = writer(pulled, out, report)
            if not usable:
                what = "no Condition" if not count else f"none of the {count} Condition(s) has a billable ICD-10-CM code"
                raise InputError(f"{what} for this patient on {client.base}"
                                 + ("" if count else " (with the filters given)") + "; nothing written")
    except TransportError as exc:
        if client.base in exc.message:
            raise
        raise TransportError(f"pulling Conditions from {client.base}: {exc.message}", exc.issues) from None
    finally:
        if collected:
            print_outcome(Outcome(tuple(collected)), "oo")
    where = f"wrote {output}: " if output and output != "-" else ""
    if fmt == "assessment":
        click.echo(f"{where}{usable} diagnos{'is' if usable == 1 else 'es'} from {count} Condition(s) "
                   f"on {client.base}", err=True)
        click.echo("all diagnoses are role \"secondary\": the clinician chooses the primary one "
                   "(set its role to \"primary\")", err=True)
    else:
        click.echo(f"{where}{count} Condition(s) from {client.base}, {usable} with a billable ICD-10-CM code",
                   err=True)


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower()


# ----------------------------------------------------------------------------------- formats

_HEADER = f"{'ICD-10-CM':<10} {'DISPLAY':<40} {'STATUS':<10} {'ONSET':<10} {'FLAGS':<20} ID\n"


def _write_table(pulled, out, report) -> tuple[int, int]:
    count = usable = 0
    for c in pulled:
        if not count:
            out.write(_HEADER.encode())
        count += 1
        usable += c.kind == "billable"
        code = c.chosen.code if c.chosen else (f"SCT {c.snomed[0]}" if c.snomed else "-")
        display = (c.display or "")[:40]
        line = (f"{code:<10} {display:<40} {c.clinical_status or '-':<10} {(c.onset or '-')[:10]:<10} "
                f"{','.join(c.flags) or '-':<20} {c.id}\n")
        out.write(line.encode())
    return count, usable


def _write_json(pulled, out, report) -> tuple[int, int]:
    import orjson

    count = usable = 0
    for c in pulled:
        out.write(b"[\n" if not count else b",\n")
        count += 1
        usable += c.kind == "billable"
        item = c.to_dict()
        _, issues = c.to_diagnosis()
        item["issues"] = [i.to_dict() for i in issues]
        out.write(orjson.dumps(item))
    if count:
        out.write(b"\n]\n")
    return count, usable


def _write_assessment(pulled, out, report) -> tuple[int, int]:
    from .io import dumps

    count = 0
    by_code: dict[str, dict] = {}
    for c in pulled:
        count += 1
        dx, issues = c.to_diagnosis()
        for i in issues:
            report(i)
        if dx is None:
            continue
        first = by_code.setdefault(dx["code"], dx)
        if first is not dx and "onset" in dx and dx["onset"] < first.get("onset", "9999"):
            first["onset"] = dx["onset"]  # the same code twice: the earliest onset
    if by_code:
        out.write(dumps({"diagnoses": list(by_code.values())}))
    return count, len(by_code)
