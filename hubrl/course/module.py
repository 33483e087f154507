"""A student's live ``nn.Module`` behind hubrl's inference interface, and rebuilt as hubrl's policy, checked.

The course notebook's ``Policy`` returns action probabilities from ``forward``. :class:`ModuleSampler` samples from
them exactly as hubrl's own sampler does (inverse CDF from caller-supplied uniforms, in eval mode under
``torch.no_grad``), and :func:`convert_module` writes the module as safe weights: ``model.safetensors`` +
``config.json`` that :func:`hubrl.policy.load_policy` loads with no code whenever
:func:`hubrl.course.rebuild.rebuild_policy` knows its layer stack AND the rebuilt network gives the module's own
probabilities on a few thousand real observations; otherwise the module's ``state_dict`` in safetensors. Never a
pickle. The drop-ins (:mod:`hubrl.course.notebook`) and the packaging (:mod:`hubrl.course.convert`) build on it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hubrl.envs import env_info, make_env
from hubrl.errors import AgentFormatError, ConfigError, HubrlError, first_line
from hubrl.policy import CONFIG_FORMAT, STATE_DICT_FORMAT

__all__ = ["ModuleConversion", "ModulePolicy", "ModuleSampler", "convert_module", "env_id_of", "real_states"]

N_CHECK_STATES = 4096
"""Real observations on which the rebuilt network must give the module's own action probabilities."""
PROBABILITY_TOLERANCE = 1e-5
"""Largest difference in any action probability accepted between the module and hubrl's rebuild (float32 noise)."""
CHECK_SEED = 1_000_000
"""Seeds of the episodes that collect the check's observations (far from the evaluation seeds 0, 1, ...)."""


# -- the student's module behind hubrl's inference interface --------------------------------------------------------


def env_id_of(env: Any) -> str:
    """The gymnasium id of ``env`` (``env.spec.id``), checked against hubrl's environments."""
    spec = getattr(env, "spec", None)
    env_id = getattr(spec, "id", None)
    if not isinstance(env_id, str):
        raise ConfigError(f"cannot tell which game {type(env).__name__} is (it has no spec.id); "
                          "make it with gymnasium.make(env_id)")
    env_info(env_id)  # UnknownEnvError with the list of known ids
    return env_id


@contextlib.contextmanager
def _eval_mode(module) -> Iterator[None]:
    """Dropout and friends off while hubrl plays (as at inference), each submodule's own mode restored afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


class ModuleSampler:
    """Actions from the student's module: its probabilities (no_grad, eval mode), sampled by inverse CDF.

    The same rule as hubrl's own sampler: action ``a`` is the number of cumulative probabilities below
    ``u * total``, so one uniform per step decides the action.
    """

    def __init__(self, module, n_actions: int) -> None:
        self.module = module
        self.n_actions = n_actions
        self.name = type(module).__qualname__

    def probabilities(self, obs: np.ndarray) -> np.ndarray:
        """The module's action probabilities for a batch of observations, as float32 ``(batch, n_actions)``."""
        import torch

        param = next(self.module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=device)
        with torch.no_grad(), _eval_mode(self.module):
            try:
                out = self.module(x)
            except Exception as err:
                raise AgentFormatError(
                    f"{self.name}.forward failed on a batch of shape {tuple(x.shape)}: {first_line(err)[:200]}; "
                    "it should take a (batch, state_size) float tensor and return action probabilities"
                ) from err
        if isinstance(out, torch.distributions.Categorical):
            out = out.probs
        if not torch.is_tensor(out):
            raise AgentFormatError(f"{self.name}.forward returned a {type(out).__name__}, not a tensor of action "
                                   "probabilities; end forward with F.softmax(x, dim=1)")
        if tuple(out.shape) != (x.shape[0], self.n_actions):
            raise AgentFormatError(f"{self.name}.forward returned shape {tuple(out.shape)} for {x.shape[0]} states; "
                                   f"expected ({x.shape[0]}, {self.n_actions}) action probabilities")
        probs = out.detach().to("cpu", torch.float32).numpy()
        sums = probs.sum(axis=1)
        if not np.isfinite(probs).all() or (probs < 0).any() or np.abs(sums - 1.0).max() > 1e-3:
            raise AgentFormatError(f"{self.name}.forward returned values that are not action probabilities "
                                   f"(e.g. {np.round(probs[0], 4).tolist()}); end forward with F.softmax(x, dim=1)")
        return probs

    def actions(self, obs: np.ndarray, *, uniforms: np.ndarray | None = None) -> np.ndarray:
        """Sample by inverse CDF from ``uniforms`` (one per state), or the most likely action when None."""
        probs = self.probabilities(obs)
        if uniforms is None:
            return probs.argmax(-1)
        cdf = np.cumsum(probs, -1)
        threshold = np.asarray(uniforms, dtype=np.float32)[..., None] * cdf[..., -1:]
        return np.minimum((cdf < threshold).sum(-1), cdf.shape[-1] - 1)


