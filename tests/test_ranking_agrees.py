"""One reading of a repo: ``hubrl leaderboard``, the leaderboard page, ``hubrl submit`` and the loader agree.

A crafted set of repos on a real LocalHub, pushed with the real huggingface_hub client: two claims tied at
500.00 +/- 0.00, an unrankable card, a repo whose files name three different envs, and an honest agent. Every reader
must give the same ranks and the same env (issue 20's "Done when").
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from huggingface_hub import HfApi, constants

from hubrl.errors import AgentFormatError
from hubrl.hub import HubClient
from hubrl.server import LocalHub

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "model_cards" / "reference" / "CartPole-v1"
ENV = "CartPole-v1"


def _claiming(dst: Path, mean: float, std: float, *, results_env: str = ENV, hyper_env: str = ENV,
              value: str | None = None) -> Path:
    """A copy of the CartPole reference agent whose card claims ``mean +/- std`` (or the raw ``value``)."""
    shutil.copytree(REFERENCE, dst)
    card = (dst / "README.md").read_text()
    old = next(line for line in card.splitlines() if line.strip().startswith("value:"))
    new = old.split("value:")[0] + f"value: {value if value is not None else f'{mean:.2f} +/- {std:.2f}'}"
    (dst / "README.md").write_text(card.replace(old, new, 1))
    for name, env in (("results.json", results_env), ("hyperparameters.json", hyper_env)):
        data = json.loads((dst / name).read_text())
        data["env_id"] = env
        (dst / name).write_text(json.dumps(data))
    return dst


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agree")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_CACHE", str(tmp / "hf_cache"))
        mp.delenv("HF_TOKEN", raising=False)
        with LocalHub(tmp / "hub") as server:
            repos = {
                "bob/tie": _claiming(tmp / "bob", 500.0, 0.0),
                "alice/tie": _claiming(tmp / "alice", 500.0, 0.0),
                "carol/garbage": _claiming(tmp / "carol", 0, 0, value="abc"),
                "dave/three-envs": _claiming(tmp / "dave", 450.0, 10.0, results_env="Pixelcopter-PLE-v0",
                                             hyper_env="Pong-PLE-v0"),
                "erin/honest": _claiming(tmp / "erin", 480.0, 10.0),
            }
            for repo_id, folder in repos.items():
                api = HfApi(endpoint=server.endpoint, token=server.create_token(repo_id.split("/")[0]))
                api.create_repo(repo_id)
                api.upload_folder(repo_id=repo_id, folder_path=folder)
            server.tmp = tmp
            yield server


EXPECTED_RANKED = ["alice/tie", "bob/tie", "erin/honest", "dave/three-envs"]  # ties: higher mean, then repo id


def test_the_cli_ranks_and_names_envs_as_the_library_does(hub):
    out = subprocess.run([sys.executable, "-m", "hubrl.cli", "leaderboard", ENV, "--json", "--endpoint",
                          hub.endpoint, "--cache-dir", str(hub.tmp / "cli-cache")],
                         capture_output=True, text=True, timeout=120, check=True,
                         env={"PATH": "/usr/bin:/bin", "HF_HOME": str(hub.tmp / "cli-home"), "PYTHONPATH": str(ROOT)})
    entries = json.loads(out.stdout)["entries"]
    assert [e["repo_id"] for e in entries if e["rank"] is not None] == EXPECTED_RANKED
    assert [e["rank"] for e in entries] == [1, 2, 3, 4, None]
    assert {e["repo_id"]: e["env_id"] for e in entries}["dave/three-envs"] == ENV
    dave = next(e for e in entries if e["repo_id"] == "dave/three-envs")
    assert [p["code"] for p in dave["problems"]] == ["env-mismatch"]
    library = HubClient(hub.endpoint, False).leaderboard(ENV, cache_dir=hub.tmp / "lib-cache")
    assert [(e.repo_id, e.rank, e.env_id) for e in library] == [(e["repo_id"], e["rank"], e["env_id"]) for e in entries]


def test_the_page_ranks_as_the_cli_and_lists_the_unranked(hub):
    html = urllib.request.urlopen(f"{hub.endpoint}/leaderboard/{ENV}", timeout=30).read().decode()
    ranked = re.findall(r'<tr class="entry">\s*<td class="num">(\d+)</td>\s*<td><a class="agent" href="/([^"]+)"', html)
    assert [repo for _, repo in ranked] == EXPECTED_RANKED and [int(r) for r, _ in ranked] == [1, 2, 3, 4]
    unranked = re.findall(r'<tr class="unranked"><td><a href="/([^"]+)">', html)
    assert unranked == ["carol/garbage"] and "first metric value &#39;abc&#39; does not parse" in html


def test_submit_gives_the_rank_the_listing_gives(hub):
    client = HubClient(hub.endpoint, False)
    for expected, repo_id in enumerate(EXPECTED_RANKED, 1):
        report = client.check_submission(repo_id, cache_dir=hub.tmp / "submit-cache")
        assert (report.rank, report.n_ranked, report.env_id) == (expected, 4, ENV), repo_id
    dave = client.check_submission("dave/three-envs", cache_dir=hub.tmp / "submit-cache")
    assert any(p.code == "env-mismatch" for p in dave.problems)
    assert client.check_submission("carol/garbage", cache_dir=hub.tmp / "submit-cache").rank is None


def test_the_loader_refuses_to_guess_between_three_envs_and_loads_the_rest(hub):
    client = HubClient(hub.endpoint, False)
    with pytest.raises(AgentFormatError) as err:
        client.load_from_hub("dave/three-envs", cache_dir=hub.tmp / "load-cache")
    assert ("CartPole-v1 (model-index), Pixelcopter-PLE-v0 (results.json), Pong-PLE-v0 (hyperparameters.json)"
            in str(err.value)) and "\n" not in str(err.value)
    assert client.load_from_hub("alice/tie", cache_dir=hub.tmp / "load-cache").env_id == ENV
