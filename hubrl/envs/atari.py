"""ALE games for policy-gradient training: any game as DQN saw it (``obs_mode="frames"``), and the course era's Pong
pipelines (``"pixels"``: Karpathy's "Pong from pixels"; ``"ram"``), single and batched.

**Any ALE game** (``obs_mode="frames"``, :func:`make_frames_env`): gymnasium's ``AtariPreprocessing`` (the game's
own frameskip of 4 done by the wrapper, max-pooling the last two frames, up to 30 no-op steps after a reset, 84x84
grey frames by OpenCV's area resize; no life-loss terminals, no reward clipping, no fire-on-reset) and
``FrameStackObservation`` of the last 4 frames (zeros before the first): ``uint8[4, 84, 84]``, read by the Nature
CNN. Everything else is the
``-v5`` game as registered: the game's own action set (the legal actions it defines, e.g. 4 for Breakout, not
ALE's full 18), sticky actions (0.25), the 108,000-frame cap. The batched version (:func:`make_atari_vector_env`)
runs these in this process (``sync``), in worker processes (``async``), or as ale-py's threaded C++ vector env
(``native``) asked for the same preprocessing; see :class:`FramesNativeVectorEnv` for how its frames compare.

**Pong, as in the course era** (``ALE/Pong-v5`` only):

``ALE/Pong-v5`` hands out 210x160 RGB frames and six actions. A REINFORCE agent learns far faster from a
smaller, cleaner signal, so :class:`PongPixels` applies the classic recipe:

1. **Crop** rows 35..194: drop the score board above and the bottom wall below; what is left is the court.
2. **Downsample** by 2 in both directions and keep one colour channel (red): 80x80 = 6400 numbers.
3. **Binarise**: the court background (red value 144; 109 in the dimmer frame shown at reset) becomes 0 and
   everything else (both paddles, the ball) becomes 1. Colour carries no information here; removing it
   leaves only *where* things are.
4. **Frame difference**: the observation is ``current - previous`` preprocessed frame, flattened to
   ``float32[6400]`` with values in {-1, 0, 1}. A single frame cannot tell which way the ball flies; the
   difference shows motion (where the ball was: -1, where it is now: +1) and blanks everything that is
   still. At reset the previous frame is all zeros, so **the first observation of an episode is the first
   preprocessed frame itself** (0/1 values showing both paddles). Karpathy's ``pg-pong.py`` feeds zeros
   for that single step instead; the two differ in one step per episode only.
5. **Two actions**: 0 = up (ALE ``RIGHT``), 1 = down (ALE ``LEFT``). NOOP and FIRE are not needed to play
   Pong (the ball serves itself), and a two-way choice is a single Bernoulli for the policy.

:class:`PongRAM` is the cheap alternative: the 128 bytes of console RAM scaled to [0, 1] (``ram / 255``),
with the same two actions and nothing else: no frame difference, no byte selection. The RAM is the whole game
state (``ram[51]`` is the agent's paddle y, for instance), so it is a compact input for small networks.

Everything else of ``ALE/Pong-v5`` is unchanged: frameskip 4, sticky actions (repeat probability 0.25),
rewards +-1 per point, the episode ends when one side reaches 21 (truncated after 108,000 frames = 27,000
steps). ``render()`` passes through to ALE, so ``render_mode="rgb_array"`` gives the original 210x160x3
frames for videos.

Batched copies (:func:`make_atari_vector_env`):

* ``workers="sync"`` (default): all copies in this process (:class:`gymnasium.vector.SyncVectorEnv`). Copy
  ``i`` is exactly a single env seeded ``s + i``; nothing to start, pickle or lose. To use more cores, run
  several of these in worker processes with one message per update (``hubrl.collect``), not per step.
* ``workers="async"``: one wrapped env per worker process (:class:`gymnasium.vector.AsyncVectorEnv`, shared
  memory, ``forkserver`` start method: safe when the parent runs torch threads, but a script that builds
  one must guard its entry point with ``if __name__ == "__main__":``). Same observations as ``sync``; it
  pays a pipe round trip per step, so it only pays off with several spare cores.
* ``workers="native"`` (pixels only): ale-py's multi-threaded C++ vector env
  (:class:`ale_py.vector_env.AtariVectorEnv`) asked for full-size RGB frames with none of its own
  preprocessing (no resize, stacking, max-pooling, no-op starts, fire reset or reward clipping), then the
  same crop/binarise/difference as :class:`PongPixels` in one numpy pass over the batch. Given the same
  emulator state the observation is bit-identical to :class:`PongPixels`, and the dynamics (frameskip,
  sticky actions, episode cap) are read from the env id's spec. Two honest differences: ALE's random stream
  is seeded with ``seed + i`` directly, whereas ``gymnasium.make`` derives it through
  ``numpy.random.SeedSequence``, so with sticky actions the same seed gives a *different* (equally valid,
  equally reproducible) sequence of repeated actions than the per-env paths; and on the step that ends an
  episode the C++ env hands back the frame from before the game ended, so that final observation is all
  zeros (a policy never acts on it). Without sticky actions (``PongNoFrameskip-v4``) it matches the per-env
  path step for step apart from that final observation.

Speed on a 2-core machine with nothing else running (random actions, preprocessing included, steps/s summed
over copies, N = 2..16): one env ~2,600; sync ~2,300-2,450; async ~2,450-2,900 (it spends ~590 us of CPU
per step against ~410 for sync); native ~3,400-3,800. With a 6400-200-1 policy forward per step in the
loop (torch on 1 thread): sync ~2,050-2,100, async ~2,200, native ~2,550-2,650.

All three reset with ``reset(seed=s)`` seeding copy ``i`` with ``s + i`` and autoreset in ``NEXT_STEP`` mode
(the step after ``terminated | truncated`` returns the new episode's first observation, reward 0).
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from hubrl.envs.observation import ATARI_OBS_MODES
from hubrl.errors import ConfigError, UnknownEnvError


ATARI_WORKERS = ("sync", "async", "native")
"""How :func:`make_atari_vector_env` runs its copies (see the module docstring)."""

FRAMES = "frames"
"""The ``obs_mode`` of any ALE game: the DQN preprocessing (:func:`make_frames_env`)."""
PONG_MODES = ("pixels", "ram")
"""The ``obs_mode`` values of the course era's two-action Pong pipelines (ALE Pong only)."""
FRAME_SIZE = 84
FRAME_STACK = 4
NOOP_MAX = 30

