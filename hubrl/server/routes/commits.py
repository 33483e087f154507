"""Commits: ``preupload``, the ndjson ``commit`` itself (streamed to disk as it arrives) and the history."""

from __future__ import annotations

import html
from contextlib import aclosing
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubrl.server.access import Caller
from hubrl.server.errors import InvalidRequest
from hubrl.server.naming import check_path, check_repo_id
from hubrl.server.storage import Commit
from hubrl.server.uploads import CommitPayload, check_preupload
from hubrl.server.web import (
    MODEL_API,
    base_url,
    body_pieces,
    flag,
    json_response,
    next_page,
    path_param,
    read_json,
    repo_param,
)


def _no_pull_requests(request: Request) -> None:
    if flag(request, "create_pr"):
        raise InvalidRequest("Pull requests are not supported by this local Hub: commit to a branch instead.")


async def preupload(request: Request) -> Response:
    _no_pull_requests(request)
    caller, repo_id, revision = Caller.of(request), repo_param(request), path_param(request, "rev")

    def head() -> Commit:
        caller.owned(repo_id)
        return caller.state.storage.resolve(repo_id, revision)

    commit = await run_in_threadpool(head)
    files = (await read_json(request)).get("files")
    if not isinstance(files, list):
        raise InvalidRequest("Expected a JSON body {'files': [{'path', 'sample', 'size'}, ...]}.")
    out = []
    for f in files:
        path = check_path(f.get("path") if isinstance(f, dict) else None)
        existing = commit.files.get(path)
        out.append({"path": path, "uploadMode": "regular", "shouldIgnore": False,
                    "oid": existing.oid if existing else None})
    await run_in_threadpool(check_preupload, caller.state, repo_id, files, commit)
    return json_response({"files": out})


async def commit(request: Request) -> Response:
    """The body is read as it arrives and handed, a MiB at a time, to :class:`CommitPayload` in a worker thread,
    which decodes and stages the files on disk: memory stays flat whatever the size of the commit."""
    _no_pull_requests(request)
    caller, repo_id, revision = Caller.of(request), repo_param(request), path_param(request, "rev")
    state = caller.state

    def author() -> str:
        user = caller.writer(check_repo_id(repo_id)[0])  # 401/403 before a byte of the body is read
        state.storage.get_repo(repo_id)
        state.storage.resolve(repo_id, revision)
        return user

    user = await run_in_threadpool(author)
    payload = CommitPayload(state.storage, repo_id, revision)
    try:
        async with aclosing(body_pieces(request, timeout=state.limits.upload_timeout)) as pieces:
            async for piece in pieces:
                await run_in_threadpool(payload.feed, piece)
        done = await run_in_threadpool(payload.commit, repo_id, revision, author=user)
    finally:
        payload.close()
    if state.verifier is not None:
        state.verifier.submit(repo_id, done.id)  # the Hub checks a claimed score itself (hubrl.server.verifier)
    return json_response(
        {
            "success": True,
            "commitOid": done.id,
            "commitUrl": f"{base_url(request)}/{repo_id}/commit/{done.id}",
            "commitMessage": done.title,
            "hookOutput": "",
            "pullRequestUrl": None,
        }
    )


async def list_commits(request: Request) -> Response:
    caller, repo_id, revision = Caller.of(request), repo_param(request), path_param(request, "rev")
    expand = request.query_params.getlist("expand[]") + request.query_params.getlist("expand")
    formatted = "formatted" in expand

    def history() -> tuple[list[dict], str | None]:
        caller.visible(repo_id)
        head = caller.state.storage.resolve(repo_id, revision)
        page: list[dict] = []
        for c in caller.state.storage.history(repo_id, request.query_params.get("cursor") or head.id):
            if len(page) == caller.state.page_size:
                return page, c.id
            item = {"id": c.id, "title": c.title, "message": c.message, "authors": [{"user": c.author}],
                    "date": c.date}
            if formatted:
                item["formatted"] = {"title": html.escape(c.title), "message": html.escape(c.message)}
            page.append(item)
        return page, None

    page, next_id = await run_in_threadpool(history)
    headers = None
    if next_id is not None:
        headers = next_page(request, f"/api/models/{repo_id}/commits/{quote(revision, safe='')}", next_id)
    return json_response(page, headers=headers)


routes = [
    Route(MODEL_API + "/preupload/{rev:path}", preupload, methods=["POST"]),
    Route(MODEL_API + "/commit/{rev:path}", commit, methods=["POST"]),
    Route(MODEL_API + "/commits/{rev:path}", list_commits, methods=["GET"]),
]
