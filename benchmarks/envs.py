"""Steps per second of hubrl's PLE ports (Pixelcopter-PLE-v0, Pong-PLE-v0), single and batched.

Why: training speed is bounded by the environment. The targets are 40k steps/s for one env (the original PLE +
gym-games runs about 8k/s for Pixelcopter) and 1M steps/s for a batch of 256. Each row is the median of several repeats (this kind of
machine is noisy, so min-max is shown too), with random actions drawn up front. gymnasium's own CartPole (single and
its numpy CartPoleVectorEnv) is timed in the same run as a yardstick for the machine.

Run from the repository root: ``python benchmarks/envs.py`` (``--repeats``, ``--steps``, ``--vec-steps``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv, CartPoleVectorEnv

REPO = Path(__file__).resolve().parents[1]

SINGLE_TARGET = 40_000
BATCH_TARGET = 1_000_000


def time_single(make: Callable[[], gymnasium.Env], steps: int, seed: int) -> float:
    """Steps/s of one env under random actions (resets on termination are part of the cost)."""
    env = make()
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, env.action_space.n, steps).tolist()
    step, reset = env.step, env.reset
    start = time.perf_counter()
    for a in actions:
        if step(a)[2]:
            reset()
    return steps / (time.perf_counter() - start)


def time_batched(make: Callable[[int], gymnasium.vector.VectorEnv], n: int, steps: int, seed: int) -> float:
    """Steps/s (env steps, i.e. batch steps x N) of a batched env under random actions (autoreset included)."""
    env = make(n)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, env.single_action_space.n, (steps, n))
    step = env.step
    start = time.perf_counter()
    for a in actions:
        step(a)
    return steps * n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per row (median reported)")
    parser.add_argument("--steps", type=int, default=30_000, help="steps per repeat for single envs")
    parser.add_argument("--vec-steps", type=int, default=1_000, help="batch steps per repeat for batched envs")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # run as a script from a checkout: import this repository's hubrl
    from hubrl.envs import register_envs
    from hubrl.envs.pixelcopter import PixelcopterEnv, PixelcopterVectorEnv
    from hubrl.envs.pong import PongEnv, PongVectorEnv

    register_envs()

    rows: list[tuple[str, str, int, Callable[[int], float], int | None]] = []
    for name, single, batched in (
        ("Pixelcopter-PLE-v0", PixelcopterEnv, PixelcopterVectorEnv),
        ("Pong-PLE-v0", PongEnv, PongVectorEnv),
    ):
        rows.append((name, "single", 1, lambda s, c=single: time_single(c, args.steps, s), SINGLE_TARGET))
        rows.append((name, "make", 1, lambda s, i=name: time_single(lambda: gymnasium.make(i), args.steps, s), None))
        for n in (64, 256):
            target = BATCH_TARGET if n == 256 else None
            rows.append((name, "batched", n, lambda s, c=batched, n=n: time_batched(c, n, args.vec_steps, s), target))
    rows.append(("CartPole-v1 (yardstick)", "single", 1, lambda s: time_single(CartPoleEnv, args.steps, s), None))
    rows.append(
        (
            "CartPole-v1 (yardstick)",
            "batched",
            256,
            lambda s: time_batched(lambda n: CartPoleVectorEnv(num_envs=n), 256, args.vec_steps, s),
            None,
        )
    )

    print(f"median of {args.repeats} repeats; random actions; steps/s counts env steps (batch steps x N)")
    print("single = the env class, make = gymnasium.make (with its wrappers), batched = the VectorEnv\n")
    header = f"{'environment':<24} {'mode':<8} {'N':>4} {'steps/s':>12} {'min-max':>21} {'target':>10} {'':>6}"
    print(header)
    print("-" * len(header))
    failures = 0
    for name, mode, n, run, target in rows:
        run(0)  # warm-up (imports, caches)
        rates = [run(seed) for seed in range(1, args.repeats + 1)]
        median = statistics.median(rates)
        spread = f"{min(rates):,.0f}-{max(rates):,.0f}"
        verdict = ""
        if target is not None:
            ok = median >= target
            failures += not ok
            verdict = f"{median / target:.2f}x " + ("ok" if ok else "SLOW")
        target_text = f"{target:,}" if target else ""
        print(f"{name:<24} {mode:<8} {n:>4} {median:>12,.0f} {spread:>21} {target_text:>10} {verdict:>6}")
    print(
        "\nReference: the original PLE + gym-games (real pygame) ran 8,100 (Pixelcopter) and 37,700 (Pong) steps/s"
        " for one env on the 2-core machine this was developed on, where CartPole-v1 single ran ~117,000."
    )
    if failures:
        print(f"{failures} row(s) under target on this machine (compare with the CartPole yardstick).")


if __name__ == "__main__":
    main()