class ModulePolicy:
    """The student's module with hubrl's inference interface (``config`` + ``sampler()``), for evaluate and video."""

    def __init__(self, module, config) -> None:
        self.module = module
        self.config = config

    def sampler(self) -> ModuleSampler:
        return ModuleSampler(self.module, self.config.n_actions)


# -- rebuilding it as a hubrl policy, checked --------------------------------------------------------------------------


@dataclass
class ModuleConversion:
    """What hubrl made of a student's module (see :func:`convert_module`)."""

    policy: Any
    """What plays: hubrl's rebuilt policy (loaded back from the written files), or the module itself."""
    rebuilt: bool
    class_name: str
    reason: str = ""
    """Why the module could not be rebuilt (empty when it was)."""
    notes: tuple[str, ...] = ()
    states_checked: int = 0
    max_probability_difference: float | None = None
    files: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        """One line for the student: which weights were written and why."""
        if self.rebuilt:
            cfg = self.policy.config
            return (f"weights: model.safetensors + config.json, loadable with no code (hubrl rebuilt {self.class_name} "
                    f"as an MLP {[cfg.obs_dim, *cfg.hidden_sizes, cfg.n_actions]} {cfg.activation}; same action "
                    f"probabilities on {self.states_checked} real states, max difference "
                    f"{self.max_probability_difference:.1e})")
        return (f"weights: model.safetensors holds {self.class_name}'s state_dict only; hubrl cannot rebuild it "
                f"({self.reason}), so loading it needs the author's class")

    def to_json(self) -> dict[str, Any]:
        """The ``weights`` entry of results.json (the card reads it)."""
        data: dict[str, Any] = {"format": CONFIG_FORMAT if self.rebuilt else STATE_DICT_FORMAT,
                                "class_name": self.class_name}
        if self.rebuilt:
            data["check"] = {"states": self.states_checked,
                             "max_probability_difference": self.max_probability_difference}
            if self.notes:
                data["notes"] = list(self.notes)
        else:
            data["reason"] = self.reason
        return data


