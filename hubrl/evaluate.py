"""Seeded evaluation: mean ± std over episodes, and the leaderboard score mean - std.

Episode ``i`` is reset with seed ``seed + i`` and samples its actions from its own generator seeded the same way
(:class:`hubrl.episodes.SeededEpisodes`), so every number is reproducible and an episode's return does not depend on
how many episodes run beside it. All episodes step together: one batched numpy forward pass per step
(:class:`hubrl.policy.NumpySampler`), no torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hubrl.defaults import DEFAULT_EVAL_SEED, VALIDATION_SEED  # noqa: F401 - re-exported
from hubrl.envs import env_info
from hubrl.episodes import SeededEpisodes, episode_steps
from hubrl.errors import ConfigError, TimeLimitError
from hubrl.policy import Actor, env_actions, one_blas_thread


@dataclass
class Evaluation:
    """What :func:`evaluate_agent` measured."""

    env_id: str
    episode_returns: list[float]
    episode_lengths: list[int]
    seeds: list[int]
    max_steps: int
    deterministic: bool

    @property
    def n_eval_episodes(self) -> int:
        return len(self.episode_returns)

    @property
    def mean_reward(self) -> float:
        return float(np.mean(self.episode_returns))

    @property
    def std_reward(self) -> float:
        """Population standard deviation (ddof=0), as the course computes it."""
        return float(np.std(self.episode_returns))

    @property
    def score(self) -> float:
        """The leaderboard's ranking value: mean - std."""
        return self.mean_reward - self.std_reward

    def to_json(self) -> dict:
        return {
            "env_id": self.env_id,
            "mean_reward": self.mean_reward,
            "std_reward": self.std_reward,
            "score": self.score,
            "n_evaluation_episodes": self.n_eval_episodes,
            "seeds": self.seeds,
            "episode_returns": self.episode_returns,
            "episode_lengths": self.episode_lengths,
            "max_steps": self.max_steps,
            "deterministic": self.deterministic,
        }

    def summary(self) -> str:
        return (f"{self.env_id}: mean_reward {self.mean_reward:.2f} +/- {self.std_reward:.2f} "
                f"(score {self.score:.2f}) over {self.n_eval_episodes} episodes, seeds {self.seeds[0]}..{self.seeds[-1]}")


def evaluate_agent(
    policy: Actor,
    env_id: str | None = None,
    *course_args: object,
    n_eval_episodes: int = 10,
    max_steps: int | None = None,
    seed: int = DEFAULT_EVAL_SEED,
    deterministic: bool = False,
    time_limit: float | None = None,
) -> Evaluation:
    """Run ``n_eval_episodes`` seeded episodes and return their returns.

    Args:
        policy: the agent: a :class:`~hubrl.policy.Policy` (e.g. from :func:`hubrl.load_agent`), or the torch
            network training returns (anything with ``config`` and ``sampler()``).
        env_id: defaults to the env the policy was trained on.
        n_eval_episodes: episodes to run; episode ``i`` uses seed ``seed + i``.
        max_steps: cap per episode; defaults to the course's ``max_t`` for the env.
        seed: base seed (default 0).
        deterministic: take the most likely action instead of sampling (the course samples).
        time_limit: wall-clock seconds the episodes may take (None: no limit); checked at every step.

    Raises:
        ConfigError: ``n_eval_episodes`` is not positive, or the call has the course notebook's signature
            ``(env, max_steps, n_eval_episodes, policy)`` (that is :func:`hubrl.course.evaluate_agent`).
        UnknownEnvError: ``env_id`` is not one hubrl knows.
        AgentFormatError: the policy's sizes do not fit the env's observations and actions.
        TimeLimitError: the episodes ran past ``time_limit``.

    Example:
        >>> result = evaluate_agent(agent.policy, n_eval_episodes=10)
        >>> print(f"{result.mean_reward:.2f} +/- {result.std_reward:.2f}")
    """
    if course_args or not hasattr(policy, "sampler"):
        from hubrl.errors import course_signature_error

        raise course_signature_error("hubrl.evaluate_agent", "(policy, env_id=None, n_eval_episodes=...)",
                                     "the notebook's evaluate_agent(env, max_steps, n_eval_episodes, policy)",
                                     "from hubrl.course import evaluate_agent")
    env_id = env_id or policy.config.env_id
    if n_eval_episodes <= 0:
        raise ConfigError(f"n_eval_episodes must be positive, got {n_eval_episodes}")
    max_steps = max_steps or env_info(env_id).max_t
    seeds = [seed + i for i in range(n_eval_episodes)]
    returns = np.zeros(n_eval_episodes)
    lengths = np.zeros(n_eval_episodes, dtype=np.int64)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    episodes = SeededEpisodes(env_id, seeds, observation=policy.config.env_options)
    try:
        episodes.check_fits(policy.config)
        sampler = policy.sampler()
        act = episodes.actor(sampler, deterministic=deterministic)
        # diverged weights: see NumpySampler.logits
        with np.errstate(over="ignore", invalid="ignore"), one_blas_thread(sampler):
            for _, _, reward, running, _ in episode_steps(episodes, episodes.reset(), act, max_steps=max_steps,
                                                          env_action=env_actions(sampler)):
                returns += reward  # 0 for the episodes that have ended
                lengths += running
                if deadline is not None and time.monotonic() > deadline:
                    steps = int(lengths.max())
                    raise TimeLimitError(f"evaluating on {env_id} took more than {time_limit:.3g} s (wall clock) after "
                                         f"{steps} step{'s' * (steps != 1)}; raise --time-limit to let it finish")
    finally:
        episodes.close()
    return Evaluation(
        env_id=env_id,
        episode_returns=[float(r) for r in returns],
        episode_lengths=[int(n) for n in lengths],
        seeds=seeds,
        max_steps=int(max_steps),
        deterministic=deterministic,
    )

