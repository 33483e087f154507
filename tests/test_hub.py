"""Push and load by repo id through the real huggingface_hub client against a real local Hub on loopback."""

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, hf_hub_download

from course_fixtures import make_course_model_pt, make_malicious_model_pt
from hubrl.errors import CardError, ConfigError, HubError, RunFolderError, UnsafePickleError
from hubrl.evaluate import evaluate_agent
from hubrl.hub import HubClient
from hubrl.pushing import card_for_repo
from hubrl.run import train_run
from hubrl.server import LocalHub


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with LocalHub(tmp_path_factory.mktemp("hub")) as server:
        server.tokens = {user: server.create_token(user) for user in ("alice", "bob")}
        yield server


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_run(env_id="CartPole-v1", output=tmp_path_factory.mktemp("r") / "run", progress=False,
                     max_env_steps=4000, val_every=0, select_best=False, target_score=None).path


@pytest.fixture()
def cache(tmp_path):
    return tmp_path / "cache"


def api(hub, user="alice"):
    return HfApi(endpoint=hub.endpoint, token=hub.tokens[user])


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_push_then_download_gives_identical_bytes(hub, run_dir, tmp_path):
    before = _folder_bytes(run_dir)
    result = HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, "alice/cartpole")
    assert _folder_bytes(run_dir) == before  # push never modifies the folder it pushes
    assert result.changed and len(result.commit_oid) == 40
    assert result.repo_url == f"{hub.endpoint}/alice/cartpole"
    remote = set(api(hub).list_repo_files("alice/cartpole"))
    assert {"model.safetensors", "config.json", "hyperparameters.json", "results.json", "replay.mp4",
            "training_curve.png", "README.md"} <= remote
    for name in ("model.safetensors", "replay.mp4", "results.json"):
        path = hf_hub_download("alice/cartpole", name, endpoint=hub.endpoint, cache_dir=tmp_path)
        assert Path(path).read_bytes() == (run_dir / name).read_bytes(), name
    # the card is the folder's, rendered for this repo (its load instructions name it)
    card = Path(hf_hub_download("alice/cartpole", "README.md", endpoint=hub.endpoint, cache_dir=tmp_path))
    assert card.read_text() == card_for_repo(run_dir, "alice/cartpole") != (run_dir / "README.md").read_text()
    commits = api(hub).list_repo_commits("alice/cartpole")
    assert len(commits) == 2  # the repo's initial commit + ONE commit with every file


def test_card_metadata_reads_back_and_names_the_repo(hub, run_dir):
    info = api(hub).model_info("alice/cartpole")
    assert "CartPole-v1" in info.tags and "deep-rl-class" in info.tags
    data = info.card_data.to_dict()
    assert data["model-index"][0]["name"] == "cartpole"
    assert data["model-index"][0]["results"][0]["metrics"][0]["value"].count("+/-") == 1
    assert "load_from_hub(\"alice/cartpole\")" in card_for_repo(run_dir, "alice/cartpole")
    assert [m.id for m in api(hub).list_models(filter=["CartPole-v1", "reinforce"])] == ["alice/cartpole"]


def test_repush_of_identical_content_makes_no_commit(hub, run_dir):
    again = HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, "alice/cartpole")
    assert not again.changed
    assert len(api(hub).list_repo_commits("alice/cartpole")) == 2


def test_dry_run_sends_nothing(hub, run_dir):
    result = HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, "alice/dry", dry_run=True)
    assert result.dry_run and any(name == "model.safetensors" for name, _ in result.files)
    assert "CartPole-v1" in result.card_metadata["tags"]
    assert not api(hub).repo_exists("alice/dry")


def test_load_by_repo_id_evaluates_like_the_local_run(hub, run_dir, cache):
    agent = HubClient(hub.endpoint).load_from_hub("alice/cartpole", cache_dir=cache)  # anonymous read
    assert agent.format == "hubrl" and agent.env_id == "CartPole-v1"
    local = json.loads((run_dir / "results.json").read_text())
    assert evaluate_agent(agent.policy).episode_returns == local["episode_returns"]


