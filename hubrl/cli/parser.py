"""The ``hubrl`` command line: one module per command group, each parsing arguments and calling the public API.

Errors a user can cause print one line (``hubrl: error: ...``) and exit non-zero, without a traceback. Parsing
imports nothing heavy: every command imports what it runs when it runs.
"""

from __future__ import annotations

import argparse

import hubrl.cli.agents as agents
import hubrl.cli.convert as convert
import hubrl.cli.demo as demo
import hubrl.cli.hub as hub
import hubrl.cli.leaderboard as leaderboard
import hubrl.cli.sweep as sweep
import hubrl.cli.train as train
from hubrl.cli.options import stderr
from hubrl.errors import HubrlError

EPILOG = """examples:
  hubrl demo                                   the whole story offline: train, push, load back, leaderboard
  hubrl train CartPole-v1                      train, evaluate, record and write a run folder
  hubrl train Pixelcopter-PLE-v0 --preset course --set lr=3e-4
  hubrl evaluate runs/CartPole-v1-default-seed0 --json
  hubrl record runs/CartPole-v1-default-seed0 --output replay.mp4
  hubrl convert alice/Reinforce-CartPole-v1 --output runs/alice   a course model.pt repo -> a run folder
"""

COMMAND_GROUPS = (train, agents, hub, convert, leaderboard, sweep, demo)
"""Each has ``register(subparsers)``; their order is the order ``hubrl --help`` lists the commands in."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubrl", description="Train, evaluate, record and share REINFORCE agents on the Hugging Face Hub.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hubrl {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hubrl")
    except PackageNotFoundError:
        return "0+source"


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HubrlError as err:
        stderr(f"hubrl: error: {err}")
        return getattr(err, "exit_code", 2)
    except KeyboardInterrupt:
        stderr("hubrl: interrupted")
        return 130
    except BrokenPipeError:
        return 1
