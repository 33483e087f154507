"""The environments hubrl plays: their facts (:mod:`hubrl.envs.facts`), what the agent observes
(:mod:`hubrl.envs.observation`), their spaces (:mod:`hubrl.envs.spaces`) and the factories that build single and
batched copies of any env registered with gymnasium.

Importing this package loads no gymnasium: the facts and the observation spec are plain Python, and the factories
import gymnasium when called. An env whose package is missing (Box2D for LunarLander, MuJoCo, OpenCV for the Atari
frames) is refused in one line naming what to install (:class:`~hubrl.errors.MissingDependencyError`). ``import hubrl`` registers ``Pixelcopter-PLE-v0``, ``Pong-PLE-v0`` (hubrl's
trajectory-exact ports of the PLE games) and the ALE games with gymnasium as soon as gymnasium is imported
(:mod:`hubrl.envs.registration`), so the usual ``gymnasium.make(env_id)`` and ``gymnasium.make_vec(env_id,
num_envs=N, vectorization_mode="vector_entry_point")`` work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from hubrl.envs.facts import ENVS, PACKAGES, EnvInfo, env_info, install_hint
from hubrl.envs.observation import ObservationSpec
from hubrl.envs.spaces import EnvSpaces
from hubrl.errors import ConfigError, MissingDependencyError, first_line

if TYPE_CHECKING:
    import gymnasium

ENV_BACKENDS = ("auto", "sync", "async", "native")
"""How :func:`make_vector_env` runs its copies: ``auto`` (the env's own batched version where it has one, else all
copies in this process), ``sync`` (gymnasium's SyncVectorEnv), ``async`` (one worker process per copy),
``native`` (ale-py's threaded C++ vector env; ALE pixels only). An execution setting: never saved with the agent."""


def observation_spec(env_id: str, observation: ObservationSpec | Mapping[str, Any] | None = None,
                     **env_options: Any) -> ObservationSpec:
    """The validated :class:`ObservationSpec` for ``env_id`` from a spec, a saved ``env_options`` mapping, or keywords.

    Raises:
        UnknownEnvError: hubrl does not know ``env_id``.
        ConfigError: unknown keys (execution settings included), values out of bounds, or ``obs_mode`` on a game
            that has none.
    """
    info = env_info(env_id)
    if observation is not None and env_options:
        raise ConfigError("pass the observation spec either as observation= or as keywords, not both")
    return ObservationSpec.from_json(observation if observation is not None else env_options, family=info.family)


def make_env(env_id: str, *, render_mode: str | None = None,
             observation: ObservationSpec | Mapping[str, Any] | None = None, **env_options: Any) -> gymnasium.Env:
    """One environment, as evaluation and recording use it, showing the agent what ``observation`` says.

    ``observation`` (or its keys as keywords: ``obs_lags=[6, 12, 24]``, ``obs_mode="pixels"``) is validated first;
    nothing of it reaches ``gymnasium.make``, so it can never change the game.

    Raises:
        UnknownEnvError, ConfigError: see :func:`observation_spec`.
    """
    import gymnasium

    from hubrl.envs.registration import register_envs

    spec = observation_spec(env_id, observation, **env_options)
    register_envs()
    with installed(env_id):
        if env_info(env_id).family == "atari":
            from hubrl.envs.atari import make_atari_env

            env = make_atari_env(env_id, obs_mode=spec.obs_mode, render_mode=render_mode)
        else:
            env = gymnasium.make(env_id, render_mode=render_mode)
    if spec.obs_lags:
        from hubrl.envs.history import ObservationHistory

        env = ObservationHistory(env, spec.obs_lags)
    return env


def make_vector_env(env_id: str, num_envs: int, *, backend: str = "auto",
                    observation: ObservationSpec | Mapping[str, Any] | None = None,
                    **env_options: Any) -> gymnasium.vector.VectorEnv:
    """``num_envs`` copies for training, run as ``backend`` says (see :data:`ENV_BACKENDS`).

    Every vector env here autoresets in gymnasium's NEXT_STEP mode. ``observation`` as in :func:`make_env`.

    Raises:
        UnknownEnvError, ConfigError: see :func:`observation_spec`; or a backend the env cannot use.
    """
    import gymnasium

    from hubrl.envs.registration import register_envs

    spec = observation_spec(env_id, observation, **env_options)
    if backend not in ENV_BACKENDS:
        raise ConfigError(f"unknown env_backend {backend!r}; choose one of: {', '.join(ENV_BACKENDS)}")
    register_envs()
    with installed(env_id):
        if env_info(env_id).family == "atari":
            from hubrl.envs.atari import make_atari_vector_env

            venv = make_atari_vector_env(env_id, num_envs, obs_mode=spec.obs_mode,
                                         workers="sync" if backend == "auto" else backend)
        elif backend == "native":
            raise ConfigError("env_backend 'native' is ale-py's vector env, for ALE games only; use auto, sync or async")
        elif backend == "auto" and gymnasium.spec(env_id).vector_entry_point is not None:
            venv = gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
        else:  # auto without an own batched version: every copy in this process
            from gymnasium.vector import AutoresetMode

            venv = gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="async" if backend == "async" else "sync",
                                      vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP})
    if spec.obs_lags:
        from hubrl.envs.history import VectorObservationHistory

        venv = VectorObservationHistory(venv, spec.obs_lags)
    return venv


