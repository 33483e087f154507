"""Pixelcopter-PLE-v0 (hubrl.envs.pixelcopter): exactness against the original game, the gymnasium API, batching.

``tests/data/pixelcopter_reference.npz`` was recorded from the ORIGINAL game, not from hubrl: PLE
(ntasfi/PyGame-Learning-Environment at 3dbe79d, ``ple/games/pixelcopter.py`` as of 2782f50) run by real pygame 2.6.1
(SDL dummy driver) behind a copy of gym-games' gymnasium ``BaseEnv`` (``PLE(game, fps=30, state_preprocessor=...)``
then ``gameOb.init()``; ``reset(seed)`` = ``rng.seed(seed)``, ``gameOb.init()``, ``reset_game()``; ``step`` =
``act(action_set[a])`` + ``game_over()``), observations taken as float64 from ``getGameState()``. The throwaway
harness played: a fresh env, then many episodes separated by ``reset()`` or ``reset(seed=...)`` (no-op, random with
thrust probability 0.3/0.5/0.7, an observation-based survival heuristic, a lookahead planner reading the game's
internals for episodes of ~1800 frames with terrain refills), and extra steps after game over. Stored per op: kind
(reset/step), seed, action, reward, terminated; a SHA-256 of each episode's float32 observations; the full observation
at every third op; and rgb frames rendered as gym-games does (``np.fliplr(np.rot90(getScreenRGB(), 3))``), every
331 ops and after some of the frames with a reward (deaths, slices leaving, blocks passed).

What both PLE ports promise alike (exactness against the recording, ``check_env``, the vector env against single envs
and gymnasium's SyncVectorEnv, seeding, autoreset, renders) is tested on both in tests/test_ple.py; this file holds
what only Pixelcopter has.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ple_replay import load_reference, run_against_singles

from hubrl.envs._ple_common import LegacyStreams, round_half_away
from hubrl.envs.pixelcopter import PixelcopterEnv, PixelcopterVectorEnv

DATA = Path(__file__).parent / "data" / "pixelcopter_reference.npz"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return load_reference(DATA)


def test_the_recording_covers_long_episodes_deaths_and_seeds(reference: dict[str, np.ndarray]) -> None:
    """Long episodes (terrain refills after ~220 frames), deaths, seeded resets (replayed in tests/test_ple.py)."""
    starts = np.flatnonzero(reference["ops"] == 0).tolist() + [len(reference["ops"])]
    lengths = np.diff(starts) - 1
    assert lengths.max() > 1500 and (reference["seeds"] >= 0).sum() >= 5 and reference["terminated"].sum() > 60


def test_reference_facts() -> None:
    env = PixelcopterEnv()
    obs, info = env.reset()
    assert obs.dtype == np.float32 and obs.shape == (7,) and info == {}
    assert obs.tolist() == [24, 0, 7, 17, 49, 31, 40]
    assert PixelcopterEnv().reset(seed=0)[0].tolist() == [24, 0, 7, 17, 42, 32, 41]
    episodes = []
    for k in range(5):
        if k:
            env.reset()
        length, ret, done = 0, 0.0, False
        while not done:
            _, reward, done, _, _ = env.step(1)
            length, ret = length + 1, ret + reward
        episodes.append((length, ret))
    assert episodes == [(20, -3), (22, -2), (21, -3), (19, -3), (23, -2)]


def test_random_policy_dies_fast() -> None:
    env = PixelcopterEnv()
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    lengths, returns = [], []
    for k in range(1000):
        if k:
            env.reset()
        length, ret, done = 0, 0.0, False
        while not done:
            _, reward, done, _, _ = env.step(int(rng.integers(0, 2)))
            length, ret = length + 1, ret + reward
        lengths.append(length)
        returns.append(ret)
    assert 6.5 < np.mean(lengths) < 7.5
    assert -4.95 < np.mean(returns) < -4.72


def test_positive_reward_rate_of_a_surviving_policy(reference: dict[str, np.ndarray]) -> None:
    """One +1 per slice leaving the screen (every 6.25 frames) plus one per block passed (every 50-86 frames)."""
    ops, seeds = reference["ops"], reference["seeds"]
    start = int(np.flatnonzero((ops == 0) & (seeds == 1001))[0])
    env = PixelcopterEnv()
    env.reset(seed=1001)
    positives = frames = 0
    for action in reference["actions"][start + 1 :]:
        _, reward, done, _, _ = env.step(int(action))
        frames += 1
        positives += reward > 0
        if done:
            break
    assert frames > 1500
    assert frames / 6.25 - 2 <= positives <= frames / 6.25 + frames / 50 + 2


def test_game_over_and_seeding() -> None:
    env = PixelcopterEnv()
    obs, _ = env.reset(seed=5)
    done = False
    while not done:
        last, reward, done, truncated, _ = env.step(0)  # thrusting into the ceiling
    for _ in range(3):
        again, reward, done, truncated, _ = env.step(1)
        assert np.array_equal(again, last) and reward == 0.0 and done is True and truncated is False
    assert isinstance(reward, float)
    assert np.array_equal(env.reset(seed=5)[0], obs)
    first = env.reset()[0]
    assert not all(np.array_equal(env.reset()[0], first) for _ in range(5)), "reset() must continue the stream"


def test_first_frame() -> None:
    env = PixelcopterEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert (frame[23:25, 15:17] == 255).all()  # the 2 x 2 copter centred at (16, 24)
    assert {tuple(c) for c in frame.reshape(-1, 3)} == {(0, 0, 0), (255, 255, 255), (120, 240, 80)}


# --- batched ----------------------------------------------------------------------------------------------------


def survive(obs: np.ndarray) -> int:
    """A crude survival heuristic: hold the copter mid-gap, dodge the block ahead (thrust = 0)."""
    y, vel, ceil, _, gap, top, _ = (float(v) for v in obs)
    low, high = y - ceil + 2.4, y - ceil + 24.0
    target = (low + high) / 2
    if gap < 30:
        target = (low + top - 6.0) / 2 if top - 6.0 - low >= high - top - 6.0 else (top + 6.0 + high) / 2
    return 0 if y + 6.0 * vel > target else 1


def run_against_singles_lengths(seeds, steps, policy, scripted=None) -> list[int]:
    """Every episode's length, a PixelcopterVectorEnv compared with single envs all along (ple_replay)."""
    episodes, _ = run_against_singles(PixelcopterEnv, PixelcopterVectorEnv, seeds, steps, policy, scripted)
    return [length for length, _ in episodes]


