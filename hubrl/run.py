"""The run folder: what ``hubrl train`` writes, ready to push, and how it is read back.

A run folder holds ``model.safetensors`` + ``config.json`` (the policy), ``hyperparameters.json`` (the course keys
first, then every option), ``results.json`` (the seeded evaluation, package versions, weights sha256),
``replay.mp4``, ``training_curve.png`` and ``README.md`` (the model card). It is built in a hidden staging folder
beside the target and renamed into place only when complete, so an output folder is either whole or absent; an
existing one is replaced only with ``overwrite=True``. No pickle is ever written.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubrl.errors import AgentFormatError, HubrlError, OutputExistsError, RunFolderError
from hubrl.evaluate import DEFAULT_EVAL_SEED, Evaluation, evaluate_agent
from hubrl.folders import readable_folder, replace_folder
from hubrl.policy import Policy, load_policy, save_policy
from hubrl.presets import TrainConfig, make_config
from hubrl.video import record_video

if TYPE_CHECKING:
    from hubrl.training import TrainResult

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
HYPERPARAMETERS = "hyperparameters.json"
RESULTS = "results.json"
VIDEO = "replay.mp4"
CURVE = "training_curve.png"
CARD = "README.md"
RUN_FILES = (WEIGHTS, CONFIG, HYPERPARAMETERS, RESULTS, VIDEO, CURVE, CARD)
"""Every file of a run folder ``hubrl train`` writes (what a push uploads)."""
REQUIRED_RUN_FILES = tuple(name for name in RUN_FILES if name != CURVE)
"""What a complete run folder must hold: agents hubrl did not train (course conversions) have no training curve."""


class TrainingInterrupted(HubrlError):
    """Ctrl-C during training: the checkpoint is saved, the run can be resumed."""

    exit_code = 130


@dataclass
class Agent:
    """A loaded agent: the policy plus what its folder or repo says about it."""

    policy: Policy
    env_id: str
    source: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    format: str = "hubrl"
    """``hubrl`` (safetensors) or ``course`` (a course notebook's model.pt, read without unpickling code)."""
    path: Path | None = None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("hubrl", "torch", "gymnasium", "numpy", "huggingface_hub", "safetensors", "ale-py"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine_description() -> str:
    return f"{os.cpu_count()} CPU cores ({platform.machine()}, {platform.system()})"


def hyperparameters_json(config: TrainConfig, obs_dim: int, n_actions: int) -> dict[str, Any]:
    """The course's keys first (so course tooling reads them), then every hubrl option."""
    course = {
        "env_id": config.env_id,
        "h_size": config.h_size,
        "n_training_episodes": config.n_training_episodes,
        "n_evaluation_episodes": config.n_evaluation_episodes,
        "max_t": config.max_t,
        "gamma": config.gamma,
        "lr": config.lr,
        "state_space": obs_dim,
        "action_space": n_actions,
    }
    return {**course, **{k: v for k, v in config.to_json().items() if k not in course}}


def results_json(evaluation: Evaluation, *, weights_sha256: str, training: dict[str, Any] | None = None) -> dict:
    """The course's keys (env_id, mean_reward, n_evaluation_episodes, eval_datetime) plus everything to reproduce."""
    return {
        "env_id": evaluation.env_id,
        "mean_reward": evaluation.mean_reward,
        "n_evaluation_episodes": evaluation.n_eval_episodes,
        "eval_datetime": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "std_reward": evaluation.std_reward,
        "score": evaluation.score,
        "seeds": evaluation.seeds,
        "episode_returns": evaluation.episode_returns,
        "episode_lengths": evaluation.episode_lengths,
        "max_steps": evaluation.max_steps,
        "deterministic": evaluation.deterministic,
        "weights_sha256": weights_sha256,
        "package_versions": package_versions(),
        **({"training": training} if training else {}),
    }


def plot_training_curve(history: list[dict[str, Any]], path: Path, *, title: str) -> None:
    """Mean training return per update against env steps, with validation scores, as a small PNG.

    Drawn with matplotlib's object API (``Figure``, no pyplot): no GUI backend and no global state, so it is safe
    beside the recording thread of :func:`package_run`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.subplots()
    steps = [row["env_steps"] for row in history]
    ax.plot(steps, [row["mean_return"] for row in history], lw=1.2, label="mean training return per update")
    val = [(row["env_steps"], row["val_score"]) for row in history if "val_score" in row]
    if val:
        ax.plot(*zip(*val), "o", ms=3, label="validation score (mean - std)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def write_card(directory: Path, *, repo_id: str | None = None) -> str:
    """(Re)render ``README.md`` from the folder's JSON files; returns the text."""
    from hubrl.card import build_card  # huggingface_hub's card classes: only packaging needs them

    hyperparameters, results = read_json(directory / HYPERPARAMETERS), read_json(directory / RESULTS)
    text = str(build_card(hyperparameters=hyperparameters, results=results, repo_id=repo_id))
    _write_text_atomic(directory / CARD, text)
    return text


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{path} is missing; the run folder is incomplete (re-run hubrl train)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFolderError(f"{path} is corrupt ({err}); re-run hubrl train or restore the file") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} should hold a JSON object")
    return data


def validate_run_folder(directory: str | Path, *, complete: bool = True) -> Path:
    """Check a run folder: its files exist and parse. ``complete=False`` asks only for what loading needs."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RunFolderError(f"{directory} is not a run folder (no such directory)")
    needed = REQUIRED_RUN_FILES if complete else (WEIGHTS, CONFIG)
    missing = [name for name in needed if not (directory / name).is_file()]
    if missing:
        raise RunFolderError(f"{directory} lacks {', '.join(missing)}; it is not a complete run folder (re-run hubrl train)")
    for name in (CONFIG, HYPERPARAMETERS, RESULTS) if complete else (CONFIG,):
        read_json(directory / name)
    return directory


def load_run(directory: str | Path) -> Agent:
    """Load the agent in a run folder (strictly: corrupt or mismatched weights are an error).

    Example:
        >>> agent = load_run("runs/CartPole-v1")
        >>> agent.policy, agent.env_id
    """
    directory = validate_run_folder(directory, complete=False)
    try:
        policy = load_policy(directory)
    except AgentFormatError as err:
        raise RunFolderError(str(err)) from None
    hyper = read_json(directory / HYPERPARAMETERS) if (directory / HYPERPARAMETERS).exists() else {}
    results = read_json(directory / RESULTS) if (directory / RESULTS).exists() else {}
    return Agent(policy=policy, env_id=policy.config.env_id, source=str(directory), hyperparameters=hyper,
                 results=results, path=directory)


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
    **overrides: Any,
) -> Path:
    """Train, evaluate, record and package one agent into a complete run folder; return its path.

    This is ``hubrl train``. Either pass a ``config`` or ``env_id`` (+ ``preset`` and overrides).

    Example:
        >>> path = train_run(env_id="CartPole-v1", seed=0, output="runs/cartpole")
    """
    if config is None:
        if env_id is None:
            raise RunFolderError("train_run needs a config or an env_id")
        config = make_config(env_id, preset, **overrides)
    if n_eval_episodes is not None:
        config.n_evaluation_episodes = n_eval_episodes
        config.validate()
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
        result = train(config, checkpoint_dir=checkpoint, resume=resume, progress=progress)
        if result.stopped == "interrupted":
            raise KeyboardInterrupt
        if n_eval_episodes is not None:
            result.config.n_evaluation_episodes = n_eval_episodes
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
) -> Path:
    """Evaluate ``result``'s policy and write the complete run folder atomically at ``output``.

    The replay is recorded in a thread while the rest is written: most of a recording is spent waiting for the
    encoder (a separate process), time the evaluation, plot and card use. Both play their own seeded envs, so the
    files are the same as one after the other.
    """
    from concurrent.futures import ThreadPoolExecutor

    config = result.config
    stage = staging / "run"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    policy = result.policy.to_policy() if hasattr(result.policy, "to_policy") else result.policy  # numpy snapshot
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubrl-record") as pool:
        video = pool.submit(record_video, policy, stage / VIDEO, seed=eval_seed) if record else None
        evaluation = evaluate_agent(policy, n_eval_episodes=config.n_evaluation_episodes, max_steps=config.max_t,
                                    seed=eval_seed)
        sha = save_policy(policy, stage)
        hyper = hyperparameters_json(config, policy.config.obs_dim, policy.config.n_actions)
        (stage / HYPERPARAMETERS).write_text(json.dumps(hyper, indent=2) + "\n")
        training = {"episodes": result.episodes, "env_steps": result.env_steps, "updates": result.updates,
                    "wall_s": round(result.wall_s, 3), "stopped": result.stopped,
                    "best_val_score": result.best_val_score, "machine": machine_description()}
        results = results_json(evaluation, weights_sha256=sha, training=training)
        (stage / RESULTS).write_text(json.dumps(results, indent=2) + "\n")
        history = [{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
                   for row in result.history]  # standard JSON: no NaN (steps without an update, no clipping, ...)
        (stage / "history.json").write_text(json.dumps(history, allow_nan=False) + "\n")
        plot_training_curve(result.history, stage / CURVE, title=f"REINFORCE on {config.env_id} (seed {config.seed})")
        write_card(stage)
        if video is not None:
            video.result()  # a VideoError surfaces here, before anything is moved into place
    replace_folder(stage, output, overwrite=overwrite)
    shutil.rmtree(staging, ignore_errors=True)
    return output
