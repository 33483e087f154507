"""The pages' routes (``/``, ``/leaderboard[/{env_id}]``, ``/progress/{user}``, ``/{namespace}/{name}``): each renders
a function of :mod:`hubrl.server.pages` in a worker thread (pages read repositories and cards from disk)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from hubrl.server import pages
from hubrl.server.access import Caller
from hubrl.server.web import PAGE_HEADERS, base_url, path_param


def _page(render: Callable[..., str], *names: str) -> Callable:
    """An endpoint rendering ``render(state, page request, *path parameters named names)``; its refusals are
    answered as the error page (``error_page``, read by :func:`hubrl.server.web.refused`), not as JSON."""

    async def endpoint(request: Request) -> Response:
        info = pages.PageRequest(dict(request.query_params), Caller.of(request).token, base_url(request))
        params = [path_param(request, n) for n in names]
        html = await run_in_threadpool(render, request.app.state.hub, info, *params)
        return HTMLResponse(html, headers=PAGE_HEADERS)

    endpoint.error_page = pages.error_page  # type: ignore[attr-defined]
    return endpoint


routes = [
    Route("/", _page(pages.index_page), methods=["GET"]),
    Route("/leaderboard", _page(pages.leaderboards_page), methods=["GET"]),
    Route("/leaderboard/{env_id:path}", _page(pages.leaderboard_page, "env_id"), methods=["GET"]),
    Route("/progress/{user}", _page(pages.progress_page, "user"), methods=["GET"]),
    Route("/{namespace}/{name}", _page(pages.model_page, "namespace", "name"), methods=["GET"]),
]
