"""Push run folders to a Hub and load agents back by repo id, through the official huggingface_hub client.

One :class:`HubClient` holds the endpoint and token that push, load, the leaderboard, submission and verification
share. They follow the ecosystem's conventions: ``endpoint=`` / ``token=`` arguments win, then ``HF_ENDPOINT`` and
``HF_TOKEN``, then the stored ``hf auth login``. Tokens are passed to huggingface_hub and never printed, logged or
written. Failures are typed :class:`~hubrl.errors.HubError` subclasses (repo or revision not found, not
authorised, unreachable) with the client's error chained as their cause.

A push validates the folder and its card first, then makes exactly one commit with every file
(``HfApi.create_commit``), which the Hub applies atomically; identical content makes no new commit. Loading accepts
hubrl repos (safetensors + config.json, strict) and Deep RL Course notebook repos (``model.pt``, read by
:mod:`hubrl.course` without executing any pickled code).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubrl.card import card_problems, match_generated_card
from hubrl.errors import (
    AgentFormatError, CardError, ConfigError, HubError, HubUnreachableError, NotAuthorizedError, RepoNotFoundError,
    RevisionNotFoundError, first_line,
)
from hubrl.records import CARD, RESULTS, Agent, load_run, read_json, validate_run_folder, write_card

HUBRL_FILES = ("config.json", "model.safetensors")
COURSE_FILES = ("model.pt",)
METADATA_FILES = ("hyperparameters.json", "results.json")


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is ``namespace/name`` as the Hub accepts it (``huggingface_hub.utils.validate_repo_id``).

    Raises:
        ConfigError: anything else (no namespace, ``a/b/c``, spaces, ``--`` or ``..``), in one line.
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise HFValidationError("not namespace/name")
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ConfigError(f"invalid repo id {repo_id!r}; use namespace/name with letters, digits, '-', '_' or '.' "
                          "(no '--' or '..', not starting or ending with '-' or '.')") from err
    return repo_id


class HubClient:
    """One connection to a Hub: endpoint and token, shared by push, load, leaderboard, submission and verification.

    ``endpoint`` defaults to ``$HF_ENDPOINT`` or https://huggingface.co, ``token`` to ``$HF_TOKEN`` or the stored
    login (``False``: anonymous). The token is handed to huggingface_hub only: never printed, logged or shown in the
    client's repr. A client pickles as its endpoint and token, so worker processes rebuild the same connection.

    Example:
        >>> client = HubClient(endpoint="http://127.0.0.1:8080", token=False)
        >>> client.api.model_info("alice/Reinforce-CartPole-v1").sha
    """

    def __init__(self, endpoint: str | None = None, token: str | bool | None = None):
        from huggingface_hub import HfApi

        self.token = token
        self.api = HfApi(endpoint=endpoint.rstrip("/") if endpoint else None, token=token)
        self.endpoint: str = self.api.endpoint

    def __repr__(self) -> str:
        return f"HubClient(endpoint={self.endpoint!r})"

    def __reduce__(self):
        return HubClient, (self.endpoint, self.token)

    @classmethod
    def resolve(cls, client: HubClient | None = None, *, endpoint: str | None = None,
                token: str | bool | None = None) -> HubClient:
        """``client`` when given, else one for ``endpoint`` and ``token`` (what public functions accept)."""
        return client if client is not None else cls(endpoint, token)

    def download(self, repo_id: str, filename: str, *, revision: str | None = None,
                 cache_dir: str | Path | None = None) -> Path:
        """One file of a repo, through the huggingface_hub cache (raises the client's own errors)."""
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename, revision=revision, endpoint=self.endpoint, token=self.token,
                                    cache_dir=cache_dir))

    def snapshot(self, repo_id: str, *, revision: str | None = None, allow_patterns: list[str] | None = None,
                 cache_dir: str | Path | None = None) -> Path:
        """The files of a repo matching ``allow_patterns``, through the cache (raises the client's own errors)."""
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=allow_patterns,
                                      endpoint=self.endpoint, token=self.token, cache_dir=cache_dir))

    def require_login(self, purpose: str, repo_id: str) -> None:
        """Fail before any work when a write will need a valid token and there is none.

        Raises:
            NotAuthorizedError: the Hub rejects the token or got none.
        """
        try:
            self.api.whoami()
        except Exception as err:
            raise NotAuthorizedError(f"{purpose} commits to {repo_id}: pass a write token for "
                                     f"{repo_id.split('/')[0]} with --token or HF_TOKEN ({self.endpoint} rejected "
                                     "or got none)", repo_id=repo_id) from err

    def error(self, err: Exception, *, repo_id: str, revision: str | None = None) -> HubError:
        """The typed, one-line :class:`HubError` for a huggingface_hub or network error (never echoing the token).

        Callers raise it ``from err`` so the client's error stays attached as the cause.
        """
        from huggingface_hub.errors import (
            EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError,
        )
        from huggingface_hub.errors import RevisionNotFoundError as HfRevisionNotFoundError

        where = f"on {self.endpoint}"
        if isinstance(err, HfRevisionNotFoundError):
            return RevisionNotFoundError(f"revision {revision!r} not found in {repo_id} {where}; check the branch "
                                         "name or commit id", repo_id=repo_id)
        if isinstance(err, RepositoryNotFoundError):
            return RepoNotFoundError(f"repo {repo_id} not found {where} (private repos need a token: --token or "
                                     "HF_TOKEN)", repo_id=repo_id)
        if isinstance(err, LocalEntryNotFoundError) or _is_network_error(err):
            return HubUnreachableError(f"cannot reach the Hub at {self.endpoint}: {first_line(err)}; check "
                                       "--endpoint / HF_ENDPOINT", repo_id=repo_id)
        if isinstance(err, EntryNotFoundError):
            return HubError(f"a file is missing in {repo_id} {where}: {first_line(err)}", repo_id=repo_id)
        if isinstance(err, HfHubHTTPError):
            status = getattr(getattr(err, "response", None), "status_code", None)
            if status == 401:
                return NotAuthorizedError(f"the Hub at {self.endpoint} rejected the token (missing or invalid); "
                                          "pass --token or set HF_TOKEN", repo_id=repo_id)
            if status == 403:
                return NotAuthorizedError(f"not allowed to write to {repo_id} {where}: a token can only write to "
                                          "its own namespace", repo_id=repo_id)
            return HubError(f"Hub request for {repo_id} failed {where}: {first_line(err)}", repo_id=repo_id)
        return HubError(f"Hub operation on {repo_id} failed: {first_line(err)}", repo_id=repo_id)


