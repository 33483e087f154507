"""Bring your own agent, faithfully: the course's Policy as students write it, evaluated, filmed and pushed by
hubrl.course's drop-ins against a real local Hub, and loaded back by a classmate.

Each case is built here (tests/course_students.py): act() rescaling the state, forward returning logits or
log-probabilities, nn.Sequential(policy, nn.Softmax(dim=1)), .double(), torch.tanh / F.leaky_relu / F.elu in
forward, an observation-wrapped eval_env, max_episode_steps=1000. For every one, hubrl's numbers are the course
loop's (same env, same act), and a push either reproduces for the classmate or says why it needs the author's class.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn

import hubrl
from course_students import (
    DoublePolicy, EluPolicy, LeakyPolicy, LogitsPolicy, NormedPolicy, Policy, RescalingPolicy, ScaledObservation,
    TanhPolicy, balance, make_student, course_loop,
)
from hubrl.cli import main as cli_main
from hubrl.course import evaluate_agent, push_to_hub, record_video
from hubrl.errors import ConfigError, NotAuthorizedError, VideoError
from hubrl.hub import HubClient
from hubrl.server import LocalHub

HYPER = {"h_size": 16, "n_training_episodes": 10, "n_evaluation_episodes": 5, "max_t": 1000, "gamma": 1.0,
         "lr": 1e-2, "env_id": "CartPole-v1", "state_space": 4, "action_space": 2}
ENVS = {
    "plain": lambda: gym.make("CartPole-v1"),
    "wrapped": lambda: ScaledObservation(gym.make("CartPole-v1")),
    "long": lambda: gym.make("CartPole-v1", max_episode_steps=1000),
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with LocalHub(tmp_path_factory.mktemp("hub")) as server:
        server.tokens = {user: server.create_token(user) for user in ("student", "classmate")}
        yield server


def push(hub, repo, model, env, hyper=HYPER, **kwargs):
    return push_to_hub(f"student/{repo}", model, dict(hyper), env, endpoint=hub.endpoint,
                       token=hub.tokens["student"], **kwargs)


def results_of(hub, repo, tmp_path):
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(f"student/{repo}", "results.json", endpoint=hub.endpoint, cache_dir=tmp_path)
    return json.loads(open(path).read())


def module_probabilities(model, states):
    """What the author's module says the action probabilities are (softmax of logits, exp of log-probabilities)."""
    param = next(model.parameters())
    with torch.no_grad():
        out = model(torch.as_tensor(states, dtype=param.dtype)).double()
    if isinstance(model, LogitsPolicy):  # logits, or log-probabilities (EluPolicy): softmax gives the probabilities
        out = torch.softmax(out, dim=1)
    return out.numpy()


# -- 1. the numbers are the course loop's: same env, same act ------------------------------------------------------

@pytest.mark.parametrize("cls", [Policy, RescalingPolicy, LogitsPolicy, TanhPolicy, LeakyPolicy, EluPolicy,
                                 DoublePolicy], ids=lambda c: c.__name__)
@pytest.mark.parametrize("env_name", ["plain", "wrapped", "long"])
def test_evaluate_agent_is_the_course_loop_on_the_env_passed_in(cls, env_name):
    model = make_student(cls, seed=1)
    if cls in (Policy, RescalingPolicy, TanhPolicy, DoublePolicy):
        balance(model)
    env = ENVS[env_name]()
    ours = evaluate_agent(env, 1000, 3, model)
    assert ours == course_loop(env, 1000, 3, model)
    assert ours == evaluate_agent(ENVS[env_name](), 1000, 3, model)  # seeded: the same call, the same numbers


def test_the_env_passed_in_is_what_plays():
    """A balanced agent: 1000 steps under max_episode_steps=1000, 500 under the registered cap; the wrapped env
    changes what act() sees, so the numbers change as the course loop's do."""
    model = balance(make_student(Policy))
    assert evaluate_agent(ENVS["long"](), 1000, 2, model) == (1000.0, 0.0)
    assert evaluate_agent(ENVS["plain"](), 1000, 2, model) == (500.0, 0.0)
    wrapped = evaluate_agent(ENVS["wrapped"](), 1000, 2, model)
    assert wrapped == course_loop(ENVS["wrapped"](), 1000, 2, model) and wrapped != (500.0, 0.0)


