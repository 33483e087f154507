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
    python benchmarks/learning.py Pixelcopter-PLE-v0 --presets default,previous --seeds 3,1 --budget 900 --target 300

``previous`` is the ``default`` preset as it was before the last tuning change (kept below, not in hubrl): running it
the same day, on the same machine, is the yardstick that tells a better recipe from a faster machine. For the envs
tuned in the any-env round (Acrobot-v1, LunarLander-v3, Pendulum-v1, ALE/Breakout-v5) the yardstick is ``generic``,
the recipe made from the env's facts alone. ``--seeds 3,1`` gives each preset its own number of seeds. ``--target``
reports which runs reached that score (``--metric mean``: that mean reward), and when.

The any-env targets (three seeds each; the runs go one after another, each with the whole machine):

    python benchmarks/learning.py Acrobot-v1 --presets default,generic --seeds 3,1 --budget 180 --target -100
    python benchmarks/learning.py LunarLander-v3 --presets default,generic --seeds 3,1 --budget 1800 --target 200
    python benchmarks/learning.py Pendulum-v1 --presets default,generic --seeds 3,1 --budget 900 --target -200 \
        --metric mean
    python benchmarks/learning.py ALE/Breakout-v5 --presets default --seeds 1 --budget 900 --save-runs runs/bench
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

# The ``default`` presets before the learning tuning of 2026-12 (issue 16): the yardstick for the new ones.
PREVIOUS = {
    "Pixelcopter-PLE-v0": dict(
        hidden_sizes=(64, 64), batch_episodes=128, train_max_t=1000, train_autoreset=True, cut_tail=150,
        env_options={"obs_lags": [6, 12, 24]}, n_training_episodes=10**7, max_env_steps=380_000_000,
        time_budget_s=1500, max_t=10000, gamma=0.99, lr=3e-3, lr_final=3e-4, obs_norm=True, baseline=True,
        ent_coef=0.01, ent_coef_final=0.0, max_grad_norm=1.0, val_every=50, n_val_episodes=64, select_best=True,
        rollout_workers=2, torch_threads=2,
    ),
    "Pong-PLE-v0": dict(
        hidden_sizes=(64, 64), batch_episodes=64, n_training_episodes=10**7, max_env_steps=120_000_000,
        time_budget_s=1200, max_t=5000, gamma=0.99, lr=3e-3, lr_final=3e-4, obs_norm=True, baseline=True,
        ent_coef=0.01, ent_coef_final=0.0, max_grad_norm=1.0, val_every=25, n_val_episodes=32, select_best=True,
        rollout_workers=2, torch_threads=2,
    ),
    "ALE/Pong-v5": dict(
        hidden_sizes=(200,), batch_episodes=8, n_training_episodes=100_000, time_budget_s=3600, max_t=27000,
        gamma=0.99, lr=1e-3, baseline=False, max_grad_norm=1.0, env_options={"obs_mode": "pixels"},
        rollout_workers=2,
    ),
}


def make_run_config(env_id: str, preset: str, seed: int, overrides: dict):
    """The config of one run: a hubrl preset, or ``previous`` (this file's copy of the preset before tuning)."""
    from hubrl.presets import TrainConfig, make_config

    if preset == "previous":
        if env_id not in PREVIOUS:
            raise SystemExit(f"no previous preset recorded for {env_id}; choose from {', '.join(PREVIOUS)}")
        return TrainConfig(env_id=env_id, preset="previous", seed=seed, **{**PREVIOUS[env_id], **overrides})
    return make_config(env_id, preset, seed=seed, **overrides)


def run_folder(save_runs: Path, env_id: str, preset: str, seed: int) -> Path:
    """Where ``--save-runs`` puts one run's folder."""
    return save_runs / f"{env_id.replace('/', '-')}-{preset}-seed{seed}"


