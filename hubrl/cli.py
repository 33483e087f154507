"""The ``hubrl`` command line: argument parsing only; every command calls the public Python API.

Errors a user can cause print one line (``hubrl: error: ...``) and exit non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hubrl.errors import HubrlError

EPILOG = """examples:
  hubrl demo                                   the whole story offline: train, push, load back, leaderboard
  hubrl train CartPole-v1                      train, evaluate, record and write a run folder
  hubrl train Pixelcopter-PLE-v0 --preset course --set lr=3e-4
  hubrl evaluate runs/CartPole-v1-default-seed0 --json
  hubrl record runs/CartPole-v1-default-seed0 --output replay.mp4
"""


def _add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="a run folder, or a Hub repo id (namespace/name)")
    p.add_argument("--revision", default=None, help="branch or commit of a Hub repo (default: main)")
    p.add_argument("--endpoint", default=None, help="Hub URL (default: $HF_ENDPOINT or https://huggingface.co)")
    p.add_argument("--token", default=None, help="Hub token for private repos (default: $HF_TOKEN or stored login)")


def build_parser() -> argparse.ArgumentParser:
    from hubrl.envs import ENVS
    from hubrl.defaults import DEFAULT_EVAL_SEED, DEFAULT_MAX_FRAMES

    parser = argparse.ArgumentParser(
        prog="hubrl", description="Train, evaluate, record and share REINFORCE agents on the Hugging Face Hub.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hubrl {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="train an agent and write a complete run folder",
                       description="Train a REINFORCE agent, evaluate it over seeded episodes, record a replay and "
                                   "write a run folder (weights, hyperparameters, results, video, curve, model card).")
    p.add_argument("env_id", metavar="ENV_ID", help=f"one of: {', '.join(ENVS)}")
    p.add_argument("--preset", default="default", help="'default' (tuned) or 'course' (the course notebook recipe)")
    p.add_argument("--seed", type=int, default=0, help="run seed: same seed, same weights (default 0)")
    p.add_argument("--output", type=Path, default=None, help="run folder (default runs/ENV-PRESET-seedN)")
    p.add_argument("--n-eval-episodes", type=int, default=None, help="final evaluation episodes (default 10)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one hyperparameter, e.g. --set lr=3e-4 --set hidden_sizes=64,128 (repeatable)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS", help="stop training after this long")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    p.add_argument("--no-video", action="store_true", help="skip the replay video (the run cannot be pushed then)")
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="push the finished run to this repo")
    p.add_argument("--endpoint", default=None, help="Hub URL for --push-to-hub")
    p.add_argument("--token", default=None, help="Hub token for --push-to-hub")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate an agent over seeded episodes",
                       description="Evaluate an agent: episode i is reset with seed SEED+i; prints mean +/- std and "
                                   "the leaderboard score (mean - std).")
    _add_source_options(p)
    p.add_argument("--n-eval-episodes", type=int, default=10, help="episodes (default 10)")
    p.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED, help=f"base seed (default {DEFAULT_EVAL_SEED})")
    p.add_argument("--max-steps", type=int, default=None, help="episode cap (default: the course's max_t)")
    p.add_argument("--deterministic", action="store_true", help="take the most likely action instead of sampling")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("record", help="record one seeded episode as an mp4",
                       description="Render one seeded episode to an H.264 mp4 (yuv420p).")
    _add_source_options(p)
    p.add_argument("--output", type=Path, default=Path("replay.mp4"), help="mp4 to write (default replay.mp4)")
    p.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED, help="episode seed")
    p.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES, help="frame cap so the video always ends")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("push", help="push a run folder to a Hub repo in one commit",
                       description="Validate a run folder and its card, then push every file in ONE commit. "
                                   "Identical content makes no new commit. Endpoint and token: --endpoint/--token, "
                                   "else HF_ENDPOINT/HF_TOKEN, else the stored login.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--repo-id", required=True, help="namespace/name (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", default=None, help="branch to commit to (default main)")
    p.add_argument("--commit-message", default=None)
    p.add_argument("--dry-run", action="store_true", help="print files, sizes and card metadata; send nothing")
    p.add_argument("--endpoint", default=None, help="Hub URL (default: $HF_ENDPOINT or https://huggingface.co)")
    p.add_argument("--token", default=None, help="Hub token (default: $HF_TOKEN or stored login); never printed")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("enjoy", help="load a classmate's agent by repo id, evaluate it and record a replay",
                       description="Download an agent (hubrl or course-notebook repo; no pickled code is run), "
                                   "evaluate it over seeded episodes and record a replay.")
    _add_source_options(p)
    p.add_argument("--n-eval-episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED)
    p.add_argument("--output", type=Path, default=None, help="replay mp4 (default enjoy-NAMESPACE-NAME.mp4)")
    p.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES)
    p.add_argument("--overwrite", action="store_true", help="replace an existing replay file")
    p.set_defaults(func=cmd_enjoy)

    p = sub.add_parser("hub", help="run a local Hub-compatible server and manage its users",
                       description="A local, persistent Hub that the official huggingface_hub client talks to "
                                   "(HF_ENDPOINT=http://HOST:PORT).")
    hub_sub = p.add_subparsers(dest="hub_command", metavar="HUB_COMMAND", required=True)
    q = hub_sub.add_parser("serve", help="serve the local Hub until Ctrl-C")
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--port", type=int, default=8080)
    q.add_argument("--data", type=Path, default=None, help="data folder (default $HUBRL_HUB_DATA or ~/.cache/hubrl/hub)")
    q.set_defaults(func=cmd_hub_serve)
    q = hub_sub.add_parser("token", help="create a user (if new) and print a new write token for it")
    q.add_argument("user", metavar="USER")
    q.add_argument("--data", type=Path, default=None, help="data folder of the local Hub")
    q.set_defaults(func=cmd_hub_token)

    p = sub.add_parser("demo", help="the whole story offline: local Hub, train, push, load back, leaderboard",
                       description="Start a local Hub in-process, train CartPole-v1, evaluate, record, push as "
                                   "'student', load it back by repo id as 'classmate', re-evaluate and print the "
                                   "leaderboard. --endpoint runs the same story against any Hub.")
    p.add_argument("--endpoint", default=None, help="use this Hub instead of an embedded one")
    p.add_argument("--token", default=None, help="token for --endpoint (default HF_TOKEN / stored login)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sweep", help="grid or random search over a preset's hyperparameters and seeds",
                       description="Train one run per (configuration, seed) in parallel processes (or on a Ray "
                                   "cluster with --ray), evaluate each with the seeded protocol, and rank "
                                   "configurations by median score (mean - std) over seeds.")
    p.add_argument("env_id", metavar="ENV_ID")
    p.add_argument("--preset", default="default")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1|V2",
                   help="values to try for one hyperparameter, '|'-separated (repeatable), e.g. --grid lr=0.03|0.06")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="fixed override for every trial (repeatable)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2 (default 0)")
    p.add_argument("--random", type=int, default=None, metavar="N", help="random search: N grid points")
    p.add_argument("--workers", type=int, default=None, help="parallel processes (default: CPU cores)")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run trials as tasks on this Ray cluster: HEAD:PORT of `ray start --head` (hubrl[ray])")
    p.add_argument("--max-retries", type=int, default=3, metavar="N",
                   help="with --ray: re-runs of a trial whose node was lost (default 3; a trial that raises is not "
                        "retried)")
    p.add_argument("--output", type=Path, default=Path("sweeps/sweep"),
                   help="sweep folder (default sweeps/sweep); the same command again continues it, skipping the "
                        "trials already done")
    p.add_argument("--overwrite", action="store_true", help="start over in a folder that holds another sweep")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)

    from hubrl.cli_leaderboard import register

    register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hubrl")
    except PackageNotFoundError:
        return "0+source"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_source(args: argparse.Namespace):
    """A run folder path or a repo id -> :class:`hubrl.run.Agent`."""
    from hubrl.hub import load_agent

    return load_agent(args.source, revision=args.revision, endpoint=args.endpoint, token=args.token)


def cmd_train(args: argparse.Namespace) -> int:
    from hubrl.presets import make_config, parse_override
    from hubrl.run import train_run

    overrides = dict(parse_override(item) for item in args.overrides)
    if args.time_budget is not None:
        overrides["time_budget_s"] = args.time_budget
    config = make_config(args.env_id, args.preset, seed=args.seed, **overrides)
    if args.push_to_hub:
        from hubrl.hub import check_repo_id

        check_repo_id(args.push_to_hub)
    path = train_run(config, output=args.output, overwrite=args.overwrite, resume=args.resume,
                     n_eval_episodes=args.n_eval_episodes, progress=not args.quiet, record=not args.no_video)
    results = json.loads((path / "results.json").read_text())
    training = results.get("training", {})
    print(f"trained {config.env_id} ({config.preset} preset, seed {config.seed}): {training.get('episodes')} episodes, "
          f"{training.get('env_steps'):,} env steps in {training.get('wall_s'):.1f} s ({training.get('stopped')})")
    print(f"evaluation: {results['mean_reward']:.2f} +/- {results['std_reward']:.2f} "
          f"(score {results['score']:.2f}) over {results['n_evaluation_episodes']} seeded episodes")
    print(f"run folder: {path}")
    if args.push_to_hub:
        from hubrl.hub import push_to_hub

        push = push_to_hub(path, repo_id=args.push_to_hub, endpoint=args.endpoint, token=args.token)
        print(push.summary())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from hubrl.evaluate import evaluate_agent

    agent = load_source(args)
    result = evaluate_agent(agent.policy, n_eval_episodes=args.n_eval_episodes, seed=args.seed,
                            max_steps=args.max_steps, deterministic=args.deterministic)
    if args.json:
        print(json.dumps({"source": agent.source, "format": agent.format, **result.to_json()}))
    else:
        print(result.summary())
        print("returns: " + ", ".join(f"{r:g}" for r in result.episode_returns))
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from hubrl.errors import OutputExistsError
    from hubrl.video import record_video

    if args.output.exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output} already exists; choose another --output or pass --overwrite")
    agent = load_source(args)
    rec = record_video(agent.policy, args.output, seed=args.seed, max_frames=args.max_frames)
    print(f"wrote {rec.path}: {rec.frames} frames at {rec.fps} fps ({rec.width}x{rec.height}), "
          f"episode return {rec.episode_return:g}{' (stopped at the frame cap)' if rec.truncated_by_cap else ''}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from hubrl.hub import push_to_hub

    result = push_to_hub(args.run_dir, args.repo_id, private=args.private, revision=args.revision,
                         commit_message=args.commit_message, dry_run=args.dry_run, endpoint=args.endpoint,
                         token=args.token)
    print(result.summary())
    return 0


def cmd_enjoy(args: argparse.Namespace) -> int:
    from hubrl.errors import OutputExistsError
    from hubrl.evaluate import evaluate_agent
    from hubrl.video import record_video

    output = args.output or Path(f"enjoy-{args.source.replace('/', '-')}.mp4")
    if output.exists() and not args.overwrite:
        raise OutputExistsError(f"{output} already exists; choose another --output or pass --overwrite")
    agent = load_source(args)
    print(f"loaded {agent.source} ({agent.format} format, {agent.env_id}, "
          f"hidden layers {list(agent.policy.config.hidden_sizes)})")
    result = evaluate_agent(agent.policy, n_eval_episodes=args.n_eval_episodes, seed=args.seed)
    print(result.summary())
    claimed = agent.results.get("mean_reward")
    if claimed is not None:
        print(f"its results.json claims mean_reward {float(claimed):.2f}")
    rec = record_video(agent.policy, output, seed=args.seed, max_frames=args.max_frames)
    print(f"replay: {rec.path} ({rec.frames} frames, return {rec.episode_return:g})")
    return 0


def cmd_hub_serve(args: argparse.Namespace) -> int:
    from hubrl.server import default_data_dir, serve

    serve(host=args.host, port=args.port, data_dir=args.data or default_data_dir())
    return 0


def cmd_hub_token(args: argparse.Namespace) -> int:
    from hubrl.server import create_token, default_data_dir

    data = args.data or default_data_dir()
    token = create_token(data, args.user)
    _stderr(f"new token for {args.user} on the local Hub in {data} (shown once; use it as HF_TOKEN):")
    print(token)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hubrl.demo import run_demo

    run_demo(endpoint=args.endpoint, token=args.token, seed=args.seed, progress=not args.quiet)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from hubrl.errors import ConfigError
    from hubrl.presets import parse_override
    from hubrl.sweep import format_summary, parse_grid, sweep

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from None
    common = dict(parse_override(item) for item in args.overrides)

    def report(row):
        from tqdm.auto import tqdm

        label = ", ".join(f"{k}={v}" for k, v in row["overrides"].items()) or "(preset)"
        if row["status"] == "ok":
            line = (f"trial {row['index']:>3} seed {row['seed']}: score {row['score']:.2f} "
                    f"({row['mean_reward']:.2f} +/- {row['std_reward']:.2f}) in {row['train_s']:.1f} s  {label}")
        else:
            line = f"trial {row['index']:>3} seed {row['seed']}: FAILED {row['error']}  {label}"
        tqdm.write(line)  # above the progress bar

    summary = sweep(args.env_id, preset=args.preset, grid=parse_grid(args.grid), seeds=seeds, n_random=args.random,
                    workers=args.workers, output=args.output, overwrite=args.overwrite, common=common,
                    ray_address=args.ray, max_retries=args.max_retries, progress=not args.quiet, on_result=report)
    if summary["skipped"]:
        print(f"continued {args.output}: {len(summary['skipped'])} of {summary['n_trials']} trials were done before")
    print(format_summary(summary))
    print(f"summary: {args.output / 'summary.json'}")
    if summary["n_failed"]:
        _stderr(f"hubrl: error: {summary['n_failed']} of {summary['n_trials']} trials failed (see above); "
                "run the same command again to retry them")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HubrlError as err:
        _stderr(f"hubrl: error: {err}")
        return getattr(err, "exit_code", 2)
    except KeyboardInterrupt:
        _stderr("hubrl: interrupted")
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
