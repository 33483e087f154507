"""The training loop around :mod:`hubrl.reinforce`: the run's state, its budget, validation, checkpoints, progress.

:func:`train` repeats: play a batch (:mod:`hubrl.collect`), validate the policy that played it when due, update
(:func:`hubrl.reinforce.update`), record the update; until the budget (episodes, env steps or training time) is
spent, validation reaches the target, a callback asks to stop or Ctrl-C. :class:`Trainer` owns everything a run must
carry over: the networks and optimizers, the counters, the training clock, the history, the best weights so far;
it is what a checkpoint (:mod:`hubrl.checkpoint`) saves and resumes.

Everything random comes from the run seed (network init; env seeds and action-sampling generators derived from the
run seed and the update number), so the same seed gives the same weights on the same machine, and a resumed run
continues exactly as if never stopped.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import hubrl.reinforce as reinforce
from hubrl.checkpoint import read_checkpoint, save_checkpoint
from hubrl.collect import Batch, Rollouts
from hubrl.defaults import TRAIN_SEED_OFFSET, VALIDATION_SEED
from hubrl.envs import env_spaces
from hubrl.envs.spaces import EnvSpaces
from hubrl.errors import RunFolderError, TrainingDivergedError
from hubrl.network import PolicyNetwork
from hubrl.policy import PolicyConfig
from hubrl.presets import TrainConfig

NO_UPDATE = dict.fromkeys(("loss", "value_loss", "entropy", "lr", "ent_coef", "grad_norm"), float("nan"))
"""The statistics of an update that was not made (validation reached the target first)."""


@dataclass
class TrainResult:
    """What :func:`train` returns: the final policy network and the run's history."""

    policy: PolicyNetwork
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list)
    episodes: int = 0
    env_steps: int = 0
    updates: int = 0
    wall_s: float = 0.0
    stopped: str = "budget"
    """Why training ended: ``budget``, ``target`` (validation reached target_score), ``callback`` or ``interrupted``."""
    best_val_score: float | None = None


