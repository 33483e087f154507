"""Learning curves: the tuned preset vs the course preset, each for a fixed wall-clock budget, over several seeds.

Every run trains with its preset's recipe (its own step budget and schedules, as ``hubrl train`` does) for at most
``--budget`` seconds of training time; at ``--points`` moments it is
evaluated with the seeded protocol (10 episodes, seeds 0..9, stochastic, course episode cap) inside a training
callback, whose time does not count as training time. Prints score (mean - std) against wall time and env steps as a
table, writes a PNG and a JSON next to it, and the final scores of the policy each run returns. ``--save-runs DIR``
also packages every run as a complete run folder (weights, card, video; what ``hubrl train`` writes).

    python benchmarks/learning.py Pixelcopter-PLE-v0 --budget 1800 --seeds 3
    python benchmarks/learning.py Pixelcopter-PLE-v0 --presets default --budget 1800 --seeds 3 --save-runs runs/bench
    python benchmarks/learning.py CartPole-v1 --budget 20 --seeds 3 --workers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_folder(save_runs: Path, env_id: str, preset: str, seed: int) -> Path:
    """Where ``--save-runs`` puts one run's folder."""
    return save_runs / f"{env_id.replace('/', '-')}-{preset}-seed{seed}"


def run_one(env_id: str, preset: str, seed: int, budget: float, points: int, overrides: dict,
            save_runs: Path | None = None) -> dict:
    import torch

    from hubrl.evaluate import evaluate_agent
    from hubrl.presets import make_config
    from hubrl.reinforce import train
    from hubrl.run import package_run

    config = make_config(env_id, preset, seed=seed, **overrides)
    # The preset's own step budget drives its schedules; the benchmark's budget caps the wall time.
    config.time_budget_s = min(budget, config.time_budget_s or budget)
    torch.set_num_threads(config.torch_threads)
    curve = []
    next_at = [budget / points]

    def probe(row, policy):
        if row["wall_s"] >= next_at[0]:
            next_at[0] += budget / points
            e = evaluate_agent(policy, n_eval_episodes=10, seed=0, max_steps=config.max_t)
            curve.append({"wall_s": row["wall_s"], "env_steps": row["env_steps"], "episodes": row["episodes"],
                          "mean": e.mean_reward, "std": e.std_reward, "score": e.score})
        return False

    result = train(config, progress=False, callback=probe)
    final = evaluate_agent(result.policy, n_eval_episodes=10, seed=0, max_steps=config.max_t)
    if save_runs is not None:
        out = run_folder(save_runs, env_id, preset, seed)
        package_run(result, out, staging=out.with_name(out.name + ".staging"))
    return {"preset": preset, "seed": seed, "curve": curve, "final": final.to_json(), "wall_s": result.wall_s,
            "env_steps": result.env_steps, "episodes": result.episodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env_id")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per run (default 300)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--presets", default="default,course")
    parser.add_argument("--points", type=int, default=10, help="evaluations along each curve")
    parser.add_argument("--workers", type=int, default=1,
                        help="runs in parallel (default 1: each run has the whole machine, as the targets assume)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override for the first preset only (to try a change against the course recipe)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--save-runs", type=Path, default=None, metavar="DIR",
                        help="also write every run's complete run folder (weights, card, video) under DIR")
    args = parser.parse_args()
    presets = args.presets.split(",")
    if args.save_runs is not None:
        taken = [p for p in presets for s in range(args.seeds) if run_folder(args.save_runs, args.env_id, p, s).exists()]
        if taken:
            parser.error(f"{args.save_runs} already holds runs for {', '.join(sorted(set(taken)))}; choose another --save-runs")

    from hubrl.presets import parse_override

    overrides = dict(parse_override(s) for s in args.overrides)
    jobs = [(args.env_id, p, s, args.budget, args.points, overrides if i == 0 else {}, args.save_runs)
            for i, p in enumerate(presets) for s in range(args.seeds)]
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(run_one, *zip(*jobs)))

    print(f"\n{args.env_id}: score (mean - std over 10 seeded episodes) during training, budget {args.budget:.0f} s")
    print(f"{'preset':>8} {'seed':>4} | " + " | ".join(f"{'t(s)':>6} {'steps':>9} {'score':>8}" for _ in range(3))
          + " | ...")
    for run in runs:
        cells = " | ".join(f"{p['wall_s']:>6.0f} {p['env_steps']:>9,} {p['score']:>8.2f}" for p in run["curve"])
        print(f"{run['preset']:>8} {run['seed']:>4} | {cells}")
    print("\nfinal policy returned by training (evaluated over seeds 0..9):")
    for preset in presets:
        finals = [r["final"] for r in runs if r["preset"] == preset]
        scores = [f["score"] for f in finals]
        print(f"  {preset:>8}: scores {', '.join(f'{s:.2f}' for s in scores)}  (median {statistics.median(scores):.2f}; "
              + ", ".join(f"{f['mean_reward']:.1f} +/- {f['std_reward']:.1f}" for f in finals) + ")")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"learning-{args.env_id.replace('/', '-')}"
    stem.with_suffix(".json").write_text(json.dumps({"env_id": args.env_id, "budget": args.budget, "runs": runs}, indent=1))
    plot(runs, args.env_id, stem.with_suffix(".png"))
    print(f"\nwrote {stem.with_suffix('.png')} and {stem.with_suffix('.json')}")


def plot(runs: list[dict], env_id: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    colours = {}
    for run in runs:
        colour = colours.setdefault(run["preset"], f"C{len(colours)}")
        label = run["preset"] if run["seed"] == 0 else None
        for ax, key in zip(axes, ("wall_s", "env_steps")):
            ax.plot([p[key] for p in run["curve"]], [p["score"] for p in run["curve"]], "-o", ms=3, color=colour,
                    label=label, alpha=0.8)
    for ax, name in zip(axes, ("training wall time (s)", "environment steps")):
        ax.set_xlabel(name)
        ax.set_ylabel("score (mean - std)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"REINFORCE on {env_id}: " + " vs ".join(dict.fromkeys(r["preset"] for r in runs)) + " preset")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
