"""The local Hub as one Starlette application: the route modules assembled in order, refusals mapped in one place.

Order matters only for the catch-alls: the resources' routes first (the benchmark datasets' included), then the
answers for what this Hub does not host (other dataset routes, spaces, unknown API paths), then the pages, whose
``/{namespace}/{name}`` would match anything.
"""

from __future__ import annotations

import contextlib

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp

from hubrl.server.errors import MethodNotAllowed, NotFound, RepoNotFound
from hubrl.server.routes import cards, commits, datasets, files, models, pages, repos, users
from hubrl.server.state import ServerState
from hubrl.server.web import EXCEPTION_HANDLERS, CatchUnexpected, EncodedPathRouting

WORKER_THREADS = 128
"""Starlette's thread pool (40 by default): disk work of a classroom pushing and browsing at once. Request bodies
never hold a thread while they arrive."""
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]


async def _models_only(request: Request) -> Response:
    raise RepoNotFound("This local Hub hosts model repositories, and its own benchmark datasets (read-only).")


def create_app(state: ServerState) -> ASGIApp:
    """The ASGI application serving ``state``'s repositories: the Hub API and the pages."""
    resources: list[BaseRoute] = [*users.routes, *repos.routes, *models.routes, *files.routes, *commits.routes,
                                  *cards.routes, *datasets.routes]

    async def unknown_api(request: Request) -> Response:
        """404 for an unknown API path; 405 where the path is known but not the method."""
        if any(route.matches(request.scope)[0] == Match.PARTIAL for route in resources):
            raise MethodNotAllowed(f"Method {request.method} not allowed here.")
        raise NotFound(f"No route for {request.method} {request.url.path[:200]}")

    elsewhere = [
        Route("/api/datasets/{rest:path}", _models_only, methods=_ALL_METHODS),
        Route("/api/spaces/{rest:path}", _models_only, methods=_ALL_METHODS),
        Route("/api/{rest:path}", unknown_api, methods=_ALL_METHODS),
        Route("/datasets/{rest:path}", _models_only, methods=_ALL_METHODS),
        Route("/spaces/{rest:path}", _models_only, methods=_ALL_METHODS),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        yield

    app = Starlette(
        routes=[*resources, *elsewhere, *pages.routes],
        middleware=[Middleware(CatchUnexpected)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.hub = state
    return EncodedPathRouting(app)
