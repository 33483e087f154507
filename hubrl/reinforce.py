"""REINFORCE (Monte-Carlo policy gradient), readable top to bottom.

One update:
  1. play ``batch_episodes`` copies of the env (:mod:`hubrl.collect`), each until its first episode ends or
     ``max_t`` steps pass (``train_max_t`` if set: cut episodes leave their last ``cut_tail`` steps out of the
     loss; with ``train_autoreset`` every copy plays exactly ``train_max_t`` steps, a new episode after each end),
     sampling actions with the policy's numpy forward pass; every ``val_every`` updates the policy that played the
     batch is validated (on separate seeded episodes, or on the batch itself with ``val_on_batch``) before it is
     updated;
  2. discounted reward-to-go returns G_t for every step of every episode (:func:`batch_returns`);
  3. advantages: G_t, or G_t - V(s_t) with a learned Monte-Carlo value baseline; standardised over the batch
     (the course standardises per episode: identical when the batch holds one episode);
  4. one batched forward/backward: loss = -sum(log pi(a_t|s_t) * A_t) / episodes - entropy bonus; Adam step with
     optional gradient clipping and learning-rate schedule.

Everything random comes from the run seed (network init; env seeds and action-sampling generators derived from the
run seed and the update number), so the same seed gives the same weights on the same machine, and a resumed run
(:mod:`hubrl.checkpoint`) continues exactly as if never stopped.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from hubrl.checkpoint import read_checkpoint, save_checkpoint
from hubrl.collect import Batch, Rollouts
from hubrl.defaults import TRAIN_SEED_OFFSET, VALIDATION_SEED
from hubrl.envs import make_vector_env
from hubrl.errors import RunFolderError, TrainingDivergedError
from hubrl.network import PolicyNetwork, ValueBaseline
from hubrl.policy import PolicyConfig
from hubrl.presets import TrainConfig


def reward_to_go(rewards: np.ndarray, in_episode: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1} within each episode, backwards over a ``(T, copies)`` grid (float64).

    A step outside an episode (a reset step, or after the copy's episode ended) has G = 0 and separates episodes.
    """
    returns = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in range(len(rewards) - 1, -1, -1):
        running = (rewards[t] + gamma * running) * in_episode[t]
        returns[t] = running
    return returns


def batch_returns(batch: Batch, gamma: float) -> torch.Tensor:
    """The reward-to-go of every step in the loss, in the order of ``batch.obs`` (float32)."""
    parts = [reward_to_go(r, m, gamma)[keep] for r, m, keep in zip(batch.rewards, batch.in_episode, batch.in_loss)]
    return torch.as_tensor(np.concatenate(parts).astype(np.float32))


def standardize(x: torch.Tensor) -> torch.Tensor:
    """The course's standardisation: (x - mean) / (unbiased std + float32 eps)."""
    if x.numel() < 2:
        return x - x.mean()
    return (x - x.mean()) / (x.std() + np.finfo(np.float32).eps.item())


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
    def paused(self):
        """Time spent inside is not training time (e.g. a callback's external evaluation)."""
        paused_at = time.perf_counter()
        try:
            yield
        finally:
            self._started += time.perf_counter() - paused_at