def test_evaluation_leaves_the_students_random_state_alone():
    model = make_student(Policy)
    torch.manual_seed(123)
    np.random.seed(123)
    expected = torch.rand(1).item(), np.random.rand()
    torch.manual_seed(123)
    np.random.seed(123)
    evaluate_agent(gym.make("CartPole-v1"), 100, 2, model)
    assert (torch.rand(1).item(), np.random.rand()) == expected


# -- 2. pushed as what was trained: loadable and reproducible ... ---------------------------------------------------

def sequential_softmax():
    """The logits Policy wrapped as nn.Sequential(policy, nn.Softmax(dim=1)): no act(), hubrl samples its forward."""
    return nn.Sequential(make_student(LogitsPolicy, seed=2), nn.Softmax(dim=1))


@pytest.mark.parametrize("make", [
    lambda: balance(make_student(Policy)),
    lambda: make_student(LogitsPolicy, seed=2),
    sequential_softmax,
    lambda: balance(make_student(TanhPolicy)),
    lambda: make_student(LeakyPolicy, seed=3),
    lambda: make_student(EluPolicy, seed=4),
    lambda: balance(make_student(DoublePolicy)),
], ids=["course", "logits", "sequential-softmax", "tanh", "leaky_relu", "elu-log_softmax", "float64"])
def test_a_provable_agent_loads_by_repo_id_with_the_authors_probabilities(hub, make, tmp_path, capsys):
    model = make()
    repo = f"ok-{type(model).__name__}-{abs(hash(str(model))) % 10_000}"
    push(hub, repo, model, gym.make("CartPole-v1"))
    out = capsys.readouterr().out
    assert "loadable with no code" in out and "Your model is pushed" in out
    results = results_of(hub, repo, tmp_path)
    assert results["weights"]["format"] == "hubrl-policy/1"
    assert results["weights"]["check"]["max_probability_difference"] <= 1e-5

    agent = HubClient(hub.endpoint, hub.tokens["classmate"]).load_from_hub(f"student/{repo}",
                                                                          cache_dir=tmp_path / "cache")
    states = np.random.default_rng(0).normal(0, 1, (256, 4)).astype(np.float32)
    assert np.abs(agent.policy(states) - module_probabilities(model, states)).max() < 1e-5

    capsys.readouterr()
    assert cli_main(["evaluate", f"student/{repo}", "--endpoint", hub.endpoint, "--n-eval-episodes", "5",
                     "--max-steps", "1000", "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert measured["episode_returns"] == results["episode_returns"]  # hubrl evaluate REPO reproduces the push
    if hasattr(model, "act"):  # the author's act() numbers are kept beside them, as evaluate_agent gave them
        act = results["weights"]["author_act"]
        assert (act["mean_reward"], act["std_reward"]) == evaluate_agent(gym.make("CartPole-v1"), 1000, 5, model)


# -- ... or labelled as needing the author's class ------------------------------------------------------------------

@pytest.mark.parametrize(("make", "env_name", "why"), [
    (lambda: balance(make_student(RescalingPolicy)), "plain", "does act\\(\\) change the state"),
    (lambda: balance(make_student(Policy)), "wrapped", "wrapped in ScaledObservation"),
    (lambda: balance(make_student(Policy)), "long", "max_episode_steps=1000"),
    (lambda: make_student(NormedPolicy), "plain", r"self\.norm \(LayerNorm\)"),
], ids=["act-rescales", "wrapped-env", "max_episode_steps", "layernorm"])
def test_an_unprovable_agent_is_pushed_with_its_own_numbers_and_says_why(hub, make, env_name, why, tmp_path, capsys):
    model = make()
    repo = f"own-{env_name}-{type(model).__name__}"
    expected = evaluate_agent(ENVS[env_name](), 1000, 5, model)
    push(hub, repo, model, ENVS[env_name](), local_dir=tmp_path / "run")
    lines = capsys.readouterr().out.splitlines()
    said = [line for line in lines if line.startswith("weights:")]
    assert len(said) == 1 and "state_dict" in said[0] and "need your class" in said[0]
    assert re.search(why, said[0]), said[0]
    results = results_of(hub, repo, tmp_path)
    assert (results["mean_reward"], results["std_reward"]) == expected  # what act() scored on that env
    assert results["weights"]["format"] == "hubrl-state-dict/1" and "author_act" not in results["weights"]
    card = (tmp_path / "run" / "README.md").read_text()
    assert "Loading needs the author's class" in card and "hubrl evaluate" not in card
    page = urllib.request.urlopen(f"{hub.endpoint}/student/{repo}").read().decode()
    assert "hubrl enjoy" not in page and "needs the author" in page
    with pytest.raises(hubrl.HubrlError, match="needs the author's class"):
        HubClient(hub.endpoint).load_from_hub(f"student/{repo}", cache_dir=tmp_path / "cache")


def test_dropout_left_in_training_mode_is_named(hub, tmp_path, capsys):
    model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 2), nn.Softmax(dim=1))
    push(hub, "dropout", model, gym.make("CartPole-v1"))
    assert "call model.eval()" in capsys.readouterr().out
    model.eval()
    push(hub, "dropout-eval", model, gym.make("CartPole-v1"))
    assert "loadable with no code" in capsys.readouterr().out


