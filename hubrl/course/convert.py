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


def _write_run(stage: Path, *, evaluation, film, hyperparameters: dict[str, Any], weights: dict[str, Any],
               converted_from: dict[str, Any] | None = None) -> None:
    """The replay ``film(path)`` makes, then the records of ``evaluation`` through the one run-folder writer."""
    from hubrl.policy import LEGACY_FORMATS, sha256_file
    from hubrl.records import VIDEO, WEIGHTS, Hyperparameters, Results, write_run_folder

    weights = dict(weights)
    fmt = weights.pop("format")
    results = Results.from_evaluation(evaluation, weights_sha256=sha256_file(stage / WEIGHTS),
                                      weights_format=LEGACY_FORMATS.get(fmt, fmt), weights=weights,
                                      converted_from=converted_from)
    film(stage / VIDEO)
    write_run_folder(stage, policy=None, hyperparameters=Hyperparameters.from_json(hyperparameters), results=results)


def _hubrl_protocol(player, env_id: str, hyperparameters: dict[str, Any], fps: int | None):
    """hubrl's seeded evaluation of ``player`` (what ``hubrl evaluate`` measures) and a film of its episode 0."""
    from hubrl.evaluate import evaluate_agent
    from hubrl.video import record_video

    n_episodes = int(hyperparameters.get("n_evaluation_episodes") or DEFAULT_EVAL_EPISODES)
    max_steps = int(hyperparameters.get("max_t") or env_info(env_id).max_t)
    evaluation = evaluate_agent(player, env_id, n_eval_episodes=n_episodes, max_steps=max_steps,
                                seed=DEFAULT_EVAL_SEED)
    return evaluation, lambda path: record_video(player, path, env_id=env_id, seed=DEFAULT_EVAL_SEED, fps=fps)


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

    The student's own ``act()`` plays ``env`` first (``n_evaluation_episodes`` seeded episodes capped at ``max_t``,
    :func:`hubrl.course.play.play`). When :func:`hubrl.course.module.convert_module` proves the rebuilt network is
    that agent on a game hubrl rebuilds, the folder holds the rebuilt weights and hubrl's own evaluation of them
    (what ``hubrl evaluate`` of the pushed repo reproduces), act()'s numbers kept as ``weights.author_act``;
    otherwise the module's state_dict, act()'s own numbers and a replay of act() on ``env``.
    """
    from hubrl.course.module import convert_module, env_id_of
    from hubrl.course.play import film, play, player_for
    from hubrl.defaults import DEFAULT_MAX_FRAMES

    env_id = env_id_of(env)
    output = Path(output)
    hyper = course_hyperparameters(hyperparameters, env_id=env_id,
                                   obs_dim=int((getattr(env.observation_space, "shape", None) or (0,))[0]),
                                   n_actions=int(getattr(env.action_space, "n", 0)))
    player = player_for(model)
    played = play(player, env, n_episodes=int(hyper.get("n_evaluation_episodes") or DEFAULT_EVAL_EPISODES),
                  max_steps=int(hyper.get("max_t") or env_info(env_id).max_t), seed=DEFAULT_EVAL_SEED)
    stage = _stage(output, overwrite)
    try:
        conversion = convert_module(model, env, stage, played=played)
        if conversion.rebuilt:
            evaluation, filmer = _hubrl_protocol(conversion.policy, env_id, hyper, fps)
            weights = {**conversion.to_json(), "author_act": played.to_json()}
        else:
            evaluation, weights = played.evaluation, conversion.to_json()
            fps = int(fps or env.metadata.get("render_fps") or 30)

            def filmer(path):
                return film(player, env, path, fps=fps, max_frames=DEFAULT_MAX_FRAMES, seed=DEFAULT_EVAL_SEED)
        _write_run(stage, evaluation=evaluation, film=filmer, hyperparameters=hyper, weights=weights)
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
        evaluation, filmer = _hubrl_protocol(player, agent.env_id, hyper, fps)
        _write_run(stage, evaluation=evaluation, film=filmer, hyperparameters=hyper, weights=weights,
                   converted_from=source)
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
