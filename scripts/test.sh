#!/usr/bin/env bash
# Run the test suite: bash scripts/test.sh [pytest args...]
#
# Integration tests need a running FHIR test server whose base URL is in
# FHIR_AT_TEST_SERVER. If that variable is unset, this script installs and
# starts one (scripts/fhir-test-server.sh) and stops it on exit.
# pytest's "no tests collected" (exit 5) is reported as a failure.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

PY=.venv/bin/python
if [[ ! -x "$PY" ]]; then
  echo "test.sh: $PY not found; create it first:" >&2
  echo "  python3 -m venv .venv && .venv/bin/pip install -e '.[test]'" >&2
  exit 1
fi

if [[ -z "${FHIR_AT_TEST_SERVER:-}" ]]; then
  bash scripts/fhir-test-server.sh install
  trap 'bash scripts/fhir-test-server.sh stop || true' EXIT
  line="$(bash scripts/fhir-test-server.sh start)"
  [[ "$line" == FHIR_AT_TEST_SERVER=* ]] || { echo "test.sh: unexpected output from start: $line" >&2; exit 1; }
  export FHIR_AT_TEST_SERVER="${line#FHIR_AT_TEST_SERVER=}"
  echo "test.sh: started FHIR test server at $FHIR_AT_TEST_SERVER" >&2
fi

rc=0
"$PY" -m pytest -q "$@" </dev/null || rc=$?
if [[ $rc -eq 5 ]]; then
  echo "test.sh: FAILURE: pytest collected no tests (exit 5)" >&2
  exit 1
fi
exit "$rc"
