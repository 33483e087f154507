"""Pong-PLE-v0: a trajectory-exact, fast port of PLE's Pong behind the gym-games wrapper.

Same seed and actions give the same float32 observations, rewards and terminations as PLE (3dbe79d) + gym-games, step
for step, including the ``numpy.random.RandomState`` stream. The rules (64 x 48 screen, dt = 1/30 s per step):

- Actions: 0 = up, 1 = down, 2 = no-op; the agent paddle (x = 4) gets dy = -19.2, +19.2 or 0 px/s:
  v += dy * dt, v *= 0.9, y += v, centre clamped to [3.5, 44.5]. The CPU paddle (x = 60) chases the ball's y at
  28.8 px/s while the ball is in the right half moving right, otherwise drifts towards the middle at 7.2 px/s.
- The ball (radius 1, 36 px/s) moves, then its path from where the previous frame left it (even across a serve) is
  tested against each paddle's front segment (x = 4.5 / 59.5, 7 tall); a hit sets vx = -(vx + 1.8) (so the agent
  returns a 36 px/s ball at 34.2), adds 2 x the agent paddle's velocity (CPU: 0) to vy, pushes the ball 1 px off the
  paddle and draws one ``random_sample()`` jitter; the walls reflect vy x -0.99 and push the ball 1 px back.
- A point: -1 (ball x <= 0) or +1 (x >= 64), the ball is served from the centre (y kept) with vy =
  ``random_sample() * 36 - 18``, paddles skip that frame. First to 11 ends the game, the last point worth +-6.
- Reward = score delta; after game over, steps return reward 0 and ``terminated=True``.
- ``init()`` draws nothing; ``reset()`` = ``init()`` + a serve in direction ``random_sample() > 0.5 ? +1 : -1``.
  Construction: ``RandomState(24)`` (two draw-free inits); ``reset(seed=s)`` reseeds, inits, then resets.
- Observation: [paddle y, paddle velocity (px/frame), CPU y, ball x, ball y, ball vx, ball vy (px/s)].

:class:`PongEnv` is the single env (plain Python floats, the legacy RandomState API called directly);
:class:`PongVectorEnv` steps N games at once with numpy, bit-identical to N single envs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hubrl.envs._ple_common import FRAME_MS, PLEEnv, PLEVectorEnv, fill_rect, round_half_away

WIDTH, HEIGHT = 64, 48
DT = FRAME_MS / 1000.0
"""Pong divides PLE's millisecond dt by 1000 (seconds)."""
BALL_RADIUS = 1  # np.round(0.03 * 48)
PADDLE_W = 1  # np.round(0.023 * 64)
PADDLE_H = 7  # np.round(0.15 * 48)
AGENT_X = 4  # np.round(0.0625 * 64)
CPU_X = WIDTH - AGENT_X
AGENT_SPEED = 0.4 * HEIGHT
CPU_SPEED = 0.6 * HEIGHT
BALL_SPEED = 0.75 * HEIGHT
BOUNCE = BALL_SPEED * 0.05
HALF_PADDLE = PADDLE_H / 2
AGENT_FRONT = AGENT_X + PADDLE_W / 2  # 4.5: the segment the ball must cross
CPU_FRONT = CPU_X - PADDLE_W / 2  # 59.5
MAX_SCORE = 11

UP, DOWN, NOOP = 0, 1, 2
WHITE = (255, 255, 255)


def crosses(x0: float, y0: float, x1: float, y1: float, front: float, paddle_y: float) -> bool:
    """PLE's ``line_intersection``: does the ball's path cross the paddle's front segment? (same float steps)"""
    p2y = paddle_y - HALF_PADDLE
    s1_x = x1 - x0
    s1_y = y1 - y0
    s2_x = front - front
    s2_y = (paddle_y + HALF_PADDLE) - p2y
    den = -s2_x * s1_y + s1_x * s2_y
    if den == 0:  # numpy float64 in the original: inf/nan, never a hit
        return False
    s = (-s1_y * (x0 - front) + s1_x * (y0 - p2y)) / den
    t = (s2_x * (y0 - p2y) - s2_y * (x0 - front)) / den
    return 0 <= s <= 1 and 0 <= t <= 1


