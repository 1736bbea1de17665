"""A small HTTP proxy with a programmable fault plan, in front of a real server (for tests).

::

    with FaultProxy(fhir_server_url) as proxy:
        proxy.plan(["429:1", "503", "reset", "pass"])
        client = FhirClient(proxy.url, ...)

``proxy.url`` is the upstream URL with the proxy's origin (same path). Each request received takes
the next fault of the plan (``pass`` once the plan is used up):

============================  =================================================================
``pass``                      forward and relay the answer
``NNN`` / ``NNN:S``           answer status NNN (an OperationOutcome) without forwarding; with
                              ``:S``, a ``Retry-After: S`` header
``reset``                     close the connection without forwarding or answering (TCP reset)
``slow:S``                    wait S seconds, then forward
``forward-then-reset``        forward (the server acts on it), then close the connection without
                              relaying the answer: the client cannot know whether it happened
============================  =================================================================

Only URLs are rewritten: the upstream origin (``http://127.0.0.1:<server port>``) becomes the
proxy's in answer bodies and in ``Location``/``Content-Location`` headers (SEKMET writes its own
base URL into them; without the rewrite a client pointed at the proxy would see links to another
server and refuse them), and the other way round in request bodies. Headers, including ``Host``,
pass unchanged; hop-by-hop headers are dropped. ``received`` counts requests that reached the
proxy, ``forwarded`` those sent on to the server; ``log`` lists ``(method, path, fault)``.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["FaultProxy"]

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "content-length"}
_URL_HEADERS = {"location", "content-location"}


class FaultProxy:
    def __init__(self, upstream: str, *, timeout: float = 60.0):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"FaultProxy forwards to plain http servers only, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._host, self._port = parts.hostname, parts.port or 80
        self._upstream_origin = f"{parts.scheme}://{parts.netloc}".encode()
        self._path = parts.path.rstrip("/")
        self.timeout = timeout
        self._plan: list[str] = []
        self._lock = threading.Lock()
        self.received = 0
        self.forwarded = 0
        self.log: list[tuple[str, str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------- lifecycle
    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The upstream URL, through the proxy."""
        return self.origin + self._path

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---------------------------------------------------------------------------------- plan
    def plan(self, faults: list[str]) -> "FaultProxy":
        """Replaces the fault plan and resets the counters."""
        for f in faults:
            _parse(f)  # fail early on a typo
        with self._lock:
            self._plan = list(faults)
            self.received = self.forwarded = 0
            self.log = []
        return self

    def _next(self, method: str, path: str) -> str:
        with self._lock:
            fault = self._plan.pop(0) if self._plan else "pass"
            self.received += 1
            self.log.append((method, path, fault))
            return fault

    # ------------------------------------------------------------------------------- forward
    def _forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes):
        body = body.replace(self.origin.encode(), self._upstream_origin) if body else body
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            send = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
            conn.putrequest(method, path, skip_host=any(k.lower() == "host" for k, _ in send),
                            skip_accept_encoding=True)
            for k, v in send:
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders(body)
            with self._lock:
                self.forwarded += 1
            r = conn.getresponse()
            data = r.read()
            return r.status, r.reason, r.getheaders(), data
        finally:
            conn.close()

    def _rewrite(self, value: bytes) -> bytes:
        return value.replace(self._upstream_origin, self.origin.encode())


def _parse(fault: str) -> tuple[str, float | None]:
    kind, _, arg = fault.partition(":")
    if kind in ("pass", "reset", "forward-then-reset") and not arg:
        return kind, None
    if kind == "slow" and arg:
        return kind, float(arg)
    if kind.isdigit() and len(kind) == 3:
        return kind, (float(arg) if arg else None)
    raise ValueError(f"unknown fault {fault!r}")


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - quiet
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            kind, arg = _parse(proxy._next(self.command, self.path))
            if kind == "reset":
                return self._reset()
            if kind.isdigit():
                return self._answer_status(int(kind), arg)
            if kind == "slow":
                time.sleep(arg)
            try:
                status, reason, headers, data = proxy._forward(self.command, self.path, list(self.headers.items()),
                                                               body)
            except OSError as exc:
                return self._send(502, "Bad Gateway", [("Content-Type", "text/plain")],
                                  f"fault proxy: upstream failed: {exc}".encode())
            if kind == "forward-then-reset":
                return self._reset()
            out = [(k, proxy._rewrite(v.encode("latin-1")).decode("latin-1") if k.lower() in _URL_HEADERS else v)
                   for k, v in headers if k.lower() not in _HOP_BY_HOP]
            self._send(status, reason, out, proxy._rewrite(data) if self.command != "HEAD" else b"")

        def _answer_status(self, status: int, retry_after: float | None) -> None:
            oo = {"resourceType": "OperationOutcome",
                  "issue": [{"severity": "error", "code": "transient", "diagnostics": f"fault proxy: {status}"}]}
            headers = [("Content-Type", "application/fhir+json")]
            if retry_after is not None:
                headers.append(("Retry-After", f"{retry_after:g}"))
            self._send(status, None, headers, json.dumps(oo).encode())

        def _send(self, status: int, reason: str | None, headers, data: bytes) -> None:
            self.send_response(status, reason)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _reset(self) -> None:
            """Close at once with a TCP reset (SO_LINGER 0), nothing answered."""
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    return Handler
