"""The local Hub's HTTP layer: everything the route modules share that is about HTTP rather than about repositories.

- Refusals: :data:`ERROR_STATUS` maps each domain error of :mod:`hubrl.server.errors` to a status and, where the
  huggingface_hub client maps one to an exception type, an ``X-Error-Code``; :func:`refused` (a Starlette exception
  handler) answers JSON ``{"error": ...}`` with ``X-Error-Message`` (or the page of a page route).
  :class:`CatchUnexpected` logs anything else once and answers 500 without details.
- Request bodies: :func:`body_pieces` reads a body asynchronously, counting the bytes actually received against
  the size limit, with one deadline for the whole body (not per byte), so a body sent a byte a minute costs a
  waiting coroutine and a socket until its deadline, never a worker thread.
- Request parts: strict path parameters (routes match the still percent-encoded path, see
  :class:`EncodedPathRouting`, so an encoded ``/`` in a revision or file path stays inside its segment), query
  flags, the base URL the client used, a single byte ``Range`` (RFC 9110, ASCII digits only).
- Answers: JSON, pagination ``Link: <...>; rel="next"`` headers, the pages' security headers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlencode

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hubrl.server.errors import (
    AlreadyExists,
    BodyTimeout,
    ClientGone,
    EntryNotFound,
    HubServerError,
    InvalidRequest,
    MethodNotAllowed,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    QuotaExceeded,
    RepoNotFound,
    RevisionNotFound,
    StaleParent,
    TooLarge,
)

logger = logging.getLogger("hubrl.server")

MODEL_API = "/api/models/{namespace}/{name}"
"""The prefix of a model repository's API routes."""
MAX_JSON_BODY = 16 << 20
"""Largest JSON request body (create, preupload, paths-info, ...) read into memory; commits stream instead."""
PAGE_HEADERS = {
    # Pages run no script at all; a card's HTML is sanitised on top of this (see hubrl.server.render).
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_HOST_RE = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?", re.ASCII)
_RANGE_SPEC = re.compile(r"[ \t]*([0-9]{0,18})-([0-9]{0,18})[ \t]*", re.ASCII)


class BadRange(HubServerError):
    """A ``Range`` header that is malformed or starts past the end of the file."""

    def __init__(self, message: str, *, size: int):
        super().__init__(message)
        self.size = size


ERROR_STATUS: dict[type[HubServerError], tuple[int, str | None]] = {
    InvalidRequest: (400, None),
    ClientGone: (400, None),
    NotAuthenticated: (401, None),
    NotAllowed: (403, None),
    QuotaExceeded: (403, None),
    NotFound: (404, None),
    RepoNotFound: (404, "RepoNotFound"),
    RevisionNotFound: (404, "RevisionNotFound"),
    EntryNotFound: (404, "EntryNotFound"),
    MethodNotAllowed: (405, None),
    BodyTimeout: (408, None),
    AlreadyExists: (409, None),
    StaleParent: (412, None),
    TooLarge: (413, None),
    BadRange: (416, None),
}
"""Status and ``X-Error-Code`` of each refusal (the client maps the code, not the status, to its exceptions)."""


def status_of(err: HubServerError) -> tuple[int, str | None]:
    """The status and error code of ``err``: its own class's, else its nearest base class's."""
    for cls in type(err).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]  # type: ignore[index]
    return 400, None


