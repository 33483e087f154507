"""The Hub's own conventions, with the real huggingface_hub client against a real local Hub on loopback: TensorBoard
traces read back with TensorBoard's own reader, ``.eval_results`` parsed with huggingface_hub, the benchmark datasets'
leaderboards read with ``get_dataset_leaderboard``, ``library_name: hubrl`` on every card."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi, hf_hub_download, parse_eval_result_entries
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hubrl.card import LIBRARY_NAME, course_score, first_metric, parse_metric, read_front_matter
from hubrl.eval_results import TASK_ID, benchmark_dataset, eval_results_path
from hubrl.hub import HubClient
from hubrl.ranking import leaderboard
from hubrl.run import train_run
from hubrl.server import LocalHub
from hubrl.traces import SCALARS, TRACES, curves

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = "hubrl/CartPole-v1"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with LocalHub(tmp_path_factory.mktemp("hub")) as server:
        server.tokens = {user: server.create_token(user) for user in ("alice", "bob", "carol", "dave")}
        yield server


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short CartPole run, its curves also written live to a TensorBoard folder."""
    tmp = tmp_path_factory.mktemp("run")
    run = train_run(env_id="CartPole-v1", output=tmp / "run", progress=False, tensorboard=tmp / "tb",
                    max_env_steps=6000, val_every=2, select_best=False, target_score=None)
    return run.path, tmp / "tb" / "run"


@pytest.fixture(scope="module")
def pushed(hub, trained):
    run_dir, _ = trained
    HubClient(hub.endpoint, hub.tokens["alice"]).push_to_hub(run_dir, "alice/cartpole")
    return "alice/cartpole"


def api(hub, user="alice") -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=hub.tokens[user])


def scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar curve in a TensorBoard log folder, by TensorBoard's own reader."""
    reader = EventAccumulator(str(logdir))
    reader.Reload()
    return {tag: [(e.step, e.value) for e in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]}


def approx_curves(history) -> dict[str, list]:
    """:func:`hubrl.traces.curves` as TensorBoard stores them (float32 values)."""
    return {tag: [(s, pytest.approx(v, rel=1e-6, abs=1e-6)) for s, v in points]
            for tag, points in curves(history).items() if points}


# ------------------------------------------------------------------------------------------ TensorBoard traces
def test_run_folder_and_live_traces_hold_every_curve_of_the_history(trained):
    run_dir, live = trained
    history = json.loads((run_dir / "history.json").read_text())
    expected = approx_curves(history)
    assert set(expected) == set(SCALARS)  # returns, validation, loss, entropy, learning rate, steps/s
    assert scalars((run_dir / TRACES).parent) == expected
    assert scalars(live) == expected  # --tensorboard DIR writes the same curves, update by update
    assert [p.name for p in (run_dir / TRACES).parent.iterdir()] == ["events.out.tfevents.hubrl"]  # no host name


def test_pushed_traces_read_back_with_tensorboards_reader(hub, pushed, trained, tmp_path):
    run_dir, _ = trained
    path = hf_hub_download(pushed, TRACES, endpoint=hub.endpoint, cache_dir=tmp_path)
    logdir = tmp_path / "logs"
    logdir.mkdir()
    shutil.copy(path, logdir / Path(TRACES).name)
    history = json.loads((run_dir / "history.json").read_text())
    read = scalars(logdir)
    assert read == approx_curves(history)
    assert read["charts/mean_return"][-1][0] == history[-1]["env_steps"]