UP, DOWN = 0, 1
"""The two agent actions, mapped to ALE ``RIGHT`` (paddle up) and ``LEFT`` (paddle down)."""

FRAME_SHAPE = (80, 80)
PIXELS_OBS_SIZE = FRAME_SHAPE[0] * FRAME_SHAPE[1]
RAM_OBS_SIZE = 128

BACKGROUND_RED = (144, 109)
"""Red-channel values of the Pong court: 144 in play, 109 in the dimmer frame at reset."""

ASYNC_CONTEXT = "forkserver"
"""Start method of the async workers: safe in a parent that runs torch threads (``fork`` is not); it costs
about 0.2 s per worker at start-up on Linux."""


def preprocess_frame(frame: np.ndarray) -> np.ndarray:
    """RGB frame(s) ``(..., 210, 160, 3)`` -> binarised court ``(..., 80, 80)`` float32 (1 = paddle/ball)."""
    red = frame[..., 35:195:2, ::2, 0]
    foreground = (red != BACKGROUND_RED[0]) & (red != BACKGROUND_RED[1])
    return foreground.astype(np.float32)


def _ale_action_ids(action_names: list[str], env_id: str) -> np.ndarray:
    """Indices of RIGHT (up) and LEFT (down) in an ALE action set, in the order of :data:`UP`, :data:`DOWN`."""
    try:
        return np.array([action_names.index("RIGHT"), action_names.index("LEFT")])
    except ValueError:
        raise ConfigError(f"{env_id} has no RIGHT/LEFT actions; the two-action Pong wrappers need them") from None


