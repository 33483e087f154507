"""The policy for inference, in numpy: its config, safetensors save/load, and the forward pass that plays episodes.

Evaluating, recording and verifying agents never need torch: the weights are read with ``safetensors.numpy`` into a
:class:`Policy`, whose forward pass is a few numpy operations. Training uses the torch network in
:mod:`hubrl.network`, which hands the same numpy forward pass (:meth:`~hubrl.network.PolicyNetwork.sampler`) to the
episode loops, so a trained agent plays exactly as its saved copy does. The network maps an observation to action
logits (softmax gives the course's action probabilities); running observation statistics, when used, are part of
the weights. Weights are only ever written as safetensors: no pickle.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hubrl.envs.facts import ENVS
from hubrl.envs.observation import ObservationSpec
from hubrl.errors import AgentFormatError, ConfigError

ACTIVATIONS = ("relu", "tanh", "leaky_relu", "elu", "sigmoid")
"""Hidden activations: hubrl trains with relu or tanh; the others hold course policies written with them."""
ACTIVATION_DEFAULTS = {"leaky_relu": 0.01, "elu": 1.0}
"""The activations that take a parameter (leaky_relu's negative_slope, elu's alpha) and torch's default for it."""
CONFIG_FORMAT = "hubrl-policy/1"
"""config.json of a policy hubrl can rebuild (and results.json's ``weights.format`` for it): the one spelling."""
STATE_DICT_FORMAT = "hubrl-state-dict/1"
"""config.json of weights pushed as a module's own state_dict (hubrl.course): loading needs the author's class."""
LEGACY_FORMATS = {"hubrl-policy": CONFIG_FORMAT, "state-dict": STATE_DICT_FORMAT}
"""Earlier spellings of the formats in results.json (read, never written)."""
MAX_WIDTH = 4096
"""Widest layer (and largest observation or action count) a config may ask for."""
MAX_LAYERS = 16
MAX_PARAMETERS = 1 << 24
"""Most weights a policy may have (64 MiB of float32): configs come from other people's repos."""


