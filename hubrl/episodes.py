"""Playing episodes: the one per-step loop every player runs, and seeded single-env episodes for it to run on.

:func:`episode_steps` is the loop: act on every copy's observation, step the env, hand the step to the caller, until
every copy's episode has ended (or, with ``autoreset``, for exactly ``max_steps`` steps). Training collects its
batches with it on a vector env (:mod:`hubrl.collect`); evaluation and recording run it on :class:`SeededEpisodes`:
one single env per episode, reset with the episode's seed and sampling from a generator seeded the same way, so an
episode's result depends on its seed alone, never on the episodes beside it (gymnasium's ``CartPoleVectorEnv``
draws every copy from one generator, which is why evaluation does not use a vector env). Numpy only: no torch.

Actions are what the policy samples (an action index, or a Gaussian's sample); the env is stepped with
``env_action(actions)`` where the policy bounds its samples for the env (:meth:`hubrl.policy.NumpySampler.env_actions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from hubrl.envs import make_env
from hubrl.envs.observation import ObservationSpec
from hubrl.errors import AgentFormatError, ConfigError
from hubrl.policy import NumpySampler, draw

Act = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``act(obs, running) -> actions``: one action for every copy, given all observations and which copies run."""
Step = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""What :func:`episode_steps` yields: ``(obs, actions, reward, running, done)``."""


def episode_steps(env, obs: np.ndarray, act: Act, *, max_steps: int, autoreset: bool = False,
                  env_action: Callable[[np.ndarray], np.ndarray] | None = None) -> Iterator[Step]:
    """Step every copy of ``env`` from ``obs`` until all episodes end or ``max_steps`` steps pass; yield each step.

    Each step yields ``(obs, actions, reward, running, done)``: the observations acted on, the actions, the
    rewards, which copies were in an episode at this step (not finished, not on a reset step) and which episodes
    ended with it. A copy whose episode ended keeps being stepped (a vector env steps every copy) but is no longer
    ``running``; the loop stops once none is. With ``autoreset`` the loop runs exactly ``max_steps`` steps and a
    copy whose episode ended runs again after its reset step (the vector env's NEXT_STEP autoreset).

    ``env_action`` maps the actions to what the env is stepped with (a Gaussian policy's bounds); the actions
    yielded are the policy's own.

    This is every player's hot loop: keep it to one ``act``, one ``env.step`` and a few mask operations.
    Callers wrap it in ``np.errstate(over="ignore", invalid="ignore")`` when weights may have diverged
    (see :meth:`hubrl.policy.NumpySampler.logits`).
    """
    running = np.ones(len(obs), dtype=bool)
    for _ in range(max_steps):
        actions = act(obs, running)
        next_obs, reward, terminated, truncated, _ = env.step(actions if env_action is None else env_action(actions))
        done = terminated | truncated
        yield obs, actions, reward, running, done
        if autoreset:
            running = ~done  # an ended copy's next step is its reset, not a transition
        else:
            running = running & ~done
            if not running.any():
                return
        obs = next_obs


class SeededEpisodes:
    """One single env per seeded episode, stepped together like a vector env: what evaluation and recording play.

    Episode ``i`` is reset with ``seeds[i]`` and draws its sampling uniforms from ``default_rng(seeds[i])``;
    :meth:`step` steps only the episodes still running, and :meth:`actor` runs the policy's forward pass on
    exactly those rows. An episode's actions therefore do not depend on how many episodes run beside it.

    Example:
        >>> episodes = SeededEpisodes("CartPole-v1", [0, 1, 2])
        >>> obs = episodes.reset()
        >>> for obs, actions, reward, running, done in episode_steps(
        ...         episodes, obs, episodes.actor(policy.sampler()), max_steps=1000):
        ...     pass
    """

    def __init__(self, env_id: str, seeds: Sequence[int], *,
                 observation: ObservationSpec | Mapping[str, Any] | None = None, render_mode: str | None = None):
        self.seeds = list(seeds)
        self.envs: list[Any] = []
        try:
            for _ in self.seeds:
                self.envs.append(make_env(env_id, render_mode=render_mode, observation=observation))
        except BaseException:
            self.close()
            raise
        self.rngs = [np.random.default_rng(s) for s in self.seeds]
        self.finished = np.zeros(len(self.seeds), dtype=bool)
        self._obs: np.ndarray | None = None
        space = self.envs[0].observation_space if self.envs else None
        self._obs_dtype = np.uint8 if getattr(space, "dtype", None) == np.uint8 else np.float32
        """Images stay bytes (the convolutions scale them); everything else is float32, as the networks read it."""
        self._discrete = hasattr(self.envs[0].action_space, "n") if self.envs else True

    def reset(self) -> np.ndarray:
        """Reset episode ``i`` with ``seeds[i]``; the first observations as one array (float32, or uint8 images)."""
        self._obs = np.stack([env.reset(seed=s)[0] for env, s in zip(self.envs, self.seeds)]).astype(self._obs_dtype)
        self.finished[:] = False
        return self._obs.copy()

    def step(self, actions: np.ndarray):
        """Step the episodes still running with their ``actions``; the others report done and reward 0."""
        obs = self._obs
        reward = np.zeros(len(self.envs))
        for i in np.flatnonzero(~self.finished):
            o, r, terminated, truncated, _ = self.envs[i].step(int(actions[i]) if self._discrete else actions[i])
            obs[i] = o
            reward[i] = r
            self.finished[i] = terminated or truncated
        return obs.copy(), reward, self.finished.copy(), np.zeros_like(self.finished), {}

    def check_fits(self, config: Any) -> None:
        """The policy of ``config`` takes these episodes' observations (as training describes them:
        :func:`hubrl.envs.spaces.describe_spaces`) and acts in their action space (a categorical head: its number of
        actions; a Gaussian head: its dimensions and, for a bounded space, exactly its bounds, so no config can step
        the env outside the game's own action space).

        Raises:
            AgentFormatError: its sizes, layout or bounds differ from the env's, or the env's spaces are ones hubrl
                cannot play (someone else's config.json may say anything).
        """
        from hubrl.envs.spaces import describe_spaces

        env = self.envs[0]
        name = env.spec.id if env.spec else "the env"
        try:
            spaces = describe_spaces(name, env.observation_space, env.action_space)
        except ConfigError as err:
            raise AgentFormatError(str(err)) from None
        expected = tuple(config.obs_shape) if config.obs_shape else (config.obs_dim,)
        if expected != spaces.obs_shape or (config.conv_layers and (
                not spaces.image or config.channels_last != spaces.channels_last)):
            raise AgentFormatError(f"the policy takes observations of shape {expected}"
                                   f"{' (uint8 images)' if config.conv_layers else ''}, but {name} gives "
                                   f"observations of shape {spaces.obs_shape}"
                                   f"{' (uint8 images)' if spaces.image else ''}")
        if config.head != "gaussian":
            if not spaces.discrete or spaces.n_actions != config.n_actions:
                raise AgentFormatError(f"the policy picks one of {config.n_actions} actions, but {name} has "
                                       f"{f'{spaces.n_actions} actions' if spaces.discrete else 'continuous actions'}")
            return
        if spaces.discrete or spaces.n_actions != config.n_actions:
            raise AgentFormatError(f"the policy gives {config.n_actions}-dimensional continuous actions, but {name}'s "
                                   f"action space is {env.action_space}")
        if spaces.bounded != (config.action_bounds != "none") or spaces.bounded and not (
                np.allclose(config.action_low, spaces.action_low) and np.allclose(config.action_high, spaces.action_high)):
            raise AgentFormatError(f"the policy's action bounds ({config.action_bounds}: {config.action_low} .. "
                                   f"{config.action_high}) are not {name}'s ({env.action_space})")

    def actor(self, sampler: NumpySampler, *, deterministic: bool = False) -> Act:
        """The ``act`` for :func:`episode_steps`: each running episode samples from its own generator (or argmax)."""

        def act(obs: np.ndarray, running: np.ndarray) -> np.ndarray:
            idx = np.flatnonzero(running)
            draws = None if deterministic else np.concatenate([draw(sampler, self.rngs[i], 1) for i in idx])
            chosen = sampler.actions(obs[idx], uniforms=draws)
            actions = np.zeros((len(obs), *chosen.shape[1:]), dtype=np.int64 if chosen.ndim == 1 else np.float32)
            actions[idx] = chosen
            return actions

        return act

    def close(self) -> None:
        for env in self.envs:
            env.close()
