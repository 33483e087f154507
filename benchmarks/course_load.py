"""Loading a CartPole course repo by repo id: first load (bounded child reads model.pt) vs cached load, same run.

Each measurement is a fresh process (``python benchmarks/course_load.py --one MODE ENDPOINT REPO``) that imports
hubrl first, then times ``load_from_hub`` alone, and reports its own peak RSS and its children's (the reader).
A local Hub on loopback serves a notebook-shaped repo (``torch.save(model)`` of ``__main__.Policy``); each round uses
a fresh hubrl cache, so ``first`` converts and ``cached`` reuses the conversion. Medians over ``--rounds``.

    python benchmarks/course_load.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(mode: str, endpoint: str, repo_id: str) -> None:
    started = time.monotonic()
    import hubrl.course  # noqa: F401
    import hubrl.policy  # noqa: F401
    from hubrl.hub import HubClient

    imports_s = time.monotonic() - started
    started = time.monotonic()
    agent = HubClient(endpoint).load_from_hub(repo_id)
    load_s = time.monotonic() - started
    print(json.dumps({"mode": mode, "imports_s": imports_s, "load_s": load_s, "hidden": agent.policy.config.hidden_sizes,
                      "parent_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--one", nargs=3, metavar=("MODE", "ENDPOINT", "REPO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from test_course_repos import notebook, push_repo

    from hubrl.server import LocalHub

    rows: dict[str, list[dict]] = {"first": [], "cached": []}
    with tempfile.TemporaryDirectory() as tmp, LocalHub(Path(tmp) / "hub") as hub:
        hub.token = hub.create_token("bob")
        repo_id, _ = push_repo(hub, Path(tmp), "cartpole", notebook)
        for round_ in range(args.rounds):
            env = {**os.environ, "HUBRL_CACHE": f"{tmp}/cache{round_}", "HF_HOME": f"{tmp}/hf{round_}"}
            for mode in rows:
                done = subprocess.run([sys.executable, __file__, "--one", mode, hub.endpoint, repo_id], env=env,
                                      capture_output=True, text=True, check=True)
                rows[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for mode, runs in rows.items():
        med = {key: statistics.median(run[key] for run in runs)
               for key in ("imports_s", "load_s", "parent_rss_mb", "child_rss_mb")}
        print(f"{mode:>6}: load_from_hub {med['load_s']:.2f} s (imports before it {med['imports_s']:.2f} s), "
              f"peak RSS parent {med['parent_rss_mb']:.0f} MB, reader child {med['child_rss_mb']:.0f} MB "
              f"(median of {len(runs)})")
    first, cached = (statistics.median(r["load_s"] for r in rows[m]) for m in ("first", "cached"))
    print(f"cached load is {first / cached:.0f}x faster than the first")


if __name__ == "__main__":
    main()
