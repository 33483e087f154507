"""What a policy for an env must take and give: the env's spaces as hubrl reads them (:class:`EnvSpaces`).

hubrl plays ``Box`` observations (vectors, flattened when they have more axes, and ``uint8`` images of rank 2 or 3,
which get a convolutional torso) with ``Discrete`` actions (a categorical policy) or ``Box`` actions (a diagonal
Gaussian). Any other space (``Dict``, ``Tuple``, ``MultiDiscrete``, ``MultiBinary``, ``Text``, ``Discrete``
observations...) is refused in one line naming it. gymnasium is imported only by :func:`describe_spaces`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hubrl.errors import ConfigError

MAX_CHANNELS_FIRST = 16
"""An image whose first axis is at most this and whose last axis is larger is read as (C, H, W) (stacked frames);
otherwise as (H, W, C), gymnasium's convention for rendered images."""


@dataclass(frozen=True)
class EnvSpaces:
    """An env's observation and action spaces, as the policy sees them.

    Example:
        >>> from hubrl.envs import env_spaces
        >>> env_spaces("Pendulum-v1")
        EnvSpaces(obs_shape=(3,), image=False, channels_last=False, discrete=False, n_actions=1, ...)
    """

    obs_shape: tuple[int, ...]
    image: bool = False
    """``uint8`` observations of rank 2 or 3: a convolutional torso reads them (scaled to [0, 1])."""
    channels_last: bool = False
    """For images: laid out (H, W, C) (rendered frames) rather than (C, H, W) (stacked frames)."""
    discrete: bool = True
    n_actions: int = 2
    """``Discrete``: the number of actions; ``Box``: the number of action dimensions."""
    action_low: tuple[float, ...] | None = None
    """``Box`` actions with finite bounds: the lowest value of each dimension (None: unbounded or discrete)."""
    action_high: tuple[float, ...] | None = None

    @property
    def obs_dim(self) -> int:
        return math.prod(self.obs_shape)

    @property
    def bounded(self) -> bool:
        return self.action_low is not None


def _name(space: Any) -> str:
    return f"{type(space).__name__} ({str(space)[:80]})"


def describe_spaces(env_id: str, observation_space: Any, action_space: Any) -> EnvSpaces:
    """The :class:`EnvSpaces` of an env with these spaces, or one line naming the space hubrl cannot handle.

    Raises:
        ConfigError: observations that are not a ``Box``, actions neither ``Discrete`` nor a flat ``Box``.
    """
    from gymnasium import spaces

    obs, act = observation_space, action_space
    if not isinstance(obs, spaces.Box) or not obs.shape:
        raise ConfigError(f"{env_id} has {_name(obs)} observations, which hubrl cannot handle: it plays Box "
                          "observations (vectors or images) with Discrete or Box actions")
    shape = tuple(int(n) for n in obs.shape)
    image = obs.dtype == "uint8" and len(shape) in (2, 3)
    channels_last = image and len(shape) == 3 and not (shape[0] <= MAX_CHANNELS_FIRST < shape[-1])
    if image and len(shape) == 2:
        shape = (1, *shape)  # one channel, first
    if isinstance(act, spaces.Discrete):
        if int(act.start) != 0:
            raise ConfigError(f"{env_id} numbers its {int(act.n)} actions from {int(act.start)}; hubrl's categorical "
                              "policy needs Discrete actions numbered from 0")
        return EnvSpaces(shape, image, channels_last, discrete=True, n_actions=int(act.n))
    if isinstance(act, spaces.Box) and len(act.shape) == 1 and act.shape[0] > 0:
        low, high = [float(v) for v in act.low], [float(v) for v in act.high]
        finite = all(map(math.isfinite, [*low, *high]))
        return EnvSpaces(shape, image, channels_last, discrete=False, n_actions=int(act.shape[0]),
                         action_low=tuple(low) if finite else None, action_high=tuple(high) if finite else None)
    raise ConfigError(f"{env_id} has {_name(act)} actions, which hubrl cannot handle: it plays Discrete actions "
                      "(a categorical policy) or a flat Box of continuous ones (a Gaussian policy)")
