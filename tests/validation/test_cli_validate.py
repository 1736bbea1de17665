"""fhir-at validate: inputs (JSON, NDJSON, folders, stdin), bad input, output forms, exit codes."""

from __future__ import annotations

import json
import os

import pytest

from fhir_at.validation.packages import R4_CORE
from tests.conftest import require_package, run_cli as run


@pytest.fixture(autouse=True)
def _core():
    require_package(R4_CORE)


PATIENT = {"resourceType": "Patient", "id": "p1", "text": {"status": "generated",
           "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Jane</div>"}, "gender": "female"}


def test_valid_resource_exits_0(tmp_path, capsys):
    f = tmp_path / "p.json"
    f.write_text(json.dumps(PATIENT))
    code, out, err = run(capsys, "validate", str(f))
    assert code == 0 and "0 error(s)" in err


def test_errors_with_line_and_column(tmp_path, capsys):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({**PATIENT, "gender": "xyz", "birthDate": "1990-13-01"}, indent=2))
    code, out, err = run(capsys, "validate", str(f))
    assert code == 1
    lines = [l for l in out.splitlines() if ": error: " in l]
    assert any("Patient.gender" in l and "administrative-gender" in l for l in lines), out
    assert any(l.startswith(f"{f}:") and "Patient.birthDate" in l for l in lines), out
    assert all(l.split(":")[1].isdigit() for l in lines)  # file:line:column


def test_bad_inputs_never_crash(tmp_path, capsys):
    (tmp_path / "truncated.json").write_text('{"resourceType": "Patient", "gend')
    (tmp_path / "latin1.json").write_bytes('{"resourceType": "Patient", "name": [{"text": "Zoë"}]}'.encode("latin-1"))
    (tmp_path / "deep.json").write_text('{"resourceType": "Basic", "x": ' + "[" * 200 + "]" * 200 + "}")
    (tmp_path / "dup.json").write_text('{"resourceType": "Patient", "gender": "male", "gender": "female"}')
    (tmp_path / "unknown.json").write_text('{"resourceType": "Frobnicator"}')
    code, out, err = run(capsys, "validate", str(tmp_path), "--format", "json")
    assert code == 1
    bundle = json.loads(out)
    assert bundle["type"] == "collection" and len(bundle["entry"]) == 5
    by_file = {os.path.basename(e["resource"]["extension"][0]["valueString"]): e["resource"] for e in bundle["entry"]}
    ids = {name: [i["extension"][0]["valueString"] for i in oo["issue"]] for name, oo in by_file.items()}
    assert ids["truncated.json"] == ["VAL_JSON_SYNTAX"] and "line" in by_file["truncated.json"]["issue"][0]["details"]["text"]
    assert ids["latin1.json"] == ["VAL_JSON_SYNTAX"] and "not UTF-8" in by_file["latin1.json"]["issue"][0]["details"]["text"]
    assert ids["deep.json"] == ["VAL_JSON_SYNTAX"] and "deeper than" in by_file["deep.json"]["issue"][0]["details"]["text"]
    assert "VAL_JSON_DUPLICATE_KEY" in ids["dup.json"]
    assert ids["unknown.json"] and by_file["unknown.json"]["issue"][0]["severity"] in ("error", "fatal")


def test_ndjson_issues_carry_the_line(tmp_path, capsys):
    f = tmp_path / "r.ndjson"
    f.write_text(json.dumps(PATIENT) + "\n" + json.dumps({**PATIENT, "gender": "xyz"}) + "\n")
    code, out, _ = run(capsys, "validate", str(f))
    assert code == 1 and f"{f}:2:" in out and f"{f}:1:" not in out


def test_missing_file_and_package(tmp_path, capsys):
    assert run(capsys, "validate", str(tmp_path / "none.json"))[0] == 3
    f = tmp_path / "p.json"
    f.write_text(json.dumps(PATIENT))
    code, _, err = run(capsys, "validate", str(f), "--ig", "no.such.package#1.0")
    assert code == 3 and "not installed" in err


def test_our_bundles_have_no_errors(capsys, tmp_path):
    from fhir_at import api
    from tests.conftest import EXAMPLES

    for p in sorted(EXAMPLES.glob("*.json")):
        bundle, _ = api.convert(json.loads(p.read_text()), pdf=True)
        f = tmp_path / f"{p.stem}.bundle.json"
        f.write_text(json.dumps(bundle))
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert code == 0, out


def test_jobs_give_the_same_report(tmp_path, capsys):
    f = tmp_path / "r.ndjson"
    rows = [PATIENT, {**PATIENT, "gender": "xyz"}, {"resourceType": "Observation"}, {**PATIENT, "id": "p2"}] * 20
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    one = run(capsys, "validate", str(f), "--format", "json")
    two = run(capsys, "validate", str(f), "--format", "json", "--jobs", "2")
    assert one[0] == two[0] == 1 and json.loads(one[1]) == json.loads(two[1])
    text_one = run(capsys, "validate", str(f))
    text_two = run(capsys, "validate", str(f), "--jobs", "2")
    assert text_one[1] == text_two[1] and f"{f}:2:" in text_one[1]
    crlf = tmp_path / "crlf.ndjson"        # Windows line ends and blank lines: the same documents
    crlf.write_text("\r\n".join(json.dumps(r) for r in rows[:4]) + "\r\n\r\n", newline="")
    text_crlf = run(capsys, "validate", str(crlf))
    assert text_crlf[1].replace(str(crlf), str(f)) == "".join(
        line + "\n" for line in text_one[1].splitlines() if line.split(":")[1] in ("1", "2", "3", "4"))


def test_an_empty_object_is_reported_once(tmp_path, capsys):
    f = tmp_path / "e.json"
    f.write_text(json.dumps({**PATIENT, "name": [{}], "telecom": [{"system": "phone", "_value": {}}]}))
    code, out, _ = run(capsys, "validate", str(f))
    errors = [l for l in out.splitlines() if ": error: " in l]
    assert code == 1 and len(errors) == 2 and all("VAL_EMPTY_OBJECT" in l for l in errors), out


def test_depth_limit_and_member_count():
    from fhir_at.validation.inputs import MAX_DEPTH, _members

    def nested(depth):
        doc: object = {}
        for _ in range(depth - 1):
            doc = [doc]
        return doc

    assert _members(nested(MAX_DEPTH), MAX_DEPTH) == 0
    assert _members(nested(MAX_DEPTH + 1), MAX_DEPTH) is None
    assert _members({"a": {"b": 1}, "c": [{"d": 2, "e": [3]}], "f": "x"}, MAX_DEPTH) == 6
    assert _members("scalar", MAX_DEPTH) == 0


def test_level_hides_milder_issues_but_not_errors(tmp_path, capsys):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"resourceType": "Patient", "gender": "xyz"}))   # an error, and dom-6 (a warning)
    code, every, _ = run(capsys, "validate", str(f), "--level", "information")
    assert code == 1 and ": warning: " in every and ": error: " in every
    code, errors_only, _ = run(capsys, "validate", str(f), "--level", "error", "--jobs", "2")
    assert code == 1 and ": warning: " not in errors_only and ": error: " in errors_only
    assert run(capsys, "validate", str(f), "--level", "loud")[0] == 2
