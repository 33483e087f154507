"""A downloaded course repo folder -> :class:`~hubrl.run.Agent`: metadata real repos have, converted once and cached.

Course repos hold ``model.pt`` plus whatever the student's notebook wrote: usually ``hyperparameters.json`` and
``results.json``, sometimes only one of them, sometimes hydra-style files, always a model card. The env id is taken
by hubrl's one precedence (the card's model-index dataset, results.json, hyperparameters.json, its tags: see
:mod:`hubrl.ranking.claims`); sizes in hyperparameters.json are only checked when they are numbers.

``model.pt`` is read once (in a bounded child, see :mod:`hubrl.course.model_file`) and the rebuilt policy is kept as
a hubrl policy folder (``model.safetensors`` + ``config.json``) in ``$HUBRL_CACHE/course/<sha256 of model.pt>-<env>``
(default ``~/.cache/hubrl``), which :func:`hubrl.policy.load_policy` reads: loading the same repo again starts no
child and needs no torch.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from hubrl.course.model_file import load_course_model
from hubrl.course.reader import printable
from hubrl.course.rebuild import RebuiltPolicy
from hubrl.envs import ENVS
from hubrl.errors import AgentFormatError, UnknownEnvError

__all__ = ["SilentProgress", "cache_dir", "find_env_id", "load_course_repo"]

MODEL = "model.pt"
COURSE_METADATA = ("hyperparameters.json", "results.json", "README.md")
"""The files beside ``model.pt`` that say what it is (the download fetches them too)."""
_MAX_METADATA_BYTES = 1 << 20


class SilentProgress(tqdm):
    """``tqdm_class`` for downloading course repos: a few KB need no bar, and a bar must not mix with an error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("name", None)
        super().__init__(*args, **{**kwargs, "disable": True})


def cache_dir() -> Path:
    """hubrl's cache: ``$HUBRL_CACHE``, else ``~/.cache/hubrl``."""
    return Path(os.environ.get("HUBRL_CACHE") or Path.home() / ".cache" / "hubrl")


def load_course_repo(folder: str | Path, *, source: str) -> Any:
    """The agent of a downloaded course repo folder (``model.pt`` + metadata). No code from it ever runs.

    Args:
        folder: the downloaded files.
        source: how messages name the repo (``"alice/Reinforce-CartPole-v1"``).

    Raises:
        UnknownEnvError: the env it names is not one hubrl runs (named as found).
        AgentFormatError: no env id anywhere, sizes that contradict the weights, or a model.pt hubrl cannot rebuild.
        UnsafePickleError: model.pt tries to call something (it may be malicious).

    Example:
        >>> agent = load_course_repo(snapshot_folder, source="alice/Reinforce-CartPole-v1")
        >>> agent.env_id, agent.policy.config.hidden_sizes
        ('CartPole-v1', (16,))
    """
    from hubrl.policy import load_policy, sha256_file
    from hubrl.records import Agent

    folder = Path(folder)
    hyper, results = _json(folder / "hyperparameters.json"), _json(folder / "results.json")
    claim = repo_claim(source, hyper, results, folder / "README.md")
    env_id, found_in = claim.env_id, _SOURCE_NAMES.get(claim.env_source or "", claim.env_source or "")
    mismatch = next((p for p in claim.problems if p.code == "env-mismatch"), None)
    if mismatch is not None:
        raise AgentFormatError(f"{source}: {printable(mismatch, 300)}; hubrl will not guess which env it plays")
    if env_id is None:
        raise AgentFormatError(f"{source} has model.pt but names no env id (not in hyperparameters.json, "
                               "results.json or its model card); hubrl cannot tell what it plays")
    if env_id not in ENVS:
        raise UnknownEnvError(f"{source} was trained on {printable(env_id, 80)!r} (from {found_in}), which hubrl cannot run; "
                              f"known: {', '.join(ENVS)}")
    model = folder / MODEL
    if not model.is_file():
        raise AgentFormatError(f"{source} has no model.pt")
    cached = cache_dir() / "course" / f"{sha256_file(model)}-{env_id.replace('/', '-')}"
    policy = None
    if (cached / "config.json").is_file():
        try:
            policy = load_policy(cached)
        except AgentFormatError:  # a damaged cache entry: convert again
            shutil.rmtree(cached, ignore_errors=True)
    if policy is None:
        rebuilt = load_course_model(model, display_name=f"{source}/model.pt")
        _check_declared_sizes(rebuilt.obs_dim, rebuilt.n_actions, hyper, source)
        _check_env_sizes(rebuilt, env_id, source)
        _write_policy_folder(rebuilt, env_id, cached)
        policy = load_policy(cached)
    else:  # the same model.pt bytes were converted before; this repo's own hyperparameters.json is checked anyway
        _check_declared_sizes(policy.config.obs_dim, policy.config.n_actions, hyper, source)
    return Agent(policy=policy, env_id=env_id, source=source, hyperparameters=hyper, results=results,
                 format="course", path=folder)