class TrainingClock:
    """The one measure of training time: wall time since the clock started, plus earlier sessions', minus pauses."""

    def __init__(self, earlier_s: float = 0.0):
        self._earlier_s = earlier_s
        self._started = time.perf_counter()

    def elapsed(self) -> float:
        return self._earlier_s + time.perf_counter() - self._started

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside is not training time (e.g. a callback's external evaluation)."""
        paused_at = time.perf_counter()
        try:
            yield
        finally:
            self._started += time.perf_counter() - paused_at


class Trainer:
    """The state of one run, which only its own methods change, so it can be checkpointed and resumed exactly."""

    def __init__(self, config: TrainConfig, spaces: EnvSpaces):
        self.config = config
        torch.manual_seed(config.seed)
        self.learner = reinforce.Learner.create(config, policy_config_for(config, spaces))
        self.episodes = 0
        self.env_steps = 0
        self.updates = 0
        self.history: list[dict[str, Any]] = []
        self.best_val_score: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.reached_target = False
        self._wall_s = 0.0
        self.clock: TrainingClock | None = None

    @property
    def policy(self) -> PolicyNetwork:
        return self.learner.policy

    # -- time and budget ------------------------------------------------------------------------------------------
    @property
    def wall_s(self) -> float:
        """Training time so far (this session's and earlier ones')."""
        return self.clock.elapsed() if self.clock is not None else self._wall_s

    def start_clock(self) -> TrainingClock:
        self.clock = TrainingClock(self._wall_s)
        return self.clock

    def stop_clock(self) -> None:
        self._wall_s, self.clock = self.wall_s, None

    def progress(self) -> float:
        """Fraction of the deterministic budget used (episodes or env steps), for schedules."""
        c = self.config
        frac = self.episodes / c.n_training_episodes
        if c.max_env_steps:
            frac = max(frac, self.env_steps / c.max_env_steps)
        return min(frac, 1.0)

    def scheduled(self, start: float, end: float | None) -> float:
        """A linear schedule from ``start`` to ``end`` over the budget (constant when ``end`` is None)."""
        return start if end is None else start + (end - start) * self.progress()

    def budget_left(self) -> bool:
        c = self.config
        if self.episodes >= c.n_training_episodes:
            return False
        if c.max_env_steps and self.env_steps >= c.max_env_steps:
            return False
        if c.time_budget_s and self.wall_s >= c.time_budget_s:
            return False
        return not self.reached_target

    # -- one turn of the loop -------------------------------------------------------------------------------------
    def collect(self, rollouts: Rollouts) -> Batch:
        """This update's batch: env seeds and sampling generators derived from the run seed and the update number."""
        c = self.config
        env_seed = TRAIN_SEED_OFFSET + c.seed * 10_000_019 + self.updates * c.batch_episodes
        return rollouts.collect(self.policy.sampler(), run_seed=c.seed, update=self.updates, env_seed=env_seed,
                                max_t=c.train_max_t or c.max_t, tail=c.cut_tail if c.train_max_t else 0,
                                autoreset=c.train_autoreset)

    def validate_if_due(self, batch: Batch, rollouts: Rollouts | None) -> float | None:
        """Validate the policy that played ``batch`` every ``val_every`` updates (once it reaches ``val_threshold``).

        A batch that reached the threshold is evidence for this policy, not for the one the update makes of it.
        """
        c = self.config
        if not c.val_every or (self.updates + 1) % c.val_every:
            return None
        if c.val_threshold is not None and float(batch.episode_returns.mean()) < c.val_threshold:
            return None
        return self.validate(rollouts, batch if c.val_on_batch else None)

    def validate(self, rollouts: Rollouts | None, batch: Batch | None = None) -> float:
        """Score (mean - std) of the current policy; keep its weights if best; note when it reaches the target.

        By default the score comes from ``n_val_episodes`` batched episodes from the same validation seeds every
        time (seeded from VALIDATION_SEED, far from the final evaluation's seeds). With ``val_on_batch`` it comes
        from ``batch``, the training episodes this very policy just played (seeded too, fresh seeds every update):
        no extra env steps, a fresh sample each time.
        """
        c = self.config
        if batch is None:
            batch = rollouts.collect(self.policy.sampler(), run_seed=VALIDATION_SEED, update=0,
                                     env_seed=VALIDATION_SEED, max_t=c.max_t)
        score = float(batch.episode_returns.mean() - batch.episode_returns.std())
        if self.best_val_score is None or score > self.best_val_score:
            self.best_val_score = score
            if c.select_best:
                self.best_state = copy.deepcopy(self.policy.state_dict())
        if c.target_score is not None and score >= c.target_score:
            self.reached_target = True
        return score

    def update(self, batch: Batch) -> dict[str, float]:
        """One REINFORCE update at this point of the learning-rate and entropy schedules."""
        c = self.config
        return reinforce.update(self.learner, batch, c, lr=self.scheduled(c.lr, c.lr_final),
                                ent_coef=self.scheduled(c.ent_coef, c.ent_coef_final))

    def record(self, batch: Batch, stats: dict[str, float], val_score: float | None) -> dict[str, Any]:
        """Count the batch and the update; append and return its history row."""
        self.updates += 1
        self.episodes += len(batch.episode_returns)
        self.env_steps += batch.env_steps
        row = {"update": self.updates, "episodes": self.episodes, "env_steps": self.env_steps,
               "wall_s": round(self.wall_s, 4), "mean_return": float(batch.episode_returns.mean()),
               "mean_length": float(batch.episode_lengths.mean()), **stats}
        if val_score is not None:
            row["val_score"] = val_score
        self.history.append(row)
        return row

    def result(self, stopped: str) -> TrainResult:
        """The run's outcome; with ``select_best`` the best validated weights (unless interrupted)."""
        policy = self.policy
        if self.config.select_best and self.best_state is not None and stopped != "interrupted":
            policy = copy.deepcopy(policy)
            policy.load_state_dict(self.best_state)
        policy.eval()
        return TrainResult(policy=policy, config=self.config, history=self.history, episodes=self.episodes,
                           env_steps=self.env_steps, updates=self.updates, wall_s=self.wall_s, stopped=stopped,
                           best_val_score=self.best_val_score)

    # -- checkpoints (hubrl.checkpoint) ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        learner = self.learner
        meta = {"config": self.config.to_json(), "episodes": self.episodes, "env_steps": self.env_steps,
                "updates": self.updates, "wall_s": self.wall_s, "history": self.history,
                "best_val_score": self.best_val_score, "reached_target": self.reached_target}
        save_checkpoint(directory, modules={"policy": learner.policy, "value": learner.value},
                        optimizers={"optim": learner.optimizer, "value_optim": learner.value_optimizer},
                        best=self.best_state, meta=meta)

    @classmethod
    def resume(cls, directory: Path, spaces: EnvSpaces) -> Trainer:
        checkpoint = read_checkpoint(directory)
        meta = checkpoint.meta
        trainer = cls(TrainConfig.from_json(meta["config"]), spaces)
        learner = trainer.learner
        trainer.best_state = checkpoint.restore(
            modules={"policy": learner.policy, "value": learner.value},
            optimizers={"optim": learner.optimizer, "value_optim": learner.value_optimizer},
        )
        trainer.episodes, trainer.env_steps, trainer.updates = meta["episodes"], meta["env_steps"], meta["updates"]
        trainer.history, trainer.best_val_score = meta["history"], meta["best_val_score"]
        trainer.reached_target, trainer._wall_s = meta["reached_target"], meta["wall_s"]
        return trainer


def train(
    config: TrainConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[dict[str, Any], PolicyNetwork], bool | None] | None = None,
) -> TrainResult:
    """Train a REINFORCE agent.

    Args:
        config: hyperparameters (see :func:`hubrl.presets.make_config`).
        checkpoint_dir: where to save checkpoints (periodically, on Ctrl-C and on divergence).
        resume: continue from ``checkpoint_dir`` instead of starting afresh.
        progress: show a live progress bar.
        callback: called after every update with its history row and the current policy; return True to stop.
            Time spent in the callback (e.g. an external evaluation) does not count as training time.

    Ctrl-C during the training loop stops training after saving a checkpoint and returns with
    ``stopped="interrupted"``.

    Raises:
        ConfigError: ``config`` holds a nonsensical value.
        RunFolderError: ``resume`` without a readable checkpoint.
        TrainingDivergedError: the loss became NaN or infinite (the last good state is checkpointed).

    Example:
        >>> from hubrl import make_config, train
        >>> result = train(make_config("CartPole-v1", seed=0))
        >>> result.policy  # the trained PolicyNetwork
    """
    config.validate()
    spaces = env_spaces(config.env_id, config.env_options)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
    if resume:
        if checkpoint_dir is None:
            raise RunFolderError("resume needs a checkpoint directory")
        trainer = Trainer.resume(checkpoint_dir, spaces)
    else:
        trainer = Trainer(config, spaces)
    config = trainer.config
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    rollouts = val_rollouts = bar = None
    stopped = "budget"
    try:
        rollouts = Rollouts(config.env_id, config.batch_episodes, workers=config.rollout_workers,
                            env_options=config.env_options, backend=config.env_backend)
        if config.val_every and not config.val_on_batch:
            val_rollouts = Rollouts(config.env_id, config.n_val_episodes, workers=config.rollout_workers,
                                    env_options=config.env_options, backend=config.env_backend)
        bar = ProgressBar(trainer) if progress else None
        clock = trainer.start_clock()
        next_checkpoint = time.perf_counter() + config.checkpoint_every_s
        while trainer.budget_left():
            batch = trainer.collect(rollouts)
            val_score = trainer.validate_if_due(batch, val_rollouts)
            stats = NO_UPDATE  # reaching the target ends training here: the policy that played the batch is kept
            if not trainer.reached_target:
                try:
                    stats = trainer.update(batch)
                except TrainingDivergedError as err:
                    advice = f"lower lr (now {config.lr}) or enable max_grad_norm"
                    if checkpoint_dir:
                        trainer.save(checkpoint_dir)
                        advice += f"; the last good state is saved in {checkpoint_dir}"
                    raise TrainingDivergedError(f"{err} at update {trainer.updates}; {advice}") from err
            row = trainer.record(batch, stats, val_score)
            if bar is not None:
                bar.show(row)
            if callback is not None:
                with clock.paused():
                    stop = callback(row, trainer.policy)
                if stop:
                    stopped = "callback"
                    break
            if checkpoint_dir and time.perf_counter() >= next_checkpoint:
                trainer.save(checkpoint_dir)
                next_checkpoint = time.perf_counter() + config.checkpoint_every_s
        if trainer.reached_target and stopped == "budget":
            stopped = "target"
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        trainer.stop_clock()
        for r in (rollouts, val_rollouts):
            if r is not None:
                r.close()
        torch.set_num_threads(previous_threads)
        if bar is not None:
            bar.close()
    if checkpoint_dir:
        trainer.save(checkpoint_dir)
    return trainer.result(stopped)


