"""The policy for inference, in numpy: its config, safetensors save/load, and the forward pass that plays episodes.

Evaluating, recording and verifying agents never need torch: the weights are read with ``safetensors.numpy`` into a
:class:`Policy`, whose forward pass is a few numpy operations. Training uses the torch network in
:mod:`hubrl.network`, which hands the same numpy forward pass (:meth:`~hubrl.network.PolicyNetwork.sampler`) to the
episode loops, so a trained agent plays exactly as its saved copy does.

The network is a torso and a head. The torso is an MLP on the observation vector (normalised by running statistics,
when used, which are part of the weights), or for ``uint8`` images a stack of convolutions (the Nature CNN for Atari)
before the MLP. The head is categorical for ``Discrete`` actions (logits; softmax gives the course's action
probabilities) or a diagonal Gaussian for ``Box`` actions (the MLP gives the mean, a learned ``log_std`` the spread;
a sample is clipped or tanh-squashed into the action space's bounds, as ``action_bounds`` in config.json says).
The convolutions run in numpy too: on this machine they are within 2x of torch's (``benchmarks/conv_inference.py``),
so inference never imports torch. Weights are only ever written as safetensors: no pickle.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hubrl.envs.facts import ENVS
from hubrl.envs.observation import ObservationSpec
from hubrl.errors import AgentFormatError, ConfigError
from hubrl.folders import FILE_MODE

ACTIVATIONS = ("relu", "tanh", "leaky_relu", "elu", "sigmoid")
"""Hidden activations: hubrl trains with relu or tanh; the others hold course policies written with them."""
ACTIVATION_DEFAULTS = {"leaky_relu": 0.01, "elu": 1.0}
"""The activations that take a parameter (leaky_relu's negative_slope, elu's alpha) and torch's default for it."""
HEADS = ("categorical", "gaussian")
"""``categorical``: one of n Discrete actions; ``gaussian``: a diagonal Gaussian over Box actions."""
ACTION_BOUNDS = ("clip", "squash", "none")
"""How a Gaussian sample becomes a Box action: ``clip`` (the sample, in units where the space's bounds are -1 and 1,
is clipped to them and scaled), ``squash`` (tanh, then scaled; never on the bound itself), ``none`` (unbounded
spaces: the sample as it is)."""
NATURE_CNN = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
"""The convolutions of the DQN paper's network (Mnih et al. 2015): (channels, kernel, stride), ReLU after each;
with one hidden layer of 512 after them, the Nature CNN."""
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
"""Most weights a policy may have (64 MiB of float32) where hubrl knows no cap for its env
(:attr:`hubrl.envs.facts.EnvInfo.max_parameters`): configs come from other people's repos."""
MAX_OBS_VALUES = 1 << 20
"""Most numbers one observation may hold (an image of 4 x 512 x 512)."""
MAX_CONV_LAYERS = 8
MAX_KERNEL = 16
MAX_ACTIVATIONS = 1 << 22
"""Most numbers the convolutions may produce per observation (memory of a forward pass, bounded before it runs)."""
MAX_CONV_MACS = 1 << 27
"""Most multiply-adds the convolutions may cost per observation (the Nature CNN on 84x84x4 frames: 7.7M): the
weight cap alone does not bound them, since a convolution reuses its weights at every position."""


