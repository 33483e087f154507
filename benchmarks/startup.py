"""Whole-process start-up: hubrl's commands against a bare ``python -c "import torch"``, measured in the same run.

Inference (evaluate, record, leaderboard verification) runs on numpy and should not pay for torch at all; training
imports torch and should cost at most about twice a bare torch import. Every command is a fresh process, as a user
types it; the commands are interleaved round by round so a busy machine slows them alike, and the table shows
medians over ``--runs`` rounds and each median as a multiple of the torch import's. Leaderboard verification runs
against a LocalHub started here, holding copies of the CartPole-v1 reference agent (a fresh download cache each
round, so every round downloads and re-evaluates them).

    python benchmarks/startup.py            # 5 rounds
    python benchmarks/startup.py --runs 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "model_cards" / "reference" / "CartPole-v1"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy",
       "MPLBACKEND": "Agg", "HF_HUB_DISABLE_TELEMETRY": "1"}
HUBRL = [sys.executable, "-m", "hubrl.cli"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, env=ENV, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def imports_torch(command: list[str]) -> bool:
    """Whether the command's process imports torch (read from ``-X importtime``)."""
    proc = subprocess.run([command[0], "-X", "importtime", *command[1:]], env=ENV, capture_output=True, text=True,
                          cwd=ROOT)
    return any(line.startswith("import time:") and line.split("|")[-1].strip() == "torch"
               for line in proc.stderr.splitlines())


def publish_copies(hub, n: int, work: Path) -> None:
    """Push ``n`` copies of the reference agent (from a copy of its folder: a push rewrites the card's repo id)."""
    import shutil

    from hubrl.hub import HubClient

    for i in range(n):
        user = f"student{i}"
        folder = shutil.copytree(REFERENCE, work / f"agent{i}")
        HubClient(hub.endpoint, hub.create_token(user)).push_to_hub(folder, f"{user}/Reinforce-CartPole-v1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--agents", type=int, default=3, help="agents the leaderboard verifies (default 3)")
    args = parser.parse_args()

    from hubrl.server import LocalHub

    work = Path(tempfile.mkdtemp(prefix="hubrl-startup-"))
    with LocalHub(work / "hub") as hub:
        publish_copies(hub, args.agents, work)
        commands = {
            'python -c "import torch"': lambda i: [sys.executable, "-c", "import torch"],
            "hubrl evaluate REF": lambda i: [*HUBRL, "evaluate", str(REFERENCE)],
            "hubrl record REF": lambda i: [*HUBRL, "record", str(REFERENCE), "--output", str(work / "r.mp4"),
                                           "--overwrite"],
            f"hubrl leaderboard --verify {args.agents}": lambda i: [
                *HUBRL, "leaderboard", "CartPole-v1", "--verify", str(args.agents), "--endpoint", hub.endpoint,
                "--cache-dir", str(work / f"cache{i}")],
            "hubrl train CartPole-v1": lambda i: [*HUBRL, "train", "CartPole-v1", "--output", str(work / "run"),
                                                  "--overwrite", "--quiet"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(args.runs):
            for name, command in commands.items():
                times[name].append(timed(command(i)))
            print(f"round {i + 1}/{args.runs}: " + ", ".join(f"{t[-1]:.2f}" for t in times.values()), flush=True)
        torch_in = {name: imports_torch(command(args.runs)) for name, command in commands.items()
                    if name.startswith("hubrl") and "train" not in name}

    yardstick = statistics.median(times['python -c "import torch"'])
    print(f"\nwhole-process wall time, median of {args.runs} rounds ({os.cpu_count()} CPU cores)")
    print(f"{'command':<34} {'median s':>9} {'x import torch':>15}  imports torch")
    for name, values in times.items():
        median = statistics.median(values)
        flag = "" if name not in torch_in else ("yes" if torch_in[name] else "no")
        print(f"{name:<34} {median:>9.2f} {median / yardstick:>15.2f}  {flag}")


if __name__ == "__main__":
    main()
