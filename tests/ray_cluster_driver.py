"""The driver tests/test_ray.py runs inside a network namespace that has only loopback (and a pid namespace of its own).

It starts a real two-node Ray cluster on 127.0.0.1 with ``ray start`` (a head and a worker node, one CPU each),
then runs, each next to the local process-pool path it must match:

1. the same sweep locally and on the cluster (with failing trials), timed;
2. ``hubrl sweep --ray`` killed after its first finished trial, then started again (it must continue);
3. leaderboard verification of three agents on a LocalHub, locally and with ``hubrl leaderboard --verify --ray``;
4. a sweep during which the worker node's raylet is killed while it runs a trial (the trial must be retried);

and writes everything it saw to ``OUT/report.json`` for the test to judge. It stops the cluster at the end (and
the pid namespace ends every process left). Also usable by hand, as root:

    unshare --net --pid --fork --mount-proc bash -c 'ip link set lo up; python tests/ray_cluster_driver.py OUT'
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
HEAD_PORT = 6379
WORKER_NODE_MANAGER_PORT = 7111
ENV_ID = "CartPole-v1"
COMMON = {"max_env_steps": 20000}
SWEEP_GRID = {"lr": [0.05, 0.1, 1e30]}  # lr=1e30 passes validation and makes the loss NaN: a real failing trial
SWEEP_SEEDS = [0, 1]
NODE_LOSS_GRID = {"lr": [0.05, 0.1]}


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"sections": {}}
    started_cluster = False
    scratch = Path(tempfile.mkdtemp(prefix="hr", dir="/tmp"))  # short: Ray's unix socket paths must stay < 108
    _isolate_hub_client(scratch)
    try:
        report["interfaces"] = _refuse_anything_but_loopback()
        started_cluster = True
        address = _start_cluster(scratch)
        report["address"] = address
        report["nodes"] = _nodes(address)
        for name, section in (("sweep", _sweep_section), ("resume", _resume_section), ("verify", _verify_section),
                              ("node_loss", _node_loss_section)):  # last: the cluster has one node left after it
            started = time.perf_counter()
            try:
                report["sections"][name] = section(address, out / name)
            except Exception:
                report["sections"][name] = {"crashed": traceback.format_exc()}
            report["sections"][name]["section_s"] = round(time.perf_counter() - started, 1)
            print(f"driver: {name} done in {report['sections'][name]['section_s']} s", file=sys.stderr, flush=True)
    except Exception:
        report["crashed"] = traceback.format_exc()
    finally:
        if started_cluster:
            report["ray_stop"] = _ray("stop", check=False).returncode  # this pid namespace's Ray processes only
        shutil.rmtree(scratch, ignore_errors=True)
        (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0 if "crashed" not in report else 1


# -- the cluster --------------------------------------------------------------------------------------------------

def _refuse_anything_but_loopback() -> list[str]:
    """The namespace must hold loopback only (Ray binds to the host's interface address even when told 127.0.0.1)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    links = subprocess.run(["ip", "-o", "link"], check=True, capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if line.strip()]
    addresses = subprocess.run(["ip", "-o", "addr"], check=True, capture_output=True, text=True).stdout.split()
    inet = [addresses[i + 1].split("/")[0] for i, word in enumerate(addresses) if word in ("inet", "inet6")]
    if names != ["lo"] or set(inet) - {"127.0.0.1", "::1"}:
        raise SystemExit(f"refusing to start a Ray cluster: this network namespace has {names} / {inet}, not "
                         "loopback only; run me under `unshare --net`")
    if os.getppid() != 1:  # `ray stop` at the end must see this namespace's processes only
        raise SystemExit("refusing to start a Ray cluster outside a pid namespace of its own: run me under "
                         "`unshare --net --pid --fork --mount-proc bash -c 'ip link set lo up; python ...'`")
    return names


def _ray(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    ray = Path(sys.executable).with_name("ray")
    return subprocess.run([str(ray), *args], check=check, capture_output=True, text=True, timeout=180)


def _start_cluster(scratch: Path) -> str:
    # a lost node is noticed after ~3 s instead of Ray's ~15 s default (read by every Ray process from the env)
    os.environ.update(RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="3",
                      RAY_USAGE_STATS_ENABLED="0")
    # No log monitor (every driver here connects with log_to_driver=False) and Ray's smallest object store (trial
    # results are a few KB): about 1.3 s less CPU and 170 MiB less memory for the two nodes, measured.
    common = ["--node-ip-address", HOST, "--num-cpus", "1", "--disable-usage-stats", "--include-log-monitor", "false",
              "--object-store-memory", str(75 << 20)]
    _ray("start", "--head", "--port", str(HEAD_PORT), "--temp-dir", str(scratch / "ray"), "--include-dashboard",
         "false", "--dashboard-host", HOST, *common)
    address = f"{HOST}:{HEAD_PORT}"
    _ray("start", "--address", address, "--node-manager-port", str(WORKER_NODE_MANAGER_PORT), *common)
    return address


def _nodes(address: str) -> list[dict]:
    import ray

    ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    try:
        nodes = [{"node_id": n["NodeID"], "address": n["NodeManagerAddress"], "port": n["NodeManagerPort"],
                  "cpus": n["Resources"].get("CPU"), "alive": n["Alive"], "head": n["NodeManagerPort"] !=
                  WORKER_NODE_MANAGER_PORT} for n in ray.nodes()]
    finally:
        ray.shutdown()
    if any(n["address"] != HOST for n in nodes):
        raise SystemExit(f"refusing to go on: a Ray node is on an address other than {HOST}: {nodes}")
    return nodes


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process in this pid namespace (/proc is our own)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            found.append((int(entry), int(fields[1]), cmdline.strip()))
    return found


def _worker_raylet() -> int:
    marker = f"--node_manager_port={WORKER_NODE_MANAGER_PORT}"
    pids = [pid for pid, _, cmd in _processes() if "/raylet " in cmd + " " and marker in cmd]
    if len(pids) != 1:
        raise RuntimeError(f"expected one raylet with {marker}, found {pids}")
    return pids[0]


# -- the sections -------------------------------------------------------------------------------------------------

def _sweep_section(address: str, out: Path) -> dict:
    from hubrl.sweep import sweep

    timings = {}
    summaries = {}
    for where, kwargs in (("local", {"workers": 2}), ("ray", {"ray_address": address})):
        started = time.perf_counter()
        summaries[where] = sweep(ENV_ID, grid=SWEEP_GRID, seeds=SWEEP_SEEDS, common=COMMON, output=out / where,
                                 **kwargs)
        timings[where] = round(time.perf_counter() - started, 1)
    return {"summaries": summaries, "wall_s": timings}


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "hubrl.cli", *args], env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


def _sweep_args(address: str, folder: Path, grid: dict) -> list[str]:
    args = ["sweep", ENV_ID, "--seeds", ",".join(map(str, SWEEP_SEEDS)), "--ray", address, "--output", str(folder),
            "--quiet"]
    for key, values in grid.items():
        args += ["--grid", f"{key}=" + "|".join(map(str, values))]
    for key, value in COMMON.items():
        args += ["--set", f"{key}={value}"]
    return args


def _ok_rows(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("trial-*.json"))
            if json.loads(p.read_text())["status"] == "ok"}


