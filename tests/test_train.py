"""REINFORCE training: returns, reproducibility, checkpoints/resume, divergence, learning."""

import numpy as np
import pytest
import torch

from hubrl.collect import Rollouts, shard_rng
from hubrl.errors import ConfigError, TrainingDivergedError
from hubrl.evaluate import evaluate_agent
from hubrl.network import PolicyNetwork
from hubrl.policy import PolicyConfig
from hubrl.presets import PRESETS, make_config, parse_override
from hubrl.reinforce import batch_returns, standardize
from hubrl.training import train


def small(**kw):
    return make_config("CartPole-v1", seed=kw.pop("seed", 0), max_env_steps=kw.pop("max_env_steps", 15_000),
                       val_every=0, select_best=False, target_score=None, **kw)


def play(env_id, n_envs, sampler, *, seed, max_t, run_seed=0, **options):
    """One batch through the real collection path (what training runs)."""
    rollouts = Rollouts(env_id, n_envs)
    try:
        return rollouts.collect(sampler, run_seed=run_seed, update=0, env_seed=seed, max_t=max_t, **options)
    finally:
        rollouts.close()


def test_reward_to_go_returns():
    torch.manual_seed(0)
    policy = PolicyNetwork(PolicyConfig("CartPole-v1", 4, 2, (8,)))
    gamma = 0.9
    batch = play("CartPole-v1", 4, policy.sampler(), seed=1, max_t=1000)
    returns = batch_returns(batch, gamma)
    lengths = batch.episode_lengths
    assert returns.shape[0] == lengths.sum() == batch.obs.shape[0] == batch.actions.shape[0]
    np.testing.assert_array_equal(batch.episode_returns, lengths)  # CartPole pays 1 per step
    # steps are stored time-major: at time t, every env still alive, in env order
    expected = []
    for t in range(lengths.max()):
        for env in range(4):
            if t < lengths[env]:
                remaining = lengths[env] - t
                expected.append((1 - gamma**remaining) / (1 - gamma))
    np.testing.assert_allclose(returns.numpy(), expected, rtol=1e-5)
    assert batch.env_steps == 4 * lengths.max()


def test_cut_episodes_leave_their_tail_out_of_the_loss():
    torch.manual_seed(0)
    sampler = PolicyNetwork(PolicyConfig("CartPole-v1", 4, 2, (8,))).sampler()
    full = play("CartPole-v1", 16, sampler, seed=5, max_t=1000)
    cut = play("CartPole-v1", 16, sampler, seed=5, max_t=25, tail=10)
    cut_returns = batch_returns(cut, 0.9)
    was_cut = full.episode_lengths > 25
    assert was_cut.any() and (~was_cut).any()
    np.testing.assert_array_equal(cut.episode_lengths, np.minimum(full.episode_lengths, 25))
    np.testing.assert_array_equal(cut.episode_returns, cut.episode_lengths)
    # every finished episode keeps all its steps, every cut one loses its last 10 (of 25)
    assert cut.obs.shape[0] == cut_returns.shape[0] == cut.actions.shape[0]
    assert cut.obs.shape[0] == full.episode_lengths[~was_cut].sum() + 15 * was_cut.sum()
    # the kept steps of a cut episode have the reward-to-go of the first 25 steps only
    gamma, kept = 0.9, []
    for t in range(25):
        for env in range(16):
            length = cut.episode_lengths[env]
            if t < length and not (was_cut[env] and t >= 15):
                kept.append((1 - gamma ** (length - t)) / (1 - gamma))
    np.testing.assert_allclose(cut_returns.numpy(), kept, rtol=1e-5)


def test_validation_on_the_training_batch_stops_before_updating():
    """With val_on_batch the score is the batch's own (mean - std of its returns), and the policy that reached the
    target is the one returned: no update is applied after it."""
    seen = []
    result = train(make_config("CartPole-v1", seed=0), progress=False,
                   callback=lambda row, policy: seen.append({k: v.clone() for k, v in policy.state_dict().items()}))
    last = result.history[-1]
    assert result.stopped == "target" and last["val_score"] == 500.0 and last["mean_return"] == 500.0
    assert np.isnan(last["loss"])  # no update after the batch that reached the target
    assert all("val_score" in row for row in result.history)
    final = result.policy.state_dict()
    # the callback sees the policy after each update: the one after the second-to-last update played the last batch
    assert all(torch.equal(seen[-2][k], v) and torch.equal(seen[-1][k], v) for k, v in final.items())
    assert not all(torch.equal(seen[-3][k], v) for k, v in final.items())


