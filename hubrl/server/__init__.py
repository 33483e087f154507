"""A local, persistent, Hugging Face Hub-compatible server: the unmodified ``huggingface_hub`` client works against it.

Point the client at it with ``HF_ENDPOINT=http://127.0.0.1:PORT`` (set before importing huggingface_hub) or
``HfApi(endpoint=...)``, and pass a token made with :func:`create_token` (``hubrl hub token USER``).

What it implements (model repositories; ``{repo}`` is ``namespace/name``, ``{rev}`` a branch or a 40-hex commit id):

==============================================  ==========================================================
``GET  /api/whoami-v2``                         whoami
``POST /api/repos/create``                      create_repo (initial commit with ``.gitattributes``; 409 if it exists)
``DELETE /api/repos/delete``                    delete_repo
``PUT  /api/models/{repo}/settings``            update_repo_settings (visibility public/private only)
``POST /api/validate-yaml``                     README metadata check (always answers JSON)
``GET  /api/models``                            list_models: repeated ``filter`` (AND over tags), ``author``,
                                                ``search`` (substring of the id), ``sort`` (lastModified, createdAt,
                                                id, ...; descending unless ``direction=1``; id ascending without
                                                ``sort``), ``limit``, ``full``, ``cardData``, ``expand``;
                                                ``Link: <...>; rel="next"`` pagination with a ``cursor``
``GET  /api/models/{repo}[/revision/{rev}]``    model_info / repo_info / repo_exists (``blobs=true`` adds sizes;
                                                ``hubrlVerification``: the Hub's own verdict on the commit)
``GET  /api/models/{repo}/tree/{rev}[/{path}]`` list_repo_tree / list_repo_files (``recursive``; paginated)
``POST /api/models/{repo}/paths-info/{rev}``    get_paths_info
``GET  /api/models/{repo}/commits/{rev}``       list_repo_commits (newest first; paginated)
``GET  /api/models/{repo}/refs``                list_repo_refs (branches only)
``POST|DELETE /api/models/{repo}/branch/{b}``   create_branch (``startingPoint``) / delete_branch
``POST /api/models/{repo}/preupload/{rev}``     always ``uploadMode: regular``, ``shouldIgnore: false``, stored git oid
``POST /api/models/{repo}/commit/{rev}``        ndjson commits: header, file, deletedFile, deletedFolder;
                                                a stale ``parentCommit`` is refused with 412
``HEAD|GET /{repo}/resolve/{rev}/{path}``       downloads: ``X-Repo-Commit``, quoted git-sha1 ``ETag``, byte ranges
                                                (206/416, for seeking in a replay)
``GET  /api/models/{repo}?expand=evalResults``  model_info(expand=["evalResults"]): the ``.eval_results`` entries
``GET  /api/datasets/{ds}/leaderboard``         get_dataset_leaderboard: the env's ranked models (``rank()``'s order)
``GET  /api/datasets/{ds}[/revision/{rev}]``    dataset_info of a benchmark dataset (``hubrl/<env>``, read-only,
                                                created on demand with its ``eval.yaml``); also ``/tree/{rev}``
                                                and ``HEAD|GET /datasets/{ds}/resolve/{rev}/{path}``
==============================================  ==========================================================

Errors carry the ``X-Error-Code`` header the client maps to its exceptions (RepoNotFound, RevisionNotFound,
EntryNotFound), an ``X-Error-Message`` and a JSON ``{"error": ...}`` body.

Untrusted connections are bounded: every request head has a deadline and connections waiting for one are capped
(:mod:`~hubrl.server.connections`); every request body has a total deadline and a size limit counted in bytes
received, and is read asynchronously (a stalled body never holds a worker thread). ``certfile``/``keyfile`` serve
HTTPS.

Per-user quotas (:class:`~hubrl.server.quotas.Quotas`: storage, repositories, files per repository) are checked at
``preupload``, as a commit arrives and when it is made, each refusal a 403 naming the limit and what to do. Deleting
frees space at once (a deleted file with its earlier versions, a branch, a repository);
:func:`~hubrl.server.serving.collect_garbage` (``hubrl hub gc``) removes whatever else no commit reaches, beside a
running server.

Deliberately not implemented: LFS and Xet uploads (every file is a regular blob, so a file's size is bounded only
by ``max_body_bytes``, 1 GiB by default), pull requests and discussions, tags,
organisations, dataset repositories other than the benchmarks and Space repositories (their routes answer
RepoNotFound), gated repos, likes and download counters, ``lastCommit`` details in tree listings, several servers on
one data directory (a second one is refused: the directory is locked while served).

Pages, at the same URLs, for people: ``/`` (models, by env tag and name), ``/{namespace}/{name}`` (card, replay,
curve, metric, files), ``/leaderboard/{env_id}``, ``/progress/{user}`` (Unit 4 "Check my progress"). The first
path segments ``leaderboard``, ``progress``, ``api``, ``models``, ``datasets``, ``spaces`` and ``settings`` are
reserved: no user or repository namespace may take them.

Modules: :mod:`~hubrl.server.naming` (validation), :mod:`~hubrl.server.errors` (what the server refuses),
:mod:`~hubrl.server.storage` (repos, commits, blobs on disk), :mod:`~hubrl.server.auth` (users, hashed tokens),
:mod:`~hubrl.server.classroom` (tokens for a roster), :mod:`~hubrl.server.cards` (cardData and derived tags),
:mod:`~hubrl.server.uploads` (streamed commit bodies), :mod:`~hubrl.server.quotas` (per-user limits),
:mod:`~hubrl.server.cache` (what a commit determines),
:mod:`~hubrl.server.state` (one server's storage, tokens and limits), :mod:`~hubrl.server.access` (who may do
what), :mod:`~hubrl.server.web` (the HTTP layer: refusals to statuses, bodies, ranges, links),
:mod:`~hubrl.server.routes` (one module per resource), :mod:`~hubrl.server.render` (safe card HTML),
:mod:`~hubrl.server.pages` (the pages), :mod:`~hubrl.server.plots` (the model page's training curves, SVG),
:mod:`~hubrl.server.benchmarks` (benchmark datasets, their leaderboards, models' evaluation results),
:mod:`~hubrl.server.app` (the Starlette application),
:mod:`~hubrl.server.connections` (header deadlines, descriptor limit), :mod:`~hubrl.server.serving` (uvicorn:
LocalHub, serve), :mod:`~hubrl.server.claims` (what a commit claims, read once), :mod:`~hubrl.server.verifier`
(the Hub's own check of every claimed score, in a bounded child, verdicts stored by commit).
"""

from hubrl.server.auth import create_token
from hubrl.server.classroom import create_class_tokens
from hubrl.server.quotas import Quotas
from hubrl.server.serving import LocalHub, collect_garbage, default_data_dir, serve
from hubrl.server.state import DEFAULT_MAX_BODY_BYTES, ConnectionLimits
from hubrl.server.verifier import VerifierOptions

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ConnectionLimits", "LocalHub", "Quotas", "VerifierOptions", "collect_garbage",
           "create_class_tokens", "create_token", "default_data_dir", "serve"]
