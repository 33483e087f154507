"""REINFORCE (Monte-Carlo policy gradient): the maths of one update, top to bottom.

The batch comes from :mod:`hubrl.collect` (episodes played with the policy's numpy forward pass); the loop around
the update, the run's counters, validation and checkpoints are :mod:`hubrl.training`'s. Here, in the order they run:

  1. returns: the discounted reward-to-go G_t of every step of every episode (:func:`batch_returns`);
  2. advantages: G_t, or G_t - V(s_t) with a learned Monte-Carlo value baseline, standardised over the batch
     (the course standardises per episode: identical when the batch holds one episode, as ``--preset course``'s);
  3. the loss: -sum(log pi(a_t|s_t) * A_t) / episodes - entropy bonus, and the value baseline's squared error;
     log pi is the categorical's log-softmax, or a diagonal Gaussian's log density of the sample it drew (before
     clipping or squashing into the action space, so the gradient is the sample's own);
  4. one update (:func:`update`): one Adam step (``torch.optim.Adam``, as in the course) at the scheduled learning
     rate, gradient optionally clipped; then the value baseline's step and the observation statistics. A batch of
     images too large for one pass is run through in chunks whose gradients add up to the whole batch's.

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

CHUNK_NUMBERS = 1 << 24
"""Most observation numbers one forward/backward pass of an update holds (64 MiB of float32); a vector env's batch
always fits in one pass."""
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)

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


def advantages(returns: torch.Tensor, values: torch.Tensor | None, *, normalize: bool) -> torch.Tensor:
    """A_t = G_t - V(s_t) (or G_t without a baseline), standardised over the batch when ``normalize``.

    ``values`` are the baseline's predictions in return units (:meth:`~hubrl.network.ValueBaseline.denormalize`).
    """
    if values is not None:
        returns = returns - values
    return standardize(returns) if normalize else returns


# -- 3. the loss ------------------------------------------------------------------------------------------------------


def log_prob_entropy(outputs: torch.Tensor, actions: torch.Tensor, log_std: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(a_t|s_t) of the actions taken, and each step's entropy: categorical from logits, or a diagonal
    Gaussian from its means and ``log_std``."""
    if log_std is None:
        log_probs = torch.log_softmax(outputs, -1)
        chosen = log_probs.gather(1, actions.unsqueeze(1)).squeeze(1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        return chosen, entropy
    z = (actions - outputs) * torch.exp(-log_std)
    chosen = (-0.5 * z.pow(2) - log_std - LOG_SQRT_2PI).sum(-1)
    entropy = (log_std + 0.5 + LOG_SQRT_2PI).sum().expand(len(outputs))
    return chosen, entropy


def policy_loss(chosen: torch.Tensor, entropy: torch.Tensor, advantages: torch.Tensor, *, n_episodes: int,
                ent_coef: float) -> torch.Tensor:
    """-sum(log pi(a_t|s_t) * A_t) / episodes - ent_coef * sum(entropy) / episodes.

    With one episode and no entropy bonus this is the course's ``sum(-log_prob * return)``.
    """
    return -(chosen * advantages).sum() / n_episodes - ent_coef * entropy.sum() / n_episodes


def value_loss(value: ValueBaseline, obs_in: torch.Tensor, returns: torch.Tensor, *, total: int) -> torch.Tensor:
    """Half the mean squared error of V(s_t) against G_t, both in the baseline's standardised units (this chunk's
    share of it, for ``total`` steps in all)."""
    return 0.5 * (value(obs_in) - value.normalize(returns)).pow(2).mean() * (len(returns) / total)


# -- 4. one update ----------------------------------------------------------------------------------------------------


@dataclass
class Learner:
    """The networks an update changes and their optimizers (``value``/``value_optimizer``: None without baseline)."""

    policy: PolicyNetwork
    optimizer: torch.optim.Adam
    value: ValueBaseline | None = None
    value_optimizer: torch.optim.Adam | None = None

    @classmethod
    def create(cls, config: TrainConfig, policy_config: PolicyConfig) -> Learner:
        """Fresh networks for ``policy_config`` (initialised from torch's global generator) and their Adam optimizers."""
        policy = PolicyNetwork(policy_config, log_std_init=config.log_std_init)
        if config.head_init_scale != 1.0:
            with torch.no_grad():
                policy.net[-1].weight.mul_(config.head_init_scale)
                policy.net[-1].bias.mul_(config.head_init_scale)
        learner = cls(policy, torch.optim.Adam(policy.parameters(), lr=config.lr))
        if config.baseline:
            learner.value = ValueBaseline(policy_config.obs_dim, config.value_hidden_sizes, config.activation,
                                          policy=policy_config)
            learner.value_optimizer = torch.optim.Adam(learner.value.parameters(), lr=config.value_lr)
        return learner


def update(learner: Learner, batch: Batch, config: TrainConfig, *, lr: float, ent_coef: float) -> dict[str, float]:
    """One REINFORCE update of ``learner`` from ``batch``; ``lr`` and ``ent_coef`` are this update's scheduled values.

    Returns the update's statistics (loss, value_loss, entropy, lr, ent_coef, grad_norm; NaN where not computed).

    Raises:
        TrainingDivergedError: the loss is NaN or infinite; no weight was changed (the caller says what to do).
    """
    policy, value = learner.policy, learner.value
    gaussian = policy.config.head == "gaussian"
    obs = torch.as_tensor(batch.obs, dtype=None if policy.config.conv_layers else torch.float32)
    actions = torch.as_tensor(batch.actions, dtype=torch.float32 if gaussian else torch.int64)
    n_episodes, total = len(batch.episode_returns), len(obs)
    chunks = chunk_slices(total, max(1, CHUNK_NUMBERS // max(1, policy.config.obs_dim)))

    def inputs(part: slice) -> torch.Tensor:
        return policy.normalize(obs[part]).detach()

    returns = batch_returns(batch, config.gamma)
    values = None
    if value is not None:
        with torch.no_grad():
            values = torch.cat([value.denormalize(value(inputs(part))) for part in chunks])
    adv = advantages(returns, values, normalize=config.normalize_returns)

    learner.optimizer.zero_grad(set_to_none=True)
    loss_sum, entropies = 0.0, []
    for part in chunks:
        chosen, entropy = log_prob_entropy(policy.head(inputs(part)), actions[part],
                                           policy.log_std if gaussian else None)
        loss = policy_loss(chosen, entropy, adv[part], n_episodes=n_episodes, ent_coef=ent_coef)
        if not torch.isfinite(loss):
            learner.optimizer.zero_grad(set_to_none=True)
            raise TrainingDivergedError(f"loss became {loss.item()}")
        loss.backward()
        loss_sum += loss.item()
        entropies.append(entropy.detach())
    for group in learner.optimizer.param_groups:
        group["lr"] = lr
    grad_norm = math.nan
    if config.max_grad_norm:
        grad_norm = float(nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm))
    learner.optimizer.step()

    v_loss = math.nan
    if value is not None:
        value.update_stats(returns)
        learner.value_optimizer.zero_grad(set_to_none=True)
        v_loss = 0.0
        for part in chunks:
            loss_v = value_loss(value, inputs(part), returns[part], total=total)
            loss_v.backward()
            v_loss += loss_v.item()
        if config.max_grad_norm:
            nn.utils.clip_grad_norm_(value.parameters(), config.max_grad_norm)
        learner.value_optimizer.step()

    policy.update_obs_stats(obs)  # after the update: this batch was played with the statistics before it
    return {"loss": loss_sum, "value_loss": v_loss, "entropy": torch.cat(entropies).mean().item(), "lr": lr,
            "ent_coef": ent_coef, "grad_norm": grad_norm}


def chunk_slices(total: int, rows: int) -> list[slice]:
    """The row ranges of a batch's passes: one (the whole batch) unless it holds more than ``rows`` rows."""
    return [slice(start, min(start + rows, total)) for start in range(0, max(total, 1), rows)]
