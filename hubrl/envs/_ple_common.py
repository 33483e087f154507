"""Helpers shared by the PLE ports (Pixelcopter, Pong): pixel rounding, legacy random streams, drawing.

Why these exist:

- PLE places sprites with ``rect.center = (x, y)``; pygame >= 2.3 rounds such floats half away from zero (pygame-ce
  truncates), and Pixelcopter's collisions depend on it, so the ports round exactly that way (:func:`round_half_away`;
  the collision tests use float thresholds equal to it).
- The original games draw from one ``numpy.random.RandomState`` per env through the legacy API. The single envs call
  that API directly. The batched envs need thousands of draws per second spread over many games, where a Python call per
  draw would dominate, so :class:`LegacyStreams` keeps one legacy-seeded MT19937 per game and reproduces the legacy
  ``random_sample``/``uniform``/``randint`` arithmetic on buffered raw 32-bit words, vectorised over games. Same words,
  same order, same results (the tests compare against single envs bit for bit).
- Frames are drawn with numpy (no pygame needed for ``rgb_array``); ``human`` mode shows them in a pygame-ce window.
- :class:`PLEEnv` and :class:`PLEVectorEnv` hold the gymnasium side both games share (render modes, spaces, the
  window, reset/step around the game's own init/reset/frame), so a game module holds only its rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

FPS = 30
"""PLE runs these games at 30 frames per second, one frame per env step (force_fps, frame_skip 1)."""

FRAME_MS = 1000.0 / FPS
"""Milliseconds per frame exactly as PLE computes it (``1000.0 / fps``); Pong divides it by 1000 again."""

OBS_SIZE = 7
"""Both games observe 7 floats (the gym-games wrappers' state vectors)."""
SEED = 24
"""PLE builds every game with ``RandomState(24)``."""


def round_half_away(x: float) -> int:
    """Round like pygame >= 2.3 does when a float becomes a rect coordinate (0.5 -> 1, -0.5 -> -1).

    ``floor(x + 0.5)`` would be wrong for 0.49999999999999994, so the fractional part is compared instead (it is exact).
    """
    if x >= 0.0:
        f = math.floor(x)
        return f + 1 if x - f >= 0.5 else f
    f = math.floor(-x)
    return -(f + 1) if -x - f >= 0.5 else -f


def legacy_state(seed: int) -> dict[str, Any]:
    """MT19937 state of ``numpy.random.RandomState(seed)`` (legacy seeding), for a bare bit generator."""
    state = np.random.RandomState(seed).get_state(legacy=False)
    return {"bit_generator": "MT19937", "state": state["state"]}


def seed_list(seed: int | Sequence[int | None] | None, num_envs: int) -> list[int | None]:
    """Per-game seeds for a batched reset: ``s`` -> ``s, s+1, ...`` (gymnasium convention), or a list as given."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(num_envs)]
    seeds = [None if s is None else int(s) for s in seed]
    if len(seeds) != num_envs:
        raise ValueError(f"expected {num_envs} seeds, got {len(seeds)}")
    return seeds


class LegacyStreams:
    """``num_envs`` independent legacy ``RandomState`` streams whose draws are vectorised over games.

    Each game owns a legacy-seeded MT19937 bit generator (``RandomState(s)`` uses the same one). Raw 32-bit words are
    fetched in blocks into a per-game buffer and consumed exactly as the legacy API consumes them:

    - ``random_sample()``: two words a, b -> ``((a >> 5) * 2**26 + (b >> 6)) / 2**53``;
    - ``uniform(low, high)``: ``low + (high - low) * random_sample()``;
    - ``randint(low, high)``: words masked to the smallest ``2**k - 1 >= high - low - 1`` until one is in range.

    Fetching ahead leaves the bit generator ahead of the logical position; nothing else reads it, and reseeding
    drops the buffer.
    """

    def __init__(self, num_envs: int, seed: int = 24, block: int = 4096) -> None:
        self.num_envs = num_envs
        self.block = block
        self.bitgens = [np.random.MT19937() for _ in range(num_envs)]
        self.words = np.zeros((num_envs, block), dtype=np.uint64)
        self._flat = self.words.reshape(-1)  # a view, for cheap gathers
        self._row_start = np.arange(num_envs) * block
        self.pos = np.full(num_envs, block, dtype=np.int64)  # empty buffers: refilled on first draw
        for i in range(num_envs):
            self.seed(i, seed)

    def seed(self, i: int, seed: int) -> None:
        """Equivalent of ``rng.seed(seed)`` on game ``i``'s ``RandomState``."""
        self.bitgens[i].state = legacy_state(seed)
        self.pos[i] = self.block

    def _ensure(self, games: np.ndarray, need: int) -> np.ndarray:
        """Make sure each game has ``need`` unread words buffered; returns their read positions."""
        pos = self.pos[games]
        if np.count_nonzero(pos > self.block - need):
            for k in np.flatnonzero(pos > self.block - need).tolist():
                g = int(games[k])
                left = self.words[g, self.pos[g] :].copy()
                self.words[g, : left.size] = left
                self.words[g, left.size :] = self.bitgens[g].random_raw(self.block - left.size)
                self.pos[g] = 0
            pos = self.pos[games]
        return pos

    def draw(self, games: np.ndarray, ints: int = 0, span: int = 1, doubles: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Per game, ``ints`` successive ``randint(0, span)`` then ``doubles`` successive ``random_sample()``.

        Returns arrays of shape (len(games), ints) and (len(games), doubles) (empty if not asked). One call serves a
        whole event (a block is two randints, terrain 49 samples, a Pixelcopter init both): fewer numpy calls.
        """
        if ints > 8:
            raise ValueError("at most 8 randints per draw")
        pos = self._ensure(games, 8 + 2 * doubles)
        start = self._row_start[games] + pos
        values = _NO_INTS
        if ints:
            # Look at the next 8 words: which are accepted (a bit each), and where the k-th accepted one is.
            rng = span - 1
            mask = np.uint64((1 << rng.bit_length()) - 1)
            w = self._flat.take(start[:, None] + _RANGE[:8]) & mask
            accepted = np.packbits(w <= np.uint64(rng), axis=1, bitorder="little")[:, 0]
            taken = _NTH_SET_BIT[:ints, accepted].T  # (games, ints); 8 where fewer than k + 1 bits are set
            if np.count_nonzero(taken[:, -1] == 8):  # too many rejections in 8 words (rare): exact slow path
                return self._draw_slow(games, ints, span, doubles)
            values = w.reshape(-1).take(taken + _RANGE[: games.size, None] * 8).astype(np.int64)
            start += taken[:, -1] + 1
        samples = _NO_SAMPLES
        if doubles:
            w = self._flat.take(start[:, None] + _RANGE[: 2 * doubles])
            samples = ((w[:, 0::2] >> _SHIFT_A) * 67108864.0 + (w[:, 1::2] >> _SHIFT_B)) / 9007199254740992.0
            start += 2 * doubles
        self.pos[games] = start - self._row_start[games]
        return values, samples

    def _draw_slow(self, games: np.ndarray, ints: int, span: int, doubles: int) -> tuple[np.ndarray, np.ndarray]:
        rng = span - 1
        mask = (1 << rng.bit_length()) - 1
        values = np.empty((games.size, ints), dtype=np.int64)
        for i, g in enumerate(games.tolist()):
            for k in range(ints):
                while True:
                    self._ensure(np.array([g]), 1)
                    v = int(self.words[g, self.pos[g]]) & mask
                    self.pos[g] += 1
                    if v <= rng:
                        values[i, k] = v
                        break
        return values, self.draw(games, doubles=doubles)[1]

    def random_sample(self, games: np.ndarray, count: int) -> np.ndarray:
        """``count`` successive ``random_sample()`` draws for each game: shape (len(games), count)."""
        return self.draw(games, doubles=count)[1]

    def uniform(self, games: np.ndarray, low: float, high: float, count: int) -> np.ndarray:
        """``count`` successive ``uniform(low, high)`` draws per game: shape (len(games), count)."""
        return low + (high - low) * self.random_sample(games, count)

    def randint(self, games: np.ndarray, low: int, high: int, count: int = 1) -> np.ndarray:
        """``count`` successive legacy ``randint(low, high)`` per game: shape (len(games), count)."""
        return self.draw(games, ints=count, span=high - low)[0] + low


_RANGE = np.arange(4096)
_NTH_SET_BIT = np.array(
    [[([i for i in range(8) if byte >> i & 1] + [8] * 8)[k] for byte in range(256)] for k in range(8)]
)  # [k, byte]: index of the (k+1)-th set bit of byte (bit 0 first), or 8
_NO_INTS = np.empty((0, 0), dtype=np.int64)
_NO_SAMPLES = np.empty((0, 0))
_SHIFT_A = np.uint64(5)
_SHIFT_B = np.uint64(6)


def fill_rect(frame: np.ndarray, left: int, top: int, width: int, height: int, color: tuple[int, int, int]) -> None:
    """Paint a pygame-style rect (covers [left, left+width) x [top, top+height)) onto an (H, W, 3) frame, clipped."""
    h, w = frame.shape[:2]
    x0, x1 = max(left, 0), min(left + width, w)
    y0, y1 = max(top, 0), min(top + height, h)
    if x0 < x1 and y0 < y1:
        frame[y0:y1, x0:x1] = color


class HumanWindow:
    """A pygame-ce window that shows frames scaled up, for ``render_mode="human"`` (pygame imported lazily)."""

    def __init__(self, title: str, width: int, height: int, scale: int = 8, fps: int = FPS) -> None:
        import pygame

        self._pygame = pygame
        pygame.display.init()
        pygame.display.set_caption(title)
        self.size = (width * scale, height * scale)
        self.screen = pygame.display.set_mode(self.size)
        self.clock = pygame.time.Clock()
        self.fps = fps

    def show(self, frame: np.ndarray) -> None:
        """Blit an (H, W, 3) uint8 frame, keep the window responsive and pace to ``fps``."""
        pygame = self._pygame
        pygame.event.pump()
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(frame.swapaxes(0, 1)))
        pygame.transform.scale(surface, self.size, self.screen)
        pygame.display.flip()
        self.clock.tick(self.fps)

    def close(self) -> None:
        """Close the window."""
        self._pygame.display.quit()


def _check_render_mode(render_mode: str | None, metadata: dict[str, Any]) -> None:
    if render_mode is not None and render_mode not in metadata["render_modes"]:
        raise ValueError(f"render_mode must be one of {metadata['render_modes']}, got {render_mode!r}")


class PLEEnv(gymnasium.Env):
    """One PLE game behind the gym-games wrapper: what both ports share.

    A game subclass sets ``env_id``, ``screen`` (width, height) and ``n_actions``, builds itself (``_init_game``
    twice: PLE's constructor and the wrapper each run ``init()``), and implements ``_init_game`` (PLE ``init()``),
    ``_reset_game`` (PLE ``reset()``), ``_frame(action)``, ``_game_over()``, ``_observation()`` and ``_draw()``;
    ``_score``/``_prev_score`` hold the score before and after the last frame.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": FPS}
    env_id: str
    screen: tuple[int, int]
    n_actions: int

    def __init__(self, render_mode: str | None = None) -> None:
        _check_render_mode(render_mode, self.metadata)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(OBS_SIZE,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.n_actions)
        self.rng = np.random.RandomState(SEED)
        self._window: HumanWindow | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """``seed``: reseed the RandomState and init (as the wrapper does); then the game's reset()."""
        super().reset(seed=seed)
        if seed is not None:
            self.rng.seed(seed)
            self._init_game()
        self._reset_game()
        if self.render_mode == "human":
            self.render()
        return self._observation(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One frame. After game over: same obs, reward 0, terminated."""
        if self._game_over():
            return self._observation(), 0.0, True, False, {}
        self._frame(action)
        reward = self._score - self._prev_score
        self._prev_score = self._score
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, self._game_over(), False, {}

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the (height, width, 3) screen after the last frame; ``human``: show it in a window."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'human'")
            return None
        frame = self._draw()
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = HumanWindow(self.env_id, *self.screen, fps=self.metadata["render_fps"])
        self._window.show(frame)
        return None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None


class PLEVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` games of one PLE port stepped together with numpy: what both batched ports share.

    Game i is built like a single env (``RandomState(24)``); ``reset(seed=s)`` seeds game i with s + i.
    Autoreset is NEXT_STEP: the step after a termination returns the reset observation, reward 0, not terminated,
    and the game's reset() continues its own random stream. A subclass implements ``_init_games(games)``,
    ``_reset_games(games)``, ``_frame(actions, live) -> (reward, ended)``, ``_observe()`` and ``_draw(i)``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS, "autoreset_mode": AutoresetMode.NEXT_STEP}
    n_actions: int

    def __init__(self, num_envs: int, render_mode: str | None, kwargs: dict[str, Any]) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments: {sorted(kwargs)}")
        _check_render_mode(render_mode, self.metadata)
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.single_observation_space = spaces.Box(-np.inf, np.inf, shape=(OBS_SIZE,), dtype=np.float32)
        self.single_action_space = spaces.Discrete(self.n_actions)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rows = np.arange(num_envs)
        self.streams = LegacyStreams(num_envs, seed=SEED)
        self._autoreset = np.zeros(num_envs, dtype=bool)

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        """``seed=s`` seeds game i with s + i (or pass one seed per game); no seed continues every stream."""
        if seed is None or isinstance(seed, (int, np.integer)):
            super().reset(seed=seed)
        seeds = seed_list(seed, self.num_envs)
        seeded = np.array([i for i, s in enumerate(seeds) if s is not None], dtype=np.int64)
        for i in seeded.tolist():
            self.streams.seed(i, seeds[i])
        self._init_games(seeded)  # the wrapper's init() after seeding
        self._reset_games(self._rows)
        self._autoreset[:] = False
        return self._observe(), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """One frame for every game; games that terminated on the previous step are reset instead."""
        actions = np.asarray(actions)
        resetting = self._autoreset
        live = ~resetting
        reward, ended = self._frame(actions, live)
        terminated = ended & live
        if np.count_nonzero(resetting):
            games = np.flatnonzero(resetting)
            self._reset_games(games)
            reward[games] = 0.0
        self._autoreset = terminated
        return self._observe(), reward, terminated.copy(), np.zeros(self.num_envs, dtype=bool), {}

    def render(self) -> tuple[np.ndarray, ...] | None:
        """``rgb_array``: one (height, width, 3) frame per game."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        return tuple(self._draw(i) for i in range(self.num_envs))
