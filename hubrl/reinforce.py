"""REINFORCE (Monte-Carlo policy gradient), readable top to bottom.

One update:
  1. reset ``batch_episodes`` copies of the env (a gymnasium vector env) with seeds derived from the run seed and
     the update number, and run every copy until its first episode ends or ``max_t`` steps pass (``train_max_t``
     if set: cut episodes leave their last ``cut_tail`` steps out of the loss; with ``train_autoreset`` every copy
     plays exactly ``train_max_t`` steps, a new episode after each end); actions are sampled without
     autograd, one batched forward pass per step; every ``val_every`` updates the policy that played the batch is
     validated (on separate seeded episodes, or on the batch itself with ``val_on_batch``) before it is updated;
  2. discounted reward-to-go returns G_t for every step of every episode;
  3. advantages: G_t, or G_t - V(s_t) with a learned Monte-Carlo value baseline; standardised over the batch
     (the course standardises per episode: identical when the batch holds one episode);
  4. one batched forward/backward: loss = -sum(log pi(a_t|s_t) * A_t) / episodes - entropy bonus; Adam step with
     optional gradient clipping and learning-rate schedule.

Everything random comes from the run seed (network init; env seeds and action-sampling generators derived from the
run seed and the update number), so the same seed gives the same weights on the same machine, and a resumed run
continues exactly as if never stopped. ``rollout_workers`` collects the batch in shards on several cores
(:mod:`hubrl.rollouts`).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from hubrl.envs import make_vector_env
from hubrl.errors import RunFolderError, TrainingDivergedError
from hubrl.defaults import TRAIN_SEED_OFFSET, VALIDATION_SEED
from hubrl.policy import Policy, PolicyConfig, mlp
from hubrl.presets import TrainConfig
from hubrl.rollouts import Rollouts



class ValueBaseline(nn.Module):
    """V(s) fitted to Monte-Carlo returns (no bootstrapping: this stays REINFORCE with a baseline).

    Targets are standardised with running return statistics so one learning rate suits every env's reward scale.
    """

    def __init__(self, obs_dim: int, hidden_sizes: tuple[int, ...], activation: str):
        super().__init__()
        self.net = mlp([obs_dim, *hidden_sizes, 1], activation)
        self.register_buffer("ret_mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("ret_var", torch.ones((), dtype=torch.float64))
        self.register_buffer("ret_count", torch.zeros((), dtype=torch.float64))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Standardised value prediction."""
        return self.net(obs).squeeze(-1)

    def denormalize(self, value: torch.Tensor) -> torch.Tensor:
        return value * self.ret_var.sqrt().float() + self.ret_mean.float()

    def normalize(self, returns: torch.Tensor) -> torch.Tensor:
        return (returns - self.ret_mean.float()) / self.ret_var.sqrt().float().clamp_min(1e-4)

    @torch.no_grad()
    def update_stats(self, returns: torch.Tensor) -> None:
        r = returns.double()
        n, b = self.ret_count.item(), r.numel()
        total = n + b
        delta = r.mean() - self.ret_mean
        m2 = (self.ret_var * n if n else 0.0) + r.var(unbiased=False) * b + delta.pow(2) * n * b / total
        self.ret_mean += delta * b / total
        self.ret_var.copy_(m2 / total)
        self.ret_count.fill_(total)


@dataclass
class Batch:
    """The valid steps of one batch of episodes, flattened time-major (shard after shard)."""

    obs: torch.Tensor
    actions: torch.Tensor
    returns: torch.Tensor
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    env_steps: int
    """Steps the vector env simulated, including those of copies whose episode had already ended."""

    @classmethod
    def from_parts(cls, parts: list[dict[str, Any]]) -> Batch:
        def cat(key):
            return np.concatenate([p[key] for p in parts])

        return cls(
            obs=torch.as_tensor(cat("obs"), dtype=torch.float32),
            actions=torch.as_tensor(cat("actions"), dtype=torch.int64),
            returns=torch.as_tensor(cat("returns"), dtype=torch.float32),
            episode_returns=cat("episode_returns"),
            episode_lengths=cat("episode_lengths"),
            env_steps=sum(p["env_steps"] for p in parts),
        )


