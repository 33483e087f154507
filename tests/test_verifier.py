"""Scores the server checked: a real LocalHub with its verifier on, real agents pushed with the real client, the
verdicts waited for, then read back through the pages, the API (``model_info``) and ``hubrl leaderboard``.

One hub per module: an honest reference agent, a forged one (its results.json carries its own hubrl_verification
record and its card marks its metric verified, for a policy that scores about 20), an env-options cheat (the honest
weights, a config asking for a 10-step episode and a claim to match), a card with no weights, a repo that claims
nothing, a course-notebook model.pt. No mocks: each verdict comes from a bounded child playing the real game.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import HfApi, constants, metadata_eval_result, metadata_save

from hubrl.evaluate import evaluate_agent
from hubrl.hub import HubClient
from hubrl.policy import Policy, PolicyConfig, load_policy, save_policy
from hubrl.ranking import leaderboard, verify_entries
from hubrl.ranking.claims import HUB
from hubrl.ranking.sandbox import SandboxLimits, verify_folder
from hubrl.server import LocalHub, VerifierOptions
from hubrl.server.verifier import Verifier, verification_for

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "model_cards" / "reference" / "CartPole-v1"
ENV = "CartPole-v1"
PONG = "ALE/Pong-v5"
PONG_CLAIM = "-20.80 +/- 0.40"
"""What the random ALE Pong agent of :func:`random_agent` measures with hubrl's protocol."""
LIMITS = SandboxLimits(cpu_seconds=120, wall_seconds=120)


def card(folder: Path, value: str, *, env_id: str = ENV, verified: bool = False) -> None:
    meta = {"tags": [env_id, "reinforce", "reinforcement-learning", "deep-rl-class"],
            **metadata_eval_result(model_pretty_name=folder.name, task_pretty_name="reinforcement-learning",
                                   task_id="reinforcement-learning", metrics_pretty_name="mean_reward",
                                   metrics_id="mean_reward", metrics_value=value, dataset_pretty_name=env_id,
                                   dataset_id=env_id)}
    meta["model-index"][0]["results"][0]["metrics"][0]["verified"] = verified
    path = folder / "README.md"
    path.write_text(f"# {folder.name}\n")
    metadata_save(path, meta)


def random_agent(folder: Path, env_id: str = ENV, obs_dim: int = 4, n_actions: int = 2, **options) -> Path:
    folder.mkdir(parents=True)
    config = PolicyConfig(env_id=env_id, obs_dim=obs_dim, n_actions=n_actions, hidden_sizes=(8,), **options)
    rng = np.random.default_rng(1)
    save_policy(Policy(config, {k: rng.normal(0, 0.5, s).astype(t) for k, (s, t) in config.weight_shapes().items()}),
                folder)
    (folder / "results.json").write_text(json.dumps({"env_id": env_id}))
    return folder


