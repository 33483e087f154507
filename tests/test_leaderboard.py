"""The leaderboard, verification and submission checks, on a real LocalHub with the real client (no mocks).

One LocalHub (page size 2, so every listing spans several pages) is populated once per module with cards in every
layout seen in the wild and two real agents (a hubrl run folder pushed with push_to_hub, a course-notebook repo).
Tests that commit (``--fix``, ``--verify``) work on repos of their own, so the shared listing stays as built.
Downloads go to tmp_path caches; no stored token is ever read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import (
    HfApi,
    hf_hub_download,
    metadata_eval_result,
    metadata_save,
)

from hubrl.card import (
    COURSE_TAGS,
    build_card,
    card_tags,
    format_metric,
    read_front_matter,
)
from hubrl.errors import CardError, HubError
from hubrl.evaluate import evaluate_agent
from hubrl.hub import HubClient
from hubrl.ranking import (
    check_submission,
    claim_tolerance,
    impossible_claims,
    judge_claim,
    leaderboard,
    verify_entries,
)
from hub_fixtures import isolated_hub
from hubrl.server import LocalHub

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "CartPole-v1"
BODY = "\n# My agent\n\nHand-written card body: *keep me* exactly.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"

CARD_2022 = """---
tags:
- CartPole-v1
- reinforce
- reinforcement-learning
- custom-implementation
- deep-rl-class
model-index:
- name: course-2022
  results:
  - metrics:
    - type: mean_reward
      value: 350.50 +/- 20.50
      name: mean_reward
    task:
      type: reinforcement-learning
      name: reinforcement-learning
    dataset:
      name: CartPole-v1
      type: CartPole-v1
