"""Course agents -> complete hubrl run folders: evaluated, filmed, carded, with safe weights and no pickle.

Two ways in: a student's live module (:func:`package_module`, what the notebook drop-in ``push_to_hub`` pushes) and a
course folder or repo holding the notebook's pickled ``model.pt`` (:func:`convert`, ``hubrl convert``), read
without running any code from it. Either way the folder is built in a hidden staging folder beside the target and
renamed into place only when complete; an existing one is replaced only with ``overwrite=True``. Then
``hubrl push DIR --repo-id ID --remove-pickle`` replaces a pickled repo with safe weights in one commit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hubrl.defaults import DEFAULT_EVAL_SEED
from hubrl.envs import env_info
from hubrl.errors import ConfigError, OutputExistsError
from hubrl.records import COURSE_KEYS

__all__ = ["convert", "course_hyperparameters", "package_agent", "package_module"]

DEFAULT_EVAL_EPISODES = 10


def course_hyperparameters(hyperparameters: Any, *, env_id: str, obs_dim: int, n_actions: int) -> dict[str, Any]:
    """The notebook's hyperparameters dict, checked against the game and completed (course keys first).

    Raises:
        ConfigError: not a JSON-able dict, or its env_id / state_space / action_space contradict the game.
    """
    if not isinstance(hyperparameters, dict):
        raise ConfigError(f"hyperparameters must be the notebook's dict, got {type(hyperparameters).__name__}")
    hyper = {key: _plain(value) for key, value in hyperparameters.items()}
    if hyper.setdefault("env_id", env_id) != env_id:
        raise ConfigError(f"hyperparameters say env_id {hyper['env_id']!r} but the env is {env_id!r}; "
                          "pass the matching eval_env")
    for key, actual in (("state_space", obs_dim), ("action_space", n_actions)):
        if hyper.setdefault(key, actual) != actual:
            raise ConfigError(f"hyperparameters say {key}={hyper[key]!r} but {env_id} has {actual}")
    for key in ("n_evaluation_episodes", "max_t"):
        value = hyper.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ConfigError(f"hyperparameters[{key!r}] must be a positive integer, got {value!r}")
    try:
        json.dumps(hyper, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"hyperparameters must be plain JSON values (numbers, strings, lists): {err}") from None
    return {**{k: hyper[k] for k in COURSE_KEYS if k in hyper}, **{k: v for k, v in hyper.items()
                                                                  if k not in COURSE_KEYS}}


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (``env.action_space.n`` is a numpy int) as the JSON values they stand for."""
    import numpy as np

    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _write_run(stage: Path, *, player, env_id: str, hyperparameters: dict[str, Any], fps: int | None,
               weights: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Evaluate ``player`` with hubrl's protocol, film evaluation episode 0 and write the JSON files and the card."""
    from hubrl.evaluate import evaluate_agent
    from hubrl.policy import LEGACY_FORMATS, sha256_file
    from hubrl.records import VIDEO, WEIGHTS, Hyperparameters, Results, write_run_folder
    from hubrl.video import record_video

    n_episodes = int(hyperparameters.get("n_evaluation_episodes") or DEFAULT_EVAL_EPISODES)
    max_steps = int(hyperparameters.get("max_t") or env_info(env_id).max_t)
    evaluation = evaluate_agent(player, env_id, n_eval_episodes=n_episodes, max_steps=max_steps,
                                seed=DEFAULT_EVAL_SEED)
    weights = dict(weights)
    fmt = weights.pop("format")
    results = Results.from_evaluation(evaluation, weights_sha256=sha256_file(stage / WEIGHTS),
                                      weights_format=LEGACY_FORMATS.get(fmt, fmt), weights=weights,
                                      converted_from=(extra or {}).get("converted_from"))
    record_video(player, stage / VIDEO, env_id=env_id, seed=DEFAULT_EVAL_SEED, fps=fps)
    write_run_folder(stage, policy=None, hyperparameters=Hyperparameters.from_json(hyperparameters), results=results)


def _stage(output: Path, overwrite: bool) -> Path:
    from hubrl.run import staging_dir

    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} already exists; choose another --output or pass --overwrite to replace it")
    stage = staging_dir(output)
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage


