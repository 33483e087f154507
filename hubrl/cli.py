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
    from hubrl.evaluate import DEFAULT_EVAL_SEED
    from hubrl.video import DEFAULT_MAX_FRAMES

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

    _extend_parser(sub)
    return parser


def _extend_parser(sub) -> None:
    """Hub-side commands (push, enjoy, hub, leaderboard, submit, demo, sweep) register here when available."""
    for module in ("hubrl.cli_hub",):
        try:
            __import__(module, fromlist=["register"]).register(sub)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise


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
