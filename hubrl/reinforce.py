"""REINFORCE (Monte-Carlo policy gradient): the maths of one update, top to bottom.

The batch comes from :mod:`hubrl.collect` (episodes played with the policy's numpy forward pass); the loop around
the update, the run's counters, validation and checkpoints are :mod:`hubrl.training`'s. Here, in the order they run:

  1. returns: the discounted reward-to-go G_t of every step of every episode (:func:`batch_returns`);
  2. advantages: G_t, or G_t - V(s_t) with a learned Monte-Carlo value baseline, standardised over the batch
     (the course standardises per episode: identical when the batch holds one episode, as ``--preset course``'s);
  3. the loss: -sum(log pi(a_t|s_t) * A_t) / episodes - entropy bonus, and the value baseline's squared error;
  4. one update (:func:`update`): one Adam step (``torch.optim.Adam``, as in the course) at the scheduled learning
     rate, gradient optionally clipped; then the value baseline's step and the observation statistics.

Nothing here draws random numbers, so the same batch and state give the same weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hubrl.collect import Batch
from hubrl.errors import TrainingDivergedError
from hubrl.network import PolicyNetwork, ValueBaseline
from hubrl.policy import PolicyConfig
from hubrl.presets import TrainConfig

# -- 1. returns -------------------------------------------------------------------------------------------------------


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


# -- 2. advantages ----------------------------------------------------------------------------------------------------


def standardize(x: torch.Tensor) -> torch.Tensor:
    """The course's standardisation: (x - mean) / (unbiased std + float32 eps)."""
    if x.numel() < 2:
        return x - x.mean()
    return (x - x.mean()) / (x.std() + np.finfo(np.float32).eps.item())


def advantages(returns: torch.Tensor, obs_in: torch.Tensor, value: ValueBaseline | None, *,
               normalize: bool) -> torch.Tensor:
    """A_t = G_t - V(s_t) (or G_t without a baseline), standardised over the batch when ``normalize``.

    ``obs_in`` are the observations as the networks see them (normalised by the policy's running statistics).
    """
    if value is not None:
        with torch.no_grad():
            returns = returns - value.denormalize(value(obs_in))
    return standardize(returns) if normalize else returns


# -- 3. the loss ------------------------------------------------------------------------------------------------------


def policy_loss(logits: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor, *, n_episodes: int,
                ent_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """-sum(log pi(a_t|s_t) * A_t) / episodes - ent_coef * sum(entropy) / episodes; also each step's entropy.

    With one episode and no entropy bonus this is the course's ``sum(-log_prob * return)``.
    """
    log_probs = torch.log_softmax(logits, -1)
    chosen = log_probs.gather(1, actions.unsqueeze(1)).squeeze(1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    loss = -(chosen * advantages).sum() / n_episodes - ent_coef * entropy.sum() / n_episodes
    return loss, entropy


def value_loss(value: ValueBaseline, obs_in: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Half the mean squared error of V(s_t) against G_t, both in the baseline's standardised units."""
    return 0.5 * (value(obs_in) - value.normalize(returns)).pow(2).mean()


# -- 4. one update ----------------------------------------------------------------------------------------------------


@dataclass
class Learner:
    """The networks an update changes and their optimizers (``value``/``value_optimizer``: None without baseline)."""

    policy: PolicyNetwork
    optimizer: torch.optim.Adam
    value: ValueBaseline | None = None
    value_optimizer: torch.optim.Adam | None = None

    @classmethod
    def create(cls, config: TrainConfig, obs_dim: int, n_actions: int) -> Learner:
        """Fresh networks (initialised from torch's global generator) and their Adam optimizers."""
        policy = PolicyNetwork(PolicyConfig(
            env_id=config.env_id, obs_dim=obs_dim, n_actions=n_actions, hidden_sizes=config.hidden_sizes,
            activation=config.activation, obs_norm=config.obs_norm, env_options=config.env_options,
        ))
        learner = cls(policy, torch.optim.Adam(policy.parameters(), lr=config.lr))
        if config.baseline:
            learner.value = ValueBaseline(obs_dim, config.value_hidden_sizes, config.activation)
            learner.value_optimizer = torch.optim.Adam(learner.value.parameters(), lr=config.value_lr)
        return learner


def update(learner: Learner, batch: Batch, config: TrainConfig, *, lr: float, ent_coef: float) -> dict[str, float]:
    """One REINFORCE update of ``learner`` from ``batch``; ``lr`` and ``ent_coef`` are this update's scheduled values.

    Returns the update's statistics (loss, value_loss, entropy, lr, ent_coef, grad_norm; NaN where not computed).

    Raises:
        TrainingDivergedError: the loss is NaN or infinite; nothing was changed (the caller says what to do).
    """
    policy, value = learner.policy, learner.value
    obs = torch.as_tensor(batch.obs, dtype=torch.float32)
    actions = torch.as_tensor(batch.actions, dtype=torch.int64)
    obs_in = policy.normalize(obs).detach()

    returns = batch_returns(batch, config.gamma)
    adv = advantages(returns, obs_in, value, normalize=config.normalize_returns)
    loss, entropy = policy_loss(policy(obs), actions, adv, n_episodes=len(batch.episode_returns), ent_coef=ent_coef)
    if not torch.isfinite(loss):
        raise TrainingDivergedError(f"loss became {loss.item()}")

    for group in learner.optimizer.param_groups:
        group["lr"] = lr
    learner.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = math.nan
    if config.max_grad_norm:
        grad_norm = float(nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm))
    learner.optimizer.step()

    v_loss = math.nan
    if value is not None:
        value.update_stats(returns)
        loss_v = value_loss(value, obs_in, returns)
        learner.value_optimizer.zero_grad(set_to_none=True)
        loss_v.backward()
        if config.max_grad_norm:
            nn.utils.clip_grad_norm_(value.parameters(), config.max_grad_norm)
        learner.value_optimizer.step()
        v_loss = loss_v.item()

    policy.update_obs_stats(obs)  # after the update: this batch was played with the statistics before it
    return {"loss": loss.item(), "value_loss": v_loss, "entropy": entropy.mean().item(), "lr": lr,
            "ent_coef": ent_coef, "grad_norm": grad_norm}
