"""CartPole-v1: training wall time to a verified solve, hubrl's default preset vs the course recipe, same run.

A verified solve is the evaluation protocol of results.json: 10 episodes, seeds 0..9, stochastic policy, mean 500 with
std 0. The default preset stops on its own validation (seeds from 100000, part of its training time) and its final
policy is verified once. The course recipe has no stopping rule, so it is verified after every episode that reaches
500; verification runs in a training callback, whose time hubrl does not count as training time. Env steps count every step the vector env simulated.

    python benchmarks/cartpole.py [--seeds 5] [--course-episodes 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from hubrl.evaluate import evaluate_agent  # noqa: E402
from hubrl.presets import make_config  # noqa: E402
from hubrl.reinforce import train  # noqa: E402


def solved(policy) -> bool:
    result = evaluate_agent(policy, n_eval_episodes=10, seed=0)
    return result.mean_reward == 500.0 and result.std_reward == 0.0


def run_default(seed: int) -> tuple[float, int, bool]:
    result = train(make_config("CartPole-v1", "default", seed=seed), progress=False)
    return result.wall_s, result.env_steps, solved(result.policy)


def run_course(seed: int, episodes: int) -> tuple[float, int, bool]:
    state = {"solved": False}

    def verify(row, policy):
        if row["mean_return"] < 500:
            return False
        state["solved"] = solved(policy)
        if state["solved"]:
            state["wall"], state["steps"] = row["wall_s"], row["env_steps"]
        return state["solved"]

    result = train(make_config("CartPole-v1", "course", seed=seed, n_training_episodes=episodes), progress=False,
                   callback=verify)
    if state["solved"]:
        return state["wall"], state["steps"], True
    return result.wall_s, result.env_steps, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--course-episodes", type=int, default=1000, help="course budget (the notebook's 1000)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    print(f"{'seed':>4} | {'default: s to solve':>20} {'env steps':>10} {'ok':>3} | "
          f"{'course: s to solve':>19} {'env steps':>10} {'ok':>3}", flush=True)
    for seed in range(args.seeds):
        d = run_default(seed)
        c = run_course(seed, args.course_episodes)
        rows.append((d, c))
        print(f"{seed:>4} | {d[0]:>20.2f} {d[1]:>10,} {'yes' if d[2] else 'NO':>3} | "
              f"{c[0]:>19.2f} {c[1]:>10,} {'yes' if c[2] else 'NO':>3}", flush=True)
    d_med = statistics.median(r[0][0] for r in rows)
    c_med = statistics.median(r[1][0] for r in rows)
    d_steps = statistics.median(r[0][1] for r in rows)
    print(f"median default: {d_med:.2f} s, {d_steps:,.0f} env steps, solved {sum(r[0][2] for r in rows)}/{len(rows)}")
    print(f"median course:  {c_med:.2f} s, solved {sum(r[1][2] for r in rows)}/{len(rows)} "
          f"(unsolved seeds count their whole budget)")
    print(f"speed-up (ratio of medians): {c_med / d_med:.1f}x")
    targets = [("every seed solves", all(r[0][2] for r in rows)), ("median <= 1.5 s", d_med <= 1.5),
               ("median <= 300k env steps", d_steps <= 300_000), (">= 20x faster than course", c_med / d_med >= 20)]
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets))


if __name__ == "__main__":
    main()
