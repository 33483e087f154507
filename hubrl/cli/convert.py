"""``hubrl convert``: a course notebook folder or repo (pickled ``model.pt``) -> a complete hubrl run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from hubrl.cli.options import add_hub_options


def register(sub) -> None:
    p = sub.add_parser("convert", help="turn a course model.pt folder or repo into a hubrl run folder (no pickle)",
                       description="Read a Deep RL Course agent (a folder with model.pt + hyperparameters.json, or a "
                                   "repo id) without running any code from its pickle, and write a complete hubrl "
                                   "run folder: model.safetensors + config.json, a seeded evaluation, a replay and "
                                   "the card. Then 'hubrl push DIR --repo-id ID --remove-pickle' replaces the "
                                   "pickle on the Hub in one commit.")
    p.add_argument("source", metavar="SOURCE", help="a course folder (model.pt + hyperparameters.json) or a repo id")
    p.add_argument("--output", type=Path, required=True, help="the run folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--revision", default=None, help="branch or commit of a Hub repo (default: main)")
    add_hub_options(p, token_help="Hub token for private repos (default: $HF_TOKEN or stored login)")
    p.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    from hubrl.course.convert import convert
    from hubrl.hub import HubClient

    run = convert(args.source, args.output, overwrite=args.overwrite, revision=args.revision,
                  client=HubClient(args.endpoint, args.token))
    results = run.results
    claimed = (results.converted_from or {}).get("claimed", {}).get("mean_reward")
    print(f"converted {args.source}: {results.mean_reward:.2f} +/- {results.std_reward:.2f} over "
          f"{results.n_evaluation_episodes} seeded episodes"
          + (f" (its results.json claimed mean_reward {float(claimed):.2f})" if claimed is not None else ""))
    print(f"run folder: {run.path}")
    return 0
