"""``POST /$validate`` of a typical assessment bundle under concurrent load, beside the CLI's per-file time.

Run: .venv/bin/python benchmarks/service.py [--seconds 10] [--threads 8] [--workers 1]

- starts ``fhir-at serve`` (uvicorn) in a subprocess on 127.0.0.1, authenticated by an API key
  (its SHA-256 in a temporary configuration);
- from this process, ``--threads`` threads (one ``requests.Session`` each, keep-alive) POST the
  transaction Bundle of the seed example (``api.convert(seed, pdf=False)[0]``) for ``--seconds``
  after a warm-up, and the requests/s and latency percentiles are printed;
- then times ``fhir-at validate`` of the same bundle as a subprocess (start-up included): what a
  caller that shells out per file pays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def start_service(folder: Path, key: str, workers: int) -> tuple[subprocess.Popen, str]:
    config = folder / "service.json"
    config.write_text(json.dumps({"auth": {"api_keys": [{"name": "bench", "sha256": hashlib.sha256(key.encode()).hexdigest(),
                                                         "scopes": ["fhir-at/validate"]}]},
                                  "outbox": {"path": str(folder / "outbox.sqlite")}}))
    port = free_port()
    proc = subprocess.Popen([str(BIN / "fhir-at"), "serve", "--port", str(port), "--config", str(config),
                             "--workers", str(workers), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=open(folder / "service.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the service did not start; see {folder / 'service.log'}")


def load(url: str, key: str, body: bytes, threads: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    headers = {"X-API-Key": key, "Content-Type": "application/fhir+json"}

    def worker() -> None:
        nonlocal errors
        mine, bad = [], 0
        with requests.Session() as s:
            s.trust_env = False
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = s.post(f"{url}/$validate", data=body, headers=headers, timeout=30)
                mine.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    bad += 1
        with lock:
            latencies.extend(mine)
            errors += bad

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return latencies, errors


def cli_time(bundle_path: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([str(BIN / "fhir-at"), "validate", str(bundle_path)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--cli-runs", type=int, default=5)
    args = parser.parse_args()

    from fhir_at import api

    seed = json.loads((ROOT / "examples" / "duchenne-mobility.json").read_text(encoding="utf-8"))
    bundle = api.convert(seed, pdf=False)[0]
    body = json.dumps(bundle).encode()
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="fhir-at-bench-") as tmp:
        folder = Path(tmp)
        (folder / "bundle.json").write_bytes(body)
        proc, url = start_service(folder, key, args.workers)
        try:
            load(url, key, body, args.threads, 1.0)  # warm-up
            started = time.perf_counter()
            latencies, errors = load(url, key, body, args.threads, args.seconds)
            elapsed = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        per_file = cli_time(folder / "bundle.json", args.cli_runs)

    ms = [x * 1000 for x in latencies]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"bundle: {len(bundle['entry'])} entries, {len(body):,} bytes (seed example, pdf=False)")
    print(f"service: POST /$validate, {args.threads} threads, {args.workers} uvicorn worker(s), "
          f"{elapsed:.1f} s, API key auth, loopback")
    print(f"  requests: {len(ms):,} ({errors} not 200)")
    print(f"  throughput: {len(ms) / elapsed:,.1f} requests/s")
    print(f"  latency ms: p50 {percentile(ms, 50):.2f}  p95 {percentile(ms, 95):.2f}  "
          f"p99 {percentile(ms, 99):.2f}  max {max(ms):.2f}")
    print(f"CLI: fhir-at validate of the same bundle, one process per file: {per_file * 1000:.0f} ms "
          f"(median of {args.cli_runs}, start-up included)")


if __name__ == "__main__":
    main()
