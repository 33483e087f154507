"""Pixelcopter-PLE-v0: a trajectory-exact, fast port of PLE's Pixelcopter behind the gym-games wrapper.

Same seed and actions give the same float32 observations, rewards and terminations as PLE (3dbe79d) + gym-games, step
for step, including the ``numpy.random.RandomState`` stream. The rules (48 x 48 screen, one frame of 1000/30 ms per
step):

- Actions: 0 = thrust, 1 = no-op. The copter sits at x = 16; momentum += (climb or fall) * dt, momentum *= 0.99,
  y += momentum. Blocks (4 x 9) and terrain slices (4 wide) scroll left by 0.0192 * dt = 0.64 px per frame.
- A life is lost per block whose rect overlaps the copter's 2 x 2 rect, per overlapping slice whose ceiling/floor the
  copter crosses (asymmetric margins: ``y - 2.4 <= y_t - 12`` or ``y >= y_t + 12``), and for leaving [6, 42].
- +1 for each slice that scrolls past x <= -4 and for each block passed (a new block then spawns); -5 on death.
  Reward = score delta; after game over, steps return reward 0 and ``terminated=True``.
- Randomness, in this order: a block is ``randint(48, 72)`` then ``randint(12, 36)``; terrain is one
  ``uniform(-0.01, 0.01)`` frequency then one ``uniform(0, 0.5)`` phase per slice. ``init()`` adds a block and 48
  slices over [0, 192); when 13 or fewer slices remain, 48 more are added over [48, 240).
- Construction: ``RandomState(24)`` and ``init()`` twice (PLE and the wrapper each call it); ``reset()`` runs
  ``init()`` once more (continuing the stream); ``reset(seed=s)`` reseeds, then runs ``init()`` twice.
- Rects follow centres rounded half away from zero (pygame >= 2.3), which decides collisions.
- Observation: [y, momentum, y - (y_c - 12), (y_c + 12) - y, distance to the nearest block ahead, its centre y,
  centre y + 9], y_c being the first overlapping slice's centre y.

:class:`PixelcopterEnv` is the single env (plain Python floats, the legacy RandomState API called directly);
:class:`PixelcopterVectorEnv` steps N games at once with numpy, bit-identical to N single envs.

How it stays fast without changing a bit: every slice starts at an integer x and loses the same ``speed * dt`` each
frame, so its x after k frames comes from a precomputed track (the same floats as subtracting k times); slices stay
sorted by x and at least 2 px apart (a refill starts 2-2.64 px after the last slice), so only the front slice can leave
and only the one or two slices at x in [13.5, 18.5) can touch the copter; rect overlaps are float comparisons that equal
the rounded-rect tests (see ``X_NEAR``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hubrl.envs._ple_common import FRAME_MS, PLEEnv, PLEVectorEnv, fill_rect, round_half_away

WIDTH = HEIGHT = 48
SPEED = 0.0004 * WIDTH
"""Scroll speed and physics scale in px per ms (0.0192)."""
SCROLL = SPEED * FRAME_MS
"""What every block and slice loses in x per frame (``speed * dt``, 0.64)."""
CLIMB_DV = (SPEED * -0.875) * FRAME_MS
FALL_DV = (SPEED * 0.09) * FRAME_MS
PLAYER_X = int(WIDTH * 0.35)  # 16
PLAYER_Y0 = HEIGHT / 2  # 24.0
PLAYER_H = HEIGHT * 0.05  # 2.4: the ceiling test uses the float height, the rect is 2 x 2
BLOCK_W = int(WIDTH * 0.1)  # 4
BLOCK_H = int(HEIGHT * 0.2)  # 9
SLICE_W = int(WIDTH * 0.1)  # 4
SLICE_H = int(HEIGHT * 1.5)  # 72
GAP_HALF = HEIGHT * 0.25  # 12.0
TOP_LIMIT = HEIGHT * 0.125  # 6.0
BOTTOM_LIMIT = HEIGHT * 0.875  # 42.0
MIN_SLICES = 10 + 3
NO_BLOCK = 999
INIT_STARTS = range(SLICE_W // 2, WIDTH * 4 + SLICE_W // 2, SLICE_W)  # slice centres 2, 6, ..., 190
REFILL_STARTS = range(WIDTH + SLICE_W // 2, WIDTH * 5 + SLICE_W // 2, SLICE_W)  # 50, 54, ..., 238

# Rect overlaps as float tests. The copter's rect is [15, 17) x [round(y) - 1, round(y) + 1); a block's is
# [round(x) - 2, round(x) + 2) x [y_b - 4, y_b + 5); a slice's [round(x) - 2, round(x) + 2) x [y_t - 36, y_t + 36).
# With rounding half away from zero, round(v) >= k <=> v >= k - 0.5 (k >= 1) or v > k - 0.5 (k <= 0), and
# round(v) <= k <=> v < k + 0.5 (k >= 0); so the overlaps are exactly:
#   x:        13.5 <= x < 18.5                (block or slice centre)
#   block y:  y_b - 4.5 <= y < y_b + 5.5
#   slice y:  y_t - 36.5 < y < y_t + 36.5
X_NEAR, X_FAR = PLAYER_X - 2.5, PLAYER_X + 2.5

THRUST = 0
WALL_COLOR = (120, 240, 80)
PLAYER_COLOR = (255, 255, 255)


def _slice_tracks() -> dict[int, list[float]]:
    """x of a slice after k frames, for every starting centre: ``x -= speed * dt`` k times, as the original does.

    Every slice starts at an integer centre and moves by the same subtraction each frame, so a lookup gives the very
    same float as subtracting k times. Each track ends at the first x <= -4 (the slice is removed that frame).
    """
    tracks = {}
    for start in range(SLICE_W // 2, WIDTH * 5 + SLICE_W // 2, SLICE_W):
        x = float(start)
        track = [x]
        while x > -SLICE_W:
            x -= SCROLL
            track.append(x)
        tracks[start] = track
    return tracks


SLICE_TRACKS = _slice_tracks()


def terrain_heights(freq: np.ndarray | float, starts: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Slice centre heights ``int(H/2 + H/8 * sin(freq * x + phase))`` (any leading batch shape).

    numpy's sin is used for speed; where the value sits within 1e-9 of an integer (so a 1-ulp difference from
    math.sin could change the truncation) it is recomputed with math.sin, the original's function.
    """
    arg = freq * starts + phases
    frac, whole = np.modf((HEIGHT / 2.0) + (HEIGHT * 0.125) * np.sin(arg))  # heights are positive: modf truncates
    edge = np.abs(frac - 0.5) > 0.5 - 1e-9
    if np.count_nonzero(edge):
        for k in zip(*np.nonzero(edge)):
            whole[k] = int((HEIGHT / 2.0) + (HEIGHT * 0.125) * math.sin(arg[k]))
    return whole


