"""Push run folders to a Hub and load agents back by repo id, through the official huggingface_hub client.

Endpoint and token follow the ecosystem's conventions: ``endpoint=`` / ``token=`` arguments win, then
``HF_ENDPOINT`` and ``HF_TOKEN``, then the stored ``huggingface-cli login``. Tokens are passed to the client and
never printed, logged or written.

A push validates the folder and its card first, then makes exactly one commit with every file
(``HfApi.create_commit``), which the Hub applies atomically; identical content makes no new commit. Loading accepts
hubrl repos (safetensors + config.json, strict) and Deep RL Course notebook repos (``model.pt``, read by
:mod:`hubrl.course` without executing any pickled code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubrl.card import card_problems
from hubrl.envs import ENVS
from hubrl.errors import AgentFormatError, CardError, ConfigError, HubError, UnknownEnvError
from hubrl.run import CARD, RESULTS, Agent, load_run, read_json, validate_run_folder, write_card

REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
HUBRL_FILES = ("config.json", "model.safetensors")
COURSE_FILES = ("model.pt",)
METADATA_FILES = ("hyperparameters.json", "results.json")


def check_repo_id(repo_id: str) -> str:
    """``namespace/name`` with the characters the Hub accepts, or a :class:`ConfigError` that says so."""
    if not isinstance(repo_id, str) or not REPO_ID_RE.match(repo_id) or ".." in repo_id or repo_id.endswith((".", "-")):
        raise ConfigError(f"invalid repo id {repo_id!r}; use namespace/name with letters, digits, '-', '_' or '.'")
    return repo_id


def hub_api(endpoint: str | None = None, token: str | None = None):
    """An ``HfApi`` for ``endpoint`` (default: ``$HF_ENDPOINT`` or huggingface.co) and ``token`` (default: ecosystem)."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint.rstrip("/") if endpoint else None, token=token)


def _hub_error(err: Exception, *, repo_id: str, revision: str | None, api) -> HubError:
    """Translate huggingface_hub exceptions into one actionable line (never echoing the token)."""
    from huggingface_hub.errors import (
        EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError,
    )

    where = f"on {api.endpoint}"
    if isinstance(err, RevisionNotFoundError):
        return HubError(f"revision {revision!r} not found in {repo_id} {where}; check the branch name or commit id")
    if isinstance(err, RepositoryNotFoundError):
        return HubError(f"repo {repo_id} not found {where} (private repos need a token: --token or HF_TOKEN)")
    if isinstance(err, EntryNotFoundError):
        return HubError(f"a file is missing in {repo_id} {where}: {_first_line(err)}")
    if isinstance(err, HfHubHTTPError):
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status == 401:
            return HubError(f"the Hub at {api.endpoint} rejected the token (missing or invalid); pass --token or set HF_TOKEN")
        if status == 403:
            return HubError(f"not allowed to write to {repo_id} {where}: a token can only write to its own namespace")
        return HubError(f"Hub request for {repo_id} failed {where}: {_first_line(err)}")
    if isinstance(err, (ConnectionError, OSError)) or "connect" in type(err).__name__.lower():
        return HubError(f"cannot reach the Hub at {api.endpoint}: {_first_line(err)}; check --endpoint / HF_ENDPOINT")
    return HubError(f"Hub operation on {repo_id} failed: {_first_line(err)}")


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


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
        return f"pushed {len(self.files)} files to {self.repo_url} (commit {self.commit_oid})"


_LOAD_LINE_RE = re.compile(r'load_from_hub\("([^"]+)"\)')


def prepare_card(run_dir: Path, repo_id: str) -> str:
    """Fill the repo id into a hubrl-generated card; a card the user edited is kept as it is.

    The card is derived from the folder's JSON files, so "generated" means: it equals what hubrl renders now for
    no repo, for this repo, or for the repo it was last pushed to (named in its load instructions).
    """
    from hubrl.card import build_card

    current = (run_dir / CARD).read_text(encoding="utf-8")
    hyper, results = read_json(run_dir / "hyperparameters.json"), read_json(run_dir / RESULTS)
    previous = _LOAD_LINE_RE.search(current)
    candidates = {None, repo_id, previous.group(1) if previous else None}
    if any(current == str(build_card(hyperparameters=hyper, results=results, repo_id=r)) for r in candidates):
        return write_card(run_dir, repo_id=repo_id)
    return current


