"""Loading a classmate's agent by repo id. No code from the repo ever runs.

hubrl repos load from ``model.safetensors`` + ``config.json`` (strictly: a shape or key mismatch is an error; sizes
are checked from the Hub's listing before anything is downloaded, the weights' header before their data);
Deep RL Course notebook repos load from ``model.pt``, read with torch's weights-only unpickler in a bounded child
process and converted once (:mod:`hubrl.course`). Either way the env is the one the repo's
:class:`~hubrl.ranking.claims.Claim` names (the precedence the leaderboard and the pages use); files that name
different envs are refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

    Nothing is downloaded before its size is checked from the Hub's listing: JSON files at most 1 MiB, a course
    model.pt at most what the course reader reads, and model.safetensors at most what config.json (downloaded first
    and validated, with the env's cap on weights) allows; the weights' header is then checked against the config
    before any tensor data is read.

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
        AgentFormatError: no weights hubrl can read, a file larger than hubrl reads, weights that do not fit their
            config, or files naming different envs.
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
        pinned = client.api.model_info(repo_id, revision=revision, expand=["sha"]).sha  # one commit for every file
        sizes = {f.path: f.size for f in client.api.get_paths_info(repo_id, candidates, revision=pinned)
                 if isinstance(f, RepoFile)}
    source = f"{repo_id}@{revision}" if revision else repo_id

    def download(names: list[str]) -> Path:  # every download reads the commit whose sizes were checked
        with client.translating(repo_id=repo_id, revision=revision):  # a few KB: no bar to mix with errors
            paths = [client.download(repo_id, name, revision=pinned, cache_dir=cache_dir, tqdm_class=SilentProgress)
                     for name in names]
        return paths[0].parent

    return load_repo_folder(fetch_agent_files(source, sizes, download), source=source)


def fetch_agent_files(source: str, sizes: Mapping[str, int | None], fetch: Callable[[list[str]], Path]) -> Path:
    """The files that load the agent of a repo holding ``sizes`` (path -> size in bytes, None where unknown), each
    fetched only once its size is known to be one hubrl reads.

    ``fetch(names)`` brings those files into one folder and returns it (a download, or the local Hub's copy from its
    own storage). JSON files and the card come first (:func:`check_sizes`); for hubrl weights, config.json is then
    read (bounded) and validated, and model.safetensors fetched only if its size fits what that config allows.

    Raises:
        AgentFormatError: no weights hubrl can read, a file larger than hubrl reads, or an invalid config.json.
    """
    from hubrl.course.repo import COURSE_METADATA

    kind = repo_kind(set(sizes), source=source)
    wanted = [n for n in ([*HUBRL_FILES, *METADATA_FILES] if kind == "hubrl" else [*COURSE_FILES, *COURSE_METADATA])
              if n in sizes]
    wanted = check_sizes(source, sizes, wanted)
    if kind == "hubrl":  # config.json first: it says how large the weights may be
        config = _read_config(fetch([n for n in wanted if n != HUBRL_FILES[1]]), source)
        weights = sizes.get(HUBRL_FILES[1])
        if weights is not None and weights > config.max_file_bytes():
            raise AgentFormatError(f"{source}: model.safetensors is {weights:,} bytes, more than the "
                                   f"{config.max_file_bytes():,} its config.json allows; hubrl does not fetch it")
    return fetch(wanted)


def repo_kind(files: set[str], *, source: str) -> str:
    """``hubrl`` (config.json + model.safetensors) or ``course`` (model.pt) for a repo holding ``files``.

    Raises:
        AgentFormatError: neither.
    """
    if all(name in files for name in HUBRL_FILES):
        return "hubrl"
    if all(name in files for name in COURSE_FILES):
        return "course"
    raise AgentFormatError(
        f"{source} holds neither model.safetensors + config.json (hubrl) nor model.pt (course notebook); "
        f"files: {', '.join(sorted(files)[:20]) or 'none'}"
    )


def check_sizes(source: str, sizes: Mapping[str, int | None], names: list[str]) -> list[str]:
    """The files of ``names`` to download, their sizes checked from the Hub's listing before any download: JSON files
    at most :data:`~hubrl.untrusted.MAX_JSON_BYTES` (larger ones refuse the repo), a course ``model.pt`` at most what
    the course reader reads; a README.md over the JSON limit is left out (only its front matter is read).

    Raises:
        AgentFormatError: a file is larger than hubrl reads; one line naming it and its size.
    """
    from hubrl.course.reader import Limits
    from hubrl.untrusted import MAX_JSON_BYTES

    limits = {"model.pt": Limits().max_bytes}
    out = []
    for name in names:
        size = sizes.get(name)
        limit = limits.get(name, MAX_JSON_BYTES if name.endswith((".json", ".md")) else None)
        if size is not None and limit is not None and size > limit:
            if name == "README.md":
                continue
            raise AgentFormatError(f"{source}: {name} is {size:,} bytes; hubrl reads at most {limit:,} bytes of "
                                   f"{name} and does not download it")
        out.append(name)
    return out


def _read_config(folder: Path, source: str):
    """The repo's validated :class:`~hubrl.policy.PolicyConfig` (its config.json read bounded)."""
    from hubrl.policy import PolicyConfig
    from hubrl.untrusted import UntrustedFileError, read_json_file

    try:
        return PolicyConfig.from_json(read_json_file(folder / HUBRL_FILES[0], what=f"{source}: config.json"))
    except UntrustedFileError as err:
        raise AgentFormatError(str(err)) from None
    except AgentFormatError as err:
        raise AgentFormatError(f"{source}: {err}") from None


def load_repo_folder(folder: str | Path, *, source: str) -> Agent:
    """The agent in a downloaded (or copied) repo folder, as :func:`load_from_hub` loads it: hubrl weights strictly,
    a course model.pt in its bounded reader, and the env its files name checked against the weights.

    Raises:
        AgentFormatError, UnknownEnvError, UnsafePickleError: as :func:`load_from_hub`.
    """
    folder = Path(folder)
    kind = repo_kind({p.name for p in folder.iterdir() if p.is_file()}, source=source)
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
    from hubrl.untrusted import MAX_JSON_BYTES

    card = folder / "README.md"
    try:
        small = card.is_file() and card.stat().st_size <= MAX_JSON_BYTES
        metadata = read_front_matter(card.read_text(encoding="utf-8", errors="replace")) if small else None
    except CardError:
        metadata = None
    claim = read_claim(source, metadata=metadata, results=agent.results, hyperparameters=agent.hyperparameters,
                       config=agent.policy.config.to_json())
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
