"""Pulling Conditions from the real FHIR test server (SEKMET, started here on 127.0.0.1): conditions
per second and peak memory of the streamed :func:`iter_conditions`, against a naive pull that keeps
every page, for N Conditions of one patient, side by side.

Run: .venv/bin/python benchmarks/pull.py [--sizes 1000 10000] [--page-size 100] [--batch 500]

Each patient's Conditions are loaded in transaction Bundles of ``--batch`` (a mix of billable,
header, SNOMED-only and multi-coded ones, each with a unique identifier). Time is the best of
``--repeat`` runs without tracing; peak memory is measured in a separate run under ``tracemalloc``
(Python allocations above the level before the pull: parsed pages, results, the de-duplication sets).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOME = ROOT / ".fhir-test-server" / "bench-pull"


def start_server(home: Path) -> str:
    home.mkdir(parents=True, exist_ok=True)
    shared = home.parent / "venv"
    if shared.is_dir() and not (home / "venv").exists():
        (home / "venv").symlink_to(shared)  # reuse the installed server instead of installing it again
    env = {**os.environ, "FHIR_AT_SERVER_HOME": str(home)}
    subprocess.run(["bash", "scripts/fhir-test-server.sh", "install"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run(["bash", "scripts/fhir-test-server.sh", "start"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("FHIR_AT_TEST_SERVER="))
    return line.split("=", 1)[1]


def stop_server(home: Path) -> None:
    env = {**os.environ, "FHIR_AT_SERVER_HOME": str(home)}
    subprocess.run(["bash", "scripts/fhir-test-server.sh", "stop"], cwd=ROOT, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def session():
    import requests

    s = requests.Session()
    s.trust_env = False  # loopback: never through a proxy from the environment
    return s


def _codings(n: int) -> list[dict]:
    from fhir_at.terminology import systems

    icd = systems.ICD10CM
    billable = ["G71.01", "Z99.3", "R26.89", "M62.81", "G80.9", "R26.2", "Z74.09", "R53.1"]
    kind = n % 10
    if kind < 6:
        return [{"system": icd, "code": billable[n % len(billable)]}]
    if kind == 6:
        return [{"system": icd, "code": "G71.0"}]
    if kind == 7:
        return [{"system": systems.SNOMED, "code": "76670001"}]
    return [{"system": systems.SNOMED, "code": "76670001"}, {"system": icd, "code": "G71.01"}]


def load(client, n: int, batch: int) -> str:
    """A new Patient with ``n`` Conditions; its id."""
    from fhir_at.terminology import systems

    status, doc, headers = client.post("Patient", {"resourceType": "Patient", "gender": "unknown",
                                                   "name": [{"family": f"Bench{n}"}]})
    pid = (doc or {}).get("id") or headers["Location"].split("Patient/")[1].split("/")[0]
    for start in range(0, n, batch):
        entries = []
        for i in range(start, min(n, start + batch)):
            res = {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
                   "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}],
                   "clinicalStatus": {"coding": [{"system": systems.CONDITION_CLINICAL, "code": "active"}]},
                   "category": [{"coding": [{"system": systems.CONDITION_CATEGORY, "code": "problem-list-item"}]}],
                   "code": {"coding": _codings(i)}, "onsetDateTime": f"{2000 + i % 24}-0{1 + i % 9}-1{i % 10}"}
            entries.append({"resource": res, "request": {"method": "POST", "url": "Condition"}})
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    return pid


def streamed(client, pid: str, page_size: int) -> int:
    from fhir_at.client.pull import iter_conditions

    n = 0
    for _ in iter_conditions(client, patient=pid, page_size=page_size):
        n += 1
    return n


def naive(client, pid: str, page_size: int) -> int:
    """Every page kept, then every Condition parsed into a list (what a list-all pull does)."""
    from fhir_at.client.pull import PulledCondition

    pages = list(client.iter_pages("Condition", {"patient": pid, "_count": page_size}))
    result = [PulledCondition.from_resource(e["resource"]) for p in pages for e in p.get("entry") or []
              if e["resource"].get("resourceType") == "Condition"]
    return len(result)


def measure(fn, client, pid: str, page_size: int, expected: int, repeat: int) -> tuple[float, float]:
    """(conditions per second, best of ``repeat``; peak KiB above the start, traced)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        got = fn(client, pid, page_size)
        best = min(best, time.perf_counter() - t0)
        assert got == expected, (fn.__name__, got, expected)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn(client, pid, page_size)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return expected / best, peak / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from fhir_at.client.http import FhirClient
    from fhir_at.terminology import icd10cm

    icd10cm.lookup("G71.01")  # open the code index outside the timing
    url = start_server(HOME)
    try:
        client = FhirClient(url, session=session(), timeout=(10.0, 120.0))
        rows = []
        for n in args.sizes:
            t0 = time.perf_counter()
            pid = load(client, n, args.batch)
            loaded = time.perf_counter() - t0
            s_rate, s_peak = measure(streamed, client, pid, args.page_size, n, args.repeat)
            n_rate, n_peak = measure(naive, client, pid, args.page_size, n, args.repeat)
            rows.append((n, loaded, s_rate, s_peak, n_rate, n_peak))
            print(f"  N={n}: loaded in {loaded:.1f}s", file=sys.stderr)
    finally:
        stop_server(HOME)

    print(f"SEKMET on loopback, page size {args.page_size}, best of {args.repeat} (time) / tracemalloc (peak)")
    print(f"{'N':>7} {'load s':>7} | {'streamed cond/s':>15} {'peak KiB':>9} | {'list-all cond/s':>15} {'peak KiB':>9}")
    for n, loaded, s_rate, s_peak, n_rate, n_peak in rows:
        print(f"{n:>7} {loaded:>7.1f} | {s_rate:>15,.0f} {s_peak:>9,.0f} | {n_rate:>15,.0f} {n_peak:>9,.0f}")
    print(json.dumps({"page_size": args.page_size, "rows": [
        {"n": n, "load_s": round(lo, 2), "streamed_per_s": round(sr), "streamed_peak_kib": round(sp),
         "list_all_per_s": round(nr), "list_all_peak_kib": round(np_)}
        for n, lo, sr, sp, nr, np_ in rows]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
