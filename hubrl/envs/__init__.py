"""The environments hubrl trains on, in one table, and their gymnasium registration.

``import hubrl`` registers ``Pixelcopter-PLE-v0`` and ``Pong-PLE-v0`` (hubrl's trajectory-exact ports of the PLE
games, single and batched) and the ALE Atari games (``ALE/Pong-v5``) with gymnasium, so the usual
``gymnasium.make(env_id)`` and ``gymnasium.make_vec(env_id, num_envs=N, vectorization_mode="vector_entry_point")``
work. Every per-environment fact (course episode cap, best possible return, pass mark) lives in :data:`ENVS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium

from hubrl.errors import UnknownEnvError


@dataclass(frozen=True)
class EnvInfo:
    """Facts about one environment that training, evaluation and the leaderboard share."""

    env_id: str
    max_t: int
    """Course episode cap (``max_t``): evaluation and training stop an episode after this many steps."""
    max_return: float
    """Highest return reachable within ``max_t`` steps; a claimed mean above it is impossible."""
    min_return: float
    """Lowest return reachable (used to sanity check claims)."""
    pass_mark: float | None = None
    """Course certification threshold on mean - std, where the course sets one."""
    family: str = "classic"


ENVS: dict[str, EnvInfo] = {
    info.env_id: info
    for info in (
        EnvInfo("CartPole-v1", max_t=1000, max_return=500.0, min_return=1.0, pass_mark=350.0),
        # One slice leaves the screen every 6.25 frames (+1) and a block is passed every 50+ frames (+1):
        # over 10000 frames that is at most 1600 + 200.
        EnvInfo("Pixelcopter-PLE-v0", max_t=10000, max_return=1800.0, min_return=-5.0, pass_mark=5.0, family="ple"),
        EnvInfo("Pong-PLE-v0", max_t=5000, max_return=16.0, min_return=-16.0, family="ple"),
        EnvInfo("ALE/Pong-v5", max_t=27000, max_return=21.0, min_return=-21.0, family="atari"),
    )
}
"""Every environment hubrl knows, by gymnasium id."""

_registered = False


def register_envs() -> None:
    """Register hubrl's environments with gymnasium (idempotent; called by ``import hubrl``)."""
    global _registered
    if _registered:
        return
    for env_id, module, cls in (
        ("Pixelcopter-PLE-v0", "hubrl.envs.pixelcopter", "Pixelcopter"),
        ("Pong-PLE-v0", "hubrl.envs.pong", "Pong"),
    ):
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point=f"{module}:{cls}Env",
                vector_entry_point=f"{module}:{cls}VectorEnv",
                max_episode_steps=None,
                disable_env_checker=True,
            )
    try:
        import ale_py

        gymnasium.register_envs(ale_py)
    except ImportError:  # pragma: no cover - ale-py is a dependency; stay usable without it
        pass
    _registered = True


def env_info(env_id: str) -> EnvInfo:
    """Look up :class:`EnvInfo`, raising :class:`UnknownEnvError` with the list of known ids."""
    try:
        return ENVS[env_id]
    except KeyError:
        known = ", ".join(ENVS)
        raise UnknownEnvError(f"unknown environment {env_id!r}; hubrl knows: {known}") from None


def make_env(env_id: str, *, render_mode: str | None = None, **env_options) -> gymnasium.Env:
    """One environment, as evaluation and recording use it (ALE games get hubrl's preprocessing wrapper).

    ``obs_lags=[6, 12, 24]`` (any env) appends the observations of that many frames ago (see
    :mod:`hubrl.envs.history`).
    """
    info = env_info(env_id)
    register_envs()
    lags = env_options.pop("obs_lags", None)
    if info.family == "atari":
        from hubrl.envs.atari import make_atari_env

        env = make_atari_env(env_id, render_mode=render_mode, **env_options)
    elif env_options:
        raise UnknownEnvError(f"{env_id} takes no environment options but obs_lags, got {sorted(env_options)}")
    else:
        env = gymnasium.make(env_id, render_mode=render_mode)
    if lags is not None:
        from hubrl.envs.history import ObservationHistory

        env = ObservationHistory(env, lags)
    return env


def make_vector_env(env_id: str, num_envs: int, **env_options) -> gymnasium.vector.VectorEnv:
    """``num_envs`` copies for training: numpy-batched where hubrl/gymnasium has them, worker processes otherwise.

    Every vector env here autoresets in gymnasium's NEXT_STEP mode. ``obs_lags`` as in :func:`make_env`.
    """
    info = env_info(env_id)
    register_envs()
    lags = env_options.pop("obs_lags", None)
    if lags is not None:
        from hubrl.envs.history import check_lags

        check_lags(lags)  # before starting any copies
    if info.family == "atari":
        from hubrl.envs.atari import make_atari_vector_env

        venv = make_atari_vector_env(env_id, num_envs, **env_options)
    elif env_options:
        raise UnknownEnvError(f"{env_id} takes no environment options but obs_lags, got {sorted(env_options)}")
    else:
        venv = gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    if lags is not None:
        from hubrl.envs.history import VectorObservationHistory

        venv = VectorObservationHistory(venv, lags)
    return venv
