"""Where a batch of episodes is collected: in this process, or in shards across worker processes.

The Python loop that steps a batched environment keeps one core busy. With ``rollout_workers > 1`` the batch's
env copies are split into shards; each worker process owns a vector env for its shard and runs the same
:func:`hubrl.reinforce.collect_batch` with a numpy snapshot of the policy, so there is one message per update and
shard, not one per step. Env copy ``i`` is seeded ``seed + i`` whatever the shard, and each shard samples actions
from a generator seeded by (run seed, update, shard): results depend on the number of workers (it is part of the
config) but never on timing.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import numpy as np


def shard_sizes(total: int, shards: int) -> list[int]:
    shards = max(1, min(shards, total))
    return [total // shards + (1 if i < total % shards else 0) for i in range(shards)]


def shard_rng(run_seed: int, update: int, shard: int) -> np.random.Generator:
    return np.random.default_rng([run_seed, update, shard])


def _worker(conn, env_id: str, num_envs: int, env_options: dict[str, Any]) -> None:
    from threadpoolctl import threadpool_limits

    from hubrl.envs import make_vector_env
    from hubrl.reinforce import collect_arrays

    # One BLAS thread per worker: every worker's BLAS would otherwise start a thread per core, and their spinning
    # threads fight over the cores (measured: ALE/Pong-v5 from pixels, 2 workers on 2 cores, 127 -> 1300 steps/s).
    threadpool_limits(1)

    venv = make_vector_env(env_id, num_envs, **env_options)
    try:
        while True:
            message = conn.recv()
            if message is None:
                break
            sampler, rng_seed, env_seed, options = message
            conn.send(collect_arrays(venv, sampler, np.random.default_rng(rng_seed), seed=env_seed, **options))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        venv.close()
        conn.close()


class Rollouts:
    """Collects one batch of ``num_envs`` episodes per call, locally or over ``workers`` processes."""

    def __init__(self, env_id: str, num_envs: int, *, workers: int = 1, env_options: dict[str, Any] | None = None):
        from hubrl.envs import make_vector_env

        self.sizes = shard_sizes(num_envs, workers)
        env_options = dict(env_options or {})
        self.venv = None
        self.procs: list[tuple[Any, Any]] = []
        if len(self.sizes) == 1:
            self.venv = make_vector_env(env_id, num_envs, **env_options)
            return
        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        for size in self.sizes:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, env_id, size, env_options), daemon=True)
            proc.start()
            child.close()
            self.procs.append((proc, parent))

    def collect(self, sampler, *, run_seed: int, update: int, env_seed: int, **options: Any):
        """One batch; ``options`` (``max_t``, ``gamma``, ``tail``, ``autoreset``) go to
        :func:`hubrl.reinforce.collect_arrays` unchanged."""
        from hubrl.reinforce import Batch, collect_arrays

        if self.venv is not None:
            parts = [collect_arrays(self.venv, sampler, shard_rng(run_seed, update, 0), seed=env_seed, **options)]
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