# -- 4, 5. no silent surprises ---------------------------------------------------------------------------------------

class Untouchable(Policy):
    def act(self, state):
        raise AssertionError("act() ran: the push evaluated before checking the token")


@pytest.mark.parametrize(("repo", "token", "pattern"), [
    ("classmate/mine", "student", "not allowed to write to classmate/mine with student's token"),
    ("student/x", "bad", "rejected the token"),
])
def test_a_push_that_cannot_be_written_fails_before_anything_is_evaluated(hub, repo, token, pattern):
    with pytest.raises(NotAuthorizedError, match=pattern) as info:
        push_to_hub(repo, make_student(Untouchable), dict(HYPER), gym.make("CartPole-v1"), endpoint=hub.endpoint,
                    token=hub.tokens.get(token, "hf_not_a_token"))
    assert "\n" not in str(info.value)


def test_missing_course_keys_are_named_and_unknown_ones_listed(hub, capsys):
    hyper = {k: v for k, v in HYPER.items() if k not in ("n_evaluation_episodes", "max_t")}
    hyper.update(n_eval_episodes=5, max_steps=100)
    with pytest.raises(ConfigError, match=r"lack 'max_t' \(you have 'max_steps'\), 'n_evaluation_episodes' "
                                          r"\(you have 'n_eval_episodes'\)"):
        push_to_hub("student/keys", make_student(Untouchable), hyper, gym.make("CartPole-v1"),
                    endpoint=hub.endpoint, token=hub.tokens["student"])
    push(hub, "keys", make_student(Policy), gym.make("CartPole-v1"), hyper={**HYPER, "print_every": 100})
    assert "hyperparameters: print_every is not read by the notebook" in capsys.readouterr().out


def test_a_worse_push_over_a_better_one_names_both_scores(hub, capsys):
    from huggingface_hub import HfApi

    push(hub, "rerun", balance(make_student(Policy)), gym.make("CartPole-v1"))
    assert "below what" not in capsys.readouterr().out
    push(hub, "rerun", make_student(Policy, seed=5), gym.make("CartPole-v1"))
    line = next(line for line in capsys.readouterr().out.splitlines() if "below what" in line)
    assert "500.00 +/- 0.00 (score 500.00)" in line and "history" in line
    assert len(HfApi(endpoint=hub.endpoint).list_repo_commits("student/rerun")) == 3


def test_the_other_apis_signature_gets_one_line_pointing_to_the_right_function():
    model, env = make_student(Policy), gym.make("CartPole-v1")
    with pytest.raises(ConfigError, match="from hubrl.course import push_to_hub"):
        hubrl.push_to_hub("student/x", model, dict(HYPER), env)
    with pytest.raises(ConfigError, match="use from hubrl.course import evaluate_agent"):
        hubrl.evaluate_agent(env, 1000, 10, model)
    agent_policy = hubrl.load_policy("model_cards/reference/CartPole-v1")
    with pytest.raises(ConfigError, match=r"use hubrl.evaluate_agent\(agent.policy"):
        evaluate_agent(agent_policy, n_eval_episodes=10)


# -- 6. a loaded agent back in torch ----------------------------------------------------------------------------------

