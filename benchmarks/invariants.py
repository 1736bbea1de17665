"""Benchmark: FHIRPath invariants per second on the R4 examples of the 97755 resource types.

    .venv/bin/python benchmarks/invariants.py [--seconds 5] [--pure]

Loads hl7.fhir.r4.core and hl7.fhir.r4.examples (4.0.1) from the package cache, warms the engine,
then checks the examples of Patient, Observation, Condition, Procedure, DocumentReference and
DeviceRequest round-robin on one core. ``--pure`` evaluates everything through fhirpathpy (no native
constraints, no skipping) for comparison.
"""

from __future__ import annotations

import argparse
import time

from fhir_at.validation.invariants import InvariantEngine
from fhir_at.validation.packages import R4_CORE, PackageSet, load_package

TYPES = ("Patient", "Observation", "Condition", "Procedure", "DocumentReference", "DeviceRequest")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pure", action="store_true")
    args = ap.parse_args()
    engine = InvariantEngine(PackageSet.of([R4_CORE]), native=not args.pure, skip=not args.pure)
    examples = load_package("hl7.fhir.r4.examples#4.0.1")
    resources = [examples.load(e["filename"]) for t in TYPES for e in examples.iter_index(t)]
    for r in resources:                      # warm-up: builds the element trees, parses expressions
        list(engine.iter_invariant_issues(r))
    n = issues = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        for r in resources:
            issues += sum(1 for _ in engine.iter_invariant_issues(r))
        n += len(resources)
    elapsed = time.perf_counter() - start
    counts = {t: sum(1 for r in resources if r["resourceType"] == t) for t in TYPES}
    print(f"{len(resources)} examples {counts}")
    print(f"{n} resources in {elapsed:.2f} s: {n / elapsed:,.0f} resources/s ({issues} issues)")


if __name__ == "__main__":
    main()