def push_to_hub(
    run_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    dry_run: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
) -> PushResult:
    """Push a complete run folder to ``repo_id`` in one commit.

    Args:
        run_dir: a folder written by ``hubrl train``.
        repo_id: ``namespace/name``; created if missing (``private`` applies then).
        revision: branch to commit to (created from main if missing); default main.
        commit_message: defaults to a summary of the evaluation.
        dry_run: validate and list what would be sent, send nothing.
        endpoint, token: override ``HF_ENDPOINT`` / ``HF_TOKEN`` / the stored login.

    Example:
        >>> push_to_hub("runs/CartPole-v1-default-seed0", repo_id="alice/Reinforce-CartPole-v1")
    """
    from huggingface_hub import CommitOperationAdd, ModelCard

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
    api = hub_api(endpoint, token)
    repo_url = f"{api.endpoint}/{repo_id}"
    metadata = card.data.to_dict()
    if dry_run:
        return PushResult(repo_id=repo_id, repo_url=repo_url, files=files, card_metadata=metadata, dry_run=True)
    message = commit_message or (
        f"hubrl: REINFORCE {results['env_id']} {results['mean_reward']:.2f} +/- {results['std_reward']:.2f}"
    )
    created = False
    try:
        if not api.repo_exists(repo_id):
            api.create_repo(repo_id, private=private, exist_ok=True)
            created = True
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        before = api.model_info(repo_id, revision=revision).sha
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(run_dir / name)) for name, _ in files]
        info = api.create_commit(repo_id, operations, commit_message=message, revision=revision)
    except Exception as err:
        if created:  # leave the Hub as it was: no empty repo behind a failed first push
            try:
                api.delete_repo(repo_id)
            except Exception:
                pass
        if isinstance(err, (HubError, ConfigError)):
            raise
        raise _hub_error(err, repo_id=repo_id, revision=revision, api=api) from None
    return PushResult(repo_id=repo_id, repo_url=repo_url, files=files, card_metadata=metadata,
                      commit_url=info.commit_url, commit_oid=info.oid, changed=info.oid != before)


# -- load -----------------------------------------------------------------------------------------------------------

def load_from_hub(
    repo_id: str,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | Path | None = None,
) -> Agent:
    """Download and load a classmate's agent by repo id. No code from the repo ever runs.

    hubrl repos load from ``model.safetensors`` + ``config.json`` (strictly: shape or key mismatch is an error).
    Course notebook repos load from ``model.pt``, read with torch's weights-only unpickler in a bounded child
    process and converted once (see :mod:`hubrl.course`), with the env id from their metadata.

    Example:
        >>> agent = load_from_hub("alice/Reinforce-CartPole-v1")
        >>> evaluate_agent(agent.policy).summary()
    """
    from huggingface_hub import snapshot_download

    from hubrl.course import COURSE_METADATA, SilentProgress

    check_repo_id(repo_id)
    api = hub_api(endpoint, token)
    try:
        files = set(api.list_repo_files(repo_id, revision=revision))
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
            endpoint=api.endpoint, token=token, cache_dir=cache_dir,
            tqdm_class=SilentProgress if kind == "course" else None,  # a few KB: no bar to mix with errors
        ))
    except (AgentFormatError, ConfigError):
        raise
    except Exception as err:
        raise _hub_error(err, repo_id=repo_id, revision=revision, api=api) from None
    source = f"{repo_id}@{revision}" if revision else repo_id
    if kind == "hubrl":
        agent = load_run(folder)
        agent.source, agent.path = source, folder
        return agent
    from hubrl.course import load_course_repo

    return load_course_repo(folder, source=source)


def load_agent(source: str | Path, *, revision: str | None = None, endpoint: str | None = None,
               token: str | None = None) -> Agent:
    """A run folder path or a repo id -> :class:`~hubrl.run.Agent`. An existing local folder wins."""
    from hubrl.errors import RunFolderError

    if Path(source).exists():
        return load_run(source)
    text = str(source)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        return load_from_hub(text, revision=revision, endpoint=endpoint, token=token)
    raise RunFolderError(f"{source} is neither an existing run folder nor a repo id like namespace/name")


__all__ = ["PushResult", "check_repo_id", "hub_api", "load_agent", "load_from_hub", "push_to_hub"]