def test_wrong_or_missing_token_and_other_namespace(hub, run_dir):
    with pytest.raises(HubError, match="token"):
        HubClient(hub.endpoint, "hf_wrong").push_to_hub(run_dir, "alice/other")
    with pytest.raises(HubError, match="own namespace"):
        HubClient(hub.endpoint, hub.tokens["bob"]).push_to_hub(run_dir, "alice/cartpole")
    with pytest.raises(HubError):
        HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, "bob/stolen")
    assert not api(hub).repo_exists("alice/other") and not api(hub).repo_exists("bob/stolen")


def test_bad_repo_ids_and_incomplete_folders_are_refused_before_sending(hub, run_dir, tmp_path):
    for bad in ("noslash", "a/b/c", "../x", "alice/..", "alice/na me"):
        with pytest.raises(ConfigError):
            HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, bad)
    partial = tmp_path / "partial"
    shutil.copytree(run_dir, partial)
    (partial / "replay.mp4").unlink()
    with pytest.raises(RunFolderError, match="replay.mp4"):
        HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(partial, "alice/partial")
    assert not api(hub).repo_exists("alice/partial")


def test_card_without_leaderboard_fields_is_refused(hub, run_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "README.md").write_text("---\ntags: [reinforce]\n---\n# my agent\n")
    with pytest.raises(CardError, match="model-index"):
        HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(broken, "alice/broken")
    assert not api(hub).repo_exists("alice/broken")


def test_user_edited_card_is_kept(hub, run_dir, tmp_path):
    edited = tmp_path / "edited"
    shutil.copytree(run_dir, edited)
    text = (edited / "README.md").read_text() + "\nMy own notes.\n"
    (edited / "README.md").write_text(text)
    HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(edited, "alice/edited")
    assert (edited / "README.md").read_text() == text


def test_branch_revision_push_and_load(hub, run_dir, cache):
    HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, "alice/branchy")
    result = HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, "alice/branchy", revision="experiment", commit_message="same files on a branch")
    assert result.commit_oid
    agent = HubClient(hub.endpoint).load_from_hub("alice/branchy", revision="experiment", cache_dir=cache)
    assert agent.source == "alice/branchy@experiment"


def test_load_errors_are_clear(hub, cache):
    with pytest.raises(HubError, match="not found"):
        HubClient(hub.endpoint).load_from_hub("alice/nope", cache_dir=cache)
    with pytest.raises(HubError, match="revision"):
        HubClient(hub.endpoint).load_from_hub("alice/cartpole", revision="nobranch", cache_dir=cache)
    api(hub).create_repo("alice/empty")
    from hubrl.errors import AgentFormatError

    with pytest.raises(AgentFormatError, match="neither"):
        HubClient(hub.endpoint).load_from_hub("alice/empty", cache_dir=cache)


def test_hub_errors_are_typed_and_keep_their_cause(hub, run_dir, cache):
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
    from huggingface_hub.errors import RevisionNotFoundError as HfRevisionNotFoundError

    from hubrl.errors import NotAuthorizedError, RepoNotFoundError, RevisionNotFoundError

    HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, "alice/typed")
    with pytest.raises(RepoNotFoundError) as missing:
        HubClient(hub.endpoint).load_from_hub("alice/nope", cache_dir=cache)
    assert isinstance(missing.value.__cause__, RepositoryNotFoundError) and missing.value.repo_id == "alice/nope"
    with pytest.raises(RevisionNotFoundError) as revision:
        HubClient(hub.endpoint).load_from_hub("alice/typed", revision="nobranch", cache_dir=cache)
    assert isinstance(revision.value.__cause__, HfRevisionNotFoundError)
    with pytest.raises(NotAuthorizedError, match="rejected the token") as rejected:
        HubClient(hub.endpoint, "hf_wrong").push_to_hub(run_dir, "alice/other")
    assert isinstance(rejected.value.__cause__, HfHubHTTPError)
    with pytest.raises(NotAuthorizedError, match="own namespace"):
        HubClient(hub.endpoint, hub.tokens["bob"]).push_to_hub(run_dir, "alice/typed")


