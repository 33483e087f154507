"""Files of a revision: trees, paths-info and downloads (``/{repo}/resolve/{rev}/{path}``, with byte ranges).

:func:`list_tree` and :func:`serve_file` take the storage and the visibility check, so the benchmark datasets'
routes (:mod:`~hubrl.server.routes.datasets`) serve their files the same way."""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qs, quote

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hubrl.server.access import Caller
from hubrl.server.errors import EntryNotFound, InvalidRequest, RepoNotFound
from hubrl.server.naming import check_path
from hubrl.server.cache import per_commit
from hubrl.server.storage import DELETED_CONTENT, Commit, FileEntry, Storage
from hubrl.server.web import (
    MODEL_API,
    byte_range,
    flag,
    json_response,
    next_page,
    path_param,
    read_body,
    read_json,
    repo_param,
)

MEDIA_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "png": "image/png", "jpg": "image/jpeg",
               "jpeg": "image/jpeg", "gif": "image/gif"}
"""Types a browser may show inline (the pages' replays and curves); anything else, HTML and SVG included, is
served as ``application/octet-stream`` with ``nosniff``, so a file in a repo never runs as a page."""


@per_commit(200_000, weigh=len)
def _entries(storage: Storage, repo_id: str, commit: Commit, path: str, recursive: bool) -> list[dict]:
    """Tree entries (files and folders) under ``path`` ("" = root), sorted by path; computed once per commit, so
    each page of a long listing costs its own entries, not the whole tree's."""
    prefix = f"{path}/" if path else ""
    trees = storage.tree_oids(repo_id, commit)
    files: dict[str, dict] = {}
    folders: set[str] = set()
    for p, e in commit.files.items():
        if not p.startswith(prefix):
            continue
        parts = p[len(prefix) :].split("/")
        if recursive or len(parts) == 1:
            files[p] = {"type": "file", "oid": e.oid, "size": e.size, "path": p}
        for i in range(1, len(parts) if recursive else min(len(parts), 2)):
            folders.add(prefix + "/".join(parts[:i]))
    entries = list(files.values()) + [{"type": "directory", "oid": trees[d], "size": 0, "path": d} for d in folders]
    return sorted(entries, key=lambda e: e["path"])


async def tree(request: Request) -> Response:
    caller = Caller.of(request)
    return await list_tree(request, caller.state.storage, caller.visible, "/api/models")


async def list_tree(request: Request, storage: Storage, visible: Callable[[str], object], api: str) -> Response:
    """One page of a revision's tree in ``storage``, once ``visible(repo_id)`` lets the caller see the repo."""
    repo_id, revision = repo_param(request), path_param(request, "rev")
    path = path_param(request, "path") if "path" in request.path_params else ""

    def listing() -> list[dict]:
        visible(repo_id)
        commit = storage.resolve(repo_id, revision)
        if path:
            check_path(path)
            if path in commit.files or path not in storage.tree_oids(repo_id, commit):
                raise EntryNotFound(f"No folder named '{path}' at revision {revision}.", commit_id=commit.id)
        return _entries(storage, repo_id, commit, path, flag(request, "recursive"))

    entries = await run_in_threadpool(listing)
    cursor = request.query_params.get("cursor")
    start = bisect.bisect_right(entries, cursor, key=lambda e: e["path"]) if cursor is not None else 0
    page = entries[start : start + request.app.state.hub.page_size]
    headers = None
    if len(entries) > start + len(page):
        where = quote(revision, safe="") + (f"/{quote(path)}" if path else "")
        headers = next_page(request, f"{api}/{repo_id}/tree/{where}", page[-1]["path"])
    return json_response(page, headers=headers)


async def paths_info(request: Request) -> Response:
    caller, repo_id, revision = Caller.of(request), repo_param(request), path_param(request, "rev")

    def head() -> Commit:
        caller.visible(repo_id)
        return caller.state.storage.resolve(repo_id, revision)

    commit = await run_in_threadpool(head)
    if request.headers.get("content-type", "").startswith("application/json"):
        paths = (await read_json(request)).get("paths", [])
    else:
        paths = parse_qs((await read_body(request)).decode("utf-8", "replace")).get("paths", [])

    def info() -> list[dict]:
        trees = caller.state.storage.tree_oids(repo_id, commit)
        out = []
        for p in paths if isinstance(paths, list) else [paths]:
            p = check_path(str(p).rstrip("/"))
            if p in commit.files:
                e = commit.files[p]
                out.append({"type": "file", "oid": e.oid, "size": e.size, "path": p})
            elif p in trees:
                out.append({"type": "directory", "oid": trees[p], "size": 0, "path": p})
        return out

    return json_response(await run_in_threadpool(info))


async def download(request: Request) -> Response:
    caller = Caller.of(request)
    return await serve_file(request, caller.state.storage, caller.visible)


async def serve_file(request: Request, storage: Storage, visible: Callable[[str], object]) -> Response:
    """A file of a revision in ``storage`` (HEAD, GET, byte ranges), once ``visible(repo_id)`` lets the caller see
    the repo."""
    repo_id, revision = repo_param(request), path_param(request, "rev")
    path = path_param(request, "path")

    def file_at() -> tuple[Commit, FileEntry]:
        visible(repo_id)
        commit = storage.resolve(repo_id, revision)
        try:
            check_path(path)
        except InvalidRequest as err:
            raise InvalidRequest(str(err), commit_id=commit.id) from None
        entry = commit.files.get(path)
        if entry is None:
            raise EntryNotFound(f"Entry not found: {path} at revision {revision}.", commit_id=commit.id)
        if not storage.has_blob(repo_id, entry.oid):
            raise EntryNotFound(f"{path} at revision {revision}: {DELETED_CONTENT}", commit_id=commit.id)
        return commit, entry

    commit, entry = await run_in_threadpool(file_at)
    headers = {
        "Content-Type": MEDIA_TYPES.get(path.rsplit(".", 1)[-1].lower(), "application/octet-stream"),
        "X-Content-Type-Options": "nosniff",
        "ETag": f'"{entry.oid}"',
        "X-Repo-Commit": commit.id,
        "Accept-Ranges": "bytes",
    }
    span = byte_range(request.headers.get("range"), entry.size)
    start, end = span or (0, entry.size)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(b"", status, headers)
    blob = anyio.wrap_file(await run_in_threadpool(storage.open_blob, repo_id, entry.oid))

    async def content() -> AsyncIterator[bytes]:
        try:
            await blob.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = await blob.read(min(remaining, 1 << 20))
                if not chunk:
                    break  # the stored blob is shorter than its recorded size: the connection will be dropped
                remaining -= len(chunk)
                yield chunk
        finally:
            await blob.aclose()

    return StreamingResponse(content(), status, headers)


async def no_repo_name(request: Request) -> Response:
    raise RepoNotFound("Repository ids are 'namespace/name' on this local Hub.")


routes = [
    Route(MODEL_API + "/tree/{rev}", tree, methods=["GET"]),
    Route(MODEL_API + "/tree/{rev}/{path:path}", tree, methods=["GET"]),
    Route(MODEL_API + "/paths-info/{rev:path}", paths_info, methods=["POST"]),
    Route("/{namespace}/{name}/resolve/{rev}/{path:path}", download, methods=["GET"]),
    Route("/{namespace}/resolve/{rest:path}", no_repo_name, methods=["GET"]),
]
