"""Throughput of the local Hub's verification queue: agents verified per minute, per env, on this machine.

For each env, ``--agents`` copies of one agent (the reference agents of CartPole, Pixelcopter and Pong-PLE; a
random ram agent for ALE Pong, whose episodes are short) are pushed with the real client to ``hubrl hub serve
--no-verify``; the server is stopped and started again with its verifier on (the default), which queues every
unchecked claim at start; the clock runs from the restart's "Hub listening" line until the API reports a verdict
(``hubrlVerification``) for every copy. The yardstick, measured in the same run: the same verification run in this
process (:func:`hubrl.ranking.verification.verified` on the local folder, no child, no limits), whose time is the
floor of any queue. Medians over ``--runs``.

    python benchmarks/verification_queue.py --agents 4 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "model_cards" / "reference"


def ale_agent(folder: Path) -> Path:
    """A random ALE Pong agent on RAM observations, with a card claiming what it measures."""
    import numpy as np

    from hubrl.policy import Policy, PolicyConfig, save_policy

    folder.mkdir(parents=True)
    config = PolicyConfig(env_id="ALE/Pong-v5", obs_dim=128, n_actions=2, hidden_sizes=(64,),
                          env_options={"obs_mode": "ram"})
    rng = np.random.default_rng(0)
    save_policy(Policy(config, {k: rng.normal(0, 0.1, s).astype(t) for k, (s, t) in config.weight_shapes().items()}),
                folder)
    return folder


def with_card(folder: Path, env_id: str, value: str) -> Path:
    from huggingface_hub import metadata_eval_result, metadata_save

    card = folder / "README.md"
    card.write_text("# agent\n")
    metadata_save(card, {"tags": [env_id], **metadata_eval_result(
        model_pretty_name="agent", task_pretty_name="reinforcement-learning", task_id="reinforcement-learning",
        metrics_pretty_name="mean_reward", metrics_id="mean_reward", metrics_value=value,
        dataset_pretty_name=env_id, dataset_id=env_id)})
    return folder


def agents(work: Path) -> dict[str, Path]:
    out = {}
    for env_id in ("CartPole-v1", "Pixelcopter-PLE-v0", "Pong-PLE-v0"):
        folder = work / env_id
        shutil.copytree(REFERENCE / env_id, folder, ignore=shutil.ignore_patterns("*.mp4", "*.png"))
        out[env_id] = folder
    out["ALE/Pong-v5"] = with_card(ale_agent(work / "ALE-Pong"), "ALE/Pong-v5", "-20.60 +/- 0.80")
    return out


def serve(data: Path, *extra: str) -> tuple[subprocess.Popen, str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HF_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "hubrl.cli", "hub", "serve", "--port", "0", "--data", str(data),
                             *extra], env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line.strip().removeprefix("Hub listening on "), time.perf_counter()


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def queue_run(env_id: str, folder: Path, n: int, work: Path) -> tuple[float, list[str]]:
    """Seconds from a restart to the last of ``n`` verdicts, and the verdicts."""
    from huggingface_hub import HfApi

    data = work / "hub"
    token = subprocess.run([sys.executable, "-m", "hubrl.cli", "hub", "token", "bench", "--data", str(data)],
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                           check=True).stdout.strip()
    proc, endpoint, _ = serve(data, "--no-verify")
    try:
        api = HfApi(endpoint=endpoint, token=token)
        repos = []
        for i in range(n):
            repo_id = f"bench/agent-{i}"
            api.create_repo(repo_id)
            api.upload_folder(repo_id=repo_id, folder_path=folder)
            repos.append(repo_id)
    finally:
        stop(proc)
    proc, endpoint, start = serve(data)
    try:
        api = HfApi(endpoint=endpoint, token=False)
        verdicts: dict[str, str] = {}
        while len(verdicts) < n:
            for repo_id in repos:
                if repo_id not in verdicts:
                    record = getattr(api.model_info(repo_id), "hubrlVerification", None)
                    if record:
                        verdicts[repo_id] = record["verdict"] + (f" ({record['error']})" if record["error"] else "")
            time.sleep(0.2)
        return time.perf_counter() - start, sorted(set(verdicts.values()))
    finally:
        stop(proc)
        shutil.rmtree(data, ignore_errors=True)


def in_process(env_id: str, folder: Path) -> float:
    """The yardstick: the same verification in this process (load + seeded evaluation, no child)."""
    from hubrl.loading import load_repo_folder
    from hubrl.ranking.claims import Verification
    from hubrl.ranking.verification import verified

    start = time.perf_counter()
    v = verified(lambda: load_repo_folder(folder, source="bench/agent"), Verification(repo_id="bench/agent",
                                                                                    env_id=env_id))
    assert v.ok, v.error
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=4, help="copies verified per run and env")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--envs", default="CartPole-v1,Pixelcopter-PLE-v0,Pong-PLE-v0,ALE/Pong-v5")
    args = parser.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    rows = []
    with tempfile.TemporaryDirectory(prefix="hubrl-queue-") as tmp:
        work = Path(tmp)
        folders = agents(work / "agents")
        for env_id in args.envs.split(","):
            seconds, direct, verdicts = [], [], set()
            for run in range(args.runs):
                elapsed, found = queue_run(env_id, folders[env_id], args.agents, work / f"run{run}")
                seconds.append(elapsed)
                verdicts.update(found)
                direct.append(in_process(env_id, folders[env_id]))
            per_agent = statistics.median(seconds) / args.agents
            rows.append((env_id, 60 / per_agent, per_agent, statistics.median(direct), ", ".join(sorted(verdicts)),
                         [round(s, 1) for s in seconds]))
            print(json.dumps({"env": env_id, "agents_per_minute": round(60 / per_agent, 1),
                              "seconds_per_agent": round(per_agent, 2),
                              "in_process_seconds": round(statistics.median(direct), 2), "runs_s": rows[-1][5],
                              "verdicts": rows[-1][4]}), flush=True)
    print(f"\n{os.cpu_count()} CPUs; {args.agents} agents per run, median of {args.runs} runs")
    print(f"{'env':<20} {'agents/min':>10} {'s/agent':>8} {'in-process s':>13}  verdicts")
    for env_id, per_minute, per_agent, direct, verdicts, _ in rows:
        print(f"{env_id:<20} {per_minute:>10.1f} {per_agent:>8.2f} {direct:>13.2f}  {verdicts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