class Hub:
    def __init__(self, server: LocalHub, tmp: Path):
        self.server, self.tmp, self.endpoint = server, tmp, server.endpoint
        self.tokens: dict[str, str] = {}

    def api(self, user: str) -> HfApi:
        if user not in self.tokens:
            self.tokens[user] = self.server.create_token(user)
        return HfApi(endpoint=self.endpoint, token=self.tokens[user])

    def push(self, repo_id: str, folder: Path) -> str:
        api = self.api(repo_id.split("/")[0])
        api.create_repo(repo_id, exist_ok=True)
        return api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="push").oid

    def page(self, path: str) -> str:
        with urllib.request.urlopen(self.endpoint + path, timeout=30) as response:
            return response.read().decode()

    def row(self, path: str, repo_id: str) -> str:
        html = self.page(path)
        rows = [r for r in re.findall(r"<tr.*?</tr>", html, flags=re.S) if repo_id in r]
        return " ".join(re.sub(r"<[^>]+>", " ", rows[0]).split()) if rows else ""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from course_fixtures import make_course_model_pt

    tmp = tmp_path_factory.mktemp("verifier")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_CACHE", str(tmp / "hf_cache"))
        mp.setattr(constants, "HF_TOKEN_PATH", str(tmp / "no_token"))
        mp.delenv("HF_TOKEN", raising=False)
        with LocalHub(tmp / "data", verifier=VerifierOptions(limits=LIMITS)) as server:
            h = Hub(server, tmp)
            honest = tmp / "honest"
            shutil.copytree(REFERENCE, honest, ignore=shutil.ignore_patterns("*.mp4", "*.png"))
            h.push("alice/honest", honest)

            forged = random_agent(tmp / "forged")
            (forged / "results.json").write_text(json.dumps({"env_id": ENV, "mean_reward": 500.0, "std_reward": 0.0,
                                                             "hubrl_verification": {"mean_reward": 500.0,
                                                                                    "std_reward": 0.0}}))
            card(forged, "500.00 +/- 0.00", verified=True)
            h.push("mallory/forged", forged)

            cheat = tmp / "cheat"
            shutil.copytree(honest, cheat)
            config = json.loads((cheat / "config.json").read_text())
            config["env_options"] = {"max_episode_steps": 10}
            (cheat / "config.json").write_text(json.dumps(config))
            card(cheat, "10.00 +/- 0.00")
            h.push("mallory/cheat", cheat)

            card_only = tmp / "card-only"
            card_only.mkdir()
            card(card_only, "400.00 +/- 1.00")
            h.push("mallory/card-only", card_only)

            silent = random_agent(tmp / "silent")
            (silent / "README.md").write_text("# no claim here\n")
            h.push("carol/silent", silent)

            pong = random_agent(tmp / "pong-honest", env_id=PONG, obs_dim=128, n_actions=2,
                                env_options={"obs_mode": "ram"})
            card(pong, PONG_CLAIM, env_id=PONG)
            h.push("alice/pong-honest", pong)
            pong_cheat = tmp / "pong-cheat"
            shutil.copytree(pong, pong_cheat)
            config = json.loads((pong_cheat / "config.json").read_text())
            config["env_options"]["max_num_frames_per_episode"] = 200  # the cheat: a -20.8 agent scores 0
            (pong_cheat / "config.json").write_text(json.dumps(config))
            card(pong_cheat, "0.00 +/- 0.00", env_id=PONG)
            h.push("mallory/pong-cheat", pong_cheat)

            course = tmp / "course"
            course.mkdir()
            make_course_model_pt(course / "model.pt", s_size=4, a_size=2, h_size=16, seed=3)
            (course / "hyperparameters.json").write_text(json.dumps({"env_id": ENV, "h_size": 16}))
            card(course, "20.00 +/- 5.00")
            h.push("bob/course", course)

            acrobot = random_agent(tmp / "acrobot", env_id="Acrobot-v1", obs_dim=6, n_actions=3)
            card(acrobot, "400.00 +/- 0.00", env_id="Acrobot-v1")  # any gymnasium env; an impossible claim
            h.push("mallory/acrobot", acrobot)
            elsewhere = random_agent(tmp / "elsewhere", env_id="NotInstalledHere/Game-v0")
            card(elsewhere, "10.00 +/- 1.00", env_id="NotInstalledHere/Game-v0")
            h.push("carol/elsewhere", elsewhere)
            assert server.state.verifier.wait_idle(timeout=600), "the verifier did not finish"
            yield h


def verdict(h: Hub, repo_id: str):
    head = HfApi(endpoint=h.endpoint, token=False).model_info(repo_id).sha
    return verification_for(h.server.state, repo_id, head)


def test_honest_agent_is_verified_with_the_standard_protocol(hub):
    v = verdict(hub, "alice/honest")
    direct = evaluate_agent(load_policy(REFERENCE), ENV, n_eval_episodes=10, seed=0, max_steps=1000)
    assert v.verdict == "consistent" and v.checked_by == HUB
    assert v.episode_returns == direct.episode_returns and v.seeds == list(range(10)) and v.max_steps == 1000