def test_unreachable_hub_is_told_apart():
    import socket

    from huggingface_hub.utils import get_session

    from hubrl.errors import HubUnreachableError
    from hubrl.hub import HubClient

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{free.getsockname()[1]}"
    client = HubClient(endpoint=endpoint, token=False)
    with pytest.raises(Exception) as refused:  # the client's own transport error, without its retries
        get_session().get(f"{endpoint}/api/models/alice/cartpole")
    error = client.error(refused.value, repo_id="alice/cartpole")
    assert isinstance(error, HubUnreachableError) and f"cannot reach the Hub at {endpoint}" in str(error)


def test_repo_ids_follow_the_hubs_rules():
    from hubrl.hub import check_repo_id

    assert check_repo_id("alice/Reinforce-CartPole-v1") == "alice/Reinforce-CartPole-v1"
    for bad in ("a--b/x", "alice/x--y", "alice/name.", "alice/-name", "alice/name.git", "/name", "alice/"):
        with pytest.raises(ConfigError, match="invalid repo id") as refused:
            check_repo_id(bad)
        assert refused.value.__cause__ is not None and "\n" not in str(refused.value)


def test_client_never_shows_its_token_and_pickles_as_endpoint_and_token(hub):
    import pickle

    from hubrl.hub import HubClient

    client = HubClient(endpoint=hub.endpoint + "/", token=hub.tokens["alice"])
    assert client.endpoint == hub.endpoint and hub.tokens["alice"] not in repr(client)
    again = pickle.loads(pickle.dumps(client))
    assert (again.endpoint, again.token) == (hub.endpoint, hub.tokens["alice"])
    assert again.api.whoami()["name"] == "alice"


def upload_course_repo(hub, tmp_path, repo_id, model_pt_writer, hyper):
    folder = tmp_path / repo_id.replace("/", "_")
    folder.mkdir()
    model = model_pt_writer(folder / "model.pt")
    (folder / "hyperparameters.json").write_text(json.dumps(hyper))
    (folder / "results.json").write_text(json.dumps({"env_id": hyper["env_id"], "mean_reward": 10.0,
                                                     "n_evaluation_episodes": 10, "eval_datetime": "2023-01-01"}))
    api(hub, "bob").create_repo(repo_id, exist_ok=True)
    api(hub, "bob").upload_folder(repo_id=repo_id, folder_path=folder)
    return model


def test_course_notebook_repo_loads_and_evaluates(hub, tmp_path, cache):
    hyper = {"env_id": "CartPole-v1", "h_size": 16, "n_training_episodes": 1000, "n_evaluation_episodes": 10,
             "max_t": 1000, "gamma": 1.0, "lr": 0.01, "state_space": 4, "action_space": 2}
    model = upload_course_repo(hub, tmp_path, "bob/course-cartpole",
                               lambda p: make_course_model_pt(p, 4, 2, 16, two_hidden=False, seed=1), hyper)
    agent = HubClient(hub.endpoint).load_from_hub("bob/course-cartpole", cache_dir=cache)
    assert agent.format == "course" and agent.policy.config.hidden_sizes == (16,)
    x = torch.randn(6, 4)
    assert torch.allclose(torch.as_tensor(agent.policy(x.numpy())), model(x), atol=1e-6)  # policy(x): probabilities
    result = evaluate_agent(agent.policy, n_eval_episodes=3)
    assert result.n_eval_episodes == 3 and result.mean_reward >= 8