def _finish(stage: Path, output: Path, overwrite: bool) -> Path:
    from hubrl.folders import replace_folder

    replace_folder(stage, output, overwrite=overwrite)
    return output


def package_module(model, *, hyperparameters: dict, env, output: str | Path, fps: int | None = 30,
                   overwrite: bool = False):
    """A student's live module -> a complete run folder at ``output``; returns ``(path, ModuleConversion)``.

    The weights are what :func:`hubrl.course.module.convert_module` writes (rebuilt and checked, or the state_dict);
    the evaluation, replay and card follow hubrl's protocol (seeds 0.., ``n_evaluation_episodes`` episodes capped at
    ``max_t`` steps).
    """
    from hubrl.course.module import convert_module, env_id_of

    env_id = env_id_of(env)
    output = Path(output)
    stage = _stage(output, overwrite)
    try:
        conversion = convert_module(model, env_id, stage, env=env)
        hyper = course_hyperparameters(hyperparameters, env_id=env_id, obs_dim=conversion.policy.config.obs_dim,
                                       n_actions=conversion.policy.config.n_actions)
        _write_run(stage, player=conversion.policy, env_id=env_id, hyperparameters=hyper, fps=fps,
                   weights=conversion.to_json())
        return _finish(stage, output, overwrite), conversion
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def package_agent(agent, output: str | Path, *, fps: int | None = None, overwrite: bool = False) -> Path:
    """A loaded agent (e.g. a course repo's model.pt) -> a complete run folder whose evaluation is the agent's own.

    The policy is written as ``model.safetensors`` + ``config.json`` and the folder is evaluated by loading those
    files back, exactly as ``hubrl evaluate DIR`` does. What the source claimed (its results.json) is kept under
    ``converted_from``.
    """
    from hubrl.policy import CONFIG_FORMAT, load_policy, save_policy

    output = Path(output)
    stage = _stage(output, overwrite)
    try:
        save_policy(agent.policy, stage)
        player = load_policy(stage)
        cfg = player.config
        hyper = course_hyperparameters(agent.hyperparameters or {"env_id": agent.env_id}, env_id=agent.env_id,
                                       obs_dim=cfg.obs_dim, n_actions=cfg.n_actions)
        claimed = {k: agent.results[k] for k in ("mean_reward", "std_reward", "n_evaluation_episodes",
                                                 "eval_datetime") if k in (agent.results or {})}
        source = {"source": agent.source, "format": agent.format, **({"claimed": claimed} if claimed else {})}
        weights = {"format": CONFIG_FORMAT, "converted_from": "model.pt" if agent.format == "course" else agent.format}
        _write_run(stage, player=player, env_id=agent.env_id, hyperparameters=hyper, fps=fps, weights=weights,
                   extra={"converted_from": source})
        return _finish(stage, output, overwrite)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def convert(source: str | Path, output: str | Path, *, overwrite: bool = False, revision: str | None = None,
            client=None, fps: int | None = None):
    """``hubrl convert``: a course folder or repo id -> a complete hubrl run folder at ``output``; returns its
    :class:`~hubrl.records.Run`.

    The course's ``model.pt`` is read without running any code from it (see :mod:`hubrl.course`). ``client`` is the
    Hub to read a repo id from (a :class:`hubrl.hub.HubClient`; default: ``HF_ENDPOINT`` / ``HF_TOKEN``).

    Raises:
        OutputExistsError: ``output`` exists and ``overwrite`` is False (checked before anything is downloaded).
        UnsafePickleError / AgentFormatError: the model.pt is not a plain course policy.
        HubError: the repo cannot be read.

    Example:
        >>> convert("alice/Reinforce-CartPole-v1", "runs/alice-cartpole")
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} already exists; choose another --output or pass --overwrite to replace it")
    from hubrl.loading import load_agent
    from hubrl.records import read_run

    agent = load_agent(source, client=client, revision=revision)
    return read_run(package_agent(agent, output, fps=fps, overwrite=overwrite))
