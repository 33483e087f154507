"""The local Hub's HTTP side, on Starlette: the Hub API routes the huggingface_hub client calls, and the pages.

Starlette routes; uvicorn (see :mod:`hubrl.server.serving`) speaks HTTP/1.1, including chunked request bodies.
Routes match the still percent-encoded path, so that an encoded ``/`` (a revision such as ``refs%2Fpr%2F1``, a
file path) stays inside its segment; each parameter is decoded once, strictly, by :func:`_params`.

Request bodies are never read here. Each API call runs :class:`~hubrl.server.app.HubApp` in a worker thread with
a :class:`_StreamedBody` that pulls the body from the connection only when the handler asks for it, i.e. after the
handler has checked the token, the namespace and the repository: an unauthorised upload is answered before it is
received (uvicorn discards the rest). The size limit counts bytes actually received, and a ``Content-Length``
above it is refused at once. Errors are JSON ``{"error": ...}`` with ``X-Error-Message`` (and ``X-Error-Code``
where the client maps one); anything unexpected is logged and answered 500 without details.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from urllib.parse import parse_qs, unquote

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest
from starlette.responses import HTMLResponse, Response as StarletteResponse, StreamingResponse
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hubrl.server.app import HubApp, Request, Response
from hubrl.server.errors import BadRequest, HubServerError, NotFound, PayloadTooLarge, RepoNotFound

logger = logging.getLogger("hubrl.server")

_HOST_RE = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?", re.ASCII)
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
PAGE_HEADERS = {
    # Pages run no script at all; a card's HTML is sanitised on top of this (see hubrl.server.render).
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


BODY_STALL_SECONDS = 120.0
"""A request body that sends nothing for this long is dropped (408): a stalled upload must not hold a worker."""


class _ClientGone(HubServerError):
    status = 400


class _BodyStalled(HubServerError):
    status = 408


class _StreamedBody:
    """The request body for a handler in a worker thread: each :meth:`read_chunk` receives the next piece from
    the event loop, counting bytes against ``limit`` (PayloadTooLarge past it)."""

    def __init__(self, receive: Receive, limit: int):
        self._receive = receive
        self._limit = limit
        self.received = 0
        self._done = False

    def read_chunk(self) -> bytes:
        while not self._done:
            message = anyio.from_thread.run(self._next_message)
            if message["type"] == "http.disconnect":
                self._done = True
                raise _ClientGone("The client closed the connection before sending the whole body.")
            self._done = not message.get("more_body", False)
            chunk = message.get("body", b"")
            self.received += len(chunk)
            if self.received > self._limit:
                self._done = True
                raise PayloadTooLarge(f"Request body larger than the server's limit of {self._limit} bytes.")
            if chunk:
                return chunk
        return b""


    async def _next_message(self) -> dict:
        try:
            with anyio.fail_after(BODY_STALL_SECONDS):
                return await self._receive()
        except TimeoutError:
            self._done = True
            raise _BodyStalled(f"The request body sent nothing for {BODY_STALL_SECONDS:.0f} s.") from None


class EncodedPathRouting:
    """ASGI middleware: route on ``raw_path`` (percent-encoded) instead of the decoded ``path``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("raw_path"):
            scope = {**scope, "path": scope["raw_path"].decode("latin-1"), "root_path": ""}
        await self.app(scope, receive, send)


def _params(request: StarletteRequest) -> dict[str, str]:
    try:
        return {k: unquote(v, errors="strict") for k, v in request.path_params.items()}
    except UnicodeDecodeError:
        raise BadRequest("The URL is not valid UTF-8.") from None


def base_url(request: StarletteRequest, fallback_host: str) -> str:
    """Where the client reached us: URLs in answers must use that host or the client rejects them."""
    proto = request.headers.get("x-forwarded-proto", "http").lower()
    host = request.headers.get("host", "")
    if not _HOST_RE.fullmatch(host):
        host = fallback_host
    return f"{proto if proto in ('http', 'https') else 'http'}://{host}"