def _json(path: Path) -> dict[str, Any]:
    """A metadata file as a dict; missing, oversized, invalid or non-object files count as empty."""
    try:
        if path.stat().st_size > _MAX_METADATA_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def repo_claim(source: str, hyper: dict[str, Any], results: dict[str, Any], card: Path):
    """What the repo's files claim, read as the leaderboard and the pages read it (:func:`hubrl.ranking.read_claim`)."""
    from hubrl.ranking.claims import read_claim

    return read_claim(source, metadata=_card_metadata(card), results=results, hyperparameters=hyper)


def find_env_id(hyper: dict[str, Any], results: dict[str, Any], card: Path) -> tuple[str | None, str]:
    """The env id and where it was found, by hubrl's one precedence (:data:`hubrl.ranking.claims.ENV_SOURCES`:
    the card's model-index, results.json, hyperparameters.json, the card's tags)."""
    claim = repo_claim(str(card.parent), hyper, results, card)
    return claim.env_id, _SOURCE_NAMES.get(claim.env_source or "", claim.env_source or "")


_SOURCE_NAMES = {"model-index": "the model card's model-index", "tags": "the model card's tags"}


def _card_metadata(card: Path) -> dict[str, Any] | None:
    """The card's YAML header (:func:`hubrl.card.read_front_matter`); unreadable cards count as naming nothing."""
    from hubrl.card import read_front_matter
    from hubrl.errors import CardError

    try:
        if card.stat().st_size > _MAX_METADATA_BYTES:
            return None
        return read_front_matter(card.read_text(encoding="utf-8", errors="replace"))
    except (OSError, CardError):
        return None


def _check_declared_sizes(obs_dim: int, n_actions: int, hyper: dict[str, Any], source: str) -> None:
    """hyperparameters.json sizes, where they are numbers, must agree with the weights."""
    for key, actual in (("state_space", obs_dim), ("action_space", n_actions)):
        declared = hyper.get(key)
        if isinstance(declared, list) and len(declared) == 1:
            declared = declared[0]
        if isinstance(declared, (int, float)) and not isinstance(declared, bool) and int(declared) != actual:
            raise AgentFormatError(f"{source}: hyperparameters.json says {key}={declared} but model.pt has {actual}")


def _check_env_sizes(rebuilt: RebuiltPolicy, env_id: str, source: str) -> None:
    """The weights must fit the env."""
    from hubrl.envs import env_spaces

    spaces = env_spaces(env_id)
    if not spaces.discrete or spaces.obs_dim != rebuilt.obs_dim or spaces.n_actions != rebuilt.n_actions:
        actions = f"{spaces.n_actions} actions" if spaces.discrete else "continuous actions"
        raise AgentFormatError(f"{source}/model.pt takes {rebuilt.obs_dim} inputs and gives {rebuilt.n_actions} "
                               f"actions, but {env_id} has observations {spaces.obs_shape} and {actions}")


def _write_policy_folder(rebuilt: RebuiltPolicy, env_id: str, target: Path) -> None:
    """A hubrl policy folder (what :func:`hubrl.policy.save_policy` writes), built aside and renamed into place."""
    from safetensors.numpy import save_file

    from hubrl.policy import PolicyConfig

    config = PolicyConfig(env_id=env_id, obs_dim=rebuilt.obs_dim, n_actions=rebuilt.n_actions,
                          hidden_sizes=rebuilt.hidden_sizes, activation=rebuilt.activation)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file(rebuilt.tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
        (staging / "config.json").write_text(json.dumps(config.to_json(), indent=2) + "\n")
        (staging / "course.json").write_text(json.dumps({"notes": list(rebuilt.notes)}, indent=2) + "\n")
        try:
            staging.rename(target)
        except OSError:  # another process converted the same file meanwhile: keep theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)