def test_standardize_is_the_course_formula():
    x = torch.tensor([1.0, 2.0, 4.0])
    eps = np.finfo(np.float32).eps.item()
    assert torch.allclose(standardize(x), (x - x.mean()) / (x.std() + eps))
    assert torch.equal(standardize(torch.tensor([3.0])), torch.tensor([0.0]))


def test_rollout_workers_shard_the_batch_reproducibly():
    two = small(seed=4, rollout_workers=2, batch_episodes=6, max_env_steps=3000)
    a = train(two, progress=False)
    b = train(small(seed=4, rollout_workers=2, batch_episodes=6, max_env_steps=3000), progress=False)
    assert a.episodes == b.episodes and a.env_steps == b.env_steps
    assert all(torch.equal(v, b.policy.state_dict()[k]) for k, v in a.policy.state_dict().items())


def test_same_seed_same_weights_different_seed_different():
    a = train(small(seed=1), progress=False).policy.state_dict()
    b = train(small(seed=1), progress=False).policy.state_dict()
    c = train(small(seed=2), progress=False).policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_continues_exactly(tmp_path):
    config = small(seed=3, baseline=True, ent_coef=0.01, obs_norm=True, max_grad_norm=1.0, lr_final=1e-3)
    straight = train(config, progress=False)
    first = train(small(seed=3, baseline=True, ent_coef=0.01, obs_norm=True, max_grad_norm=1.0, lr_final=1e-3),
                  checkpoint_dir=tmp_path / "ckpt", progress=False, callback=lambda row, policy: row["update"] == 3)
    assert first.stopped == "callback" and first.updates == 3
    resumed = train(config, checkpoint_dir=tmp_path / "ckpt", resume=True, progress=False)
    assert resumed.updates == straight.updates and resumed.env_steps == straight.env_steps
    for key, value in straight.policy.state_dict().items():
        assert torch.equal(value, resumed.policy.state_dict()[key]), key


def test_ctrl_c_saves_a_checkpoint(tmp_path):
    def interrupt(row, policy):
        if row["update"] == 2:
            raise KeyboardInterrupt

    result = train(small(), checkpoint_dir=tmp_path / "ckpt", progress=False, callback=interrupt)
    assert result.stopped == "interrupted"
    assert (tmp_path / "ckpt" / "state.json").exists() and (tmp_path / "ckpt" / "state.safetensors").exists()


def test_nan_loss_stops_with_a_clear_message_and_keeps_a_checkpoint(tmp_path):
    with pytest.raises(TrainingDivergedError, match="lower lr"):
        train(make_config("CartPole-v1", "course", lr=1e30, n_training_episodes=50), checkpoint_dir=tmp_path / "c",
              progress=False)
    assert (tmp_path / "c" / "state.json").exists()
    # the saved state is finite: the divergent step was never applied
    from safetensors.torch import load_file

    tensors = load_file(str(tmp_path / "c" / "state.safetensors"))
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if k.startswith("policy."))


class _ActsOnUniforms:
    """A sampler whose actions depend on the uniforms only, so single envs can replay them (thrust 1 in 10)."""

    def actions(self, obs, uniforms):
        return (uniforms >= 0.1).astype(np.int64)