def test_cli_train_help_documents_the_live_traces():
    out = subprocess.run([sys.executable, "-m", "hubrl.cli", "train", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "--tensorboard DIR" in out.stdout


# ------------------------------------------------------------------------------------------ .eval_results
def test_pushed_eval_results_parse_into_the_cards_score(hub, pushed, tmp_path):
    path = hf_hub_download(pushed, eval_results_path("CartPole-v1"), endpoint=hub.endpoint, cache_dir=tmp_path)
    (entry,) = parse_eval_result_entries(yaml.safe_load(Path(path).read_text()))
    card = read_front_matter(Path(hf_hub_download(pushed, "README.md", endpoint=hub.endpoint,
                                                  cache_dir=tmp_path)).read_text())
    mean, std = parse_metric(first_metric(card)[1])
    assert (entry.dataset_id, entry.task_id) == (BENCHMARK, TASK_ID)
    assert entry.value == course_score(mean, std) == round(mean - std, 2)
    assert "seeds 0..9" in entry.notes and "cap 1000 steps" in entry.notes and "stochastic" in entry.notes
    assert "hubrl" in entry.source_name and entry.source_url.endswith("/hubrl/")
    assert card["model-index"][0]["results"][0]["dataset"]["type"] == "CartPole-v1"  # the model-index stays
    info = api(hub).model_info(pushed, expand=["evalResults"])
    assert info.eval_results == [entry]


def test_every_card_names_the_library(hub, pushed, tmp_path):
    info = api(hub).model_info(pushed)
    assert info.library_name == LIBRARY_NAME == "hubrl" and "hubrl" in info.tags
    assert info.card_data.library_name == "hubrl"
    assert [m.id for m in api(hub).list_models(filter=["hubrl"])] == [pushed]
    card = hf_hub_download(pushed, "README.md", endpoint=hub.endpoint, cache_dir=tmp_path)
    text = Path(card).read_text()
    assert "## Use this model" in text and f'load_from_hub("{pushed}")' in text and f"hubrl enjoy {pushed}" in text


def test_a_broken_eval_results_file_is_an_error_entry_not_a_failure(hub, tmp_path):
    repo = "bob/broken-evals"
    api(hub, "bob").create_repo(repo)
    api(hub, "bob").upload_file(path_or_fileobj=b"- dataset: [" + b"[" * 200, path_in_repo=".eval_results/a.yaml",
                                repo_id=repo)
    answer = json.loads(urllib.request.urlopen(f"{hub.endpoint}/api/models/{repo}?expand=evalResults").read())
    assert answer["evalResults"] == [{"filename": ".eval_results/a.yaml",
                                      "error": "the evaluation results file nests deeper than 64 levels"}]
    assert api(hub).model_info(repo, expand=["evalResults"]).eval_results == []  # the client skips it


# ------------------------------------------------------------------------------------------ benchmark datasets
def _claiming(run_dir: Path, dst: Path, mean: float, std: float, verification: dict | None = None) -> Path:
    """A copy of a run folder whose card claims ``mean +/- std`` (an edited card: pushed as it is)."""
    shutil.copytree(run_dir, dst)
    card = (dst / "README.md").read_text()
    old = next(line for line in card.splitlines() if line.strip().startswith("value:"))
    (dst / "README.md").write_text(card.replace(old, old.split("value:")[0] + f"value: {mean:.2f} +/- {std:.2f}", 1))
    if verification is not None:
        results = json.loads((dst / "results.json").read_text())
        results["hubrl_verification"] = verification
        (dst / "results.json").write_text(json.dumps(results))
    return dst


def test_dataset_leaderboard_ranks_as_hubrl_leaderboard_and_the_page_do(hub, pushed, trained, tmp_path):
    run_dir, _ = trained
    claims = {"bob/tie-a": (400.0, 10.0), "carol/tie-b": (395.0, 5.0), "dave/best": (480.0, 2.0)}
    for repo, (mean, std) in claims.items():
        verification = {"mean_reward": 500.0, "std_reward": 0.0} if repo == "dave/best" else None  # self-written
        folder = _claiming(run_dir, tmp_path / repo.replace("/", "-"), mean, std, verification)
        HubClient(hub.endpoint, hub.tokens[repo.split("/")[0]]).push_to_hub(folder, repo)
    # a result claiming a signature: still not the server's own check
    api(hub, "carol").upload_file(path_or_fileobj=b"- dataset: {id: hubrl/CartPole-v1, task_id: course_score}\n"
                                  b"  value: 390.0\n  verifyToken: forged\n", path_in_repo=".eval_results/mine.yaml",
                                  repo_id="carol/tie-b")
    board = api(hub).get_dataset_leaderboard(BENCHMARK)
    cli = [e.repo_id for e in leaderboard("CartPole-v1", client=HubClient(hub.endpoint, False)) if e.rank]
    page = urllib.request.urlopen(f"{hub.endpoint}/leaderboard/CartPole-v1").read().decode()
    assert [e.model_id for e in board] == cli
    assert [e.rank for e in board] == list(range(1, len(cli) + 1))
    positions = [page.index(f'href="/{repo}"') for repo in cli]
    assert positions == sorted(positions)  # the page lists them in the same order
    tie = [e.model_id for e in board if e.model_id in ("bob/tie-a", "carol/tie-b")]
    assert tie == ["bob/tie-a", "carol/tie-b"]  # equal score 390: rank()'s tie-break (higher mean first)
    values = {e.model_id: e.value for e in board}
    assert values["dave/best"] == 478.0 and values["bob/tie-a"] == 390.0
    assert not any(e.verified for e in board)  # nothing here was checked by the server itself
    assert {e.model_id: e.filename for e in board}["bob/tie-a"] == ".eval_results/CartPole-v1.yaml"
    first = board[0]
    assert first.author.username == first.model_id.split("/")[0] and "seeds 0..9" in first.notes


def test_a_course_notebook_repo_without_eval_results_is_listed_from_its_model_index(hub, pushed, tmp_path):
    card = ("---\ntags: [CartPole-v1, reinforce, reinforcement-learning]\nmodel-index:\n- name: x\n  results:\n"
            "  - task: {type: reinforcement-learning}\n    dataset: {name: CartPole-v1, type: CartPole-v1}\n"
            "    metrics:\n    - {type: mean_reward, value: 12.00 +/- 2.00}\n---\n# old course push\n")
    api(hub, "dave").create_repo("dave/notebook")
    api(hub, "dave").upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id="dave/notebook")
    row = next(e for e in api(hub).get_dataset_leaderboard(BENCHMARK) if e.model_id == "dave/notebook")
    assert (row.value, row.filename, row.notes) == (10.0, "README.md", None)
    assert row.source["url"] == f"{hub.endpoint}/dave/notebook" and row.source["isExternal"] is False


def test_benchmark_dataset_is_created_on_demand_with_its_protocol(hub, tmp_path):
    info = api(hub).dataset_info("hubrl/Pixelcopter-PLE-v0")
    assert {s.rfilename for s in info.siblings} == {".gitattributes", "README.md", "eval.yaml"}
    spec = yaml.safe_load(Path(hf_hub_download("hubrl/Pixelcopter-PLE-v0", "eval.yaml", repo_type="dataset",
                                               endpoint=hub.endpoint, cache_dir=tmp_path)).read_text())
    assert spec["tasks"] == [{"id": TASK_ID, "config": "default", "split": "test"}]
    assert spec["protocol"]["episodes"] == 10 and spec["protocol"]["max_steps"] == 10000
    assert spec["protocol"]["pass_mark"] == 5.0 and "stochastic" in spec["protocol"]["policy"]
    assert api(hub).get_dataset_leaderboard("hubrl/Pixelcopter-PLE-v0") == []
    assert api(hub).dataset_info("hubrl/Pixelcopter-PLE-v0").sha == info.sha  # asked again: no new commit
    assert benchmark_dataset("ALE/Pong-v5") == "hubrl/ALE-Pong-v5"


def test_other_datasets_are_not_found_and_benchmarks_cannot_be_written(hub):
    with pytest.raises(RepositoryNotFoundError):
        api(hub).get_dataset_leaderboard("alice/anything")
    with pytest.raises(RepositoryNotFoundError):
        api(hub).dataset_info("hubrl/NoSuchEnv-v0")
    with pytest.raises(HfHubHTTPError):
        api(hub).upload_file(path_or_fileobj=b"x", path_in_repo="eval.yaml", repo_id=BENCHMARK, repo_type="dataset")
    with pytest.raises(HfHubHTTPError):
        api(hub).create_repo("alice/mine", repo_type="dataset")


# ------------------------------------------------------------------------------------------ the model page
def test_model_page_draws_the_traces_curves_without_script(hub, pushed):
    response = urllib.request.urlopen(f"{hub.endpoint}/{pushed}")
    html = response.read().decode()
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no script at all
    assert "<script" not in html
    for tag in SCALARS:
        assert f'id="chart-{tag.replace("/", "-")}"' in html
    assert html.count("<polyline") == len(SCALARS)
    assert f'load_from_hub(&#34;{pushed}&#34;)' in html and f"hubrl enjoy {pushed}" in html
