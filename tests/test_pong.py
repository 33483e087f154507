"""Pong-PLE-v0 (hubrl.envs.pong): exactness against the original game, the gymnasium API, batching.

``tests/data/pong_reference.npz`` was recorded from the ORIGINAL game, not from hubrl: PLE
(ntasfi/PyGame-Learning-Environment at 3dbe79d, ``ple/games/pong.py`` as of bdc5891) run by real pygame 2.6.1 (SDL
dummy driver) behind a copy of gym-games' gymnasium ``BaseEnv`` (``PLE(game, fps=30, state_preprocessor=...)`` then
``gameOb.init()``; ``reset(seed)`` = ``rng.seed(seed)``, ``gameOb.init()``, ``reset_game()``; ``step`` =
``act(action_set[a])`` + ``game_over()``), observations taken as float64 from ``getGameState()``. The throwaway
harness played: a fresh env, then games separated by ``reset()`` or ``reset(seed=...)`` (no-op, random, always up,
always down, ball tracking, tracking with random actions mixed in, an edge-hitting tracker) capped at 500-3000
frames, extra steps after game over, and a 9808-frame game the agent WINS 11-0 (actions found offline by a
search over paddle offsets and swing timings; seed 11). Stored per op: kind (reset/step), seed, action, reward,
terminated; a SHA-256 of each game's float32 observations; the full observation at every 12th op; and rgb frames
rendered as gym-games does (``np.fliplr(np.rot90(getScreenRGB(), 3))``) every 1307 ops and after every point.

What both PLE ports promise alike (exactness against the recording, ``check_env``, the vector env against single envs
and gymnasium's SyncVectorEnv, seeding, autoreset, renders) is tested on both in tests/test_ple.py; this file holds
what only Pong has.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ple_replay import load_reference, run_against_singles

from hubrl.envs.pong import PongEnv, PongVectorEnv

DATA = Path(__file__).parent / "data" / "pong_reference.npz"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return load_reference(DATA)


def winning_actions(ref: dict[str, np.ndarray]) -> np.ndarray:
    start = int(np.flatnonzero((ref["ops"] == 0) & (ref["seeds"] == 11))[0])
    return ref["actions"][start + 1 :]


def test_the_recording_covers_points_both_ways_and_both_outcomes(reference: dict[str, np.ndarray]) -> None:
    """Points both ways, a lost and a won game (replayed in tests/test_ple.py)."""
    rewards = reference["rewards"]
    assert (rewards == 1).any() and (rewards == -1).any() and (rewards == 6).any() and (rewards == -6).any()


def test_reference_facts() -> None:
    obs, info = PongEnv().reset()
    assert obs.dtype == np.float32 and obs.shape == (7,) and info == {}
    assert obs[:6].tolist() == [24, 0, 24, 32, 24, 36]
    assert obs[6] == pytest.approx(7.1824, abs=1e-4)


@pytest.mark.parametrize("policy", ["noop", "random"])
def test_simple_policies_lose_eleven_nil(policy: str) -> None:
    """Always -16. Typically 340-770 frames; 297 (11 points x 27 frames, each serve straight at the agent) is the
    floor, and the original also has longer games (a no-op game of 1618 frames after ``reset(seed=0)`` + 26 resets)."""
    env = PongEnv()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    lengths = []
    for k in range(12):
        if k:
            env.reset()
        length, ret, done = 0, 0.0, False
        while not done:
            action = 2 if policy == "noop" else int(rng.integers(0, 3))
            _, reward, done, _, _ = env.step(action)
            length, ret = length + 1, ret + reward
        assert ret == -16 and 297 <= length <= 2000, (k, length, ret)
        lengths.append(length)
    assert 340 <= np.median(lengths) <= 770


def test_game_over_and_seeding(reference: dict[str, np.ndarray]) -> None:
    env = PongEnv()
    first, _ = env.reset(seed=11)
    total, done = 0.0, False
    for action in winning_actions(reference):
        last, reward, done, truncated, _ = env.step(int(action))
        total += reward
        if done:
            break
    assert done and total == 16 and reward == 6
    for _ in range(3):
        again, reward, done, truncated, _ = env.step(0)
        assert np.array_equal(again, last) and reward == 0.0 and done is True and truncated is False
    assert np.array_equal(env.reset(seed=11)[0], first)
    assert not all(np.array_equal(env.reset()[0], first) for _ in range(5)), "reset() must continue the stream"


def test_first_frame() -> None:
    env = PongEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert (frame[21:28, 4] == 255).all() and (frame[21:28, 60] == 255).all()  # paddles centred at y = 24
    assert (frame[23:25, 31:33] == 255).all()  # the 2 x 2 ball at (32, 24)
    assert int((frame == 255).all(axis=2).sum()) == 7 + 7 + 4


# --- batched ----------------------------------------------------------------------------------------------------


def track(obs: np.ndarray) -> int:
    """Follow the ball with the paddle."""
    paddle, ball = float(obs[0]), float(obs[4])
    return 0 if ball < paddle - 1 else 1 if ball > paddle + 1 else 2


def test_vector_matches_single_envs(reference: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(2)
    episodes, trace = run_against_singles(PongEnv, PongVectorEnv, [11, 1, 2, 3, 4, 5], 10300,
                                          lambda i, o: int(rng.integers(0, 3)), scripted={0: winning_actions(reference)})
    returns = [ret for _, ret in episodes]
    clamped = int(np.isin(trace[:, :, [0, 2]], (3.5, 44.5)).sum())
    assert 16 in returns and returns.count(-16) >= 40 and clamped > 0  # a won game, lost games, paddles at walls
    run_against_singles(PongEnv, PongVectorEnv, list(range(20, 28)), 3000,
                        lambda i, o: track(o) if rng.random() < 0.9 else int(rng.integers(0, 3)))
