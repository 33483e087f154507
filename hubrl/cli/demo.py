"""``hubrl demo``: :func:`hubrl.demo.run_demo`, the whole story offline."""

from __future__ import annotations

import argparse

from hubrl.cli.options import add_hub_options


def register(sub) -> None:
    p = sub.add_parser("demo", help="the whole story offline: local Hub, train, push, load back, leaderboard",
                       description="Start a local Hub in-process, train CartPole-v1, evaluate, record, push as "
                                   "'student', load it back by repo id as 'classmate', re-evaluate and print the "
                                   "leaderboard. --endpoint runs the same story against any Hub.")
    add_hub_options(p, endpoint_help="use this Hub instead of an embedded one",
                    token_help="token for --endpoint (default HF_TOKEN / stored login)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from hubrl.demo import run_demo

    run_demo(endpoint=args.endpoint, token=args.token, seed=args.seed, progress=not args.quiet)
    return 0