def policy_config_for(config: TrainConfig, spaces: EnvSpaces) -> PolicyConfig:
    """The architecture a run trains: the config's network on the env's spaces (a convolutional torso for images,
    a Gaussian head for Box actions)."""
    vector_shape = len(spaces.obs_shape) == 1
    return PolicyConfig(
        env_id=config.env_id, obs_dim=spaces.obs_dim, n_actions=spaces.n_actions, hidden_sizes=config.hidden_sizes,
        activation=config.activation, obs_norm=config.obs_norm and not spaces.image, env_options=config.env_options,
        obs_shape=None if vector_shape else spaces.obs_shape,
        conv_layers=config.conv_layers if spaces.image else (), channels_last=spaces.channels_last,
        head="categorical" if spaces.discrete else "gaussian",
        action_bounds="none" if spaces.discrete or not spaces.bounded else config.action_bounds,
        action_low=spaces.action_low if not spaces.discrete and spaces.bounded else None,
        action_high=spaces.action_high if not spaces.discrete and spaces.bounded else None,
    )



class ProgressBar:
    """A bar over the share of the budget used (episodes, env steps or time, whichever is nearest its limit)."""

    def __init__(self, trainer: Trainer):
        from tqdm.auto import tqdm

        self.trainer = trainer
        self.recent = deque((row["mean_return"] for row in trainer.history[-100:]), maxlen=100)
        self.bar = tqdm(total=100, unit="%", dynamic_ncols=True, desc=f"train {trainer.config.env_id}",
                        mininterval=0.5, leave=True,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")

    def show(self, row: dict[str, Any]) -> None:
        t, c = self.trainer, self.trainer.config
        self.recent.append(row["mean_return"])
        elapsed = t.wall_s
        fraction = t.progress()
        if c.time_budget_s:
            fraction = max(fraction, elapsed / c.time_budget_s)
        self.bar.n = min(100, int(100 * fraction))
        val = f" | best val {t.best_val_score:.1f}" if t.best_val_score is not None else ""
        self.bar.set_postfix_str(
            f"ep {t.episodes:,} | steps {t.env_steps:,} | return {np.mean(self.recent):.1f} | "
            f"{t.env_steps / max(elapsed, 1e-9):,.0f} steps/s{val}",
            refresh=False,
        )
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