def test_autoreset_windows_match_single_envs_replayed_with_the_same_actions():
    from hubrl.envs import make_env

    # Pixelcopter's vector env is bit-identical to single envs (gymnasium's CartPole vector env seeds differently).
    n, window, tail, gamma = 3, 150, 8, 0.9
    batch = play("Pixelcopter-PLE-v0", n, _ActsOnUniforms(), seed=11, max_t=window, run_seed=7, tail=tail,
                 autoreset=True)
    uniforms = shard_rng(7, 0, 0).random((window, n))
    # Replay every copy alone: NEXT_STEP autoreset means the step after an episode's end is its reset.
    obs_t, act_t, ret_t, keep_t = {}, {}, {}, {}
    episode_returns = []
    for i in range(n):
        env = make_env("Pixelcopter-PLE-v0")
        obs, _ = env.reset(seed=11 + i)
        episodes, current, reset_next = [], [], False
        for t in range(window):
            if reset_next:
                obs, _ = env.reset()
                episodes.append(current)
                current, reset_next = [], False
                continue
            action = int(uniforms[t, i] >= 0.1)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            current.append((t, obs, action, reward))
            obs = next_obs
            reset_next = terminated or truncated
        if current:
            episodes.append(current)
        for k, episode in enumerate(episodes):
            cut = k == len(episodes) - 1 and not reset_next  # still running at the window's end
            episode_returns.append((i, sum(r for *_, r in episode), len(episode)))
            for j, (t, o, a, _) in enumerate(episode):
                obs_t[t, i], act_t[t, i] = o, a
                ret_t[t, i] = sum(gamma ** (m - j) * episode[m][3] for m in range(j, len(episode)))
                keep_t[t, i] = not (cut and t >= window - tail)
    kept = sorted(k for k, keep in keep_t.items() if keep)  # time-major, then copy
    assert len(kept) < len(keep_t)  # some steps were left out: a tail and the reset steps
    np.testing.assert_array_equal(batch.obs, np.array([obs_t[k] for k in kept], dtype=np.float32))
    np.testing.assert_array_equal(batch.actions, [act_t[k] for k in kept])
    np.testing.assert_allclose(batch_returns(batch, gamma).numpy(), [ret_t[k] for k in kept], rtol=1e-5)
    # every episode started in the window, copy after copy, cut ones with their partial return
    np.testing.assert_array_equal(batch.episode_returns, [r for _, r, _ in episode_returns])
    np.testing.assert_array_equal(batch.episode_lengths, [length for *_, length in episode_returns])
    assert len(episode_returns) > 2 * n and batch.env_steps == n * window


@pytest.mark.parametrize("override", [dict(lr=0), dict(lr=-1e-3), dict(hidden_sizes=(0,)), dict(batch_episodes=0),
                                      dict(n_training_episodes=-5), dict(gamma=1.5), dict(max_t=0),
                                      dict(train_max_t=0), dict(train_max_t=100, cut_tail=100), dict(cut_tail=-1),
                                      dict(val_on_batch=True, val_every=1, train_max_t=200),
                                      dict(train_autoreset=True), dict(train_max_t=2000),
                                      dict(val_on_batch=True, val_every=1, train_max_t=1000, train_autoreset=True)])
def test_nonsensical_hyperparameters_are_refused(override):
    with pytest.raises(ConfigError):
        make_config("CartPole-v1", **override)


def test_parse_override():
    assert parse_override("lr=3e-4") == ("lr", 3e-4)
    assert parse_override("hidden_sizes=64,128") == ("hidden_sizes", (64, 128))
    assert parse_override("lr_final=none") == ("lr_final", None)
    with pytest.raises(ConfigError):
        parse_override("not_a_key=1")


def test_course_preset_is_the_course_recipe():
    for env_id, (h, n, max_t, gamma, lr) in {
        "CartPole-v1": (16, 1000, 1000, 1.0, 1e-2),
        "Pixelcopter-PLE-v0": (64, 50000, 10000, 0.99, 1e-4),
        "Pong-PLE-v0": (64, 20000, 5000, 0.99, 1e-2),
    }.items():
        c = make_config(env_id, "course")
        assert (c.h_size, c.n_training_episodes, c.max_t, c.gamma, c.lr) == (h, n, max_t, gamma, lr)
        assert c.batch_episodes == 1 and c.normalize_returns and not c.baseline and c.ent_coef == 0
        assert c.hidden_sizes == ((16,) if env_id == "CartPole-v1" else (64, 128))
    assert set(PRESETS) >= {"CartPole-v1", "Pixelcopter-PLE-v0", "Pong-PLE-v0", "ALE/Pong-v5"}


