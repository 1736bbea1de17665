"""One FHIR REST client: every request goes through :meth:`FhirClient._request`.

- ``application/fhir+json``; timeouts on connect and read;
- retries with exponential backoff and full jitter on 429/502/503/504 and on connection errors and
  timeouts, honouring ``Retry-After`` (seconds or HTTP date), bounded in attempts and delay;
- redirects are never followed to another origin, and URLs outside the base (paging links,
  ``Location``) are refused: a token never leaves the server it was meant for;
- a 401 makes an auth with an ``invalidate()`` method (``SmartBackendAuth``) drop its token, and the
  request is retried once with a new one;
- an error status raises the exception of :func:`fhir_at.errors.for_status`, carrying the server's
  OperationOutcome as issues;
- nothing about the request body or query (which may hold PHI) is logged: method, path, status.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterator
from urllib.parse import urljoin, urlsplit

import requests

from ..errors import HttpStatusError, TransportError, for_status
from ..issues import Issue, Outcome, Source

__all__ = ["RetryPolicy", "Capabilities", "FhirClient", "FHIR_JSON"]

FHIR_JSON = "application/fhir+json"
log = logging.getLogger("fhir_at.client")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5                 # tries in all, the first included
    backoff: float = 0.5              # seconds; the n-th retry waits up to backoff * 2**n (full jitter)
    max_delay: float = 30.0           # no single wait is longer (Retry-After included)
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def delay(self, retry: int, retry_after: str | None, rng: Callable[[], float] = random.random) -> float:
        if retry_after:
            wait = _retry_after_seconds(retry_after)
            if wait is not None:
                return min(max(wait, 0.0), self.max_delay)
        return min(self.max_delay, self.backoff * (2 ** retry) * rng())


def _retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


@dataclass(frozen=True)
class Capabilities:
    """What a server's CapabilityStatement says, as far as pushing and pulling need it."""

    fhir_version: str
    interactions: frozenset[str]                      # system level: transaction, batch, …
    search_params: dict[str, frozenset[str]] = field(default_factory=dict)
    update_create: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, cs: dict) -> "Capabilities":
        interactions, params, update_create = set(), {}, {}
        for rest in cs.get("rest") or []:
            if rest.get("mode", "server") != "server":
                continue
            interactions |= {i.get("code") for i in rest.get("interaction") or []}
            for r in rest.get("resource") or []:
                params[r.get("type")] = frozenset(p.get("name") for p in r.get("searchParam") or [])
                update_create[r.get("type")] = bool(r.get("updateCreate"))
        return cls(cs.get("fhirVersion", ""), frozenset(interactions), params, update_create)

    @property
    def is_r4(self) -> bool:
        return self.fhir_version.startswith("4.0")

    @property
    def transaction(self) -> bool:
        return "transaction" in self.interactions

    @property
    def batch(self) -> bool:
        return "batch" in self.interactions

    def searchable_by_identifier(self, rtype: str) -> bool:
        return "identifier" in self.search_params.get(rtype, ())