def _class_name(module) -> str:
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_module(module, env_id: str, env: Any = None):
    """The module and env agree with hubrl's copy of the game; returns hubrl's observation size and action count."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise AgentFormatError(f"the policy must be your torch.nn.Module (the notebook's Policy), "
                               f"got {type(module).__name__}")
    probe = make_env(env_id)
    try:
        obs_space, act_space = probe.observation_space, probe.action_space
    finally:
        probe.close()
    if getattr(act_space, "n", None) is None or len(getattr(obs_space, "shape", ()) or ()) != 1:
        raise ConfigError(f"{env_id} does not have flat observations and discrete actions; hubrl's course "
                          "drop-ins play flat-observation, discrete-action games")
    if env is not None:
        theirs = getattr(getattr(env, "observation_space", None), "shape", None)
        if theirs is not None and tuple(theirs) != tuple(obs_space.shape):
            raise ConfigError(f"your env gives observations of shape {tuple(theirs)} but hubrl plays {env_id} with "
                              f"shape {tuple(obs_space.shape)}; make the env with gymnasium.make({env_id!r})")
    return int(obs_space.shape[0]), int(act_space.n)


def real_states(env_id: str, sampler: ModuleSampler, n: int = N_CHECK_STATES, *, seed: int = CHECK_SEED) -> np.ndarray:
    """``n`` observations from real episodes: even episodes played by the module, odd ones by random actions."""
    env = make_env(env_id)
    rng = np.random.default_rng(seed)
    states: list[np.ndarray] = []
    episode = 0
    try:
        while len(states) < n:
            obs, _ = env.reset(seed=seed + episode)
            by_module = episode % 2 == 0
            while len(states) < n:
                states.append(np.asarray(obs, dtype=np.float32))
                if by_module:
                    action = int(sampler.actions(states[-1][None], uniforms=rng.random(1))[0])
                else:
                    action = int(rng.integers(sampler.n_actions))
                obs, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    break
            episode += 1
    finally:
        env.close()
    return np.stack(states)


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def convert_module(module, env_id: str, directory: str | Path, *, env: Any = None,
                   n_states: int = N_CHECK_STATES) -> ModuleConversion:
    """Write the student's module into ``directory`` as safe weights and say what plays.

    Rebuilt (``model.safetensors`` + ``config.json`` that :func:`hubrl.policy.load_policy` loads with no code) when
    :func:`~hubrl.course.rebuild.rebuild_policy` knows the layer stack and the rebuilt network's probabilities equal
    the module's (within :data:`PROBABILITY_TOLERANCE`) on ``n_states`` real observations; otherwise the module's
    ``state_dict`` as safetensors with a ``config.json`` of format :data:`hubrl.policy.STATE_DICT_FORMAT`.
    Never a pickle.

    Raises:
        AgentFormatError: ``module`` is not an ``nn.Module`` or does not return action probabilities.
        ConfigError / UnknownEnvError: the env is not one hubrl plays, or its observations differ from hubrl's.
    """
    from safetensors.numpy import save_file

    from hubrl.course.rebuild import rebuild_policy, tree_from_module
    from hubrl.policy import PolicyConfig, load_policy

    directory = Path(directory)
    obs_dim, n_actions = _check_module(module, env_id, env)
    sampler = ModuleSampler(module, n_actions)
    sampler.probabilities(np.zeros((1, obs_dim), dtype=np.float32))  # a clear error before any episode is played
    name = _class_name(module)
    reason, notes, diff, states_checked = "", (), None, 0
    try:
        rebuilt = rebuild_policy(tree_from_module(module))
    except HubrlError as err:
        rebuilt, reason = None, str(err)
    if rebuilt is not None and (rebuilt.obs_dim, rebuilt.n_actions) != (obs_dim, n_actions):
        reason = (f"its layers take {rebuilt.obs_dim} inputs and give {rebuilt.n_actions} outputs, "
                  f"but {env_id} has {obs_dim} and {n_actions}")
        rebuilt = None
    if rebuilt is not None:
        config = PolicyConfig(env_id=env_id, obs_dim=rebuilt.obs_dim, n_actions=rebuilt.n_actions,
                              hidden_sizes=tuple(rebuilt.hidden_sizes), activation=rebuilt.activation)
        tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in rebuilt.tensors.items()}
        save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
        (directory / "config.json").write_text(json.dumps(config.to_json(), indent=2) + "\n")
        policy = load_policy(directory)
        states = real_states(env_id, sampler, n_states)
        with np.errstate(over="ignore", invalid="ignore"):
            theirs = sampler.probabilities(states)
            ours = _softmax_rows(policy.sampler().logits(states).astype(np.float64))
        diff = float(np.abs(theirs - ours).max())
        states_checked = len(states)
        if diff <= PROBABILITY_TOLERANCE:
            return ModuleConversion(policy=policy, rebuilt=True, class_name=name, notes=tuple(rebuilt.notes),
                                    states_checked=states_checked, max_probability_difference=diff,
                                    files=("model.safetensors", "config.json"))
        reason = (f"hubrl's rebuild gives action probabilities up to {diff:.2g} away from the module's own on "
                  f"{states_checked} real states")
        notes = tuple(rebuilt.notes)
    _write_state_dict(module, directory, env_id=env_id, class_name=name, reason=reason,
                      obs_dim=obs_dim, n_actions=n_actions)
    config = PolicyConfig(env_id=env_id, obs_dim=obs_dim, n_actions=n_actions)
    return ModuleConversion(policy=ModulePolicy(module, config), rebuilt=False, class_name=name, reason=reason,
                            notes=notes, states_checked=states_checked, max_probability_difference=diff,
                            files=("model.safetensors", "config.json"))


def _write_state_dict(module, directory: Path, *, env_id: str, class_name: str, reason: str, obs_dim: int,
                      n_actions: int) -> None:
    """The module's own ``state_dict`` as safetensors, and a config.json that says loading needs its class."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").clone().contiguous() for k, v in module.state_dict().items()}
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    short = class_name.rsplit(".", 1)[-1]
    config = {
        "format": STATE_DICT_FORMAT,
        "env_id": env_id,
        "obs_dim": obs_dim,
        "n_actions": n_actions,
        "class_name": class_name,
        "reason": reason,
        "load": (f"needs the author's class: model = {short}(...); "
                 "model.load_state_dict(safetensors.torch.load_file('model.safetensors'))"),
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
