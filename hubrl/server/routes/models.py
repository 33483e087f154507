"""Model info and listing: ``GET /api/models/{repo}[/revision/{rev}]`` and ``GET /api/models``
(``expand=evalResults`` adds the ``.eval_results`` entries, see :mod:`hubrl.server.benchmarks`).

Full entries carry ``hubrlVerification``, the Hub's own verdict on the commit (:mod:`hubrl.server.verifier`), when
there is one; ``hubrl leaderboard`` reads "verified" from it and from nothing a repo holds."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubrl.server.access import Caller
from hubrl.server.benchmarks import eval_results_json
from hubrl.server.errors import HubServerError, InvalidRequest, RepoNotFound
from hubrl.server.state import ServerState
from hubrl.server.storage import Commit, RepoMeta
from hubrl.server.verifier import verification_for
from hubrl.server.web import MODEL_API, flag, json_response, next_page, path_param, repo_param

_MODEL_SORTS = {
    "lastModified": "lastModified",
    "last_modified": "lastModified",
    "createdAt": "createdAt",
    "created_at": "createdAt",
    "id": "id",
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trendingScore",
    "trending_score": "trendingScore",
}


def _model_json(state: ServerState, meta: RepoMeta, commit: Commit, *, full: bool, card: bool,
                blobs: bool = False, siblings: bool = True, eval_results: bool = False) -> dict:
    info = state.card(meta.id, commit)
    item: dict = {
        "_id": hashlib.sha1(f"{meta.id}@{meta.created_at}".encode()).hexdigest()[:24],
        "id": meta.id,
        "modelId": meta.id,
        "likes": 0,
        "downloads": 0,
        "trendingScore": 0,
        "private": meta.private,
        "tags": info.tags,
        "pipeline_tag": info.pipeline_tag,
        "library_name": info.library_name,
        "createdAt": meta.created_at,
    }
    if full:
        item.update(
            author=meta.namespace,
            sha=commit.id,
            lastModified=commit.date,
            gated=False,
            disabled=False,
        )
        if siblings:  # every file name: left out when ``expand`` does not ask for them (a repo may hold many)
            item["siblings"] = [{"rfilename": p, **({"size": e.size, "blobId": e.oid} if blobs else {})}
                                for p, e in sorted(commit.files.items())]
    if full:
        verification = verification_for(state, meta.id, commit.id)
        if verification is not None:  # the Hub's own check (never something the repo says)
            item["hubrlVerification"] = verification.to_json()
    if card and info.card_data is not None:
        item["cardData"] = info.card_data
    if card and info.model_index is not None:
        item["model-index"] = info.model_index
    if eval_results:  # read only when asked for, as the Hub does: expand=evalResults
        item["evalResults"] = eval_results_json(state, meta, commit)
    return item


def _expand(item: dict, expand: list[str]) -> dict:
    """Keep only the ``expand`` properties (plus the ids), as the Hub does when ``expand`` is given."""
    if not expand:
        return item
    keep = set(expand) | {"id", "_id"}
    return {k: v for k, v in item.items() if k in keep}


async def model_info(request: Request) -> Response:
    caller, repo_id = Caller.of(request), repo_param(request)
    revision = path_param(request, "rev") if "rev" in request.path_params else "main"

    expand = request.query_params.getlist("expand")

    def info() -> dict:
        meta = caller.visible(repo_id)
        commit = caller.state.storage.resolve(repo_id, revision)
        item = _model_json(caller.state, meta, commit, full=True, card=True, blobs=flag(request, "blobs"),
                           siblings=not expand or "siblings" in expand, eval_results="evalResults" in expand)
        item.update(spaces=[], usedStorage=sum(e.size for e in commit.files.values()))
        return item

    return json_response(_expand(await run_in_threadpool(info), expand))


def _positive_int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise InvalidRequest(f"'{name}' must be a positive integer.")
    return number


def _encode_cursor(key: tuple) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, key_type: type) -> tuple:
    """The (sort key, repo id) a cursor of :func:`_encode_cursor` holds; its sort key must compare with
    ``key_type`` (a crafted cursor such as ``[1, "x"]`` on a sort by id is refused, not compared)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(key, list) and len(key) == 2 and isinstance(key[1], str)):
            raise ValueError
        if type(key[0]) is not key_type:
            raise ValueError
        return tuple(key)
    except (ValueError, binascii.Error, RecursionError):
        raise InvalidRequest("Invalid pagination cursor: pass back the one from the Link header.") from None


def _listing(caller: Caller, request: Request) -> tuple[list[dict], dict[str, str] | None]:
    """One page of ``list_models`` and, when more follow, the query parameters of the next page."""
    state, query = caller.state, request.query_params
    user = caller.user()
    filters = [f for f in query.getlist("filter") if f]
    author, search = query.get("author"), (query.get("search") or "").lower()
    sort_arg = query.get("sort")
    if sort_arg is not None and sort_arg not in _MODEL_SORTS:
        raise InvalidRequest(f"Unknown sort {sort_arg!r}: use one of {sorted(set(_MODEL_SORTS.values()))}.")
    sort = _MODEL_SORTS.get(sort_arg or "id", "id")
    descending = sort_arg is not None and query.get("direction", "-1") != "1"
    limit = _positive_int(query.get("limit"), "limit")
    expand = query.getlist("expand")
    full = flag(request, "full") or bool(filters) or bool(expand)
    card = flag(request, "cardData") or bool(expand)

    rows = []
    for meta in state.storage.iter_repos():
        if meta.private and meta.namespace != user:
            continue
        if (author and meta.namespace != author) or (search and search not in meta.id.lower()):
            continue
        try:
            commit = state.storage.resolve(meta.id, "main")
        except HubServerError:
            continue  # deleted meanwhile
        if filters and not set(filters).issubset(state.card(meta.id, commit).tags):
            continue
        key = {"lastModified": commit.date, "createdAt": meta.created_at, "id": meta.id}.get(sort, 0)
        rows.append(((key, meta.id), meta, commit))
    rows.sort(key=lambda r: r[0], reverse=descending)

    cursor = query.get("cursor")
    if cursor is not None:
        after = _decode_cursor(cursor, str if sort in ("id", "lastModified", "createdAt") else int)
        rows = [r for r in rows if (r[0] < after if descending else r[0] > after)]
    size = min(state.page_size, limit) if limit is not None else state.page_size
    page = rows[:size]
    remaining = None if limit is None else limit - len(page)
    following = None
    if len(rows) > len(page) and remaining != 0:
        following = {"cursor": _encode_cursor(page[-1][0])}
        if remaining is not None:
            following["limit"] = str(remaining)
    return [_expand(_model_json(state, m, c, full=full, card=card, eval_results="evalResults" in expand), expand)
            for _, m, c in page], following


async def list_models(request: Request) -> Response:
    items, following = await run_in_threadpool(_listing, Caller.of(request), request)
    headers = next_page(request, "/api/models", **following) if following else None
    return json_response(items, headers=headers)


async def no_repo_name(request: Request) -> Response:
    raise RepoNotFound("Repository ids are 'namespace/name'.")


routes = [
    Route("/api/models", list_models, methods=["GET"]),
    Route(MODEL_API, model_info, methods=["GET"]),
    Route(MODEL_API + "/revision/{rev:path}", model_info, methods=["GET"]),
    Route("/api/models/{namespace}", no_repo_name, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]),
]
