"""The policy network: a categorical MLP, its config, and safetensors save/load.

The network maps an observation to action logits (softmax gives the course's action probabilities). It can hold
running observation statistics as buffers, so normalisation learned in training is saved with the weights and
applied identically at evaluation. Weights are only ever written as safetensors: no pickle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from hubrl.errors import AgentFormatError, ConfigError

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
CONFIG_FORMAT = "hubrl-policy/1"


@dataclass
class PolicyConfig:
    """Everything needed to rebuild a :class:`Policy` (stored as ``config.json``)."""

    env_id: str
    obs_dim: int
    n_actions: int
    hidden_sizes: tuple[int, ...] = (64,)
    activation: str = "relu"
    obs_norm: bool = False
    env_options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for :func:`hubrl.envs.make_env` (e.g. ``{"obs_mode": "pixels"}`` for ALE Pong)."""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if self.obs_dim <= 0 or self.n_actions <= 0:
            raise ConfigError(f"policy needs positive obs_dim and n_actions, got {self.obs_dim} and {self.n_actions}")
        if any(h <= 0 for h in self.hidden_sizes):
            raise ConfigError(f"hidden sizes must be positive integers, got {list(self.hidden_sizes)}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["hidden_sizes"] = list(self.hidden_sizes)
        return {"format": CONFIG_FORMAT, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicyConfig:
        if data.get("format") != CONFIG_FORMAT:
            raise AgentFormatError(
                f"config.json has format {data.get('format')!r}, expected {CONFIG_FORMAT!r}; was it written by hubrl?"
            )
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        try:
            return cls(**fields)
        except TypeError as err:
            raise AgentFormatError(f"config.json is incomplete: {err}") from None


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Policy(nn.Module):
    """Categorical MLP policy: ``logits = net(normalise(obs))``.

    Example:
        >>> policy = Policy(PolicyConfig("CartPole-v1", obs_dim=4, n_actions=2, hidden_sizes=(16,)))
        >>> policy(torch.zeros(1, 4)).shape
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
    def act(self, obs: np.ndarray, *, uniforms: np.ndarray | None = None) -> np.ndarray:
        """Actions for a batch of observations (see :meth:`NumpySampler.act`); for loops use :meth:`sampler`."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self.sampler().act(obs, uniforms=uniforms)

    @torch.no_grad()
    def sampler(self) -> NumpySampler:
        """A frozen numpy copy of the current weights for fast acting (no torch dispatch per environment step)."""
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        norm = None
        if self.config.obs_norm:
            norm = (self.obs_mean.numpy().copy(), np.sqrt(self.obs_var.numpy() + 1e-8).astype(np.float32))
        return NumpySampler(
            weights=[m.weight.detach().numpy().T.copy() for m in linears],
            biases=[m.bias.detach().numpy().copy() for m in linears],
            activation=self.config.activation,
            norm=norm,
        )


@dataclass
class NumpySampler:
    """The policy's forward pass in numpy, for the per-step inner loops of rollouts, evaluation and recording.

    Torch dispatch costs tens of microseconds per call, more than the whole forward pass of these small networks;
    a numpy snapshot taken once per batch of episodes keeps the per-step cost to a few array operations.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str
    norm: tuple[np.ndarray, np.ndarray] | None = None

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """Action logits for a batch of observations.

        Diverged (huge) weights make numpy warn about overflow; the per-step loops run inside
        ``np.errstate(over="ignore", invalid="ignore")`` once (training's NaN check reports divergence) rather
        than paying for the context manager on every call.
        """
        x = obs if isinstance(obs, np.ndarray) and obs.dtype == np.float32 else np.asarray(obs, dtype=np.float32)
        if self.norm is not None:
            x = np.clip((x - self.norm[0]) / self.norm[1], -10.0, 10.0)
        last = len(self.weights) - 1
        relu = self.activation == "relu"
        for i in range(last + 1):
            x = x @ self.weights[i]
            x += self.biases[i]  # in place: same bits as x + b, one allocation less per layer
            if i < last:
                x = np.maximum(x, 0.0, out=x) if relu else np.tanh(x, out=x)
        return x

    def act(self, obs: np.ndarray, *, uniforms: np.ndarray | None = None) -> np.ndarray:
        """Sample actions by inverse CDF from caller-supplied uniforms, or take the argmax when ``uniforms`` is None.

        Drawing the uniforms outside (one generator per episode in evaluation, one per run in training) keeps every
        run's randomness in the caller's hands, which is what makes runs reproducible.
        """
        logits = self.logits(obs)
        if uniforms is None:
            return logits.argmax(-1)
        u = uniforms.astype(np.float32) if isinstance(uniforms, np.ndarray) else np.asarray(uniforms, np.float32)
        z = logits - logits.max(-1, keepdims=True)
        np.exp(z, out=z)
        if z.shape[-1] == 2:
            # The two-action case of the general rule below, with the same float32 operations (same bits):
            # action 1 iff u * (z0 + z1) > z0.
            z0 = z[..., 0]
            return (z0 < u * (z0 + z[..., 1])).astype(np.int64)
        cdf = np.cumsum(z, -1)
        threshold = u[..., None] * cdf[..., -1:]
        return np.minimum((cdf < threshold).sum(-1), cdf.shape[-1] - 1)


def save_policy(policy: Policy, directory: Path) -> str:
    """Write ``model.safetensors`` and ``config.json`` into ``directory``; return the weights' sha256."""
    directory = Path(directory)
    weights = directory / "model.safetensors"
    tensors = {k: v.detach().contiguous().cpu() for k, v in policy.state_dict().items()}
    # One metadata key only: safetensors writes a metadata map in arbitrary order, and identical weights must give
    # identical bytes (reproducibility checks, no-op re-pushes).
    save_file(tensors, str(weights), metadata={"format": "pt"})
    (directory / "config.json").write_text(json.dumps(policy.config.to_json(), indent=2) + "\n")
    return sha256_file(weights)


def load_policy(directory: Path) -> Policy:
    """Rebuild a policy from ``config.json`` + ``model.safetensors``, strictly: any key or shape mismatch is an error."""
    directory = Path(directory)
    try:
        config = PolicyConfig.from_json(json.loads((directory / "config.json").read_text()))
    except FileNotFoundError:
        raise AgentFormatError(f"{directory} has no config.json; expected a hubrl run folder") from None
    except json.JSONDecodeError as err:
        raise AgentFormatError(f"{directory / 'config.json'} is not valid JSON ({err.msg}); re-create the run") from None
    try:
        tensors = load_file(str(directory / "model.safetensors"))
    except FileNotFoundError:
        raise AgentFormatError(f"{directory} has no model.safetensors") from None
    except Exception as err:  # safetensors raises its own SafetensorError for corrupt headers/data
        raise AgentFormatError(f"{directory / 'model.safetensors'} is corrupt ({err}); re-create the run") from None
    policy = Policy(config)
    load_state_dict_strict(policy, tensors, source=str(directory / "model.safetensors"))
    policy.eval()
    return policy


def load_state_dict_strict(policy: Policy, tensors: dict[str, torch.Tensor], *, source: str) -> None:
    """Load weights requiring identical keys and shapes (never leave random weights behind)."""
    expected = policy.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise AgentFormatError(
            f"{source} does not match its config: missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}"
        )
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise AgentFormatError(
                f"{source}: {key} has shape {tuple(tensors[key].shape)}, config expects {tuple(value.shape)}"
            )
    policy.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()}, strict=True)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