def hub_api(endpoint: str | None = None, token: str | bool | None = None):
    """``HubClient(endpoint, token).api``: an ``HfApi``, for callers of the earlier API (new code holds a client)."""
    return HubClient(endpoint, token).api


def _is_network_error(err: Exception) -> bool:
    """No answer at all: socket errors, and the HTTP library's transport errors (connect, timeout, protocol)."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, HfHubHTTPError):  # an answer came (HfHubHTTPError is an OSError too)
        return False
    return isinstance(err, (ConnectionError, TimeoutError, OSError)) or any(
        cls.__name__ == "TransportError" for cls in type(err).__mro__)


# -- push -----------------------------------------------------------------------------------------------------------

@dataclass
class PushResult:
    """What :func:`push_to_hub` did (or, with ``dry_run``, would do)."""

    repo_id: str
    repo_url: str
    files: list[tuple[str, int]]
    card_metadata: dict[str, Any]
    commit_url: str | None = None
    commit_oid: str | None = None
    changed: bool = True
    dry_run: bool = False
    deleted: list[str] = field(default_factory=list)
    """Repo files the commit deleted (``delete_paths``)."""

    def summary(self) -> str:
        if self.dry_run:
            lines = [f"dry run: would push {len(self.files)} files to {self.repo_id} ({self.repo_url}):"]
            lines += [f"  {name:<24} {size:>12,} bytes" for name, size in self.files]
            first = (self.card_metadata.get("model-index") or [{}])[0].get("results", [{}])[0]
            metric = (first.get("metrics") or [{}])[0].get("value")
            lines.append(f"card: tags {self.card_metadata.get('tags')}, metric {metric!r}")
            return "\n".join(lines)
        if not self.changed:
            return f"{self.repo_url} already holds exactly these files; no new commit ({self.commit_oid})"
        removed = f", deleted {', '.join(self.deleted)}" if self.deleted else ""
        return f"pushed {len(self.files)} files to {self.repo_url}{removed} (commit {self.commit_oid})"


def prepare_card(run_dir: Path, repo_id: str) -> str:
    """Fill the repo id into a hubrl-generated card; a card the user edited is kept as it is.

    "Generated" is :func:`hubrl.card.match_generated_card`: the card equals what hubrl renders now from the
    folder's JSON files, for no repo, for this repo or for the repo it was last pushed to.
    """
    current = (run_dir / CARD).read_text(encoding="utf-8")
    hyper, results = read_json(run_dir / "hyperparameters.json"), read_json(run_dir / RESULTS)
    generated, _ = match_generated_card(current, hyperparameters=hyper, results=results, repo_id=repo_id)
    return write_card(run_dir, repo_id=repo_id) if generated else current


def push_to_hub(
    run_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    dry_run: bool = False,
    endpoint: str | None = None,
    token: str | bool | None = None,
    client: HubClient | None = None,
    delete_paths: tuple[str, ...] | list[str] = (),
) -> PushResult:
    """Push a complete run folder to ``repo_id`` in one commit.

    Args:
        run_dir: a folder written by ``hubrl train``.
        repo_id: ``namespace/name``; created if missing (``private`` applies then).
        revision: branch to commit to (created from main if missing); default main.
        commit_message: defaults to a summary of the evaluation.
        dry_run: validate and list what would be sent, send nothing.
        endpoint, token: override ``HF_ENDPOINT`` / ``HF_TOKEN`` / the stored login.
        delete_paths: repo files to delete in the same commit (e.g. ``("model.pt",)``, a course pickle replaced by
            these safe weights); those the repo does not hold are skipped. Listed in ``PushResult.deleted``.
        client: a :class:`HubClient` to use instead of ``endpoint`` and ``token``.

    Returns:
        A :class:`PushResult`; ``changed`` is False when the repo already held exactly these files.

    Raises:
        ConfigError: an invalid repo id.
        RunFolderError: the folder is incomplete or corrupt (nothing is sent).
        CardError: the card would not show on the leaderboard (nothing is sent).
        NotAuthorizedError: the token is missing, invalid, or may not write to that namespace.
        HubUnreachableError: no answer from the endpoint.
        HubError: any other refusal by the Hub. A repo this push created is deleted again on failure.

    Example:
        >>> push_to_hub("runs/CartPole-v1-default-seed0", repo_id="alice/Reinforce-CartPole-v1")
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, ModelCard

    check_repo_id(repo_id)
    run_dir = validate_run_folder(run_dir, complete=True)
    results = read_json(run_dir / RESULTS)
    card_text = prepare_card(run_dir, repo_id) if not dry_run else (run_dir / CARD).read_text(encoding="utf-8")
    card = ModelCard(card_text)
    problems = card_problems(card, results.get("env_id"))
    if problems:
        raise CardError(f"{run_dir / CARD} would not show on the leaderboard: {'; '.join(problems)}")
    files = sorted(
        (p.relative_to(run_dir).as_posix(), p.stat().st_size)
        for p in run_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(run_dir).parts)
    )
    client = HubClient.resolve(client, endpoint=endpoint, token=token)
    api = client.api
    repo_url = f"{client.endpoint}/{repo_id}"
    metadata = card.data.to_dict()
    if dry_run:
        return PushResult(repo_id=repo_id, repo_url=repo_url, files=files, card_metadata=metadata, dry_run=True)
    message = commit_message or (
        f"hubrl: REINFORCE {results['env_id']} {results['mean_reward']:.2f} +/- {results['std_reward']:.2f}"
    )
    created = False
    deleted: list[str] = []
    try:
        if not api.repo_exists(repo_id):
            api.create_repo(repo_id, private=private, exist_ok=True)
            created = True
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        before = api.model_info(repo_id, revision=revision).sha
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(run_dir / name)) for name, _ in files]
        if delete_paths:
            held = set(api.list_repo_files(repo_id, revision=revision))
            deleted = [p for p in dict.fromkeys(delete_paths) if p in held and p not in dict(files)]
            operations += [CommitOperationDelete(path_in_repo=p) for p in deleted]
        info = api.create_commit(repo_id, operations, commit_message=message, revision=revision)
    except Exception as err:
        if created:  # leave the Hub as it was: no empty repo behind a failed first push
            try:
                api.delete_repo(repo_id)
            except Exception:
                pass
        raise client.error(err, repo_id=repo_id, revision=revision) from err
    return PushResult(repo_id=repo_id, repo_url=repo_url, files=files, card_metadata=metadata,
                      commit_url=info.commit_url, commit_oid=info.oid, changed=info.oid != before, deleted=deleted)


