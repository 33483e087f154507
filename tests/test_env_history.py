"""Observation history (``obs_lags``): the single and vector views agree, show the right past, survive autoreset."""

from __future__ import annotations

import numpy as np
import pytest

from hubrl import make_config, train
from hubrl.card import build_card
from hubrl.envs import make_env, make_vector_env
from hubrl.envs.history import ObservationHistory
from hubrl.errors import ConfigError
from hubrl.evaluate import evaluate_agent
from hubrl.policy import load_policy, save_policy

LAGS = [6, 12, 24]


def test_single_env_view_is_now_and_the_lagged_past():
    env = make_env("Pixelcopter-PLE-v0", obs_lags=LAGS)
    raw = make_env("Pixelcopter-PLE-v0")
    assert isinstance(env, ObservationHistory) and env.observation_space.shape == (28,)
    obs, _ = env.reset(seed=3)
    first, _ = raw.reset(seed=3)
    assert np.array_equal(obs, np.tile(first, 4))  # the missing past is the first observation
    seen = [first]
    rng = np.random.default_rng(0)
    for t in range(1, 60):
        action = int(rng.random() < 0.1) ^ 1  # mostly no-op, some thrust: stays alive a while
        obs, _, terminated, _, _ = env.step(action)
        raw_obs, _, raw_terminated, _, _ = raw.step(action)
        seen.append(raw_obs)
        expected = [seen[t]] + [seen[max(0, t - k)] for k in LAGS]
        assert np.array_equal(obs, np.concatenate(expected)), t
        assert terminated == raw_terminated
        if terminated:
            break


def test_vector_view_matches_single_envs_through_autoresets():
    n = 4
    venv = make_vector_env("Pixelcopter-PLE-v0", n, obs_lags=LAGS)
    envs = [make_env("Pixelcopter-PLE-v0", obs_lags=LAGS) for _ in range(n)]
    obs, _ = venv.reset(seed=10)
    assert obs.shape == (n, 28) and venv.single_observation_space.shape == (28,)
    assert np.array_equal(obs, np.stack([e.reset(seed=10 + i)[0] for i, e in enumerate(envs)]))
    rng = np.random.default_rng(1)
    done = np.zeros(n, dtype=bool)
    restarts = 0
    for _ in range(600):
        actions = rng.integers(0, 2, n)
        obs, _, terminated, truncated, _ = venv.step(actions)
        for i, env in enumerate(envs):
            if done[i]:  # NEXT_STEP autoreset: this step is the reset of copy i
                expected, _ = env.reset()
                restarts += 1
            else:
                expected = env.step(int(actions[i]))[0]
            assert np.array_equal(obs[i], expected)
        done = terminated | truncated
    assert restarts > 10  # random play crashes often: the restart path was exercised


@pytest.mark.parametrize("lags", [[], [0], [3, 3], "6", [True], 6])
def test_bad_lags_are_refused_in_one_line(lags):
    with pytest.raises(ConfigError) as err:
        make_vector_env("Pixelcopter-PLE-v0", 2, obs_lags=lags)
    assert "obs_lags" in str(err.value) and "\n" not in str(err.value)


def test_agent_with_lags_trains_saves_loads_and_reevaluates_exactly(tmp_path):
    config = make_config("CartPole-v1", seed=0, max_env_steps=20_000, env_options={"obs_lags": [2, 4]})
    result = train(config, progress=False)
    assert result.policy.config.obs_dim == 12  # 4 values now + 2 lags x 4
    first = evaluate_agent(result.policy, n_eval_episodes=3, seed=5)
    save_policy(result.policy, tmp_path)
    loaded = load_policy(tmp_path)
    assert loaded.config.env_options == {"obs_lags": [2, 4]}
    again = evaluate_agent(loaded, n_eval_episodes=3, seed=5)
    assert again.episode_returns == first.episode_returns

    card = build_card(hyperparameters=config.to_json(), results={"env_id": "CartPole-v1", **first.to_json()})
    assert "ObservationHistory(env, [2, 4])" in card.text
    plain = build_card(hyperparameters=make_config("CartPole-v1").to_json(),
                       results={"env_id": "CartPole-v1", **first.to_json()})
    assert "ObservationHistory" not in plain.text
