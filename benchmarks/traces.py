"""What TensorBoard traces cost: CartPole-v1 training with and without ``--tensorboard``'s live writer (same run),
the time to write a run folder's traces, and their size against history.json.

Per seed: ``train()`` of the default preset, timed around the call (the live writer's callback is paused training
time, so ``wall_s`` alone would hide it), with no traces and with the live writer; the weights must be identical.
Then the run folder's traces are written from each history, and from the reference agents' histories
(``model_cards/reference``: Pixelcopter 1,875 updates, Pong 3,125).

    python benchmarks/traces.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from hubrl.presets import make_config  # noqa: E402
from hubrl.traces import TraceWriter, write_traces  # noqa: E402
from hubrl.training import train  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[1] / "model_cards" / "reference"


def timed_train(seed: int, logdir: Path | None):
    writer = TraceWriter(logdir) if logdir is not None else None
    start = time.perf_counter()
    try:
        result = train(make_config("CartPole-v1", "default", seed=seed), progress=False, callback=writer)
    finally:
        if writer is not None:
            writer.close()
    return time.perf_counter() - start, result


def write_time(history: list, folder: Path) -> tuple[float, int]:
    start = time.perf_counter()
    path = write_traces(history, folder)
    return time.perf_counter() - start, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    plain, live, writes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        timed_train(0, tmp / "warm-up")  # imports, first allocations: not part of either measure
        print(f"{'seed':>4} | {'train s':>8} | {'train + live traces s':>21} | {'run folder traces s':>19} | same weights")
        for seed in range(args.seeds):
            if seed % 2:  # alternate which goes first: the machine is shared
                t1, r1 = timed_train(seed, tmp / f"live{seed}")
                t0, r0 = timed_train(seed, None)
            else:
                t0, r0 = timed_train(seed, None)
                t1, r1 = timed_train(seed, tmp / f"live{seed}")
            same = all(torch.equal(a, b) for a, b in zip(r0.policy.state_dict().values(),
                                                         r1.policy.state_dict().values()))
            w, _ = write_time(r0.history, tmp / f"run{seed}")
            plain.append(t0), live.append(t1), writes.append(w / len(r0.history))
            print(f"{seed:>4} | {t0:>8.3f} | {t1:>21.3f} | {w:>19.4f} | {'yes' if same else 'NO'}", flush=True)
        print(f"median CartPole training: {statistics.median(plain):.3f} s without traces, "
              f"{statistics.median(live):.3f} s with the live writer "
              f"({statistics.median(live) / statistics.median(plain) - 1:+.1%}); writing the traces costs "
              f"{statistics.median(writes) * 1000:.2f} ms per update")
        for env in ("CartPole-v1", "Pixelcopter-PLE-v0", "Pong-PLE-v0"):
            history_path = REFERENCE / env / "history.json"
            history = json.loads(history_path.read_text())
            times, size = [], 0
            for i in range(3):
                t, size = write_time(history, tmp / f"{env.replace('/', '-')}{i}")
                times.append(t)
            print(f"reference {env}: {len(history):,} updates, traces {size:,} bytes "
                  f"({size / max(len(history), 1):.0f} B/update; history.json {history_path.stat().st_size:,} bytes), "
                  f"written in {statistics.median(times) * 1000:.0f} ms (median of 3)")


if __name__ == "__main__":
    main()
