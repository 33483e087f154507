"""The course notebook's own functions, with the notebook's signatures, playing the student's own ``act()``.

The Unit 4 notebook ends with ``evaluate_agent(env, max_steps, n_eval_episodes, policy)``,
``record_video(env, policy, out_directory, fps=30)`` and ``push_to_hub(repo_id, model, hyperparameters, eval_env,
video_fps=30)``. These take the same arguments and run the same loop (``action, _ = policy.act(state)`` on the env
passed in, episode by episode until ``max_steps`` or the end), so their numbers are the notebook's numbers, plus:

* **Seeded**: episode ``i`` is reset with seed ``i``, and torch, numpy and ``random`` are seeded with ``i`` before it
  (then restored), so the same call gives the same numbers, and the seeds are recorded.
* **Pushed as what was trained, provably, or labelled**: ``push_to_hub`` rebuilds the module as hubrl's network only
  when, on every state ``act()`` saw, the network gives the probability ``act()`` reported for the action it chose,
  and the env is one hubrl rebuilds from its spec (:mod:`hubrl.course.module`). Then anyone loads it with no code
  and ``hubrl evaluate REPO`` reproduces the pushed numbers (hubrl's seeded protocol on that network; act()'s own
  numbers are kept in results.json). Otherwise the module's ``state_dict`` is pushed with the numbers ``act()``
  scored, and one printed line and the card say why classmates need the author's class. A pickle is never written.
* **No silent surprises**: a wrong namespace or a rejected token fails before anything is evaluated or filmed,
  naming whose token it is; hyperparameters the notebook's ``push_to_hub`` reads are checked (one line naming what
  is missing), keys it does not read are listed; a push scoring below what the repo held says so with both scores.
"""

from __future__ import annotations

import difflib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hubrl.defaults import DEFAULT_EVAL_SEED, DEFAULT_MAX_FRAMES
from hubrl.errors import ConfigError, HubError, OutputExistsError, course_signature_error
from hubrl.records import COURSE_KEYS

__all__ = ["evaluate_agent", "push_to_hub", "record_video"]

READ_KEYS = ("env_id", "max_t", "n_evaluation_episodes")
"""The keys the notebook's push_to_hub reads (a KeyError there when one is missing)."""
EVALUATE_CALL = "evaluate_agent(eval_env, max_t, n_evaluation_episodes, policy)"


def _looks_like_env(env: Any) -> bool:
    return callable(getattr(env, "reset", None)) and callable(getattr(env, "step", None))


def evaluate_agent(env, max_steps: int | None = None, n_eval_episodes: int | None = None, policy=None,
                   **hubrl_keywords: Any) -> tuple[float, float]:
    """The notebook's ``evaluate_agent``, seeded: ``(mean_reward, std_reward)`` of ``policy.act`` on ``env``.

    Args:
        env: the evaluation env, played as it is (its wrappers and episode cap count, as in the notebook).
        max_steps: cap per episode (the notebook passes ``max_t``).
        n_eval_episodes: episode ``i`` is reset with seed ``i``; torch, numpy and random are seeded with ``i``.
        policy: your module with ``act(state) -> (action, log_prob)``; a module without ``act`` has its forward's
            probabilities sampled; a loaded agent's ``load_from_hub(repo_id).policy`` plays its own seeded ``act``.

    Raises:
        ConfigError: called with hubrl's signature (``evaluate_agent(policy, n_eval_episodes=...)``: that is
            ``hubrl.evaluate_agent``), or counts that are not positive integers.
        AgentFormatError: ``act`` does not return ``(action, log_prob)``.

    Example:
        >>> mean_reward, std_reward = evaluate_agent(eval_env, 1000, 10, cartpole_policy)
    """
    from hubrl.course.play import play, player_for

    if hubrl_keywords or policy is None or not _looks_like_env(env):
        raise course_signature_error("hubrl.course.evaluate_agent", f"the notebook's arguments: {EVALUATE_CALL}",
                                     "hubrl's evaluate_agent(policy, n_eval_episodes=...)",
                                     "hubrl.evaluate_agent(agent.policy, n_eval_episodes=10)")
    _check_positive(max_steps=max_steps, n_eval_episodes=n_eval_episodes)
    played = play(player_for(policy), env, n_episodes=int(n_eval_episodes), max_steps=int(max_steps),
                  seed=DEFAULT_EVAL_SEED)
    return played.evaluation.mean_reward, played.evaluation.std_reward


