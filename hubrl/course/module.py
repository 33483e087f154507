"""A student's live ``nn.Module`` written as safe weights: rebuilt as hubrl's policy when that is provably the same
agent on the same game, its own ``state_dict`` otherwise. Never a pickle.

"Provably the same agent" means two things, both checked on what the student's own ``act()`` did
(:func:`hubrl.course.play.play`):

* the network hubrl rebuilds from ``forward`` (read by torch.fx, :func:`hubrl.course.trace.trace_policy`) gives, on
  every state ``act()`` saw, the probability ``act()`` itself reported for the action it chose (``exp(log_prob)``),
  within :data:`PROBABILITY_TOLERANCE`; an ``act()`` that rescales the state, or samples differently, fails here;
* the env the student played is one hubrl rebuilds from its spec (:func:`env_options_of`): the registered game, its
  registered episode cap, no wrapper that changes what the agent sees or earns.

Then ``model.safetensors`` + ``config.json`` load with no code and ``hubrl evaluate REPO`` reproduces the pushed
numbers. Otherwise the module's ``state_dict`` goes in ``model.safetensors`` with a ``config.json`` of format
:data:`hubrl.policy.STATE_DICT_FORMAT` that says why classmates need the author's class.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hubrl.envs import env_info, make_env
from hubrl.errors import AgentFormatError, ConfigError, HubrlError, first_line
from hubrl.policy import CONFIG_FORMAT, STATE_DICT_FORMAT

__all__ = ["ModuleConversion", "convert_module", "env_id_of", "env_options_of"]

PROBABILITY_TOLERANCE = 1e-5
"""Largest difference accepted between the probability ``act()`` reported and the rebuilt network's (float noise)."""
OBSERVERS = ("RecordEpisodeStatistics", "RecordVideo")
"""Wrappers that watch an env without changing what the agent sees or earns."""


def env_id_of(env: Any) -> str:
    """The gymnasium id of ``env`` (``env.spec.id``), checked against hubrl's environments.

    Raises:
        ConfigError: the env has no spec. UnknownEnvError: a game hubrl does not know.
    """
    spec = getattr(env, "spec", None)
    env_id = getattr(spec, "id", None)
    if not isinstance(env_id, str):
        raise ConfigError(f"cannot tell which game {type(env).__name__} is (it has no spec.id); "
                          "make it with gymnasium.make(env_id)")
    env_info(env_id)  # UnknownEnvError with the list of known ids
    return env_id


def _wrapper_chain(env: Any) -> list[Any]:
    chain = []
    while env is not None and len(chain) < 64:
        chain.append(env)
        env = getattr(env, "env", None)
    return chain


def env_options_of(env: Any) -> tuple[dict[str, Any] | None, str]:
    """The ``env_options`` with which :func:`hubrl.envs.make_env` rebuilds ``env`` exactly, or ``(None, why not)``.

    Compared from the specs: the game's entry point and ``make`` arguments (``render_mode`` aside), the episode cap
    (``max_episode_steps``) and the wrappers added after ``make`` (observers such as ``RecordEpisodeStatistics``
    aside; hubrl's own ``ObservationHistory`` becomes ``obs_lags``).
    """
    from hubrl.envs.history import ObservationHistory

    env_id = env_id_of(env)
    options: dict[str, Any] = {}
    for layer in _wrapper_chain(env):
        if isinstance(layer, ObservationHistory):
            options = {"obs_lags": list(layer.lags)}
            break
    ours_env = make_env(env_id, **options)
    try:
        ours, theirs = ours_env.spec, env.spec
    finally:
        ours_env.close()
    if theirs.max_episode_steps != ours.max_episode_steps:
        return None, (f"your eval_env ends episodes after max_episode_steps={theirs.max_episode_steps}, "
                      f"but {env_id} ends them after {ours.max_episode_steps}")
    kwargs = {k: v for k, v in theirs.kwargs.items() if k != "render_mode"}
    if theirs.entry_point != ours.entry_point or kwargs != {k: v for k, v in ours.kwargs.items()
                                                            if k != "render_mode"}:
        return None, f"your eval_env is {env_id} made with {kwargs or theirs.entry_point}, which hubrl does not make"
    added = [w.name for w in theirs.additional_wrappers if w.name not in OBSERVERS]
    expected = [w.name for w in ours.additional_wrappers]
    if added != expected:
        extra = [name for name in added if name not in expected] or added
        return None, (f"your eval_env is wrapped in {', '.join(extra)}, which changes what the agent sees or "
                      "earns and which hubrl cannot rebuild")
    return options, ""


@dataclass
class ModuleConversion:
    """What hubrl made of a student's module (see :func:`convert_module`)."""

    policy: Any
    """hubrl's rebuilt policy (loaded back from the written files), or None when the state_dict was written."""
    rebuilt: bool
    class_name: str
    reason: str = ""
    """Why classmates need the author's class (empty when rebuilt)."""
    notes: tuple[str, ...] = ()
    states_checked: int = 0
    max_probability_difference: float | None = None
    files: tuple[str, ...] = field(default_factory=lambda: ("model.safetensors", "config.json"))

    def summary(self) -> str:
        """One line for the student: which weights were written and why."""
        if self.rebuilt:
            cfg = self.policy.config
            activation = cfg.activation + (f"({cfg.activation_param:g})" if cfg.activation_param is not None else "")
            return (f"weights: model.safetensors + config.json, loadable with no code (hubrl rebuilt {self.class_name} "
                    f"as an MLP {[cfg.obs_dim, *cfg.hidden_sizes, cfg.n_actions]} {activation}; on the "
                    f"{self.states_checked} states your act() saw it gives the probability act() reported, max "
                    f"difference {self.max_probability_difference:.1e})")
        return (f"weights: model.safetensors holds {self.class_name}'s state_dict (no pickle) and the numbers are what "
                f"your act() scored; classmates need your class to load it because {self.reason}")

    def to_json(self) -> dict[str, Any]:
        """The ``weights`` entry of results.json (the card reads it)."""
        data: dict[str, Any] = {"format": CONFIG_FORMAT if self.rebuilt else STATE_DICT_FORMAT,
                                "class_name": self.class_name,
                                "check": {"states": self.states_checked,
                                          "max_probability_difference": self.max_probability_difference}}
        if self.notes:
            data["notes"] = list(self.notes)
        if not self.rebuilt:
            data["reason"] = self.reason
        return data