def test_vector_matches_single_envs(reference: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(1)
    lengths = run_against_singles_lengths(list(range(40, 48)), 700, lambda i, o: int(rng.random() < 0.5))
    assert len(lengths) > 500  # hundreds of autoresets
    ops, seeds = reference["ops"], reference["seeds"]
    start = int(np.flatnonzero((ops == 0) & (seeds == 1001))[0])
    planned = reference["actions"][start + 1 :]
    lengths = run_against_singles_lengths(
        [1001, 3, 4, 5, 6, 2**31 - 1],
        2000,
        lambda i, o: survive(o) if rng.random() < 0.97 else int(rng.integers(0, 2)),
        scripted={0: planned},
    )
    assert max(lengths) > 1500  # terrain refills and block passes inside the batch


@pytest.mark.parametrize(
    "blocks",
    [[(-3.5, 20.0)], [(-3.5, 20.0), (15.0, 30.0)], [(-3.9, 12.0), (-3.7, 14.0)]],
    ids=["pass-and-leave", "leave-then-pass", "both-leave"],
)
def test_vector_general_block_rule(blocks: list[tuple[float, float]]) -> None:
    """Block states play never reaches (the batched env's general path) still follow PLE's loop like a single env."""
    single = PixelcopterEnv()
    single.reset(seed=0)
    single._blocks = [list(b) for b in blocks]
    venv = PixelcopterVectorEnv(num_envs=1)
    venv.reset(seed=0)
    for k, (x, y) in enumerate(blocks):
        venv._bx[0, k], venv._by[0, k] = x, y
    venv._two[0] = len(blocks) == 2
    obs, reward, *_ = single.step(1)
    vobs, vreward, *_ = venv.step(np.array([1]))
    assert np.array_equal(vobs[0], obs) and vreward[0] == reward
    assert single._blocks == [[venv._bx[0, k], venv._by[0, k]] for k in range(1 + int(venv._two[0]))]


# --- shared helpers (hubrl.envs._ple_common) ------------------------------------------------------------------------


def test_round_half_away_from_zero() -> None:
    cases = {0.5: 1, 1.5: 2, 2.5: 3, -0.5: -1, -2.5: -3, 2.4: 2, -2.6: -3, 0.49999999999999994: 0, 16.0: 16}
    for x, expected in cases.items():
        assert round_half_away(x) == expected, x
    for x in np.random.default_rng(0).uniform(-60, 60, 10000).tolist():
        assert round_half_away(x) == (math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5))