def record_video(env, policy, out_directory, fps: int = 30):
    """The notebook's ``record_video``: episode 0 of :func:`evaluate_agent` (seed 0) filmed, capped at 3000 frames.

    ``out_directory`` is the video's path, as in the notebook (``.mp4``, or ``.gif`` for a GIF; an existing folder
    gets ``replay.mp4`` inside). ``env`` is filmed as it is when it renders rgb arrays, else a copy made from its
    spec with ``render_mode="rgb_array"``. Returns hubrl's :class:`~hubrl.video.Recording`.

    Raises:
        VideoError: a suffix other than .mp4/.gif, or an env that cannot be filmed (one line saying what to do).

    Example:
        >>> record_video(eval_env, cartpole_policy, "replay.mp4", fps=30)
    """
    from hubrl.course.play import film, player_for

    out_path = Path(out_directory)
    if out_path.is_dir():
        out_path = out_path / "replay.mp4"
    return film(player_for(policy), env, out_path, fps=int(fps), max_frames=DEFAULT_MAX_FRAMES,
                seed=DEFAULT_EVAL_SEED)


def check_hyperparameters(hyperparameters: Any) -> list[str]:
    """The keys of ``hyperparameters`` the notebook does not read (its push_to_hub writes them, as this one does).

    Raises:
        ConfigError: not a dict, or a key the notebook's push_to_hub reads is missing (named, with the closest key
            given instead).
    """
    if not isinstance(hyperparameters, dict):
        raise ConfigError(f"hyperparameters must be the notebook's dict, got {type(hyperparameters).__name__}")
    unknown = [str(k) for k in hyperparameters if k not in COURSE_KEYS]
    missing = [k for k in READ_KEYS if k not in hyperparameters]
    if missing:
        hints = []
        for key in missing:
            close = difflib.get_close_matches(key, unknown, n=1, cutoff=0.5)
            hints.append(f"{key!r}" + (f" (you have {close[0]!r})" if close else ""))
        raise ConfigError(f"hyperparameters lack {', '.join(hints)}: the notebook's push_to_hub reads "
                          f"{', '.join(READ_KEYS)}; add them to your dict")
    return unknown


def _held_claim(client, repo_id: str) -> tuple[float, float, str] | None:
    """What the repo's card claims now, as the leaderboard reads it: ``(mean, std, commit)``; None if nothing."""
    from hubrl.card import first_metric, parse_metric

    try:
        with client.translating(repo_id=repo_id):
            info = client.api.model_info(repo_id)
    except HubError:  # no repo yet (or unreadable): nothing to compare with
        return None
    found, value = first_metric(info.card_data.to_dict() if info.card_data else {})
    parsed = parse_metric(value) if found else None
    return (*parsed, info.sha or "") if parsed else None


