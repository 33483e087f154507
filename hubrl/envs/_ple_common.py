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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

FPS = 30
"""PLE runs these games at 30 frames per second, one frame per env step (force_fps, frame_skip 1)."""

FRAME_MS = 1000.0 / FPS
"""Milliseconds per frame exactly as PLE computes it (``1000.0 / fps``); Pong divides it by 1000 again."""


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
