"""Replay of the recordings in tests/data/ (made from the ORIGINAL PLE games), shared by the Pixelcopter and Pong tests."""

from pathlib import Path

import gymnasium
import numpy as np


def load_reference(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return dict(data)


def replay(env: gymnasium.Env, ref: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Play the recorded ops on ``env``; returns (obs, rewards, terminated, frames by op index)."""
    n = len(ref["ops"])
    obs = np.empty((n, 7), dtype=np.float32)
    rewards = np.zeros(n)
    terminated = np.zeros(n, dtype=bool)
    frames = {}
    wanted = set(ref["frame_idx"].tolist())
    for i in range(n):
        if ref["ops"][i] == 0:
            seed = int(ref["seeds"][i])
            obs[i] = env.reset(seed=None if seed < 0 else seed)[0]
        else:
            obs[i], rewards[i], terminated[i], truncated, _ = env.step(int(ref["actions"][i]))
            assert truncated is False
        if i in wanted:
            frames[i] = env.render()
    return obs, rewards, terminated, frames


def run_against_singles(single_env, vector_env, seeds: list[int], steps: int, policy,
                        scripted: dict[int, np.ndarray] | None = None) -> tuple[list[tuple[int, float]], np.ndarray]:
    """Step a vector env and one single env per game side by side (NEXT_STEP autoreset); everything must be identical.

    ``policy(i, obs)`` picks game i's action unless ``scripted[i]`` still has one. Returns every episode's
    (length, return), the unfinished ones last, and the (steps, games, 7) observations the vector env returned.
    """
    scripted = scripted or {}
    n = len(seeds)
    singles = [single_env() for _ in range(n)]
    venv = vector_env(num_envs=n)
    obs = np.array([env.reset(seed=s)[0] for env, s in zip(singles, seeds)])
    vobs, _ = venv.reset(seed=seeds)
    assert np.array_equal(vobs, obs)
    done = np.zeros(n, dtype=bool)
    episodes, length, ret = [], np.zeros(n, dtype=int), np.zeros(n)
    trace = np.empty((steps, n, obs.shape[1]), dtype=np.float32)
    for t in range(steps):
        actions = np.array(
            [scripted[i][t] if i in scripted and t < len(scripted[i]) else policy(i, obs[i]) for i in range(n)]
        )
        vobs, vrew, vterm, vtrunc, _ = venv.step(actions)
        for i, env in enumerate(singles):
            if done[i]:  # NEXT_STEP autoreset: this step is the reset
                o, r, d = env.reset()[0], 0.0, False
                episodes.append((int(length[i]), float(ret[i])))
                length[i], ret[i] = 0, 0.0
            else:
                o, r, d, _, _ = env.step(int(actions[i]))
                length[i] += 1
                ret[i] += r
            assert np.array_equal(vobs[i], o), f"step {t} game {i}: {vobs[i]} != {o}"
            assert vrew[i] == r and vterm[i] == d and not vtrunc[i], f"step {t} game {i}"
            obs[i], done[i] = o, d
        trace[t] = vobs
    return episodes + [(int(k), float(r)) for k, r in zip(length, ret)], trace