---
# REINFORCE Agent playing CartPole-v1 (2022 card)
"""


def course_metadata(name: str, value, env_id: str = ENV_ID, tags: list[str] | None = None) -> dict:
    """The metadata the course notebook builds with metadata_eval_result."""
    return {
        "tags": tags if tags is not None else card_tags(env_id),
        **metadata_eval_result(
            model_pretty_name=name, task_pretty_name="reinforcement-learning", task_id="reinforcement-learning",
            metrics_pretty_name="mean_reward", metrics_id="mean_reward", metrics_value=value,
            dataset_pretty_name=env_id, dataset_id=env_id,
        ),
    }


def write_card(path: Path, metadata: dict | None, body: str = BODY) -> None:
    path.write_text(body, encoding="utf-8")
    if metadata is not None:
        metadata_save(path, metadata)


def course_repo_folder(folder: Path, *, claim: str | None, seed: int = 0, card: bool = True) -> Path:
    """A course-notebook repo: model.pt (torch.save of the whole module), hyperparameters.json, results.json, README."""
    from course_fixtures import make_course_model_pt

    folder.mkdir(parents=True)
    make_course_model_pt(folder / "model.pt", s_size=4, a_size=2, h_size=16, two_hidden=False, seed=seed)
    hyper = {"env_id": ENV_ID, "h_size": 16, "n_training_episodes": 1000, "n_evaluation_episodes": 10,
             "max_t": 1000, "gamma": 1.0, "lr": 1e-2, "state_space": 4, "action_space": 2}
    (folder / "hyperparameters.json").write_text(json.dumps(hyper))
    results = {"env_id": ENV_ID, "mean_reward": 500.0, "n_evaluation_episodes": 10,
               "eval_datetime": "2023-01-05T10:00:00"}
    (folder / "results.json").write_text(json.dumps(results))
    write_card(folder / "README.md", course_metadata(folder.name, claim) if claim and card else None)
    return folder


class Hub:
    """The populated LocalHub and what the tests need to reach it."""

    def __init__(self, server: LocalHub, tokens: dict[str, str], cache: Path, run_dir: Path, tmp: Path):
        self.server, self.tokens, self.cache, self.run_dir, self.tmp = server, tokens, cache, run_dir, tmp
        self.endpoint = server.endpoint

    def api(self, user: str) -> HfApi:
        return HfApi(endpoint=self.endpoint, token=self.tokens[user])

    def upload(self, user: str, name: str, folder: Path) -> str:
        repo_id = f"{user}/{name}"
        api = self.api(user)
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="course notebook push")
        return repo_id

    def card_only(self, user: str, name: str, text: str) -> str:
        repo_id = f"{user}/{name}"
        api = self.api(user)
        api.create_repo(repo_id, exist_ok=True)
        api.upload_file(path_or_fileobj=text.encode(), path_in_repo="README.md", repo_id=repo_id)
        return repo_id

    def files(self, repo_id: str) -> dict[str, bytes]:
        api = HfApi(endpoint=self.endpoint, token=False)
        out = {}
        for name in api.list_repo_files(repo_id):
            path = hf_hub_download(repo_id, name, endpoint=self.endpoint, token=False, cache_dir=self.cache)
            out[name] = Path(path).read_bytes()
        return out


def card_text(metadata: dict | None, body: str = BODY, tmp: Path | None = None) -> str:
    path = (tmp or Path(os.environ.get("TMPDIR", "/tmp"))) / "card.md"
    write_card(path, metadata, body)
    text = path.read_text(encoding="utf-8")
    path.unlink()
    return text


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leaderboard")
    users = ("alice", "bob", "carol", "dave", "eve", "frank")
    with isolated_hub(tmp, users, page_size=2) as (server, tokens):
        h = Hub(server, tokens, tmp / "cache", tmp / "run", tmp)
        _populate(h)
        yield h


def _populate(h: Hub) -> None:
    from hubrl.run import train_run

    t = h.tmp
    # a real hubrl agent, trained briefly (honest, low claim) and pushed with push_to_hub
    train_run(env_id=ENV_ID, output=h.run_dir, progress=False, record=True, n_training_episodes=20)
    HubClient(h.endpoint, h.tokens["alice"]).push_to_hub(h.run_dir, "alice/Reinforce-CartPole-v1")
    # the 2022 layout: metrics before task/dataset
    h.card_only("alice", "course-2022", CARD_2022)
    # a real course-notebook agent (random weights) whose card claims a perfect score it does not reach
    h.upload("bob", "course-agent", course_repo_folder(t / "course-agent", claim="500.00 +/- 0.00"))
    # a lone number: std 0
    h.card_only("bob", "lone-number", card_text(course_metadata("lone-number", 200), tmp=t))
    # the current layout, built by hubrl's own card code
    results = {"env_id": ENV_ID, "mean_reward": 480.0, "std_reward": 10.0, "seeds": list(range(10))}
    h.card_only("carol", "current-layout", str(build_card(hyperparameters={"env_id": ENV_ID}, results=results,
                                                         repo_id="carol/current-layout")))
    h.card_only("carol", "garbage", card_text(course_metadata("garbage", "abc"), tmp=t))
    h.card_only("carol", "no-model-index", card_text({"tags": card_tags(ENV_ID)}, tmp=t))
    h.card_only("carol", "no-env-tag", card_text(course_metadata("no-env-tag", "400.00 +/- 5.00",
                                                                 tags=list(COURSE_TAGS)), tmp=t))
    h.card_only("carol", "wrong-env-tag", card_text(course_metadata(
        "wrong-env-tag", "300.00 +/- 5.00", tags=card_tags("Pixelcopter-PLE-v0")), tmp=t))
    # metadata odd enough to break the client's ModelInfo parsing: the listing falls back to README.md
    odd = {**course_metadata("odd-card", "-16.00 +/- 0.00", env_id="Pong-PLE-v0"), "eval_results": 5}
    h.card_only("carol", "odd-card", card_text(odd, tmp=t))
    # an impossible claim, and no weights at all
    h.card_only("eve", "impossible", card_text(course_metadata("impossible", "1000.00 +/- 0.00"), tmp=t))


def run_cli(h: Hub, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env.update(PYTHONPATH=str(ROOT), HF_HOME=str(h.tmp / "cli_home"), HF_HUB_DISABLE_PROGRESS_BARS="1")
    return subprocess.run([sys.executable, "-m", "hubrl.cli", *args, "--endpoint", h.endpoint,
                           "--cache-dir", str(h.tmp / "cli_cache")],
                          check=False, capture_output=True, text=True, env=env, timeout=120)


def board(h: Hub, env_id: str = ENV_ID, **kwargs):
    return {e.repo_id: e for e in leaderboard(env_id, cache_dir=h.cache, **kwargs, client=HubClient(h.endpoint, False))}


# ------------------------------------------------------------------------------------------------------- ranking
def test_ranking_reads_every_layout_and_every_page(hub):
    entries = leaderboard(ENV_ID, cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    assert hub.server.page_size == 2  # 8 models over 4 pages: the client followed every Link header
    ids = [e.repo_id for e in entries]
    hubrl_claim = json.loads((hub.run_dir / "results.json").read_text())
    assert ids[:5] == ["eve/impossible", "bob/course-agent", "carol/current-layout", "alice/course-2022",
                       "bob/lone-number"]
    assert set(ids[5:]) == {"alice/Reinforce-CartPole-v1", "carol/garbage", "carol/no-model-index"}
    assert "carol/no-env-tag" not in ids and "carol/wrong-env-tag" not in ids  # not tagged CartPole-v1
    by_id = {e.repo_id: e for e in entries}
    assert [e.rank for e in entries] == [1, 2, 3, 4, 5, 6, None, None]
    assert (by_id["alice/course-2022"].mean, by_id["alice/course-2022"].std) == (350.5, 20.5)  # metrics first
    assert (by_id["bob/lone-number"].mean, by_id["bob/lone-number"].std) == (200.0, 0.0)  # lone number: std 0
    assert by_id["carol/current-layout"].score == 470.0
    mine = by_id["alice/Reinforce-CartPole-v1"]
    assert mine.metric_value == format_metric(hubrl_claim["mean_reward"], hubrl_claim["std_reward"])
    assert mine.passes is False and by_id["carol/current-layout"].passes is True
    assert by_id["alice/course-2022"].passes is False  # 330 < 350: the score, not the mean, decides
    # unparseable values are shown, not crashing, and never ranked
    assert by_id["carol/garbage"].metric_value == "abc"
    assert by_id["carol/garbage"].unranked_reason.startswith("first metric value 'abc' does not parse")
    assert by_id["carol/no-model-index"].unranked_reason.startswith("the card has no model-index")
    # impossible claims are ranked (as the course does) but flagged
    assert by_id["eve/impossible"].flags and "exceeds the best possible return 500" in by_id["eve/impossible"].flags[0]
    assert not any(by_id[r].flags for r in ("bob/course-agent", "carol/current-layout"))
    assert all(e.verification_state == "unverified" for e in entries)
    assert json.loads(json.dumps([e.to_json() for e in entries]))[0]["repo_id"] == "eve/impossible"


def test_limit_author_and_other_envs(hub):
    limited = leaderboard(ENV_ID, limit=3, cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    assert [e.rank for e in limited] == [1, 2, 3]
    assert set(board(hub, author="alice")) == {"alice/Reinforce-CartPole-v1", "alice/course-2022"}
    pixel = board(hub, "Pixelcopter-PLE-v0")
    # tagged Pixelcopter-PLE-v0, but its model-index claims CartPole-v1: listed there, not ranked (a fact that moved:
    # the course ranks it by its tag; the page, hubrl submit and this listing agree it is a CartPole-v1 claim)
    assert list(pixel) == ["carol/wrong-env-tag"] and pixel["carol/wrong-env-tag"].rank is None
    assert pixel["carol/wrong-env-tag"].unranked_reason == "the card's claim is about CartPole-v1, not Pixelcopter-PLE-v0"
    pong = board(hub, "Pong-PLE-v0")
    assert list(pong) == ["carol/odd-card"] and (pong["carol/odd-card"].mean, pong["carol/odd-card"].rank) == (-16, 1)
    assert pong["carol/odd-card"].passes is None  # the course sets no pass mark for Pong
    assert board(hub, "ALE/Pong-v5") == {}


def test_public_api_works_whatever_was_imported_first(hub):
    import hubrl.ranking  # noqa: F401 - the module is named apart from the function it provides

    from hubrl import check_submission as exported_check
    from hubrl import leaderboard as exported

    assert exported_check is check_submission and callable(exported)
    entries = exported(ENV_ID, limit=1, cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    assert [e.repo_id for e in entries] == ["eve/impossible"]


def test_claim_rule():
    assert impossible_claims(ENV_ID, 500.0, 0.0) == []
    assert impossible_claims(ENV_ID, 1000.0, 0.0) and impossible_claims(ENV_ID, 0.0, 0.0)  # min return is 1
    assert impossible_claims(ENV_ID, 300.0, 260.0)  # std above half the return range (249.5)
    assert claim_tolerance(ENV_ID, 0.0) == pytest.approx(0.05 * 499)
    assert claim_tolerance(ENV_ID, 20.0) == 60.0
    assert judge_claim(ENV_ID, 500.0, 0.0, 490.0, 5.0) == []  # within 24.95
    assert judge_claim(ENV_ID, 500.0, 0.0, 400.0, 20.0)  # 100 > max(60, 24.95)
    assert judge_claim(ENV_ID, 500.0, 0.0, 450.0, 20.0) == []  # 50 <= 60


# -------------------------------------------------------------------------------------------------- verification
def test_verify_matches_direct_evaluation_and_flags_claims(hub):
    entries = leaderboard(ENV_ID, cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    chosen = [e for e in entries if e.repo_id in ("eve/impossible", "bob/course-agent", "alice/Reinforce-CartPole-v1")]
    results = verify_entries(chosen, 3, cache_dir=hub.cache / "workers", client=HubClient(hub.endpoint, False))
    by_id = {v.repo_id: v for v in results}
    assert [v.repo_id for v in results] == [e.repo_id for e in chosen]  # rank order
    assert all(e.verification is by_id[e.repo_id] for e in chosen)
    # unloadable: reported with the reason, not skipped
    impossible = by_id["eve/impossible"]
    assert impossible.verdict == "error" and "neither model.safetensors" in impossible.error
    for repo_id, fmt in (("alice/Reinforce-CartPole-v1", "hubrl"), ("bob/course-agent", "course")):
        agent = HubClient(hub.endpoint, False).load_from_hub(repo_id, cache_dir=hub.cache)
        direct = evaluate_agent(agent.policy, ENV_ID, n_eval_episodes=10, seed=0, max_steps=1000)
        v = by_id[repo_id]
        assert v.ok and v.format == fmt
        assert v.episode_returns == direct.episode_returns and v.seeds == list(range(10))
        assert (v.mean_reward, v.std_reward, v.score) == (direct.mean_reward, direct.std_reward, direct.score)
    assert by_id["alice/Reinforce-CartPole-v1"].verdict == "consistent"  # its card holds its own seeded evaluation
    course = by_id["bob/course-agent"]
    assert course.verdict == "flagged" and "far outside the measured range" in course.flags[0]


# ---------------------------------------------------------------------------------------------------- submission
@pytest.mark.parametrize("repo_id, expected", [
    ("carol/garbage", "first metric value 'abc' does not parse"),
    ("carol/no-model-index", "the card has no model-index"),
    ("carol/no-env-tag", "the tags lack the env id 'CartPole-v1'"),
    ("carol/wrong-env-tag", "the tags lack the env id 'CartPole-v1'"),
])
def test_submit_explains_broken_cards(hub, repo_id, expected):
    report = check_submission(repo_id, cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    assert report.would_appear is False and report.commit is None
    assert any(expected in p for p in report.problems), report.problems
    assert report.env_id == ENV_ID


def test_submit_rank_and_pass_mark(hub):
    report = check_submission("carol/current-layout", cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    assert report.problems == [] and report.would_appear and report.listed
    assert (report.mean, report.std, report.passes, report.pass_mark) == (480.0, 10.0, True, 350.0)
    others = [e for e in board(hub).values() if e.score is not None and e.repo_id != "carol/current-layout"]
    assert report.rank == 1 + sum(e.score >= 470.0 for e in others) and report.n_ranked == len(others) + 1
    impossible = check_submission("eve/impossible", cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    assert impossible.would_appear and impossible.rank == 1 and impossible.flags
    # a card with a model-index but no env tag: would rank once fixed, but does not appear
    untagged = check_submission("carol/no-env-tag", cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    assert untagged.rank is not None and not untagged.listed and not untagged.would_appear
    with pytest.raises(HubError, match="not found"):
        check_submission("carol/missing", cache_dir=hub.cache, client=HubClient(hub.endpoint, False))


def test_fix_changes_only_the_metadata(hub):
    folder = hub.tmp / "dave-run"
    shutil.copytree(hub.run_dir, folder)
    (folder / "README.md").write_text(BODY, encoding="utf-8")  # a hand-written card without metadata
    repo_id = hub.upload("dave", "no-metadata", folder)
    before = hub.files(repo_id)
    report = check_submission(repo_id, cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    assert not report.would_appear and "the card has no model-index" in report.problems[0]
    assert repo_id not in board(hub)

    with pytest.raises(HubError, match="pass a write token"):  # anonymous cannot commit
        check_submission(repo_id, cache_dir=hub.cache, fix=True, client=HubClient(hub.endpoint, False))
    with pytest.raises(HubError, match="not allowed to write"):  # nor can another user
        check_submission(repo_id, cache_dir=hub.cache, fix=True, client=HubClient(hub.endpoint, hub.tokens["eve"]))
    fixed = check_submission(repo_id, cache_dir=hub.cache, fix=True, client=HubClient(hub.endpoint, hub.tokens["dave"]))
    assert fixed.commit and fixed.would_appear and fixed.problems == [] and fixed.fixed
    after = hub.files(repo_id)
    assert set(after) == set(before)
    assert {k: v for k, v in after.items() if k != "README.md"} == {k: v for k, v in before.items() if k != "README.md"}
    new_text = after["README.md"].decode()
    assert new_text.endswith(BODY) and new_text != BODY
    meta = read_front_matter(new_text)
    results = json.loads(before["results.json"])
    metric = meta["model-index"][0]["results"][0]["metrics"][0]
    assert metric["value"] == format_metric(results["mean_reward"], results["std_reward"])  # from results.json
    assert metric["verified"] is False and meta["tags"][0] == ENV_ID
    commits = HfApi(endpoint=hub.endpoint).list_repo_commits(repo_id)
    assert len(commits) == 3 and commits[0].title.startswith("hubrl submit")  # create, upload, ONE fix
    # the model now appears; a second --fix has nothing to do
    assert board(hub)[repo_id].score == pytest.approx(results["mean_reward"] - results["std_reward"], abs=0.01)
    again = check_submission(repo_id, cache_dir=hub.cache, fix=True, client=HubClient(hub.endpoint, hub.tokens["dave"]))
    assert again.commit is None and "nothing to fix" in again.notes[0]


def test_fix_repairs_wrong_tags_and_keeps_body(hub):
    repo_id = hub.card_only("carol", "wrong-env-tag-fix", card_text(course_metadata(
        "wrong-env-tag-fix", "300.00 +/- 5.00", tags=["my-tag", *card_tags("Pixelcopter-PLE-v0")]), tmp=hub.tmp))
    report = check_submission(repo_id, cache_dir=hub.cache, fix=True, client=HubClient(hub.endpoint, hub.tokens["carol"]))
    assert report.would_appear and report.commit and report.problems == []
    text = hub.files(repo_id)["README.md"].decode()
    meta = read_front_matter(text)
    assert meta["tags"][:2] == [ENV_ID, "my-tag"] and "Pixelcopter-PLE-v0" not in meta["tags"]
    assert meta["model-index"][0]["results"][0]["metrics"][0]["value"] == "300.00 +/- 5.00"  # a good claim is kept
    assert text.endswith(BODY)


def test_verify_records_hubrl_verification(hub):
    repo_id = "dave/verify-me"
    HubClient(hub.endpoint, hub.tokens["dave"]).push_to_hub(hub.run_dir, repo_id)
    before = hub.files(repo_id)
    report = check_submission(repo_id, cache_dir=hub.cache, verify=True, client=HubClient(hub.endpoint, hub.tokens["dave"]))
    assert report.commit and report.would_appear and report.verification.verdict == "consistent"
    after = hub.files(repo_id)
    assert {k for k in after if after[k] != before[k]} == {"README.md", "results.json"}
    results = json.loads(after["results.json"])
    record = results["hubrl_verification"]
    agent = HubClient(hub.endpoint, False).load_from_hub(repo_id, cache_dir=hub.cache)
    direct = evaluate_agent(agent.policy, ENV_ID, n_eval_episodes=10, seed=0, max_steps=1000)
    assert record["episode_returns"] == direct.episode_returns and record["mean_reward"] == direct.mean_reward
    assert {"mean_reward", "std_reward", "score", "n_episodes", "seed", "seeds", "date", "hubrl_version",
            "episode_returns"} <= set(record)
    assert {k: v for k, v in results.items() if k != "hubrl_verification"} == json.loads(before["results.json"])
    card = after["README.md"].decode()
    assert "re-evaluated by hubrl" in card  # the hubrl card is re-rendered with its verification row
    meta = read_front_matter(card)
    assert meta["model-index"][0]["results"][0]["metrics"][0]["verified"] is False  # only the Hub sets it
    assert meta == read_front_matter(before["README.md"].decode())
    commits = HfApi(endpoint=hub.endpoint).list_repo_commits(repo_id)
    assert commits[0].title == "hubrl submit: record hubrl verification" and len(commits) == 3  # ONE commit
    later = check_submission(repo_id, cache_dir=hub.cache, client=HubClient(hub.endpoint, False))
    assert later.recorded_verification["episode_returns"] == direct.episode_returns and later.commit is None


def test_course_repo_fix_needs_a_measured_std(hub):
    repo_id = hub.upload("frank", "course-no-card", course_repo_folder(hub.tmp / "course-no-card", claim=None,
                                                                       seed=1))
    token = hub.tokens["frank"]
    with pytest.raises(CardError, match="no std_reward.*--verify --fix"):
        check_submission(repo_id, cache_dir=hub.cache, fix=True, client=HubClient(hub.endpoint, token))
    before = hub.files(repo_id)
    report = check_submission(repo_id, cache_dir=hub.cache, fix=True, verify=True, client=HubClient(hub.endpoint, token))
    v = report.verification
    assert report.commit and report.would_appear and v.ok and v.format == "course"
    assert report.metric_value == format_metric(v.mean_reward, v.std_reward)  # the claim is what was measured
    after = hub.files(repo_id)
    assert after["model.pt"] == before["model.pt"] and after["hyperparameters.json"] == before["hyperparameters.json"]
    card = after["README.md"].decode()
    assert card.split("<!-- hubrl-verification:start -->")[0].endswith(BODY + "\n")  # body kept, section appended
    assert "## hubrl verification" in card
    assert json.loads(after["results.json"])["hubrl_verification"]["episode_returns"] == v.episode_returns
    assert len(HfApi(endpoint=hub.endpoint).list_repo_commits(repo_id)) == 3  # create, upload, ONE commit


# ---------------------------------------------------------------------------------------------------------- CLI
def test_cli_table_json_and_verify(hub):
    proc = run_cli(hub, "leaderboard", ENV_ID)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "course pass mark: mean - std >= 350" in lines[0]
    header = lines[1].split()
    assert header[:7] == ["rank", "repo", "mean", "std", "score", "pass", "verified"]
    rows = [line.split() for line in lines[2:]]
    assert rows[0][:6] == ["1", "eve/impossible", "1000.00", "0.00", "1000.00", "yes"]
    assert "impossible:" in lines[2]
    garbage = next(line for line in lines if "carol/garbage" in line)
    assert garbage.split()[0] == "-" and "first metric value 'abc' does not parse" in garbage

    proc = run_cli(hub, "leaderboard", ENV_ID, "--json", "--limit", "2")
    data = json.loads(proc.stdout)
    assert [e["repo_id"] for e in data["entries"]] == ["eve/impossible", "bob/course-agent"]
    assert data["pass_mark"] == 350.0 and data["n_ranked"] >= 6

    # --workers 1 evaluates in the CLI process (the process pool is covered above): same numbers, less start-up
    proc = run_cli(hub, "leaderboard", ENV_ID, "--author", "bob", "--verify", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert next(line for line in lines if line.startswith("   1  bob/course-agent")).split()[6:8] == ["hubrl", "FLAG"]
    table = lines[lines.index(next(line for line in lines if line.startswith("verification: 2 agents"))):]
    assert "FLAGGED: claimed mean 500.00 is far outside the measured range" in table[2]
    assert "cannot load: bob/lone-number holds neither model.safetensors" in table[3]


def test_cli_submit(hub):
    proc = run_cli(hub, "submit", "carol/garbage")
    assert proc.returncode == 1 and "will NOT appear" in proc.stdout
    assert "problem: first metric value 'abc' does not parse" in proc.stdout and "--fix" in proc.stdout
    proc = run_cli(hub, "submit", "nobody/missing")
    assert proc.returncode == 2 and proc.stderr.startswith("hubrl: error: repo nobody/missing not found")
    proc = run_cli(hub, "submit", "alice/Reinforce-CartPole-v1")  # a local Hub: its own page, shown at once
    assert proc.returncode == 0, proc.stderr
    assert f"will appear on the CartPole-v1 leaderboard: {hub.endpoint}/leaderboard/CartPole-v1" in proc.stdout
    assert "huggingface.co" not in proc.stdout and "hours" not in proc.stdout


def test_submit_on_huggingface_co_names_the_course_space_as_the_course_does():
    from hubrl.cli.leaderboard import leaderboard_note
    from hubrl.ranking.submission import leaderboard_url

    url = leaderboard_url("https://huggingface.co", "CartPole-v1")
    assert url == "https://huggingface.co/spaces/huggingface-projects/Deep-Reinforcement-Learning-Leaderboard"
    assert "refresh button" in leaderboard_note(url) and "hours" not in leaderboard_note(url)
