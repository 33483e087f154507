"""Benchmark datasets on this Hub: one dataset repo per env, created on demand, and what the Hub answers about them.

:func:`ensure_benchmark` creates ``hubrl/<env>`` (:func:`hubrl.eval_results.benchmark_dataset`) the first time it is
asked for, with the ``eval.yaml`` that states the protocol and a short dataset card, and commits them again if
hubrl's protocol text changed. Dataset repos are the server's own: no route writes them.

:func:`leaderboard` is ``GET /api/datasets/{id}/leaderboard`` (huggingface_hub's ``get_dataset_leaderboard``): the
ranked rows of the env's leaderboard page, in :func:`hubrl.ranking.claims.rank`'s order (the page, ``hubrl
leaderboard`` and this answer rank alike), each with the value the card claims (mean - std, as
:func:`hubrl.card.course_score` states it), the ``.eval_results`` file that names this benchmark (``README.md``,
the model-index, for repos that have none, such as the course notebook's pushes), its notes and source, and
``verified`` only where the claim's state is ``verified``: a check hubrl ran itself, never what a repo says of itself
(a ``verifyToken``, a ``verified: true``, a ``hubrl_verification`` record). :func:`eval_results_json` is the
``evalResults`` of ``model_info(expand=["evalResults"])``: each entry of a repo's ``.eval_results/*.yaml`` as
``{"filename", "verified", "data"}``, a file that does not parse as ``{"filename", "error"}``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

import yaml

from hubrl.card import course_score, read_eval_results
from hubrl.errors import CardError
from hubrl.eval_results import EVAL_RESULTS_DIR, TASK_ID, benchmark_dataset, env_of_benchmark, eval_yaml
from hubrl.server.pages import ModelSummary, model_summary, ranked_models
from hubrl.server.cache import per_commit
from hubrl.server.errors import AlreadyExists, RepoNotFound
from hubrl.server.state import ServerState
from hubrl.server.storage import Commit, RepoMeta, git_blob_oid

MAX_EVAL_RESULTS_FILES = 32
"""The most ``.eval_results/*.yaml`` files of one commit that are read (in path order)."""
MAX_EVAL_RESULTS_BYTES = 256 << 10
"""Largest ``.eval_results`` file read; a larger one is answered as an error entry."""
SERVER_AUTHOR = "hubrl"
"""Who the benchmark datasets' commits name."""

_ready_lock = threading.Lock()
"""Held while a benchmark dataset is checked (a few small reads) and, the first time, created."""


def _dataset_files(env_id: str) -> dict[str, bytes]:
    spec = eval_yaml(env_id)
    card = {"tags": ["benchmark", "reinforcement-learning", env_id], "pretty_name": spec["name"]}
    readme = (f"---\n{yaml.safe_dump(card, sort_keys=False)}---\n\n# {spec['name']}\n\n{spec['description']}\n\n"
              "The protocol is in `eval.yaml`; the leaderboard ranks the models whose cards claim a score on "
              f"{env_id}, best mean - std first.\n")
    return {"eval.yaml": yaml.safe_dump(spec, sort_keys=False, width=100).encode(), "README.md": readme.encode()}


def ensure_benchmark(state: ServerState, dataset_id: str) -> RepoMeta:
    """The benchmark dataset ``dataset_id``, created (or brought up to date) now if needed.

    Raises:
        RepoNotFound: ``dataset_id`` is no env's benchmark dataset (this Hub hosts no other datasets).
    """
    env_id = env_of_benchmark(dataset_id)
    if env_id is None:
        raise RepoNotFound(f"Dataset {dataset_id[:200]} not found: this Hub's datasets are its benchmarks, "
                           f"{', '.join(_known())}.")
    storage = state.datasets
    wanted = _dataset_files(env_id)
    with _ready_lock:  # one creation, one catch-up commit, however many first requests arrive at once
        try:
            meta = storage.get_repo(dataset_id)
        except RepoNotFound:
            try:
                storage.create_repo(dataset_id, private=False)
            except AlreadyExists:
                pass
            meta = storage.get_repo(dataset_id)
        head = storage.resolve(dataset_id, "main")
        stale = {p: data for p, data in wanted.items()
                 if p not in head.files or head.files[p].oid != git_blob_oid(data)}
        if stale:
            storage.commit(dataset_id, "main", additions={p: storage.stage_blob(d) for p, d in stale.items()},
                           deleted_files=[], deleted_folders=[], title=f"hubrl: the {env_id} benchmark",
                           message="", author=SERVER_AUTHOR, parent_commit=head.id)
    return meta


def _known() -> list[str]:
    from hubrl.envs.facts import ENVS

    return [benchmark_dataset(env) for env in ENVS]


def dataset_json(state: ServerState, meta: RepoMeta, commit: Commit) -> dict[str, Any]:
    """``dataset_info``'s answer for a benchmark dataset."""
    return {
        "_id": hashlib.sha1(f"dataset:{meta.id}@{meta.created_at}".encode()).hexdigest()[:24],
        "id": meta.id, "author": meta.namespace, "sha": commit.id, "lastModified": commit.date,
        "createdAt": meta.created_at, "private": False, "gated": False, "disabled": False, "downloads": 0,
        "likes": 0, "tags": ["benchmark", "benchmark:official"],
        "siblings": [{"rfilename": p} for p in sorted(commit.files)],
    }


# -- evaluation results of a model repo -----------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalResultsFile:
    """One ``.eval_results/*.yaml`` of a commit: its entries in the Hub's normalised form, or why it is unreadable."""

    filename: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@per_commit(4096)
def eval_results_files(hub: ServerState, repo_id: str, commit: Commit) -> list[EvalResultsFile]:
    """A commit's ``.eval_results/*.yaml``, read bounded (someone else's YAML) and parsed with huggingface_hub."""
    from huggingface_hub import eval_result_entries_to_yaml

    names = sorted(p for p in commit.files if p.startswith(f"{EVAL_RESULTS_DIR}/") and p.endswith((".yaml", ".yml")))
    out = []
    for name in names[:MAX_EVAL_RESULTS_FILES]:
        entry = commit.files[name]
        if entry.size > MAX_EVAL_RESULTS_BYTES:
            out.append(EvalResultsFile(name, error=f"larger than {MAX_EVAL_RESULTS_BYTES >> 10} KiB"))
            continue
        with hub.storage.open_blob(repo_id, entry.oid) as f:
            text = f.read(MAX_EVAL_RESULTS_BYTES).decode("utf-8", "replace")
        try:
            out.append(EvalResultsFile(name, entries=eval_result_entries_to_yaml(read_eval_results(text))))
        except CardError as err:
            out.append(EvalResultsFile(name, error=str(err)))
    return out


def _is_claim(summary: ModelSummary, data: dict[str, Any]) -> bool:
    """Is this entry the card's own claim (its env's benchmark and task, the card's score)?"""
    claim = summary.claim
    if claim.env_id is None or claim.mean is None or claim.std is None:
        return False
    dataset = data.get("dataset") or {}
    return (dataset.get("id") == benchmark_dataset(claim.env_id) and dataset.get("task_id") == TASK_ID
            and data.get("value") == course_score(claim.mean, claim.std))


def _verified(summary: ModelSummary) -> bool:
    """Only the server's (or this process's) own check makes a claim verified (see the module docstring)."""
    return summary.claim.verification_state == "verified"


def eval_results_json(hub: ServerState, meta: RepoMeta, commit: Commit) -> list[dict[str, Any]]:
    """The ``evalResults`` of a model at a commit (see the module docstring)."""
    summary = model_summary(hub, meta, commit)
    out: list[dict[str, Any]] = []
    for file in eval_results_files(hub, meta.id, commit):
        if file.error is not None:
            out.append({"filename": file.filename, "error": file.error})
            continue
        out += [{"filename": file.filename, "verified": _verified(summary) and _is_claim(summary, data), "data": data}
                for data in file.entries]
    return out


# -- the leaderboard ----------------------------------------------------------------------------------------------

def leaderboard(hub: ServerState, dataset_id: str, *, token: str | None, base_url: str) -> list[dict[str, Any]]:
    """``GET /api/datasets/{dataset_id}/leaderboard`` (see the module docstring)."""
    ensure_benchmark(hub, dataset_id)
    env_id = env_of_benchmark(dataset_id)
    rows = []
    for summary in ranked_models(hub, token, env_id):
        claim = summary.claim
        found = next(((f.filename, data) for f in eval_results_files(hub, claim.repo_id, summary.commit)
                      if f.error is None for data in f.entries if (data.get("dataset") or {}).get("id") == dataset_id),
                     None)
        filename, data = found or ("README.md", {})
        source = data.get("source") or {"url": f"{base_url}/{claim.repo_id}", "name": "model card (model-index)"}
        namespace = claim.repo_id.split("/")[0]
        rows.append({
            "rank": claim.rank,
            "modelId": claim.repo_id,
            "value": course_score(claim.mean, claim.std),
            "filename": filename,
            "verified": _verified(summary),
            "source": {**source, "isExternal": not str(source.get("url", "")).startswith(base_url)},
            "author": {"_id": hashlib.sha1(f"user:{namespace}".encode()).hexdigest()[:24], "avatarUrl": "",
                       "fullname": namespace, "name": namespace, "type": "user", "isPro": False},
            "pullRequest": None,
            "notes": data.get("notes"),
        })
    return rows
