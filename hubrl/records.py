"""The run folder's records: what each file of a run holds, typed, and the one writer and reader of a run folder.

A run folder (what ``hubrl train`` and ``hubrl convert`` write, what ``hubrl push`` uploads):

==========================  =======================================================================================
``model.safetensors``       the weights (:mod:`hubrl.policy` owns their bytes; no pickle, ever)
``config.json``             the policy's :class:`~hubrl.policy.PolicyConfig`, format :data:`~hubrl.policy.CONFIG_FORMAT`
``hyperparameters.json``    :class:`Hyperparameters`: the course's keys first, then every hubrl option
``results.json``            :class:`Results`: the seeded evaluation, the weights' format and sha256, versions, training
``history.json``            the training curve's rows (one per update), trained runs only
``training_curve.png``      the return curve drawn, trained runs only
``tensorboard/*tfevents*``  every training curve as TensorBoard traces (:mod:`hubrl.traces`), trained runs only
``replay.mp4``              one seeded evaluation episode
``README.md``               the model card (:mod:`hubrl.card`) rendered from the two JSON records
``.eval_results/ENV.yaml``  the card's score in the Hub's evaluation-results format (:mod:`hubrl.eval_results`)
==========================  =======================================================================================

:func:`write_run_folder` is the only writer: training (:mod:`hubrl.run`), conversion and the course drop-ins
(:mod:`hubrl.course`) all hand it records, and it writes every file through :func:`hubrl.folders.write_atomic` into a
staging folder that :func:`hubrl.folders.replace_folder` moves into place whole. :func:`read_run` is the reader.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubrl.errors import AgentFormatError, RunFolderError
from hubrl.eval_results import eval_results_path
from hubrl.folders import write_atomic
from hubrl.policy import CONFIG_FORMAT, LEGACY_FORMATS, Policy, load_policy
from hubrl.traces import TRACES, write_traces

if TYPE_CHECKING:
    from hubrl.evaluate import Evaluation
    from hubrl.policy import Actor
    from hubrl.presets import TrainConfig

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
HYPERPARAMETERS = "hyperparameters.json"
RESULTS = "results.json"
HISTORY = "history.json"
VIDEO = "replay.mp4"
CURVE = "training_curve.png"
CARD = "README.md"
RUN_FILES = (WEIGHTS, CONFIG, HYPERPARAMETERS, RESULTS, HISTORY, VIDEO, CURVE, TRACES, CARD)
"""Every file of a run folder ``hubrl train`` writes (what a push uploads), besides its env's
:func:`~hubrl.eval_results.eval_results_path`."""
TRAINING_FILES = (HISTORY, CURVE, TRACES)
"""What only trained runs have: agents hubrl did not train (course conversions) have no training curves."""
REQUIRED_RUN_FILES = tuple(name for name in RUN_FILES if name not in TRAINING_FILES)
"""What a complete run folder must hold."""
COURSE_KEYS = ("env_id", "h_size", "n_training_episodes", "n_evaluation_episodes", "max_t", "gamma", "lr",
               "state_space", "action_space")
"""The course notebook's hyperparameters.json keys, in the notebook's order."""
VERIFICATION_KEY = "hubrl_verification"
"""Where earlier hubrl versions wrote a ``--verify`` measurement into results.json; read as self-reported only."""


@dataclass
class TrainingSummary:
    """How training went (results.json ``training``)."""

    episodes: int
    env_steps: int
    updates: int
    wall_s: float
    stopped: str
    """Why it stopped: ``target``, ``episodes``, ``env_steps``, ``time``, ``interrupted``..."""
    best_val_score: float | None = None
    machine: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"episodes": self.episodes, "env_steps": self.env_steps, "updates": self.updates,
                "wall_s": round(self.wall_s, 3), "stopped": self.stopped, "best_val_score": self.best_val_score,
                "machine": self.machine}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingSummary:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class Results:
    """``results.json``: the course's keys (env_id, mean_reward, n_evaluation_episodes, eval_datetime) and everything
    that reproduces the numbers (seeds, per-episode returns, the cap, the weights' sha256, package versions)."""

    env_id: str
    mean_reward: float
    std_reward: float
    n_evaluation_episodes: int
    seeds: list[int]
    episode_returns: list[float]
    episode_lengths: list[int]
    max_steps: int
    deterministic: bool
    weights_sha256: str
    weights_format: str = CONFIG_FORMAT
    """:data:`~hubrl.policy.CONFIG_FORMAT` (loads with no code) or :data:`~hubrl.policy.STATE_DICT_FORMAT`."""
    eval_datetime: str = field(default_factory=lambda: utc_now())
    package_versions: dict[str, str] = field(default_factory=lambda: package_versions())
    training: TrainingSummary | None = None
    weights: dict[str, Any] = field(default_factory=dict)
    """Where the weights came from when hubrl did not train them (a student's module, a course model.pt): class
    name, the rebuild check, why a module could not be rebuilt."""
    converted_from: dict[str, Any] | None = None
    """For conversions: the source and what it claimed."""
    requires: str | None = None
    """What to install to play the agent beyond hubrl, e.g. ``hubrl[box2d]`` (None: hubrl alone)."""

    @property
    def score(self) -> float:
        """The leaderboard's ranking value: mean - std."""
        return self.mean_reward - self.std_reward

    @classmethod
    def from_evaluation(cls, evaluation: Evaluation, *, weights_sha256: str, weights_format: str = CONFIG_FORMAT,
                        training: TrainingSummary | None = None, weights: Mapping[str, Any] | None = None,
                        converted_from: Mapping[str, Any] | None = None, requires: str | None = None) -> Results:
        """The record of one seeded evaluation of the weights whose sha256 is ``weights_sha256``."""
        return cls(env_id=evaluation.env_id, mean_reward=evaluation.mean_reward, std_reward=evaluation.std_reward,
                   n_evaluation_episodes=evaluation.n_eval_episodes, seeds=list(evaluation.seeds),
                   episode_returns=list(evaluation.episode_returns), episode_lengths=list(evaluation.episode_lengths),
                   max_steps=evaluation.max_steps, deterministic=evaluation.deterministic,
                   weights_sha256=weights_sha256, weights_format=weights_format, training=training,
                   weights=dict(weights or {}), converted_from=dict(converted_from) if converted_from else None,
                   requires=requires)

    def to_json(self) -> dict[str, Any]:
        """The course's keys first (course tooling reads them), then the rest."""
        data: dict[str, Any] = {
            "env_id": self.env_id, "mean_reward": self.mean_reward,
            "n_evaluation_episodes": self.n_evaluation_episodes, "eval_datetime": self.eval_datetime,
            "std_reward": self.std_reward, "score": self.score, "seeds": self.seeds,
            "episode_returns": self.episode_returns, "episode_lengths": self.episode_lengths,
            "max_steps": self.max_steps, "deterministic": self.deterministic, "weights_sha256": self.weights_sha256,
            "package_versions": self.package_versions,
        }
        if self.training is not None:
            data["training"] = self.training.to_json()
        data["weights"] = {"format": self.weights_format, **self.weights}
        if self.converted_from:
            data["converted_from"] = self.converted_from
        if self.requires:
            data["requires"] = self.requires
        return data

    @classmethod
    def from_json(cls, data: Any, *, source: str = RESULTS) -> Results:
        """A record hubrl wrote, strictly (a missing or mistyped key is a :class:`RunFolderError` naming it).

        Raises:
            RunFolderError: not a results.json hubrl wrote.
        """
        if not isinstance(data, Mapping):
            raise RunFolderError(f"{source} should hold a JSON object")
        try:
            weights = dict(data.get("weights") or {})
            fmt = str(weights.pop("format", CONFIG_FORMAT))
            training = data.get("training")
            return cls(
                env_id=str(data["env_id"]), mean_reward=_number(data["mean_reward"]),
                std_reward=_number(data["std_reward"]), n_evaluation_episodes=int(data["n_evaluation_episodes"]),
                seeds=[int(s) for s in data["seeds"]], episode_returns=[_number(r) for r in data["episode_returns"]],
                episode_lengths=[int(n) for n in data["episode_lengths"]], max_steps=int(data["max_steps"]),
                deterministic=bool(data["deterministic"]), weights_sha256=str(data["weights_sha256"]),
                weights_format=LEGACY_FORMATS.get(fmt, fmt), eval_datetime=str(data.get("eval_datetime", "")),
                package_versions=dict(data.get("package_versions") or {}),
                training=TrainingSummary.from_json(training) if isinstance(training, Mapping) else None,
                weights=weights, converted_from=data.get("converted_from"),
                requires=str(data["requires"]) if data.get("requires") else None,
            )
        except KeyError as err:
            raise RunFolderError(f"{source} lacks {err.args[0]!r}; it was not written by hubrl (re-run hubrl train "
                                 "or hubrl convert)") from None
        except (TypeError, ValueError) as err:
            raise RunFolderError(f"{source} holds a value of the wrong type ({err}); restore the file") from None


@dataclass
class Hyperparameters:
    """``hyperparameters.json``: the course notebook's keys first (course tooling reads them), then every option.

    Agents hubrl trained hold their whole :class:`~hubrl.presets.TrainConfig`; agents a student trained hold the
    notebook's dict.
    """

    values: dict[str, Any]

    @classmethod
    def from_config(cls, config: TrainConfig, *, obs_dim: int, n_actions: int) -> Hyperparameters:
        course = {
            "env_id": config.env_id, "h_size": config.h_size, "n_training_episodes": config.n_training_episodes,
            "n_evaluation_episodes": config.n_evaluation_episodes, "max_t": config.max_t, "gamma": config.gamma,
            "lr": config.lr, "state_space": obs_dim, "action_space": n_actions,
        }
        return cls({**course, **{k: v for k, v in config.to_json().items() if k not in course}})

    @classmethod
    def from_json(cls, data: Any, *, source: str = HYPERPARAMETERS) -> Hyperparameters:
        if not isinstance(data, Mapping):
            raise RunFolderError(f"{source} should hold a JSON object")
        ordered = {k: data[k] for k in COURSE_KEYS if k in data}
        return cls({**ordered, **{k: v for k, v in data.items() if k not in ordered}})

    @property
    def env_id(self) -> str | None:
        value = self.values.get("env_id")
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass
class Run:
    """A complete run folder and its records (what :func:`hubrl.train_run` returns and :func:`read_run` reads).

    ``os.fspath(run)`` is its folder, so it goes wherever a path does (``push_to_hub(run, repo_id)``).
    """

    path: Path
    results: Results
    hyperparameters: Hyperparameters

    @property
    def env_id(self) -> str:
        return self.results.env_id

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def summary(self) -> str:
        """Two lines: how training went (when hubrl trained it) and the evaluation."""
        r, t = self.results, self.results.training
        lines = []
        if t is not None:
            lines.append(f"trained {r.env_id}: {t.episodes} episodes, {t.env_steps:,} env steps in {t.wall_s:.1f} s "
                         f"({t.stopped})")
        lines.append(f"evaluation: {r.mean_reward:.2f} +/- {r.std_reward:.2f} (score {r.score:.2f}) over "
                     f"{r.n_evaluation_episodes} seeded episodes")
        return "\n".join(lines)


# -- writing -----------------------------------------------------------------------------------------------------------

def write_run_folder(
    stage: Path,
    *,
    policy: Actor | None,
    hyperparameters: Hyperparameters,
    results: Results,
    history: list[dict[str, Any]] | None = None,
    curve_title: str | None = None,
) -> Path:
    """Write a run folder's records into ``stage`` (a staging folder the caller moves into place whole).

    The weights are written first (``policy``; None when the caller wrote them already, e.g. a student's
    state_dict) and must hash to ``results.weights_sha256``. The replay is the caller's (it is filmed beside the
    evaluation); the card and its ``.eval_results`` file are rendered from the two JSON records; a ``history``
    becomes history.json, the return curve's PNG and the TensorBoard traces. Every file but the traces (a writer of
    its own, :func:`hubrl.traces.write_traces`, renamed into place) goes through :func:`hubrl.folders.write_atomic`.

    Raises:
        RunFolderError: the weights on disk are not the ones the results were measured on.
    """
    from hubrl.policy import save_policy, sha256_file

    stage = Path(stage)
    sha = save_policy(policy, stage) if policy is not None else sha256_file(stage / WEIGHTS)
    if sha != results.weights_sha256:
        raise RunFolderError(f"the weights in {stage} (sha256 {sha[:12]}) are not the ones evaluated "
                             f"({results.weights_sha256[:12]})")
    write_json(stage / HYPERPARAMETERS, hyperparameters.to_json())
    write_json(stage / RESULTS, results.to_json())
    if history is not None:
        rows = [{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
                for row in history]  # standard JSON: no NaN (steps without an update, no clipping, ...)
        write_atomic(stage / HISTORY, json.dumps(rows, allow_nan=False) + "\n")
        plot_training_curve(history, stage / CURVE, title=curve_title or f"REINFORCE on {results.env_id}")
        write_traces(history, stage)
    write_card(stage)
    write_eval_results(stage)
    return stage


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def write_card(directory: Path, *, repo_id: str | None = None) -> str:
    """(Re)render ``README.md`` from the folder's JSON records; returns the text."""
    text = render_card(directory, repo_id=repo_id)
    write_atomic(Path(directory) / CARD, text)
    return text


def write_eval_results(directory: Path) -> Path:
    """(Re)write the folder's ``.eval_results/<env>.yaml`` from results.json (:func:`hubrl.card.render_eval_results`)."""
    from hubrl.card import render_eval_results

    results = read_json(Path(directory) / RESULTS)
    path = Path(directory) / eval_results_path(results["env_id"])
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, render_eval_results(results))
    return path


def render_card(directory: Path, *, repo_id: str | None = None) -> str:
    """The card hubrl renders for the folder's JSON records (for ``repo_id``, when given)."""
    from hubrl.card import build_card  # huggingface_hub's card classes: only packaging needs them

    directory = Path(directory)
    config = read_json(directory / CONFIG) if (directory / CONFIG).is_file() else None
    return str(build_card(hyperparameters=read_json(directory / HYPERPARAMETERS),
                          results=read_json(directory / RESULTS), repo_id=repo_id, config=config))


def plot_training_curve(history: list[dict[str, Any]], path: Path, *, title: str) -> None:
    """Mean training return per update against env steps, with validation scores, as a small PNG.

    Drawn with matplotlib's object API (``Figure``, no pyplot): no GUI backend and no global state, so it is safe
    beside a recording thread.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.subplots()
    steps = [row["env_steps"] for row in history]
    ax.plot(steps, [row["mean_return"] for row in history], lw=1.2, label="mean training return per update")
    val = [(row["env_steps"], row["val_score"]) for row in history if row.get("val_score") is not None]
    if val:
        ax.plot(*zip(*val), "o", ms=3, label="validation score (mean - std)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# -- reading -----------------------------------------------------------------------------------------------------------

def read_json(path: Path) -> dict[str, Any]:
    """A run folder's JSON file as an object, or one line saying what to do."""
    from hubrl.untrusted import UntrustedFileError, read_json_file

    try:
        data = read_json_file(path)
    except FileNotFoundError:
        raise RunFolderError(f"{path} is missing; the run folder is incomplete (re-run hubrl train)") from None
    except UntrustedFileError as err:
        raise RunFolderError(f"{err}; re-run hubrl train or restore the file") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} should hold a JSON object")
    return data


