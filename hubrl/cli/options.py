"""Options several commands share, declared once: the Hub connection, an agent's SOURCE, ``--json``, counts.

Nothing here imports more than argparse: help texts come from :mod:`hubrl.defaults` and :mod:`hubrl.envs` only, so
``hubrl COMMAND --help`` and the parse of every command stay cheap.
"""

from __future__ import annotations

import argparse
import sys

ENDPOINT_HELP = "Hub URL (default: $HF_ENDPOINT or https://huggingface.co)"
TOKEN_HELP = "Hub token (default: $HF_TOKEN or stored login); never printed"


def add_hub_options(p: argparse.ArgumentParser, *, endpoint_help: str = ENDPOINT_HELP,
                    token_help: str = TOKEN_HELP) -> None:
    """``--endpoint`` and ``--token``: which Hub to talk to and as whom (the ecosystem's defaults otherwise)."""
    p.add_argument("--endpoint", default=None, help=endpoint_help)
    p.add_argument("--token", default=None, help=token_help)


def add_source_options(p: argparse.ArgumentParser) -> None:
    """SOURCE (a run folder or a repo id), ``--revision`` and the Hub connection to fetch it with."""
    p.add_argument("source", metavar="SOURCE", help="a run folder, or a Hub repo id (namespace/name)")
    p.add_argument("--revision", default=None, help="branch or commit of a Hub repo (default: main)")
    add_hub_options(p, token_help="Hub token for private repos (default: $HF_TOKEN or stored login)")


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _whole(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from err
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive(text: str) -> int:
    """An argparse type: a positive integer, or a usage error that says so."""
    return _whole(text, 1, "a positive integer")


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    return _whole(text, 0, "a whole number, 0 or more")


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def size(text: str) -> int:
    """An argparse type: a number of bytes, with an optional unit (``500MiB``, ``2GB``, ``1.5GiB``, ``4096``)."""
    number = text.strip().lower().rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    unit = text.strip().lower()[len(number):].strip()
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _SIZE_UNITS or not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a size such as 500MiB, 2GB or 1073741824, got {text!r}")
    return int(value * _SIZE_UNITS[unit])


def load_source(args: argparse.Namespace):
    """The agent named by the SOURCE options: a run folder path or a repo id -> :class:`hubrl.run.Agent`."""
    from hubrl.hub import HubClient

    return HubClient(args.endpoint, args.token).load_agent(args.source, revision=args.revision)


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
