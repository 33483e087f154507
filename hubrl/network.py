"""The trainable networks (torch): the policy :mod:`hubrl.reinforce` updates, and its optional value baseline.

Only training imports this module. Its weights use the same state-dict names as :class:`hubrl.policy.Policy`, so
:func:`hubrl.policy.save_policy` writes either to identical bytes, and :meth:`PolicyNetwork.sampler` hands the
episode loops the very numpy forward pass a loaded agent uses.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hubrl.policy import NumpySampler, Policy, PolicyConfig

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class PolicyNetwork(nn.Module):
    """Categorical MLP policy: ``logits = net(normalise(obs))``.

    Example:
        >>> network = PolicyNetwork(PolicyConfig("CartPole-v1", obs_dim=4, n_actions=2, hidden_sizes=(16,)))
        >>> network(torch.zeros(1, 4)).shape
        torch.Size([1, 2])
    """

    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.config = config
        self.net = mlp([config.obs_dim, *config.hidden_sizes, config.n_actions], config.activation)
        if config.obs_norm:
            self.register_buffer("obs_mean", torch.zeros(config.obs_dim))
            self.register_buffer("obs_var", torch.ones(config.obs_dim))
            self.register_buffer("obs_count", torch.zeros((), dtype=torch.float64))

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        if not self.config.obs_norm:
            return obs
        return ((obs - self.obs_mean) / torch.sqrt(self.obs_var + 1e-8)).clamp_(-10.0, 10.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(obs))

    @torch.no_grad()
    def update_obs_stats(self, batch: torch.Tensor) -> None:
        """Merge a batch of raw observations into the running mean/variance (parallel Welford)."""
        if not self.config.obs_norm or batch.shape[0] == 0:
            return
        batch = batch.double()
        b_mean, b_var, b_n = batch.mean(0), batch.var(0, unbiased=False), batch.shape[0]
        n = self.obs_count.item()
        mean, var = self.obs_mean.double(), self.obs_var.double()
        if n == 0:
            var = torch.zeros_like(var)
        total = n + b_n
        delta = b_mean - mean
        new_mean = mean + delta * b_n / total
        m2 = var * n + b_var * b_n + delta.pow(2) * n * b_n / total
        self.obs_mean.copy_(new_mean.float())
        self.obs_var.copy_((m2 / total).float())
        self.obs_count.fill_(total)

    @torch.no_grad()
    def to_policy(self) -> Policy:
        """A numpy snapshot of the current weights (what evaluation, recording and saving use)."""
        return Policy(self.config, {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()})

    def sampler(self) -> NumpySampler:
        """A frozen numpy copy of the current weights for fast acting (no torch dispatch per environment step)."""
        return self.to_policy().sampler()


def network_from_policy(policy: Policy) -> PolicyNetwork:
    """A trainable copy of a loaded policy (same weights)."""
    network = PolicyNetwork(policy.config)
    network.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in policy.state_dict().items()})
    return network


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
