"""``POST /api/validate-yaml``: the client's check of a README's metadata before it commits one (always JSON)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubrl.server.cards import validation_errors
from hubrl.server.errors import InvalidRequest
from hubrl.server.web import json_response, read_json


async def validate_yaml(request: Request) -> Response:
    try:
        content = (await read_json(request)).get("content", "")
    except InvalidRequest as err:
        return json_response({"errors": [{"message": str(err)}], "warnings": []}, status=400)
    errors = await run_in_threadpool(validation_errors, content if isinstance(content, str) else "")
    if errors:
        return json_response({"errors": [{"message": e} for e in errors], "warnings": []}, status=400)
    return json_response({"errors": [], "warnings": []})


routes = [Route("/api/validate-yaml", validate_yaml, methods=["POST"])]