class _TwoActionPong(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """Shared part of the Pong wrappers: two actions (0 = up, 1 = down) and a per-mode observation.

    They take no arguments beyond the env, recorded as such, so ``env.spec`` describes the wrapped env and gymnasium
    can re-create it from its spec."""

    def __init__(self, env: gymnasium.Env, expected_obs_shape: tuple[int, ...]):
        gymnasium.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        inner_shape = env.observation_space.shape
        if inner_shape != expected_obs_shape:
            raise ConfigError(
                f"{type(self).__name__} needs an ALE env with observations of shape {expected_obs_shape}, "
                f"got {inner_shape}; build it with make_atari_env()"
            )
        env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        self._ale_actions = _ale_action_ids(list(env.unwrapped.get_action_meanings()), env_id)
        self.action_space = spaces.Discrete(2)

    def _observe(self, raw: np.ndarray, *, first: bool) -> np.ndarray:
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        raw, info = self.env.reset(seed=seed, options=options)
        return self._observe(raw, first=True), info

    def step(self, action):
        a = int(action)
        if a not in (UP, DOWN):
            raise ValueError(f"action must be 0 (up) or 1 (down), got {action!r}")
        raw, reward, terminated, truncated, info = self.env.step(int(self._ale_actions[a]))
        return self._observe(raw, first=False), reward, terminated, truncated, info


class PongPixels(_TwoActionPong):
    """Pong from pixels: observation = difference of consecutive binarised 80x80 frames, ``float32[6400]``.

    Wraps an ALE env with RGB observations (``gymnasium.make("ALE/Pong-v5")``). The first observation after
    ``reset`` is the first preprocessed frame (previous frame = zeros). See the module docstring.
    """

    def __init__(self, env: gymnasium.Env):
        super().__init__(env, expected_obs_shape=(210, 160, 3))
        self.observation_space = spaces.Box(-1.0, 1.0, (PIXELS_OBS_SIZE,), np.float32)
        self._previous = np.zeros(FRAME_SHAPE, np.float32)

    def _observe(self, raw: np.ndarray, *, first: bool) -> np.ndarray:
        if first:
            self._previous = np.zeros(FRAME_SHAPE, np.float32)
        frame = preprocess_frame(raw)
        diff = frame - self._previous
        self._previous = frame
        return diff.reshape(PIXELS_OBS_SIZE)


class PongRAM(_TwoActionPong):
    """Pong from RAM: observation = the 128 console RAM bytes as ``float32`` in [0, 1] (``ram / 255``).

    Wraps an ALE env built with ``obs_type="ram"``. No frame difference: the raw RAM only.
    """

    def __init__(self, env: gymnasium.Env):
        super().__init__(env, expected_obs_shape=(RAM_OBS_SIZE,))
        self.observation_space = spaces.Box(0.0, 1.0, (RAM_OBS_SIZE,), np.float32)

    def _observe(self, raw: np.ndarray, *, first: bool) -> np.ndarray:
        return raw.astype(np.float32) / np.float32(255.0)


def _check_obs_mode(obs_mode: str) -> None:
    if obs_mode not in ATARI_OBS_MODES:
        raise ConfigError(f"unknown obs_mode {obs_mode!r}; choose one of: {', '.join(ATARI_OBS_MODES)}")


def _ale_spec(env_id: str, obs_mode: str = FRAMES) -> gymnasium.envs.registration.EnvSpec:
    """The gymnasium spec of an ALE env id, or :class:`UnknownEnvError` / :class:`ConfigError` (the Pong pipelines
    on another game included)."""
    import ale_py

    from hubrl.envs.facts import unknown_env_message

    gymnasium.register_envs(ale_py)  # as hubrl.envs.register_envs does (this module is below it: no import back)
    try:
        spec = gymnasium.spec(env_id)
    except gymnasium.error.UnregisteredEnv:
        raise UnknownEnvError(unknown_env_message(env_id, gymnasium.registry)) from None
    if not str(spec.entry_point).startswith("ale_py"):
        raise ConfigError(f"{env_id} is not an ALE game; the Atari pipelines are for ale-py's games, e.g. "
                          "'ALE/Breakout-v5' or 'ALE/Pong-v5'")
    if obs_mode in PONG_MODES and spec.kwargs.get("game") != "pong":
        raise ConfigError(f"obs_mode {obs_mode!r} is the course era's two-action Pong pipeline (ALE/Pong-v5 only); "
                          f"{env_id} takes obs_mode 'frames'")
    return spec


def make_frames_env(env_id: str, *, render_mode: str | None = None, noop_max: int = NOOP_MAX,
                    **make_kwargs: Any) -> gymnasium.Env:
    """Any ALE game as DQN saw it: ``AtariPreprocessing`` (84x84 grey, the game's frameskip with max-pooling, up
    to ``noop_max`` no-ops at reset) and the last 4 frames stacked, ``uint8[4, 84, 84]``, the frames before the
    first one zeros (as ale-py's native vector env pads them); the game's own action set. ``make_kwargs`` go to
    ``gymnasium.make`` (e.g. ``repeat_action_probability=0.0``).

    Raises:
        gymnasium.error.DependencyNotInstalled: OpenCV is missing (``hubrl.envs.make_env`` names ``hubrl[atari]``).
    """
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    frameskip = _ale_spec(env_id).kwargs.get("frameskip", 4)
    if not isinstance(frameskip, int):
        raise ConfigError(f"{env_id} uses a random frameskip {frameskip}; the frames pipeline needs a fixed one")
    env = gymnasium.make(env_id, frameskip=1, render_mode=render_mode, **make_kwargs)  # the wrapper skips frames
    try:
        env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=frameskip, screen_size=FRAME_SIZE,
                                 terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
    except BaseException:
        env.close()
        raise
    return FrameStackObservation(env, FRAME_STACK, padding_type="zero")


def make_atari_env(
    env_id: str = "ALE/Pong-v5",
    *,
    obs_mode: str = "pixels",
    render_mode: str | None = None,
    **make_kwargs: Any,
) -> gymnasium.Env:
    """One ALE env with a training-ready observation.

    ``obs_mode="frames"`` -> any game, :func:`make_frames_env` (``uint8[4, 84, 84]``, the game's actions). Pong
    only, two actions: ``"pixels"`` -> :class:`PongPixels` (``float32[6400]`` in {-1, 0, 1}); ``"ram"`` ->
    :class:`PongRAM` (``float32[128]`` in [0, 1]). ``render_mode="rgb_array"`` renders the original frames.
    Extra keyword arguments go to ``gymnasium.make`` (e.g. ``repeat_action_probability=0.0``).
    """
    _check_obs_mode(obs_mode)
    if "obs_type" in make_kwargs:
        raise ConfigError("pass obs_mode='frames', 'pixels' or 'ram' instead of obs_type; the wrapper picks the ALE "
                          "obs_type")
    _ale_spec(env_id, obs_mode)
    if obs_mode == FRAMES:
        return make_frames_env(env_id, render_mode=render_mode, **make_kwargs)
    if obs_mode == "pixels":
        return PongPixels(gymnasium.make(env_id, obs_type="rgb", render_mode=render_mode, **make_kwargs))
    return PongRAM(gymnasium.make(env_id, obs_type="ram", render_mode=render_mode, **make_kwargs))


class PongPixelsNativeVectorEnv(VectorEnv):
    """``num_envs`` Pong copies in ale-py's multi-threaded C++ vector env, with :class:`PongPixels` observations.

    The C++ env is asked for raw 210x160 RGB frames (no resize, stacking, max-pooling, no-op starts, fire
    reset or reward clipping); the crop/binarise/difference runs in numpy over the whole batch. See the
    module docstring for how it differs from the per-env paths (seeding of sticky actions, last frame).
    """

    def __init__(self, env_id: str, num_envs: int, *, num_threads: int = 0):
        from ale_py.vector_env import AtariVectorEnv

        spec = _ale_spec(env_id, "pixels")
        kwargs = spec.kwargs
        frameskip = kwargs.get("frameskip", 4)
        if not isinstance(frameskip, int):
            raise ConfigError(f"{env_id} uses a random frameskip {frameskip}; workers='native' needs a fixed one")
        self._ale = AtariVectorEnv(
            kwargs["game"],
            num_envs,
            num_threads=num_threads,
            frameskip=frameskip,
            repeat_action_probability=kwargs.get("repeat_action_probability", 0.25),
            max_num_frames_per_episode=kwargs.get("max_num_frames_per_episode", 108000),
            full_action_space=kwargs.get("full_action_space", False),
            img_height=210,
            img_width=160,
            grayscale=False,
            stack_num=1,
            maxpool=False,
            noop_max=0,
            use_fire_reset=False,
            reward_clipping=False,
            episodic_life=False,
            autoreset_mode=AutoresetMode.NEXT_STEP,
        )
        action_names = [action.name for action in self._ale.ale.get_action_set()]
        self._ale_actions = _ale_action_ids(action_names, env_id).astype(np.int32)
        self.num_envs = num_envs
        self.single_observation_space = spaces.Box(-1.0, 1.0, (PIXELS_OBS_SIZE,), np.float32)
        self.single_action_space = spaces.Discrete(2)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}
        self.spec = None
        self._previous = np.zeros((num_envs, *FRAME_SHAPE), np.float32)
        self._starting = np.ones(num_envs, dtype=bool)  # whose next observation begins an episode

    def _observe(self, frames: np.ndarray) -> np.ndarray:
        current = preprocess_frame(frames[:, 0])  # (N, 1, 210, 160, 3) -> (N, 80, 80)
        self._previous[self._starting] = 0.0
        diff = current - self._previous
        self._previous = current
        return diff.reshape(self.num_envs, PIXELS_OBS_SIZE)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        if options:
            raise ConfigError("workers='native' resets all copies at once; reset options are not supported")
        if seed is not None and not isinstance(seed, int):
            seed = np.asarray(seed, dtype=np.int64)
        frames, info = self._ale.reset(seed=seed)
        self._starting[:] = True
        obs = self._observe(frames)
        self._starting[:] = False
        return obs, info

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.isin(actions, (UP, DOWN)).all():
            raise ValueError(f"actions must be {self.num_envs} values in {{0, 1}}, got {actions!r}")
        frames, reward, terminated, truncated, info = self._ale.step(self._ale_actions[actions])
        obs = self._observe(frames)
        self._starting = np.logical_or(terminated, truncated)  # NEXT_STEP: their next step is a reset
        return obs, reward.astype(np.float64), terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._ale.close()


