"""Server memory for one large commit: peak RSS of the local Hub process while the official client uploads a file.

The client sends a file inline, base64-encoded inside one ndjson line (about 1.33x its size on the wire). The new
server stream-decodes that line to disk; the reference is the previous stdlib server (``--reference-rev``, taken
from git history into a temporary folder), measured the same way in the same run. Each run starts a fresh server
process (so its peak, VmHWM, belongs to this upload alone), creates a repo, makes one small commit to warm up,
reads VmRSS (the baseline), uploads, and reads VmHWM. Medians over ``--runs``.

    python benchmarks/server_memory.py --size-mib 200 --runs 3
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


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def measure(source_root: Path, payload: Path, workdir: Path) -> dict[str, float]:
    """One upload of ``payload`` to a fresh server running the code under ``source_root``."""
    data = Path(tempfile.mkdtemp(dir=workdir))
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    code = f"from hubrl.server import serve; serve(port=0, data_dir={str(data)!r}, max_body_bytes=1 << 40)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env, cwd=workdir)
    try:
        endpoint = proc.stdout.readline().strip().removeprefix("Hub listening on ")
        token = subprocess.run(
            [sys.executable, "-c", f"from hubrl.server import create_token; print(create_token({str(data)!r}, 'bench'))"],
            env=env, capture_output=True, text=True, check=True, cwd=workdir,
        ).stdout.strip()
        from huggingface_hub import HfApi

        api = HfApi(endpoint=endpoint, token=token)
        api.create_repo("bench/big")
        api.upload_file(path_or_fileobj=b"warm up", path_in_repo="small.txt", repo_id="bench/big")
        baseline = _status_kib(proc.pid, "VmRSS")
        start = time.perf_counter()
        api.upload_file(path_or_fileobj=str(payload), path_in_repo="big.bin", repo_id="bench/big")
        seconds = time.perf_counter() - start
        peak = _status_kib(proc.pid, "VmHWM")
        size = payload.stat().st_size
        assert [f.size for f in api.list_repo_tree("bench/big") if f.path == "big.bin"] == [size]
        return {"baseline_mib": baseline / 1024, "peak_mib": peak / 1024, "seconds": seconds,
                "peak_over_upload": peak * 1024 / size, "growth_over_upload": (peak - baseline) * 1024 / size}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference-rev", default="dbc86ee", help="git revision of the reference server")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hubrl-bench-") as tmp:
        workdir = Path(tmp)
        payload = workdir / "payload.bin"
        with open(payload, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        sources = {"new (starlette)": ROOT}
        if not args.no_reference:
            ref = workdir / "reference"
            ref.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.reference_rev, "hubrl"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(ref)], input=archive, check=True)
            sources[f"reference ({args.reference_rev}, stdlib)"] = ref
        print(f"upload: one {args.size_mib} MiB file through huggingface_hub (base64 inline in one ndjson line); "
              f"median of {args.runs} runs")
        print(f"{'server':<28} {'baseline MiB':>12} {'peak MiB':>9} {'peak/upload':>11} {'growth/upload':>13} "
              f"{'seconds':>8}")
        for name, source in sources.items():
            runs = [measure(source, payload, workdir) for _ in range(args.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"{name:<28} {med['baseline_mib']:>12.0f} {med['peak_mib']:>9.0f} {med['peak_over_upload']:>11.2f} "
                  f"{med['growth_over_upload']:>13.2f} {med['seconds']:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
