"""``hubrl train`` as a function: train, evaluate, record and write a complete run folder (:func:`train_run`).

The folder's files and their records are :mod:`hubrl.records`'; here they are produced. The folder is built in a
hidden staging folder beside the target (which also holds the training checkpoint) and moved into place only when
complete, so an output folder is either whole or absent; an existing one is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubrl.envs import env_spaces, required_extra
from hubrl.errors import HubrlError, OutputExistsError, RunFolderError
from hubrl.evaluate import DEFAULT_EVAL_SEED, evaluate_agent
from hubrl.folders import readable_folder, replace_folder
from hubrl.presets import TrainConfig, make_config
from hubrl.records import (
    VIDEO, Hyperparameters, Results, Run, TrainingSummary, machine_description, read_run, write_run_folder,
)
from hubrl.traces import TraceWriter
from hubrl.video import record_video

if TYPE_CHECKING:
    from hubrl.training import TrainResult


class TrainingInterrupted(HubrlError):
    """Ctrl-C during training: the checkpoint is saved, the run can be resumed."""

    exit_code = 130


def default_output(config: TrainConfig) -> Path:
    return Path("runs") / f"{config.env_id.replace('/', '-')}-{config.preset}-seed{config.seed}"


def staging_dir(output: Path) -> Path:
    """Where an unfinished run lives (its checkpoint) until it is complete: a hidden folder beside the output."""
    return output.with_name(f".{output.name}.partial")


def train_run(
    config: TrainConfig | None = None,
    *,
    env_id: str | None = None,
    preset: str = "default",
    output: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    n_eval_episodes: int | None = None,
    eval_seed: int = DEFAULT_EVAL_SEED,
    progress: bool = True,
    record: bool = True,
    tensorboard: str | Path | None = None,
    **overrides: Any,
) -> Run:
    """Train, evaluate, record and package one agent into a complete run folder.

    This is ``hubrl train``. Either pass a ``config`` (copied: the caller's object is never changed) or ``env_id``
    (+ ``preset`` and overrides). ``tensorboard`` names a folder where the training curves are written live, update
    by update, under the run folder's name (``tensorboard --logdir DIR`` shows them as training goes); the run folder
    gets the same curves as its own traces either way.

    Returns:
        The :class:`~hubrl.records.Run`: its ``path``, ``results`` and ``hyperparameters``.

    Raises:
        OutputExistsError: ``output`` (or an interrupted run of it) exists and neither ``overwrite`` nor ``resume``.
        TrainingInterrupted: Ctrl-C; the message says how to resume.
        ConfigError, UnknownEnvError: a bad configuration.

    Example:
        >>> run = train_run(env_id="CartPole-v1", seed=0, output="runs/cartpole")
        >>> run.results.score
    """
    if config is None:
        if env_id is None:
            raise RunFolderError("train_run needs a config or an env_id")
        config = make_config(env_id, preset, **overrides)
    else:
        config = copy.deepcopy(config)
    if n_eval_episodes is not None:
        config.n_evaluation_episodes = n_eval_episodes
        config.validate()
    env_spaces(config.env_id, config.env_options)  # an env hubrl cannot play is refused before any folder exists
    output = Path(output) if output else default_output(config)
    staging = staging_dir(output)
    checkpoint = staging / "checkpoint"
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} already exists; choose another --output or pass --overwrite to replace it")
    if resume:
        from hubrl.checkpoint import has_checkpoint

        if not has_checkpoint(checkpoint):
            raise RunFolderError(f"nothing to resume: no checkpoint in {staging}")
    elif staging.exists():
        if not overwrite:
            raise OutputExistsError(
                f"an interrupted run of {output} exists in {staging}; pass --resume to continue it or --overwrite to start over"
            )
        shutil.rmtree(staging)
    try:
        from hubrl.training import train  # torch: only training needs it

        staging.mkdir(parents=True, exist_ok=True)
        live = TraceWriter(Path(tensorboard) / output.name) if tensorboard is not None else None
        try:
            result = train(config, checkpoint_dir=checkpoint, resume=resume, progress=progress, callback=live)
        finally:
            if live is not None:
                live.close()
        if result.stopped == "interrupted":
            raise KeyboardInterrupt
        return package_run(result, output, staging=staging, overwrite=overwrite, eval_seed=eval_seed, record=record)
    except KeyboardInterrupt:
        raise _interrupted(config, output, staging) from None


def _interrupted(config: TrainConfig, output: Path, staging: Path) -> TrainingInterrupted:
    """What a Ctrl-C at any moment of :func:`train_run` leaves: a resumable checkpoint, or nothing at all."""
    from hubrl.checkpoint import STATE_JSON

    checkpoint = staging / "checkpoint"
    found = readable_folder(checkpoint, STATE_JSON)
    if found is None:  # interrupted before the first checkpoint: there is nothing to keep
        shutil.rmtree(staging, ignore_errors=True)
        return TrainingInterrupted(f"interrupted before the first checkpoint of {output}: nothing to resume; "
                                   "start again (the same hubrl train command)")
    try:
        episodes = f" after {json.loads((found / STATE_JSON).read_text())['episodes']} episodes"
    except (OSError, ValueError, KeyError):
        episodes = ""
    return TrainingInterrupted(f"interrupted{episodes}; checkpoint saved in {checkpoint}; "
                               f"continue with: hubrl train {config.env_id} --output {output} --resume")


def package_run(
    result: TrainResult,
    output: Path,
    *,
    staging: Path,
    overwrite: bool = False,
    eval_seed: int = DEFAULT_EVAL_SEED,
    record: bool = True,
) -> Run:
    """Evaluate ``result``'s policy and write the complete run folder atomically at ``output``.

    The replay is recorded in a thread while the rest is written: most of a recording is spent waiting for the
    encoder (a separate process), time the evaluation, plot and card use. Both play their own seeded envs, so the
    files are the same as one after the other.
    """
    from concurrent.futures import ThreadPoolExecutor

    from hubrl.policy import save_policy

    config = result.config
    stage = staging / "run"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    policy = result.policy.to_policy() if hasattr(result.policy, "to_policy") else result.policy  # numpy snapshot
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubrl-record") as pool:
        video = pool.submit(record_video, policy, stage / VIDEO, seed=eval_seed) if record else None
        evaluation = evaluate_agent(policy, n_eval_episodes=config.n_evaluation_episodes, max_steps=config.max_t,
                                    seed=eval_seed)
        training = TrainingSummary(episodes=result.episodes, env_steps=result.env_steps, updates=result.updates,
                                   wall_s=result.wall_s, stopped=result.stopped,
                                   best_val_score=result.best_val_score, machine=machine_description())
        results = Results.from_evaluation(evaluation, weights_sha256=save_policy(policy, stage), training=training,
                                          requires=required_extra(config.env_id, config.env_options))
        write_run_folder(stage, policy=None, results=results,
                         hyperparameters=Hyperparameters.from_config(config, obs_dim=policy.config.obs_dim,
                                                                     n_actions=policy.config.n_actions),
                         history=result.history, curve_title=f"REINFORCE on {config.env_id} (seed {config.seed})")
        if video is not None:
            video.result()  # a VideoError surfaces here, before anything is moved into place
    replace_folder(stage, output, overwrite=overwrite)
    shutil.rmtree(staging, ignore_errors=True)
    return read_run(output)