class FhirClient:
    """A FHIR R4 server at ``base_url`` (e.g. ``https://ehr.example/fhir``)."""

    def __init__(self, base_url: str, *, auth: requests.auth.AuthBase | None = None,
                 session: requests.Session | None = None, timeout: tuple[float, float] = (10.0, 60.0),
                 retry: RetryPolicy = RetryPolicy(), sleep: Callable[[float], None] = time.sleep):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            from ..errors import ConfigError

            raise ConfigError(f"server URL {base_url!r} is not an absolute http(s) URL")
        self.base = base_url.rstrip("/")
        self._origin = (parts.scheme, parts.netloc.lower())
        self._base_path = parts.path.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", "fhir-at")
        self.auth = auth
        self.timeout = timeout
        self.retry = retry
        self.sleep = sleep

    # ----------------------------------------------------------------------------------- URLs
    def url(self, ref: str) -> str:
        """An absolute URL for ``ref`` (relative to the base, or absolute on the same server)."""
        if urlsplit(ref).scheme:
            absolute = ref
        else:  # "" is the base itself (transaction, batch): POST [base], no trailing slash
            absolute = f"{self.base}/{ref.lstrip('/')}" if ref.strip("/") else self.base
        parts = urlsplit(absolute)
        if (parts.scheme, parts.netloc.lower()) != self._origin or \
                not (parts.path == self._base_path or parts.path.startswith(self._base_path + "/")):
            raise TransportError(f"refused: {_without_query(absolute)} is outside the server {self.base}")
        return absolute

    # -------------------------------------------------------------------------------- funnel
    def _request(self, method: str, ref: str, *, body: Any = None, params: dict | None = None,
                 headers: dict | None = None) -> requests.Response:
        url = self.url(ref)
        hdrs = {"Accept": FHIR_JSON}
        if body is not None:
            hdrs["Content-Type"] = FHIR_JSON
        hdrs.update(headers or {})
        data = None
        if body is not None:
            import orjson

            data = orjson.dumps(body)
        reauthorised = False
        for attempt in range(self.retry.attempts):
            started = time.monotonic()
            try:
                response = self.session.request(method, url, params=params, data=data, headers=hdrs,
                                                auth=self.auth, timeout=self.timeout, allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt + 1 >= self.retry.attempts:
                    raise TransportError(f"{method} {_without_query(url)}: {_reason(exc)} "
                                         f"(after {attempt + 1} attempts)") from None
                self._wait(attempt, None, method, url, _reason(exc))
                continue
            log.debug("%s %s -> %s in %.3fs", method, urlsplit(url).path, response.status_code,
                      time.monotonic() - started)
            if 300 <= response.status_code < 400:
                location = response.headers.get("Location", "")
                target = urljoin(url, location)
                try:
                    self.url(target)
                except TransportError:
                    raise TransportError(f"{method} {_without_query(url)}: redirect to "
                                         f"{_without_query(target)} refused (another server)") from None
                raise TransportError(f"{method} {_without_query(url)}: unexpected redirect "
                                     f"({response.status_code}) to {_without_query(target)}")
            if response.status_code == 401 and not reauthorised and attempt + 1 < self.retry.attempts \
                    and callable(getattr(self.auth, "invalidate", None)):
                reauthorised = True  # an expired or revoked token: get a new one, once
                self.auth.invalidate()
                log.info("%s %s: 401, retrying once with a new token", method, urlsplit(url).path)
                continue
            if response.status_code in self.retry.statuses and attempt + 1 < self.retry.attempts:
                self._wait(attempt, response.headers.get("Retry-After"), method, url, str(response.status_code))
                continue
            if response.status_code >= 400:
                raise self._error(method, url, response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, retry_after: str | None, method: str, url: str, why: str) -> None:
        delay = self.retry.delay(attempt, retry_after)
        log.info("%s %s: %s, retry %d in %.2fs", method, urlsplit(url).path, why, attempt + 1, delay)
        self.sleep(delay)

    def _error(self, method: str, url: str, response: requests.Response) -> HttpStatusError:
        issues: tuple[Issue, ...] = ()
        text = ""
        ctype = response.headers.get("Content-Type", "")
        if "json" in ctype:
            try:
                doc = response.json()
            except ValueError:
                doc = None
            if isinstance(doc, dict) and doc.get("resourceType") == "OperationOutcome":
                issues = Outcome.from_operation_outcome(doc, Source.CLIENT).issues
        if not issues:
            kind = "an HTML page" if "html" in ctype else (ctype or "no content type")
            text = f"; the server answered {kind}, not a FHIR OperationOutcome"
        first = f": {issues[0].message}" if issues else ""
        cls = for_status(response.status_code)
        return cls(f"{method} {_without_query(url)} failed: {response.status_code} {response.reason}{first}{text}",
                   response.status_code, url, issues, response.text[:2000] if not issues else "")

    # ------------------------------------------------------------------------------ FHIR API
    def get(self, ref: str, params: dict | None = None) -> dict:
        return self._json(self._request("GET", ref, params=params), "GET", ref)

    def post(self, ref: str, body: dict, headers: dict | None = None) -> tuple[int, dict | None, dict]:
        r = self._request("POST", ref, body=body, headers=headers)
        return r.status_code, (self._json(r, "POST", ref) if r.content else None), dict(r.headers)

    def put(self, ref: str, body: dict, headers: dict | None = None) -> tuple[int, dict | None, dict]:
        r = self._request("PUT", ref, body=body, headers=headers)
        return r.status_code, (self._json(r, "PUT", ref) if r.content else None), dict(r.headers)

    def transaction(self, bundle: dict) -> dict:
        """POSTs a transaction or batch Bundle to the base; the response Bundle."""
        status, doc, _ = self.post("", bundle)
        if not doc or doc.get("resourceType") != "Bundle":
            raise TransportError(f"POST {self.base}: the server answered {status} without a response Bundle")
        return doc

    @cached_property
    def capabilities(self) -> Capabilities:
        return Capabilities.of(self.get("metadata"))

    def iter_pages(self, ref: str, params: dict | None = None) -> Iterator[dict]:
        """Every page of a search, following ``next`` links (absolute or relative) on this server."""
        page = self.get(ref, params)
        seen = set()
        while True:
            yield page
            nxt = next((l.get("url") for l in page.get("link") or [] if l.get("relation") == "next"), None)
            if not nxt:
                return
            url = self.url(nxt)  # refuses another host
            if url in seen:
                raise TransportError(f"the server's next link repeats a page ({_without_query(url)})")
            seen.add(url)
            page = self.get(url)

    @staticmethod
    def _json(response: requests.Response, method: str, ref: str) -> dict:
        try:
            doc = response.json()
        except ValueError:
            ctype = response.headers.get("Content-Type", "no content type")
            raise TransportError(f"{method} {_without_query(ref)}: the server answered {response.status_code} "
                                 f"with {ctype}, not FHIR JSON") from None
        if not isinstance(doc, dict):
            raise TransportError(f"{method} {_without_query(ref)}: the server's answer is not a FHIR resource")
        return doc


def _without_query(url: str) -> str:
    """A URL for messages: no query string (it may hold identifiers, i.e. PHI)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path


def _reason(exc: Exception) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "reset" in text.lower():
        return "connection reset"
    return "connection failed"
