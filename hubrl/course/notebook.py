"""The course notebook's own functions, with the notebook's signatures, for the student's own ``Policy``.

The Unit 4 notebook ends with ``evaluate_agent(env, max_steps, n_eval_episodes, policy)``,
``record_video(env, policy, out_directory, fps=30)`` and ``push_to_hub(repo_id, model, hyperparameters, eval_env,
video_fps=30)``. The notebook's versions evaluate unseeded, film the global ``env``, never stop filming an agent that
never dies, write no std and pickle the whole module. These take the same arguments and behave like the rest of hubrl:

* ``policy``/``model`` is the student's ``nn.Module``; its ``forward`` returns action probabilities (the notebook's
  ``F.softmax(x, dim=1)``). hubrl calls it in eval mode under ``torch.no_grad`` and samples by inverse CDF from numpy
  uniforms: episode ``i`` is reset with seed ``i`` and draws its uniforms from ``numpy.random.default_rng(i)``.
* Whenever hubrl can rebuild the module as its own MLP (:func:`hubrl.course.module.convert_module`) and the rebuilt
  network gives the module's own probabilities on a few thousand real observations, the rebuilt network is what
  plays and what is pushed (``model.safetensors`` + ``config.json``): the numbers are then exactly what
  ``hubrl evaluate`` of the pushed repo measures. Otherwise the module itself plays, and the push carries its
  ``state_dict`` as safetensors (loading it needs the author's class). A pickle is never written.
* The env only names the game (``env.spec.id``): fresh copies play the seeded episodes, and the replay comes from a
  fresh ``render_mode="rgb_array"`` copy, so an env made without ``render_mode`` works.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hubrl.course.module import convert_module, env_id_of
from hubrl.defaults import DEFAULT_EVAL_SEED
from hubrl.errors import ConfigError, HubError, OutputExistsError

__all__ = ["evaluate_agent", "push_to_hub", "record_video"]


def evaluate_agent(env, max_steps: int, n_eval_episodes: int, policy) -> tuple[float, float]:
    """The notebook's ``evaluate_agent``, seeded: ``(mean_reward, std_reward)`` over ``n_eval_episodes`` episodes.

    Args:
        env: the evaluation env (``gymnasium.make(env_id)``); it names the game, fresh copies of it play.
        max_steps: cap per episode (the notebook passes ``max_t``).
        n_eval_episodes: episode ``i`` is reset with seed ``i``, its actions sampled from ``default_rng(i)``.
        policy: your ``nn.Module`` whose forward returns action probabilities, or a loaded agent's
            ``load_from_hub(repo_id).policy``.

    Raises:
        AgentFormatError: ``policy`` returns no action probabilities. UnknownEnvError: a game hubrl does not know.

    Example:
        >>> mean_reward, std_reward = evaluate_agent(eval_env, 1000, 10, cartpole_policy)
    """
    from hubrl.evaluate import evaluate_agent as hubrl_evaluate

    env_id = env_id_of(env)
    _check_positive(max_steps=max_steps, n_eval_episodes=n_eval_episodes)
    with _player(policy, env_id, env) as player:
        evaluation = hubrl_evaluate(player, env_id, n_eval_episodes=int(n_eval_episodes), max_steps=int(max_steps),
                                    seed=DEFAULT_EVAL_SEED)
    return evaluation.mean_reward, evaluation.std_reward


@contextlib.contextmanager
def _player(policy, env_id: str, env) -> Iterator[Any]:
    """What plays for the drop-ins: a loaded hubrl agent's policy as it is, a student's module as converted."""
    if hasattr(policy, "config") and hasattr(policy, "sampler"):  # hubrl's Policy (load_from_hub(...).policy)
        if policy.config.env_id != env_id:
            raise ConfigError(f"this agent plays {policy.config.env_id}, not {env_id}; pass an env of its game")
        yield policy
        return
    with tempfile.TemporaryDirectory(prefix="hubrl-module-") as tmp:
        yield convert_module(policy, env_id, tmp, env=env).policy


def record_video(env, policy, out_directory, fps: int = 30):
    """The notebook's ``record_video``: one seeded episode (seed 0, evaluation episode 0) filmed to an mp4, capped.

    ``out_directory`` is the video's path, as in the notebook (an existing folder gets ``replay.mp4`` inside). ``env``
    needs no ``render_mode``: a fresh ``render_mode="rgb_array"`` copy of it is filmed. Returns hubrl's
    :class:`~hubrl.video.Recording`.

    Example:
        >>> record_video(eval_env, cartpole_policy, "replay.mp4", fps=30)
    """
    from hubrl.video import record_video as hubrl_record

    env_id = env_id_of(env)
    out_path = Path(out_directory)
    if out_path.is_dir():
        out_path = out_path / "replay.mp4"
    with _player(policy, env_id, env) as player:
        return hubrl_record(player, out_path, env_id=env_id, seed=DEFAULT_EVAL_SEED, fps=int(fps))


def push_to_hub(repo_id: str, model, hyperparameters: dict, eval_env, video_fps: int = 30, *,
                remove_pickle: bool = False, private: bool = False, local_dir: str | Path | None = None,
                endpoint: str | None = None, token: str | None = None):
    """The notebook's ``push_to_hub``: evaluate, film, card and push the student's module in ONE commit, no pickle.

    Args:
        repo_id: ``namespace/name`` (created if missing).
        model: your trained ``nn.Module``.
        hyperparameters: the notebook's dict (env_id, h_size, n_training_episodes, n_evaluation_episodes, max_t,
            gamma, lr, state_space, action_space), written as hyperparameters.json.
        eval_env: the evaluation env; it names the game, and its replay is what is filmed.
        video_fps: frames per second of replay.mp4.
        remove_pickle: delete a ``model.pt`` the repo holds from an earlier course push, in the same commit.
        private: visibility of a newly created repo.
        local_dir: also keep the complete run folder there (must not exist).
        endpoint, token: default ``HF_ENDPOINT`` / ``HF_TOKEN`` / the stored login.

    Returns:
        :class:`hubrl.hub.PushResult`.

    Raises:
        ConfigError: a repo id the Hub would refuse, hyperparameters that do not fit the env.
        AgentFormatError: a model that returns no action probabilities. HubError: the Hub refused the push.

    Example:
        >>> push_to_hub("alice/Reinforce-CartPole-v1", cartpole_policy, cartpole_hyperparameters, eval_env)
    """
    import shutil

    from hubrl.course.convert import package_module
    from hubrl.hub import HubClient, check_repo_id

    check_repo_id(repo_id)
    if local_dir is not None and Path(local_dir).exists():
        raise OutputExistsError(f"{local_dir} already exists; choose another local_dir")
    client = HubClient(endpoint, token)  # None: HF_ENDPOINT / HF_TOKEN as they are now
    with tempfile.TemporaryDirectory(prefix="hubrl-push-") as tmp:
        run_dir, conversion = package_module(model, hyperparameters=hyperparameters, env=eval_env,
                                             output=Path(tmp) / "run", fps=video_fps)
        print(conversion.summary())
        result = client.push_to_hub(run_dir, repo_id, private=private,
                                    delete_paths=("model.pt",) if remove_pickle else ())
        if local_dir is not None:
            shutil.copytree(run_dir, local_dir)
    print(f"Your model is pushed to the Hub. You can view your model here: {result.repo_url}")
    if not remove_pickle:
        try:
            with client.translating(repo_id=repo_id):
                stale = "model.pt" in client.api.list_repo_files(repo_id)
        except HubError:  # the push itself succeeded; this is only a hint
            stale = False
        if stale:
            print(f"{repo_id} still holds model.pt (a pickle from an earlier push); "
                  "push again with remove_pickle=True to delete it")
    return result


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