def collect_arrays(venv, sampler, rng: np.random.Generator, *, seed: int, max_t: int, gamma: float,
                   tail: int = 0, autoreset: bool = False) -> dict[str, Any]:
    """Run every copy of ``venv`` through one episode (capped at ``max_t`` steps); return the valid steps as arrays.

    An episode still running after ``max_t`` steps is cut there; its last ``tail`` steps stay out of the returned
    steps (their reward-to-go misses what the cut removed) but count in the episode's return and length.
    With ``autoreset`` every copy plays exactly ``max_t`` steps instead, starting a new episode whenever one ends
    (the vector env's NEXT_STEP reset step is not a transition and is left out); only each copy's last, cut
    episode loses its tail. Every episode started in the window is reported, cut ones with their partial return.
    ``sampler`` acts with numpy (:meth:`hubrl.policy.Policy.sampler`), so this runs without torch, also in workers.
    """
    n = venv.num_envs
    obs, _ = venv.reset(seed=seed)
    alive = np.ones(n, dtype=bool)  # this step is a transition of a running episode
    obs_steps, act_steps, rewards, masks, ends = [], [], [], [], []
    with np.errstate(over="ignore", invalid="ignore"):  # diverged weights: the update's NaN check reports them
        for _ in range(max_t):  # the per-step loop: keep it to a forward pass, an env step and appends
            actions = sampler.act(obs, uniforms=rng.random(n))
            next_obs, reward, terminated, truncated, _ = venv.step(actions)
            obs_steps.append(obs)
            act_steps.append(actions)
            rewards.append(reward)
            masks.append(alive)
            done = terminated | truncated
            if autoreset:
                ends.append(done & alive)
                alive = ~done  # an ended copy's next step is its reset
            else:
                alive = alive & ~done
                if not alive.any():
                    break
            obs = next_obs
    masks_arr = np.asarray(masks)  # (T, n)
    rewards_arr = np.where(masks_arr, np.asarray(rewards, dtype=np.float64), 0.0)
    returns = np.zeros_like(rewards_arr)
    running = np.zeros(n)
    for t in range(len(rewards_arr) - 1, -1, -1):  # reward-to-go, backwards; a reset step (mask 0) separates episodes
        running = (rewards_arr[t] + gamma * running) * masks_arr[t]
        returns[t] = running
    steps = len(masks)
    if autoreset:
        ends_arr = np.asarray(ends)
        # Episode index of every step per copy: a new episode starts after each end (its reset step is masked).
        episode_of = np.cumsum(ends_arr, axis=0) - ends_arr
        cut = masks_arr[-1] & ~ends_arr[-1]  # copies whose last episode is still running at the window's end
        n_episodes = ends_arr.sum(0) + cut
        offsets = np.concatenate([[0], np.cumsum(n_episodes)[:-1]])
        flat = (episode_of + offsets)[masks_arr]
        total = int(n_episodes.sum())
        episode_returns = np.bincount(flat, weights=rewards_arr[masks_arr], minlength=total)
        episode_lengths = np.bincount(flat, minlength=total)
        last_start = np.where(ends_arr.any(0), steps - np.argmax(ends_arr[::-1], axis=0), 0)
    else:
        episode_returns, episode_lengths = rewards_arr.sum(0), masks_arr.sum(0)
        cut, last_start = alive, np.zeros(n, dtype=np.int64)
    keep = masks_arr
    if tail and cut.any():  # episodes cut by the window: leave out the steps whose reward-to-go the cut truncated
        keep = masks_arr.copy()
        t_index = np.arange(steps)[:, None]
        keep &= ~((t_index >= np.maximum(steps - tail, last_start)[None, :]) & cut[None, :])
    return {
        "obs": np.asarray(obs_steps, dtype=np.float32)[keep],
        "actions": np.asarray(act_steps, dtype=np.int64)[keep],
        "returns": returns[keep].astype(np.float32),
        "episode_returns": episode_returns,
        "episode_lengths": episode_lengths,
        "env_steps": n * steps,
    }


def collect_batch(venv, policy: Policy, rng: np.random.Generator, *, seed: int, max_t: int, gamma: float,
                  tail: int = 0) -> Batch:
    """One batch of episodes from ``venv`` with ``policy`` (see :func:`collect_arrays`)."""
    return Batch.from_parts([collect_arrays(venv, policy.sampler(), rng, seed=seed, max_t=max_t, gamma=gamma,
                                            tail=tail)])


def standardize(x: torch.Tensor) -> torch.Tensor:
    """The course's standardisation: (x - mean) / (unbiased std + float32 eps)."""
    if x.numel() < 2:
        return x - x.mean()
    return (x - x.mean()) / (x.std() + np.finfo(np.float32).eps.item())


@dataclass
class TrainResult:
    """What :func:`train` returns: the final policy and the run's history."""

    policy: Policy
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list)
    episodes: int = 0
    env_steps: int = 0
    updates: int = 0
    wall_s: float = 0.0
    stopped: str = "budget"
    """Why training ended: ``budget``, ``target`` (validation reached target_score), ``callback`` or ``interrupted``."""
    best_val_score: float | None = None


