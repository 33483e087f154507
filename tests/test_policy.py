"""The policy: config validation, safetensors round trip, strict loading, numpy sampler, the course API, no torch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hubrl.errors import AgentFormatError, ConfigError
from hubrl.network import PolicyNetwork
from hubrl.policy import Policy, PolicyConfig, load_policy, save_policy

ROOT = Path(__file__).resolve().parents[1]


def make_policy(**kw) -> PolicyNetwork:
    torch.manual_seed(0)
    return PolicyNetwork(PolicyConfig(env_id="CartPole-v1", obs_dim=4, n_actions=2, **kw))


def test_course_architectures_are_expressible():
    cartpole = make_policy(hidden_sizes=(16,))
    assert [tuple(m.weight.shape) for m in cartpole.net if isinstance(m, torch.nn.Linear)] == [(16, 4), (2, 16)]
    copter = PolicyNetwork(PolicyConfig("Pixelcopter-PLE-v0", obs_dim=7, n_actions=2, hidden_sizes=(64, 128)))
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
    assert isinstance(loaded, Policy) and loaded.config == policy.config
    for key, value in policy.state_dict().items():
        weights = loaded.state_dict()[key]
        assert weights.dtype == value.numpy().dtype and np.array_equal(weights, value.numpy()), key
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    assert np.array_equal(loaded.sampler().logits(x), policy.sampler().logits(x))
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))
    # the numpy policy writes the very bytes the torch network wrote
    again = tmp_path / "again"
    again.mkdir()
    assert save_policy(loaded, again) == sha
    assert (again / "model.safetensors").read_bytes() == (tmp_path / "model.safetensors").read_bytes()


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
    draws = np.stack([sampler.actions(obs, uniforms=rng.random(3)) for _ in range(4000)])
    freq = (draws == 1).mean(0)
    np.testing.assert_allclose(freq, probs[:, 1], atol=0.03)
    assert np.array_equal(sampler.actions(obs), probs.argmax(-1))


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
    policy = PolicyNetwork(PolicyConfig("CartPole-v1", 4, n_actions, (16,)))
    with torch.no_grad():
        for p in policy.parameters():
            p.mul_(20)  # extreme logits: probabilities of exactly 0 and 1, float32 rounding at the boundary
    sampler = policy.sampler()
    rng = np.random.default_rng(n_actions)
    obs = (rng.standard_normal((50_000, 4)) * 3).astype(np.float32)
    uniforms = np.concatenate([rng.random(49_998), [0.0, np.nextafter(1.0, 0)]])
    with np.errstate(over="ignore", invalid="ignore"):
        expected = inverse_cdf(sampler.logits(obs), uniforms)
        got = sampler.actions(obs, uniforms=uniforms)
    assert got.dtype == np.int64 and np.array_equal(got, expected)
    assert len(np.unique(got)) > 1


def test_policy_speaks_the_course_api():
    """``policy(x)`` / ``forward(x)``: probabilities batch first; ``act(state)``: (action, log_prob) from its own
    generator, which ``seed(n)`` restarts."""
    network = make_policy(hidden_sizes=(8,), obs_norm=True)
    network.update_obs_stats(torch.randn(50, 4))
    policy = network.to_policy()
    obs = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32)
    expected = torch.softmax(network(torch.as_tensor(obs)), dim=1).detach().numpy()
    np.testing.assert_allclose(policy(obs), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(policy.forward(obs), policy(obs))
    assert policy(obs).shape == (6, 2)
    policy.seed(7)
    first = [policy.act(o) for o in obs]
    policy.seed(7)
    assert [policy.act(o) for o in obs] == first
    rng = np.random.default_rng(7)  # the same draws, one per call: what evaluation and recording do for a seed
    assert [a for a, _ in first] == [int(policy.actions(o[None], uniforms=np.array([rng.random()]))[0]) for o in obs]
    for (action, log_prob), p in zip(first, expected):
        assert isinstance(action, int) and isinstance(log_prob, float)
        assert log_prob == pytest.approx(np.log(p[action]), rel=1e-5)


def test_strict_weights_are_checked_without_torch():
    config = PolicyConfig("CartPole-v1", 4, 2, (8,))
    tensors = {k: v.numpy() for k, v in PolicyNetwork(config).state_dict().items()}
    with pytest.raises(AgentFormatError, match="missing"):
        Policy(config, {k: v for k, v in tensors.items() if k != "net.2.bias"})
    with pytest.raises(AgentFormatError, match="unexpected"):
        Policy(config, {**tensors, "extra": np.zeros(1)})
    with pytest.raises(AgentFormatError, match="shape"):
        Policy(config, {**tensors, "net.0.weight": np.zeros((8, 5), np.float32)})


def test_inference_never_imports_torch():
    """Loading, evaluating and recording an agent (what ``hubrl evaluate`` / ``record`` do) runs on numpy alone."""
    code = """
import sys, tempfile, pathlib
import numpy as np
import hubrl, hubrl.policy, hubrl.evaluate, hubrl.video, hubrl.run
from hubrl.records import load_run
from hubrl.evaluate import evaluate_agent
from hubrl.video import record_video
agent = load_run("model_cards/reference/CartPole-v1")
evaluate_agent(agent.policy, n_eval_episodes=2)
record_video(agent.policy, pathlib.Path(tempfile.mkdtemp()) / "r.mp4", max_frames=5)
agent.policy.seed(0); agent.policy.act(np.zeros(4, dtype=np.float32))
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