def env_spaces(env_id: str, observation: ObservationSpec | Mapping[str, Any] | None = None) -> EnvSpaces:
    """The spaces of ``env_id`` as an agent with ``observation`` sees them (one copy is made to read them).

    Raises:
        ConfigError: a space hubrl cannot handle (``Dict``, ``Tuple``, ``MultiDiscrete``, text...), named in one line.
        UnknownEnvError, MissingDependencyError: see :func:`make_env`.

    Example:
        >>> env_spaces("CartPole-v1").n_actions
        2
    """
    from hubrl.envs.spaces import describe_spaces

    env = make_env(env_id, observation=observation)
    try:
        return describe_spaces(env_id, env.observation_space, env.action_space)
    finally:
        env.close()


@contextlib.contextmanager
def installed(env_id: str) -> Iterator[None]:
    """Turn gymnasium's "not installed" errors while making ``env_id`` into one line naming what to install."""
    import gymnasium

    try:
        yield
    except (gymnasium.error.DependencyNotInstalled, ImportError) as err:
        info = env_info(env_id)
        if info.extra in PACKAGES:
            raise MissingDependencyError(missing_extra_message(env_id, info.extra)) from err
        raise MissingDependencyError(f"{env_id} needs a package that is not installed: {first_line(err)}") from err


def missing_extra_message(env_id: str, extra: str) -> str:
    return f"{env_id} needs {PACKAGES[extra]}, which is not installed: {install_hint(env_id, extra)}"


MODULES = {"box2d": "Box2D", "mujoco": "mujoco"}
"""The module an extra installs that every env needing it imports (found without importing it). ``atari``'s
OpenCV is left out: the ALE games' ``frames`` need it, ALE Pong's course-era pipelines do not."""


def unplayable_reason(env_id: str) -> str | None:
    """Why this machine cannot play ``env_id`` (not registered with gymnasium, or its extra not installed), in one
    line; None when it can. Cheap: nothing is imported beyond gymnasium's registry, no env is made.

    Example:
        >>> unplayable_reason("CartPole-v1") is None
        True
    """
    import importlib.util

    from hubrl.errors import UnknownEnvError

    try:
        info = env_info(env_id)
    except UnknownEnvError as err:
        return str(err)
    module = MODULES.get(info.extra or "")
    if module is not None and importlib.util.find_spec(module) is None:
        return missing_extra_message(env_id, info.extra)
    return None


def required_extra(env_id: str, observation: ObservationSpec | Mapping[str, Any] | None = None) -> str | None:
    """What a user installs beyond hubrl to play ``env_id`` as ``observation`` says (``hubrl[box2d]``), or None.

    Example:
        >>> required_extra("LunarLander-v3")
        'hubrl[box2d]'
    """
    info = env_info(env_id)
    if info.extra is None or (info.extra == "atari" and observation_spec(env_id, observation).obs_mode != "frames"):
        return None  # ALE Pong's course-era pipelines need no OpenCV
    return f"hubrl[{info.extra}]"


def register_envs() -> None:
    """Register hubrl's environments with gymnasium now (``import hubrl`` does it when gymnasium is imported)."""
    from hubrl.envs.registration import register_envs as register

    register()


__all__ = ["ENVS", "ENV_BACKENDS", "EnvInfo", "EnvSpaces", "ObservationSpec", "env_info", "env_spaces", "make_env",
           "make_vector_env", "observation_spec", "register_envs", "required_extra", "unplayable_reason"]
