"""What the two PLE ports (Pixelcopter-PLE-v0, Pong-PLE-v0) promise alike, each test run on both games.

Exactness against the recording of the original game, gymnasium's own ``check_env`` on the single env (every render
mode included, any warning an error), the vector env held to what gymnasium checks of a single env (gymnasium 1.x has
no vector checker) and to gymnasium's own ``SyncVectorEnv`` over single envs, NEXT_STEP autoreset and seeding,
and what the rgb and human renders show. What only one game has (its rules, its recording's coverage, its original
quirks) is in tests/test_pixelcopter.py and tests/test_pong.py.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.vector.utils import batch_space
from ple_replay import load_reference, replay

from hubrl.envs import register_envs
from hubrl.envs.pixelcopter import PixelcopterEnv, PixelcopterVectorEnv
from hubrl.envs.pong import PongEnv, PongVectorEnv

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Game:
    env_id: str
    single: type
    vector: type
    reference: Path
    n_actions: int
    frame_shape: tuple[int, int, int]
    ends_fast: int
    """An action that ends a game quickly when repeated (Pixelcopter: thrust into the ceiling; Pong: no-op)."""


GAMES = [
    Game("Pixelcopter-PLE-v0", PixelcopterEnv, PixelcopterVectorEnv, DATA / "pixelcopter_reference.npz", 2,
         (48, 48, 3), ends_fast=0),
    Game("Pong-PLE-v0", PongEnv, PongVectorEnv, DATA / "pong_reference.npz", 3, (48, 64, 3), ends_fast=2),
]


@pytest.fixture(params=GAMES, ids=[g.env_id for g in GAMES])
def game(request) -> Game:
    return request.param


@pytest.fixture(autouse=True)
def no_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # human render mode draws into an offscreen pygame display


def test_matches_the_original_recording(game: Game) -> None:
    reference = load_reference(game.reference)
    obs, rewards, terminated, frames = replay(game.single(render_mode="rgb_array"), reference)
    bad = np.flatnonzero((rewards != reference["rewards"]) | (terminated != reference["terminated"]))
    assert bad.size == 0, f"first reward/termination mismatch at op {bad[0]}"
    idx = reference["sample_idx"]
    bad = np.flatnonzero(~(obs[idx] == reference["sample_obs"]).all(axis=1))
    assert bad.size == 0, f"op {idx[bad[0]]}: got {obs[idx[bad[0]]]}, original {reference['sample_obs'][bad[0]]}"
    starts = np.flatnonzero(reference["ops"] == 0).tolist() + [len(obs)]
    for k, (a, b) in enumerate(itertools.pairwise(starts)):
        digest = np.frombuffer(hashlib.sha256(obs[a:b].tobytes()).digest(), np.uint8)
        assert np.array_equal(digest, reference["episode_sha256"][k]), f"episode {k} (ops {a}-{b}) differs"
    assert len(frames) == len(reference["frames"]) > 10
    for i, frame in zip(reference["frame_idx"].tolist(), reference["frames"]):
        assert np.array_equal(frames[i], frame), f"frame after op {i} differs"


def test_spaces_and_registration(game: Game) -> None:
    register_envs()
    env = gymnasium.make(game.env_id)
    assert env.observation_space == gymnasium.spaces.Box(-np.inf, np.inf, (7,), np.float32)
    assert env.action_space == gymnasium.spaces.Discrete(game.n_actions)
    assert env.spec.max_episode_steps is None
    assert env.metadata["render_modes"] == ["human", "rgb_array"] and env.metadata["render_fps"] == 30
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and obs.dtype == np.float32 and info == {}
    _, reward, terminated, truncated, info = env.step(1)
    assert type(reward) is float and terminated is False and truncated is False and info == {}
    venv = gymnasium.make_vec(game.env_id, num_envs=3, vectorization_mode="vector_entry_point")
    assert isinstance(venv.unwrapped, game.vector)
    assert venv.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.NEXT_STEP
    assert venv.single_action_space == gymnasium.spaces.Discrete(game.n_actions)
    assert venv.observation_space.shape == (3, 7) and venv.action_space.shape == (3,)
    vobs, _ = venv.reset(seed=0)
    assert vobs.dtype == np.float32 and vobs.flags.c_contiguous and np.array_equal(vobs[0], obs)


def test_gymnasium_check_env(game: Game) -> None:
    """gymnasium's checker on the registered env, both render modes included; any warning it gives fails but the
    one about the unbounded observation space, which the original games (gym-games) declare as hubrl does."""
    register_envs()
    env = gymnasium.make(game.env_id, render_mode="rgb_array").unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=r".*A Box observation space (minimum|maximum) value is -?infinity")
        check_env(env)
    env.close()


def test_vector_env_passes_what_check_env_checks_of_a_single_env(game: Game) -> None:
    """gymnasium 1.x has no vector checker: its single-env checks, batched (spaces, reset and step types, seed and
    step determinism, fresh arrays per call), and every step equal to gymnasium's SyncVectorEnv over single envs."""
    n = 4
    venv = game.vector(num_envs=n)
    assert venv.observation_space == batch_space(venv.single_observation_space, n)
    assert venv.action_space == batch_space(venv.single_action_space, n)
    assert venv.single_observation_space == game.single().observation_space
    assert venv.single_action_space == game.single().action_space
    reference = gymnasium.vector.SyncVectorEnv([game.single] * n,
                                               autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP)
    assert venv.metadata["autoreset_mode"] == reference.metadata["autoreset_mode"]
    twin = game.vector(num_envs=n)
    obs, info = venv.reset(seed=123)
    assert isinstance(info, dict) and venv.observation_space.contains(obs)
    assert data_equivalence(twin.reset(seed=123), (obs, info), exact=True)  # seed determinism
    assert data_equivalence(reference.reset(seed=123), (obs, info), exact=True)
    assert not np.array_equal(venv.reset(seed=7)[0], obs)  # the seed matters
    venv.reset(seed=123)
    venv.action_space.seed(0)
    ended = 0
    for _ in range(400):
        actions = venv.action_space.sample()
        step = venv.step(actions)
        obs, reward, terminated, truncated, info = step
        assert venv.observation_space.contains(obs) and obs.dtype == np.float32 and obs.flags.c_contiguous
        assert reward.shape == terminated.shape == truncated.shape == (n,) and isinstance(info, dict)
        assert reward.dtype == np.float64 and terminated.dtype == truncated.dtype == np.bool_
        assert data_equivalence(twin.step(actions), step, exact=True)  # step determinism
        assert data_equivalence(reference.step(actions), step, exact=True)
        again = venv.step(actions)  # returned arrays are fresh, not reused buffers
        assert data_equivalence(twin.step(actions), again, exact=True)
        assert data_equivalence(reference.step(actions), again, exact=True)
        assert all(a is not b for a, b in zip(step[:4], again[:4])) and np.array_equal(step[0], obs)
        ended += int(terminated.sum() + again[2].sum())
    assert ended > n  # autoresets happened inside the compared steps
    venv.close()


