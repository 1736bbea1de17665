"""An outbox worker for the kill test: ``python -m tests.outbox_worker SERVER WORKER_ID``.

Runs :meth:`Outbox.run` on ``$FHIR_AT_OUTBOX`` with a ``deliver`` that pushes the Bundle to SERVER
and then, once the server has answered and before the outbox records the delivery, prints
``answered <item id>`` and sleeps ``$OUTBOX_WORKER_PAUSE`` seconds (the window the test kills it
in). The lease is ``$OUTBOX_WORKER_LEASE`` seconds. Prints the run's summary as JSON at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time

import requests

from fhir_at.client.http import FhirClient
from fhir_at.client.outbox import Outbox


def main(server: str, worker_id: str) -> int:
    pause = float(os.environ.get("OUTBOX_WORKER_PAUSE", "0"))
    lease = float(os.environ.get("OUTBOX_WORKER_LEASE", "300"))
    session = requests.Session()
    session.trust_env = False  # loopback server: never through a proxy from the environment
    client = FhirClient(server, session=session)
    try:
        from fhir_at.client.push import push_bundle
    except ImportError:  # pragma: no cover - before push.py existed
        push_bundle = None

    def deliver(item):
        report = push_bundle(client, item.bundle) if push_bundle else client.transaction(item.bundle)
        print(f"answered {item.id}", flush=True)
        time.sleep(pause)
        return report

    summary = Outbox().run(deliver, worker_id=worker_id, server=server, lease_seconds=lease, tries=1,
                           patience=0.0)
    print(json.dumps({"delivered": summary.delivered, "failed": summary.failed,
                      "remaining": summary.remaining}), flush=True)
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
