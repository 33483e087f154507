"""Short-term memory for memoryless policies: append the observations of a few frames ago to the current one.

A game's observation can miss what the next frames need. Pixelcopter's 7 values give the cave's ceiling and floor
at the copter only, not whether the cave rises or falls ahead (the terrain is a sine of about 105 frames' period),
and most of a trained agent's crashes are the floor or ceiling moving into it. The same observation from 6, 12 and
24 frames ago shows the slope and phase of the cave. This is the usual frame stacking, with chosen lags instead of
consecutive frames; it only changes what the agent sees, never the game.

``obs_lags=(6, 12, 24)`` turns a 7-value observation into 28 values: ``[o_t, o_{t-6}, o_{t-12}, o_{t-24}]``. At the
start of an episode the missing past is the first observation repeated (gymnasium's ``padding_type="reset"``).
The lags are an environment option (``env_options={"obs_lags": [6, 12, 24]}``), saved with the agent, so
evaluation, recording and a classmate loading the agent all build the same view.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from hubrl.envs.observation import check_lags
from hubrl.errors import ConfigError


def _stacked_space(space: spaces.Space, n_lags: int) -> spaces.Box:
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ConfigError(f"obs_lags needs a flat vector observation, this env has {space}")
    return spaces.Box(np.tile(space.low, n_lags + 1), np.tile(space.high, n_lags + 1), dtype=space.dtype)


class ObservationHistory(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """One env: observation ``[o_t, o_{t-lag} for each lag]``, the first observation standing in for the past.

    Its constructor arguments are recorded, so gymnasium can re-create the wrapped env from its spec.
    """

    def __init__(self, env: gymnasium.Env, lags: Sequence[int]):
        gymnasium.utils.RecordConstructorArgs.__init__(self, lags=list(lags))
        super().__init__(env)
        self.lags = check_lags(lags)
        self.observation_space = _stacked_space(env.observation_space, len(self.lags))
        self._past: deque[np.ndarray] = deque(maxlen=self.lags[-1] + 1)

    def _view(self) -> np.ndarray:
        past = self._past
        return np.concatenate([past[-1]] + [past[-1 - k] for k in self.lags])

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        self._past.extend([np.asarray(obs)] * self._past.maxlen)
        return self._view(), info

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._past.append(np.asarray(obs))
        return self._view(), reward, terminated, truncated, info


class VectorObservationHistory(gymnasium.vector.VectorWrapper):
    """The same view for every copy of a NEXT_STEP-autoreset vector env (a copy's past restarts with its episode)."""

    def __init__(self, env: gymnasium.vector.VectorEnv, lags: Sequence[int]):
        super().__init__(env)
        self.lags = check_lags(lags)
        self.single_observation_space = _stacked_space(env.single_observation_space, len(self.lags))
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)
        self._size = self.lags[-1] + 1
        self._ring: np.ndarray | None = None  # (size, num_envs, obs_dim); row t % size holds frame t
        self._t = 0
        self._restart = np.zeros(env.num_envs, dtype=bool)

    def _view(self) -> np.ndarray:
        ring, t, size = self._ring, self._t, self._size
        return np.concatenate([ring[t % size]] + [ring[(t - k) % size] for k in self.lags], axis=1)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        obs = np.asarray(obs)
        self._ring = np.broadcast_to(obs, (self._size, *obs.shape)).copy()
        self._t = 0
        self._restart[:] = False
        return self._view(), info

    def step(self, actions: Any) -> tuple[np.ndarray, Any, Any, Any, dict]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        self._t += 1
        self._ring[self._t % self._size] = obs
        if self._restart.any():  # NEXT_STEP autoreset: this step's obs starts a new episode for these copies
            self._ring[:, self._restart] = np.asarray(obs)[self._restart]
        self._restart = np.logical_or(terminated, truncated)
        return self._view(), reward, terminated, truncated, info
