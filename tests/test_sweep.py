"""Sweeps on the local process pool: planning, ranking, a failing trial, results saved as trials finish, resume.

Everything here is real: CartPole trials trained in ``spawn`` worker processes, a trial that really fails (a learning
rate of 1e30 passes config validation but makes the loss NaN at the first update: TrainingDivergedError), and a
``hubrl sweep`` process interrupted with SIGINT and started again. The Ray path runs in tests/test_ray.py.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubrl.errors import ClusterError, ConfigError, OutputExistsError
from hubrl.sweep import format_summary, parse_grid, plan_trials, sweep

ROOT = Path(__file__).resolve().parents[1]
COMMON = {"max_env_steps": 3000, "batch_episodes": 16, "val_every": 0, "select_best": False, "target_score": None,
          "n_evaluation_episodes": 3}
DIVERGES = 1e30
"""A learning rate config validation accepts (positive, finite) that makes training diverge at once."""


def test_parse_grid_and_plan():
    grid = parse_grid(["lr=0.01|0.03", "hidden_sizes=64,64|32"])
    assert grid == {"lr": [0.01, 0.03], "hidden_sizes": [(64, 64), (32,)]}
    trials = plan_trials(grid, [0, 1])
    assert len(trials) == 8 and [t.index for t in trials] == list(range(8))
    assert trials[3].name == "trial-003"
    assert len(plan_trials(grid, [0], n_random=3)) == 3
    assert plan_trials(grid, [0], n_random=3, sample_seed=1)[0].overrides == \
        plan_trials(grid, [0], n_random=3, sample_seed=1)[0].overrides
    with pytest.raises(ConfigError):
        parse_grid(["lr"])


def test_local_sweep_runs_in_parallel_processes_and_ranks(tmp_path):
    out = tmp_path / "sweep"
    seen = []
    summary = sweep("CartPole-v1", grid={"lr": [0.01, 0.06]}, seeds=[0, 1], workers=2, output=out, common=COMMON,
                    on_result=seen.append)
    assert len(summary["trials"]) == 4 and len(summary["configs"]) == 2 and summary["n_failed"] == 0
    assert sorted(r.index for r in seen) == [0, 1, 2, 3] and summary["skipped"] == []  # typed rows as they land
    scores = [c["median_score"] for c in summary["configs"]]
    assert scores == sorted(scores, reverse=True)
    for row in summary["trials"]:  # one row file and one run folder per trial, written as it finished
        name = f"trial-{row['index']:03d}"
        assert json.loads((out / f"{name}.json").read_text()) == row
        results = json.loads((out / name / "results.json").read_text())
        assert results["score"] == row["score"] and (out / name / "model.safetensors").is_file()
    assert not list(out.glob(".*"))  # no partial files left behind
    assert json.loads((out / "summary.json").read_text())["env_id"] == "CartPole-v1"
    assert "median score" in format_summary(summary)
    with pytest.raises(OutputExistsError, match="holds a different sweep"):
        sweep("CartPole-v1", grid={"lr": [0.01]}, output=out, common=COMMON)


def test_failing_trial_is_reported_the_rest_go_on_and_a_rerun_skips_done_trials(tmp_path):
    out = tmp_path / "sweep"
    grid = {"lr": [0.05, DIVERGES]}
    first = sweep("CartPole-v1", grid=grid, seeds=[0, 1], workers=2, output=out, common=COMMON)
    assert (first["n_trials"], first["n_ok"], first["n_failed"]) == (4, 2, 2)
    assert [f["index"] for f in first["failed"]] == [2, 3]
    for failed in first["failed"]:
        assert failed["error"].startswith("TrainingDivergedError: loss became nan")
        assert failed["error"].endswith("lower lr (now 1e+30) or enable max_grad_norm")  # no removed scratch path
        assert failed["overrides"] == {"lr": DIVERGES}
        assert not (out / f"trial-{failed['index']:03d}").exists()  # no half-made run folder
        row = json.loads((out / f"trial-{failed['index']:03d}.json").read_text())
        assert row["status"] == "failed" and "TrainingDivergedError" in row["traceback"]
    assert [c["overrides"] for c in first["configs"]] == [{"lr": 0.05}]  # only finished trials are ranked
    assert "FAILED trial 2 (seed 0, lr=1e+30): TrainingDivergedError" in format_summary(first)

    done_files = {p.name: p.read_bytes() for p in out.glob("trial-00[01].json")}
    weights = (out / "trial-000" / "model.safetensors").read_bytes()
    rerun = []
    second = sweep("CartPole-v1", grid=grid, seeds=[0, 1], workers=2, output=out, common=COMMON,
                   on_result=rerun.append)
    assert second["skipped"] == [0, 1] and sorted(r.index for r in rerun) == [2, 3]  # failed ones run again
    assert {p.name: p.read_bytes() for p in out.glob("trial-00[01].json")} == done_files  # done ones untouched
    assert (out / "trial-000" / "model.safetensors").read_bytes() == weights
    assert [r["score"] for r in second["trials"][:2]] == [r["score"] for r in first["trials"][:2]]

    with pytest.raises(OutputExistsError, match="its common is"):
        sweep("CartPole-v1", grid=grid, seeds=[0, 1], output=out, common={**COMMON, "max_env_steps": 4000})
    fresh = sweep("CartPole-v1", grid={"lr": [0.05]}, seeds=[0], workers=1, output=out, common=COMMON,
                  overwrite=True)
    assert fresh["n_trials"] == 1 and sorted(p.name for p in out.iterdir()) == [
        "plan.json", "summary.json", "trial-000", "trial-000.json"]


def test_bad_values_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError):
        sweep("CartPole-v1", grid={"lr": [0.01, -1.0]}, output=tmp_path / "s")
    assert not (tmp_path / "s").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="holds no sweep plan"):
        sweep("CartPole-v1", grid={"lr": [0.01]}, output=tmp_path / "other", common=COMMON)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_an_unreachable_cluster_is_one_clear_error_before_anything_is_written(tmp_path):
    with pytest.raises(ClusterError, match="nothing answers at 127.0.0.1:1|needs Ray"):
        sweep("CartPole-v1", grid={"lr": [0.01]}, output=tmp_path / "s", common=COMMON, ray_address="127.0.0.1:1")
    assert not (tmp_path / "s").exists()


def _cli(*args: str, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "hubrl.cli", "sweep", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_cli_sweep_interrupted_then_continued_exits_non_zero_for_a_failed_trial(tmp_path):
    out = tmp_path / "sweep"
    args = ["CartPole-v1", "--grid", f"lr=0.05|{DIVERGES}", "--seeds", "0,1", "--workers", "1", "--quiet",
            "--output", str(out), "--set", "max_env_steps=20000", "--set", "n_evaluation_episodes=3"]
    first = _cli(*args, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (out / "trial-000.json").exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGINT)  # Ctrl-C: the whole process group, as a terminal sends it
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 130 and first_err.strip().splitlines()[-1] == "hubrl: interrupted", first_err
    rows = sorted(out.glob("trial-*.json"))  # stopped part-way: not every trial reported, no summary written
    assert 1 <= len(rows) < 4 and not (out / "summary.json").exists(), [p.name for p in rows]
    done_before = [p for p in rows if json.loads(p.read_text())["status"] == "ok"]
    assert done_before and (out / "trial-000.json") in done_before
    saved = {p.name: p.read_bytes() for p in done_before}

    second = _cli(*args)
    stdout, stderr = second.communicate(timeout=600)
    assert second.returncode == 1, stderr
    assert f"continued {out}: {len(done_before)} of 4 trials were done before" in stdout
    assert "FAILED trial 2 (seed 0, lr=1e+30): TrainingDivergedError: loss became nan" in stdout
    assert stderr.strip().splitlines()[-1] == ("hubrl: error: 2 of 4 trials failed (see above); run the same "
                                               "command again to retry them")
    assert "Traceback" not in stderr
    assert {name: (out / name).read_bytes() for name in saved} == saved
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["n_ok"], summary["n_failed"]) == (2, 2)