def test_course_repo_with_two_hidden_layers(hub, tmp_path, cache):
    hyper = {"env_id": "CartPole-v1", "h_size": 8, "state_space": 4, "action_space": 2}
    model = upload_course_repo(hub, tmp_path, "bob/course-deep",
                               lambda p: make_course_model_pt(p, 4, 2, 8, two_hidden=True), hyper)
    agent = HubClient(hub.endpoint).load_from_hub("bob/course-deep", cache_dir=cache)
    assert agent.policy.config.hidden_sizes == (8, 16)
    x = torch.randn(3, 4)
    assert torch.allclose(torch.as_tensor(agent.policy(x.numpy())), model(x), atol=1e-6)  # policy(x): probabilities


def test_malicious_model_pt_is_refused_and_nothing_runs(hub, tmp_path, cache):
    marker = tmp_path / "pwned"
    hyper = {"env_id": "CartPole-v1", "h_size": 16, "state_space": 4, "action_space": 2}
    upload_course_repo(hub, tmp_path, "bob/evil", lambda p: make_malicious_model_pt(p, marker), hyper)
    with pytest.raises(UnsafePickleError, match="refusing"):
        HubClient(hub.endpoint).load_from_hub("bob/evil", cache_dir=cache)
    assert not marker.exists()


def test_two_concurrent_pushes_both_land(hub, run_dir, tmp_path):
    api(hub).create_repo("alice/race")
    folders = []
    for i in range(2):
        folder = tmp_path / f"race{i}"
        shutil.copytree(run_dir, folder)
        results = json.loads((folder / "results.json").read_text())
        results["note"] = f"variant {i}"
        (folder / "results.json").write_text(json.dumps(results))
        (folder / f"extra{i}.txt").write_text(str(i))
        folders.append(folder)
    errors = []

    def push(folder):
        try:
            HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(folder, "alice/race")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=push, args=(f,)) for f in folders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(api(hub).list_repo_commits("alice/race")) == 3
    assert {"extra0.txt", "extra1.txt"} <= set(api(hub).list_repo_files("alice/race"))


def test_everything_survives_a_server_restart(tmp_path, run_dir, cache):
    data = tmp_path / "hubdata"
    with LocalHub(data) as first:
        token = first.create_token("carol")
        HubClient(first.endpoint, token).push_to_hub(run_dir, "carol/persist")
    with LocalHub(data) as second:
        agent = HubClient(second.endpoint).load_from_hub("carol/persist", cache_dir=cache)
        assert agent.env_id == "CartPole-v1"
        assert HfApi(endpoint=second.endpoint, token=token).whoami()["name"] == "carol"
        assert len(HfApi(endpoint=second.endpoint).list_repo_commits("carol/persist")) == 2


def test_endpoint_and_token_set_after_importing_huggingface_hub_are_honoured(hub, run_dir):
    """The course notebook imports huggingface_hub (notebook_login) in its first cell and sets HF_ENDPOINT later."""
    import subprocess
    import sys
    import time

    HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, "alice/late-endpoint")
    code = f"""
import os, huggingface_hub, hubrl
os.environ["HF_ENDPOINT"] = {hub.endpoint!r}
os.environ["HF_TOKEN"] = {hub.tokens["bob"]!r}
agent = hubrl.load_from_hub("alice/late-endpoint")
entries = hubrl.leaderboard("CartPole-v1")
print(agent.env_id, "alice/late-endpoint" in [e.repo_id for e in entries])
"""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_ENDPOINT", "HF_TOKEN")}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["CartPole-v1", "True"] and time.perf_counter() - started < 15


def test_the_course_signature_on_the_top_level_push_is_one_line(run_dir):
    import hubrl

    with pytest.raises(ConfigError, match="from hubrl.course import push_to_hub") as info:
        hubrl.push_to_hub("alice/x", object(), {"env_id": "CartPole-v1"}, object())
    assert "\n" not in str(info.value)
