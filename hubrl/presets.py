"""Hyperparameters: the training configuration and the presets for every environment.

Every env registered with gymnasium has ``generic``: a recipe made from the env's facts alone (batch size from its
episode length, a value baseline, an entropy bonus, observation and return normalisation; for ALE games the Nature
CNN on gymnasium's Atari preprocessing), meant to learn on an env nobody tuned it for. ``default`` is the env's tuned
recipe where hubrl has one (the course envs, Acrobot-v1, LunarLander-v3, Pendulum-v1, ALE/Breakout-v5), else
``generic``. The course envs also have ``course``, the Deep RL Course notebook's recipe (one episode per update, the
course's network, learning rate and episode count), and ALE/Pong-v5 has ``ram`` (the 128-byte console RAM instead of
pixels); its ``default`` keeps the course era's Pong-only pixel pipeline. ``hubrl train ENV --preset NAME
--set key=value`` starts from a preset and overrides single fields.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from hubrl.envs import ENV_BACKENDS, env_info, observation_spec
from hubrl.envs.observation import ObservationSpec
from hubrl.errors import ConfigError
from hubrl.policy import NATURE_CNN


@dataclass
class TrainConfig:
    """Everything that decides a training run. Saved whole in ``hyperparameters.json``."""

    env_id: str
    """The gymnasium id (any registered env; :func:`hubrl.envs.env_info` gives its facts)."""
    preset: str = "default"
    """The preset this config started from (``course``, ``default``, ...)."""
    seed: int = 0
    """Run seed: network init, env seeds and action sampling all derive from it."""
    # network
    hidden_sizes: tuple[int, ...] = (64,)
    """Policy hidden layer widths (the course's ``h_size`` is the first)."""
    activation: str = "relu"
    """``relu`` or ``tanh`` between the policy's (and value net's) layers."""
    obs_norm: bool = False
    """Normalise vector observations by running statistics, saved with the weights (images are scaled to [0, 1]
    instead: it does not apply to them)."""
    conv_layers: tuple[tuple[int, int, int], ...] = NATURE_CNN
    """Convolutions (channels, kernel, stride) before the hidden layers, used when the env's observations are
    ``uint8`` images (the Nature CNN by default); vector observations go straight to the hidden layers."""
    action_bounds: str = "clip"
    """Box actions: how the Gaussian's samples reach the space's bounds, ``clip`` or ``squash`` (tanh); see
    :data:`hubrl.policy.ACTION_BOUNDS`. Recorded in the agent's config.json."""
    log_std_init: float = 0.0
    """Box actions: the Gaussian's initial log standard deviation (0: std 1, half the way across the bounds)."""
    head_init_scale: float = 1.0
    """The policy's last layer is initialised at this scale of torch's default (PPO implementations use 0.01): the
    first policy is then near uniform (or a Gaussian centred on the middle of the bounds) whatever the seed's
    initial weights, so early exploration does not depend on them. 1: torch's default initialisation."""
    # budget: training stops at whichever limit comes first
    n_training_episodes: int = 1000
    """Stop after this many training episodes."""
    max_env_steps: int | None = None
    """Stop after this many env steps (None: no limit); schedules run over it too."""
    time_budget_s: float | None = None
    """Stop after this much training time, in seconds (None: no limit)."""
    max_t: int = 1000
    """Episode cap (the course's ``max_t``) for validation and evaluation."""
    train_max_t: int | None = None
    """Cut training episodes at this many steps (None: ``max_t``). A batch waits for its longest episode, so
    with long, uneven episodes most copies sit finished; cutting keeps them all busy. Validation and evaluation
    still play to ``max_t``."""
    train_autoreset: bool = False
    """With ``train_max_t``: every copy plays exactly ``train_max_t`` steps per update, starting a new episode
    whenever one ends, so no copy ever waits (only each copy's last episode is cut)."""
    cut_tail: int = 0
    """Steps at the end of a cut episode left out of the loss: their reward-to-go misses the rest of the episode
    (about 3 / (1 - gamma) steps makes the missing part negligible)."""
    # REINFORCE
    batch_episodes: int = 1
    """Episodes collected in parallel (one per vector-env copy) for each update."""
    gamma: float = 0.99
    """Discount factor of the reward-to-go returns."""
    lr: float = 1e-2
    """Adam learning rate of the policy."""
    lr_final: float | None = None
    """Linear learning-rate decay towards this value over the episode budget (None: constant)."""
    normalize_returns: bool = True
    """Standardise returns (or advantages) over the batch, as the course does per episode."""
    baseline: bool = False
    """Learned state-value baseline (Monte-Carlo targets, no bootstrapping): advantage = G - V(s)."""
    value_hidden_sizes: tuple[int, ...] = (64,)
    """Value baseline hidden layer widths."""
    value_lr: float = 1e-3
    """Adam learning rate of the value baseline."""
    ent_coef: float = 0.0
    """Entropy bonus weight in the loss."""
    ent_coef_final: float | None = None
    """Linear entropy-bonus schedule towards this value over the episode budget (None: constant)."""
    max_grad_norm: float | None = None
    """Clip the gradient's global norm to this (None: no clipping)."""
    # validation and model selection (seeds disjoint from the final evaluation's)
    val_every: int = 0
    """Updates between validation evaluations (0: never)."""
    n_val_episodes: int = 10
    """Episodes per separate validation."""
    val_on_batch: bool = False
    """Score the policy on the training batch it just played instead of ``n_val_episodes`` separate episodes:
    free (the batch is a seeded sample of that very policy), but fresh seeds every update."""
    val_threshold: float | None = None
    """Only validate after a batch whose mean training return reaches this (None: every ``val_every`` updates)."""
    target_score: float | None = None
    """Stop once a validation score (mean - std) reaches this."""
    select_best: bool = False
    """Keep the weights with the best validation score instead of the last ones."""
    # final evaluation
    n_evaluation_episodes: int = 10
    """Episodes of the final seeded evaluation (results.json)."""
    env_options: ObservationSpec = field(default_factory=ObservationSpec)
    """What the agent observes (``obs_lags``, ALE ``obs_mode``): saved with the policy; never a game setting."""
    env_backend: str = "auto"
    """How the training copies run (one of :data:`hubrl.envs.ENV_BACKENDS`): an execution setting, recorded here
    but never saved with the agent."""
    torch_threads: int = 1
    """Threads torch may use for the update."""
    rollout_workers: int = 1
    """Processes collecting the batch's episodes in shards (1: in the training process)."""
    checkpoint_every_s: float = 60.0
    """Seconds between checkpoints during training (also saved on Ctrl-C and at the end)."""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(self.hidden_sizes)
        self.value_hidden_sizes = tuple(self.value_hidden_sizes)
        self.conv_layers = tuple(tuple(layer) if isinstance(layer, (list, tuple)) else layer
                                 for layer in self.conv_layers)
        self.validate()

    def validate(self) -> None:
        """Refuse nonsensical values with one clear line each."""
        self.env_options = observation_spec(self.env_id, self.env_options)
        if self.env_backend not in ENV_BACKENDS:
            raise ConfigError(f"unknown env_backend {self.env_backend!r}; choose one of: {', '.join(ENV_BACKENDS)}")

        def positive(name: str, value: Any, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")

        for name in ("n_training_episodes", "max_t", "batch_episodes", "n_evaluation_episodes", "n_val_episodes",
                     "lr", "value_lr", "torch_threads", "rollout_workers", "checkpoint_every_s"):
            positive(name, getattr(self, name))
        for name in ("max_env_steps", "time_budget_s", "lr_final", "max_grad_norm", "train_max_t"):
            positive(name, getattr(self, name), allow_none=True)
        for name in ("hidden_sizes", "value_hidden_sizes"):
            sizes = getattr(self, name)
            if not sizes or any(not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in sizes):
                raise ConfigError(f"{name} must be a non-empty list of positive integers, got {list(sizes)}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"gamma must lie in [0, 1], got {self.gamma!r}")
        for name in ("ent_coef", "ent_coef_final"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ConfigError(f"{name} must be zero or positive, got {value!r}")
        if self.cut_tail < 0 or (self.train_max_t and self.cut_tail >= self.train_max_t):
            raise ConfigError(f"cut_tail must be >= 0 and below train_max_t, got {self.cut_tail}")
        if self.train_max_t and self.train_max_t > self.max_t:
            raise ConfigError(f"train_max_t ({self.train_max_t}) cannot exceed max_t ({self.max_t}); lower train_max_t too")
        if self.train_autoreset and not self.train_max_t:
            raise ConfigError("train_autoreset needs train_max_t: the number of steps every copy plays per update")
        if self.val_on_batch and self.train_max_t and (self.train_max_t < self.max_t or self.train_autoreset):
            raise ConfigError("val_on_batch scores whole training episodes; it cannot be combined with train_max_t")
        if self.val_every < 0:
            raise ConfigError(f"val_every must be 0 (off) or a positive number of updates, got {self.val_every}")
        if self.select_best and not self.val_every:
            raise ConfigError("select_best needs validation: set val_every to a positive number of updates")
        if self.activation not in ("relu", "tanh"):
            raise ConfigError(f"activation must be 'relu' or 'tanh', got {self.activation!r}")
        if self.action_bounds not in ("clip", "squash"):
            raise ConfigError(f"action_bounds must be 'clip' or 'squash', got {self.action_bounds!r}")
        if not isinstance(self.head_init_scale, (int, float)) or not 0 < self.head_init_scale <= 1:
            raise ConfigError(f"head_init_scale must lie in (0, 1], got {self.head_init_scale!r}")
        if not isinstance(self.log_std_init, (int, float)) or not -10 <= self.log_std_init <= 5:
            raise ConfigError(f"log_std_init must be a number from -10 to 5, got {self.log_std_init!r}")
        if not self.conv_layers or any(
                not isinstance(layer, tuple) or len(layer) != 3
                or any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in layer)
                for layer in self.conv_layers):
            raise ConfigError(f"conv_layers must be a list of [channels, kernel, stride] triples of positive "
                              f"integers, got {self.conv_layers!r:.80}")

    @property
    def h_size(self) -> int:
        """The course's single ``h_size`` key: the first hidden layer."""
        return self.hidden_sizes[0]

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["hidden_sizes"] = list(self.hidden_sizes)
        data["value_hidden_sizes"] = list(self.value_hidden_sizes)
        data["conv_layers"] = [list(layer) for layer in self.conv_layers]
        data["env_options"] = self.env_options.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        """A config from ``hyperparameters.json``; an ALE ``workers`` setting saved inside ``env_options`` by hubrl
        before the observation spec had its own type becomes ``env_backend``."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        options = known.get("env_options")
        if isinstance(options, dict) and "workers" in options:
            options = dict(options)
            workers = options.pop("workers")
            if known.get("env_backend", "auto") == "auto":
                known["env_backend"] = workers
            known["env_options"] = options
        return cls(**known)


# One entry per environment: preset name -> overrides of TrainConfig's defaults.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "CartPole-v1": {
        "course": dict(hidden_sizes=(16,), n_training_episodes=1000, max_t=1000, gamma=1.0, lr=1e-2),
        "default": dict(
            hidden_sizes=(32,), batch_episodes=64, n_training_episodes=20000, max_env_steps=1_000_000, max_t=1000,
            gamma=0.99, lr=0.1, val_every=1, val_on_batch=True, target_score=500.0,
            select_best=True,
        ),
    },
    "Pixelcopter-PLE-v0": {
        "course": dict(hidden_sizes=(64, 128), n_training_episodes=50000, max_t=10000, gamma=0.99, lr=1e-4),
        "default": dict(
            hidden_sizes=(64, 64), batch_episodes=128, train_max_t=1000, train_autoreset=True, cut_tail=150,
            env_options={"obs_lags": [6, 12, 24]}, n_training_episodes=10**7, max_env_steps=240_000_000,
            time_budget_s=1200, max_t=10000, gamma=0.99, lr=3e-3, lr_final=3e-4, obs_norm=True, baseline=True,
            ent_coef=0.01, ent_coef_final=0.0, max_grad_norm=1.0, val_every=25, n_val_episodes=64, select_best=True,
            rollout_workers=2, torch_threads=2,
        ),
    },
    "Pong-PLE-v0": {
        "course": dict(hidden_sizes=(64, 128), n_training_episodes=20000, max_t=5000, gamma=0.99, lr=1e-2),
        "default": dict(
            hidden_sizes=(64, 64), batch_episodes=64, train_max_t=2000, train_autoreset=True, cut_tail=300,
            n_training_episodes=10**7, max_env_steps=400_000_000,
            time_budget_s=2400, max_t=5000, gamma=0.99, lr=3e-3, lr_final=3e-4, obs_norm=True, baseline=True,
            ent_coef=0.01, ent_coef_final=0.0, max_grad_norm=1.0, val_every=50, n_val_episodes=32, select_best=True,
            rollout_workers=2, torch_threads=2,
        ),
    },
    "ALE/Pong-v5": {
        "course": dict(hidden_sizes=(64, 128), n_training_episodes=20000, max_t=27000, gamma=0.99, lr=1e-2,
                       env_options={"obs_mode": "pixels"}),
        "default": dict(
            hidden_sizes=(200,), batch_episodes=8, n_training_episodes=100_000, time_budget_s=3600, max_t=27000,
            gamma=0.99, lr=1e-3, baseline=False, max_grad_norm=1.0, env_options={"obs_mode": "pixels"},
            rollout_workers=2,
        ),
        "ram": dict(
            hidden_sizes=(128, 128), batch_episodes=8, n_training_episodes=100_000, time_budget_s=3600, max_t=27000,
            gamma=0.99, lr=1e-3, obs_norm=True, baseline=True, ent_coef=0.01, max_grad_norm=1.0,
            env_options={"obs_mode": "ram"}, rollout_workers=2,
        ),
    },
}


TUNED: dict[str, dict[str, Any]] = {
    # Measured in benchmarks/learning.py runs (README, "Environments"); each is a change to its env's generic recipe.
    "Acrobot-v1": dict(
        batch_episodes=16, lr=3e-3, lr_final=3e-4, max_env_steps=2_000_000, time_budget_s=180, rollout_workers=2,
    ),
    "Pendulum-v1": dict(
        gamma=0.95, batch_episodes=16, lr=3e-3, lr_final=3e-4, ent_coef=0.0, ent_coef_final=None,
        max_env_steps=4_000_000, time_budget_s=900,
    ),
    "LunarLander-v3": dict(
        batch_episodes=16, lr=3e-3, lr_final=3e-4, max_env_steps=50_000_000, time_budget_s=1800, rollout_workers=2,
    ),
    "ALE/Breakout-v5": dict(
        train_max_t=256, cut_tail=64, baseline=False, max_env_steps=2_000_000, time_budget_s=900,
    ),
}
"""The tuned ``default`` recipes of envs outside the course, as changes to :func:`generic_preset`'s."""

STEPS_PER_UPDATE = 16_384
"""``generic``: env steps per update (copies x window), so every env gets batches of about the same size."""
MAX_WINDOW = 1000
"""``generic``: the longest training window; longer episodes are cut (their tails left out of the loss)."""


def generic_preset(env_id: str) -> dict[str, Any]:
    """The ``generic`` recipe for ``env_id``, from its facts alone (:func:`hubrl.envs.env_info`).

    Every copy plays a window of ``min(max_t, 1000)`` steps per update, starting a new episode whenever one ends
    (``train_autoreset``); enough copies for about :data:`STEPS_PER_UPDATE` steps per update; the last
    ``2 / (1 - gamma)`` steps of a cut episode (at most a quarter of the window) stay out of the loss. A value
    baseline, an entropy bonus decaying to 0, normalised observations and standardised advantages, tanh MLP of
    64 x 64 whose last layer starts at 0.01 of its usual scale (a near-uniform first policy: without it, Acrobot
    never reached its goal in 800 episodes for one seed); validation on 16 episodes every 10 updates keeps the best
    policy. Budget: 3M env steps or 30 minutes.
    ALE games get the Nature CNN on gymnasium's Atari preprocessing (84x84 grey frames, 4 stacked), 8 copies
    in ale-py's native vector env (the fastest here, ``benchmarks/atari_backends.py``), 500-step windows.
    """
    info = env_info(env_id)
    gamma = 0.99
    window = min(info.max_t, MAX_WINDOW)
    recipe: dict[str, Any] = dict(
        hidden_sizes=(64, 64), value_hidden_sizes=(64, 64), activation="tanh", obs_norm=True, head_init_scale=0.01,
        batch_episodes=max(8, min(256, math.ceil(STEPS_PER_UPDATE / window))), train_max_t=window,
        train_autoreset=True, cut_tail=min(window // 4, round(2 / (1 - gamma))), max_t=info.max_t,
        n_training_episodes=10**8, max_env_steps=3_000_000, time_budget_s=1800, gamma=gamma, lr=1e-3,
        lr_final=1e-4, baseline=True, value_lr=1e-3, ent_coef=0.01, ent_coef_final=0.0, max_grad_norm=1.0,
        val_every=10, n_val_episodes=16, select_best=True,
    )
    if info.family == "atari":
        window = min(info.max_t, 500)
        recipe.update(
            env_options={"obs_mode": "frames"}, hidden_sizes=(512,), value_hidden_sizes=(512,), activation="relu",
            obs_norm=False, conv_layers=NATURE_CNN, batch_episodes=8, train_max_t=window, cut_tail=window // 4,
            lr=2.5e-4, lr_final=2.5e-5, value_lr=2.5e-4, max_env_steps=10_000_000, time_budget_s=3600,
            n_val_episodes=8, val_every=25, env_backend="native", torch_threads=2,
        )
    return recipe


def preset_names(env_id: str) -> list[str]:
    """The presets ``env_id`` has: its own (``default``, ``course``, ...) and ``generic``; ``default`` first."""
    env_id = env_info(env_id).env_id
    own = list(PRESETS.get(env_id, {}))
    return list(dict.fromkeys(["default", *own, "generic"]))


def preset_values(env_id: str, preset: str) -> dict[str, Any]:
    """The overrides of :class:`TrainConfig`'s defaults that ``preset`` makes for ``env_id``."""
    own = PRESETS.get(env_id, {})
    if preset in own:
        return own[preset]
    if preset == "default" and env_id in TUNED:
        return {**generic_preset(env_id), **TUNED[env_id]}
    if preset in ("generic", "default"):
        return generic_preset(env_id)
    raise ConfigError(f"unknown preset {preset!r} for {env_id}; choose one of: {', '.join(preset_names(env_id))}")


def make_config(env_id: str, preset: str = "default", **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a preset plus overrides.

    Raises:
        UnknownEnvError: gymnasium does not know ``env_id``.
        ConfigError: an unknown preset or hyperparameter, or a nonsensical value.

    Example:
        >>> make_config("CartPole-v1", "course", seed=3).lr
        0.01
        >>> make_config("MountainCarContinuous-v0").preset  # an env without a tuned recipe: the generic one
        'default'
    """
    env_info(env_id)
    values = preset_values(env_id, preset)
    unknown = sorted(set(overrides) - set(TrainConfig.__dataclass_fields__) - {"env_id", "preset"})
    if unknown:
        raise ConfigError(f"unknown hyperparameter(s) {', '.join(unknown)}; known: {', '.join(TrainConfig.__dataclass_fields__)}")
    values = copy.deepcopy({**values, **overrides})  # a config never shares a dict with the table
    return TrainConfig(env_id=env_id, preset=preset, **values)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--set key=value`` (value as JSON when it parses, else a string; ``a,b`` lists for sizes)."""
    import json

    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    if key not in TrainConfig.__dataclass_fields__ or key in ("env_id", "preset"):
        raise ConfigError(f"unknown hyperparameter {key!r}; known: {', '.join(TrainConfig.__dataclass_fields__)}")
    if key.endswith("hidden_sizes"):
        try:
            return key, tuple(int(x) for x in raw.strip("[]() ").split(",") if x.strip())
        except ValueError:
            raise ConfigError(f"{key} expects comma-separated integers like 64,64, got {raw!r}") from None
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, {"none": None, "true": True, "false": False}.get(raw.lower(), raw)
