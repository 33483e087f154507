"""Convolutional policies at inference: hubrl's numpy forward pass against torch's, on this machine.

Whether inference of a convolutional policy stays torch-free is decided here: numpy is used if it is within 2x of
torch. Both run the same Nature CNN policy (Atari frames ``uint8[4, 84, 84]``, 4 actions), on one thread each (as
the episode loops run them: :func:`hubrl.policy.one_blas_thread`), for batches of 1 (recording, ``policy.act``),
4 and 8 (a training shard's copies), 16 (validation episodes) and 32 observations. Prints microseconds per
observation, the median of ``--runs`` interleaved rounds, and the ratio; the verdict is over the batch sizes hubrl
plays (up to 16).

    python benchmarks/conv_inference.py --runs 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


PLAYED = 16
"""The largest batch hubrl's episode loops hand a policy (validation episodes; shards and evaluation play fewer)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="interleaved rounds per batch size (default 7)")
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement (default 0.5)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    from hubrl.network import PolicyNetwork
    from hubrl.policy import NATURE_CNN, PolicyConfig

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = PolicyConfig("ALE/Breakout-v5", 4 * 84 * 84, 4, (512,), env_options={"obs_mode": "frames"},
                          obs_shape=(4, 84, 84), conv_layers=NATURE_CNN)
    network = PolicyNetwork(config).eval()
    sampler = network.sampler()
    rng = np.random.default_rng(0)

    def per_obs(fn, obs) -> float:
        fn(obs)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            fn(obs)
            n += 1
        return (time.perf_counter() - start) / n / len(obs) * 1e6

    def torch_forward(obs):
        with torch.no_grad():
            return network(torch.from_numpy(obs)).numpy()

    print(f"Nature CNN policy, {config.n_parameters():,} weights; us per observation (median of {args.runs}), "
          "one thread each")
    print(f"{'batch':>5} {'numpy':>8} {'torch':>8} {'numpy/torch':>12}")
    ratios = []
    with threadpool_limits(1, user_api="blas"):
        for batch in (1, 4, 8, 16, 32):
            obs = rng.integers(0, 256, (batch, 4, 84, 84), dtype=np.uint8)
            gap = np.abs(sampler.logits(obs) - torch_forward(obs)).max()
            assert gap < 1e-3, f"numpy and torch disagree by {gap}"
            times = {"numpy": [], "torch": []}
            for _ in range(args.runs):
                times["numpy"].append(per_obs(sampler.logits, obs))
                times["torch"].append(per_obs(torch_forward, obs))
            numpy_us, torch_us = statistics.median(times["numpy"]), statistics.median(times["torch"])
            if batch <= PLAYED:
                ratios.append(numpy_us / torch_us)
            print(f"{batch:>5} {numpy_us:>8.0f} {torch_us:>8.0f} {numpy_us / torch_us:>12.2f}")
    verdict = "numpy (within 2x of torch)" if max(ratios) <= 2 else "torch (numpy is more than 2x slower)"
    print(f"worst ratio up to batch {PLAYED}: {max(ratios):.2f}; inference of convolutional policies should use "
          f"{verdict}")


if __name__ == "__main__":
    main()