class FramesNativeVectorEnv(VectorEnv):
    """``num_envs`` copies of any ALE game in ale-py's multi-threaded C++ vector env, preprocessed as
    :func:`make_frames_env` does: the game's frameskip with max-pooling, up to 30 no-ops, 84x84 grey, 4 stacked.

    Training only (evaluation and recording play :func:`make_frames_env`). The dynamics are the registered game's
    (frameskip, sticky actions, frame cap, action set). Given the same game (no sticky actions, no no-ops, the same
    actions) its frames and rewards are bit-identical to :func:`make_frames_env`'s (tests/test_any_env.py). The
    differences: ALE's random stream is seeded with ``seed + i`` directly, so the sticky actions and no-ops of a
    seed differ from gymnasium's (equally reproducible); the terminal step's frame is the one before game over.
    """

    def __init__(self, env_id: str, num_envs: int, *, num_threads: int = 0, noop_max: int = NOOP_MAX,
                 repeat_action_probability: float | None = None):
        from ale_py.vector_env import AtariVectorEnv

        kwargs = _ale_spec(env_id).kwargs
        frameskip = kwargs.get("frameskip", 4)
        if not isinstance(frameskip, int):
            raise ConfigError(f"{env_id} uses a random frameskip {frameskip}; workers='native' needs a fixed one")
        if repeat_action_probability is None:
            repeat_action_probability = kwargs.get("repeat_action_probability", 0.25)
        self._ale = AtariVectorEnv(
            kwargs["game"], num_envs, num_threads=num_threads, frameskip=frameskip,
            repeat_action_probability=repeat_action_probability,
            max_num_frames_per_episode=kwargs.get("max_num_frames_per_episode", 108000),
            full_action_space=kwargs.get("full_action_space", False), img_height=FRAME_SIZE, img_width=FRAME_SIZE,
            grayscale=True, stack_num=FRAME_STACK, maxpool=True, noop_max=noop_max, use_fire_reset=False,
            reward_clipping=False, episodic_life=False, autoreset_mode=AutoresetMode.NEXT_STEP,
        )
        self.num_envs = num_envs
        self.single_observation_space = spaces.Box(0, 255, (FRAME_STACK, FRAME_SIZE, FRAME_SIZE), np.uint8)
        self.single_action_space = spaces.Discrete(len(self._ale.ale.get_action_set()))
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}
        self.spec = None

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        if options:
            raise ConfigError("workers='native' resets all copies at once; reset options are not supported")
        if seed is not None and not isinstance(seed, int):
            seed = np.asarray(seed, dtype=np.int64)
        return self._ale.reset(seed=seed)

    def step(self, actions):
        obs, reward, terminated, truncated, info = self._ale.step(np.asarray(actions, dtype=np.int32))
        return obs, reward.astype(np.float64), terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._ale.close()


