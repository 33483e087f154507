"""``hubrl train``: :func:`hubrl.run.train_run`, then optionally :func:`hubrl.hub.push_to_hub`."""

from __future__ import annotations

import argparse
from pathlib import Path

from hubrl.cli.options import add_hub_options


TRAIN_EPILOG = """environments:
  Any env registered with gymnasium whose observations are a Box (vectors, or uint8 images: a convolutional
  torso) and whose actions are Discrete (a categorical policy) or a Box (a Gaussian policy), e.g. CartPole-v1,
  Acrobot-v1, Pendulum-v1, LunarLander-v3 (pip install "hubrl[box2d]"), ALE/Breakout-v5 (pip install
  "hubrl[atari]"), and hubrl's Pixelcopter-PLE-v0 and Pong-PLE-v0.

presets:
  default   the env's tuned recipe (CartPole-v1, Pixelcopter-PLE-v0, Pong-PLE-v0, ALE/Pong-v5, Acrobot-v1,
            LunarLander-v3, Pendulum-v1, ALE/Breakout-v5), else generic
  generic   a recipe from the env's facts alone (batch from its episode length, value baseline, entropy bonus,
            observation and return normalisation; the Nature CNN for ALE games)
  course    the course notebook's recipe (the course envs)
  ram       ALE/Pong-v5 from the console RAM
"""


def register(sub) -> None:
    p = sub.add_parser("train", help="train an agent and write a complete run folder",
                       description="Train a REINFORCE agent, evaluate it over seeded episodes, record a replay and "
                                   "write a run folder (weights, hyperparameters, results, video, training curves and "
                                   "TensorBoard traces, model card, evaluation results).",
                       epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id", metavar="ENV_ID", help="a gymnasium env id, e.g. CartPole-v1, LunarLander-v3, "
                                                    "ALE/Breakout-v5")
    p.add_argument("--preset", default="default",
                   help="'default' (tuned where hubrl has a recipe, else generic), 'generic', 'course' (the course "
                        "notebook's recipe), 'ram' (ALE/Pong-v5)")
    p.add_argument("--seed", type=int, default=0, help="run seed: same seed, same weights (default 0)")
    p.add_argument("--output", type=Path, default=None, help="run folder (default runs/ENV-PRESET-seedN)")
    p.add_argument("--n-eval-episodes", type=int, default=None, help="final evaluation episodes (default 10)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one hyperparameter, e.g. --set lr=3e-4 --set hidden_sizes=64,128 (repeatable)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS", help="stop training after this long")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    p.add_argument("--no-video", action="store_true", help="skip the replay video (the run cannot be pushed then)")
    p.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                   help="also write the training curves to DIR/<run folder name> as training goes, to watch live "
                        "with `tensorboard --logdir DIR` (the run folder holds the same traces when done)")
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="push the finished run to this repo")
    add_hub_options(p, endpoint_help="Hub URL for --push-to-hub", token_help="Hub token for --push-to-hub")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


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
    run = train_run(config, output=args.output, overwrite=args.overwrite, resume=args.resume,
                    n_eval_episodes=args.n_eval_episodes, progress=not args.quiet, record=not args.no_video,
                    tensorboard=args.tensorboard)
    print(f"{config.preset} preset, seed {config.seed}: {run.summary()}")
    print(f"run folder: {run.path}")
    if args.push_to_hub:
        from hubrl.hub import HubClient

        push = HubClient(args.endpoint, args.token).push_to_hub(run, args.push_to_hub)
        print(push.summary())
    return 0
