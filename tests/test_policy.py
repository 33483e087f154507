"""The policy network: config validation, safetensors round trip, strict loading, numpy sampler."""

import json

import numpy as np
import pytest
import torch

from hubrl.errors import AgentFormatError, ConfigError
from hubrl.policy import Policy, PolicyConfig, load_policy, save_policy


def make_policy(**kw) -> Policy:
    torch.manual_seed(0)
    return Policy(PolicyConfig(env_id="CartPole-v1", obs_dim=4, n_actions=2, **kw))


def test_course_architectures_are_expressible():
    cartpole = make_policy(hidden_sizes=(16,))
    assert [tuple(m.weight.shape) for m in cartpole.net if isinstance(m, torch.nn.Linear)] == [(16, 4), (2, 16)]
    copter = Policy(PolicyConfig("Pixelcopter-PLE-v0", obs_dim=7, n_actions=2, hidden_sizes=(64, 128)))
    assert [tuple(m.weight.shape) for m in copter.net if isinstance(m, torch.nn.Linear)] == [(64, 7), (128, 64), (2, 128)]


@pytest.mark.parametrize("kw", [dict(hidden_sizes=(0,)), dict(hidden_sizes=(-3,)), dict(activation="gelu")])
def test_bad_config_is_refused(kw):
    with pytest.raises(ConfigError):
        make_policy(**kw)


def test_save_load_round_trip_is_exact(tmp_path):
    policy = make_policy(hidden_sizes=(8, 8), obs_norm=True)
    policy.update_obs_stats(torch.randn(100, 4) * 3 + 1)
    sha = save_policy(policy, tmp_path)
    assert len(sha) == 64
    loaded = load_policy(tmp_path)
    for key, value in policy.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    x = torch.randn(5, 4)
    assert torch.equal(policy(x), loaded(x))
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))


def test_shape_mismatch_is_an_error_not_random_weights(tmp_path):
    save_policy(make_policy(hidden_sizes=(8,)), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["hidden_sizes"] = [16]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(AgentFormatError, match="shape"):
        load_policy(tmp_path)


def test_corrupt_weights_are_an_error(tmp_path):
    save_policy(make_policy(), tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(AgentFormatError, match="corrupt"):
        load_policy(tmp_path)


def test_obs_stats_match_numpy():
    policy = make_policy(obs_norm=True)
    data = np.random.default_rng(0).normal(2.0, 3.0, size=(300, 4)).astype(np.float32)
    for chunk in np.array_split(data, 7):
        policy.update_obs_stats(torch.as_tensor(chunk))
    np.testing.assert_allclose(policy.obs_mean.numpy(), data.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(policy.obs_var.numpy(), data.var(0), rtol=1e-4)


def test_numpy_sampler_matches_torch_distribution():
    policy = make_policy(hidden_sizes=(8,), obs_norm=True)
    policy.update_obs_stats(torch.randn(50, 4))
    obs = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    sampler = policy.sampler()
    np.testing.assert_allclose(sampler.logits(obs), policy(torch.as_tensor(obs)).detach().numpy(), rtol=1e-5, atol=1e-5)
    probs = torch.softmax(policy(torch.as_tensor(obs)), -1).detach().numpy()
    rng = np.random.default_rng(0)
    draws = np.stack([sampler.act(obs, uniforms=rng.random(3)) for _ in range(4000)])
    freq = (draws == 1).mean(0)
    np.testing.assert_allclose(freq, probs[:, 1], atol=0.03)
    assert np.array_equal(sampler.act(obs), probs.argmax(-1))


def inverse_cdf(logits: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """The general sampling rule, written out: first action whose float32 CDF reaches u * total."""
    z = np.exp(logits - logits.max(-1, keepdims=True))
    cdf = np.cumsum(z, -1)
    threshold = np.asarray(uniforms, dtype=np.float32)[:, None] * cdf[:, -1:]
    return np.minimum((cdf < threshold).sum(-1), cdf.shape[-1] - 1)


@pytest.mark.parametrize("n_actions", [2, 3, 6])
def test_sampler_fast_paths_give_the_general_rule_bit_for_bit(n_actions):
    """The two-action shortcut must pick exactly what the general inverse-CDF rule picks, ties and overflow
    included, or agents' published evaluation numbers would change with the code path."""
    torch.manual_seed(n_actions)
    policy = Policy(PolicyConfig("CartPole-v1", 4, n_actions, (16,)))
    with torch.no_grad():
        for p in policy.parameters():
            p.mul_(20)  # extreme logits: probabilities of exactly 0 and 1, float32 rounding at the boundary
    sampler = policy.sampler()
    rng = np.random.default_rng(n_actions)
    obs = (rng.standard_normal((50_000, 4)) * 3).astype(np.float32)
    uniforms = np.concatenate([rng.random(49_998), [0.0, np.nextafter(1.0, 0)]])
    with np.errstate(over="ignore", invalid="ignore"):
        expected = inverse_cdf(sampler.logits(obs), uniforms)
        got = sampler.act(obs, uniforms=uniforms)
    assert got.dtype == np.int64 and np.array_equal(got, expected)
    assert len(np.unique(got)) > 1