def test_render_shows_the_game_and_changes_with_it(game: Game) -> None:
    env = game.single(render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    assert first.shape == game.frame_shape and first.dtype == np.uint8
    assert first is not env.render() and np.array_equal(first, env.render())  # a fresh frame, the same screen
    frames = [first]
    for _ in range(10):
        env.step(1)
        frames.append(env.render())
    # the game moves on screen (sub-pixel moves can leave a frame as it was: at least 8 distinct of 11)
    assert len({frame.tobytes() for frame in frames}) >= 8
    with pytest.warns(UserWarning, match="render_mode"):
        assert game.single().render() is None


def test_human_render_shows_each_frame_in_the_window(game: Game) -> None:
    """What the window shows is the rgb frame, scaled 8x (nearest neighbour), after every reset and step."""
    pygame = pytest.importorskip("pygame")
    env = game.single(render_mode="human")
    env.metadata = {**env.metadata, "render_fps": 1000}
    twin = game.single(render_mode="rgb_array")
    shown = []
    for k in range(6):
        if k == 0:
            env.reset(seed=0)
            twin.reset(seed=0)
        else:
            env.step(1)
            twin.step(1)
        window = pygame.surfarray.array3d(pygame.display.get_surface()).swapaxes(0, 1)
        expected = twin.render().repeat(8, axis=0).repeat(8, axis=1)
        assert window.shape == expected.shape and np.array_equal(window, expected), f"frame {k}"
        shown.append(window)
    assert len({window.tobytes() for window in shown}) >= 4  # what it shows moves with the game
    assert env.render() is None
    assert pygame.display.get_caption()[0] == game.env_id
    env.close()
    assert not pygame.display.get_init()


def test_vector_render(game: Game) -> None:
    venv = game.vector(num_envs=2, render_mode="rgb_array")
    venv.reset(seed=0)
    venv.step(np.array([0, 1]))
    singles = [game.single(render_mode="rgb_array") for _ in range(2)]
    for k, env in enumerate(singles):
        env.reset(seed=k)
        env.step(k)
    frames = venv.render()
    assert isinstance(frames, tuple) and len(frames) == 2 and not np.array_equal(frames[0], frames[1])
    assert all(np.array_equal(frame, env.render()) for frame, env in zip(frames, singles))
    with pytest.warns(UserWarning, match="render_mode"):
        assert game.vector(num_envs=2).render() is None


def test_vector_seeding_and_autoreset(game: Game) -> None:
    venv = game.vector(num_envs=3)
    fresh = game.single().reset()[0]
    obs, _ = venv.reset()
    assert all(np.array_equal(o, fresh) for o in obs)  # every game starts like a fresh single env
    obs, _ = venv.reset(seed=[0, None, 7])
    assert np.array_equal(obs[0], game.single().reset(seed=0)[0])
    assert np.array_equal(obs[2], game.single().reset(seed=7)[0])
    with pytest.raises(ValueError, match="expected 3 seeds, got 2"):
        venv.reset(seed=[1, 2])
    obs, _ = venv.reset(seed=10)  # game i is seeded 10 + i
    assert all(np.array_equal(obs[i], game.single().reset(seed=10 + i)[0]) for i in range(3))
    steps, term = 0, np.zeros(3, dtype=bool)
    while not term.any():
        last = obs
        obs, _, term, _, _ = venv.step(np.full(3, game.ends_fast))
        steps += 1
    obs2, rew2, term2, _, _ = venv.step(np.full(3, game.ends_fast))
    k = int(np.flatnonzero(term)[0])
    single = game.single()
    single.reset(seed=10 + k)
    for _ in range(steps):
        single.step(game.ends_fast)
    assert np.array_equal(obs2[k], single.reset()[0]) and rew2[k] == 0.0 and not term2[k]
    assert not np.array_equal(last[k], obs2[k])
