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
"""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from ple_replay import load_reference, replay

from hubrl.envs import register_envs
from hubrl.envs.pong import PongEnv, PongVectorEnv

DATA = Path(__file__).parent / "data" / "pong_reference.npz"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return load_reference(DATA)


def winning_actions(ref: dict[str, np.ndarray]) -> np.ndarray:
    start = int(np.flatnonzero((ref["ops"] == 0) & (ref["seeds"] == 11))[0])
    return ref["actions"][start + 1 :]


def test_matches_the_original_recording(reference: dict[str, np.ndarray]) -> None:
    obs, rewards, terminated, frames = replay(PongEnv(render_mode="rgb_array"), reference)
    bad = np.flatnonzero((rewards != reference["rewards"]) | (terminated != reference["terminated"]))
    assert bad.size == 0, f"first reward/termination mismatch at op {bad[0]}"
    idx = reference["sample_idx"]
    bad = np.flatnonzero(~(obs[idx] == reference["sample_obs"]).all(axis=1))
    assert bad.size == 0, f"op {idx[bad[0]]}: got {obs[idx[bad[0]]]}, original {reference['sample_obs'][bad[0]]}"
    starts = np.flatnonzero(reference["ops"] == 0).tolist() + [len(obs)]
    for k, (a, b) in enumerate(itertools.pairwise(starts)):
        digest = np.frombuffer(hashlib.sha256(obs[a:b].tobytes()).digest(), np.uint8)
        assert np.array_equal(digest, reference["episode_sha256"][k]), f"game {k} (ops {a}-{b}) differs"
    for i, frame in zip(reference["frame_idx"].tolist(), reference["frames"]):
        assert np.array_equal(frames[i], frame), f"frame after op {i} differs"
    # The recording covers points both ways, a lost and a won game, and play after game over.
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


def test_spaces_and_registration() -> None:
    register_envs()
    env = gymnasium.make("Pong-PLE-v0")
    assert env.observation_space == gymnasium.spaces.Box(-np.inf, np.inf, (7,), np.float32)
    assert env.action_space == gymnasium.spaces.Discrete(3)
    assert env.spec.max_episode_steps is None
    assert env.metadata["render_modes"] == ["human", "rgb_array"] and env.metadata["render_fps"] == 30
    obs, _ = env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(1)
    assert isinstance(reward, float) and terminated is False and truncated is False and info == {}
    venv = gymnasium.make_vec("Pong-PLE-v0", num_envs=4, vectorization_mode="vector_entry_point")
    assert isinstance(venv.unwrapped, PongVectorEnv)
    assert venv.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.NEXT_STEP
    assert venv.single_action_space == gymnasium.spaces.Discrete(3)
    assert venv.observation_space.shape == (4, 7) and venv.action_space.shape == (4,)
    vobs, _ = venv.reset(seed=0)
    assert vobs.dtype == np.float32 and vobs.flags.c_contiguous and np.array_equal(vobs[0], obs)


def test_render() -> None:
    env = PongEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    assert (frame[21:28, 4] == 255).all() and (frame[21:28, 60] == 255).all()  # paddles centred at y = 24
    assert (frame[23:25, 31:33] == 255).all()  # the 2 x 2 ball at (32, 24)
    assert int((frame == 255).all(axis=2).sum()) == 7 + 7 + 4
    with pytest.warns(UserWarning):
        assert PongEnv().render() is None


def test_human_render_smoke(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pygame")
    monkeypatch.setitem(os.environ, "SDL_VIDEODRIVER", "dummy")
    env = PongEnv(render_mode="human")
    env.metadata = {**env.metadata, "render_fps": 1000}
    env.reset(seed=0)
    env.step(0)
    assert env.render() is None
    env.close()


# --- batched ----------------------------------------------------------------------------------------------------


def track(obs: np.ndarray) -> int:
    """Follow the ball with the paddle."""
    paddle, ball = float(obs[0]), float(obs[4])
    return 0 if ball < paddle - 1 else 1 if ball > paddle + 1 else 2


def run_against_singles(seeds: list[int], steps: int, policy, scripted: dict[int, np.ndarray] | None = None):
    """Step a PongVectorEnv and one PongEnv per game side by side; everything must be identical."""
    scripted = scripted or {}
    n = len(seeds)
    singles = [PongEnv() for _ in range(n)]
    venv = PongVectorEnv(num_envs=n)
    obs = np.array([env.reset(seed=s)[0] for env, s in zip(singles, seeds)])
    vobs, _ = venv.reset(seed=seeds)
    assert np.array_equal(vobs, obs)
    done = np.zeros(n, dtype=bool)
    returns = []
    ret = np.zeros(n)
    clamped = 0
    for t in range(steps):
        actions = np.array(
            [scripted[i][t] if i in scripted and t < len(scripted[i]) else policy(obs[i]) for i in range(n)]
        )
        vobs, vrew, vterm, vtrunc, _ = venv.step(actions)
        for i, env in enumerate(singles):
            if done[i]:  # NEXT_STEP autoreset: this step is the reset
                o, r, d = env.reset()[0], 0.0, False
                returns.append(ret[i])
                ret[i] = 0.0
            else:
                o, r, d, _, _ = env.step(int(actions[i]))
                ret[i] += r
            assert np.array_equal(vobs[i], o), f"step {t} game {i}: {vobs[i]} != {o}"
            assert vrew[i] == r and vterm[i] == d and not vtrunc[i], f"step {t} game {i}"
            obs[i], done[i] = o, d
        clamped += int(np.isin(vobs[:, [0, 2]], (3.5, 44.5)).sum())
    return returns, clamped


def test_vector_matches_single_envs(reference: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(2)
    returns, clamped = run_against_singles(
        [11, 1, 2, 3, 4, 5], 10300, lambda o: int(rng.integers(0, 3)), scripted={0: winning_actions(reference)}
    )
    assert 16 in returns and returns.count(-16) >= 40 and clamped > 0  # a won game, lost games, paddles at walls
    returns, _ = run_against_singles(
        list(range(20, 28)), 3000, lambda o: track(o) if rng.random() < 0.9 else int(rng.integers(0, 3))
    )


def test_vector_seeding_and_autoreset() -> None:
    venv = PongVectorEnv(num_envs=3)
    fresh = PongEnv().reset()[0]
    obs, _ = venv.reset()
    assert all(np.array_equal(o, fresh) for o in obs)
    obs, _ = venv.reset(seed=[0, None, 7])
    assert np.array_equal(obs[0], PongEnv().reset(seed=0)[0]) and np.array_equal(obs[2], PongEnv().reset(seed=7)[0])
    obs, _ = venv.reset(seed=3)
    steps, term = 0, np.zeros(3, dtype=bool)
    while not term.any():
        obs, _, term, _, _ = venv.step(np.full(3, 2))
        steps += 1
    obs2, rew2, term2, _, _ = venv.step(np.full(3, 2))
    single = PongEnv()
    single.reset(seed=3 + int(np.flatnonzero(term)[0]))
    for _ in range(steps):
        single.step(2)
    k = int(np.flatnonzero(term)[0])
    assert np.array_equal(obs2[k], single.reset()[0]) and rew2[k] == 0.0 and not term2[k]


def test_vector_render() -> None:
    venv = PongVectorEnv(num_envs=2, render_mode="rgb_array")
    venv.reset(seed=0)
    venv.step(np.array([0, 1]))
    single = PongEnv(render_mode="rgb_array")
    single.reset(seed=0)
    single.step(0)
    frames = venv.render()
    assert len(frames) == 2 and np.array_equal(frames[0], single.render())
