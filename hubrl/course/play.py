"""The course notebook's episode loop, seeded: what the student's own ``act(state)`` scores on the env they pass in.

The notebook evaluates with ``action, _ = policy.act(state)`` on ``eval_env`` until ``max_steps`` or the episode
ends, and films with the same calls. :func:`play` and :func:`film` are that loop with two additions: episode ``i``
is reset with seed ``seed + i`` and torch's, numpy's and Python's generators are seeded with the same number before
it (and restored afterwards, so the student's training randomness is untouched), and every step's state, action and
the probability ``act()`` reported for it (``exp(log_prob)``) are kept, which is what proves a rebuilt network
plays the same agent (:func:`hubrl.course.module.convert_module`).

Three kinds of agent play here: a module with its own ``act`` (the notebook's ``Policy``), a module with only a
``forward`` (``nn.Sequential(...)``: hubrl samples its probabilities by inverse CDF from ``default_rng(seed)``), and
a loaded hubrl policy (``load_from_hub(...).policy``: its own ``act``, restarted with ``policy.seed(seed)``, which
are exactly the actions of hubrl's evaluation episode ``seed``).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hubrl.errors import AgentFormatError, ConfigError, HubrlError, VideoError, first_line
from hubrl.evaluate import Evaluation

__all__ = ["Played", "film", "play", "player_for"]


@dataclass
class Played:
    """What :func:`play` measured: the course's numbers plus every step the agent took."""

    evaluation: Evaluation
    states: np.ndarray | None
    """Every state ``act()`` was given, in order (None if the env's observations are not flat arrays)."""
    actions: np.ndarray
    probabilities: np.ndarray | None
    """For each step, the probability of the chosen action as the agent reported it (``exp(log_prob)``); None when
    ``act()`` returned no readable log-probability."""

    def to_json(self) -> dict[str, Any]:
        e = self.evaluation
        return {"mean_reward": e.mean_reward, "std_reward": e.std_reward, "score": e.score, "seeds": e.seeds,
                "episode_returns": e.episode_returns, "episode_lengths": e.episode_lengths, "max_steps": e.max_steps}


class _Player:
    """One kind of agent: ``session()`` around the episodes, ``start(seed)`` before each, ``act(state)`` per step."""

    name = "policy"

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        yield

    def start(self, seed: int) -> None:
        pass

    def act(self, state: Any) -> tuple[int, float | None]:
        raise NotImplementedError


class _ActPlayer(_Player):
    """The student's own ``act(state) -> (action, log_prob)``, with torch/numpy/random seeded per episode."""

    def __init__(self, agent: Any):
        self.agent = agent
        self.name = f"{type(agent).__name__}.act"

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        import torch

        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)

    def start(self, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)

    def act(self, state: Any) -> tuple[int, float | None]:
        out = self.agent.act(state)
        if not isinstance(out, tuple) or len(out) != 2:
            raise AgentFormatError(f"{self.name}(state) returned {type(out).__name__}; the course's act returns "
                                   "(action, log_prob)")
        action, log_prob = out
        try:
            action = int(action.item() if hasattr(action, "item") else action)
        except (TypeError, ValueError, RuntimeError) as err:
            raise AgentFormatError(f"{self.name}(state) returned action {action!r}; it should be an int "
                                   "(action.item())") from err
        try:
            prob = float(np.exp(float(log_prob.reshape(-1)[0] if hasattr(log_prob, "reshape") else log_prob)))
        except (TypeError, ValueError, RuntimeError, IndexError):
            prob = None
        return action, prob