def test_to_torch_gives_the_course_policy_with_the_same_probabilities_ready_to_fine_tune(hub, tmp_path, capsys):
    from course_notebook_code import reinforce
    import course_notebook_code

    policy = hubrl.load_policy("model_cards/reference/CartPole-v1")
    model = policy.to_torch()
    states = np.random.default_rng(1).normal(0, 1, (64, 4)).astype(np.float32)
    with torch.no_grad():
        assert np.abs(model(torch.from_numpy(states)).numpy() - policy(states)).max() < 1e-6
    action, log_prob = model.act(states[0])
    assert action in (0, 1) and log_prob.requires_grad
    before = [p.detach().clone() for p in model.parameters()]
    course_notebook_code.env = gym.make("CartPole-v1")
    torch.manual_seed(0)
    reinforce(model, torch.optim.Adam(model.parameters(), lr=1e-3), 3, 200, 1.0, 10_000)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    push(hub, "fine-tuned", model, gym.make("CartPole-v1"))
    assert "loadable with no code" in capsys.readouterr().out


# -- 7. videos --------------------------------------------------------------------------------------------------------

def test_a_gif_path_gets_a_gif_and_another_suffix_one_line(tmp_path):
    import imageio.v3 as iio

    model = make_student(Policy)
    rec = record_video(gym.make("CartPole-v1"), model, tmp_path / "replay.gif", fps=30)
    assert (tmp_path / "replay.gif").read_bytes()[:6] == b"GIF89a"
    assert (tmp_path / "replay.gif").stat().st_mode & 0o777 == 0o644  # as every file of a run folder
    frames = iio.imread(tmp_path / "replay.gif", index=None)
    assert len(frames) == rec.frames and frames.shape[-1] == 3
    assert rec.episode_return == evaluate_agent(gym.make("CartPole-v1"), 1000, 1, model)[0]  # episode 0
    with pytest.raises(VideoError, match=r"\.mp4 \(H\.264\) or \.gif") as info:
        record_video(gym.make("CartPole-v1"), model, tmp_path / "replay.avi")
    assert "\n" not in str(info.value) and not (tmp_path / "replay.avi").exists()


def test_a_wrapped_env_gymnasium_cannot_rebuild_is_filmed_as_it_is(tmp_path):
    class Custom(gym.ObservationWrapper):
        def observation(self, observation):
            return observation * 0.5

    env = Custom(gym.make("CartPole-v1"))
    model = balance(make_student(Policy))
    rec = record_video(env, model, tmp_path / "r.mp4")
    assert rec.frames >= 2 and env.unwrapped.render_mode is None  # switched back
    assert rec.episode_return == evaluate_agent(env, 1000, 1, model)[0]  # the same env, episode 0


def test_replay_padding_is_the_scenes_own_colour():
    from hubrl.video import prepare_frame

    frame = np.full((400, 600, 3), 255, np.uint8)  # CartPole's white scene, 600 wide: 8 columns of padding
    frame[390:] = 0  # a dark floor line at the bottom edge
    padded = prepare_frame(frame, 1)
    assert padded.shape == (400, 608, 3)
    assert (padded[:390, :4] == 255).all() and (padded[:390, -4:] == 255).all()
    assert (padded[395, :4] == 0).all()


def test_the_notebooks_cell_order_works_endpoint_and_token_set_after_importing_huggingface_hub(tmp_path):
    """The course imports notebook_login first; HF_ENDPOINT / HF_TOKEN come later. The push reaches the local Hub."""
    script = f"""
import os, sys, time
from huggingface_hub import notebook_login  # the course's first cell
sys.path.insert(0, {str(Path(__file__).parent)!r})
import gymnasium as gym
from hubrl.server import LocalHub
from course_students import Policy, make_student
hub = LocalHub({str(tmp_path / "hub")!r}).start()
os.environ["HF_ENDPOINT"] = hub.endpoint
os.environ["HF_TOKEN"] = hub.create_token("student")
from hubrl.course import push_to_hub
start = time.monotonic()
result = push_to_hub("student/late", make_student(Policy), {HYPER!r}, gym.make("CartPole-v1"))
print("PUSHED", result.repo_url.startswith(hub.endpoint), round(time.monotonic() - start, 1))
"""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k not in ("HF_ENDPOINT", "HF_TOKEN")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PUSHED True" in proc.stdout
    assert time.monotonic() - start < 60