def push_to_hub(repo_id: str, model, hyperparameters: dict, eval_env, video_fps: int = 30, *,
                remove_pickle: bool = False, private: bool = False, local_dir: str | Path | None = None,
                endpoint: str | None = None, token: str | None = None):
    """The notebook's ``push_to_hub``: evaluate ``model.act`` on ``eval_env``, film, card and push in ONE commit.

    Args:
        repo_id: ``namespace/name`` (created if missing).
        model: your trained ``nn.Module`` (the notebook's ``Policy``).
        hyperparameters: the notebook's dict; ``env_id``, ``max_t`` and ``n_evaluation_episodes`` are read (the
            evaluation plays ``n_evaluation_episodes`` episodes capped at ``max_t``), all of it is written as
            hyperparameters.json.
        eval_env: the evaluation env, played as it is; the replay films it (or its rgb copy).
        video_fps: frames per second of replay.mp4.
        remove_pickle: delete a ``model.pt`` the repo holds from an earlier course push, in the same commit.
        private: visibility of a newly created repo.
        local_dir: also keep the complete run folder there (must not exist).
        endpoint, token: default ``HF_ENDPOINT`` / ``HF_TOKEN`` / the stored login.

    Returns:
        :class:`hubrl.hub.PushResult`.

    Raises:
        ConfigError: a repo id the Hub would refuse, hyperparameters missing what the notebook reads or
            contradicting the env.
        NotAuthorizedError: no token, a rejected one, or another user's (before anything is evaluated).
        AgentFormatError: ``act`` does not return ``(action, log_prob)``. HubError: the Hub refused the push.

    Example:
        >>> push_to_hub("alice/Reinforce-CartPole-v1", cartpole_policy, cartpole_hyperparameters, eval_env)
    """
    import shutil

    from hubrl.course.convert import package_module
    from hubrl.course.module import env_id_of
    from hubrl.hub import HubClient, check_repo_id
    from hubrl.records import RESULTS, read_json

    check_repo_id(repo_id)
    unknown = check_hyperparameters(hyperparameters)
    env_id_of(eval_env)
    if local_dir is not None and Path(local_dir).exists():
        raise OutputExistsError(f"{local_dir} already exists; choose another local_dir")
    client = HubClient(endpoint, token)  # None: HF_ENDPOINT / HF_TOKEN as they are at this call
    client.require_login("push_to_hub", repo_id)  # before anything is evaluated or filmed: whose token it is
    if unknown:
        print(f"hyperparameters: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not read by the "
              "notebook (written to hyperparameters.json, ignored for the evaluation)")
    held = _held_claim(client, repo_id)
    with tempfile.TemporaryDirectory(prefix="hubrl-push-") as tmp:
        run_dir, conversion = package_module(model, hyperparameters=hyperparameters, env=eval_env,
                                             output=Path(tmp) / "run", fps=video_fps)
        print(conversion.summary())
        results = read_json(run_dir / RESULTS)
        result = client.push_to_hub(run_dir, repo_id, private=private,
                                    delete_paths=("model.pt",) if remove_pickle else ())
        if local_dir is not None:
            shutil.copytree(run_dir, local_dir)
    _report_scores(repo_id, results, held)
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


def _report_scores(repo_id: str, results: dict[str, Any], held: tuple[float, float, str] | None) -> None:
    """What was measured (and, for a rebuilt network, what act() scored); both scores when the new one is lower."""
    mean, std = results["mean_reward"], results["std_reward"]
    line = f"{results['env_id']}: mean_reward {mean:.2f} +/- {std:.2f} (score {mean - std:.2f})"
    act = (results.get("weights") or {}).get("author_act")
    if act:
        line += (f", hubrl's seeded protocol on the rebuilt network (hubrl evaluate {repo_id} reproduces it); "
                 f"your act() scored {act['mean_reward']:.2f} +/- {act['std_reward']:.2f} on the same seeds")
    else:
        line += ", what your act() scored on eval_env (seeds 0.." f"{results['n_evaluation_episodes'] - 1})"
    print(line)
    if held is not None and held[0] - held[1] > mean - std:
        print(f"this push scores {mean:.2f} +/- {std:.2f} (score {mean - std:.2f}), below what {repo_id} held: "
              f"{held[0]:.2f} +/- {held[1]:.2f} (score {held[0] - held[1]:.2f}); the leaderboard now shows the new "
              f"score, the earlier one stays in the repo's history (commit {held[2][:12]})")


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
