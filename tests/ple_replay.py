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
