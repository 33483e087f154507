"""``hubrl convert``: the course notebook's own model.pt (folder or repo) -> a complete hubrl run folder whose
evaluation equals the original's; ``hubrl push --remove-pickle`` replaces the pickle on the Hub in one commit."""

import json

import gymnasium as gym
import numpy as np
import pytest
from huggingface_hub import HfApi

from course_fixtures import make_course_model_pt, make_malicious_model_pt
from hubrl.cli import main as cli_main
from hubrl.course import convert, evaluate_agent
from hubrl.errors import OutputExistsError, UnsafePickleError
from hubrl.evaluate import evaluate_agent as hubrl_evaluate
from hubrl.hub import HubClient
from hubrl.records import load_run, validate_run_folder
from hubrl.server import LocalHub

HYPER = {"env_id": "CartPole-v1", "h_size": 16, "n_training_episodes": 1000, "n_evaluation_episodes": 10,
         "max_t": 1000, "gamma": 1.0, "lr": 0.01, "state_space": 4, "action_space": 2}
COURSE_RESULTS = {"env_id": "CartPole-v1", "mean_reward": 500.0, "n_evaluation_episodes": 10,
                  "eval_datetime": "2023-05-01T10:00:00"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with LocalHub(tmp_path_factory.mktemp("hub")) as server:
        server.tokens = {user: server.create_token(user) for user in ("bob", "alice")}
        yield server


def course_folder(path, *, seed=1, two_hidden=False, writer=None):
    """What the notebook's push_to_hub leaves in its temporary folder (the files of a course repo)."""
    path.mkdir()
    model = (writer or (lambda p: make_course_model_pt(p, 4, 2, 16, two_hidden=two_hidden, seed=seed)))(
        path / "model.pt")
    (path / "hyperparameters.json").write_text(json.dumps(HYPER))
    (path / "results.json").write_text(json.dumps(COURSE_RESULTS))
    (path / "README.md").write_text("# course card\n")
    return model


def test_a_course_folder_becomes_a_run_folder_whose_evaluation_is_the_originals(tmp_path):
    model = course_folder(tmp_path / "course")
    out = convert(tmp_path / "course", tmp_path / "run").path
    validate_run_folder(out)
    assert not (out / "model.pt").exists()
    results = json.loads((out / "results.json").read_text())
    # the original module itself, evaluated by the notebook drop-in, gives the same numbers
    original = evaluate_agent(gym.make("CartPole-v1"), 1000, 10, model)
    assert (results["mean_reward"], results["std_reward"]) == original
    again = hubrl_evaluate(load_run(out).policy, n_eval_episodes=10, seed=0)
    assert again.episode_returns == results["episode_returns"]
    assert results["converted_from"]["claimed"]["mean_reward"] == 500.0
    assert "Converted by hubrl from the course notebook's pickled `model.pt`" in (out / "README.md").read_text()
    assert json.loads((out / "hyperparameters.json").read_text()) == HYPER


def test_two_hidden_layers_and_the_output_is_never_overwritten(tmp_path):
    course_folder(tmp_path / "course", two_hidden=True)
    (tmp_path / "run").mkdir()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        convert(tmp_path / "course", tmp_path / "run")
    out = convert(tmp_path / "course", tmp_path / "run", overwrite=True)
    assert load_run(out).policy.config.hidden_sizes == (16, 32)


def test_a_malicious_model_pt_is_refused_and_leaves_nothing(tmp_path):
    marker = tmp_path / "pwned"
    course_folder(tmp_path / "course", writer=lambda p: make_malicious_model_pt(p, marker))
    with pytest.raises(UnsafePickleError):
        convert(tmp_path / "course", tmp_path / "run")
    assert not marker.exists() and not (tmp_path / "run").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["course"]  # no staging folder left behind


def test_cli_converts_a_course_repo_and_push_removes_the_pickle_in_one_commit(hub, tmp_path, capsys):
    bob = HfApi(endpoint=hub.endpoint, token=hub.tokens["bob"])
    model = course_folder(tmp_path / "course", seed=5)
    bob.create_repo("bob/Reinforce-CartPole-v1")
    bob.upload_folder(repo_id="bob/Reinforce-CartPole-v1", folder_path=tmp_path / "course")
    original = HubClient(hub.endpoint).load_from_hub("bob/Reinforce-CartPole-v1", cache_dir=tmp_path / "c1")
    assert original.format == "course"
    before = hubrl_evaluate(original.policy, n_eval_episodes=10, seed=0)

    common = ["--endpoint", hub.endpoint, "--token", hub.tokens["bob"]]
    assert cli_main(["convert", "bob/Reinforce-CartPole-v1", "--output", str(tmp_path / "run"), *common]) == 0
    out = capsys.readouterr().out
    assert "claimed mean_reward 500.00" in out and f"{before.mean_reward:.2f} +/- {before.std_reward:.2f}" in out
    assert cli_main(["convert", "bob/Reinforce-CartPole-v1", "--output", str(tmp_path / "run"), *common]) == 2
    assert "--overwrite" in capsys.readouterr().err

    commits = len(bob.list_repo_commits("bob/Reinforce-CartPole-v1"))
    assert cli_main(["push", str(tmp_path / "run"), "--repo-id", "bob/Reinforce-CartPole-v1", "--remove-pickle",
                     *common]) == 0
    assert "deleted model.pt" in capsys.readouterr().out
    assert len(bob.list_repo_commits("bob/Reinforce-CartPole-v1")) == commits + 1
    files = set(bob.list_repo_files("bob/Reinforce-CartPole-v1"))
    assert "model.pt" not in files and {"model.safetensors", "config.json", "replay.mp4"} <= files

    after = HubClient(hub.endpoint).load_from_hub("bob/Reinforce-CartPole-v1", cache_dir=tmp_path / "c2")
    assert after.format == "hubrl"
    assert hubrl_evaluate(after.policy, n_eval_episodes=10, seed=0).episode_returns == before.episode_returns
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    import torch

    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    logits = after.policy.sampler().logits(x)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    assert np.allclose(probs / probs.sum(1, keepdims=True), expected, atol=1e-6)


def test_convert_refuses_what_is_neither_a_folder_nor_a_repo_id(tmp_path, capsys):
    assert cli_main(["convert", str(tmp_path / "nowhere" / "deeper"), "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "neither a course folder" in err


def test_a_gymnasium_era_model_pt_with_numpy_int_sizes_converts(tmp_path):
    """Policy(s_size, env.action_space.n, h_size) under gymnasium: nn.Linear keeps a numpy int, so the pickle does."""
    from course_fixtures import make_course_model, save_like_notebook

    model = make_course_model(4, 2, 16, seed=2)
    model.fc2.out_features = np.int64(2)  # what Policy(s_size, env.action_space.n, h_size) stores under gymnasium
    (tmp_path / "course").mkdir()
    save_like_notebook(model, tmp_path / "course" / "model.pt")
    (tmp_path / "course" / "hyperparameters.json").write_text(json.dumps(HYPER))
    out = convert(tmp_path / "course", tmp_path / "run")
    assert load_run(out).policy.config.hidden_sizes == (16,)