def _resume_section(address: str, out: Path) -> dict:
    """``hubrl sweep --ray`` killed (SIGKILL, the driver gone at once) after its first finished trial; run again."""
    folder = out / "sweep"
    first = _cli(*_sweep_args(address, folder, SWEEP_GRID))
    deadline = time.monotonic() + 400
    while not _ok_rows(folder) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    before = _ok_rows(folder)
    second = _cli(*_sweep_args(address, folder, SWEEP_GRID))
    stdout, stderr = second.communicate(timeout=600)
    return {"done_before": {name: data.decode() for name, data in before.items()},
            "after": {name: (folder / name).read_text() for name in before},
            "rc": second.returncode, "stdout": stdout, "stderr": stderr[-3000:],
            "summary": json.loads((folder / "summary.json").read_text())}


def _node_loss_section(address: str, out: Path) -> dict:
    """Kill the worker node's raylet while it runs a trial: that trial must be retried elsewhere, the sweep finish."""
    folder = out / "sweep"
    proc = _cli(*_sweep_args(address, folder, NODE_LOSS_GRID))
    raylet = _worker_raylet()
    killed_trial = None
    deadline = time.monotonic() + 300
    while killed_trial is None and proc.poll() is None and time.monotonic() < deadline:
        running = [cmd for _, parent, cmd in _processes() if parent == raylet and cmd.startswith("ray::trial-")]
        if running:
            killed_trial = running[0].split("::", 1)[1].split()[0]
            os.kill(raylet, signal.SIGKILL)
        else:
            time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=600)
    return {"killed_trial": killed_trial, "rc": proc.returncode, "stdout": stdout, "stderr": stderr[-3000:],
            "summary": json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").exists()
            else None}


