"""``hubrl evaluate``, ``record`` and ``enjoy``: :func:`hubrl.evaluate.evaluate_agent` and
:func:`hubrl.video.record_video` on an agent loaded from a run folder or a repo id."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hubrl.cli.options import add_json_option, add_source_options, load_source
from hubrl.defaults import DEFAULT_EVAL_SEED, DEFAULT_MAX_FRAMES, EVAL_TIME_LIMIT


def _time_limit_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", type=float, default=EVAL_TIME_LIMIT, metavar="SECONDS",
                   help=f"stop with an error when the episodes take longer (wall clock; default {EVAL_TIME_LIMIT:g}, "
                        "0: no limit): someone else's agent may be built to be slow")


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate an agent over seeded episodes",
                       description="Evaluate an agent: episode i is reset with seed SEED+i; prints mean +/- std and "
                                   "the leaderboard score (mean - std).")
    add_source_options(p)
    p.add_argument("--n-eval-episodes", type=int, default=10, help="episodes (default 10)")
    p.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED, help=f"base seed (default {DEFAULT_EVAL_SEED})")
    p.add_argument("--max-steps", type=int, default=None, help="episode cap (default: the course's max_t)")
    p.add_argument("--deterministic", action="store_true", help="take the most likely action instead of sampling")
    _time_limit_option(p)
    add_json_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("record", help="record one seeded episode as an mp4",
                       description="Render one seeded episode to an H.264 mp4 (yuv420p).")
    add_source_options(p)
    p.add_argument("--output", type=Path, default=Path("replay.mp4"), help="mp4 to write (default replay.mp4)")
    p.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED, help="episode seed")
    p.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES, help="frame cap so the video always ends")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("enjoy", help="load a classmate's agent by repo id, evaluate it and record a replay",
                       description="Download an agent (hubrl or course-notebook repo; no pickled code is run), "
                                   "evaluate it over seeded episodes and record a replay.")
    add_source_options(p)
    p.add_argument("--n-eval-episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED)
    _time_limit_option(p)
    p.add_argument("--output", type=Path, default=None, help="replay mp4 (default enjoy-NAMESPACE-NAME.mp4)")
    p.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES)
    p.add_argument("--overwrite", action="store_true", help="replace an existing replay file")
    p.set_defaults(func=cmd_enjoy)


def _refuse_existing(output: Path, overwrite: bool) -> None:
    from hubrl.errors import OutputExistsError

    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} already exists; choose another --output or pass --overwrite")


def _evaluate(agent, args: argparse.Namespace, **options):
    """:func:`hubrl.evaluate.evaluate_agent` on a loaded agent; a policy that does not fit its env names the agent."""
    from hubrl.errors import AgentFormatError
    from hubrl.evaluate import evaluate_agent

    try:
        return evaluate_agent(agent.policy, n_eval_episodes=args.n_eval_episodes, seed=args.seed,
                              time_limit=args.time_limit or None, **options)
    except AgentFormatError as err:
        raise AgentFormatError(f"{agent.source}: {err}") from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    agent = load_source(args)
    result = _evaluate(agent, args, max_steps=args.max_steps, deterministic=args.deterministic)
    if args.json:
        print(json.dumps({"source": agent.source, "format": agent.format, **result.to_json()}))
    else:
        print(result.summary())
        print("returns: " + ", ".join(f"{r:g}" for r in result.episode_returns))
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from hubrl.video import record_video

    _refuse_existing(args.output, args.overwrite)
    agent = load_source(args)
    rec = record_video(agent.policy, args.output, seed=args.seed, max_frames=args.max_frames)
    print(f"wrote {rec.path}: {rec.frames} frames at {rec.fps} fps ({rec.width}x{rec.height}), "
          f"episode return {rec.episode_return:g}{' (stopped at the frame cap)' if rec.truncated_by_cap else ''}")
    return 0


def cmd_enjoy(args: argparse.Namespace) -> int:
    from hubrl.video import record_video

    output = args.output or Path(f"enjoy-{args.source.replace('/', '-')}.mp4")
    _refuse_existing(output, args.overwrite)
    agent = load_source(args)
    print(f"loaded {agent.source} ({agent.format} format, {agent.env_id}, "
          f"hidden layers {list(agent.policy.config.hidden_sizes)})")
    result = _evaluate(agent, args)
    print(result.summary())
    claimed = agent.results.get("mean_reward")
    if claimed is not None:
        print(f"its results.json claims mean_reward {float(claimed):.2f}")
    rec = record_video(agent.policy, output, seed=args.seed, max_frames=args.max_frames)
    print(f"replay: {rec.path} ({rec.frames} frames, return {rec.episode_return:g})")
    return 0
