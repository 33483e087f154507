"""hubrl.course's drop-ins for the Unit 4 notebook, called exactly as the notebook calls them, on the student's own
Policy trained by the notebook's own reinforce(), against a real local Hub through the real huggingface_hub client."""

import json
import re

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import HfApi, hf_hub_download

from course_notebook_code import OldGymAPI, evaluate_agent_verbatim, train_notebook_policy
from course_students import course_loop
from hubrl.cli import main as cli_main
from hubrl.card import course_score, parse_metric
from hubrl.course import convert_module, evaluate_agent, push_to_hub, record_video
from hubrl.errors import AgentFormatError, ConfigError, HubrlError, NotAuthorizedError
from hubrl.hub import HubClient
from hubrl.server import LocalHub

REPO = "student/Reinforce-CartPole-v1"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with LocalHub(tmp_path_factory.mktemp("hub")) as server:
        server.tokens = {user: server.create_token(user) for user in ("student", "classmate")}
        yield server


@pytest.fixture(scope="module")
def trained():
    """The notebook's CartPole cells, 60 episodes of its own reinforce()."""
    policy, hyperparameters, eval_env, scores = train_notebook_policy(60, seed=0)
    assert len(scores) == 60
    return policy, hyperparameters, eval_env


@pytest.fixture(scope="module")
def pushed(hub, trained):
    """push_to_hub exactly as the notebook calls it, Hub and token from HF_ENDPOINT / HF_TOKEN."""
    policy, hyperparameters, eval_env = trained
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_ENDPOINT", hub.endpoint)
    mp.setenv("HF_TOKEN", hub.tokens["student"])
    try:
        result = push_to_hub(REPO, policy, hyperparameters, eval_env, video_fps=30)
    finally:
        mp.undo()
    return result


def api(hub, user="student"):
    return HfApi(endpoint=hub.endpoint, token=hub.tokens[user])


def download_json(hub, name, tmp_path):
    return json.loads(open(hf_hub_download(REPO, name, endpoint=hub.endpoint, cache_dir=tmp_path)).read())