def run_one(env_id: str, preset: str, seed: int, budget: float, points: int, overrides: dict,
            save_runs: Path | None = None) -> dict:
    import torch

    from hubrl.evaluate import evaluate_agent
    from hubrl.training import train
    from hubrl.run import package_run

    config = make_run_config(env_id, preset, seed, overrides)
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
            print(f"  {preset} seed {seed}: {row['wall_s']:7.0f} s {row['env_steps']:>13,} steps  "
                  f"{e.mean_reward:8.2f} +/- {e.std_reward:7.2f}  score {e.score:8.2f}", flush=True)
        return False

    result = train(config, progress=False, callback=probe)
    final = evaluate_agent(result.policy, n_eval_episodes=10, seed=0, max_steps=config.max_t)
    # The curve ends with the policy training returns (the best validated one where the preset selects)
    curve.append({"wall_s": result.wall_s, "env_steps": result.env_steps, "episodes": result.episodes,
                  "mean": final.mean_reward, "std": final.std_reward, "score": final.score, "returned": True})
    print(f"  {preset} seed {seed}: returned after {result.wall_s:.0f} s, {result.env_steps:,} steps ({result.stopped}): "
          f"{final.mean_reward:.2f} +/- {final.std_reward:.2f}  score {final.score:.2f}", flush=True)
    if save_runs is not None:
        out = run_folder(save_runs, env_id, preset, seed)
        package_run(result, out, staging=out.with_name(out.name + ".staging"))
    return {"preset": preset, "seed": seed, "curve": curve, "final": final.to_json(), "wall_s": result.wall_s,
            "env_steps": result.env_steps, "episodes": result.episodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env_id")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per run (default 300)")
    parser.add_argument("--seeds", default="3",
                        help="seeds per preset (FIRST..FIRST+N-1): one number for all, or one per preset like 3,1 (default 3)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one on (default 0)")
    parser.add_argument("--target", type=float, default=None,
                        help="report which runs' final policy reaches this score, and when their curve first did")
    parser.add_argument("--metric", choices=("score", "mean"), default="score",
                        help="what --target is compared with: the score (mean - std, default) or the mean reward")
    parser.add_argument("--presets", default=None,
                        help="comma-separated presets (default: default,course where the env has course, else default)")
    parser.add_argument("--points", type=int, default=10, help="evaluations along each curve")
    parser.add_argument("--workers", type=int, default=1,
                        help="runs in parallel (default 1: each run has the whole machine, as the targets assume)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override for the first preset only (to try a change against the course recipe)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--save-runs", type=Path, default=None, metavar="DIR",
                        help="also write every run's complete run folder (weights, card, video) under DIR")
    args = parser.parse_args()
    if args.presets is None:
        from hubrl.presets import preset_names

        args.presets = "default,course" if "course" in preset_names(args.env_id) else "default"
    presets = args.presets.split(",")
    try:
        counts = [int(n) for n in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds expects a number or one number per preset like 3,1, got {args.seeds!r}")
    if len(counts) == 1:
        counts *= len(presets)
    if len(counts) != len(presets) or min(counts) < 1:
        parser.error(f"--seeds gives {len(counts)} counts for {len(presets)} presets; give one, or one per preset")
    seeds = dict(zip(presets, counts))
    if args.save_runs is not None:
        taken = [p for p in presets for s in range(args.first_seed, args.first_seed + seeds[p])
                 if run_folder(args.save_runs, args.env_id, p, s).exists()]
        if taken:
            parser.error(f"{args.save_runs} already holds runs for {', '.join(sorted(set(taken)))}; choose another --save-runs")

    from hubrl.presets import parse_override

    overrides = dict(parse_override(s) for s in args.overrides)
    jobs = [(args.env_id, p, s, args.budget, args.points, overrides if i == 0 else {}, args.save_runs)
            for i, p in enumerate(presets) for s in range(args.first_seed, args.first_seed + seeds[p])]
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(run_one, *zip(*jobs)))

    what = "score (mean - std" if args.metric == "score" else "mean reward (mean"
    print(f"\n{args.env_id}: {what} over 10 seeded episodes) during training, budget {args.budget:.0f} s")
    print(f"{'preset':>8} {'seed':>4} | " + " | ".join(f"{'t(s)':>6} {'steps':>9} {args.metric:>8}" for _ in range(3))
          + " | ...")
    for run in runs:
        cells = " | ".join(f"{p['wall_s']:>6.0f} {p['env_steps']:>9,} {p[args.metric]:>8.2f}" for p in run["curve"])
        print(f"{run['preset']:>8} {run['seed']:>4} | {cells}")
    print("\nfinal policy returned by training (evaluated over seeds 0..9):")
    for preset in presets:
        finals = [r["final"] for r in runs if r["preset"] == preset]
        scores = [f["score"] for f in finals]
        print(f"  {preset:>8}: scores {', '.join(f'{s:.2f}' for s in scores)}  (median {statistics.median(scores):.2f}; "
              + ", ".join(f"{f['mean_reward']:.1f} +/- {f['std_reward']:.1f}" for f in finals) + ")")
    if args.target is not None:
        final_key = "score" if args.metric == "score" else "mean_reward"
        print(f"\ntarget {args.metric} {args.target:g} within {args.budget:.0f} s:")
        for preset in presets:
            mine = [r for r in runs if r["preset"] == preset]
            reached = [r for r in mine if r["final"][final_key] >= args.target]
            firsts = [next((f"{p['wall_s']:.0f} s, {p['env_steps']:,} steps" for p in r["curve"]
                            if p[args.metric] >= args.target), "never") for r in mine]
            print(f"  {preset:>8}: final policy reaches it for {len(reached)} of {len(mine)} seeds; "
                  f"curve first reaches it at {', '.join(firsts)}")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"learning-{args.env_id.replace('/', '-')}"
    stem.with_suffix(".json").write_text(json.dumps({"env_id": args.env_id, "budget": args.budget,
                                                     "target": args.target, "metric": args.metric, "runs": runs},
                                                    indent=1))
    plot(runs, args.env_id, stem.with_suffix(".png"), target=args.target, metric=args.metric)
    print(f"\nwrote {stem.with_suffix('.png')} and {stem.with_suffix('.json')}")


def plot(runs: list[dict], env_id: str, path: Path, target: float | None = None, metric: str = "score") -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    colours, labelled = {}, set()
    for run in runs:
        colour = colours.setdefault(run["preset"], f"C{len(colours)}")
        label = None if run["preset"] in labelled else labelled.add(run["preset"]) or run["preset"]
        along = [p for p in run["curve"] if not p.get("returned")]
        returned = [p for p in run["curve"] if p.get("returned")]
        for ax, key in zip(axes, ("wall_s", "env_steps")):
            ax.plot([p[key] for p in along], [p[metric] for p in along], "-o", ms=3, color=colour, label=label,
                    alpha=0.8)
            ax.plot([p[key] for p in returned], [p[metric] for p in returned], "*", ms=11, color=colour, alpha=0.9)
    for ax, name in zip(axes, ("training wall time (s)", "environment steps")):
        ax.set_xlabel(name)
        ax.set_ylabel("score (mean - std)" if metric == "score" else "mean reward")
        if target is not None:
            ax.axhline(target, color="grey", ls="--", lw=1)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"REINFORCE on {env_id}: " + " vs ".join(dict.fromkeys(r["preset"] for r in runs))
                 + " preset (dots: the policy during training; stars: the policy training returns)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
