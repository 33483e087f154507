"""Loading a classmate's agent by repo id. No code from the repo ever runs.

hubrl repos load from ``model.safetensors`` + ``config.json`` (strictly: a shape or key mismatch is an error);
Deep RL Course notebook repos load from ``model.pt``, read with torch's weights-only unpickler in a bounded child
process and converted once (:mod:`hubrl.course`). Either way the env is the one the repo's
:class:`~hubrl.ranking.claims.Claim` names (the precedence the leaderboard and the pages use); files that name
different envs are refused rather than guessed.
"""

from __future__ import annotations

import json
from pathlib import Path

from hubrl.connection import HubConnection, check_repo_id
from hubrl.errors import AgentFormatError, RunFolderError
from hubrl.records import Agent, load_run

HUBRL_FILES = ("config.json", "model.safetensors")
COURSE_FILES = ("model.pt",)
METADATA_FILES = ("hyperparameters.json", "results.json", "README.md")
"""What a load downloads beside the weights: what the repo says it is."""


def load_from_hub(
    repo_id: str,
    *,
    client: HubConnection | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> Agent:
    """Download and load a classmate's agent by repo id. No code from the repo ever runs.

    Args:
        repo_id: ``namespace/name``.
        client: the Hub to read from (default: ``HF_ENDPOINT`` / ``HF_TOKEN`` at call time).
        revision: branch, tag or commit id (default main).
        cache_dir: the download cache (default: huggingface_hub's).

    Returns:
        An :class:`~hubrl.records.Agent` with ``source`` ``repo_id`` (``repo_id@revision`` with a revision).

    Raises:
        ConfigError: an invalid repo id.
        RepoNotFoundError: no such repo (or a private one the token cannot see).
        RevisionNotFoundError: no such branch or commit.
        NotAuthorizedError: the Hub rejected the token.
        HubUnreachableError: no answer from the endpoint.
        AgentFormatError: no weights hubrl can read, weights that do not fit their config, or files naming
            different envs.
        UnsafePickleError: a course ``model.pt`` holds more than plain tensors and layers.

    Example:
        >>> agent = load_from_hub("alice/Reinforce-CartPole-v1")
        >>> evaluate_agent(agent.policy).summary()
    """
    from huggingface_hub.hf_api import RepoFile

    from hubrl.course.repo import COURSE_METADATA, SilentProgress

    check_repo_id(repo_id)
    client = client or HubConnection()
    candidates = list(dict.fromkeys([*HUBRL_FILES, *COURSE_FILES, *METADATA_FILES, *COURSE_METADATA]))
    with client.translating(repo_id=repo_id, revision=revision):  # only the files it needs: a repo may hold many
        sha = client.api.model_info(repo_id, revision=revision, expand=["sha"]).sha  # one commit for every file
        files = {f.path for f in client.api.get_paths_info(repo_id, candidates, revision=sha) if isinstance(f, RepoFile)}
    if all(name in files for name in HUBRL_FILES):
        wanted, kind = [*HUBRL_FILES, *METADATA_FILES], "hubrl"
    elif all(name in files for name in COURSE_FILES):
        wanted, kind = [*COURSE_FILES, *COURSE_METADATA], "course"
    else:
        raise AgentFormatError(
            f"{repo_id} holds neither model.safetensors + config.json (hubrl) nor model.pt (course notebook); "
            f"of those and {', '.join(METADATA_FILES)} it has: {', '.join(sorted(files)) or 'none'}"
        )
    with client.translating(repo_id=repo_id, revision=revision):  # a few KB: no bar to mix with errors
        folder = [client.download(repo_id, name, revision=sha, cache_dir=cache_dir, tqdm_class=SilentProgress)
                  for name in wanted if name in files][0].parent
    source = f"{repo_id}@{revision}" if revision else repo_id
    if kind == "course":
        from hubrl.course.repo import load_course_repo

        return load_course_repo(folder, source=source)
    try:
        agent = load_run(folder)
    except RunFolderError as err:
        raise AgentFormatError(f"{source}: {err}") from None
    _check_env(agent, folder, source)
    agent.source, agent.path = source, folder
    return agent


def _check_env(agent: Agent, folder: Path, source: str) -> None:
    """The env the repo's claim names must be the one its weights were made for (config.json)."""
    from hubrl.card import read_front_matter
    from hubrl.errors import CardError
    from hubrl.ranking.claims import read_claim

    card = folder / "README.md"
    try:
        metadata = read_front_matter(card.read_text(encoding="utf-8", errors="replace")) if card.is_file() else None
    except CardError:
        metadata = None
    claim = read_claim(source, metadata=metadata, results=agent.results, hyperparameters=agent.hyperparameters,
                       config=json.loads((folder / "config.json").read_text()))
    mismatch = next((p for p in claim.problems if p.code == "env-mismatch"), None)
    if mismatch is not None:
        raise AgentFormatError(f"{source}: {mismatch}; hubrl will not guess which env it plays")


def load_agent(source: str | Path, *, client: HubConnection | None = None, revision: str | None = None) -> Agent:
    """A run folder, a course folder (``model.pt`` + metadata) or a repo id -> :class:`~hubrl.records.Agent`. An
    existing local folder wins.

    Raises:
        RunFolderError: ``source`` is neither an existing folder nor shaped like a repo id; and what
            :func:`hubrl.records.load_run` or :func:`load_from_hub` raise.
    """
    path = Path(source)
    if path.is_dir() and (path / COURSE_FILES[0]).is_file() and not (path / HUBRL_FILES[0]).is_file():
        from hubrl.course.repo import load_course_repo

        return load_course_repo(path, source=str(path))
    if path.exists():
        return load_run(source)
    text = str(source)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        return load_from_hub(text, client=client, revision=revision)
    raise RunFolderError(f"{source} is neither a course folder (model.pt + hyperparameters.json), a run folder, nor "
                         "a repo id like namespace/name")