def test_a_repo_cannot_verify_itself(hub):
    v = verdict(hub, "mallory/forged")
    assert v.verdict == "flagged" and v.mean_reward < 100
    assert "far outside the measured range" in v.flags[0]
    row = hub.row("/leaderboard/CartPole-v1", "mallory/forged")
    assert "flagged by the Hub (hubrl measured" in row and "verified by" not in row
    progress = hub.page("/progress/mallory")
    assert "flagged by the Hub" in progress and "verified by the Hub" not in progress


def test_env_options_cheat_is_refused_and_honest_copy_verified(hub):
    v = verdict(hub, "mallory/cheat")
    assert v.verdict == "error" and v.mean_reward is None
    assert "unknown env option(s) 'max_episode_steps'" in v.error and "\n" not in v.error
    assert "the Hub could not verify it" in hub.row("/leaderboard/CartPole-v1", "mallory/cheat")
    assert "verified by the Hub" in hub.row("/leaderboard/CartPole-v1", "alice/honest")


def test_pong_episode_cap_cheat_is_refused_and_honest_copy_verified(hub):
    honest, cheat = verdict(hub, "alice/pong-honest"), verdict(hub, "mallory/pong-cheat")
    assert honest.verdict == "consistent", honest
    assert cheat.verdict == "error" and "unknown env option(s) 'max_num_frames_per_episode'" in cheat.error
    row = hub.row("/leaderboard/ALE/Pong-v5", "mallory/pong-cheat")
    assert "the Hub could not verify it" in row and "verified by" not in row


@pytest.mark.slow
def test_client_verify_of_the_pong_cheat(hub):
    entries = [e for e in leaderboard(PONG, client=HubClient(hub.endpoint, False), cache_dir=hub.tmp / "c3")]
    results = {v.repo_id: v for v in verify_entries(entries, 2, workers=1, client=HubClient(hub.endpoint, False),
                                                    cache_dir=hub.tmp / "c3")}
    assert results["alice/pong-honest"].verdict == "consistent"
    assert results["alice/pong-honest"].episode_returns == verdict(hub, "alice/pong-honest").episode_returns
    assert "max_num_frames_per_episode" in results["mallory/pong-cheat"].error


def test_card_without_weights_and_silent_repo(hub):
    assert "holds neither model.safetensors" in verdict(hub, "mallory/card-only").error
    assert verdict(hub, "carol/silent") is None  # it claims nothing: nothing to check


def test_claims_on_any_env_are_checked_and_unplayable_ones_stay_open(hub):
    v = verdict(hub, "mallory/acrobot")
    assert v.verdict == "flagged" and v.mean_reward is not None and v.mean_reward < 0
    # an env this Hub cannot play: no verdict stored (checked again at the next start, after an install)
    assert verdict(hub, "carol/elsewhere") is None
    assert not (hub.server.data_dir / "verifications" / "carol").exists()


def test_course_model_is_verified_in_its_own_bounded_reader(hub):
    v = verdict(hub, "bob/course")
    assert v.format == "course" and v.ok and len(v.episode_returns) == 10


def test_verdicts_live_beside_the_repos_never_in_them(hub):
    api = HfApi(endpoint=hub.endpoint, token=False)
    pushed = {str(p.relative_to(hub.tmp / "honest")) for p in (hub.tmp / "honest").rglob("*") if p.is_file()}
    assert set(api.list_repo_files("alice/honest")) == {".gitattributes", *pushed}
    assert len(api.list_repo_commits("alice/honest")) == 2  # create + push: the verifier commits nothing
    head = api.model_info("alice/honest").sha
    assert (hub.server.data_dir / "verifications" / "alice" / "honest" / f"{head}.json").is_file()


