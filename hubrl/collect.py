"""Playing a batch of episodes on a vector env, in this process or in shards across worker processes.

:func:`play_episodes` runs every copy of a gymnasium vector env through one episode (or, with ``autoreset``, a
fixed window of steps) in the per-step loop every player shares (:func:`hubrl.episodes.episode_steps`), acting with
the policy's numpy forward pass (:class:`hubrl.policy.NumpySampler`): no torch here, so worker processes stay light.
It returns what happened, step by step; turning rewards into returns is the algorithm's job (:mod:`hubrl.reinforce`).

With ``workers > 1`` a :class:`Rollouts` splits the batch's env copies into shards; each worker process owns a
vector env for its shard and runs the same :func:`play_episodes` with a numpy snapshot of the policy, so there is
one message per update and shard, not one per step. Shard ``k`` is reset with seed ``env_seed + (copies before
it)`` and samples actions from a generator seeded by (run seed, update, ``k``). How a vector env seeds its copies
from one reset seed is its own affair: hubrl's PLE and Atari vector envs seed copy ``i`` with ``seed + i``, like
single envs, while gymnasium's ``CartPoleVectorEnv`` draws every copy from one generator seeded once. Results
therefore depend on the number of workers (it is part of the config) but never on timing.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from typing import Any

import numpy as np

from hubrl.episodes import episode_steps
from hubrl.policy import NumpySampler, draw, env_actions, one_blas_thread


@dataclass
class Batch:
    """One batch of episodes: the steps that enter the loss, and the per-step grids their returns come from.

    ``obs`` and ``actions`` are flattened time-major, shard after shard. The grids are one ``(steps, copies)``
    array per shard, in the same order, so ``grid[in_loss]`` lines up with ``obs``.
    """

    obs: np.ndarray
    """``(n, *obs_shape)``: the observation of every step in the loss (float32; images as uint8)."""
    actions: np.ndarray
    """The action sampled at each of those steps: ``(n,)`` int64, or a Gaussian's ``(n, dims)`` float32 samples."""
    rewards: list[np.ndarray]
    """Per shard, ``(T, copies)`` float64: each step's reward, 0 where the copy was not in an episode."""
    in_episode: list[np.ndarray]
    """Per shard, ``(T, copies)`` bool: the step is a transition of a running episode (not a reset step, not a
    step after the copy's episode ended). Reward-to-go runs back along these and stops at every gap."""
    in_loss: list[np.ndarray]
    """Per shard, ``(T, copies)`` bool: ``in_episode`` minus the cut tails (see :func:`play_episodes`)."""
    episode_returns: np.ndarray
    """Return of every episode started in the batch (cut ones: their partial return)."""
    episode_lengths: np.ndarray
    env_steps: int
    """Steps the vector env simulated, including those of copies whose episode had already ended."""

    @classmethod
    def from_parts(cls, parts: list[dict[str, Any]]) -> Batch:
        """Join the shards' results (:func:`play_episodes`' dicts), shard after shard."""
        def cat(key):
            return np.concatenate([p[key] for p in parts])

        return cls(
            obs=cat("obs"), actions=cat("actions"),
            rewards=[p["rewards"] for p in parts], in_episode=[p["in_episode"] for p in parts],
            in_loss=[p["in_loss"] for p in parts],
            episode_returns=cat("episode_returns"), episode_lengths=cat("episode_lengths"),
            env_steps=sum(p["env_steps"] for p in parts),
        )