class _NotebookEnv:
    """The notebook's global ``env`` for one update: replays the episode hubrl played (observations, rewards, end)."""

    def __init__(self, batch):
        (rewards,), (in_episode,) = batch.rewards, batch.in_episode  # one copy: one episode
        self.obs, self.actions = batch.obs, batch.actions
        self.rewards = [float(r) for r in rewards[in_episode]]  # python floats, as CartPole's step gives them
        self.t = 0

    def reset(self):
        self.t = 0
        return self.obs[0], {}

    def step(self, action):
        assert action == self.actions[self.t]
        self.t += 1
        ended = self.t == len(self.rewards)
        return self.obs[min(self.t, len(self.obs) - 1)], self.rewards[self.t - 1], ended, False, {}


@pytest.mark.parametrize("override", [{}, {"gamma": 0.9}], ids=["course", "course-gamma-0.9"])
def test_course_preset_takes_the_notebooks_own_update(override):
    """``--preset course`` learns exactly as the notebook's ``reinforce()``: one episode per update, returns as the
    notebook computes them (discounted reward-to-go, standardised with float32 eps), loss sum(-log_prob * return),
    one Adam step. The notebook's own function (tests/course_notebook_code.py) updates its own network on each
    episode hubrl plays; hubrl's trainer updates on the same episode; the weights stay together."""
    import course_notebook_code as notebook
    from torch.distributions import Categorical

    from hubrl.envs import env_spaces
    from hubrl.training import Trainer

    config = make_config("CartPole-v1", "course", seed=0, **override)
    assert config.batch_episodes == 1
    trainer = Trainer(config, env_spaces("CartPole-v1"))  # what train() builds, collects and updates with
    net = trainer.policy.net

    class ReplayedPolicy(notebook.Policy):
        """The notebook's Policy, taking hubrl's action instead of sampling its own; log_prob from its own forward."""

        def act(self, state):
            probs = self.forward(torch.from_numpy(state).float().unsqueeze(0))
            action = torch.tensor([notebook.env.actions[notebook.env.t]])
            return action.item(), Categorical(probs).log_prob(action)

    policy = ReplayedPolicy(4, 2, config.h_size)
    with torch.no_grad():
        for mine, theirs in ((policy.fc1, net[0]), (policy.fc2, net[2])):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)  # the notebook's optimizer cell
    rollouts = Rollouts(config.env_id, config.batch_episodes)
    try:
        for _ in range(8):
            batch = trainer.collect(rollouts)
            notebook.env = _NotebookEnv(batch)
            notebook.reinforce(policy, optimizer, 1, config.max_t, config.gamma, print_every=10**9)
            assert notebook.env.t == len(batch.obs)  # the notebook's loop played the whole episode
            trainer.record(batch, trainer.update(batch), None)
            for mine, theirs in ((policy.fc1, net[0]), (policy.fc2, net[2])):
                torch.testing.assert_close(mine.weight, theirs.weight, rtol=1e-5, atol=1e-6)
                torch.testing.assert_close(mine.bias, theirs.bias, rtol=1e-5, atol=1e-6)
    finally:
        rollouts.close()
        notebook.env = None
    assert trainer.updates == trainer.episodes == 8 and len({len(row) for row in trainer.history}) == 1


def test_default_preset_solves_cartpole():
    """The tuned preset reaches a verified solve (500 +/- 0 on the seeded evaluation) within 300k env steps."""
    result = train(make_config("CartPole-v1", seed=0), progress=False)
    assert result.stopped == "target"
    assert result.env_steps <= 300_000
    evaluation = evaluate_agent(result.policy)
    assert (evaluation.mean_reward, evaluation.std_reward) == (500.0, 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 5))
def test_default_preset_solves_cartpole_more_seeds(seed):
    result = train(make_config("CartPole-v1", seed=seed), progress=False)
    evaluation = evaluate_agent(result.policy)
    assert (evaluation.mean_reward, evaluation.std_reward) == (500.0, 0.0)