def _count(name: str, value: Any, *, limit: int = MAX_WIDTH) -> int:
    """A whole number in 1..limit, or one line (configs are untrusted: ``"x"``, ``1e308``, ``True`` all end here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise ConfigError(f"{name} must be a whole number from 1 to {limit}, got {value!r:.40}")
    return value


@dataclass
class PolicyConfig:
    """Everything needed to rebuild a policy (stored as ``config.json``)."""

    env_id: str
    obs_dim: int
    n_actions: int
    hidden_sizes: tuple[int, ...] = (64,)
    activation: str = "relu"
    obs_norm: bool = False
    env_options: ObservationSpec = field(default_factory=ObservationSpec)
    """What the agent observes (:class:`hubrl.envs.observation.ObservationSpec`; a mapping is validated into one).
    Saved as ``env_options``; it never changes the game."""
    activation_param: float | None = None
    """leaky_relu's negative_slope or elu's alpha (torch's default when None); None for the other activations.
    Written to config.json only when set, so configs without it read and write as before."""

    def __post_init__(self) -> None:
        if not isinstance(self.env_id, str) or not 0 < len(self.env_id) <= 200:
            raise ConfigError(f"env_id must be an environment id string, got {self.env_id!r:.60}")
        for name in ("obs_dim", "n_actions"):
            _count(name, getattr(self, name), limit=1 << 20 if name == "obs_dim" else MAX_WIDTH)
        sizes = self.hidden_sizes
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (list, tuple)) or not 0 < len(sizes) <= MAX_LAYERS:
            raise ConfigError(f"hidden_sizes must be a list of 1 to {MAX_LAYERS} layer widths, got {sizes!r:.60}")
        self.hidden_sizes = tuple(_count("hidden_sizes", h) for h in sizes)
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r:.40}")
        if self.activation in ACTIVATION_DEFAULTS:
            param = ACTIVATION_DEFAULTS[self.activation] if self.activation_param is None else self.activation_param
            if isinstance(param, bool) or not isinstance(param, (int, float)) or not math.isfinite(param):
                raise ConfigError(f"activation_param of {self.activation} must be a finite number, got {param!r:.40}")
            self.activation_param = float(param)
        elif self.activation_param is not None:
            raise ConfigError(f"activation {self.activation} takes no activation_param, "
                              f"got {self.activation_param!r:.40}")
        if not isinstance(self.obs_norm, bool):
            raise ConfigError(f"obs_norm must be true or false, got {self.obs_norm!r:.40}")
        if self.n_parameters() > MAX_PARAMETERS:
            raise ConfigError(f"the policy would have {self.n_parameters():,} weights; hubrl loads at most "
                              f"{MAX_PARAMETERS:,}")
        family = ENVS[self.env_id].family if self.env_id in ENVS else None
        self.env_options = ObservationSpec.from_json(self.env_options, family=family)

    def n_parameters(self) -> int:
        """How many weights the network has (biases included)."""
        sizes = [self.obs_dim, *self.hidden_sizes, self.n_actions]
        return sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))

    def to_json(self) -> dict[str, Any]:
        data = {"format": CONFIG_FORMAT, "env_id": self.env_id, "obs_dim": self.obs_dim, "n_actions": self.n_actions,
                "hidden_sizes": list(self.hidden_sizes), "activation": self.activation, "obs_norm": self.obs_norm,
                "env_options": self.env_options.to_json()}
        if self.activation_param is not None:  # only leaky_relu/elu: older configs keep their exact bytes
            data["activation_param"] = self.activation_param
        return data

    @classmethod
    def from_json(cls, data: Any) -> PolicyConfig:
        """A config from ``config.json``'s content, strictly (someone else's file: every value is checked).

        Raises:
            AgentFormatError: not a hubrl policy config (a state_dict push, another format, missing or bad values).
        """
        if not isinstance(data, dict):
            raise AgentFormatError(f"config.json must hold a JSON object, got {type(data).__name__}")
        if data.get("format") == STATE_DICT_FORMAT:  # a student's module hubrl could not rebuild (hubrl.course)
            raise AgentFormatError(f"these weights are {str(data.get('class_name', 'a module'))[:80]}'s own "
                                   f"state_dict, which hubrl cannot rebuild "
                                   f"({str(data.get('reason', 'unknown layers'))[:200]}); loading them "
                                   f"{str(data.get('load', 'needs the author class'))[:200]}")
        if data.get("format") != CONFIG_FORMAT:
            raise AgentFormatError(
                f"config.json has format {str(data.get('format'))[:40]!r}, expected {CONFIG_FORMAT!r}; "
                "was it written by hubrl?"
            )
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        try:
            return cls(**fields)
        except TypeError as err:
            raise AgentFormatError(f"config.json is incomplete: {err}") from err
        except ConfigError as err:
            raise AgentFormatError(f"config.json: {err}") from err

    def weight_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """The state-dict names, shapes and dtypes of this policy's weights (torch's ``nn.Sequential`` naming)."""
        sizes = [self.obs_dim, *self.hidden_sizes, self.n_actions]
        shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        if self.obs_norm:
            shapes["obs_mean"] = ((self.obs_dim,), np.dtype(np.float32))
            shapes["obs_var"] = ((self.obs_dim,), np.dtype(np.float32))
            shapes["obs_count"] = ((), np.dtype(np.float64))
        for i in range(len(sizes) - 1):  # Linear layers at 0, 2, 4, ...: an activation sits between them
            shapes[f"net.{2 * i}.weight"] = ((sizes[i + 1], sizes[i]), np.dtype(np.float32))
            shapes[f"net.{2 * i}.bias"] = ((sizes[i + 1],), np.dtype(np.float32))
        return shapes


@dataclass
class NumpySampler:
    """The policy's forward pass in numpy, for the per-step inner loops of collection, evaluation and recording.

    Torch dispatch costs tens of microseconds per call, more than the whole forward pass of these small networks;
    a numpy snapshot taken once per batch of episodes keeps the per-step cost to a few array operations.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str
    norm: tuple[np.ndarray, np.ndarray] | None = None
    activation_param: float | None = None

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
                if relu:
                    np.maximum(x, 0.0, out=x)
                elif self.activation == "tanh":
                    np.tanh(x, out=x)
                else:
                    x = hidden_activation(x, self.activation, self.activation_param)
        return x

    def actions(self, obs: np.ndarray, *, uniforms: np.ndarray | None = None) -> np.ndarray:
        """Sample actions by inverse CDF from caller-supplied uniforms, or take the argmax when ``uniforms`` is None.

        Drawing the uniforms outside (one generator per episode in evaluation, one per shard in training) keeps
        every run's randomness in the caller's hands, which is what makes runs reproducible.
        """
        logits = self.logits(obs)
        if uniforms is None:
            return logits.argmax(-1)
        return inverse_cdf(unnormalized_softmax(logits, out=logits), uniforms)