class Trainer:
    """Holds the state of one run so it can be checkpointed and resumed exactly."""

    def __init__(self, config: TrainConfig, obs_dim: int, n_actions: int):
        self.config = config
        torch.manual_seed(config.seed)
        self.policy = PolicyNetwork(PolicyConfig(
            env_id=config.env_id, obs_dim=obs_dim, n_actions=n_actions, hidden_sizes=config.hidden_sizes,
            activation=config.activation, obs_norm=config.obs_norm, env_options=config.env_options,
        ))
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.value: ValueBaseline | None = None
        self.value_optimizer = None
        if config.baseline:
            self.value = ValueBaseline(obs_dim, config.value_hidden_sizes, config.activation)
            self.value_optimizer = torch.optim.Adam(self.value.parameters(), lr=config.value_lr)
        self.episodes = 0
        self.env_steps = 0
        self.updates = 0
        self.wall_s = 0.0
        self.history: list[dict[str, Any]] = []
        self.best_val_score: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.reached_target = False

    # -- schedules ------------------------------------------------------------------------------------------------
    def progress(self) -> float:
        """Fraction of the deterministic budget used (episodes or env steps), for schedules."""
        c = self.config
        frac = self.episodes / c.n_training_episodes
        if c.max_env_steps:
            frac = max(frac, self.env_steps / c.max_env_steps)
        return min(frac, 1.0)

    def scheduled(self, start: float, end: float | None) -> float:
        return start if end is None else start + (end - start) * self.progress()

    def budget_left(self, clock: TrainingClock) -> bool:
        c = self.config
        if self.episodes >= c.n_training_episodes:
            return False
        if c.max_env_steps and self.env_steps >= c.max_env_steps:
            return False
        if c.time_budget_s and clock.elapsed() >= c.time_budget_s:
            return False
        return not self.reached_target

    # -- one update -----------------------------------------------------------------------------------------------
    def update(self, batch: Batch) -> dict[str, float]:
        c = self.config
        policy = self.policy
        obs = torch.as_tensor(batch.obs, dtype=torch.float32)
        actions = torch.as_tensor(batch.actions, dtype=torch.int64)
        n_episodes = len(batch.episode_returns)
        returns = batch_returns(batch, c.gamma)
        advantages = returns
        value_loss = float("nan")
        if self.value is not None:
            obs_in = policy.normalize(obs).detach()
            with torch.no_grad():
                advantages = returns - self.value.denormalize(self.value(obs_in))
        if c.normalize_returns:
            advantages = standardize(advantages)
        logits = policy(obs)
        log_probs = torch.log_softmax(logits, -1)
        chosen = log_probs.gather(1, actions.unsqueeze(1)).squeeze(1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        ent_coef = self.scheduled(c.ent_coef, c.ent_coef_final)
        loss = -(chosen * advantages).sum() / n_episodes - ent_coef * entropy.sum() / n_episodes
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"loss became {loss.item()} at update {self.updates}; lower lr (now {c.lr}) or enable max_grad_norm"
            )
        lr = self.scheduled(c.lr, c.lr_final)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float("nan")
        if c.max_grad_norm:
            grad_norm = float(nn.utils.clip_grad_norm_(policy.parameters(), c.max_grad_norm))
        self.optimizer.step()
        if self.value is not None:
            self.value.update_stats(returns)
            pred = self.value(obs_in)
            v_loss = 0.5 * (pred - self.value.normalize(returns)).pow(2).mean()
            self.value_optimizer.zero_grad(set_to_none=True)
            v_loss.backward()
            if c.max_grad_norm:
                nn.utils.clip_grad_norm_(self.value.parameters(), c.max_grad_norm)
            self.value_optimizer.step()
            value_loss = v_loss.item()
        policy.update_obs_stats(obs)
        return {"loss": loss.item(), "value_loss": value_loss, "entropy": entropy.mean().item(), "lr": lr,
                "ent_coef": ent_coef, "grad_norm": grad_norm}

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

    # -- checkpoints (hubrl.checkpoint) ---------------------------------------------------------------------------
    COUNTERS = ("episodes", "env_steps", "updates", "wall_s", "history", "best_val_score", "reached_target")

    def save(self, directory: Path) -> None:
        save_checkpoint(directory, modules={"policy": self.policy, "value": self.value},
                        optimizers={"optim": self.optimizer, "value_optim": self.value_optimizer},
                        best=self.best_state,
                        meta={"config": self.config.to_json(), **{k: getattr(self, k) for k in self.COUNTERS}})

    @classmethod
    def resume(cls, directory: Path, obs_dim: int, n_actions: int) -> Trainer:
        checkpoint = read_checkpoint(directory)
        trainer = cls(TrainConfig.from_json(checkpoint.meta["config"]), obs_dim, n_actions)
        trainer.best_state = checkpoint.restore(
            modules={"policy": trainer.policy, "value": trainer.value},
            optimizers={"optim": trainer.optimizer, "value_optim": trainer.value_optimizer},
        )
        for key in cls.COUNTERS:
            setattr(trainer, key, checkpoint.meta[key])
        return trainer


