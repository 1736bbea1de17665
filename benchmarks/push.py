"""Push throughput against the real FHIR test server (SEKMET, started here on 127.0.0.1):
assessments pushed per second sequentially and with N concurrent workers, side by side.

Run: .venv/bin/python benchmarks/push.py [--count 40] [--workers 1 2 4]

Each assessment is the seed example with unique identifiers (so every push creates 38 resources);
a second pass re-pushes the same assessments (every entry already exists: the idempotent path).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_server(home: Path) -> str:
    env = {**os.environ, "FHIR_AT_SERVER_HOME": str(home)}
    subprocess.run(["bash", "scripts/fhir-test-server.sh", "install"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run(["bash", "scripts/fhir-test-server.sh", "start"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1]


def stop_server(home: Path) -> None:
    env = {**os.environ, "FHIR_AT_SERVER_HOME": str(home)}
    subprocess.run(["bash", "scripts/fhir-test-server.sh", "stop"], cwd=ROOT, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bundles(n: int, tag: str) -> list[dict]:
    from fhir_at import api

    seed = json.loads((ROOT / "examples" / "duchenne-mobility.json").read_text())
    out = []
    for i in range(n):
        a = json.loads(json.dumps(seed))
        suffix = f"-{tag}-{i}"
        a["identifier"]["value"] += suffix
        a["patient"]["identifiers"][0]["value"] += suffix
        a["encounter"]["identifier"]["value"] += suffix
        a["referral"]["identifier"]["value"] += suffix
        out.append(api.convert(a, pdf=False)[0])
    return out


def run(url: str, items: list[dict], workers: int) -> float:
    import requests

    from fhir_at.client.http import FhirClient
    from fhir_at.client.push import push_bundle

    def client():
        s = requests.Session()
        s.trust_env = False
        return FhirClient(url, session=s)

    clients = [client() for _ in range(workers)]
    for c in clients:
        c.capabilities  # noqa: B018 - read once, outside the timing

    def push(i: int):
        report = push_bundle(clients[i % workers], items[i], update_create=True)
        assert report.ok

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(push, range(len(items))))
    return len(items) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    home = ROOT / ".fhir-test-server" / "bench-push"
    url = start_server(home)
    try:
        print(f"SEKMET at 127.0.0.1, {args.count} assessments of 38 resources per run")
        print(f"{'workers':>8} {'new: assessments/s':>20} {'re-push: assessments/s':>24}")
        for w in args.workers:
            items = bundles(args.count, f"w{w}-{int(time.time())}")
            first = run(url, items, w)
            again = run(url, items, w)
            print(f"{w:>8} {first:>20.1f} {again:>24.1f}")
    finally:
        stop_server(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
