"""A downloaded course repo folder -> :class:`~hubrl.run.Agent`: metadata real repos have, converted once and cached.

Course repos hold ``model.pt`` plus whatever the student's notebook wrote: usually ``hyperparameters.json`` and
``results.json``, sometimes only one of them, sometimes hydra-style files, always a model card. The env id is taken
from the first that names one (hyperparameters.json, results.json, the card's model-index dataset, its tags); sizes
in hyperparameters.json are only checked when they are numbers.

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
    env_id, found_in = find_env_id(hyper, results, folder / "README.md")
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
        _check_sizes(rebuilt, hyper, env_id, source)
        _write_policy_folder(rebuilt, env_id, cached)
        policy = load_policy(cached)
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


def find_env_id(hyper: dict[str, Any], results: dict[str, Any], card: Path) -> tuple[str | None, str]:
    """The env id and where it was found: hyperparameters.json, results.json, the card's model-index, its tags."""
    for name, data in (("hyperparameters.json", hyper), ("results.json", results)):
        env_id = _env_in(data, 0)
        if env_id:
            return env_id, name
    metadata = _card_metadata(card)
    for entry in metadata.get("model-index") or []:
        for result in (entry.get("results") or []) if isinstance(entry, dict) else []:
            dataset = result.get("dataset") if isinstance(result, dict) else None
            if isinstance(dataset, dict):
                for key in ("name", "type"):
                    if isinstance(dataset.get(key), str) and dataset[key]:
                        return dataset[key], "the model card's model-index"
    tags = [t for t in metadata.get("tags") or [] if isinstance(t, str)]
    for tag in tags:
        if tag in ENVS:
            return tag, "the model card's tags"
    return None, ""


def _env_in(data: Any, depth: int) -> str | None:
    """``env_id`` at the top, else in nested (hydra-style) sections: ``env_id``, ``env: NAME``, ``env: {id: ...}``."""
    if not isinstance(data, dict) or depth > 3:
        return None
    for key in ("env_id", "env_name", "environment"):
        if isinstance(data.get(key), str) and data[key]:
            return data[key]
    env = data.get("env")
    if isinstance(env, str) and env:
        return env
    if isinstance(env, dict):
        for key in ("id", "env_id", "name"):
            if isinstance(env.get(key), str) and env[key]:
                return env[key]
    for value in data.values():
        found = _env_in(value, depth + 1)
        if found:
            return found
    return None


def _card_metadata(card: Path) -> dict[str, Any]:
    """The card's YAML header, parsed by huggingface_hub (``yaml.safe_load``); unreadable cards count as empty."""
    try:
        if card.stat().st_size > _MAX_METADATA_BYTES:
            return {}
        from huggingface_hub.repocard import metadata_load

        data = metadata_load(card)
    except Exception:  # noqa: BLE001 - a broken card only means the card names nothing
        return {}
    return data if isinstance(data, dict) else {}


def _check_sizes(rebuilt: RebuiltPolicy, hyper: dict[str, Any], env_id: str, source: str) -> None:
    """The weights must fit the env; hyperparameters.json sizes, where they are numbers, must agree with them."""
    from hubrl.envs import make_env

    env = make_env(env_id)
    try:
        obs_shape, n_actions = env.observation_space.shape, getattr(env.action_space, "n", None)
    finally:
        env.close()
    for key, actual in (("state_space", rebuilt.obs_dim), ("action_space", rebuilt.n_actions)):
        declared = hyper.get(key)
        if isinstance(declared, list) and len(declared) == 1:
            declared = declared[0]
        if isinstance(declared, (int, float)) and not isinstance(declared, bool) and int(declared) != actual:
            raise AgentFormatError(f"{source}: hyperparameters.json says {key}={declared} but model.pt has {actual}")
    if obs_shape is None or len(obs_shape) != 1 or obs_shape[0] != rebuilt.obs_dim or n_actions != rebuilt.n_actions:
        raise AgentFormatError(f"{source}/model.pt takes {rebuilt.obs_dim} inputs and gives {rebuilt.n_actions} "
                               f"actions, but {env_id} has observations {obs_shape} and {n_actions} actions")


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