def _isolate_hub_client(scratch: Path) -> None:
    """No stored token, no shared cache: set before huggingface_hub is imported (Ray workers inherit it)."""
    os.environ.pop("HF_TOKEN", None)
    os.environ.pop("HF_ENDPOINT", None)
    os.environ.update(HF_HOME=str(scratch / "hf_home"), HF_HUB_DISABLE_PROGRESS_BARS="1")


def _verify_section(address: str, out: Path) -> dict:
    from huggingface_hub import HfApi

    from hubrl.hub import HubClient
    from hubrl.ranking import leaderboard, verify_entries
    from hubrl.server import LocalHub

    sys.path.insert(0, str(ROOT / "tests"))
    from test_leaderboard import card_text, course_metadata, course_repo_folder

    with LocalHub(out / "hub", host=HOST) as server:
        tokens = {user: server.create_token(user) for user in ("alice", "bob", "eve")}
        # a good hubrl agent (consistent), a course-notebook agent claiming what it does not reach (flagged),
        # and a card with no weights at all (cannot be loaded)
        reference = shutil.copytree(ROOT / "model_cards" / "reference" / ENV_ID, out / "reference")  # the push
        HubClient(server.endpoint, tokens["alice"]).push_to_hub(reference, "alice/Reinforce-CartPole-v1")
        course = course_repo_folder(out / "course-agent", claim="500.00 +/- 0.00")
        bob = HfApi(endpoint=server.endpoint, token=tokens["bob"])
        bob.create_repo("bob/course-agent")
        bob.upload_folder(repo_id="bob/course-agent", folder_path=str(course))
        eve = HfApi(endpoint=server.endpoint, token=tokens["eve"])
        eve.create_repo("eve/impossible")
        eve.upload_file(path_or_fileobj=card_text(course_metadata("impossible", "1000.00 +/- 0.00"),
                                                  tmp=out).encode(), path_in_repo="README.md",
                        repo_id="eve/impossible")

        entries = leaderboard(ENV_ID, cache_dir=out / "cache-local", client=HubClient(server.endpoint, False))
        started = time.perf_counter()
        local = verify_entries(entries, 3, cache_dir=out / "cache-local", workers=2, client=HubClient(server.endpoint, False))
        local_s = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cli = _cli("leaderboard", ENV_ID, "--verify", "3", "--ray", address, "--json", "--endpoint", server.endpoint,
                   "--cache-dir", str(out / "cache-ray"))
        stdout, stderr = cli.communicate(timeout=600)
        ray_s = round(time.perf_counter() - started, 1)
    ray_entries = json.loads(stdout)["entries"] if cli.returncode == 0 else []
    return {"local": [v.to_json() for v in local],
            "ray": [e["verification"] for e in ray_entries if e["verification"] is not None],
            "rc": cli.returncode, "stderr": stderr[-3000:], "wall_s": {"local": local_s, "ray_cli": ray_s}}


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