def draw_frame(y: float, blocks: Sequence[tuple[float, float]], slices: Sequence[tuple[float, float]]) -> np.ndarray:
    """The game screen as (48, 48, 3) uint8: copter, then blocks, then terrain walls, on black."""
    frame = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    fill_rect(frame, PLAYER_X - 1, round_half_away(y) - 1, 2, 2, PLAYER_COLOR)
    for bx, by in blocks:
        fill_rect(frame, round_half_away(bx) - BLOCK_W // 2, int(by) - BLOCK_H // 2, BLOCK_W, BLOCK_H, WALL_COLOR)
    for x, yt in slices:
        left, top = round_half_away(x) - SLICE_W // 2, int(yt) - SLICE_H // 2
        fill_rect(frame, left, top, SLICE_W, HEIGHT // 2, WALL_COLOR)  # ceiling wall
        fill_rect(frame, left, top + int(HEIGHT * 1.05), SLICE_W, HEIGHT // 2, WALL_COLOR)  # floor wall
    return frame


class PixelcopterEnv(PLEEnv):
    """Pixelcopter as a gymnasium env: fly through the cave, dodge the blocks (see the module docstring)."""

    env_id = "Pixelcopter-PLE-v0"
    screen = (WIDTH, HEIGHT)
    n_actions = 2

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(render_mode)
        # PLE's constructor and the wrapper's gameOb.init() each run the game's init().
        self._init_game()
        self._init_game()

    # --- game logic -------------------------------------------------------------------------------------------

    def _init_game(self) -> None:
        """PLE ``init()`` (== ``reset()``): fresh copter, one block, terrain over [0, 4W)."""
        self._score = 0.0
        self._prev_score = 0.0
        self._lives = 1
        self._y = PLAYER_Y0
        self._momentum = 0.0
        self._blocks: list[list[float]] = []
        self._add_block()
        self._t = 0  # frame counter: a slice born at frame b sits at SLICE_TRACKS[start][t - b]
        self._slices: list[tuple[list[float], int, float]] = []  # (track, birth frame, centre y), sorted by x
        self._add_terrain(INIT_STARTS)
        self._near = 0  # index of the first slice with x >= 13.5 (the first that can touch the copter)
        while self._slice_x(self._near) < X_NEAR:
            self._near += 1
        self._state = self._observe(self._touching()[0])

    def _add_block(self) -> None:
        x = self.rng.randint(WIDTH, int(WIDTH * 1.5))
        y = self.rng.randint(int(HEIGHT * 0.25), int(HEIGHT * 0.75))
        self._blocks.append([float(x), float(y)])

    def _add_terrain(self, starts: range) -> None:
        freq = 4.5 / WIDTH + self.rng.uniform(-0.01, 0.01)
        phases = self.rng.uniform(0.0, 0.5, size=len(starts))  # the same stream as one call per slice
        heights = terrain_heights(freq, np.asarray(starts, dtype=np.float64), phases).tolist()
        t = self._t
        self._slices.extend((SLICE_TRACKS[x], t, yt) for x, yt in zip(starts, heights))

    def _slice_x(self, i: int) -> float:
        track, birth, _ = self._slices[i]
        return track[self._t - birth]

    def _touching(self) -> list[float]:
        """Centre y of the slices (insertion order) whose rects overlap the copter's."""
        y = self._y
        touching = []
        for i in range(self._near, len(self._slices)):
            track, birth, yt = self._slices[i]
            if track[self._t - birth] >= X_FAR:
                break  # sorted by x: the rest are further right
            if yt - 36.5 < y < yt + 36.5:
                touching.append(yt)
        if not touching:
            raise RuntimeError("no terrain slice under the copter (the original PLE game crashes here too)")
        return touching

    def _observe(self, yc: float) -> tuple[float, ...]:
        y = self._y
        dist, top = NO_BLOCK, None
        for bx, by in self._blocks:  # insertion order; ties keep the first
            d = bx - PLAYER_X
            if 0 < d < dist:
                dist, top = d, by
        if top is None:
            raise RuntimeError("no block ahead of the copter (the original PLE game crashes here too)")
        return (y, self._momentum, y - (yc - GAP_HALF), (yc + GAP_HALF) - y, dist, top, top + BLOCK_H)

    _reset_game = _init_game  # Pixelcopter's reset() is its init()

    def _game_over(self) -> bool:
        return self._lives <= 0

    def _observation(self) -> np.ndarray:
        return np.array(self._state, dtype=np.float32)

    def _frame(self, action: int) -> None:
        """Advance the game one frame, in PLE's order (action 0 thrusts, 1 does nothing)."""
        m = (self._momentum + (CLIMB_DV if action == THRUST else FALL_DV)) * 0.99
        y = self._y + m
        self._momentum, self._y = m, y
        t = self._t = self._t + 1
        blocks = self._blocks
        for b in blocks:
            b[0] -= SCROLL
        slices = self._slices
        near = self._near
        while True:  # slices only move left: the first one that can touch the copter only moves right in the list
            track, birth, _ = slices[near]
            if track[t - birth] >= X_NEAR:
                break
            near += 1
        self._near = near

        lives = self._lives
        for bx, by in blocks:
            if X_NEAR <= bx < X_FAR and by - 4.5 <= y < by + 5.5:
                lives -= 1
        touching = self._touching()
        for yt in touching:
            if y - PLAYER_H <= yt - GAP_HALF:
                lives -= 1
            if y >= yt + GAP_HALF:
                lives -= 1

        score = self._score
        for b in list(blocks):  # the loop sees the blocks that existed before it, in insertion order
            if b[0] <= PLAYER_X and len(self._blocks) == 1:
                score += 1.0
                self._add_block()
            if b[0] <= -BLOCK_W:
                self._blocks = [other for other in self._blocks if other is not b]
        while True:  # sorted by x: the slices that left (x <= -4) are at the front, +1 each
            track, birth, _ = slices[0]
            if track[t - birth] > -SLICE_W:
                break
            del slices[0]
            self._near -= 1
            score += 1.0
        if y < TOP_LIMIT:
            lives -= 1
        if y > BOTTOM_LIMIT:
            lives -= 1
        if len(slices) <= MIN_SLICES:
            self._add_terrain(REFILL_STARTS)
        if lives <= 0:
            score += -5.0
        self._score, self._lives = score, lives
        self._state = self._observe(touching[0])

    def _draw(self) -> np.ndarray:
        """The (48, 48, 3) screen after the last frame."""
        slices = [(track[self._t - birth], yt) for track, birth, yt in self._slices]
        return draw_frame(self._y, self._blocks, slices)


# ------------------------------------------------------------------------------------------------------------------
# Batched

RING = 64
"""Terrain ring size per game: at most 13 + 48 = 61 slices are alive."""
_MASK = RING - 1
_INIT_X = np.asarray(INIT_STARTS, dtype=np.float64)
_REFILL_X = np.asarray(REFILL_STARTS, dtype=np.float64)
_DV = np.array([CLIMB_DV, FALL_DV])  # momentum change per action (0 thrust, 1 no-op)
_INIT_NEAR = next(i for i, x in enumerate(INIT_STARTS) if x >= X_NEAR)  # 3: the slice at x = 14


def _heights(draws: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Terrain heights from per-game random_sample() draws: [frequency draw, one phase draw per slice]."""
    freq = 4.5 / WIDTH + (-0.01 + (0.01 - -0.01) * draws[:, :1])  # uniform(-0.01, 0.01)
    return terrain_heights(freq, starts, (0.5 - 0.0) * draws[:, 1:])  # phases: uniform(0, 0.5) (0.0 + p is p)


class PixelcopterVectorEnv(PLEVectorEnv):
    """``num_envs`` Pixelcopter games stepped together with numpy; identical to that many :class:`PixelcopterEnv`.

    Game i is built like a single env (``RandomState(24)``, two inits); seeding and autoreset as in
    :class:`~hubrl.envs._ple_common.PLEVectorEnv`.

    Layout: per game, ``_bx``/``_by`` hold 2 block slots (insertion order; slot 1 used while two blocks exist) and
    ``_tx``/``_ty`` a ring of terrain slices (``head`` = oldest, ``count`` alive, ``near`` = first with x >= 13.5);
    the counters grow without bound and ``& 63`` gives the slot. Facts the single env also relies on keep the
    per-frame work small: slices stay sorted by x, at least 2 px apart (so at most one leaves per frame and ``near``
    moves at most one slot), only ``near`` and ``near + 1`` can touch the copter, and the block ahead is the newest.
    """

    n_actions = 2

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **kwargs: Any) -> None:
        super().__init__(num_envs, render_mode, kwargs)
        n = num_envs
        self._base = self._rows * RING  # flat index of each game's ring slot 0
        self._py = np.zeros(n)  # copter y
        self._momentum = np.zeros(n)
        self._bx = np.zeros((n, 2))
        self._by = np.zeros((n, 2))
        self._tx = np.zeros((n, RING))
        self._ty = np.zeros((n, RING))
        self._txf = self._tx.reshape(-1)  # flat views for gathers
        self._tyf = self._ty.reshape(-1)
        self._two = np.zeros(n, dtype=bool)
        self._head = np.zeros(n, dtype=np.int64)
        self._count = np.zeros(n, dtype=np.int64)
        self._near = np.zeros(n, dtype=np.int64)
        self._contact_y = np.zeros(n)  # centre y of the first slice touching the copter (for the observation)
        self._init_games(self._rows)
        self._init_games(self._rows)

    # --- game logic -------------------------------------------------------------------------------------------

    def _init_games(self, games: np.ndarray) -> None:
        """PLE ``init()`` for the given games: a block (2 draws), then terrain (49 draws), per game."""
        if games.size == 0:
            return
        self._py[games] = PLAYER_Y0
        self._momentum[games] = 0.0
        self._two[games] = False
        # randint(48, 72) and randint(12, 36) (24 values each), then uniform(-0.01, 0.01) and 48 x uniform(0, 0.5)
        xy, draws = self.streams.draw(games, ints=2, span=24, doubles=1 + _INIT_X.size)
        self._bx[games, 0] = xy[:, 0] + WIDTH
        self._by[games, 0] = xy[:, 1] + int(HEIGHT * 0.25)
        self._head[games] = 0
        self._count[games] = _INIT_X.size
        self._near[games] = _INIT_NEAR
        self._tx[games, : _INIT_X.size] = _INIT_X
        self._ty[games, : _INIT_X.size] = _heights(draws, _INIT_X)
        self._contact_y[games] = self._ty[games, _INIT_NEAR]  # the copter at y = 24 touches x = 14 first

    def _refill(self, games: np.ndarray) -> None:
        """Add terrain over [W, 5W) after the last slice (ring slots wrap)."""
        slots = ((self._head[games] + self._count[games])[:, None] + np.arange(_REFILL_X.size)) & _MASK
        flat = self._base[games, None] + slots
        self._txf[flat] = _REFILL_X
        self._tyf[flat] = _heights(self.streams.random_sample(games, 1 + _REFILL_X.size), _REFILL_X)
        self._count[games] += _REFILL_X.size

    def _move_blocks(self, passing: np.ndarray, leaving: np.ndarray, reward: np.ndarray) -> None:
        """Block passes and removals, in PLE's loop order.

        The two events of play get a cheap path: the only block reaches the copter (+1, a new block goes last), or,
        with two blocks, the older one leaves at x <= -4 (the newer one, still ahead of the copter, moves to slot 0).
        Anything else (never seen in play) goes through the general rule in :meth:`_update_blocks`.
        """
        two = self._two
        simple_leave = leaving & two & (self._bx[:, 1] > PLAYER_X)
        simple_pass = passing & ~leaving
        other = (passing | leaving) & ~(simple_leave | simple_pass)
        if np.count_nonzero(other):  # not reachable in play
            games = np.flatnonzero(other)
            reward[games] += self._update_blocks(games)
        games = np.flatnonzero(simple_leave)
        if games.size:
            self._bx[games, 0] = self._bx[games, 1]
            self._by[games, 0] = self._by[games, 1]
            two[games] = False
        games = np.flatnonzero(simple_pass)
        if games.size:
            xy = self.streams.draw(games, ints=2, span=24)[0]  # randint(48, 72), randint(12, 36)
            self._bx[games, 1] = xy[:, 0] + WIDTH
            self._by[games, 1] = xy[:, 1] + int(HEIGHT * 0.25)
            two[games] = True
            reward[games] += 1.0

    def _update_blocks(self, games: np.ndarray) -> np.ndarray:
        """Block passes/removals by PLE's general rule for the given games; returns the +1s."""
        x0, x1 = self._bx[games, 0], self._bx[games, 1]
        y0, y1 = self._by[games, 0], self._by[games, 1]
        two = self._two[games]
        kill0 = x0 <= -BLOCK_W
        kill1 = two & (x1 <= -BLOCK_W)
        # "only block and at or behind the copter": for the second block, only once the first is gone.
        add = (~two & (x0 <= PLAYER_X)) | (two & kill0 & (x1 <= PLAYER_X))
        nx = np.zeros(games.size)
        ny = np.zeros(games.size)
        adders = np.flatnonzero(add)
        if adders.size:
            xy = self.streams.draw(games[adders], ints=2, span=24)[0]
            nx[adders] = xy[:, 0] + WIDTH
            ny[adders] = xy[:, 1] + int(HEIGHT * 0.25)
        keep0, keep1 = ~kill0, two & ~kill1  # survivors keep insertion order, the new block goes last
        self._bx[games, 0] = np.where(keep0, x0, np.where(keep1, x1, nx))
        self._by[games, 0] = np.where(keep0, y0, np.where(keep1, y1, ny))
        self._bx[games, 1] = np.where(keep0 & keep1, x1, nx)
        self._by[games, 1] = np.where(keep0 & keep1, y1, ny)
        alive = keep0.astype(np.int64) + keep1 + add
        if np.count_nonzero(alive == 0):  # pragma: no cover - a block is always ahead of the copter
            raise RuntimeError("no block left (the original PLE game crashes here too)")
        self._two[games] = alive == 2
        return add

    def _frame(self, actions: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance every game one frame (games not ``live`` are recomputed but draw nothing): (reward, dead)."""
        mom = self._momentum = (self._momentum + _DV.take(actions)) * 0.99
        y = self._py = self._py + mom
        self._bx -= SCROLL
        self._tx -= SCROLL
        xf, yf, base = self._txf, self._tyf, self._base

        # Terrain contact: ``near`` advances past a slice that moved below x = 13.5; it and the next may touch.
        near = self._near
        near += xf.take(base + (near & _MASK)) < X_NEAR
        ia = base + (near & _MASK)
        ib = base + ((near + 1) & _MASK)
        ya, yb = yf.take(ia), yf.take(ib)
        touch_b = xf.take(ib) < X_FAR
        # Shortcuts, checked: the slice at ``near`` touches the copter, and the copter is within every slice's
        # vertical reach (-6.5 < y < 48.5 covers y_t in [18, 30]). Both always hold in play.
        if np.count_nonzero(xf.take(ia) >= X_FAR) or np.count_nonzero(np.abs(y - 21.0) >= 27.5):
            self._check_contact(y, ia, ib, live)
        ylow = y - PLAYER_H
        dead = (ylow <= ya - GAP_HALF) | (y >= ya + GAP_HALF)
        dead |= touch_b & ((ylow <= yb - GAP_HALF) | (y >= yb + GAP_HALF))
        self._contact_y = ya

        bx, by, yc = self._bx, self._by, y[:, None]
        hit = (bx >= X_NEAR) & (bx < X_FAR) & (yc >= by - 4.5) & (yc < by + 5.5)
        dead |= hit[:, 0] | (hit[:, 1] & self._two)
        dead |= (y < TOP_LIMIT) | (y > BOTTOM_LIMIT)

        # The oldest slice leaves at x <= -4 (+1); at most one per frame.
        gone = xf.take(base + (self._head & _MASK)) <= -SLICE_W
        self._head += gone
        self._count -= gone
        reward = gone - 5.0 * dead

        passing = (bx[:, 0] <= PLAYER_X) & ~self._two & live
        leaving = (bx[:, 0] <= -BLOCK_W) & live
        if np.count_nonzero(passing | leaving):
            self._move_blocks(passing, leaving, reward)
        refill = (self._count <= MIN_SLICES) & live
        if np.count_nonzero(refill):
            self._refill(np.flatnonzero(refill))
        return reward, dead

    def _check_contact(self, y: np.ndarray, ia: np.ndarray, ib: np.ndarray, live: np.ndarray) -> None:
        """Exact rect tests where a shortcut's premise failed: refuse to go on if the results would differ."""
        ya, yb = self._tyf.take(ia), self._tyf.take(ib)
        touch_a = (self._txf.take(ia) < X_FAR) & (ya - 36.5 < y) & (y < ya + 36.5)
        near_b = self._txf.take(ib) < X_FAR
        touch_b = near_b & (yb - 36.5 < y) & (y < yb + 36.5)
        if np.count_nonzero(live & (~touch_a | (near_b != touch_b))):  # pragma: no cover - not reachable in play
            raise RuntimeError("copter outside the terrain (the original PLE game crashes or diverges here)")

    def _observe(self) -> np.ndarray:
        y = self._py
        yc = self._contact_y
        two = self._two
        ahead = np.where(two, self._bx[:, 1], self._bx[:, 0]) - PLAYER_X  # the newest block is the one ahead
        top = np.where(two, self._by[:, 1], self._by[:, 0])
        if np.count_nonzero(ahead <= 0):  # pragma: no cover - impossible: a passed block spawns a new one
            raise RuntimeError("no block ahead of the copter (the original PLE game crashes here too)")
        return np.array(
            [y, self._momentum, y - (yc - GAP_HALF), (yc + GAP_HALF) - y, ahead, top, top + BLOCK_H],
            dtype=np.float32,
        ).T.copy()

    _reset_games = _init_games  # Pixelcopter's reset() is its init()

    def _draw(self, i: int) -> np.ndarray:
        """Game ``i``'s (48, 48, 3) screen."""
        nb = 2 if self._two[i] else 1
        slots = (self._head[i] + np.arange(self._count[i])) & _MASK
        return draw_frame(
            float(self._py[i]),
            list(zip(self._bx[i, :nb].tolist(), self._by[i, :nb].tolist())),
            list(zip(self._tx[i, slots].tolist(), self._ty[i, slots].tolist())),
        )
