"""Benchmark datasets (read-only, created on demand): ``dataset_info``, their trees and files, and their leaderboard
(``GET /api/datasets/{repo}/leaderboard``). :mod:`hubrl.server.benchmarks` does the work; any other dataset route,
writes included, answers RepoNotFound as before."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hubrl.server.access import Caller
from hubrl.server.benchmarks import dataset_json, ensure_benchmark, leaderboard
from hubrl.server.routes.files import list_tree, serve_file
from hubrl.server.web import base_url, json_response, path_param, repo_param

DATASET_API = "/api/datasets/{namespace}/{name}"


def _benchmark(request: Request):
    """The visibility check of a dataset route: the benchmark exists (now) or RepoNotFound."""
    state = request.app.state.hub
    return lambda repo_id: ensure_benchmark(state, repo_id)


async def dataset_info(request: Request) -> Response:
    state, repo_id = request.app.state.hub, repo_param(request)
    revision = path_param(request, "rev") if "rev" in request.path_params else "main"

    def info() -> dict:
        meta = ensure_benchmark(state, repo_id)
        return dataset_json(state, meta, state.datasets.resolve(repo_id, revision))

    return json_response(await run_in_threadpool(info))


async def dataset_leaderboard(request: Request) -> Response:
    """``base_model`` (whether to keep only models without a base model) is accepted: no model here declares one."""
    token, repo_id = Caller.of(request).token, repo_param(request)
    rows = await run_in_threadpool(leaderboard, request.app.state.hub, repo_id, token=token,
                                   base_url=base_url(request))
    return json_response(rows)


async def tree(request: Request) -> Response:
    return await list_tree(request, request.app.state.hub.datasets, _benchmark(request), "/api/datasets")


async def download(request: Request) -> Response:
    return await serve_file(request, request.app.state.hub.datasets, _benchmark(request))


routes = [
    Route(DATASET_API, dataset_info, methods=["GET"]),
    Route(DATASET_API + "/revision/{rev:path}", dataset_info, methods=["GET"]),
    Route(DATASET_API + "/leaderboard", dataset_leaderboard, methods=["GET"]),
    Route(DATASET_API + "/tree/{rev}", tree, methods=["GET"]),
    Route(DATASET_API + "/tree/{rev}/{path:path}", tree, methods=["GET"]),
    Route("/datasets/{namespace}/{name}/resolve/{rev}/{path:path}", download, methods=["GET"]),
]
