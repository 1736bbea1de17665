"""The command line: exit codes, messages on standard error, never a half-written output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, run_cli as run

SEED = str(EXAMPLES / "duchenne-mobility.json")
G71_0 = str(EXAMPLES / "invalid" / "duchenne-g71-0.json")


def test_convert_writes_the_bundle(tmp_path, capsys):
    out = tmp_path / "bundle.json"
    code, stdout, err = run(capsys, "convert", SEED, "-o", str(out))
    assert code == 0 and stdout == ""
    assert f"wrote {out}: transaction Bundle of 38 entries (1 Patient, 2 Practitioner, " in err
    bundle = json.loads(out.read_text())
    assert bundle["type"] == "transaction" and len(bundle["entry"]) == 38
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_convert_to_stdout_without_pdf(capsys):
    code, stdout, _ = run(capsys, "convert", SEED, "--no-pdf")
    assert code == 0
    doc = next(e["resource"] for e in json.loads(stdout)["entry"]
               if e["resource"]["resourceType"] == "DocumentReference")
    assert [c["attachment"]["contentType"] for c in doc["content"]] == ["text/html"]


def test_header_code_example_fails_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "bundle.json"
    code, stdout, err = run(capsys, "convert", G71_0, "-o", str(out))
    assert code == 1 and not out.exists() and stdout == ""
    assert "$.diagnoses[0].code: G71.0 (Muscular dystrophy) is a header code" in err
    assert "G71.01" in err and "nothing written" in err
    # the recommendations that link G71.0 are reported too
    assert "$.recommendations[0].diagnoses" not in err or "G71.0" in err


def test_existing_output_is_kept_when_input_is_bad(tmp_path, capsys):
    out = tmp_path / "bundle.json"
    out.write_text("previous")
    assert run(capsys, "convert", G71_0, "-o", str(out))[0] == 1
    assert out.read_text() == "previous"


def test_invalid_json_gives_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "schemaVersion": "1.0",\n  "identifier": ,\n}')
    code, _, err = run(capsys, "convert", str(bad))
    assert code == 1 and "line 3, column" in err and "JSON_SYNTAX" in err


def test_issues_as_operation_outcome(capsys):
    code, _, err = run(capsys, "check", G71_0, "--issues", "oo")
    assert code == 1
    oo = json.loads(err[: err.rindex("}") + 1])
    assert oo["resourceType"] == "OperationOutcome"
    first = oo["issue"][0]
    assert first["severity"] == "error" and first["code"] == "code-invalid"
    assert first["expression"] == ["$.diagnoses[0].code"]


def test_check_ok(capsys):
    code, _, err = run(capsys, "check", SEED, "--modifier", "GO")
    assert code == 0 and "ok" in err


def test_missing_file_is_an_io_error(capsys):
    code, _, err = run(capsys, "convert", "no/such/file.json")
    assert code == 3 and "no such file" in err


def test_unwritable_output_is_an_io_error(capsys, tmp_path):
    code, _, err = run(capsys, "convert", SEED, "-o", str(tmp_path / "missing-dir" / "b.json"))
    assert code == 3 and "cannot write" in err


@pytest.mark.parametrize("argv", [["convert"], ["convert", SEED, "--bogus"], ["frobnicate"]])
def test_usage_errors_exit_2(capsys, argv):
    assert run(capsys, *argv)[0] == 2


def test_extract_round_trip(tmp_path, capsys):
    bundle = tmp_path / "b.json"
    assert run(capsys, "convert", SEED, "-o", str(bundle), "--no-pdf")[0] == 0
    code, stdout, err = run(capsys, "extract", str(bundle))
    assert code == 0, err
    assert json.loads(stdout) == json.loads((EXAMPLES / "duchenne-mobility.json").read_text())


def test_extract_ndjson_and_folder(tmp_path, capsys):
    bundle = tmp_path / "b.json"
    run(capsys, "convert", SEED, "-o", str(bundle), "--no-pdf")
    # as a server exports them: ids assigned, references relative (Type/id)
    entries = json.loads(bundle.read_text())["entry"]
    text = json.dumps([e["resource"] for e in entries])
    for e in entries:
        text = text.replace(e["fullUrl"], f"{e['resource']['resourceType']}/{e['fullUrl'][9:]}")
    resources = json.loads(text)
    for e, r in zip(entries, resources):
        r["id"] = e["fullUrl"][9:]
    nd = tmp_path / "r.ndjson"
    nd.write_text("\n".join(json.dumps(r) for r in resources) + "\n")
    code, stdout, err = run(capsys, "extract", str(nd))
    assert code == 0, err
    assert json.loads(stdout) == json.loads((EXAMPLES / "duchenne-mobility.json").read_text())
    # without the Patient resource, Patient/<id> is kept as the id of a Patient on the server
    nd.write_text("\n".join(json.dumps(r) for r in resources[1:]) + "\n")
    code, stdout, _ = run(capsys, "extract", str(nd))
    assert code == 0 and json.loads(stdout)["patient"] == {"fhirId": resources[0]["id"]}
    # a lost Condition is an unresolved reference: an error with its location, nothing written
    lost = [r for r in resources if r["resourceType"] != "Condition"]
    nd.write_text("\n".join(json.dumps(r) for r in lost) + "\n")
    code, stdout, err = run(capsys, "extract", str(nd))
    assert code == 1 and stdout == ""
    assert ".reasonReference[0]: reference 'Condition/" in err and "does not resolve" in err
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "bundle.json").write_text(bundle.read_text())
    assert run(capsys, "extract", str(folder))[0] == 0


def test_extract_of_something_else_fails(tmp_path, capsys):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"resourceType": "Patient", "id": "x"}))
    code, _, err = run(capsys, "extract", str(f))
    assert code == 1 and "no Procedure with CPT 97755" in err


def test_console_script_has_no_traceback_and_starts_fast(tmp_path):
    exe = [sys.executable, "-m", "fhir_at.cli.main"]
    r = subprocess.run(exe + ["convert", str(tmp_path / "nope.json")], capture_output=True, text=True)
    assert r.returncode == 3 and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "fhir_at.cli.main", "--help"],
                       capture_output=True, text=True)
    assert r.returncode == 0
    heavy = {"jsonschema", "fastjsonschema", "fpdf", "jinja2", "simple_icd_10_cm", "yaml", "requests"}
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines()}
    assert not heavy & imported


def test_output_file_mode_is_kept_or_follows_umask(tmp_path, capsys):
    import os
    import stat

    new = tmp_path / "new.json"
    assert run(capsys, "convert", SEED, "--no-pdf", "-o", str(new))[0] == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    old = tmp_path / "old.json"
    old.write_text("x")
    old.chmod(0o600)
    assert run(capsys, "convert", SEED, "--no-pdf", "-o", str(old))[0] == 0
    assert stat.S_IMODE(old.stat().st_mode) == 0o600


# --- billing options ------------------------------------------------------------------------------

NCCI_DIR = str(EXAMPLES.parent / "tests" / "data" / "ncci" / "quarter")


def test_check_reports_billing_with_sources(capsys):
    code, _, err = run(capsys, "check", SEED, "--modifier", "GO", "--ncci", NCCI_DIR, "--sources")
    assert code == 1  # 4 units exceed the (fictitious) MUE of 3
    assert "error: --ncci: 4 units of 97755 exceed its MUE of 3 per day" in err
    assert "    source: CMS NCCI Medically Unlikely Edits" in err
    code, _, err = run(capsys, "check", SEED, "--modifier", "GO")
    assert code == 0 and "ok (0 errors" in err


def test_check_without_billing(capsys):
    code, _, err = run(capsys, "check", SEED, "--no-billing")
    assert code == 0 and "ok (0 errors, 0 warnings, 0 information)" in err


@pytest.mark.parametrize("argv, text", [
    (["--payer", "Kaiser"], "unknown payer 'Kaiser'; known payers: Medicare, Aetna"),
    (["--date-of-service", "11/02/2026"], "'11/02/2026' is not a date YYYY-MM-DD"),
    (["--other-service", "97542-20"], "expected CODE:MINUTES[:MOD+MOD]"),
    (["--other-service", "97165:30"], "97165 (Ot eval low complex 30 min) is not a 15-minute timed code"),
    (["--other-service", "99999:30"], "99999 is not among the verified CPT codes"),
    (["--modifier", "G"], "'G' is not a modifier"),
])
def test_bad_billing_options_are_usage_errors(capsys, argv, text):
    code, _, err = run(capsys, "check", SEED, *argv)
    assert code == 2 and text in err


def test_bad_ncci_file_is_a_configuration_error(capsys):
    bad = str(EXAMPLES.parent / "tests" / "data" / "ncci" / "broken" / "ptp-bad-date.txt")
    code, _, err = run(capsys, "check", SEED, "--ncci", bad)
    assert code == 3 and "line" in err


def test_convert_with_claim(tmp_path, capsys):
    out = tmp_path / "b.json"
    code, _, err = run(capsys, "convert", SEED, "--no-pdf", "--claim", "--modifier", "GO", "-o", str(out))
    assert code == 0, err
    assert "1 Claim" in err
    code, _, err = run(capsys, "convert", SEED, "--no-pdf", "--claim", "-o", str(tmp_path / "c.json"))
    assert code == 1 and "THERAPY_MODIFIER_MISSING" in err and not (tmp_path / "c.json").exists()


def test_convert_shows_billing_problems_as_warnings(tmp_path, capsys):
    code, _, err = run(capsys, "convert", SEED, "--no-pdf", "-o", str(tmp_path / "b.json"))
    assert code == 0 and "warning: --modifier: not billable as is: Medicare requires the therapy modifier GO" in err