class ScaledInputPolicy(nn.Module):
    """Looks like the course MLP from its modules, but its forward scales the input: only the check can tell."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return F.softmax(self.fc2(F.relu(self.fc1(3.0 * x))), dim=1)


class NormedPolicy(nn.Module):
    """A layer hubrl cannot rebuild (LayerNorm)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.fc1 = nn.Linear(4, 8)
        self.norm = nn.LayerNorm(8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return F.softmax(self.fc2(F.relu(self.norm(self.fc1(x)))), dim=1)


# -- evaluate_agent / record_video ------------------------------------------------------------------------------------


def test_evaluate_agent_is_the_notebooks_loop_seeded(trained):
    policy, hyperparameters, eval_env = trained
    first = evaluate_agent(eval_env, hyperparameters["max_t"], hyperparameters["n_evaluation_episodes"], policy)
    again = evaluate_agent(gym.make("CartPole-v1"), 1000, 10, policy)
    assert first == again and all(isinstance(x, float) for x in first)
    assert first == course_loop(gym.make("CartPole-v1"), 1000, 10, policy)


def test_record_video_films_a_fresh_rgb_copy_of_an_env_made_without_render_mode(trained, tmp_path):
    policy, _, eval_env = trained
    assert eval_env.render_mode is None
    out = tmp_path / "replay.mp4"
    rec = record_video(eval_env, policy, out, fps=30)
    frames = np.stack(list(iio.imiter(out, plugin="FFMPEG")))
    assert len(frames) == rec.frames >= 2 and rec.fps == 30 and frames.shape[-1] == 3
    assert frames.std() > 0  # a real picture, not a black screen
    first, _ = evaluate_agent(eval_env, 1000, 1, policy)
    assert rec.episode_return == first  # the replay is evaluation episode 0
    assert record_video(eval_env, policy, tmp_path).path == out  # a folder, as the parameter's name suggests


# -- push_to_hub ------------------------------------------------------------------------------------------------------


def test_push_as_the_notebook_calls_it_makes_one_commit_without_pickle(hub, pushed, trained, tmp_path, capsys):
    policy, hyperparameters, eval_env = trained
    files = set(api(hub).list_repo_files(REPO))
    assert {"model.safetensors", "config.json", "hyperparameters.json", "results.json", "replay.mp4",
            "README.md"} <= files
    assert not any(name.endswith((".pt", ".pth", ".pkl", ".bin")) for name in files)
    assert len(api(hub).list_repo_commits(REPO)) == 2  # the repo's initial commit + ONE push
    results = download_json(hub, "results.json", tmp_path)
    assert results["seeds"] == list(range(10)) and len(results["episode_returns"]) == 10
    assert results["std_reward"] == pytest.approx(float(np.std(results["episode_returns"])))
    act = results["weights"]["author_act"]  # what the student's act() scored, kept beside hubrl's protocol on the network
    assert (act["mean_reward"], act["std_reward"]) == evaluate_agent(eval_env, 1000, 10, policy)
    assert results["weights"]["format"] == "hubrl-policy/1"
    assert download_json(hub, "hyperparameters.json", tmp_path) == hyperparameters
    info = api(hub).model_info(REPO)
    assert "CartPole-v1" in info.tags and "deep-rl-class" in info.tags
    metric = info.card_data.to_dict()["model-index"][0]["results"][0]["metrics"][0]["value"]
    assert metric == f"{results['mean_reward']:.2f} +/- {results['std_reward']:.2f}"
    assert info.library_name == "hubrl"
    (entry,) = api(hub).model_info(REPO, expand=["evalResults"]).eval_results  # .eval_results/CartPole-v1.yaml
    assert (entry.dataset_id, entry.value) == ("hubrl/CartPole-v1", course_score(*parse_metric(metric)))


def test_a_classmates_hubrl_evaluate_reproduces_the_pushed_numbers_exactly(hub, pushed, tmp_path, capsys):
    results = download_json(hub, "results.json", tmp_path)
    capsys.readouterr()
    assert cli_main(["evaluate", REPO, "--endpoint", hub.endpoint, "--token", hub.tokens["classmate"], "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert measured["format"] == "hubrl"
    assert (measured["mean_reward"], measured["std_reward"]) == (results["mean_reward"], results["std_reward"])
    assert measured["episode_returns"] == results["episode_returns"]


@pytest.fixture(scope="module")
def course_repo(hub, tmp_path_factory):
    """A classmate's repo pushed the course's way: a pickled model.pt and hyperparameters.json."""
    from course_fixtures import make_course_model_pt

    folder = tmp_path_factory.mktemp("course")
    make_course_model_pt(folder / "model.pt", 4, 2, 16, seed=7)
    (folder / "hyperparameters.json").write_text(json.dumps({"env_id": "CartPole-v1", "h_size": 16,
                                                             "state_space": 4, "action_space": 2}))
    api(hub, "classmate").create_repo("classmate/course-cartpole")
    api(hub, "classmate").upload_folder(repo_id="classmate/course-cartpole", folder_path=folder)
    return "classmate/course-cartpole"


@pytest.mark.parametrize("which", ["hubrl", "course"])
def test_loaded_agents_play_in_the_notebooks_own_evaluate_loop(hub, pushed, course_repo, which, tmp_path):
    repo = REPO if which == "hubrl" else course_repo
    agent = HubClient(hub.endpoint, hub.tokens["classmate"]).load_from_hub(repo, cache_dir=tmp_path)
    assert agent.format == which
    state, _ = gym.make("CartPole-v1").reset(seed=0)
    action, log_prob = agent.policy.act(state)
    assert action in (0, 1) and float(log_prob) <= 0.0
    probs = np.asarray(agent.policy(state[None].astype(np.float32)))
    assert probs.shape == (1, 2) and probs.sum() == pytest.approx(1.0, abs=1e-6)
    mean, std = evaluate_agent_verbatim(OldGymAPI(gym.make("CartPole-v1"), seed=0), 1000, 5, agent.policy)
    assert 1 <= mean <= 500 and std >= 0


def test_repush_prints_what_was_written_and_still_one_commit_per_push(hub, pushed, trained, capsys):
    policy, hyperparameters, eval_env = trained
    result = push_to_hub(REPO, policy, hyperparameters, eval_env, endpoint=hub.endpoint, token=hub.tokens["student"])
    out = capsys.readouterr().out
    assert re.search(r"weights: model\.safetensors \+ config\.json, loadable with no code .* states your act\(\) saw",
                     out)
    assert "Your model is pushed to the Hub" in out
    assert result.commit_oid is not None


def test_a_module_hubrl_cannot_rebuild_is_pushed_as_state_dict_and_says_so(hub, tmp_path, capsys):
    from safetensors.torch import load_file

    model = NormedPolicy()
    hyper = {"env_id": "CartPole-v1", "n_evaluation_episodes": 3, "max_t": 50}
    push_to_hub("student/normed", model, hyper, gym.make("CartPole-v1"), endpoint=hub.endpoint,
                token=hub.tokens["student"], local_dir=tmp_path / "run")
    line = capsys.readouterr().out.splitlines()[0]
    assert "state_dict" in line and "LayerNorm" in line and "need your class" in line
    files = set(api(hub).list_repo_files("student/normed"))
    assert "model.safetensors" in files and not any(n.endswith((".pt", ".pkl")) for n in files)
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert set(weights) == set(model.state_dict())
    assert json.loads((tmp_path / "run" / "config.json").read_text())["format"] == "hubrl-state-dict/1"
    card = (tmp_path / "run" / "README.md").read_text()
    assert "Loading needs the author's class" in card and "hubrl cannot load this agent" in card
    with pytest.raises(HubrlError, match="NormedPolicy's own state_dict.*needs the author's class") as info:
        HubClient(hub.endpoint).load_from_hub("student/normed", cache_dir=tmp_path / "cache")
    assert "\n" not in str(info.value)


def test_the_tracer_sees_a_forward_the_modules_do_not_show(tmp_path):
    from hubrl.course.play import play, player_for

    model, env = ScaledInputPolicy(), gym.make("CartPole-v1")
    played = play(player_for(model), env, n_episodes=2, max_steps=100)
    conversion = convert_module(model, env, tmp_path, played=played)
    assert not conversion.rebuilt and "operator.mul" in conversion.reason
    assert json.loads((tmp_path / "config.json").read_text())["format"] == "hubrl-state-dict/1"


@pytest.mark.parametrize(("make_args", "error", "pattern"), [
    # any registered env is playable now: the CartPole agent is refused for an eval_env its hyperparameters do not name
    (lambda t: ("student/x", t[0], t[1], gym.make("MountainCar-v0")), ConfigError, "pass the matching eval_env"),
    (lambda t: ("student/x", "not a module", t[1], t[2]), AgentFormatError, "torch.nn.Module"),
    (lambda t: ("student/x", t[0], {**t[1], "env_id": "Pong-PLE-v0"}, t[2]), ConfigError, "env_id"),
    (lambda t: ("not a repo id", t[0], t[1], t[2]), ConfigError, "invalid repo id"),
    (lambda t: ("classmate/theirs", t[0], t[1], t[2]), NotAuthorizedError, "student's token"),
])
def test_bad_inputs_get_one_clear_line_and_push_nothing(hub, trained, make_args, error, pattern):
    args = make_args(trained)
    with pytest.raises(error, match=pattern) as info:
        push_to_hub(*args, endpoint=hub.endpoint, token=hub.tokens["student"])
    assert "\n" not in str(info.value)
    if args[0] != "not a repo id":
        assert not api(hub, "classmate").repo_exists(args[0])
