"""Hyperparameter sweeps and multi-seed runs: a grid or random search over a preset, in parallel processes.

Each trial trains one configuration with one seed, evaluates it with the seeded protocol and becomes a run folder
(without the replay video, to keep sweeps cheap). Trials run in local worker processes, or on a Ray cluster with
``ray_address`` (``pip install hubrl[ray]``; see :mod:`hubrl.cluster`). A trial trains in a scratch folder on
whichever machine runs it and sends its files back, so the sweep folder needs no shared filesystem:

    sweep/plan.json           what was asked (env, preset, fixed overrides, every trial); written first
    sweep/trial-000/          the run folder of trial 0 (weights, hyperparameters, results, card)
    sweep/trial-000.json      trial 0's row: status "ok" with its scores, or "failed" with the error
    sweep/summary.json        configurations ranked by their median score over seeds

Results land as trials finish, each written atomically (run folder renamed into place, then its row), so a sweep
that is stopped loses only its running trials: started again with the same plan in the same folder it skips the
trials already done (failed ones run again). A trial that raises is reported with its error and the rest go on.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hubrl.cluster import DEFAULT_MAX_RETRIES, TaskProgress, connect, run_tasks
from hubrl.errors import ConfigError, OutputExistsError
from hubrl.folders import write_atomic
from hubrl.presets import make_config, parse_override

PLAN_FILE = "plan.json"
SUMMARY_FILE = "summary.json"


@dataclass
class Trial:
    """One planned training run: a configuration (``overrides`` of the preset) and a seed."""

    index: int
    seed: int
    overrides: dict[str, Any]

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.overrides.items()) or "(preset)"

    @property
    def name(self) -> str:
        """The trial's folder (``trial-007``), its row file (``trial-007.json``) and its Ray task name."""
        return f"trial-{self.index:03d}"

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "seed": self.seed, "overrides": self.overrides}

    def row(self, status: str, **values: Any) -> TrialRow:
        """This trial's outcome."""
        return TrialRow(index=self.index, seed=self.seed, overrides=self.overrides, status=status, **values)


@dataclass
class TrialRow:
    """What one trial gave (``trial-NNN.json``, a row of ``summary.json``): its scores, or why it failed."""

    index: int
    seed: int
    overrides: dict[str, Any]
    status: str
    """``ok`` or ``failed``."""
    mean_reward: float | None = None
    std_reward: float | None = None
    score: float | None = None
    env_steps: int | None = None
    train_s: float | None = None
    total_s: float | None = None
    error: str | None = None
    traceback: str | None = None
    node: str | None = None
    """Where it ran (a Ray node, or the local machine)."""
    run_dir: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        return Trial(self.index, self.seed, self.overrides).label

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialRow:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


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