class _ForwardPlayer(_Player):
    """A module without ``act``: its forward's probabilities (softmax of logits when it returns logits), sampled by
    inverse CDF from ``default_rng(seed)``, one uniform per step (hubrl's own rule)."""

    def __init__(self, module: Any, output: str):
        self.module, self.output = module, output
        self.name = f"{type(module).__name__}.forward"
        self._rng = np.random.default_rng(0)

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        import torch

        with torch.no_grad():
            yield

    def start(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def probabilities(self, states: np.ndarray) -> np.ndarray:
        import torch

        param = next(self.module.parameters(), None)
        x = torch.as_tensor(np.asarray(states), dtype=param.dtype if param is not None else torch.float32,
                            device=param.device if param is not None else "cpu")
        try:
            out = self.module(x)
        except Exception as err:
            raise AgentFormatError(f"{self.name} failed on a batch of shape {tuple(x.shape)}: "
                                   f"{first_line(err)[:200]}; it should take a (batch, state_size) tensor") from err
        if not torch.is_tensor(out) or out.ndim != 2 or out.shape[0] != x.shape[0]:
            raise AgentFormatError(f"{self.name} returned {getattr(out, 'shape', type(out).__name__)} for "
                                   f"{x.shape[0]} states; expected one row of action probabilities per state")
        out = out.detach().to("cpu", torch.float64)
        if self.output == "logits":
            out = torch.softmax(out, dim=1)
        elif self.output == "log-probabilities":
            out = out.exp()
        probs = out.numpy()
        if not np.isfinite(probs).all() or (probs < 0).any() or np.abs(probs.sum(1) - 1.0).max() > 1e-3:
            raise AgentFormatError(f"{self.name} returned values that are not action probabilities (e.g. "
                                   f"{np.round(probs[0], 4).tolist()}); end forward with F.softmax(x, dim=1) or "
                                   "give the module an act(state) as the course's Policy has")
        return probs

    def act(self, state: Any) -> tuple[int, float | None]:
        from hubrl.policy import inverse_cdf

        probs = self.probabilities(np.asarray(state)[None])[0]
        action = int(inverse_cdf(probs[None], np.array([self._rng.random()]))[0])
        return action, float(probs[action])


class _PolicyPlayer(_Player):
    """A loaded hubrl policy: its own ``act``, restarted per episode with ``policy.seed(seed)``."""

    def __init__(self, policy: Any):
        self.policy = policy
        self.name = repr(policy)

    def start(self, seed: int) -> None:
        self.policy.seed(seed)

    def act(self, state: Any) -> tuple[int | np.ndarray, float | None]:
        config = self.policy.config
        state = np.asarray(state) if config.conv_layers else np.asarray(state, dtype=np.float32)  # images stay uint8
        expected = tuple(config.obs_shape) if config.obs_shape else (config.obs_dim,)
        if state.shape != expected:
            raise ConfigError(f"this agent sees states of shape {expected} but the env gives shape {state.shape}; "
                              f"make the env with hubrl.make_env({config.env_id!r}"
                              f"{', **env_options' if config.env_options.to_json() else ''})")
        action, log_prob = self.policy.act(state)
        return action, float(np.exp(log_prob))  # a Gaussian's: the density of its sample


def player_for(agent: Any) -> _Player:
    """How ``agent`` plays: its ``act``, a loaded hubrl policy's seeded ``act``, or hubrl sampling its forward.

    Raises:
        AgentFormatError: ``agent`` has neither ``act`` nor a torch ``forward``.
    """
    from hubrl.policy import Policy

    if isinstance(agent, Policy):
        return _PolicyPlayer(agent)
    if callable(getattr(agent, "act", None)):
        return _ActPlayer(agent)
    try:
        import torch

        is_module = isinstance(agent, torch.nn.Module)
    except ImportError:  # pragma: no cover - torch is a dependency
        is_module = False
    if not is_module:
        raise AgentFormatError(f"the policy must be your torch.nn.Module with an act(state) method (the notebook's "
                               f"Policy), got {type(agent).__name__}")
    from hubrl.course.trace import trace_policy

    try:
        output = trace_policy(agent).output
    except AgentFormatError:
        output = "probabilities"  # unreadable forward: it must return probabilities itself (checked per call)
    return _ForwardPlayer(agent, output)


def env_label(env: Any) -> str:
    spec = getattr(env, "spec", None)
    return getattr(spec, "id", None) or type(getattr(env, "unwrapped", env)).__name__


def play(player: _Player, env: Any, *, n_episodes: int, max_steps: int, seed: int = 0) -> Played:
    """The course's evaluation loop on ``env`` itself: episode ``i`` reset with ``seed + i``, ``max_steps`` cap.

    Raises:
        AgentFormatError: ``act`` returns something other than ``(action, log_prob)``.
    """
    returns, lengths, seeds = [], [], []
    states: list[np.ndarray] = []
    actions: list[int] = []
    probs: list[float | None] = []
    with player.session():
        for i in range(n_episodes):
            episode_seed = seed + i
            player.start(episode_seed)
            state, _ = env.reset(seed=episode_seed)
            total, steps = 0.0, 0
            for _ in range(max_steps):
                action, prob = player.act(state)
                states.append(np.array(state, copy=True))
                actions.append(action)
                probs.append(prob)
                state, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                steps += 1
                if terminated or truncated:
                    break
            returns.append(total)
            lengths.append(steps)
            seeds.append(episode_seed)
    evaluation = Evaluation(env_id=env_label(env), episode_returns=returns, episode_lengths=lengths, seeds=seeds,
                            max_steps=int(max_steps), deterministic=False)
    try:
        stacked = np.stack(states).astype(np.float64) if states else np.zeros((0, 0))
    except (ValueError, TypeError):
        stacked = None
    reported = None if any(p is None for p in probs) else np.asarray(probs, dtype=np.float64)
    continuous = any(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in actions)  # a Gaussian policy's
    return Played(evaluation, stacked, np.asarray(actions, dtype=np.float64 if continuous else np.int64), reported)


@contextlib.contextmanager
def rgb_env(env: Any) -> Iterator[Any]:
    """``env`` rendering rgb arrays: itself when it does, else a copy made from its spec with
    ``render_mode="rgb_array"``, else (a wrapper gymnasium cannot rebuild) ``env`` itself with its game's
    ``render_mode`` switched to ``"rgb_array"`` for the recording and switched back afterwards.

    Raises:
        VideoError: none of these renders frames.
    """
    if getattr(env, "render_mode", None) == "rgb_array":
        yield env
        return
    import gymnasium

    spec = getattr(env, "spec", None)
    try:
        copy = gymnasium.make(spec, render_mode="rgb_array") if spec is not None else None
    except Exception:  # a wrapper without RecordConstructorArgs: film the env itself below
        copy = None
    if copy is not None:
        try:
            yield copy
        finally:
            copy.close()
        return
    game = getattr(env, "unwrapped", env)
    if "rgb_array" not in (getattr(game, "metadata", None) or {}).get("render_modes", ()):
        raise VideoError(f"cannot film {env_label(env)}: it does not render rgb arrays; make it with "
                         "render_mode='rgb_array'")
    before = game.render_mode
    game.render_mode = "rgb_array"
    try:
        yield env
    finally:
        game.render_mode = before


def film(player: _Player, env: Any, out_path: Path, *, fps: int, max_frames: int, seed: int = 0) -> Any:
    """One seeded episode of ``player`` on ``env`` (or its rgb copy) filmed to ``out_path``: episode ``seed`` of
    :func:`play`. Returns :class:`hubrl.video.Recording`."""
    from hubrl.video import Recording, check_video_path, first_frame, prepare_frame, video_writer

    out_path = check_video_path(out_path)
    frames, total, done = 0, 0.0, False
    with rgb_env(env) as target, player.session():
        player.start(seed)
        try:
            state, _ = target.reset(seed=seed)
            first, factor, (height, width) = first_frame(target, env_label(env))
            with video_writer(out_path, fps=fps, size=(height, width)) as append:
                frame = first
                while True:  # the notebook's record_video loop, capped at max_frames
                    append(prepare_frame(frame, factor))
                    frames += 1
                    if done or frames >= max_frames:
                        break
                    state, reward, terminated, truncated, _ = target.step(player.act(state)[0])
                    total += float(reward)
                    done = terminated or truncated
                    frame = target.render()
        except HubrlError:  # the agent's own one-line errors pass as they are
            raise
        except Exception as err:
            raise VideoError(f"could not write {out_path}: {first_line(err)}") from err
    return Recording(path=out_path, frames=frames, fps=fps, width=width, height=height, episode_return=total,
                     seed=seed, truncated_by_cap=not done)
