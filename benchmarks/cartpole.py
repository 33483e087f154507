"""CartPole-v1: training wall time to a verified solve, hubrl's default preset vs the course recipe, same run.

A verified solve is the evaluation protocol of results.json: 10 episodes, seeds 0..9, stochastic policy, mean 500 with
std 0. Three trainers per seed:
- hubrl ``default``: stops on its own validation (seeds from 100000, part of its training time); its final policy is
  verified once;
- the course notebook's own code (``course_notebook.py``, the reference the targets compare against);
- hubrl's ``course`` preset: the notebook's recipe (one episode per update, same network and hyperparameters) on
  hubrl's engine.
The course recipe has no stopping rule, so both course trainers are verified after every episode that reaches 500, in
a callback whose time is not counted as training time. Env steps count every step the env simulated.

    python benchmarks/cartpole.py [--seeds 5] [--course-episodes 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from hubrl.evaluate import evaluate_agent  # noqa: E402
from hubrl.presets import make_config  # noqa: E402
from hubrl.training import train  # noqa: E402


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


def run_notebook(seed: int, episodes: int) -> tuple[float, int, bool]:
    from course_notebook import train_cartpole

    state = {"solved": False, "steps": 0}

    def verify(i_episode, score, policy):
        state["steps"] += int(score)  # CartPole pays 1 per step: the episode's length
        if score < 500:
            return False
        hubrl_policy = as_hubrl_policy(policy)
        state["solved"] = solved(hubrl_policy)
        return state["solved"]

    wall, _ = train_cartpole(seed, callback=verify, n_training_episodes=episodes)
    return wall, state["steps"], state["solved"]


def as_hubrl_policy(course_policy):
    """The notebook's fc1/fc2 network as a hubrl Policy (same weights), so it is verified by the same evaluator."""
    from hubrl.policy import Policy, PolicyConfig

    layers = {"net.0": course_policy.fc1, "net.2": course_policy.fc2}
    return Policy(PolicyConfig("CartPole-v1", 4, 2, (16,)),
                  {f"{name}.{k}": getattr(m, k).detach().numpy() for name, m in layers.items() for k in ("weight", "bias")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--course-episodes", type=int, default=1000, help="course budget (the notebook's 1000)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    print(f"{'seed':>4} | {'hubrl default: s':>16} {'env steps':>10} {'ok':>3} | {'course notebook: s':>18} "
          f"{'env steps':>10} {'ok':>3} | {'hubrl course preset: s':>22} {'env steps':>10} {'ok':>3}", flush=True)
    for seed in range(args.seeds):
        d = run_default(seed)
        n = run_notebook(seed, args.course_episodes)
        c = run_course(seed, args.course_episodes)
        rows.append((d, n, c))
        print(f"{seed:>4} | {d[0]:>16.2f} {d[1]:>10,} {'yes' if d[2] else 'NO':>3} | {n[0]:>18.2f} {n[1]:>10,} "
              f"{'yes' if n[2] else 'NO':>3} | {c[0]:>22.2f} {c[1]:>10,} {'yes' if c[2] else 'NO':>3}", flush=True)
    med = [statistics.median(r[i][0] for r in rows) for i in range(3)]
    steps = [statistics.median(r[i][1] for r in rows) for i in range(3)]
    solved_n = [sum(r[i][2] for r in rows) for i in range(3)]
    for name, i in (("hubrl default", 0), ("course notebook", 1), ("hubrl course preset", 2)):
        print(f"median {name:<20} {med[i]:>7.2f} s, {steps[i]:>9,.0f} env steps, solved {solved_n[i]}/{len(rows)}")
    print("(an unsolved seed counts its whole budget)")
    print(f"speed-up of hubrl default over the course notebook (ratio of medians): {med[1] / med[0]:.1f}x; "
          f"over the course recipe on hubrl's engine: {med[2] / med[0]:.1f}x")
    targets = [("every seed solves", solved_n[0] == len(rows)), ("median <= 1.5 s", med[0] <= 1.5),
               ("median <= 300k env steps", steps[0] <= 300_000), (">= 20x faster than the course", med[1] / med[0] >= 20)]
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets))


if __name__ == "__main__":
    main()
