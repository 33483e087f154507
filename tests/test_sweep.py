"""Sweeps: grid parsing, trial planning, and a real two-process sweep on CartPole."""

import json

import pytest

from hubrl.errors import ConfigError, OutputExistsError
from hubrl.sweep import format_summary, parse_grid, plan_trials, sweep


def test_parse_grid_and_plan():
    grid = parse_grid(["lr=0.01|0.03", "hidden_sizes=64,64|32"])
    assert grid == {"lr": [0.01, 0.03], "hidden_sizes": [(64, 64), (32,)]}
    trials = plan_trials(grid, [0, 1])
    assert len(trials) == 8 and [t.index for t in trials] == list(range(8))
    assert len(plan_trials(grid, [0], n_random=3)) == 3
    assert plan_trials(grid, [0], n_random=3, sample_seed=1)[0].overrides == \
        plan_trials(grid, [0], n_random=3, sample_seed=1)[0].overrides
    with pytest.raises(ConfigError):
        parse_grid(["lr"])


def test_local_sweep_runs_in_parallel_processes_and_ranks(tmp_path):
    out = tmp_path / "sweep"
    common = {"max_env_steps": 3000, "val_every": 0, "select_best": False, "target_score": None,
              "n_evaluation_episodes": 3}
    summary = sweep("CartPole-v1", grid={"lr": [0.01, 0.06]}, seeds=[0, 1], workers=2, output=out, common=common)
    assert len(summary["trials"]) == 4 and len(summary["configs"]) == 2
    scores = [c["median_score"] for c in summary["configs"]]
    assert scores == sorted(scores, reverse=True)
    trial = summary["trials"][0]
    results = json.loads((tmp_path / "sweep" / "trial-000" / "results.json").read_text())
    assert results["score"] == trial["score"]
    assert json.loads((out / "summary.json").read_text())["env_id"] == "CartPole-v1"
    assert "median score" in format_summary(summary)
    with pytest.raises(OutputExistsError):
        sweep("CartPole-v1", grid={"lr": [0.01]}, output=out, common=common)


def test_bad_values_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError):
        sweep("CartPole-v1", grid={"lr": [0.01, -1.0]}, output=tmp_path / "s")
    assert not (tmp_path / "s").exists()
