"""Hyperparameter sweeps and multi-seed runs: a grid or random search over a preset, in parallel processes.

Each trial trains one configuration with one seed, evaluates it with the seeded protocol and writes a run folder
(without the replay video, to keep sweeps cheap) under ``output/trial-NNN``. Trials run in local worker processes, or
on a Ray cluster with ``ray_address`` (``pip install hubrl[ray]``): Ray is the existing engine to use when a class
or lab outgrows one machine. ``summary.json`` ranks configurations by their median score over seeds.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hubrl.errors import ConfigError, OutputExistsError
from hubrl.presets import make_config, parse_override


@dataclass
class Trial:
    index: int
    seed: int
    overrides: dict[str, Any]

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.overrides.items()) or "(preset)"


def _fmt(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["lr=1e-3|3e-3", "hidden_sizes=64,64|128"]`` -> ``{"lr": [0.001, 0.003], "hidden_sizes": [(64, 64), (128,)]}``.

    Values of one key are separated by ``|`` (commas belong to list values such as hidden sizes).
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--grid expects key=v1|v2|..., got {item!r}")
        key, values = item.split("=", 1)
        grid[key.strip().replace("-", "_")] = [parse_override(f"{key}={v}")[1] for v in values.split("|") if v != ""]
        if not grid[key.strip().replace("-", "_")]:
            raise ConfigError(f"--grid {key} lists no values")
    return grid


def plan_trials(grid: dict[str, list[Any]], seeds: list[int], *, n_random: int | None = None,
                sample_seed: int = 0) -> list[Trial]:
    """Every grid point (or ``n_random`` points drawn from it) times every seed."""
    keys = list(grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))] or [{}]
    if n_random is not None:
        if n_random <= 0:
            raise ConfigError(f"--random must be positive, got {n_random}")
        rng = random.Random(sample_seed)
        points = rng.sample(points, min(n_random, len(points)))
    trials = [Trial(index=0, seed=seed, overrides=point) for point in points for seed in seeds]
    for i, trial in enumerate(trials):
        trial.index = i
    return trials


def run_trial(env_id: str, preset: str, trial: dict[str, Any], output: str, common: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one trial (runs in a worker process); returns a plain-data row."""
    import torch

    from hubrl.run import train_run

    torch.set_num_threads(1)
    started = time.perf_counter()
    overrides = {**common, **trial["overrides"]}
    config = make_config(env_id, preset, seed=trial["seed"], **overrides)
    path = train_run(config, output=Path(output) / f"trial-{trial['index']:03d}", progress=False, record=False)
    results = json.loads((path / "results.json").read_text())
    return {
        "index": trial["index"], "seed": trial["seed"], "overrides": trial["overrides"],
        "mean_reward": results["mean_reward"], "std_reward": results["std_reward"], "score": results["score"],
        "env_steps": results["training"]["env_steps"], "train_s": results["training"]["wall_s"],
        "total_s": round(time.perf_counter() - started, 2), "run_dir": str(path),
    }


def sweep(
    env_id: str,
    *,
    preset: str = "default",
    grid: dict[str, list[Any]] | None = None,
    seeds: list[int] = (0,),
    n_random: int | None = None,
    workers: int | None = None,
    output: str | Path = "sweeps/sweep",
    overwrite: bool = False,
    common: dict[str, Any] | None = None,
    ray_address: str | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run a sweep and return its summary (also written to ``output/summary.json``).

    Example:
        >>> sweep("CartPole-v1", grid={"lr": [0.03, 0.06]}, seeds=[0, 1, 2], workers=2, output="sweeps/lr")
    """
    grid = grid or {}
    common = common or {}
    seeds = list(seeds)
    trials = plan_trials(grid, seeds, n_random=n_random)
    for trial in trials:  # refuse bad values before any process starts
        make_config(env_id, preset, seed=trial.seed, **{**common, **trial.overrides})
    output = Path(output)
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise OutputExistsError(f"{output} already exists; choose another --output or pass --overwrite")
    if output.exists() and overwrite:
        import shutil

        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    payloads = [{"index": t.index, "seed": t.seed, "overrides": t.overrides} for t in trials]
    rows: list[dict[str, Any]] = []
    if ray_address:
        rows = _run_on_ray(ray_address, env_id, preset, payloads, str(output), common, on_result)
    else:
        import multiprocessing

        workers = workers or min(len(payloads), os.cpu_count() or 1)
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_trial, env_id, preset, p, str(output), common) for p in payloads]
            for future in as_completed(futures):
                rows.append(future.result())
                if on_result:
                    on_result(rows[-1])
    rows.sort(key=lambda r: r["index"])
    summary = summarize(env_id, preset, rows)
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _run_on_ray(address, env_id, preset, payloads, output, common, on_result):
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'hubrl[ray]'") from None
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(run_trial)
    pending = [remote.remote(env_id, preset, p, output, common) for p in payloads]
    rows = []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        rows.append(ray.get(done[0]))
        if on_result:
            on_result(rows[-1])
    return rows


def summarize(env_id: str, preset: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Group trials by configuration; rank configurations by median score over seeds."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(json.dumps(row["overrides"], sort_keys=True), []).append(row)
    configs = []
    for key, members in groups.items():
        scores = [m["score"] for m in members]
        configs.append({
            "overrides": json.loads(key), "seeds": [m["seed"] for m in members],
            "median_score": statistics.median(scores), "min_score": min(scores), "max_score": max(scores),
            "median_train_s": statistics.median(m["train_s"] for m in members),
        })
    configs.sort(key=lambda c: c["median_score"], reverse=True)
    return {"env_id": env_id, "preset": preset, "configs": configs, "trials": rows}


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"{'rank':>4}  {'median score':>12}  {'min':>9}  {'max':>9}  {'train s':>8}  seeds  configuration"]
    for rank, c in enumerate(summary["configs"], 1):
        label = ", ".join(f"{k}={_fmt(v)}" for k, v in c["overrides"].items()) or "(preset)"
        lines.append(f"{rank:>4}  {c['median_score']:>12.2f}  {c['min_score']:>9.2f}  {c['max_score']:>9.2f}  "
                     f"{c['median_train_s']:>8.1f}  {len(c['seeds']):>5}  {label}")
    return "\n".join(lines)