def _class_name(module: Any) -> str:
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def rebuild_module(module: Any):
    """hubrl's MLP for ``module``: its forward read by torch.fx; when fx cannot trace it (control flow on the input),
    its layers read from the module tree, to be proven by the probability check. ``(rebuilt, "")`` or ``(None, why)``.
    """
    from hubrl.course.rebuild import rebuild_policy, tree_from_module
    from hubrl.course.trace import trace_policy

    try:
        return trace_policy(module), ""
    except AgentFormatError as err:
        if not str(err).startswith("torch.fx cannot trace"):
            return None, str(err)
        traced_error = str(err)
    try:
        return rebuild_policy(tree_from_module(module)), ""
    except HubrlError as err:
        return None, f"{traced_error}, and its layers are not the course MLP ({first_line(err)})"


def _check(policy: Any, played: Any) -> tuple[float | None, str]:
    """Max difference between the rebuilt network's probability of each chosen action and the one act() reported."""
    if played.states is None or played.probabilities is None:
        return None, "act() returned no log-probability hubrl can read, so nothing proves the rebuilt network is yours"
    if len(played.actions) == 0:
        return None, "no state was played"
    if played.states.ndim != 2 or played.states.shape[1] != policy.config.obs_dim:
        return None, (f"the states act() saw have shape {played.states.shape[1:]}, but the network's first layer "
                      f"takes {policy.config.obs_dim} values")
    with np.errstate(over="ignore", invalid="ignore"):
        ours = policy.forward(played.states.astype(np.float32))[np.arange(len(played.actions)), played.actions]
    diff = float(np.max(np.abs(ours.astype(np.float64) - played.probabilities)))
    if not np.isfinite(diff):
        diff = float("inf")
    if diff <= PROBABILITY_TOLERANCE:
        return diff, ""
    return diff, (f"on the {len(played.actions)} states your act() saw, the network its forward defines gives the "
                  f"chosen action a probability up to {diff:.2g} away from the one act() reported (does act() change "
                  "the state before calling forward, or sample from something else?)")


def convert_module(module: Any, env: Any, directory: str | Path, *, played: Any) -> ModuleConversion:
    """Write the student's ``module`` into ``directory`` as safe weights and say what they are.

    Args:
        module: the student's ``nn.Module``.
        env: the env its ``act()`` played (the notebook's ``eval_env``).
        directory: where ``model.safetensors`` and ``config.json`` go.
        played: :func:`hubrl.course.play.play` of this module on ``env`` (its states, actions and probabilities).

    Raises:
        AgentFormatError: ``module`` is not an ``nn.Module``.
        ConfigError / UnknownEnvError: ``env`` is not a game hubrl knows.
    """
    import torch
    from safetensors.numpy import save_file

    from hubrl.policy import PolicyConfig, load_policy

    if not isinstance(module, torch.nn.Module):
        raise AgentFormatError(f"the model must be your torch.nn.Module (the notebook's Policy), "
                               f"got {type(module).__name__}")
    directory = Path(directory)
    env_id = env_id_of(env)
    name = _class_name(module)
    rebuilt, reason = rebuild_module(module)
    options, env_reason = env_options_of(env)
    diff, states_checked, notes = None, 0, ()
    if rebuilt is not None:
        notes = tuple(rebuilt.notes)
        config = PolicyConfig(env_id=env_id, obs_dim=rebuilt.obs_dim, n_actions=rebuilt.n_actions,
                              hidden_sizes=tuple(rebuilt.hidden_sizes), activation=rebuilt.activation,
                              activation_param=rebuilt.activation_param, env_options=options or {})
        tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in rebuilt.tensors.items()}
        save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
        (directory / "config.json").write_text(json.dumps(config.to_json(), indent=2) + "\n")
        policy = load_policy(directory)
        diff, reason = _check(policy, played)
        states_checked = len(played.actions)
        if not reason and options is not None:
            return ModuleConversion(policy=policy, rebuilt=True, class_name=name, notes=notes,
                                    states_checked=states_checked, max_probability_difference=diff)
        reason = reason or env_reason
    _write_state_dict(module, directory, env_id=env_id, class_name=name, reason=reason, env=env)
    return ModuleConversion(policy=None, rebuilt=False, class_name=name, reason=reason, notes=notes,
                            states_checked=states_checked, max_probability_difference=diff)


def _write_state_dict(module: Any, directory: Path, *, env_id: str, class_name: str, reason: str, env: Any) -> None:
    """The module's own ``state_dict`` as safetensors, and a config.json that says loading needs its class."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").clone().contiguous() for k, v in module.state_dict().items()}
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    short = class_name.rsplit(".", 1)[-1]
    config = {
        "format": STATE_DICT_FORMAT,
        "env_id": env_id,
        "obs_shape": list(getattr(env.observation_space, "shape", None) or ()),
        "n_actions": int(getattr(env.action_space, "n", 0)),
        "class_name": class_name,
        "reason": reason,
        "load": (f"needs the author's class: model = {short}(...); "
                 "model.load_state_dict(safetensors.torch.load_file('model.safetensors'))"),
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
