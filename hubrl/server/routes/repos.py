"""Repositories: create, delete, visibility, branches and refs (``/api/repos/*``, ``/api/models/{repo}/...``)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubrl.server.access import Caller
from hubrl.server.errors import AlreadyExists, InvalidRequest
from hubrl.server.naming import check_name, check_namespace
from hubrl.server.web import MODEL_API, base_url, json_response, path_param, read_json, repo_param



async def _named_repo(request: Request) -> tuple[dict, str]:
    """The JSON body of create/delete and the repo id it names, once the token may write there."""
    caller = Caller.of(request)
    user = await run_in_threadpool(caller.authenticated)  # before reading the body
    data = await read_json(request)
    namespace = data.get("organization") or user
    await run_in_threadpool(caller.writer, check_namespace(namespace))
    repo_id = f"{namespace}/{check_name(data.get('name'), 'repo name')}"
    repo_type = data.get("type") or "model"
    if repo_type != "model":
        raise InvalidRequest(f"Only model repositories are supported by this local Hub (got type {repo_type!r}).")
    return data, repo_id


def _visibility(data: dict) -> str | None:
    """``private``, ``public`` or None (unchanged) from a body's ``visibility`` or ``private`` field."""
    visibility = data.get("visibility")
    if visibility is None and "private" in data:
        visibility = "private" if data["private"] else "public"
    if visibility not in (None, "private", "public"):
        raise InvalidRequest(f"Unsupported visibility {visibility!r}: use 'public' or 'private'.")
    return visibility


async def create_repo(request: Request) -> Response:
    data, repo_id = await _named_repo(request)
    private = _visibility(data) == "private"
    url = f"{base_url(request)}/{repo_id}"
    try:
        await run_in_threadpool(request.app.state.hub.storage.create_repo, repo_id, private=private)
    except AlreadyExists as err:
        err.details["url"] = url  # create_repo(exist_ok=True) reads it from the 409 answer
        raise
    return json_response({"url": url, "name": repo_id, "id": repo_id})


async def delete_repo(request: Request) -> Response:
    _, repo_id = await _named_repo(request)
    await run_in_threadpool(request.app.state.hub.storage.delete_repo, repo_id)
    return json_response({})


async def update_settings(request: Request) -> Response:
    repo_id = repo_param(request)
    await run_in_threadpool(Caller.of(request).owned, repo_id)
    data = await read_json(request)
    if data.get("gated") not in (None, False):
        raise InvalidRequest("Gated repositories are not supported by this local Hub.")
    visibility = _visibility(data)
    if visibility is not None:
        await run_in_threadpool(request.app.state.hub.storage.set_private, repo_id, visibility == "private")
    return json_response({})


async def create_branch(request: Request) -> Response:
    repo_id, branch = repo_param(request), path_param(request, "rev")
    await run_in_threadpool(Caller.of(request).owned, repo_id)
    starting_point = (await read_json(request)).get("startingPoint") or "main"
    await run_in_threadpool(request.app.state.hub.storage.create_branch, repo_id, branch, str(starting_point))
    return json_response({})


async def delete_branch(request: Request) -> Response:
    repo_id, branch = repo_param(request), path_param(request, "rev")
    await run_in_threadpool(Caller.of(request).owned, repo_id)
    await run_in_threadpool(request.app.state.hub.storage.delete_branch, repo_id, branch)
    return json_response({})


async def list_refs(request: Request) -> Response:
    caller, repo_id = Caller.of(request), repo_param(request)

    def branches() -> dict[str, str]:
        caller.visible(repo_id)
        return caller.state.storage.branches(repo_id)

    heads = await run_in_threadpool(branches)
    return json_response(
        {
            "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": c} for n, c in sorted(heads.items())],
            "converts": [],
            "tags": [],
            "pullRequests": [],
        }
    )


routes = [
    Route("/api/repos/create", create_repo, methods=["POST"]),
    Route("/api/repos/delete", delete_repo, methods=["DELETE"]),
    Route(MODEL_API + "/settings", update_settings, methods=["PUT"]),
    Route(MODEL_API + "/branch/{rev:path}", create_branch, methods=["POST"]),
    Route(MODEL_API + "/branch/{rev:path}", delete_branch, methods=["DELETE"]),
    Route(MODEL_API + "/refs", list_refs, methods=["GET"]),
]