def draw_frame(agent_y: float, cpu_y: float, ball_x: float, ball_y: float) -> np.ndarray:
    """The game screen as (48, 64, 3) uint8: two 1 x 7 paddles and a 2 x 2 ball, white on black."""
    frame = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    fill_rect(frame, AGENT_X, round_half_away(agent_y) - PADDLE_H // 2, PADDLE_W, PADDLE_H, WHITE)
    fill_rect(frame, CPU_X, round_half_away(cpu_y) - PADDLE_H // 2, PADDLE_W, PADDLE_H, WHITE)
    fill_rect(frame, round_half_away(ball_x) - BALL_RADIUS, round_half_away(ball_y) - BALL_RADIUS, 2, 2, WHITE)
    return frame


class PongEnv(PLEEnv):
    """PLE Pong as a gymnasium env: first to 11 against a simple CPU paddle (see the module docstring).

    Actions: 0 up, 1 down, 2 nothing.
    """

    env_id = "Pong-PLE-v0"
    screen = (WIDTH, HEIGHT)
    n_actions = 3

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(render_mode)
        self._init_game()  # PLE's constructor and the wrapper both init(); Pong's init draws nothing
        self._init_game()

    # --- game logic -------------------------------------------------------------------------------------------

    def _init_game(self) -> None:
        """PLE ``init()``: 0-0, ball in the middle heading up-right, paddles centred and still."""
        self._agent_points = 0
        self._cpu_points = 0
        self._score = 0.0
        self._prev_score = 0.0
        self._ay, self._avy = HEIGHT / 2, 0.0
        self._cy, self._cvy = HEIGHT / 2, 0.0
        self._bx, self._by = WIDTH / 2, HEIGHT / 2
        self._bvx, self._bvy = BALL_SPEED, -1.0 * BALL_SPEED
        self._prev_bx, self._prev_by = self._bx, self._by
        self._drawn_ball = (self._bx, self._by)

    def _reset_game(self) -> None:
        """PLE ``reset()``: init, then serve in a random direction."""
        self._init_game()
        self._serve(1 if self.rng.random_sample() > 0.5 else -1)

    def _serve(self, direction: int) -> None:
        self._bx = WIDTH / 2  # y is kept
        self._bvx = BALL_SPEED * direction
        self._bvy = (self.rng.random_sample() * BALL_SPEED) - BALL_SPEED * 0.5

    def _frame(self, action: int) -> None:
        """Advance the game one frame, in PLE's order."""
        x = self._bx + self._bvx * DT
        y = self._by + self._bvy * DT
        x0, y0 = self._prev_bx, self._prev_by
        hit = False
        if x <= AGENT_X + PADDLE_W and crosses(x0, y0, x, y, AGENT_FRONT, self._ay):
            x = x if x > 0 else 0.0
            self._bvx = -1 * (self._bvx + BOUNCE)
            self._bvy += self._avy * 2.0
            x += BALL_RADIUS
            hit = True
        if x >= CPU_X - PADDLE_W and crosses(x0, y0, x, y, CPU_FRONT, self._cy):
            x = x if x < WIDTH else float(WIDTH)
            self._bvx = -1 * (self._bvx + BOUNCE)
            self._bvy += self._cvy * 0.006
            x -= BALL_RADIUS
            hit = True
        if hit:
            self._bvy += self.rng.random_sample() * 0.001 - 0.0005
        if y - BALL_RADIUS <= 0:
            self._bvy *= -0.99
            y += 1.0
        if y + BALL_RADIUS >= HEIGHT:
            self._bvy *= -0.99
            y -= 1.0
        self._bx, self._by = self._prev_bx, self._prev_by = self._drawn_ball = x, y

        point = False
        if x <= 0:
            self._score += -1.0
            self._cpu_points += 1
            self._serve(-1)
            point = True
        if self._bx >= WIDTH:
            self._score += 1.0
            self._agent_points += 1
            self._serve(1)
            point = True
        if point:
            if self._agent_points == MAX_SCORE:
                self._score += 5.0
            if self._cpu_points == MAX_SCORE:
                self._score += -5.0
            return

        dy = -AGENT_SPEED if action == UP else AGENT_SPEED if action == DOWN else 0.0
        v = (self._avy + dy * DT) * 0.9
        ay = self._ay + v
        if ay - HALF_PADDLE <= 0:
            ay, v = HALF_PADDLE, 0.0
        if ay + HALF_PADDLE >= HEIGHT:
            ay, v = HEIGHT - HALF_PADDLE, 0.0
        self._ay, self._avy = ay, v

        cy = self._cy
        if self._bvx >= 0 and x >= WIDTH / 2:
            dy = -1.0 * CPU_SPEED if cy > y else CPU_SPEED
        else:
            dy = -1.0 * CPU_SPEED / 4.0 if cy > HEIGHT / 2.0 else 1.0 * CPU_SPEED / 4.0
        if cy - HALF_PADDLE <= 0:
            cy, self._cvy = HALF_PADDLE, 0.0
        if cy + HALF_PADDLE >= HEIGHT:
            cy, self._cvy = HEIGHT - HALF_PADDLE, 0.0
        self._cy = cy + dy * DT

    def _game_over(self) -> bool:
        return self._agent_points == MAX_SCORE or self._cpu_points == MAX_SCORE

    def _observation(self) -> np.ndarray:
        return np.array([self._ay, self._avy, self._cy, self._bx, self._by, self._bvx, self._bvy], dtype=np.float32)

    def _draw(self) -> np.ndarray:
        """The (48, 64, 3) screen; as in PLE, the ball is drawn where the frame's move left it, before a serve."""
        return draw_frame(self._ay, self._cy, *self._drawn_ball)


# ------------------------------------------------------------------------------------------------------------------
# Batched


def crosses_np(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, front: np.ndarray, paddle_y: np.ndarray
) -> np.ndarray:
    """Vectorised :func:`crosses`, giving the same answer with fewer numpy calls.

    The paddle segment is vertical, so ``s2_x = front - front`` is exactly 0: ``-s2_x * s1_y`` only adds a signed
    zero to ``s1_x * s2_y`` (a no-op unless that is 0, when s and t are inf/nan and never a hit either way), and
    ``s2_x * (y0 - p2_y) - w`` is ``-w`` (or a signed zero, and t = +-0 passes both tests). Everything else is the
    same operations in the same order, so the same bits.
    """
    p2y = paddle_y - HALF_PADDLE
    s1_x = x1 - x0
    s2_y = (paddle_y + HALF_PADDLE) - p2y
    den = s1_x * s2_y
    dx0 = x0 - front
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (-(y1 - y0) * dx0 + s1_x * (y0 - p2y)) / den
        t = -(s2_y * dx0) / den
    return (s >= 0) & (s <= 1) & (t >= 0) & (t <= 1)


_PADDLE_STEP = np.array([-AGENT_SPEED * DT, AGENT_SPEED * DT, 0 * DT])  # dy * dt for up, down, no-op
_CPU_STEP = np.array(  # dy * dt, indexed by 2 * chasing + (cpu_y > target)
    [(1.0 * CPU_SPEED / 4.0) * DT, (-1.0 * CPU_SPEED / 4.0) * DT, CPU_SPEED * DT, (-1.0 * CPU_SPEED) * DT]
)


class PongVectorEnv(PLEVectorEnv):
    """``num_envs`` Pong games stepped together with numpy; identical to that many :class:`PongEnv`.

    Game i is built like a single env (``RandomState(24)``); seeding and autoreset as in
    :class:`~hubrl.envs._ple_common.PLEVectorEnv`. The float tests are written in equivalent cheaper
    forms where exact (``y - 1 <= 0`` is ``y <= 1``, ``y + 3.5 >= 48`` is ``y >= 44.5``, ...).
    """

    n_actions = 3

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **kwargs: Any) -> None:
        super().__init__(num_envs, render_mode, kwargs)
        n = num_envs
        self._agent_points = np.zeros(n, dtype=np.int64)
        self._cpu_points = np.zeros(n, dtype=np.int64)
        self._over = np.zeros(n, dtype=bool)
        self._ay = np.zeros(n)
        self._avy = np.zeros(n)
        self._cy = np.zeros(n)
        self._bx = np.zeros(n)
        self._by = np.zeros(n)
        self._bvx = np.zeros(n)
        self._bvy = np.zeros(n)
        self._prev_bx = np.zeros(n)  # also where the ball is drawn (before a serve re-centres it)
        self._prev_by = np.zeros(n)
        self._init_games(self._rows)

    # --- game logic -------------------------------------------------------------------------------------------

    def _init_games(self, games: np.ndarray) -> None:
        self._agent_points[games] = 0
        self._cpu_points[games] = 0
        self._over[games] = False
        self._ay[games] = HEIGHT / 2
        self._avy[games] = 0.0
        self._cy[games] = HEIGHT / 2
        self._bx[games] = WIDTH / 2
        self._by[games] = HEIGHT / 2
        self._bvx[games] = BALL_SPEED
        self._bvy[games] = -1.0 * BALL_SPEED
        self._prev_bx[games] = WIDTH / 2
        self._prev_by[games] = HEIGHT / 2

    def _reset_games(self, games: np.ndarray) -> None:
        """PLE ``reset()``: init, then serve in the direction of one draw, with vy from the next."""
        if games.size == 0:
            return
        self._init_games(games)
        draws = self.streams.random_sample(games, 2)
        self._bx[games] = WIDTH / 2
        self._bvx[games] = BALL_SPEED * np.where(draws[:, 0] > 0.5, 1, -1)
        self._bvy[games] = (draws[:, 1] * BALL_SPEED) - BALL_SPEED * 0.5

    def _frame(self, actions: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance every game one frame (games not ``live`` are recomputed but draw nothing): (reward, game over)."""
        x = self._bx + self._bvx * DT
        y = self._by + self._bvy * DT
        bvx, bvy = self._bvx, self._bvy

        # Paddle hits: the agent's test needs x <= 5, the CPU's x >= 59, so at most one applies per game.
        agent = x <= AGENT_X + PADDLE_W
        front = np.where(agent, AGENT_FRONT, CPU_FRONT)
        hit = crosses_np(self._prev_bx, self._prev_by, x, y, front, np.where(agent, self._ay, self._cy))
        hit &= agent | (x >= CPU_X - PADDLE_W)
        if np.count_nonzero(hit):
            g = np.flatnonzero(hit)
            xg, ag = x[g], agent[g]
            x[g] = np.where(
                ag, np.where(xg > 0, xg, 0.0) + BALL_RADIUS, np.where(xg < WIDTH, xg, float(WIDTH)) - BALL_RADIUS
            )
            bvx = bvx.copy()
            bvx[g] = -1 * (bvx[g] + BOUNCE)
            bvy = bvy.copy()
            bvy[g] += np.where(ag, self._avy[g] * 2.0, 0.0)  # the CPU paddle's velocity is always 0
            g = g[live[g]]
            if g.size:
                bvy[g] += self.streams.random_sample(g, 1)[:, 0] * 0.001 - 0.0005
        top = y <= BALL_RADIUS  # y - 1 <= 0
        bvy = np.where(top, bvy * -0.99, bvy)
        y = np.where(top, y + 1.0, y)
        bottom = y >= HEIGHT - BALL_RADIUS  # y + 1 >= 48
        self._bvy = np.where(bottom, bvy * -0.99, bvy)
        y = np.where(bottom, y - 1.0, y)
        self._bx, self._by, self._bvx = x, y, bvx
        self._prev_bx, self._prev_by = x.copy(), y.copy()  # also where the ball is drawn, even if served below

        reward = np.zeros(self.num_envs)
        point = ((x <= 0) | (x >= WIDTH)) & live
        if np.count_nonzero(point):
            self._points(np.flatnonzero(point), reward)

        # Paddles (they stay put in a frame with a point).
        v = (self._avy + _PADDLE_STEP.take(actions)) * 0.9
        ay = self._ay + v
        clamp = (ay <= HALF_PADDLE) | (ay >= HEIGHT - HALF_PADDLE)
        if np.count_nonzero(clamp):
            ay = np.clip(ay, HALF_PADDLE, HEIGHT - HALF_PADDLE)
            v[clamp] = 0.0
        cy = self._cy
        chase = (self._bvx >= 0) & (x >= WIDTH / 2)
        step = _CPU_STEP.take(2 * chase + (cy > np.where(chase, self._by, HEIGHT / 2.0)))  # chosen before clamping
        clamp = (cy <= HALF_PADDLE) | (cy >= HEIGHT - HALF_PADDLE)
        if np.count_nonzero(clamp):
            cy = np.clip(cy, HALF_PADDLE, HEIGHT - HALF_PADDLE)
        cy = cy + step
        if np.count_nonzero(point):
            still = ~point
            self._ay = np.where(still, ay, self._ay)
            self._avy = np.where(still, v, self._avy)
            self._cy = np.where(still, cy, self._cy)
        else:
            self._ay, self._avy, self._cy = ay, v, cy
        return reward, self._over

    def _points(self, games: np.ndarray, reward: np.ndarray) -> None:
        """Score, count and serve for the games whose ball left the court this frame."""
        won = self._bx[games] >= WIDTH
        self._agent_points[games] += won
        self._cpu_points[games] += ~won
        reward[games] = np.where(won, 1.0, -1.0)
        reward[games] += np.where(self._agent_points[games] == MAX_SCORE, 5.0, 0.0)
        reward[games] += np.where(self._cpu_points[games] == MAX_SCORE, -5.0, 0.0)
        self._over[games] = (self._agent_points[games] == MAX_SCORE) | (self._cpu_points[games] == MAX_SCORE)
        self._bx[games] = WIDTH / 2
        self._bvx[games] = BALL_SPEED * np.where(won, 1, -1)
        self._bvy[games] = (self.streams.random_sample(games, 1)[:, 0] * BALL_SPEED) - BALL_SPEED * 0.5

    def _observe(self) -> np.ndarray:
        return np.array(
            [self._ay, self._avy, self._cy, self._bx, self._by, self._bvx, self._bvy], dtype=np.float32
        ).T.copy()

    def _draw(self, i: int) -> np.ndarray:
        """Game ``i``'s (48, 64, 3) screen."""
        return draw_frame(float(self._ay[i]), float(self._cy[i]), float(self._prev_bx[i]), float(self._prev_by[i]))
