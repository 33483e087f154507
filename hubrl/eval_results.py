"""The Hub's evaluation-results convention, hubrl's side: one benchmark dataset per env, its ``eval.yaml``, and where
a model repo keeps its score on it (``.eval_results/<env>.yaml``).

The Hub keeps scores in a model repo's ``.eval_results/*.yaml`` (huggingface_hub's ``EvalResultEntry``) and serves a
leaderboard per benchmark dataset, a dataset repo holding an ``eval.yaml`` that states the task. hubrl names one
benchmark dataset per env (:func:`benchmark_dataset`, e.g. ``hubrl/CartPole-v1``) whose one task
(:data:`TASK_ID`) is the course's score: mean - std of the returns of the seeded evaluation (:func:`protocol`).
The local Hub creates that dataset on demand and serves its leaderboard; :mod:`hubrl.card` writes the entry a run
pushes. Pure: no huggingface_hub, gymnasium or torch.
"""

from __future__ import annotations

from typing import Any

from hubrl.defaults import DEFAULT_EVAL_SEED, VERIFY_EPISODES
from hubrl.envs.facts import ENVS

BENCHMARK_NAMESPACE = "hubrl"
"""The namespace of hubrl's benchmark datasets (on the local Hub, dataset repos are the server's own: no user writes
them, whatever their name)."""
TASK_ID = "course_score"
"""The benchmark's one task: the Deep RL Course's score, mean - std of the evaluation returns."""
EVAL_RESULTS_DIR = ".eval_results"
"""Where a model repo keeps its evaluation results (huggingface_hub's ``constants.EVAL_RESULTS_FOLDER``)."""
FRAMEWORK = "hubrl"
"""``evaluation_framework`` of the benchmarks' eval.yaml."""
HUBRL_URL = "https://pypi.org/project/hubrl/"
"""Where a result's ``source`` points: the tool whose seeded protocol measured it."""


def _slug(env_id: str) -> str:
    return env_id.replace("/", "-")


def benchmark_dataset(env_id: str) -> str:
    """The benchmark dataset repo of ``env_id`` (``ALE/Pong-v5`` -> ``hubrl/ALE-Pong-v5``).

    Example:
        >>> benchmark_dataset("CartPole-v1")
        'hubrl/CartPole-v1'
    """
    return f"{BENCHMARK_NAMESPACE}/{_slug(env_id)}"


def env_of_benchmark(dataset_id: str) -> str | None:
    """The env whose benchmark dataset is ``dataset_id``; None for any other dataset."""
    return next((env for env in ENVS if benchmark_dataset(env) == dataset_id), None)


def eval_results_path(env_id: str) -> str:
    """The model repo file holding the score on ``env_id``'s benchmark (``.eval_results/CartPole-v1.yaml``)."""
    return f"{EVAL_RESULTS_DIR}/{_slug(env_id)}.yaml"


def protocol(env_id: str) -> dict[str, Any]:
    """How the benchmark's score is measured, as its eval.yaml states it (the course's evaluation, seeded)."""
    info = ENVS[env_id]
    seeds = list(range(DEFAULT_EVAL_SEED, DEFAULT_EVAL_SEED + VERIFY_EPISODES))
    return {
        "env_id": env_id,
        "episodes": VERIFY_EPISODES,
        "seeds": f"{seeds[0]}..{seeds[-1]} (episode i: env reset with seed i, actions sampled from a generator "
                 "seeded i)",
        "max_steps": info.max_t,
        "policy": "stochastic (actions sampled from the policy, as the course evaluates)",
        "metric": "mean - std of the episode returns (population std, ddof=0)",
        "pass_mark": info.pass_mark,
        "reproduce": f"hubrl evaluate REPO_ID --n-eval-episodes {VERIFY_EPISODES} --seed {DEFAULT_EVAL_SEED}",
    }


def eval_yaml(env_id: str) -> dict[str, Any]:
    """The benchmark dataset's ``eval.yaml`` (the Hub's fields, plus hubrl's ``protocol``).

    Example:
        >>> eval_yaml("CartPole-v1")["tasks"][0]["id"]
        'course_score'
    """
    return {
        "name": f"{env_id} (Deep RL Course score)",
        "description": f"Agents playing {env_id}, scored as the Hugging Face Deep RL Course scores them: mean - std "
                       f"of the returns of {VERIFY_EPISODES} seeded evaluation episodes, each capped at "
                       f"{ENVS[env_id].max_t} steps. Results come from the .eval_results/ files of model repos; "
                       "the local Hub marks a result verified only when it re-evaluated the agent itself.",
        "evaluation_framework": FRAMEWORK,
        "tasks": [{"id": TASK_ID, "config": "default", "split": "test"}],
        "protocol": protocol(env_id),
    }
