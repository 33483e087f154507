"""``GET /api/whoami-v2``: the user a token belongs to."""

from __future__ import annotations

import hashlib

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubrl.server.access import Caller
from hubrl.server.web import json_response


async def whoami(request: Request) -> Response:
    user = await run_in_threadpool(Caller.of(request).authenticated)
    return json_response(
        {
            "type": "user",
            "id": hashlib.sha1(user.encode()).hexdigest()[:24],
            "name": user,
            "fullname": user,
            "email": None,
            "emailVerified": False,
            "isPro": False,
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "hubrl-local", "role": "write"}},
        }
    )


routes = [Route("/api/whoami-v2", whoami, methods=["GET"])]