def run_trial(task: dict[str, Any]) -> tuple[TrialRow, dict[str, bytes]]:
    """Train and evaluate one trial in a scratch folder (runs in a worker process, local or on a Ray node).

    Returns its row and its run folder's files (relative path -> bytes). Never raises for a failing trial: the row
    then has ``status: "failed"`` and the error, and no files come back.
    """
    import traceback

    import torch

    from hubrl.run import train_run

    torch.set_num_threads(1)
    started = time.perf_counter()
    trial = Trial(**task["trial"])
    scratch = tempfile.mkdtemp(prefix="hubrl-trial-")
    try:
        config = make_config(task["env_id"], task["preset"], seed=trial.seed, **{**task["common"], **trial.overrides})
        run = train_run(config, output=Path(scratch) / "run", progress=False, record=False)
        files = {str(p.relative_to(run.path)): p.read_bytes() for p in sorted(run.path.rglob("*")) if p.is_file()}
    except Exception as err:  # a failing trial is a result of the sweep, not the end of it
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        # clauses naming the scratch folder (e.g. where a checkpoint was kept) would point at a removed folder
        message = "; ".join(part for part in (lines[0] if lines else "").split("; ") if scratch not in part)
        return trial.row("failed", error=f"{type(err).__name__}: {message}".rstrip(": "),
                         traceback=traceback.format_exc(limit=-6).replace(scratch, "<scratch>"),
                         total_s=round(time.perf_counter() - started, 2)), {}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results = run.results
    return trial.row("ok", mean_reward=results.mean_reward, std_reward=results.std_reward, score=results.score,
                     env_steps=results.training.env_steps, train_s=results.training.wall_s,
                     total_s=round(time.perf_counter() - started, 2)), files


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
    max_retries: int = DEFAULT_MAX_RETRIES,
    progress: bool = False,
    on_result: Callable[[TrialRow], None] | None = None,
) -> dict[str, Any]:
    """Run a sweep (or continue one) and return its summary (also written to ``output/summary.json``).

    Args:
        env_id, preset: what every trial trains.
        grid: values per hyperparameter; every combination is tried (``n_random``: that many, drawn at random).
        seeds: every configuration is trained once per seed.
        workers: local processes (default: CPU cores); ignored with ``ray_address``.
        output: the sweep folder. If it holds this very plan, the trials already done are kept and skipped.
        overwrite: start over in an ``output`` that holds another sweep (or this one).
        common: overrides applied to every trial (``--set``).
        ray_address: run the trials as Ray tasks on this cluster (see :func:`hubrl.cluster.run_tasks`).
        max_retries: Ray only: re-runs of a trial whose node or worker was lost.
        progress: show a progress bar (trials done, running, failed).
        on_result: called with each new :class:`TrialRow` (``status`` "ok" or "failed") as soon as it is saved.

    Raises:
        ConfigError: a value no trial could train with (checked before anything runs).
        OutputExistsError: ``output`` holds something else than this plan, and ``overwrite`` is not set.
        ClusterError: ``ray_address`` cannot be reached or Ray is not installed.

    In a script, call it under ``if __name__ == "__main__":`` (the local ``spawn`` workers import the main module;
    without the guard they die at start and every trial is reported as "its worker process died").

    Example:
        >>> sweep("CartPole-v1", grid={"lr": [0.03, 0.06]}, seeds=[0, 1, 2], workers=2, output="sweeps/lr")
    """
    grid = grid or {}
    common = dict(common or {})
    trials = plan_trials(grid, list(seeds), n_random=n_random)
    for trial in trials:  # refuse bad values before any process starts
        make_config(env_id, preset, seed=trial.seed, **{**common, **trial.overrides})
    output = Path(output)
    plan = _plan(env_id, preset, common, trials)
    with connect(ray_address) if ray_address else contextlib.nullcontext():  # unreachable: fail before writing
        return _run_plan(env_id, preset, common, trials, plan, output, overwrite=overwrite, workers=workers,
                         ray_address=ray_address, max_retries=max_retries, progress=progress, on_result=on_result)