class Trainer:
    """Holds the state of one run so it can be checkpointed and resumed exactly."""

    def __init__(self, config: TrainConfig, obs_dim: int, n_actions: int):
        self.config = config
        torch.manual_seed(config.seed)
        self.policy = Policy(PolicyConfig(
            env_id=config.env_id, obs_dim=obs_dim, n_actions=n_actions, hidden_sizes=config.hidden_sizes,
            activation=config.activation, obs_norm=config.obs_norm, env_options=dict(config.env_options),
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

    def budget_left(self, started: float) -> bool:
        c = self.config
        if self.episodes >= c.n_training_episodes:
            return False
        if c.max_env_steps and self.env_steps >= c.max_env_steps:
            return False
        if c.time_budget_s and self.wall_s + (time.perf_counter() - started) >= c.time_budget_s:
            return False
        return not self.reached_target

    # -- one update -----------------------------------------------------------------------------------------------
    def update(self, batch: Batch) -> dict[str, float]:
        c = self.config
        policy = self.policy
        n_episodes = len(batch.episode_returns)
        returns = batch.returns
        advantages = returns
        value_loss = float("nan")
        if self.value is not None:
            obs_in = policy.normalize(batch.obs).detach()
            with torch.no_grad():
                advantages = returns - self.value.denormalize(self.value(obs_in))
        if c.normalize_returns:
            advantages = standardize(advantages)
        logits = policy(batch.obs)
        log_probs = torch.log_softmax(logits, -1)
        chosen = log_probs.gather(1, batch.actions.unsqueeze(1)).squeeze(1)
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
        policy.update_obs_stats(batch.obs)
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
                                     env_seed=VALIDATION_SEED, max_t=c.max_t, gamma=c.gamma)
        score = float(batch.episode_returns.mean() - batch.episode_returns.std())
        if self.best_val_score is None or score > self.best_val_score:
            self.best_val_score = score
            if c.select_best:
                self.best_state = copy.deepcopy(self.policy.state_dict())
        if c.target_score is not None and score >= c.target_score:
            self.reached_target = True
        return score

    # -- checkpoints (safetensors + JSON, never pickle) -----------------------------------------------------------
    def save_checkpoint(self, directory: Path) -> None:
        """Write the full training state atomically: ``directory`` is replaced only once the new one is complete."""
        directory = Path(directory)
        new = directory.with_name(directory.name + ".new")
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        tensors = {f"policy.{k}": v for k, v in self.policy.state_dict().items()}
        optim_json = {}
        for name, opt in (("optim", self.optimizer), ("value_optim", self.value_optimizer)):
            if opt is None:
                continue
            state = opt.state_dict()
            for idx, slots in state["state"].items():
                for slot, value in slots.items():
                    tensors[f"{name}.{idx}.{slot}"] = torch.as_tensor(value)
            optim_json[name] = state["param_groups"]
        if self.value is not None:
            tensors.update({f"value.{k}": v for k, v in self.value.state_dict().items()})
        if self.best_state is not None:
            tensors.update({f"best.{k}": v for k, v in self.best_state.items()})
        tensors["torch_rng"] = torch.get_rng_state()
        save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(new / "state.safetensors"))
        meta = {
            "config": self.config.to_json(), "episodes": self.episodes, "env_steps": self.env_steps,
            "updates": self.updates, "wall_s": self.wall_s, "history": self.history,
            "best_val_score": self.best_val_score, "reached_target": self.reached_target,
            "param_groups": optim_json,
        }
        with open(new / "state.json", "w") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())
        old = directory.with_name(directory.name + ".old")
        if directory.exists():
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
        new.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def from_checkpoint(cls, directory: Path, obs_dim: int, n_actions: int) -> Trainer:
        directory = Path(directory)
        if not (directory / "state.json").exists() and directory.with_name(directory.name + ".old").exists():
            directory = directory.with_name(directory.name + ".old")  # a crash between the two renames
        try:
            meta = json.loads((directory / "state.json").read_text())
            tensors = load_file(str(directory / "state.safetensors"))
        except (OSError, ValueError) as err:
            raise RunFolderError(f"cannot resume: checkpoint in {directory} is missing or corrupt ({err})") from None
        trainer = cls(TrainConfig.from_json(meta["config"]), obs_dim, n_actions)

        def sub(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

        trainer.policy.load_state_dict(sub("policy"))
        if trainer.value is not None:
            trainer.value.load_state_dict(sub("value"))
        for name, opt in (("optim", trainer.optimizer), ("value_optim", trainer.value_optimizer)):
            if opt is None:
                continue
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in sub(name).items():
                idx, slot = key.split(".", 1)
                state.setdefault(int(idx), {})[slot] = value
            opt.load_state_dict({"state": state, "param_groups": meta["param_groups"][name]})
        best = sub("best")
        trainer.best_state = best or None
        torch.set_rng_state(tensors["torch_rng"])
        for key in ("episodes", "env_steps", "updates", "wall_s", "history", "best_val_score", "reached_target"):
            setattr(trainer, key, meta[key])
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
    callback: Callable[[dict[str, Any], Policy], bool | None] | None = None,
) -> TrainResult:
    """Train a REINFORCE agent.

    Args:
        config: hyperparameters (see :func:`hubrl.presets.make_config`).
        checkpoint_dir: where to save checkpoints (periodically, on Ctrl-C and on divergence).
        resume: continue from ``checkpoint_dir`` instead of starting afresh.
        progress: show a live progress bar.
        callback: called after every update with its history row and the current policy; return True to stop.
            Time spent in the callback (e.g. an external evaluation) does not count as training time.

    Ctrl-C stops training after saving a checkpoint and returns with ``stopped="interrupted"``.

    Example:
        >>> from hubrl import make_config, train
        >>> result = train(make_config("CartPole-v1", seed=0))
        >>> result.policy  # the trained Policy
    """
    config.validate()
    obs_dim, n_actions = env_spaces(config)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
    if resume:
        if checkpoint_dir is None:
            raise RunFolderError("resume needs a checkpoint directory")
        trainer = Trainer.from_checkpoint(checkpoint_dir, obs_dim, n_actions)
    else:
        trainer = Trainer(config, obs_dim, n_actions)
    config = trainer.config
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    rollouts = Rollouts(config.env_id, config.batch_episodes, workers=config.rollout_workers,
                        env_options=config.env_options)
    val_rollouts = None
    if config.val_every and not config.val_on_batch:
        val_rollouts = Rollouts(config.env_id, config.n_val_episodes, env_options=config.env_options)
    recent = deque((row["mean_return"] for row in trainer.history[-100:]), maxlen=100)
    bar = _progress_bar(config, trainer, enabled=progress)
    started = time.perf_counter()
    last_checkpoint = started
    stopped = "budget"
    try:
        while trainer.budget_left(started):
            seed = TRAIN_SEED_OFFSET + config.seed * 10_000_019 + trainer.updates * config.batch_episodes
            batch = rollouts.collect(trainer.policy.sampler(), run_seed=config.seed, update=trainer.updates,
                                     env_seed=seed, max_t=config.train_max_t or config.max_t, gamma=config.gamma,
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
                        trainer.wall_s += time.perf_counter() - started
                        started = time.perf_counter()
                        trainer.save_checkpoint(checkpoint_dir)
                        raise TrainingDivergedError(f"{err}; the last good state is saved in {checkpoint_dir}") from None
                    raise
            trainer.updates += 1
            trainer.episodes += len(batch.episode_returns)
            trainer.env_steps += batch.env_steps
            recent.append(mean_return)
            row = {"update": trainer.updates, "episodes": trainer.episodes, "env_steps": trainer.env_steps,
                   "wall_s": round(trainer.wall_s + time.perf_counter() - started, 4), "mean_return": mean_return,
                   "mean_length": float(batch.episode_lengths.mean()), **stats}
            if val_score is not None:
                row["val_score"] = val_score
            trainer.history.append(row)
            if bar is not None:
                _show_progress(bar, trainer, recent, trainer.wall_s + time.perf_counter() - started)
            if callback is not None:
                callback_started = time.perf_counter()
                stop = callback(row, trainer.policy)
                started += time.perf_counter() - callback_started  # a callback's time is not training time
                if stop:
                    stopped = "callback"
                    break
            if checkpoint_dir and time.perf_counter() - last_checkpoint > config.checkpoint_every_s:
                trainer.wall_s += time.perf_counter() - started
                started = last_checkpoint = time.perf_counter()
                trainer.save_checkpoint(checkpoint_dir)
        if trainer.reached_target and stopped == "budget":
            stopped = "target"
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        trainer.wall_s += time.perf_counter() - started
        rollouts.close()
        if val_rollouts is not None:
            val_rollouts.close()
        torch.set_num_threads(previous_threads)
        if bar is not None:
            bar.close()
    if checkpoint_dir:
        trainer.save_checkpoint(checkpoint_dir)
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


def _progress_bar(config: TrainConfig, trainer: Trainer, *, enabled: bool):
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
