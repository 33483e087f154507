"""The trainable networks (torch): the policy :mod:`hubrl.reinforce` updates, and its optional value baseline.

Only training imports this module. Its weights use the same state-dict names as :class:`hubrl.policy.Policy`, so
:func:`hubrl.policy.save_policy` writes either to identical bytes, and :meth:`PolicyNetwork.sampler` hands the
episode loops the very numpy forward pass a loaded agent uses. A policy is a torso (an MLP on the observation, or
convolutions on an image before it) and a head: categorical logits, or a diagonal Gaussian's mean with a learned
``log_std`` per action dimension.
"""

from __future__ import annotations

import torch
from torch import nn

from hubrl.policy import NumpySampler, Policy, PolicyConfig

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


@torch.no_grad()
def merge_running_stats(mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor, batch: torch.Tensor) -> None:
    """Merge ``batch`` (samples along its first axis) into running mean/variance/count buffers, in place.

    Chan et al.'s parallel Welford update, computed in float64 whatever the buffers' dtype, so statistics over
    millions of samples do not drift.
    """
    if batch.shape[0] == 0:
        return
    batch = batch.double()
    b_mean, b_var, b = batch.mean(0), batch.var(0, unbiased=False), batch.shape[0]
    n = count.item()
    total = n + b
    delta = b_mean - mean.double()
    m2 = var.double() * n + b_var * b + delta.pow(2) * n * b / total
    mean.copy_(mean.double() + delta * b / total)
    var.copy_(m2 / total)
    count.fill_(total)


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def conv_stack(in_channels: int, layers: tuple[tuple[int, int, int], ...]) -> nn.Sequential:
    """Convolutions (channels, kernel, stride; no padding) with a ReLU after each, flattened at the end."""
    modules: list[nn.Module] = []
    for out, kernel, stride in layers:
        modules += [nn.Conv2d(in_channels, out, kernel, stride), nn.ReLU()]
        in_channels = out
    return nn.Sequential(*modules, nn.Flatten())


def network_inputs(config: PolicyConfig, obs: torch.Tensor) -> torch.Tensor:
    """The observation as the networks read it before normalisation: images as float (C, H, W) in [0, 1], vectors
    flattened."""
    if not config.conv_layers:
        return obs.flatten(1) if obs.dim() > 2 else obs
    x = obs.float() * (1 / 255)
    if x.dim() == 3:
        x = x.unsqueeze(-1 if config.channels_last else 1)
    return x.permute(0, 3, 1, 2) if config.channels_last else x


class PolicyNetwork(nn.Module):
    """The policy: ``net(features(normalise(obs)))`` gives categorical logits or a Gaussian's mean (``log_std``
    beside it).

    Example:
        >>> network = PolicyNetwork(PolicyConfig("CartPole-v1", obs_dim=4, n_actions=2, hidden_sizes=(16,)))
        >>> network(torch.zeros(1, 4)).shape
        torch.Size([1, 2])
    """

    def __init__(self, config: PolicyConfig, *, log_std_init: float = 0.0):
        super().__init__()
        self.config = config
        self.conv = None
        if config.conv_layers:  # state-dict names conv.N.*, as hubrl.policy reads them
            self.conv = conv_stack(config.obs_shape[-1 if config.channels_last else 0], config.conv_layers)
        self.net = mlp([config.feature_dim(), *config.hidden_sizes, config.n_actions], config.activation)
        if config.obs_norm:
            self.register_buffer("obs_mean", torch.zeros(config.obs_dim))
            self.register_buffer("obs_var", torch.ones(config.obs_dim))
            self.register_buffer("obs_count", torch.zeros((), dtype=torch.float64))
        if config.head == "gaussian":
            self.log_std = nn.Parameter(torch.full((config.n_actions,), float(log_std_init)))

    @classmethod
    def from_policy(cls, policy: Policy) -> PolicyNetwork:
        """A trainable network holding ``policy``'s weights (the inverse of :meth:`to_policy`)."""
        network = cls(policy.config)
        network.load_state_dict({k: torch.from_numpy(v) for k, v in policy.state_dict().items()})
        return network

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """The observation as the networks read it: normalised by the running statistics, images scaled."""
        obs = network_inputs(self.config, obs)
        if not self.config.obs_norm:
            return obs
        return ((obs - self.obs_mean) / torch.sqrt(self.obs_var + 1e-8)).clamp_(-10.0, 10.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.normalize(obs))

    def head(self, obs_in: torch.Tensor) -> torch.Tensor:
        """The output for observations already as the networks read them (:meth:`normalize`)."""
        return self.net(obs_in if self.conv is None else self.conv(obs_in))

    def update_obs_stats(self, batch: torch.Tensor) -> None:
        """Merge a batch of raw observations into the running mean/variance."""
        if self.config.obs_norm:
            merge_running_stats(self.obs_mean, self.obs_var, self.obs_count, network_inputs(self.config, batch))

    @torch.no_grad()
    def to_policy(self) -> Policy:
        """A numpy snapshot of the current weights (what evaluation, recording and saving use)."""
        return Policy(self.config, {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()})

    def sampler(self) -> NumpySampler:
        """A frozen numpy copy of the current weights for fast acting (no torch dispatch per environment step)."""
        return self.to_policy().sampler()


class ValueBaseline(nn.Module):
    """V(s) fitted to Monte-Carlo returns (no bootstrapping: this stays REINFORCE with a baseline).

    Targets are standardised with running return statistics so one learning rate suits every env's reward scale.
    On images it has convolutions of its own, as the policy's (``policy``: the policy's config).
    """

    def __init__(self, obs_dim: int, hidden_sizes: tuple[int, ...], activation: str, *,
                 policy: PolicyConfig | None = None):
        super().__init__()
        self.conv = None
        if policy is not None and policy.conv_layers:
            self.conv = conv_stack(policy.obs_shape[-1 if policy.channels_last else 0], policy.conv_layers)
            obs_dim = policy.feature_dim()
        self.net = mlp([obs_dim, *hidden_sizes, 1], activation)
        self.register_buffer("ret_mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("ret_var", torch.ones((), dtype=torch.float64))
        self.register_buffer("ret_count", torch.zeros((), dtype=torch.float64))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Standardised value prediction, for observations as the policy's :meth:`~PolicyNetwork.normalize` gives."""
        return self.net(obs if self.conv is None else self.conv(obs)).squeeze(-1)

    def denormalize(self, value: torch.Tensor) -> torch.Tensor:
        return value * self.ret_var.sqrt().float() + self.ret_mean.float()

    def normalize(self, returns: torch.Tensor) -> torch.Tensor:
        return (returns - self.ret_mean.float()) / self.ret_var.sqrt().float().clamp_min(1e-4)

    def update_stats(self, returns: torch.Tensor) -> None:
        """Merge a batch of returns into the running mean/variance the targets are standardised with."""
        merge_running_stats(self.ret_mean, self.ret_var, self.ret_count, returns)
