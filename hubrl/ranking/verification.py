"""Re-evaluating agents that the leaderboard lists: the claims checked against hubrl's own seeded measurement.

:func:`verify_agent` loads one repo safely (:func:`hubrl.loading.load_from_hub`) and re-evaluates it with hubrl's
protocol (10 episodes, seeds 0..9, the env's ``max_t``); :func:`verify_entries` does so for the top of a listing.
A verification is a :class:`VerifyJob` (picklable: the repo, the claim, the Hub client, the cache) run by
:func:`verify_job`; :func:`run_verifications` decides where jobs run: here, or wherever
:func:`hubrl.cluster.run_tasks` runs jobs (``spawn`` processes, or a Ray cluster). :func:`verified` is the
measurement itself, shared with the local Hub's bounded verifier (:mod:`hubrl.ranking.sandbox`). Only the standard
game of the env id is played: a repo's config.json contributes a validated observation spec and nothing else, so no
option of its own (an episode cap, a render mode) reaches the env; an evaluation past its wall-clock limit is an
error.

Verification never sets the Hub's EvalResult ``verified`` flag (only the Hub does that); see
:func:`hubrl.ranking.check_submission` for recording it in a repo.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hubrl.connection import HubConnection
from hubrl.defaults import DEFAULT_VERIFY_TOP, EVAL_TIME_LIMIT, VERIFY_EPISODES, VERIFY_SEED
from hubrl.errors import ConfigError, HubrlError, MissingDependencyError, first_line
from hubrl.ranking.claims import Verification, judge_claim

if TYPE_CHECKING:
    from hubrl.ranking.claims import Claim as LeaderboardEntry
    from hubrl.records import Agent


def verify_agent(
    repo_id: str,
    env_id: str,
    *,
    claimed_mean: float | None = None,
    claimed_std: float | None = None,
    cache_dir: str | Path | None = None,
    n_eval_episodes: int = VERIFY_EPISODES,
    seed: int = VERIFY_SEED,
    client: HubConnection | None = None,
    time_limit: float | None = EVAL_TIME_LIMIT,
) -> Verification:
    """Load ``repo_id`` safely and re-evaluate it with hubrl's seeded protocol; never raises for a bad agent.

    The numbers equal ``evaluate_agent(load_from_hub(repo_id).policy, env_id, n_eval_episodes=10, seed=0,
    max_steps=env_info(env_id).max_t)``: the standard game of ``env_id`` (no option of the repo reaches the env; only
    a validated observation spec is read from it). An agent that cannot be loaded or evaluated, or takes longer than
    ``time_limit`` seconds, comes back with ``error`` set; an env this machine cannot play (not installed, not
    registered) with ``playable`` False and ``error`` saying what to install, before anything is downloaded.
    """
    from hubrl.loading import load_from_hub

    return verified(lambda: load_from_hub(repo_id, client=client or HubConnection(), cache_dir=cache_dir),
                    Verification(repo_id=repo_id, env_id=env_id, claimed_mean=claimed_mean, claimed_std=claimed_std,
                                 seed=seed),
                    n_eval_episodes=n_eval_episodes, time_limit=time_limit)


def verified(load: Callable[[], Agent], result: Verification, *, n_eval_episodes: int = VERIFY_EPISODES,
             time_limit: float | None = EVAL_TIME_LIMIT) -> Verification:
    """``result`` filled in: the agent ``load()`` returns, evaluated with the seeded protocol on ``result.env_id`` and
    judged against the claim; ``error`` set (never raised) when it cannot be loaded or played. What
    :func:`verify_agent` and the local Hub's bounded verifier (:mod:`hubrl.ranking.sandbox`) both run."""
    from hubrl.envs import env_info, unplayable_reason
    from hubrl.evaluate import evaluate_agent

    env_id = result.env_id
    reason = unplayable_reason(env_id)
    if reason is not None:  # nothing is loaded: the claim ranks from its card alone
        result.error, result.playable = reason, False
        return result
    try:
        info = env_info(env_id)
        agent = load()
        result.format = agent.format
        if agent.env_id != env_id:
            raise ConfigError(f"the agent plays {agent.env_id}, not {env_id}")
        evaluation = evaluate_agent(agent.policy, env_id, n_eval_episodes=n_eval_episodes, max_steps=info.max_t,
                                    seed=result.seed, time_limit=time_limit)
    except HubrlError as err:
        result.error = str(err)
        result.playable = not isinstance(err, MissingDependencyError)
        return result
    except Exception as err:  # a broken repo must be reported, not crash the whole verification
        result.error = f"{type(err).__name__}: {first_line(err)}"
        return result
    result.mean_reward, result.std_reward = evaluation.mean_reward, evaluation.std_reward
    result.n_episodes, result.seeds = evaluation.n_eval_episodes, evaluation.seeds
    result.episode_returns, result.max_steps = evaluation.episode_returns, evaluation.max_steps
    result.flags = judge_claim(env_id, result.claimed_mean, result.claimed_std, evaluation.mean_reward,
                               evaluation.std_reward)
    return result