def _token(request: StarletteRequest) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def _error_response(err: HubServerError, head: bool = False) -> StarletteResponse:
    return _to_starlette(Response.error(err), head=head)


def _to_starlette(response: Response, *, head: bool) -> StarletteResponse:
    headers = dict(response.headers)
    if response.stream is None:
        if head:
            headers["Content-Length"] = str(response.length if not response.body else len(response.body))
            return StarletteResponse(b"", response.status, headers)
        return StarletteResponse(response.body, response.status, headers)
    headers["Content-Length"] = str(response.length)
    stream = response.stream

    async def chunks():
        try:
            remaining = response.length
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(stream.read, min(remaining, 1 << 20))
                if not chunk:
                    break  # the stored blob is shorter than its recorded size: the connection will be dropped
                remaining -= len(chunk)
                yield chunk
        finally:
            stream.close()

    return StreamingResponse(chunks(), response.status, headers)


def create_app(hub: HubApp, *, max_body_bytes: int, display_host: Callable[[], str]) -> ASGIApp:
    """The ASGI application serving ``hub`` (API and pages)."""
    import hubrl.server.pages as pages

    def api(handler: Callable[..., Response], *names: str, defaults: tuple = ()) -> Callable:
        """An endpoint calling ``handler(request, *path params named ``names``, *defaults)`` in a worker thread."""

        async def endpoint(request: StarletteRequest) -> StarletteResponse:
            head = request.method == "HEAD"
            try:
                params = _params(request)
                declared = request.headers.get("content-length")
                if declared is not None:
                    if not declared.isdigit():
                        raise BadRequest("Invalid Content-Length header.")
                    if int(declared) > max_body_bytes:
                        raise PayloadTooLarge(f"Request body larger than the server's limit of {max_body_bytes} bytes.")
                req = Request(
                    method=request.method,
                    path=request.url.path,
                    query=parse_qs(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True),
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=_StreamedBody(request.receive, max_body_bytes),
                    base_url=base_url(request, display_host()),
                    token=_token(request),
                )
                args = [params[n] for n in names] + list(defaults)
                if len(names) >= 2 and names[:2] == ("namespace", "name"):
                    args = [f"{args[0]}/{args[1]}", *args[2:]]
                response = await run_in_threadpool(handler, req, *args)
            except HubServerError as err:
                return _error_response(err, head)
            except Exception:
                logger.exception("Internal error on %s %s", request.method, request.url.path[:200])
                return _error_response(HubServerError("Internal server error.", status=500), head)
            return _to_starlette(response, head=head)

        return endpoint

    def refuse(err: Callable[[], HubServerError]) -> Callable:
        async def endpoint(request: StarletteRequest) -> StarletteResponse:
            return _error_response(err(), request.method == "HEAD")

        return endpoint

    def page(render: Callable[..., str], *names: str) -> Callable:
        async def endpoint(request: StarletteRequest) -> StarletteResponse:
            try:
                params = _params(request)
                info = pages.PageRequest(dict(request.query_params), _token(request), base_url(request, display_host()))
                html = await run_in_threadpool(render, hub, info, *[params[n] for n in names])
                return HTMLResponse(html, headers=PAGE_HEADERS)
            except HubServerError as err:
                html = await run_in_threadpool(pages.error_page, err)
                return HTMLResponse(html, err.status, headers=PAGE_HEADERS)
            except Exception:
                logger.exception("Internal error on page %s", request.url.path[:200])
                return HTMLResponse("Internal server error.", 500, headers=PAGE_HEADERS)

        return endpoint

    async def api_not_found(request: StarletteRequest) -> StarletteResponse:
        """404 for an unknown API path; 405 where the path is known but not the method."""
        if any(route.matches(request.scope)[0] == Match.PARTIAL for route in routes):
            err = HubServerError(f"Method {request.method} not allowed here.", status=405)
        else:
            err = NotFound(f"No route for {request.method} {request.url.path[:200]}")
        return _error_response(err, request.method == "HEAD")

    repo = "/api/models/{namespace}/{name}"
    r = ("namespace", "name")
    routes = [
        Route("/api/whoami-v2", api(hub.whoami), methods=["GET"]),
        Route("/api/repos/create", api(hub.create_repo), methods=["POST"]),
        Route("/api/repos/delete", api(hub.delete_repo), methods=["DELETE"]),
        Route("/api/validate-yaml", api(hub.validate_yaml), methods=["POST"]),
        Route("/api/models", api(hub.list_models), methods=["GET"]),
        Route(repo, api(hub.model_info, *r, defaults=("main",)), methods=["GET"]),
        Route(repo + "/revision/{rev:path}", api(hub.model_info, *r, "rev"), methods=["GET"]),
        Route(repo + "/tree/{rev}", api(hub.tree, *r, "rev", defaults=("",)), methods=["GET"]),
        Route(repo + "/tree/{rev}/{path:path}", api(hub.tree, *r, "rev", "path"), methods=["GET"]),
        Route(repo + "/commits/{rev:path}", api(hub.list_commits, *r, "rev"), methods=["GET"]),
        Route(repo + "/preupload/{rev:path}", api(hub.preupload, *r, "rev"), methods=["POST"]),
        Route(repo + "/commit/{rev:path}", api(hub.commit, *r, "rev"), methods=["POST"]),
        Route(repo + "/paths-info/{rev:path}", api(hub.paths_info, *r, "rev"), methods=["POST"]),
        Route(repo + "/refs", api(hub.list_refs, *r, defaults=("main",)), methods=["GET"]),
        Route(repo + "/settings", api(hub.update_settings, *r, defaults=("main",)), methods=["PUT"]),
        Route(repo + "/branch/{rev:path}", api(hub.create_branch, *r, "rev"), methods=["POST"]),
        Route(repo + "/branch/{rev:path}", api(hub.delete_branch, *r, "rev"), methods=["DELETE"]),
        Route("/api/models/{namespace}", refuse(lambda: RepoNotFound("Repository ids are 'namespace/name'.")),
              methods=_ALL_METHODS),
        Route("/api/datasets/{rest:path}", refuse(_models_only), methods=_ALL_METHODS),
        Route("/api/spaces/{rest:path}", refuse(_models_only), methods=_ALL_METHODS),
        Route("/api/{rest:path}", api_not_found, methods=_ALL_METHODS),
        Route("/datasets/{rest:path}", refuse(_models_only), methods=_ALL_METHODS),
        Route("/spaces/{rest:path}", refuse(_models_only), methods=_ALL_METHODS),
        Route("/{namespace}/{name}/resolve/{rev}/{path:path}", api(hub.resolve, *r, "rev", "path"), methods=["GET"]),
        Route("/{namespace}/resolve/{rest:path}",
              refuse(lambda: RepoNotFound("Repository ids are 'namespace/name' on this local Hub.")),
              methods=["GET"]),
        # pages
        Route("/", page(pages.index_page), methods=["GET"]),
        Route("/leaderboard", page(pages.leaderboards_page), methods=["GET"]),
        Route("/leaderboard/{env_id:path}", page(pages.leaderboard_page, "env_id"), methods=["GET"]),
        Route("/progress/{user}", page(pages.progress_page, "user"), methods=["GET"]),
        Route("/{namespace}/{name}", page(pages.model_page, "namespace", "name"), methods=["GET"]),
    ]

    async def http_error(request: StarletteRequest, exc: Exception) -> StarletteResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            err = HubServerError(f"Method {request.method} not allowed here.", status=405)
        elif exc.status_code == 404:
            err = NotFound(f"No route for {request.method} {request.url.path[:200]}")
        else:
            err = HubServerError(exc.detail or "Bad request.", status=exc.status_code)
        return _error_response(err, request.method == "HEAD")

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        # 40 worker threads by default; a classroom pushing at once would queue beyond that, so allow more.
        anyio.to_thread.current_default_thread_limiter().total_tokens = 128
        yield

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    app.router.redirect_slashes = False
    return EncodedPathRouting(app)


def _models_only() -> HubServerError:
    return RepoNotFound("This local Hub only hosts model repositories.")

