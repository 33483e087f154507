"""Sweeps and leaderboard verification on a real two-node Ray cluster, compared with the local process-pool path.

The cluster (a head and a worker node started with ``ray start``, one CPU each) and its driver
(tests/ray_cluster_driver.py) run inside a network namespace that has only loopback, and a pid namespace of their
own: Ray binds to the host's interface address even when told 127.0.0.1, and ``ray stop`` must see only this
cluster's processes. The driver refuses to start a cluster anywhere else. Needs root (``unshare``) and Ray
(``pip install -e '.[ray]'``); CI has both and sets HUBRL_REQUIRE_RAY=1, so there it fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "ray_cluster_driver.py"
REQUIRED = os.environ.get("HUBRL_REQUIRE_RAY") == "1"


def _missing() -> str | None:
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (pip install -e '.[ray]')"
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return "a loopback-only network namespace needs root, unshare and ip"
    return None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    missing = _missing()
    if missing:
        if REQUIRED:
            pytest.fail(f"HUBRL_REQUIRE_RAY=1 but {missing}")
        pytest.skip(missing)
    out = tmp_path_factory.mktemp("ray")
    script = 'ip link set lo up; "$@"; status=$?; exit $status'  # bash stays pid 1 and reaps Ray's daemons
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c", script, "bash",
                           sys.executable, str(DRIVER), str(out)], capture_output=True, text=True, timeout=1500,
                          env=env)
    path = out / "report.json"
    assert path.exists(), f"the driver wrote no report (rc {proc.returncode}):\n{proc.stderr[-5000:]}"
    data = json.loads(path.read_text())
    assert "crashed" not in data, data["crashed"]
    print(proc.stderr[-2000:])
    return data


def _section(report, name):
    section = report["sections"][name]
    assert "crashed" not in section, section["crashed"]
    return section


def _key(row) -> str:
    return json.dumps([row["seed"], row["overrides"]], sort_keys=True)


def _comparable(row) -> dict:
    """What must be identical between engines: everything but timings, paths and the node that ran it."""
    return {k: v for k, v in row.items() if k not in ("train_s", "total_s", "run_dir", "node", "traceback")}


def test_the_cluster_is_two_nodes_on_loopback_only(report):
    assert report["interfaces"] == ["lo"]
    assert report["address"] == "127.0.0.1:6379"
    nodes = report["nodes"]
    assert len(nodes) == 2 and all(n["alive"] and n["address"] == "127.0.0.1" and n["cpus"] == 1 for n in nodes)
    assert report["ray_stop"] == 0


def test_cluster_sweep_gives_the_local_results_and_reports_the_failing_trials(report):
    section = _section(report, "sweep")
    local, ray = section["summaries"]["local"], section["summaries"]["ray"]
    assert (ray["n_trials"], ray["n_ok"], ray["n_failed"]) == (6, 4, 2)
    assert [_comparable(r) for r in ray["trials"]] == [_comparable(r) for r in local["trials"]]
    assert ray["configs"] == [{**c, "median_train_s": ray["configs"][i]["median_train_s"]}
                              for i, c in enumerate(local["configs"])]
    for failed in ray["failed"]:
        assert failed["overrides"] == {"lr": 1e30} and failed["error"].startswith("TrainingDivergedError")
    node_ids = {n["node_id"] for n in report["nodes"]}
    ran_on = {r["node"] for r in ray["trials"]}
    assert ran_on == node_ids  # both nodes did work
    assert all(r.get("node") is None for r in local["trials"])  # local rows name no node (None is left out)
    print(f"\nsweep of 6 CartPole trials: local (2 processes) {section['wall_s']['local']} s, "
          f"two-node Ray cluster (1 CPU each) {section['wall_s']['ray']} s")


def test_interrupted_cluster_sweep_continues_where_it_stopped(report):
    section = _section(report, "resume")
    before = section["done_before"]
    assert 1 <= len(before) < 4, "the first run should have been killed part-way"
    assert section["after"] == before  # done trials were skipped, their files untouched
    assert f"{len(before)} of 6 trials were done before" in section["stdout"]
    assert section["rc"] == 1 and "2 of 6 trials failed" in section["stderr"]
    assert "Traceback" not in section["stderr"]
    local = {_key(r): _comparable(r) for r in _section(report, "sweep")["summaries"]["local"]["trials"]}
    assert {_key(r): _comparable(r) for r in section["summary"]["trials"]} == local
    assert section["summary"]["skipped"] == sorted(json.loads(text)["index"] for text in before.values())


def test_a_lost_worker_node_costs_only_its_running_trial(report):
    section = _section(report, "node_loss")
    assert section["killed_trial"], "no trial was caught running on the worker node"
    summary = section["summary"]
    assert section["rc"] == 0, section["stderr"]
    assert (summary["n_trials"], summary["n_ok"]) == (4, 4)
    head = next(n["node_id"] for n in report["nodes"] if n["head"])
    retried = next(r for r in summary["trials"] if f"trial-{r['index']:03d}" == section["killed_trial"])
    assert retried["node"] == head  # re-run on the node that was left
    local = {_key(r): _comparable(r) for r in _section(report, "sweep")["summaries"]["local"]["trials"]}
    for row in summary["trials"]:  # the retried trial reproduces the local numbers exactly
        assert _comparable(row) == {**local[_key(row)], "index": row["index"]}


def test_cluster_verification_gives_the_local_verdicts_and_numbers(report):
    section = _section(report, "verify")
    assert section["rc"] == 0, section["stderr"]
    assert section["ray"] == section["local"]
    verdicts = {v["repo_id"]: v["verdict"] for v in section["ray"]}
    assert verdicts == {"alice/Reinforce-CartPole-v1": "consistent", "bob/course-agent": "flagged",
                        "eve/impossible": "error"}
    alice = next(v for v in section["ray"] if v["repo_id"] == "alice/Reinforce-CartPole-v1")
    assert alice["seeds"] == list(range(10)) and len(alice["episode_returns"]) == 10