def _count(name: str, value: Any, *, limit: int = MAX_WIDTH) -> int:
    """A whole number in 1..limit, or one line (configs are untrusted: ``"x"``, ``1e308``, ``True`` all end here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise ConfigError(f"{name} must be a whole number from 1 to {limit}, got {value!r:.40}")
    return value


def _sequence(name: str, value: Any, *, limit: int) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not 0 < len(value) <= limit:
        raise ConfigError(f"{name} must be a list of 1 to {limit} values, got {value!r:.60}")
    return tuple(value)


def conv_shapes(obs_shape: tuple[int, ...], conv_layers: tuple[tuple[int, int, int], ...], *,
                channels_last: bool = False) -> list[tuple[int, int, int]]:
    """(channels, height, width) after each convolution (no padding), or one line when the image is too small."""
    if channels_last:
        height, width, channels = obs_shape
    else:
        channels, height, width = obs_shape
    shapes = []
    for out, kernel, stride in conv_layers:
        if kernel > min(height, width):
            raise ConfigError(f"a {kernel}x{kernel} convolution does not fit a {height}x{width} image")
        channels, height, width = out, (height - kernel) // stride + 1, (width - kernel) // stride + 1
        shapes.append((channels, height, width))
    return shapes


@dataclass
class PolicyConfig:
    """Everything needed to rebuild a policy (stored as ``config.json``).

    The first seven fields are those of every hubrl policy so far (a categorical MLP); ``activation_param`` holds
    a course policy's leaky_relu/ELU parameter; the others describe image observations and continuous actions. All
    of these are written to config.json only when they differ from their defaults, so a categorical MLP's
    config.json reads exactly as before.
    """

    env_id: str
    obs_dim: int
    """Numbers in one observation (for images: channels x height x width)."""
    n_actions: int
    """``categorical``: the number of actions; ``gaussian``: the number of action dimensions."""
    hidden_sizes: tuple[int, ...] = (64,)
    activation: str = "relu"
    obs_norm: bool = False
    env_options: ObservationSpec = field(default_factory=ObservationSpec)
    """What the agent observes (:class:`hubrl.envs.observation.ObservationSpec`; a mapping is validated into one).
    Saved as ``env_options``; it never changes the game."""
    activation_param: float | None = None
    """leaky_relu's negative_slope or elu's alpha (torch's default when None); None for the other activations.
    Written to config.json only when set, so configs without it read and write as before."""
    obs_shape: tuple[int, ...] | None = None
    """The observation's shape when it is not a flat vector (images: (C, H, W), or (H, W, C) with
    ``channels_last``); None: ``(obs_dim,)``."""
    conv_layers: tuple[tuple[int, int, int], ...] = ()
    """Convolutions (channels, kernel, stride) before the MLP, for ``uint8`` image observations (scaled to [0, 1]);
    empty: an MLP on the (flattened) observation. :data:`NATURE_CNN` for Atari."""
    channels_last: bool = False
    head: str = "categorical"
    """One of :data:`HEADS`."""
    action_bounds: str = "none"
    """``gaussian`` only: one of :data:`ACTION_BOUNDS`."""
    action_low: tuple[float, ...] | None = None
    """``gaussian`` with ``clip`` or ``squash``: the Box action space's bounds."""
    action_high: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.env_id, str) or not 0 < len(self.env_id) <= 200:
            raise ConfigError(f"env_id must be an environment id string, got {self.env_id!r:.60}")
        _count("obs_dim", self.obs_dim, limit=MAX_OBS_VALUES)
        _count("n_actions", self.n_actions)
        self.hidden_sizes = tuple(_count("hidden_sizes", h)
                                  for h in _sequence("hidden_sizes", self.hidden_sizes, limit=MAX_LAYERS))
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
        for name in ("obs_norm", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r:.40}")
        self._check_observation()
        self._check_head()
        if self.activation not in ("relu", "tanh") and (self.conv_layers or self.head != "categorical"):
            raise ConfigError(f"activation {self.activation} is for the course's MLP policies; convolutional and "
                              "Gaussian policies use relu or tanh")
        info = ENVS.get(self.env_id)
        limit = info.max_parameters if info else MAX_PARAMETERS
        if self.n_parameters() > limit:
            raise ConfigError(f"the policy would have {self.n_parameters():,} weights; hubrl loads at most "
                              f"{limit:,} for {self.env_id}")
        family = info.family if info else None
        self.env_options = ObservationSpec.from_json(self.env_options, family=family)

    def _check_observation(self) -> None:
        if self.obs_shape is not None:
            self.obs_shape = tuple(_count("obs_shape", n) for n in _sequence("obs_shape", self.obs_shape, limit=3))
            if math.prod(self.obs_shape) != self.obs_dim:
                raise ConfigError(f"obs_shape {list(self.obs_shape)} holds {math.prod(self.obs_shape)} numbers, "
                                  f"obs_dim says {self.obs_dim}")
        if not self.conv_layers:
            self.conv_layers = ()
            return
        layers = []
        for layer in _sequence("conv_layers", self.conv_layers, limit=MAX_CONV_LAYERS):
            if isinstance(layer, (str, bytes)) or not isinstance(layer, (list, tuple)) or len(layer) != 3:
                raise ConfigError(f"each of conv_layers is [channels, kernel, stride], got {layer!r:.40}")
            layers.append((_count("conv channels", layer[0], limit=1024),
                           _count("conv kernel", layer[1], limit=MAX_KERNEL),
                           _count("conv stride", layer[2], limit=MAX_KERNEL)))
        self.conv_layers = tuple(layers)
        if self.obs_shape is None or len(self.obs_shape) != 3:
            raise ConfigError("conv_layers need an image observation: obs_shape [channels, height, width]")
        if self.obs_norm:
            raise ConfigError("obs_norm is for vector observations; the convolutions read images scaled to [0, 1]")
        channels = self.obs_shape[-1 if self.channels_last else 0]
        macs = 0
        for (out, kernel, _), shape in zip(self.conv_layers, conv_shapes(self.obs_shape, self.conv_layers,
                                                                         channels_last=self.channels_last)):
            if math.prod(shape) > MAX_ACTIVATIONS:
                raise ConfigError(f"the convolutions would produce {math.prod(shape):,} numbers per observation; "
                                  f"hubrl allows at most {MAX_ACTIVATIONS:,}")
            macs += math.prod(shape) * channels * kernel * kernel
            channels = out
        if macs > MAX_CONV_MACS:
            raise ConfigError(f"the convolutions would cost {macs:,} multiply-adds per observation; hubrl allows at "
                              f"most {MAX_CONV_MACS:,}")

    def _check_head(self) -> None:
        if self.head not in HEADS:
            raise ConfigError(f"head must be one of {list(HEADS)}, got {self.head!r:.40}")
        if self.action_bounds not in ACTION_BOUNDS:
            raise ConfigError(f"action_bounds must be one of {list(ACTION_BOUNDS)}, got {self.action_bounds!r:.40}")
        bounded = self.action_bounds != "none"
        if self.head == "categorical" and (bounded or self.action_low is not None or self.action_high is not None):
            raise ConfigError("action_bounds, action_low and action_high are for gaussian heads (Box actions)")
        if not bounded:
            if self.action_low is not None or self.action_high is not None:
                raise ConfigError("action_low/action_high need action_bounds 'clip' or 'squash'")
            return
        bounds = []
        for name in ("action_low", "action_high"):
            values = _sequence(name, getattr(self, name), limit=MAX_WIDTH)
            if len(values) != self.n_actions or any(
                    isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
                raise ConfigError(f"{name} must hold {self.n_actions} finite numbers, got {values!r:.60}")
            bounds.append(tuple(float(v) for v in values))
        if any(lo >= hi for lo, hi in zip(*bounds)):
            raise ConfigError("action_low must lie below action_high in every dimension")
        self.action_low, self.action_high = bounds

    @property
    def image(self) -> bool:
        """A convolutional torso on image observations."""
        return bool(self.conv_layers)

    def feature_dim(self) -> int:
        """What the MLP reads: the observation's numbers, or the convolutions' output."""
        if not self.conv_layers:
            return self.obs_dim
        return math.prod(conv_shapes(self.obs_shape, self.conv_layers, channels_last=self.channels_last)[-1])

    def n_parameters(self) -> int:
        """How many weights the network has (biases and a Gaussian's log_std included)."""
        sizes = [self.feature_dim(), *self.hidden_sizes, self.n_actions]
        total = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
        channels = self.obs_shape[-1 if self.channels_last else 0] if self.conv_layers else 0
        for out, kernel, _ in self.conv_layers:
            total += (channels * kernel * kernel + 1) * out
            channels = out
        return total + (self.n_actions if self.head == "gaussian" else 0)

    _DEFAULTS = {"obs_shape": None, "conv_layers": (), "channels_last": False, "head": "categorical",
                 "action_bounds": "none", "action_low": None, "action_high": None}

    def max_file_bytes(self) -> int:
        """The largest ``model.safetensors`` these weights can take (every value as F64, the largest header):
        a bound checked against the Hub's listed size before a download."""
        from hubrl.untrusted import MAX_SAFETENSORS_HEADER_BYTES

        values = sum(max(1, int(np.prod(shape))) for shape, _ in self.weight_shapes().values())
        return 8 + MAX_SAFETENSORS_HEADER_BYTES + 8 * values

    def to_json(self) -> dict[str, Any]:
        data = {"format": CONFIG_FORMAT, "env_id": self.env_id, "obs_dim": self.obs_dim, "n_actions": self.n_actions,
                "hidden_sizes": list(self.hidden_sizes), "activation": self.activation, "obs_norm": self.obs_norm,
                "env_options": self.env_options.to_json()}
        if self.activation_param is not None:  # only leaky_relu/elu: older configs keep their exact bytes
            data["activation_param"] = self.activation_param
        for name, default in self._DEFAULTS.items():  # only what differs: a categorical MLP's file is as before
            value = getattr(self, name)
            if value != default:
                data[name] = [list(v) for v in value] if name == "conv_layers" else (
                    list(value) if isinstance(value, tuple) else value)
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
        except (TypeError, ValueError) as err:  # ValueError: ConfigError, or a conv layer that is not a triple
            if isinstance(err, ConfigError):
                raise AgentFormatError(f"config.json: {err}") from err
            raise AgentFormatError(f"config.json is incomplete or malformed: {err}") from err

    def weight_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """The state-dict names, shapes and dtypes of this policy's weights (torch's ``nn.Sequential`` naming)."""
        f32 = np.dtype(np.float32)
        sizes = [self.feature_dim(), *self.hidden_sizes, self.n_actions]
        shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        if self.obs_norm:
            shapes["obs_mean"] = ((self.obs_dim,), f32)
            shapes["obs_var"] = ((self.obs_dim,), f32)
            shapes["obs_count"] = ((), np.dtype(np.float64))
        channels = self.obs_shape[-1 if self.channels_last else 0] if self.conv_layers else 0
        for i, (out, kernel, _) in enumerate(self.conv_layers):  # Conv2d at 0, 2, 4, ...: a ReLU between them
            shapes[f"conv.{2 * i}.weight"] = ((out, channels, kernel, kernel), f32)
            shapes[f"conv.{2 * i}.bias"] = ((out,), f32)
            channels = out
        for i in range(len(sizes) - 1):  # Linear layers at 0, 2, 4, ...: an activation sits between them
            shapes[f"net.{2 * i}.weight"] = ((sizes[i + 1], sizes[i]), f32)
            shapes[f"net.{2 * i}.bias"] = ((sizes[i + 1],), f32)
        if self.head == "gaussian":
            shapes["log_std"] = ((self.n_actions,), f32)
        return shapes


@dataclass
class NumpyConv:
    """One convolution (no padding) and its ReLU in numpy, on channels-last batches ``(N, H, W, C)``.

    A ``k x k`` convolution with stride ``s`` is computed as a ``ceil(k/s) x ceil(k/s)`` convolution with stride 1
    over the image rearranged into ``s x s`` blocks ("space to depth"; the kernel padded with zeros to whole blocks):
    its im2col is then a few large contiguous slices instead of ``k * k`` strided ones, which is what makes numpy
    as fast as torch here (``benchmarks/conv_inference.py``).
    """

    blocks: np.ndarray
    """``(kb * kb, s * s * C, out)``: the kernel by block offset."""
    bias: np.ndarray
    kernel: int
    stride: int

    @classmethod
    def from_torch(cls, weight: np.ndarray, bias: np.ndarray, stride: int) -> NumpyConv:
        """From a ``torch.nn.Conv2d`` weight ``(out, C, k, k)``."""
        out, channels, k, _ = weight.shape
        kb = -(-k // stride)
        padded = np.zeros((out, channels, kb * stride, kb * stride), np.float32)
        padded[:, :, :k, :k] = weight
        # (out, C, block_i, i, block_j, j) -> (block_i, block_j, i, j, C, out): rows in space-to-depth order
        blocks = padded.reshape(out, channels, kb, stride, kb, stride).transpose(2, 4, 3, 5, 1, 0)
        return cls(blocks.reshape(kb * kb, stride * stride * channels, out).copy(), bias.astype(np.float32), k,
                   stride)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n, height, width, channels = x.shape
        k, s = self.kernel, self.stride
        kb = -(-k // s)
        ho, wo = (height - k) // s + 1, (width - k) // s + 1
        hb, wb = ho + kb - 1, wo + kb - 1
        if hb * s > height or wb * s > width:  # the zero-padded kernel reaches past the image: pad it with zeros
            x = np.pad(x, ((0, 0), (0, max(0, hb * s - height)), (0, max(0, wb * s - width)), (0, 0)))
        depth = x[:, :hb * s, :wb * s].reshape(n, hb, s, wb, s, channels).transpose(0, 1, 3, 2, 4, 5)
        depth = depth.reshape(n, hb, wb, s * s * channels)
        out = None
        for index in range(kb * kb):
            i, j = divmod(index, kb)
            part = depth[:, i:i + ho, j:j + wo].reshape(n * ho * wo, -1) @ self.blocks[index]
            out = part if out is None else np.add(out, part, out=out)
        out += self.bias
        np.maximum(out, 0.0, out=out)
        return out.reshape(n, ho, wo, -1)


@dataclass
class GaussianHead:
    """A diagonal Gaussian over Box actions: mean from the network, ``std = exp(log_std)`` learned per dimension.

    Samples live in the policy's own units; :meth:`env_actions` maps them into the action space (see
    :data:`ACTION_BOUNDS`): with bounds, -1 and 1 are the space's low and high.
    """

    std: np.ndarray
    bounds: str = "none"
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def env_actions(self, actions: np.ndarray) -> np.ndarray:
        if self.bounds == "none":
            return actions
        unit = np.clip(actions, -1.0, 1.0) if self.bounds == "clip" else np.tanh(actions)
        return (self.low + (unit + 1.0) * (0.5 * (self.high - self.low))).astype(np.float32)

    def log_prob(self, actions: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """log density of the samples (in float64), with the tanh change of variables where squashed."""
        std = self.std.astype(np.float64)
        z = (actions.astype(np.float64) - mean) / std
        logp = (-0.5 * z * z - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
        if self.bounds == "squash":
            logp -= np.log(1.0 - np.tanh(actions.astype(np.float64)) ** 2 + 1e-6).sum(-1)
        return logp


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
    conv: list[NumpyConv] = field(default_factory=list)
    """The convolutional torso (empty: the MLP reads the observation, flattened)."""
    channels_last: bool = False
    """Images arrive (H, W, C) rather than (C, H, W)."""
    gaussian: GaussianHead | None = None
    """The Gaussian head (None: categorical)."""

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """The network's output for a batch of observations: action logits, or a Gaussian head's means.

        Diverged (huge) weights make numpy warn about overflow; the per-step loops run inside
        ``np.errstate(over="ignore", invalid="ignore")`` once (training's NaN check reports divergence) rather
        than paying for the context manager on every call.
        """
        if self.conv:
            x = self.features(obs)
        else:
            x = obs if isinstance(obs, np.ndarray) and obs.dtype == np.float32 else np.asarray(obs, dtype=np.float32)
            if x.ndim > 2:
                x = x.reshape(len(x), -1)
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

    def features(self, obs: np.ndarray) -> np.ndarray:
        """The convolutions' output for a batch of images, flattened channels-last (the first Linear's weights are
        reordered to match once, when the sampler is built)."""
        x = np.asarray(obs)
        if x.ndim == 3:  # (N, H, W): one channel
            x = x[..., None] if self.channels_last else x[:, None]
        x = np.ascontiguousarray(x if self.channels_last else x.transpose(0, 2, 3, 1), dtype=np.float32)
        x *= np.float32(1 / 255)
        for conv in self.conv:
            x = conv(x)
        return x.reshape(len(x), -1)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The random draws for ``n`` actions: ``n`` uniforms in [0, 1), or ``(n, dims)`` standard normals."""
        if self.gaussian is None:
            return rng.random(n)
        return rng.standard_normal((n, len(self.gaussian.std))).astype(np.float32)

    def actions(self, obs: np.ndarray, *, uniforms: np.ndarray | None = None) -> np.ndarray:
        """Sample actions from caller-supplied draws (:meth:`draw`: for a categorical head, uniforms, turned into
        actions by inverse CDF; for a Gaussian head, standard normals, giving ``mean + std * draw``), or take the
        most likely action when ``uniforms`` is None.

        Drawing outside (one generator per episode in evaluation, one per shard in training) keeps every run's
        randomness in the caller's hands, which is what makes runs reproducible. A Gaussian's samples are in the
        policy's units: :meth:`env_actions` bounds them for the env.
        """
        logits = self.logits(obs)
        if self.gaussian is not None:
            return logits if uniforms is None else logits + self.gaussian.std * uniforms
        if uniforms is None:
            return logits.argmax(-1)
        return inverse_cdf(unnormalized_softmax(logits, out=logits), uniforms)

    def env_actions(self, actions: np.ndarray) -> np.ndarray:
        """What the env is stepped with for these sampled actions (a Gaussian's, bounded; a categorical's as are)."""
        return actions if self.gaussian is None else self.gaussian.env_actions(actions)


def one_blas_thread(sampler: Any) -> contextlib.AbstractContextManager:
    """Around a per-step loop: numpy's BLAS on one thread for a convolutional sampler (its multi-threaded matrix
    products are 5-10x slower here, measured with 8 images: 9 ms per step on one thread, 40-110 ms on two on the
    shared 2-core machine); nothing for an MLP (whose products are too small to be threaded)."""
    if not getattr(sampler, "conv", None):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def draw(sampler: Any, rng: np.random.Generator, n: int) -> np.ndarray:
    """The draws ``sampler`` acts on for ``n`` actions (:meth:`NumpySampler.draw`; uniforms for a sampler without
    one, such as a course module's, which is always categorical)."""
    method = getattr(sampler, "draw", None)
    return rng.random(n) if method is None else method(rng, n)


def env_actions(sampler: Any) -> Any:
    """The map from sampled to env actions, or None where they are the same (categorical samplers)."""
    return sampler.env_actions if getattr(sampler, "gaussian", None) is not None else None


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
    """A trained policy in numpy: what :func:`load_policy` and :func:`hubrl.load_from_hub` return.

    It speaks the course notebook's API: ``policy(x)`` / ``policy.forward(x)`` give action probabilities (batch
    first, softmax over the last axis; a Gaussian policy gives its most likely action, bounded for the env) and
    ``policy.act(state)`` samples one action, returning ``(action, log_prob)``, from a generator the policy holds
    (``policy.seed(n)`` restarts it: then the actions are those of seeded evaluation episode ``n``).

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
        config = self.config
        t, n_layers = self._tensors, len(config.hidden_sizes) + 1
        norm = None
        if config.obs_norm:
            norm = (t["obs_mean"].copy(), np.sqrt(t["obs_var"] + 1e-8).astype(np.float32))
        weights = [t[f"net.{2 * i}.weight"] for i in range(n_layers)]
        conv = [NumpyConv.from_torch(t[f"conv.{2 * i}.weight"], t[f"conv.{2 * i}.bias"], stride)
                for i, (_, _, stride) in enumerate(config.conv_layers)]
        if conv:  # torch flattens the convolutions' output (C, H, W), the numpy torso (H, W, C)
            c, h, w = conv_shapes(config.obs_shape, config.conv_layers, channels_last=config.channels_last)[-1]
            first = weights[0]
            weights[0] = first.reshape(len(first), c, h, w).transpose(0, 2, 3, 1).reshape(len(first), -1)
        gaussian = None
        if config.head == "gaussian":
            bounded = config.action_bounds != "none"
            gaussian = GaussianHead(
                std=np.exp(t["log_std"]).astype(np.float32), bounds=config.action_bounds,
                low=np.array(config.action_low, np.float32) if bounded else None,
                high=np.array(config.action_high, np.float32) if bounded else None)
        return NumpySampler(
            weights=[w.T.copy() for w in weights],
            biases=[t[f"net.{2 * i}.bias"].copy() for i in range(n_layers)],
            activation=config.activation,
            norm=norm,
            activation_param=self.config.activation_param,
            conv=conv,
            channels_last=config.channels_last,
            gaussian=gaussian,
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
        """Action probabilities for a batch of observations (softmax of the logits over the last axis); for a
        Gaussian policy, its most likely actions as the env takes them."""
        sampler = self._sampler
        x = np.asarray(x) if sampler.conv else np.asarray(x, dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            if sampler.gaussian is not None:
                return sampler.env_actions(sampler.logits(x))
            return softmax(sampler.logits(x))

    __call__ = forward

    def seed(self, seed: int | None) -> None:
        """Restart the generator :meth:`act` samples from (``None``: fresh entropy)."""
        self._rng = np.random.default_rng(seed)

    def act(self, state: np.ndarray) -> tuple[int | np.ndarray, float]:
        """Sample one action for one observation, as the course's ``Policy.act``: ``(action, log_prob)``.

        A Gaussian policy returns the action as the env takes it (an array, bounded) and the log density of its
        sample."""
        sampler = self._sampler
        obs = (np.asarray(state) if sampler.conv else np.asarray(state, dtype=np.float32))[None]
        with np.errstate(over="ignore", invalid="ignore"):
            if sampler.gaussian is not None:
                mean = sampler.logits(obs)
                sample = sampler.actions(obs, uniforms=sampler.draw(self._rng, 1))
                log_prob = float(sampler.gaussian.log_prob(sample, mean.astype(np.float64))[0])
                return sampler.env_actions(sample)[0], log_prob
            action = int(sampler.actions(obs, uniforms=np.array([self._rng.random()]))[0])
            log_prob = float(log_softmax(sampler.logits(obs)[0].astype(np.float64))[action])
        return action, log_prob

    def to_torch(self) -> Any:
        """This policy as a trainable torch ``nn.Module`` with the course's ``forward`` and ``act``, same probabilities.

        ``forward(x)`` gives action probabilities (softmax over the last axis) and ``act(state)`` samples one action
        with a ``Categorical`` and returns ``(action, log_prob)`` as the notebook's ``Policy`` does, so the course's
        ``reinforce()`` fine-tunes it and :func:`hubrl.course.push_to_hub` pushes it. Only this method imports torch.
        A convolutional or Gaussian policy is outside the course's shape: ``hubrl.network.PolicyNetwork.from_policy``
        gives hubrl's own training network for it (logits or a Gaussian's means).

        Raises:
            ConfigError: a convolutional or Gaussian policy.

        Example:
            >>> model = load_from_hub("bob/Reinforce-CartPole-v1").policy.to_torch()
            >>> optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        """
        if self.config.conv_layers or self.config.head != "categorical":
            raise ConfigError("to_torch() gives the course's Policy, an MLP over discrete actions; for this "
                              "convolutional or Gaussian policy use hubrl.network.PolicyNetwork.from_policy(policy)")
        from hubrl.course.torch_policy import CoursePolicy

        return CoursePolicy(self.config, self.state_dict())

    def __repr__(self) -> str:
        c = self.config
        torso = f"conv {[list(layer) for layer in c.conv_layers]} + " if c.conv_layers else ""
        head = f"gaussian({c.n_actions}, {c.action_bounds})" if c.head == "gaussian" else str(c.n_actions)
        obs = "x".join(map(str, c.obs_shape)) if c.obs_shape else c.obs_dim
        return f"Policy({c.env_id}, {obs} -> {torso}{list(c.hidden_sizes)} -> {head}, {c.activation})"


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
    os.chmod(weights, FILE_MODE)  # safetensors creates it 0600; a run folder's files are all 0644
    (directory / "config.json").write_text(json.dumps(policy.config.to_json(), indent=2) + "\n")
    return sha256_file(weights)


def load_policy(directory: str | Path) -> Policy:
    """Rebuild a policy from ``config.json`` + ``model.safetensors``, strictly: any key or shape mismatch is an error.

    Both files may be someone else's: config.json is read bounded (:func:`hubrl.untrusted.read_json_file`) and
    validated, then the weights' header alone is checked against it (:func:`check_weights_file`); tensor data is
    read only once it is known to be exactly what the config describes.

    Raises:
        AgentFormatError: a file is missing, too large, corrupt, or the weights do not match the config.
    """
    from safetensors import safe_open

    from hubrl.untrusted import UntrustedFileError, read_json_file

    directory = Path(directory)
    try:
        config = PolicyConfig.from_json(read_json_file(directory / "config.json"))
    except FileNotFoundError as err:
        raise AgentFormatError(f"{directory} has no config.json; expected a hubrl run folder") from err
    except UntrustedFileError as err:
        raise AgentFormatError(f"{err}; re-create the run") from None
    weights = directory / "model.safetensors"
    check_weights_file(weights, config)
    try:
        with safe_open(str(weights), framework="np") as f:
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as err:  # safetensors raises its own SafetensorError for corrupt headers/data
        raise AgentFormatError(f"{weights} is corrupt ({err}); re-create the run") from err
    return Policy(config, tensors, source=str(weights))


def check_weights_file(path: str | Path, config: PolicyConfig, *, shown: str | None = None) -> None:
    """The safetensors file at ``path`` holds exactly ``config``'s tensors, read from its header alone.

    Raises:
        AgentFormatError: no such file, not a safetensors file, or a tensor missing, unexpected or of another shape.
    """
    from hubrl.untrusted import UntrustedFileError, read_safetensors_header

    shown = shown or str(path)
    try:
        header = read_safetensors_header(path, what=shown)
    except FileNotFoundError as err:
        raise AgentFormatError(f"{Path(path).parent} has no model.safetensors") from err
    except UntrustedFileError as err:
        raise AgentFormatError(str(err)) from None
    expected = config.weight_shapes()
    missing, unexpected = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
    if missing or unexpected:
        raise AgentFormatError(f"{shown} does not match its config: missing {missing[:8] or 'nothing'}, "
                               f"unexpected {[name[:40] for name in unexpected[:8]] or 'nothing'}")
    for key, (shape, _) in expected.items():
        if header[key].shape != shape:
            raise AgentFormatError(f"{shown}: {key} has shape {header[key].shape}, config expects {shape}")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
