"""Seeded evaluation: reproducible numbers, population std, per-episode seeds, caps."""

import numpy as np
import pytest
import torch

from hubrl.errors import ConfigError
from hubrl.evaluate import evaluate_agent
from hubrl.network import PolicyNetwork
from hubrl.policy import PolicyConfig


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return PolicyNetwork(PolicyConfig("CartPole-v1", 4, 2, (16,))).to_policy()


def test_same_inputs_same_numbers(policy):
    a = evaluate_agent(policy, n_eval_episodes=6, seed=5)
    b = evaluate_agent(policy, n_eval_episodes=6, seed=5)
    assert a.episode_returns == b.episode_returns
    assert a.seeds == [5, 6, 7, 8, 9, 10]
    assert a.std_reward == pytest.approx(float(np.std(a.episode_returns)))  # population std (ddof=0)
    assert a.score == pytest.approx(a.mean_reward - a.std_reward)


def test_episode_results_do_not_depend_on_how_many_run(policy):
    many = evaluate_agent(policy, n_eval_episodes=8, seed=0)
    few = evaluate_agent(policy, n_eval_episodes=3, seed=0)
    shifted = evaluate_agent(policy, n_eval_episodes=2, seed=2)
    assert few.episode_returns == many.episode_returns[:3]
    assert shifted.episode_returns == many.episode_returns[2:4]


def test_stochastic_differs_from_deterministic_and_seeds_matter(policy):
    stochastic = evaluate_agent(policy, n_eval_episodes=10, seed=0)
    other = evaluate_agent(policy, n_eval_episodes=10, seed=100)
    greedy = evaluate_agent(policy, n_eval_episodes=10, seed=0, deterministic=True)
    assert greedy.deterministic and not stochastic.deterministic
    assert stochastic.episode_returns != other.episode_returns
    assert stochastic.episode_returns != greedy.episode_returns


def test_max_steps_caps_episodes(policy):
    capped = evaluate_agent(policy, n_eval_episodes=4, max_steps=7, deterministic=True)
    assert max(capped.episode_lengths) <= 7 and capped.max_steps == 7


def test_zero_episodes_is_refused(policy):
    with pytest.raises(ConfigError):
        evaluate_agent(policy, n_eval_episodes=0)


def test_a_torch_network_evaluates_exactly_as_its_numpy_snapshot():
    torch.manual_seed(3)
    network = PolicyNetwork(PolicyConfig("CartPole-v1", 4, 2, (16,)))
    a = evaluate_agent(network, n_eval_episodes=4, seed=1)
    b = evaluate_agent(network.to_policy(), n_eval_episodes=4, seed=1)
    assert a.episode_returns == b.episode_returns and a.episode_lengths == b.episode_lengths