def json_response(obj: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return Response(body, status, headers, media_type="application/json; charset=utf-8")


def _header_safe(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\r", " ").replace("\n", " ")[:500]


def error_response(err: HubServerError) -> Response:
    status, code = status_of(err)
    message = str(err)
    headers = {"X-Error-Message": _header_safe(message)}
    if code:
        headers["X-Error-Code"] = code
    if err.commit_id:
        headers["X-Repo-Commit"] = err.commit_id
    if isinstance(err, BadRange):
        headers["Content-Range"] = f"bytes */{err.size}"
    return json_response({**err.details, "error": message}, status, headers)


def _page_renderer(scope: Scope):
    """The error page of the route that answered, when it is a page (its endpoint has an ``error_page``)."""
    return getattr(scope.get("endpoint"), "error_page", None)


async def refused(request: Request, exc: Exception) -> Response:
    """Exception handler for every refusal: the only place where one becomes an HTTP answer."""
    if isinstance(exc, ClientDisconnect):
        exc = ClientGone("The client closed the connection before sending the whole body.")
    elif isinstance(exc, HTTPException):  # from Starlette's router: no route, or not with this method
        if exc.status_code == 405:
            exc = MethodNotAllowed(f"Method {request.method} not allowed here.")
        else:
            exc = NotFound(f"No route for {request.method} {request.url.path[:200]}")
    assert isinstance(exc, HubServerError)
    render = _page_renderer(request.scope)
    if render is not None:
        status, _ = status_of(exc)
        page = await run_in_threadpool(render, status, str(exc))
        return HTMLResponse(page, status, headers=PAGE_HEADERS)
    return error_response(exc)


EXCEPTION_HANDLERS = {HubServerError: refused, HTTPException: refused, ClientDisconnect: refused}


class CatchUnexpected:
    """ASGI middleware: an exception no handler expected is logged once (with its traceback) and answered 500
    without details; after the answer has started, the connection is dropped."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            logger.exception("Internal error on %s %s", scope.get("method"), str(scope.get("path", ""))[:200])
            if started:
                return
            if _page_renderer(scope) is not None:
                response: Response = PlainTextResponse("Internal server error.", 500, headers=PAGE_HEADERS)
            else:
                message = "Internal server error."
                response = json_response({"error": message}, 500, {"X-Error-Message": message})
            await response(scope, receive, send)


class EncodedPathRouting:
    """ASGI middleware: route on ``raw_path`` (percent-encoded) instead of the decoded ``path``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("raw_path"):
            scope = {**scope, "path": scope["raw_path"].decode("latin-1"), "root_path": ""}
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------------------ request parts
def path_param(request: Request, name: str) -> str:
    """A path parameter, percent-decoded once, strictly (InvalidRequest for bytes that are not UTF-8)."""
    try:
        return unquote(request.path_params[name], errors="strict")
    except UnicodeDecodeError:
        raise InvalidRequest("The URL is not valid UTF-8.") from None


def repo_param(request: Request) -> str:
    """``namespace/name`` from the route's two path parameters."""
    return f"{path_param(request, 'namespace')}/{path_param(request, 'name')}"


def flag(request: Request, name: str) -> bool:
    return (request.query_params.get(name) or "").lower() in ("1", "true", "yes")


def base_url(request: Request) -> str:
    """Where the client reached us: URLs in answers must use that host or the client rejects them."""
    host = request.headers.get("host", "")
    if not _HOST_RE.fullmatch(host):
        address, port = request.scope.get("server") or ("127.0.0.1", 0)
        host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    scheme = request.scope.get("scheme", "http")
    return f"{scheme if scheme in ('http', 'https') else 'http'}://{host}"


def next_page(request: Request, path: str, cursor: str, **params: str) -> dict[str, str]:
    """The ``Link`` header to the page after this one: this request's query with ``cursor`` (and ``params``) set."""
    replaced = {"cursor", *params}
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in replaced]
    query += [("cursor", cursor), *params.items()]
    return {"Link": f'<{base_url(request)}{path}?{urlencode(query)}>; rel="next"'}


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) for a single ``bytes=a-b`` range (RFC 9110, section 14.1.2).

    None (the whole file) without a Range header, for another unit, for several ranges (which a server may ignore)
    and for an empty file. BadRange (416) for a malformed range (positions are at most 18 ASCII digits) and for one
    that starts past the end of the file.
    """
    if header is None:
        return None
    unit, _, ranges = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs = [_RANGE_SPEC.fullmatch(spec) for spec in ranges.split(",")]
    if not all(m and (m.group(1) or m.group(2)) for m in specs):
        raise BadRange(f"Malformed Range header {header[:80]!r}: expected bytes=FIRST-LAST.", size=size)
    if len(specs) > 1 or size == 0:
        return None
    first, last = specs[0].group(1), specs[0].group(2)  # type: ignore[union-attr]
    if not first:
        start, end = size - min(int(last), size), size
        if int(last) == 0:
            raise BadRange(f"Range {header[:80]!r} asks for no bytes.", size=size)
    else:
        start, end = int(first), (int(last) + 1 if last else size)
        if end <= start:
            raise BadRange(f"Malformed Range header {header[:80]!r}: the last byte is before the first.", size=size)
        if start >= size:
            raise BadRange(f"Range {header[:80]!r} starts past the end of the file ({size} bytes).", size=size)
    return start, min(end, size)


# ------------------------------------------------------------------------------------------ request bodies
async def body_pieces(
    request: Request, *, timeout: float, limit: int | None = None, piece: int = 1 << 20
) -> AsyncIterator[bytes]:
    """The request body as it arrives, in pieces of at least ``piece`` bytes (the last one may be shorter).

    ``limit`` (at most the server's ``max_body_bytes``) counts the bytes actually received: TooLarge past it, at
    once when ``Content-Length`` announces more. BodyTimeout when the whole body has not arrived ``timeout`` seconds
    after the reading began; ClientGone when the client closes the connection first.
    """
    server_limit = request.app.state.hub.max_body_bytes
    limit = server_limit if limit is None else min(limit, server_limit)
    too_large = f"Request body larger than the server's limit of {limit} bytes."
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and len(declared) < 20:
        if int(declared) > limit:
            raise TooLarge(too_large)
    deadline = anyio.current_time() + timeout
    stream = request.stream()
    pending: list[bytes] = []
    pending_size = received = 0
    try:
        while True:
            try:
                with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
                    chunk = await stream.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise BodyTimeout(f"The request body did not arrive whole within {timeout:g} s.") from None
            received += len(chunk)
            if received > limit:
                raise TooLarge(too_large)
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= piece:
                yield b"".join(pending)
                pending, pending_size = [], 0
    finally:
        await stream.aclose()
    if pending_size:
        yield b"".join(pending)


async def read_body(request: Request, *, limit: int = MAX_JSON_BODY) -> bytes:
    """The whole (small) body: at most ``limit`` bytes, arrived within the server's ``body_timeout``."""
    timeout = request.app.state.hub.limits.body_timeout
    return b"".join([part async for part in body_pieces(request, timeout=timeout, limit=limit)])


def _parse_json_object(data: bytes) -> dict:
    try:
        obj = json.loads(data or b"{}")
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(obj, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return obj


async def read_json(request: Request, *, limit: int = MAX_JSON_BODY) -> dict:
    """The body (at most ``limit`` bytes) as a JSON object (InvalidRequest otherwise), parsed in a worker thread."""
    return await run_in_threadpool(_parse_json_object, await read_body(request, limit=limit))
