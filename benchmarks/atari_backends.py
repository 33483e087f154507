"""Any ALE game's ``frames`` pipeline: which way of running the copies is fastest here, and how the native one's
frames compare with gymnasium's.

Three backends give training its batch of ``uint8[4, 84, 84]`` frames (``hubrl.envs.make_vector_env(...,
obs_mode="frames", backend=...)``): ``sync`` (gymnasium's ``AtariPreprocessing`` + ``FrameStackObservation`` per
copy, all in this process), ``async`` (the same, one worker process per copy) and ``native`` (ale-py's threaded C++
vector env asked for the same preprocessing). Each is timed with random actions, then with the Nature CNN policy's
numpy forward pass per step as training runs it (one BLAS thread). Env steps per second (summed over copies), the
median of ``--repeats`` runs, for each batch size.

Then the frames themselves: the same game with no sticky actions and no no-ops, played with the same actions by a
single gymnasium env and the native env for one episode, compared frame by frame (the largest absolute difference
in grey levels over the whole stack) and reward by reward.

    python benchmarks/atari_backends.py --game ALE/Breakout-v5 --copies 4,8 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def steps_per_second(env_id: str, backend: str, copies: int, steps: int, sampler=None) -> float:
    import numpy as np

    from hubrl.envs import make_vector_env
    from hubrl.policy import one_blas_thread

    venv = make_vector_env(env_id, copies, backend=backend, obs_mode="frames")
    try:
        rng = np.random.default_rng(0)
        obs, _ = venv.reset(seed=0)
        n = venv.single_action_space.n
        start = time.perf_counter()
        with one_blas_thread(sampler):
            for _ in range(steps):
                actions = (rng.integers(0, n, copies) if sampler is None
                           else sampler.actions(obs, uniforms=rng.random(copies)))
                obs, *_ = venv.step(actions)
        return steps * copies / (time.perf_counter() - start)
    finally:
        venv.close()


def compare_frames(env_id: str, steps: int) -> tuple[int, int, float]:
    """Steps compared, the largest |difference| of any frame of the stack, and the share of steps whose reward
    differs: gymnasium's pipeline vs the native env's, without sticky actions or no-ops (the very same game)."""
    import numpy as np

    from hubrl.envs.atari import FramesNativeVectorEnv, make_frames_env

    single = make_frames_env(env_id, noop_max=0, repeat_action_probability=0.0)
    native = FramesNativeVectorEnv(env_id, 1, noop_max=0, repeat_action_probability=0.0)
    rng = np.random.default_rng(0)
    a_obs, _ = single.reset(seed=0)
    b_obs, _ = native.reset(seed=0)
    largest, reward_gaps, t = 0, 0, 0
    for t in range(1, steps + 1):
        largest = max(largest, int(np.abs(a_obs.astype(int) - b_obs[0].astype(int)).max()))
        action = int(rng.integers(0, single.action_space.n))
        a_obs, a_reward, a_term, a_trunc, _ = single.step(action)
        b_obs, b_reward, b_term, b_trunc, _ = native.step(np.array([action]))
        reward_gaps += a_reward != b_reward[0]
        if a_term or a_trunc or b_term[0] or b_trunc[0]:
            break
    single.close()
    native.close()
    return t, largest, reward_gaps / t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="ALE/Breakout-v5")
    parser.add_argument("--copies", default="4,8", help="batch sizes (default 4,8)")
    parser.add_argument("--steps", type=int, default=300, help="batch steps per timing (default 300)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from hubrl.network import PolicyNetwork
    from hubrl.policy import NATURE_CNN, PolicyConfig

    torch.manual_seed(0)
    sampler = PolicyNetwork(PolicyConfig(args.game, 4 * 84 * 84, 4, (512,), env_options={"obs_mode": "frames"},
                                         obs_shape=(4, 84, 84), conv_layers=NATURE_CNN)).sampler()
    print(f"{args.game}, obs_mode frames: env steps/s summed over copies (median of {args.repeats})")
    print(f"{'copies':>6} {'backend':>8} {'random actions':>15} {'with policy':>12}")
    for copies in (int(c) for c in args.copies.split(",")):
        for backend in ("sync", "async", "native"):
            rates = [statistics.median(steps_per_second(args.game, backend, copies, args.steps, s)
                                       for _ in range(args.repeats)) for s in (None, sampler)]
            print(f"{copies:>6} {backend:>8} {rates[0]:>15,.0f} {rates[1]:>12,.0f}")
    steps, largest, reward_gaps = compare_frames(args.game, 5000)
    print(f"native vs gymnasium frames (same actions, no sticky actions, no no-ops), one episode of {steps} steps: "
          f"largest |difference| {largest} grey levels, rewards differ on {reward_gaps:.1%} of steps")


if __name__ == "__main__":
    main()