def play_episodes(venv, sampler: NumpySampler, rng: np.random.Generator, *, seed: int, max_t: int, tail: int = 0,
                  autoreset: bool = False) -> dict[str, Any]:
    """Run every copy of ``venv`` through one episode (capped at ``max_t`` steps); return its steps as arrays.

    An episode still running after ``max_t`` steps is cut there; its last ``tail`` steps stay out of the loss
    (``in_loss``: their reward-to-go misses what the cut removed) but count in the episode's return and length.
    With ``autoreset`` every copy plays exactly ``max_t`` steps instead, starting a new episode whenever one ends
    (the vector env's NEXT_STEP reset step is not a transition and is left out); only each copy's last, cut
    episode loses its tail. Every episode started in the window is reported, cut ones with their partial return.
    Actions are sampled by ``sampler`` from ``rng``'s draws (:meth:`~hubrl.policy.NumpySampler.draw`), one per copy
    and step.
    """
    n = venv.num_envs
    obs, _ = venv.reset(seed=seed)
    obs_steps, act_steps, rewards, masks, ends = [], [], [], [], []

    def act(obs: np.ndarray, running: np.ndarray) -> np.ndarray:
        return sampler.actions(obs, uniforms=draw(sampler, rng, n))

    # diverged weights: the update's NaN check reports them
    with np.errstate(over="ignore", invalid="ignore"), one_blas_thread(sampler):
        for obs_t, actions, reward, running, done in episode_steps(venv, obs, act, max_steps=max_t,
                                                                   autoreset=autoreset,
                                                                   env_action=env_actions(sampler)):
            obs_steps.append(obs_t)
            act_steps.append(actions)
            rewards.append(reward)
            masks.append(running)
            if autoreset:
                ends.append(done & running)
    in_episode = np.asarray(masks)  # (T, n)
    rewards_arr = np.where(in_episode, np.asarray(rewards, dtype=np.float64), 0.0)
    steps = len(masks)
    if autoreset:
        ends_arr = np.asarray(ends)
        # Episode index of every step per copy: a new episode starts after each end (its reset step is masked).
        episode_of = np.cumsum(ends_arr, axis=0) - ends_arr
        cut = in_episode[-1] & ~ends_arr[-1]  # copies whose last episode is still running at the window's end
        n_episodes = ends_arr.sum(0) + cut
        offsets = np.concatenate([[0], np.cumsum(n_episodes)[:-1]])
        flat = (episode_of + offsets)[in_episode]
        total = int(n_episodes.sum())
        episode_returns = np.bincount(flat, weights=rewards_arr[in_episode], minlength=total)
        episode_lengths = np.bincount(flat, minlength=total)
        last_start = np.where(ends_arr.any(0), steps - np.argmax(ends_arr[::-1], axis=0), 0)
    else:
        episode_returns, episode_lengths = rewards_arr.sum(0), in_episode.sum(0)
        cut = running & ~done  # the last step's: copies whose episode the cap cut
        last_start = np.zeros(n, dtype=np.int64)
    in_loss = in_episode
    if tail and cut.any():  # episodes cut by the window: leave out the steps whose reward-to-go the cut truncated
        in_loss = in_episode.copy()
        t_index = np.arange(steps)[:, None]
        in_loss &= ~((t_index >= np.maximum(steps - tail, last_start)[None, :]) & cut[None, :])
    images = obs_steps[0].dtype == np.uint8
    actions = np.asarray(act_steps)
    return {
        "obs": np.asarray(obs_steps, dtype=np.uint8 if images else np.float32)[in_loss],
        "actions": actions.astype(np.int64 if actions.dtype.kind in "iub" else np.float32)[in_loss],
        "rewards": rewards_arr,
        "in_episode": in_episode,
        "in_loss": in_loss,
        "episode_returns": episode_returns,
        "episode_lengths": episode_lengths,
        "env_steps": n * steps,
    }


def shard_sizes(total: int, shards: int) -> list[int]:
    shards = max(1, min(shards, total))
    return [total // shards + (1 if i < total % shards else 0) for i in range(shards)]


def shard_rng(run_seed: int, update: int, shard: int) -> np.random.Generator:
    return np.random.default_rng([run_seed, update, shard])


def _worker(conn, env_id: str, num_envs: int, env_options: dict[str, Any], backend: str = "auto") -> None:
    import signal

    from threadpoolctl import threadpool_limits

    from hubrl.envs import make_vector_env

    # Ctrl-C reaches the whole process group: the training process handles it (checkpoint, then closes us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One BLAS thread per worker: every worker's BLAS would otherwise start a thread per core, and their spinning
    # threads fight over the cores (measured: ALE/Pong-v5 from pixels, 2 workers on 2 cores, 127 -> 1300 steps/s).
    threadpool_limits(1)

    venv = make_vector_env(env_id, num_envs, backend=backend, observation=env_options)
    try:
        while True:
            message = conn.recv()
            if message is None:
                break
            sampler, rng_seed, env_seed, options = message
            conn.send(play_episodes(venv, sampler, np.random.default_rng(rng_seed), seed=env_seed, **options))
    except EOFError:
        pass
    finally:
        venv.close()
        conn.close()


class Rollouts:
    """Collects one batch of ``num_envs`` episodes per call, locally or over ``workers`` processes.

    ``env_options`` is what the agent observes; ``backend`` how each process runs its copies (an execution setting).
    """

    def __init__(self, env_id: str, num_envs: int, *, workers: int = 1, env_options: dict[str, Any] | None = None,
                 backend: str = "auto"):
        from hubrl.envs import make_vector_env

        self.sizes = shard_sizes(num_envs, workers)
        env_options = dict(env_options or {})
        self.venv = None
        self.procs: list[tuple[Any, Any]] = []
        if len(self.sizes) == 1:
            self.venv = make_vector_env(env_id, num_envs, backend=backend, observation=env_options)
            return
        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        try:
            for size in self.sizes:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(child, env_id, size, env_options, backend),
                                   daemon=True)
                proc.start()
                child.close()
                self.procs.append((proc, parent))
        except BaseException:  # Ctrl-C while starting: stop the workers already started
            self.close()
            raise

    def collect(self, sampler: NumpySampler, *, run_seed: int, update: int, env_seed: int, **options: Any) -> Batch:
        """One batch; ``options`` (``max_t``, ``tail``, ``autoreset``) go to :func:`play_episodes` unchanged."""
        if self.venv is not None:
            parts = [play_episodes(self.venv, sampler, shard_rng(run_seed, update, 0), seed=env_seed, **options)]
        else:
            offset = 0
            for shard, (size, (_, conn)) in enumerate(zip(self.sizes, self.procs)):
                conn.send((sampler, [run_seed, update, shard], env_seed + offset, options))
                offset += size
            try:
                parts = [conn.recv() for _, conn in self.procs]
            except (EOFError, ConnectionError):
                raise RuntimeError("a rollout worker process died (its traceback is printed above)") from None
        return Batch.from_parts(parts)

    def close(self) -> None:
        if self.venv is not None:
            self.venv.close()
        for proc, conn in self.procs:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self.procs = []