RECORD_FILES = (WEIGHTS, CONFIG, HYPERPARAMETERS, RESULTS)
"""What :func:`read_run` needs: the weights and the records (a sweep's trials have no replay)."""


def validate_run_folder(directory: str | Path, *, complete: bool = True, needed: tuple[str, ...] | None = None
                        ) -> Path:
    """Check a run folder: its files exist and the JSON ones parse.

    ``complete`` asks for every file a push needs (:data:`REQUIRED_RUN_FILES`); ``complete=False`` only for what
    loading the agent needs; ``needed`` for those files.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise RunFolderError(f"{directory} is not a run folder (no such directory)")
    needed = needed or (REQUIRED_RUN_FILES if complete else (WEIGHTS, CONFIG))
    missing = [name for name in needed if not (directory / name).is_file()]
    if missing:
        raise RunFolderError(f"{directory} lacks {', '.join(missing)}; it is not a complete run folder "
                             "(re-run hubrl train)")
    for name in (CONFIG, HYPERPARAMETERS, RESULTS):
        if name in needed:
            read_json(directory / name)
    return directory


def read_run(directory: str | Path) -> Run:
    """A run folder's records (the weights, config.json, hyperparameters.json and results.json must be there).

    Raises:
        RunFolderError: a file is missing or is not what hubrl writes.

    Example:
        >>> run = read_run("model_cards/reference/CartPole-v1")
        >>> run.results.score
        500.0
    """
    directory = validate_run_folder(directory, needed=RECORD_FILES)
    return Run(path=directory,
               results=Results.from_json(read_json(directory / RESULTS), source=str(directory / RESULTS)),
               hyperparameters=Hyperparameters.from_json(read_json(directory / HYPERPARAMETERS)))


@dataclass
class Agent:
    """A loaded agent: the policy plus what its folder or repo says about it (someone else's words: plain dicts)."""

    policy: Policy
    env_id: str
    source: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    format: str = "hubrl"
    """``hubrl`` (safetensors) or ``course`` (a course notebook's model.pt, read without unpickling code)."""
    path: Path | None = None


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


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def package_versions() -> dict[str, str]:
    """Versions of what produced the numbers (Python and the packages evaluation depends on)."""
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


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r:.40}")
    return float(value)