def test_overlap_thresholds_equal_rounded_rect_tests() -> None:
    """The envs test overlaps on floats (13.5 <= x < 18.5, ...); that must equal pygame's rounded-rect tests."""
    rng = np.random.default_rng(0)
    for v in np.concatenate([rng.uniform(-50, 80, 20000), np.arange(-50, 80, 0.5)]):
        r = round_half_away(float(v))
        assert (14 <= r <= 18) == (13.5 <= v < 18.5)
        for by in (12, 23, 35):
            assert (by - 5 < r < by + 6) == (by - 4.5 <= v < by + 5.5)
        for yt in (18, 24, 30):
            assert (yt - 37 < r < yt + 37) == (yt - 36.5 < v < yt + 36.5)


def test_legacy_streams_reproduce_random_state() -> None:
    """Batched draws (with tiny buffers, to cross many refills) equal the legacy RandomState calls, in order."""
    streams = LegacyStreams(3, seed=24, block=40)
    states = [np.random.RandomState(24) for _ in range(3)]
    streams.seed(1, 99)
    states[1].seed(99)
    slow_calls = []
    fast_path_draw_slow = streams._draw_slow
    streams._draw_slow = lambda *args: slow_calls.append(args) or fast_path_draw_slow(*args)
    rng = np.random.default_rng(0)
    for _ in range(400):
        games = np.flatnonzero(rng.random(3) < 0.7)
        kind = rng.integers(0, 5)
        if kind == 0:
            got = streams.randint(games, 48, 72, count=2)
            want = [[states[g].randint(48, 72), states[g].randint(48, 72)] for g in games]
        elif kind == 1:
            got = streams.uniform(games, -0.01, 0.01, 3)
            want = [[states[g].uniform(-0.01, 0.01) for _ in range(3)] for g in games]
        elif kind == 2:
            got = streams.random_sample(games, 1)
            want = [[states[g].random_sample()] for g in games]
        elif kind == 3:
            ints, doubles = streams.draw(games, ints=2, span=5, doubles=2)
            got = np.concatenate([ints, doubles], axis=1)
            want = [
                [states[g].randint(0, 5), states[g].randint(0, 5), states[g].random_sample(), states[g].random_sample()]
                for g in games
            ]
        else:  # 17 of 32 masked values accepted: often fewer than 3 in the 8 words looked at (the slow path)
            got = streams.randint(games, 100, 117, count=3)
            want = [[states[g].randint(100, 117) for _ in range(3)] for g in games]
        assert np.array_equal(got, np.array(want).reshape(got.shape))
    assert len(slow_calls) > 3


def test_terrain_heights_use_the_original_formula() -> None:
    from hubrl.envs.pixelcopter import terrain_heights

    rng = np.random.RandomState(0)
    for _ in range(50):
        freq = 4.5 / 48 + rng.uniform(-0.01, 0.01)
        phases = rng.uniform(0.0, 0.5, size=48)
        starts = np.arange(2, 194, 4, dtype=np.float64)
        want = [int(24.0 + 6.0 * math.sin(freq * x + u)) for x, u in zip(starts, phases)]
        assert terrain_heights(freq, starts, phases).tolist() == want
    # Heights on (or a hair from) an integer, where truncation is fragile, take the math.sin path.
    phases = np.array([0.0, math.pi / 6, math.pi / 2, -math.pi / 6])
    want = [int(24.0 + 6.0 * math.sin(u)) for u in phases]
    assert want == [24, 27, 30, 21]
    assert terrain_heights(0.0, np.zeros(4), phases).tolist() == want
