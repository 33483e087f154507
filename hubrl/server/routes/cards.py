"""``POST /api/validate-yaml``: the client's check of a README's metadata before it commits one (always JSON).

Anyone may ask, so each question is bounded: the front matter to :data:`ANONYMOUS_FRONT_MATTER_BYTES` without a
valid token (the client sends this check without one when it pushes a card: a course card's metadata is about 1 KiB),
the whole body to :data:`ANONYMOUS_BODY_BYTES`, and at most :data:`PARALLEL_VALIDATIONS` parses run at once (the
others wait as coroutines, holding no worker thread).
"""

from __future__ import annotations

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubrl.server.access import Caller
from hubrl.server.cards import MAX_FRONT_MATTER_BYTES, validation_errors
from hubrl.server.errors import InvalidRequest
from hubrl.server.web import MAX_JSON_BODY, json_response, read_json

ANONYMOUS_FRONT_MATTER_BYTES = 32 << 10
"""Largest front matter an anonymous caller may have validated (a token holder: the full
:data:`~hubrl.card.MAX_FRONT_MATTER_BYTES`)."""
ANONYMOUS_BODY_BYTES = 1 << 20
"""Largest anonymous request body (the whole README, JSON-encoded)."""
PARALLEL_VALIDATIONS = 2
"""Front matters parsed at once; a flood of validations queues instead of taking every worker thread."""
_validations: anyio.CapacityLimiter | None = None


def _limiter() -> anyio.CapacityLimiter:
    global _validations
    if _validations is None:  # made on the event loop, at the first validation
        _validations = anyio.CapacityLimiter(PARALLEL_VALIDATIONS)
    return _validations


async def validate_yaml(request: Request) -> Response:
    anonymous = await run_in_threadpool(Caller.of(request).user) is None
    try:
        body = await read_json(request, limit=ANONYMOUS_BODY_BYTES if anonymous else MAX_JSON_BODY)
        content = body.get("content", "")
    except InvalidRequest as err:
        return json_response({"errors": [{"message": str(err)}], "warnings": []}, status=400)
    max_bytes = ANONYMOUS_FRONT_MATTER_BYTES if anonymous else MAX_FRONT_MATTER_BYTES
    errors = await anyio.to_thread.run_sync(
        lambda: validation_errors(content if isinstance(content, str) else "", max_bytes=max_bytes),
        limiter=_limiter())
    if errors:
        return json_response({"errors": [{"message": e} for e in errors], "warnings": []}, status=400)
    return json_response({"errors": [], "warnings": []})


routes = [Route("/api/validate-yaml", validate_yaml, methods=["POST"])]
