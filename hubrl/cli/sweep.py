"""``hubrl sweep``: :func:`hubrl.sweep.sweep` over a preset's hyperparameters and seeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from hubrl.cli.options import stderr


def register(sub) -> None:
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


def cmd_sweep(args: argparse.Namespace) -> int:
    from hubrl.errors import ConfigError
    from hubrl.presets import parse_override
    from hubrl.sweep import format_summary, parse_grid, sweep

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError as err:
        raise ConfigError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from err
    common = dict(parse_override(item) for item in args.overrides)

    def report(row):
        from tqdm.auto import tqdm

        if row.ok:
            line = (f"trial {row.index:>3} seed {row.seed}: score {row.score:.2f} "
                    f"({row.mean_reward:.2f} +/- {row.std_reward:.2f}) in {row.train_s:.1f} s  {row.label}")
        else:
            line = f"trial {row.index:>3} seed {row.seed}: FAILED {row.error}  {row.label}"
        tqdm.write(line)  # above the progress bar

    summary = sweep(args.env_id, preset=args.preset, grid=parse_grid(args.grid), seeds=seeds, n_random=args.random,
                    workers=args.workers, output=args.output, overwrite=args.overwrite, common=common,
                    ray_address=args.ray, max_retries=args.max_retries, progress=not args.quiet, on_result=report)
    if summary["skipped"]:
        print(f"continued {args.output}: {len(summary['skipped'])} of {summary['n_trials']} trials were done before")
    print(format_summary(summary))
    print(f"summary: {args.output / 'summary.json'}")
    if summary["n_failed"]:
        stderr(f"hubrl: error: {summary['n_failed']} of {summary['n_trials']} trials failed (see above); "
               "run the same command again to retry them")
        return 1
    return 0