def test_api_and_cli_show_the_hubs_verdicts(hub):
    info = HfApi(endpoint=hub.endpoint, token=False).model_info("mallory/forged")
    assert info.hubrlVerification["verdict"] == "flagged" and info.hubrlVerification["commit"] == info.sha
    entries = {e.repo_id: e for e in leaderboard(ENV, client=HubClient(hub.endpoint, False), cache_dir=hub.tmp / "c")}
    assert entries["alice/honest"].verification_state == "verified"
    assert entries["mallory/forged"].verification_state == "flagged"
    assert entries["mallory/cheat"].verification_state == "error"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env.update(PYTHONPATH=str(ROOT), HF_HOME=str(hub.tmp / "cli_home"), HF_HUB_DISABLE_PROGRESS_BARS="1")
    proc = subprocess.run([sys.executable, "-m", "hubrl.cli", "leaderboard", ENV, "--endpoint", hub.endpoint],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("\n\n")[0].splitlines()
    rows = {line.split()[1]: line for line in table[2:]}
    assert "hubrl ok" in rows["alice/honest"] and "hubrl FLAG" in rows["mallory/forged"]
    assert "load failed" in rows["mallory/cheat"]
    checks = proc.stdout.split("\n\n")[1]
    assert "by this run (--verify) or by the Hub's own verifier" in checks
    assert re.search(r"mallory/cheat .* the Hub +cannot load: mallory/cheat: config.json: unknown env option", checks)


def test_client_verify_refuses_the_cheat_in_one_line(hub):
    entries = [e for e in leaderboard(ENV, client=HubClient(hub.endpoint, False), cache_dir=hub.tmp / "c2")
               if e.repo_id in ("mallory/cheat", "alice/honest")]
    results = {v.repo_id: v for v in verify_entries(entries, 2, workers=1, client=HubClient(hub.endpoint, False),
                                                    cache_dir=hub.tmp / "c2")}
    assert results["alice/honest"].verdict == "consistent" and results["alice/honest"].checked_by == "this run"
    assert results["mallory/cheat"].verdict == "error" and "max_episode_steps" in results["mallory/cheat"].error


def test_a_restart_checks_what_was_pushed_while_the_verifier_was_off(tmp_path):
    with LocalHub(tmp_path / "data") as server:  # no verifier
        h = Hub(server, tmp_path)
        folder = tmp_path / "agent"
        shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("*.mp4", "*.png"))
        commit = h.push("alice/later", folder)
        assert verification_for(server.state, "alice/later", commit) is None
        assert "self-reported" not in h.row("/leaderboard/CartPole-v1", "alice/later")
        assert "not verified" in h.row("/leaderboard/CartPole-v1", "alice/later")
    with LocalHub(tmp_path / "data", verifier=VerifierOptions(limits=LIMITS)) as server:
        assert server.state.verifier.wait_idle(timeout=300)
        assert verification_for(server.state, "alice/later", commit).verdict == "consistent"


def test_queue_takes_namespaces_in_turn_and_keeps_only_a_repos_newest_push():
    queue = Verifier(state=None)  # never started: only the queue is exercised
    for repo, commit in (("a/1", "c1"), ("a/2", "c2"), ("a/3", "c3"), ("b/1", "c4"), ("a/1", "c5")):
        queue.submit(repo, commit)
    assert queue.pending() == 5  # 4 commits, and the start-up scan (busy until the first job is taken)
    assert [queue._next() for _ in range(4)] == [("a/1", "c5"), ("b/1", "c4"), ("a/2", "c2"), ("a/3", "c3")]


def test_sandbox_wall_limit(tmp_path):
    agent = random_agent(tmp_path / "pong", env_id="ALE/Pong-v5", obs_dim=128, n_actions=2,
                         env_options={"obs_mode": "ram"})
    v = verify_folder(agent, repo_id="a/pong", env_id="ALE/Pong-v5", limits=SandboxLimits(wall_seconds=2))
    assert v.verdict == "error" and re.search(r"took more than [\d.]+ s \(wall clock\)", v.error), v.error


def test_sandbox_stop_kills_the_child(tmp_path):
    import threading
    import time

    agent = random_agent(tmp_path / "pong", env_id=PONG, obs_dim=128, n_actions=2, env_options={"obs_mode": "ram"})
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    start = time.monotonic()
    v = verify_folder(agent, repo_id="a/pong", env_id=PONG, limits=LIMITS, stop=stop)
    assert v.error == "the verification was stopped" and time.monotonic() - start < 5
