"""Reading a request's FHIR JSON body: media type, size and depth limits, then parsing.

- ``Content-Type`` must be ``application/fhir+json`` or ``application/json`` (else 415);
- a ``Content-Length`` over the limit is refused before reading (413), and the body is read as a
  stream that stops as soon as it passes the limit (413: chunked bodies too);
- malformed JSON or not UTF-8 → 400; nesting deeper than the limit → 400.
"""

from __future__ import annotations

from fastapi import Request

from ..messages import Msg
from .errors import ServiceError

__all__ = ["MEDIA_TYPES", "read_json", "json_depth", "REQUEST_BODY"]

MEDIA_TYPES = ("application/fhir+json", "application/json")

# The OpenAPI description of a FHIR JSON body (the routes read the body themselves).
REQUEST_BODY = {"requestBody": {"required": True, "content": {
    m: {"schema": {"type": "object", "description": "a FHIR resource or an assessment, as JSON"}}
    for m in MEDIA_TYPES}}}


def json_depth(doc, limit: int) -> int:
    """The nesting depth of a parsed document (a scalar is 0, ``{}`` 1), counting stops past ``limit``."""
    deepest = 0
    stack = [(doc, 1)] if isinstance(doc, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_json(request: Request):
    """The request's body, parsed, within the limits of ``request.app.state.settings``."""
    import orjson

    limits = request.app.state.settings.limits
    if _media_type(request) not in MEDIA_TYPES:
        raise ServiceError(415, Msg.SVC_MEDIA_TYPE,
                           f"send the body as {' or '.join(MEDIA_TYPES)} (Content-Type)")
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ServiceError(400, Msg.SVC_BAD_REQUEST, "the Content-Length header is not a number") from None
        if size > limits.max_body_bytes:
            raise _too_large(limits.max_body_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise _too_large(limits.max_body_bytes)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        raise ServiceError(400, Msg.SVC_BAD_REQUEST, "the request has no body")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # orjson's message gives the position only (never the content)
        text = str(exc)
        if "depth limit" in text or "recursion" in text.lower():
            raise _too_deep(limits.max_json_depth) from None
        raise ServiceError(400, Msg.SVC_BAD_REQUEST, f"the body is not valid JSON: {text[:200]}") from None
    if json_depth(doc, limits.max_json_depth) > limits.max_json_depth:
        raise _too_deep(limits.max_json_depth)
    return doc


def _too_large(limit: int) -> ServiceError:
    return ServiceError(413, Msg.SVC_TOO_LARGE, f"the body is larger than {limit} bytes")


def _too_deep(limit: int) -> ServiceError:
    return ServiceError(400, Msg.SVC_JSON_DEPTH, f"the JSON is nested more than {limit} levels deep")