def env_spaces(config: TrainConfig) -> tuple[int, int]:
    """Observation size and number of actions of ``config.env_id`` (with its env options)."""
    venv = make_vector_env(config.env_id, 1, **config.env_options)
    try:
        obs_space, act_space = venv.single_observation_space, venv.single_action_space
    finally:
        venv.close()
    return int(np.prod(obs_space.shape)), int(act_space.n)


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
    obs_dim, n_actions = env_spaces(config)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
    if resume:
        if checkpoint_dir is None:
            raise RunFolderError("resume needs a checkpoint directory")
        trainer = Trainer.resume(checkpoint_dir, obs_dim, n_actions)
    else:
        trainer = Trainer(config, obs_dim, n_actions)
    config = trainer.config
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    rollouts = val_rollouts = bar = clock = None
    stopped = "budget"
    try:
        rollouts = Rollouts(config.env_id, config.batch_episodes, workers=config.rollout_workers,
                            env_options=config.env_options, backend=config.env_backend)
        if config.val_every and not config.val_on_batch:
            val_rollouts = Rollouts(config.env_id, config.n_val_episodes, workers=config.rollout_workers,
                                    env_options=config.env_options, backend=config.env_backend)
        recent = deque((row["mean_return"] for row in trainer.history[-100:]), maxlen=100)
        bar = _progress_bar(config, enabled=progress)
        clock = TrainingClock(trainer.wall_s)
        next_checkpoint = time.perf_counter() + config.checkpoint_every_s
        while trainer.budget_left(clock):
            seed = TRAIN_SEED_OFFSET + config.seed * 10_000_019 + trainer.updates * config.batch_episodes
            batch = rollouts.collect(trainer.policy.sampler(), run_seed=config.seed, update=trainer.updates,
                                     env_seed=seed, max_t=config.train_max_t or config.max_t,
                                     tail=config.cut_tail if config.train_max_t else 0,
                                     autoreset=config.train_autoreset)
            mean_return = float(batch.episode_returns.mean())
            val_score = None
            validate_now = config.val_every and (trainer.updates + 1) % config.val_every == 0
            if validate_now and (config.val_threshold is None or mean_return >= config.val_threshold):
                # Validate the policy that collected this batch: a batch that reached the threshold is evidence for
                # this policy, not for the one the update below makes of it. Reaching the target ends training here.
                val_score = trainer.validate(val_rollouts, batch if config.val_on_batch else None)
            stats = dict.fromkeys(("loss", "value_loss", "entropy", "lr", "ent_coef", "grad_norm"), float("nan"))
            if not trainer.reached_target:
                try:
                    stats = trainer.update(batch)
                except TrainingDivergedError as err:
                    if checkpoint_dir:
                        trainer.wall_s = clock.elapsed()
                        trainer.save(checkpoint_dir)
                        raise TrainingDivergedError(f"{err}; the last good state is saved in {checkpoint_dir}") from err
                    raise
            trainer.updates += 1
            trainer.episodes += len(batch.episode_returns)
            trainer.env_steps += batch.env_steps
            recent.append(mean_return)
            row = {"update": trainer.updates, "episodes": trainer.episodes, "env_steps": trainer.env_steps,
                   "wall_s": round(clock.elapsed(), 4), "mean_return": mean_return,
                   "mean_length": float(batch.episode_lengths.mean()), **stats}
            if val_score is not None:
                row["val_score"] = val_score
            trainer.history.append(row)
            if bar is not None:
                _show_progress(bar, trainer, recent, clock.elapsed())
            if callback is not None:
                with clock.paused():
                    stop = callback(row, trainer.policy)
                if stop:
                    stopped = "callback"
                    break
            if checkpoint_dir and time.perf_counter() >= next_checkpoint:
                trainer.wall_s = clock.elapsed()
                trainer.save(checkpoint_dir)
                next_checkpoint = time.perf_counter() + config.checkpoint_every_s
        if trainer.reached_target and stopped == "budget":
            stopped = "target"
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        if clock is not None:
            trainer.wall_s = clock.elapsed()
        for r in (rollouts, val_rollouts):
            if r is not None:
                r.close()
        torch.set_num_threads(previous_threads)
        if bar is not None:
            bar.close()
    if checkpoint_dir:
        trainer.save(checkpoint_dir)
    policy = trainer.policy
    if config.select_best and trainer.best_state is not None and stopped != "interrupted":
        policy = copy.deepcopy(policy)
        policy.load_state_dict(trainer.best_state)
    policy.eval()
    return TrainResult(
        policy=policy, config=config, history=trainer.history, episodes=trainer.episodes,
        env_steps=trainer.env_steps, updates=trainer.updates, wall_s=trainer.wall_s, stopped=stopped,
        best_val_score=trainer.best_val_score,
    )


def _progress_bar(config: TrainConfig, *, enabled: bool):
    """A bar over the share of the budget used (episodes, env steps or time, whichever is nearest its limit)."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=100, unit="%", dynamic_ncols=True, desc=f"train {config.env_id}", mininterval=0.5, leave=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")


def _show_progress(bar, trainer: Trainer, recent: deque, elapsed: float) -> None:
    c = trainer.config
    fraction = trainer.progress()
    if c.time_budget_s:
        fraction = max(fraction, elapsed / c.time_budget_s)
    bar.n = min(100, int(100 * fraction))
    val = f" | best val {trainer.best_val_score:.1f}" if trainer.best_val_score is not None else ""
    bar.set_postfix_str(
        f"ep {trainer.episodes:,} | steps {trainer.env_steps:,} | return {np.mean(recent):.1f} | "
        f"{trainer.env_steps / max(elapsed, 1e-9):,.0f} steps/s{val}",
        refresh=False,
    )
    bar.refresh()