def make_atari_vector_env(
    env_id: str,
    num_envs: int,
    *,
    obs_mode: str = "pixels",
    workers: str = "sync",
) -> gymnasium.vector.VectorEnv:
    """``num_envs`` copies of :func:`make_atari_env` as one vector env (``NEXT_STEP`` autoreset).

    ``workers``: ``"sync"`` in-process (default), ``"async"`` worker processes (for machines with spare
    cores), ``"native"`` ale-py's threaded C++ env (``frames`` and ``pixels``; seeds sticky actions differently,
    see the module docstring). ``reset(seed=s)`` seeds copy ``i`` with ``s + i``.
    """
    _check_obs_mode(obs_mode)
    if workers not in ATARI_WORKERS:
        raise ConfigError(f"unknown workers {workers!r}; choose one of: {', '.join(ATARI_WORKERS)}")
    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ConfigError(f"num_envs must be a positive integer, got {num_envs!r}")
    num_envs = int(num_envs)
    _ale_spec(env_id, obs_mode)
    if workers == "native":
        if obs_mode == "ram":
            raise ConfigError("workers='native' serves obs_mode 'frames' and 'pixels'; use workers='sync' or 'async' "
                              "for 'ram'")
        if obs_mode == FRAMES:
            return FramesNativeVectorEnv(env_id, num_envs)
        return PongPixelsNativeVectorEnv(env_id, num_envs)
    env_fns = [functools.partial(make_atari_env, env_id, obs_mode=obs_mode)] * num_envs
    if workers == "sync":
        return gymnasium.vector.SyncVectorEnv(env_fns, autoreset_mode=AutoresetMode.NEXT_STEP)
    return gymnasium.vector.AsyncVectorEnv(
        env_fns, shared_memory=True, context=ASYNC_CONTEXT, autoreset_mode=AutoresetMode.NEXT_STEP
    )