def unnormalized_softmax(logits: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """``exp(logits - max)`` over the last axis: the softmax before its division (``out=logits`` reuses the array)."""
    z = np.subtract(logits, logits.max(-1, keepdims=True), out=out)
    return np.exp(z, out=z)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Action probabilities over the last axis (the course's ``F.softmax(x, dim=1)``)."""
    z = unnormalized_softmax(logits)
    return z / z.sum(-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log action probabilities over the last axis, without the underflow of ``log(softmax(logits))``."""
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def inverse_cdf(weights: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Sample one action per row: the first whose cumulative weight exceeds ``u`` times the row's total (float32).

    ``weights`` are non-negative, normalised or not (:func:`unnormalized_softmax`, or a module's probabilities);
    ``uniforms`` holds one draw in [0, 1) per row. The rule is written once because published evaluation numbers
    depend on its every bit.
    """
    u = uniforms.astype(np.float32) if isinstance(uniforms, np.ndarray) else np.asarray(uniforms, np.float32)
    if weights.shape[-1] == 2:
        # The two-action case of the general rule below, with the same float32 operations (same bits):
        # action 1 iff u * (w0 + w1) > w0.
        w0 = weights[..., 0]
        return (w0 < u * (w0 + weights[..., 1])).astype(np.int64)
    cdf = np.cumsum(weights, -1)
    threshold = u[..., None] * cdf[..., -1:]
    return np.minimum((cdf < threshold).sum(-1), cdf.shape[-1] - 1)


def hidden_activation(x: np.ndarray, name: str, param: float | None = None) -> np.ndarray:
    """leaky_relu, elu or sigmoid of a float32 array, as torch computes them (relu and tanh run in place above)."""
    if name == "leaky_relu":
        return np.where(x >= 0, x, x * np.float32(param)).astype(np.float32)
    if name == "elu":
        return np.where(x > 0, x, np.float32(param) * np.expm1(np.minimum(x, 0))).astype(np.float32)
    if name == "sigmoid":
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    raise ConfigError(f"unknown activation {name!r}")


class Actor(Protocol):
    """What the inference entry points need: a :class:`Policy`, or the torch :class:`~hubrl.network.PolicyNetwork`."""

    config: PolicyConfig

    def sampler(self) -> NumpySampler: ...


class Policy:
    """A trained categorical MLP policy in numpy: what :func:`load_policy` and :func:`hubrl.load_from_hub` return.

    It speaks the course notebook's API: ``policy(x)`` / ``policy.forward(x)`` give action probabilities (batch
    first, softmax over the last axis) and ``policy.act(state)`` samples one action, returning
    ``(action, log_prob)``, from a generator the policy holds (``policy.seed(n)`` restarts it: then the actions
    are those of seeded evaluation episode ``n``).

    Args:
        config: the architecture.
        tensors: the weights by state-dict name (``net.0.weight``, ...); keys and shapes must match ``config``
            exactly, so random or partial weights are never left behind.
        source: names the weights in error messages.

    Raises:
        AgentFormatError: a key is missing or unexpected, or a shape differs from the config's.

    Example:
        >>> policy = load_policy("model_cards/reference/CartPole-v1")
        >>> policy.seed(0)
        >>> action, log_prob = policy.act(np.zeros(4, dtype=np.float32))
    """

    def __init__(self, config: PolicyConfig, tensors: Mapping[str, Any], *, source: str = "weights"):
        expected = config.weight_shapes()
        missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        if missing or unexpected:
            raise AgentFormatError(f"{source} does not match its config: missing {missing or 'nothing'}, "
                                   f"unexpected {unexpected or 'nothing'}")
        self.config = config
        self._tensors: dict[str, np.ndarray] = {}
        for key, (shape, dtype) in expected.items():
            value = np.asarray(tensors[key])
            if value.shape != shape:
                raise AgentFormatError(f"{source}: {key} has shape {value.shape}, config expects {shape}")
            self._tensors[key] = np.array(value, dtype=dtype)  # an own copy: later changes to the source stay out
        self._sampler = self._build_sampler()
        self._rng = np.random.default_rng()

    def _build_sampler(self) -> NumpySampler:
        t, n_layers = self._tensors, len(self.config.hidden_sizes) + 1
        norm = None
        if self.config.obs_norm:
            norm = (t["obs_mean"].copy(), np.sqrt(t["obs_var"] + 1e-8).astype(np.float32))
        return NumpySampler(
            weights=[t[f"net.{2 * i}.weight"].T.copy() for i in range(n_layers)],
            biases=[t[f"net.{2 * i}.bias"].copy() for i in range(n_layers)],
            activation=self.config.activation,
            norm=norm,
            activation_param=self.config.activation_param,
        )

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of the weights by state-dict name (what :func:`save_policy` writes)."""
        return {k: v.copy() for k, v in self._tensors.items()}

    def sampler(self) -> NumpySampler:
        """The numpy forward pass the episode loops use (shared: it is never modified)."""
        return self._sampler

    def actions(self, obs: np.ndarray, *, uniforms: np.ndarray | None = None) -> np.ndarray:
        """Actions for a batch of observations (see :meth:`NumpySampler.actions`)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._sampler.actions(obs, uniforms=uniforms)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Action probabilities for a batch of observations (softmax of the logits over the last axis)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return softmax(self._sampler.logits(np.asarray(x, dtype=np.float32)))

    __call__ = forward

    def seed(self, seed: int | None) -> None:
        """Restart the generator :meth:`act` samples from (``None``: fresh entropy)."""
        self._rng = np.random.default_rng(seed)

    def act(self, state: np.ndarray) -> tuple[int, float]:
        """Sample one action for one observation, as the course's ``Policy.act``: ``(action, log_prob)``."""
        obs = np.asarray(state, dtype=np.float32)[None]
        with np.errstate(over="ignore", invalid="ignore"):
            action = int(self._sampler.actions(obs, uniforms=np.array([self._rng.random()]))[0])
            log_prob = float(log_softmax(self._sampler.logits(obs)[0].astype(np.float64))[action])
        return action, log_prob

    def to_torch(self) -> Any:
        """This policy as a trainable torch ``nn.Module`` with the course's ``forward`` and ``act``, same probabilities.

        ``forward(x)`` gives action probabilities (softmax over the last axis) and ``act(state)`` samples one action
        with a ``Categorical`` and returns ``(action, log_prob)`` as the notebook's ``Policy`` does, so the course's
        ``reinforce()`` fine-tunes it and :func:`hubrl.course.push_to_hub` pushes it. Only this method imports torch.

        Example:
            >>> model = load_from_hub("bob/Reinforce-CartPole-v1").policy.to_torch()
            >>> optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        """
        from hubrl.course.torch_policy import CoursePolicy

        return CoursePolicy(self.config, self.state_dict())

    def __repr__(self) -> str:
        c = self.config
        return f"Policy({c.env_id}, {c.obs_dim} -> {list(c.hidden_sizes)} -> {c.n_actions}, {c.activation})"


def _numpy(value: Any) -> np.ndarray:
    """A C-contiguous array of the same shape (``np.ascontiguousarray`` would turn a scalar into shape ``(1,)``)."""
    if not isinstance(value, np.ndarray):
        value = value.detach().cpu().numpy()  # a torch tensor (duck-typed: this module never imports torch)
    return value if value.flags.c_contiguous else value.copy(order="C")


def save_policy(policy: Actor, directory: str | Path) -> str:
    """Write ``model.safetensors`` and ``config.json`` into ``directory``; return the weights' sha256.

    ``policy`` is a :class:`Policy` or a torch :class:`~hubrl.network.PolicyNetwork`: the bytes are the same.
    """
    from safetensors.numpy import save_file

    directory = Path(directory)
    weights = directory / "model.safetensors"
    tensors = {k: _numpy(v) for k, v in policy.state_dict().items()}
    # One metadata key only: safetensors writes a metadata map in arbitrary order, and identical weights must give
    # identical bytes (reproducibility checks, no-op re-pushes).
    save_file(tensors, str(weights), metadata={"format": "pt"})
    (directory / "config.json").write_text(json.dumps(policy.config.to_json(), indent=2) + "\n")
    return sha256_file(weights)


def load_policy(directory: str | Path) -> Policy:
    """Rebuild a policy from ``config.json`` + ``model.safetensors``, strictly: any key or shape mismatch is an error.

    Raises:
        AgentFormatError: a file is missing, corrupt, or the weights do not match the config.
    """
    from safetensors.numpy import load_file

    directory = Path(directory)
    try:
        config = PolicyConfig.from_json(json.loads((directory / "config.json").read_text()))
    except FileNotFoundError as err:
        raise AgentFormatError(f"{directory} has no config.json; expected a hubrl run folder") from err
    except json.JSONDecodeError as err:
        raise AgentFormatError(f"{directory / 'config.json'} is not valid JSON ({err.msg}); re-create the run") from err
    try:
        tensors = load_file(str(directory / "model.safetensors"))
    except FileNotFoundError as err:
        raise AgentFormatError(f"{directory} has no model.safetensors") from err
    except Exception as err:  # safetensors raises its own SafetensorError for corrupt headers/data
        raise AgentFormatError(f"{directory / 'model.safetensors'} is corrupt ({err}); re-create the run") from err
    return Policy(config, tensors, source=str(directory / "model.safetensors"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