def _run_plan(env_id, preset, common, trials, plan, output, *, overwrite, workers, ray_address, max_retries,
              progress, on_result) -> dict[str, Any]:
    done = _prepare_folder(output, plan, overwrite=overwrite)
    todo = [t for t in trials if t.index not in done]
    rows = dict(done)
    bar = TaskProgress(len(trials), initial=len(done), enabled=progress,
                       desc=f"sweep {output.name}" + (f" ({len(done)} done before)" if done else ""))
    payloads = [{"env_id": env_id, "preset": preset, "common": common, "trial": t.to_json()} for t in todo]
    try:
        for outcome in run_tasks(run_trial, payloads, address=ray_address, workers=workers, max_retries=max_retries,
                                 names=[t.name for t in todo], progress=bar):
            trial = todo[outcome.index]
            if outcome.ok:
                row, files = outcome.value
            else:  # the worker (or, after every retry, its node) was lost
                row, files = trial.row("failed", error=outcome.error), {}
            row.node = outcome.node
            row = _save_trial(output, trial, row, files)
            rows[trial.index] = row
            bar.finished(failed=not row.ok)
            if on_result:
                on_result(row)
    finally:
        bar.close()
    summary = summarize(env_id, preset, [rows[i] for i in sorted(rows)])
    summary["skipped"] = sorted(done)
    write_atomic(output / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return summary


def _plan(env_id: str, preset: str, common: dict[str, Any], trials: list[Trial]) -> dict[str, Any]:
    plan = {"env_id": env_id, "preset": preset, "common": common,
            "trials": [t.to_json() for t in trials]}
    return json.loads(json.dumps(plan))  # as it reads back from plan.json (tuples become lists)


def _prepare_folder(output: Path, plan: dict[str, Any], *, overwrite: bool) -> dict[int, TrialRow]:
    """Create the sweep folder with its plan, or reopen it; return the rows of the trials already done."""
    plan_path = output / PLAN_FILE
    if output.exists() and any(output.iterdir()):
        if overwrite:
            shutil.rmtree(output)
        else:
            try:
                existing = json.loads(plan_path.read_text())
            except (OSError, ValueError):
                raise OutputExistsError(f"{output} already exists and holds no sweep plan; choose another --output "
                                        "or pass --overwrite") from None
            if existing != plan:
                raise OutputExistsError(f"{output} holds a different sweep ({_plan_difference(existing, plan)}); "
                                        "run the same command to continue it, choose another --output or pass "
                                        "--overwrite") from None
            return _done_trials(output, plan)
    output.mkdir(parents=True, exist_ok=True)
    write_atomic(plan_path, json.dumps(plan, indent=2) + "\n")
    return {}


def _plan_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    for key in ("env_id", "preset", "common"):
        if old.get(key) != new.get(key):
            return f"its {key} is {json.dumps(old.get(key))}, not {json.dumps(new.get(key))}"
    n_old, n_new = len(old.get("trials", [])), len(new["trials"])
    return f"it plans {n_old} trials, this command {n_new}" if n_old != n_new else \
        f"its {n_old} trials have other seeds or values"


def _done_trials(output: Path, plan: dict[str, Any]) -> dict[int, TrialRow]:
    done = {}
    for planned in plan["trials"]:
        trial = Trial(**planned)
        try:
            row = TrialRow.from_json(json.loads((output / f"{trial.name}.json").read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if row.ok and (output / trial.name / "results.json").is_file():
            done[trial.index] = row
    return done


def _save_trial(output: Path, trial: Trial, row: TrialRow, files: dict[str, bytes]) -> TrialRow:
    """Put the trial's run folder in place (renamed whole, so never half-written), then its row (which marks it done)."""
    final = output / trial.name
    if files:
        partial = output / f".{trial.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        for relative, data in files.items():
            target = partial / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        shutil.rmtree(final, ignore_errors=True)  # a leftover of a sweep stopped between the two writes
        os.replace(partial, final)
        row.run_dir = str(final)
    else:
        shutil.rmtree(final, ignore_errors=True)
    write_atomic(output / f"{trial.name}.json", json.dumps(row.to_json(), indent=2) + "\n")
    return row


def summarize(env_id: str, preset: str, rows: list[TrialRow]) -> dict[str, Any]:
    """Group finished trials by configuration; rank configurations by median score over seeds; list failures."""
    ok = [r for r in rows if r.ok]
    failed = [r for r in rows if not r.ok]
    groups: dict[str, list[TrialRow]] = {}
    for row in ok:
        groups.setdefault(json.dumps(row.overrides, sort_keys=True), []).append(row)
    configs = []
    for key, members in groups.items():
        scores = [m.score for m in members]
        configs.append({
            "overrides": json.loads(key), "seeds": [m.seed for m in members],
            "median_score": statistics.median(scores), "min_score": min(scores), "max_score": max(scores),
            "median_train_s": statistics.median(m.train_s for m in members),
            "failed_seeds": [f.seed for f in failed if json.dumps(f.overrides, sort_keys=True) == key],
        })
    configs.sort(key=lambda c: c["median_score"], reverse=True)
    return {"env_id": env_id, "preset": preset, "n_trials": len(rows), "n_ok": len(ok), "n_failed": len(failed),
            "configs": configs, "failed": [{"index": f.index, "seed": f.seed, "overrides": f.overrides,
                                            "error": f.error} for f in failed],
            "trials": [r.to_json() for r in rows]}


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"{'rank':>4}  {'median score':>12}  {'min':>9}  {'max':>9}  {'train s':>8}  seeds  configuration"]
    for rank, c in enumerate(summary["configs"], 1):
        label = ", ".join(f"{k}={_fmt(v)}" for k, v in c["overrides"].items()) or "(preset)"
        lines.append(f"{rank:>4}  {c['median_score']:>12.2f}  {c['min_score']:>9.2f}  {c['max_score']:>9.2f}  "
                     f"{c['median_train_s']:>8.1f}  {len(c['seeds']):>5}  {label}")
    for f in summary.get("failed", []):
        label = ", ".join(f"{k}={_fmt(v)}" for k, v in f["overrides"].items()) or "(preset)"
        lines.append(f"FAILED trial {f['index']} (seed {f['seed']}, {label}): {f['error']}")
    return "\n".join(lines)