@dataclass(frozen=True)
class VerifyJob:
    """One verification to run anywhere: what :func:`verify_agent` needs, picklable (the client pickles as its
    endpoint and token)."""

    repo_id: str
    env_id: str
    claimed_mean: float | None
    claimed_std: float | None
    client: HubConnection
    cache_dir: str | None = None

    def run(self) -> Verification:
        return verify_agent(self.repo_id, self.env_id, claimed_mean=self.claimed_mean, claimed_std=self.claimed_std,
                            client=self.client, cache_dir=self.cache_dir)

    def failed(self, reason: str) -> Verification:
        """The verification of a job whose worker died (out of memory, killed) before it could answer."""
        return Verification(repo_id=self.repo_id, env_id=self.env_id, claimed_mean=self.claimed_mean,
                            claimed_std=self.claimed_std, error=f"the verification worker failed: {reason}")


def verify_job(job: VerifyJob) -> Verification:
    """Run one job in a worker: single-threaded numerics first, so workers side by side do not oversubscribe."""
    single_threaded()
    return job.run()


def single_threaded() -> None:
    import sys

    from threadpoolctl import threadpool_limits

    os.environ["OMP_NUM_THREADS"] = "1"  # read by torch when a course model makes it load later
    threadpool_limits(limits=1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def run_verifications(jobs: list[VerifyJob], *, workers: int | None = None,
                      ray_address: str | None = None) -> list[Verification]:
    """Run ``jobs`` and return their verifications in the same order.

    Jobs run where :func:`hubrl.cluster.run_tasks` runs them: ``min(workers or len(jobs), os.cpu_count())``
    ``spawn`` processes, or one Ray task each on the cluster at ``ray_address`` (a Ray cluster's HEAD:PORT), every
    one running the same :func:`verify_job`, so verdicts and numbers are the local ones. With a single local worker
    they run in this process instead (the numbers are the same: evaluation depends only on the weights and the
    seeds). A job whose worker dies comes back with ``error`` set.

    Raises:
        ClusterError: ``ray_address`` is given but Ray is not installed or the cluster cannot be reached.
    """
    from hubrl.cluster import run_tasks

    n_workers = max(1, min(workers or len(jobs), len(jobs), os.cpu_count() or 1))
    if not ray_address and n_workers == 1:
        return [job.run() for job in jobs]  # nothing to run beside: skip the process start-up (same numbers)
    outcomes = {o.index: o for o in run_tasks(verify_job, jobs, address=ray_address, workers=n_workers,
                                              names=[f"verify {job.repo_id}" for job in jobs])}
    return [outcomes[i].value if outcomes[i].ok else job.failed(outcomes[i].error or "no answer")
            for i, job in enumerate(jobs)]


def verify_entries(
    entries: list[LeaderboardEntry],
    n: int = DEFAULT_VERIFY_TOP,
    *,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    client: HubConnection | None = None,
    ray_address: str | None = None,
) -> list[Verification]:
    """Re-evaluate the top ``n`` ranked entries in parallel processes (or as tasks on the Ray cluster at
    ``ray_address``); attach and return their verifications.

    Each job loads one repo with :func:`hubrl.loading.load_from_hub` and evaluates it with :func:`verify_agent`, in
    :func:`run_verifications` (``workers`` processes at most). Agents that cannot be loaded come back with
    ``error`` set, in rank order. In a script, call it under ``if __name__ == "__main__":`` (``spawn`` workers
    import the main module).

    Raises:
        ConfigError: ``n`` is not positive.
    """
    if n < 1:
        raise ConfigError(f"--verify needs a positive number of agents, got {n}")
    top = sorted((e for e in entries if e.rank is not None), key=lambda e: e.rank)[:n]
    if not top:
        return []
    client = client or HubConnection()
    jobs = [VerifyJob(repo_id=e.repo_id, env_id=e.env_id, claimed_mean=e.mean, claimed_std=e.std, client=client,
                      cache_dir=str(cache_dir) if cache_dir else None) for e in top]
    results = run_verifications(jobs, workers=workers, ray_address=ray_address)
    for entry, verification in zip(top, results):
        entry.verification = verification
    return results