# -- load -----------------------------------------------------------------------------------------------------------

def load_from_hub(
    repo_id: str,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    client: HubClient | None = None,
) -> Agent:
    """Download and load a classmate's agent by repo id. No code from the repo ever runs.

    hubrl repos load from ``model.safetensors`` + ``config.json`` (strictly: shape or key mismatch is an error).
    Course notebook repos load from ``model.pt``, read with torch's weights-only unpickler in a bounded child
    process and converted once (see :mod:`hubrl.course`), with the env id from their metadata.

    Args:
        repo_id: ``namespace/name``.
        revision: branch, tag or commit id (default main).
        endpoint, token: override ``HF_ENDPOINT`` / ``HF_TOKEN`` / the stored login (``token=False``: anonymous).
        cache_dir: the download cache (default: huggingface_hub's).
        client: a :class:`HubClient` to use instead of ``endpoint`` and ``token``.

    Returns:
        An :class:`~hubrl.run.Agent` with ``source`` ``repo_id`` (``repo_id@revision`` with a revision).

    Raises:
        ConfigError: an invalid repo id.
        RepoNotFoundError: no such repo (or a private one the token cannot see).
        RevisionNotFoundError: no such branch or commit.
        NotAuthorizedError: the Hub rejected the token.
        HubUnreachableError: no answer from the endpoint.
        AgentFormatError: the repo holds no weights hubrl can read, or they do not fit their config.
        UnsafePickleError: a course ``model.pt`` holds more than plain tensors and layers.

    Example:
        >>> agent = load_from_hub("alice/Reinforce-CartPole-v1")
        >>> evaluate_agent(agent.policy).summary()
    """
    from huggingface_hub import snapshot_download

    from hubrl.course.repo import COURSE_METADATA, SilentProgress

    check_repo_id(repo_id)
    client = HubClient.resolve(client, endpoint=endpoint, token=token)
    try:
        files = set(client.api.list_repo_files(repo_id, revision=revision))
        if all(name in files for name in HUBRL_FILES):
            wanted, kind = [*HUBRL_FILES, *METADATA_FILES], "hubrl"
        elif all(name in files for name in COURSE_FILES):
            wanted, kind = [*COURSE_FILES, *COURSE_METADATA], "course"  # README.md too: the card may name the env
        else:
            raise AgentFormatError(
                f"{repo_id} holds neither model.safetensors + config.json (hubrl) nor model.pt (course notebook); "
                f"files: {', '.join(sorted(files)) or 'none'}"
            )
        folder = Path(snapshot_download(
            repo_id, revision=revision, allow_patterns=[name for name in wanted if name in files],
            endpoint=client.endpoint, token=client.token, cache_dir=cache_dir,
            tqdm_class=SilentProgress if kind == "course" else None,  # a few KB: no bar to mix with errors
        ))
    except (AgentFormatError, ConfigError):
        raise
    except Exception as err:
        raise client.error(err, repo_id=repo_id, revision=revision) from err
    source = f"{repo_id}@{revision}" if revision else repo_id
    if kind == "hubrl":
        agent = load_run(folder)
        agent.source, agent.path = source, folder
        return agent
    from hubrl.course.repo import load_course_repo

    return load_course_repo(folder, source=source)


def load_agent(source: str | Path, *, revision: str | None = None, endpoint: str | None = None,
               token: str | bool | None = None, client: HubClient | None = None) -> Agent:
    """A run folder path or a repo id -> :class:`~hubrl.run.Agent`. An existing local folder wins.

    Raises:
        RunFolderError: ``source`` is neither an existing folder nor shaped like a repo id; and what
            :func:`hubrl.run.load_run` or :func:`load_from_hub` raise.
    """
    from hubrl.errors import RunFolderError

    if Path(source).exists():
        return load_run(source)
    text = str(source)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        return load_from_hub(text, revision=revision, endpoint=endpoint, token=token, client=client)
    raise RunFolderError(f"{source} is neither an existing run folder nor a repo id like namespace/name")


__all__ = ["HubClient", "PushResult", "check_repo_id", "hub_api", "load_agent", "load_from_hub", "push_to_hub"]
