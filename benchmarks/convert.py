"""Assessments converted per second, side by side with the fhir.resources R4B baseline.

Run: .venv/bin/python benchmarks/convert.py [--seconds 3]

Measured in one process on one core, over the example assessments in examples/:
  * fhir-at convert without PDF: schema + code checks + mapping + HTML report + JSON bytes (orjson)
  * fhir-at mapping only: the same without the checks (to_bundle on checked input)
  * baseline: the same bundle built through fhir.resources.R4B models
    (Bundle.model_validate(bundle) + model_dump_json()), as the issue defines it
  * the PDF report on its own (render_pdf), the cost convert adds by default
The floor of the issue is >= 1,000 assessments/s for convert without PDF.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rate(fn, items, seconds: float) -> tuple[float, float]:
    """Calls per second over ``items`` round-robin for ~``seconds``; returns (rate, ms per call)."""
    for it in items:  # warm-up (caches, lazy imports)
        fn(it)
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        samples.append((time.perf_counter() - t0) / len(items))
    per_call = statistics.median(samples)
    return 1.0 / per_call, per_call * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    import orjson

    from fhir_at import api
    from fhir_at.mapping.bundle import to_bundle
    from fhir_at.report import render_pdf

    examples = [json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))]
    bundles = [api.convert(a, pdf=False)[0] for a in examples]

    def ours(a):
        bundle, outcome = api.convert(a, pdf=False)
        assert outcome.ok
        return orjson.dumps(bundle)

    def mapping_only(a):
        return orjson.dumps(to_bundle(a, pdf=False))

    from fhir.resources.R4B.bundle import Bundle

    def baseline(b):
        return Bundle.model_validate(b).model_dump_json()

    rows = [
        ("fhir-at convert (no PDF)", *rate(ours, examples, args.seconds)),
        ("fhir-at mapping only (no checks, no PDF)", *rate(mapping_only, examples, args.seconds)),
        ("baseline: R4B model_validate + model_dump_json", *rate(baseline, bundles, args.seconds)),
        ("PDF report alone (render_pdf)", *rate(render_pdf, examples, args.seconds)),
        ("fhir-at convert (with PDF, the default)", *rate(lambda a: orjson.dumps(api.convert(a)[0]), examples, args.seconds)),
    ]
    print(f"python {platform.python_version()} on {platform.machine()}, one core, "
          f"{len(examples)} example assessments ({sum(len(b['entry']) for b in bundles)} resources)")
    print(f"{'measure':<50} {'per second':>12} {'ms each':>9}")
    for name, per_s, ms in rows:
        print(f"{name:<50} {per_s:>12,.0f} {ms:>9.3f}")
    ratio = rows[0][1] / rows[2][1]
    print(f"convert (no PDF) vs baseline: {ratio:.1f}x the baseline's rate")
    floor = 1000
    print(f"floor {floor}/s without PDF: {'met' if rows[0][1] >= floor else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
