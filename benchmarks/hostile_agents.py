"""Hostile agents against a class Hub: each attack of issue 21 items 1 and 5, rerun against ``hubrl hub serve``.

For each source tree (this one, and ``--reference-rev``, taken from git history into a temporary folder: the code
before the fix), in the same run: start ``hubrl hub serve`` on a fresh data folder, push the crafted repos with the
real huggingface_hub client, then

* item 5 (bounded loading): run ``hubrl evaluate REPO`` for every crafted repo in a child process under a 1 GiB
  address-space limit (RLIMIT_AS) and a 300 s wall limit, and report its exit status, wall time, peak RSS
  (``wait4``), how many lines it printed on stderr and the last one;
* item 1 (checked scores): read how the leaderboard page, the progress page and ``hubrl leaderboard`` describe a
  repo that writes its own ``hubrl_verification`` record, a card that marks its metric ``verified: true``, and the
  ALE Pong env-options cheat next to its honest copy (``hubrl leaderboard ALE/Pong-v5 --verify``, and the
  server's own verdicts where the server has a verifier).

    python benchmarks/hostile_agents.py                 # small attacks only (a minute or two per tree)
    python benchmarks/hostile_agents.py --big           # plus the 700 MiB tensor, 500 MB results.json, 8192-wide
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from html import unescape
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "model_cards" / "reference" / "CartPole-v1"
USER = "mallory"
MEMORY_CAP = 1 << 30
WALL_CAP = 300
PONG = "ALE/Pong-v5"
BIG = ("tensor-700MiB", "results-500MB", "wide-8192")
HONEST_PONG = "-20.80 +/- 0.40"
"""What the random ALE Pong agent below measures with hubrl's protocol (seeds 0..9, ram observations)."""


# -- crafted repos -------------------------------------------------------------------------------------------------

def _card(folder: Path, env_id: str, value: str, *, verified: bool = False) -> None:
    from huggingface_hub import metadata_eval_result, metadata_save

    meta = {"tags": [env_id, "reinforce", "reinforcement-learning", "custom-implementation", "deep-rl-class"],
            **metadata_eval_result(model_pretty_name=folder.name, task_pretty_name="reinforcement-learning",
                                   task_id="reinforcement-learning", metrics_pretty_name="mean_reward",
                                   metrics_id="mean_reward", metrics_value=value, dataset_pretty_name=env_id,
                                   dataset_id=env_id)}
    if verified:
        meta["model-index"][0]["results"][0]["metrics"][0]["verified"] = True
    card = folder / "README.md"
    card.write_text(f"# {folder.name}\n")
    metadata_save(card, meta)


def _policy_folder(folder: Path, env_id: str, obs_dim: int, n_actions: int, hidden: list[int], *,
                   env_options: dict | None = None, scale: float = 0.1, extra: dict | None = None) -> Path:
    """A hubrl-format repo with random weights (written with safetensors directly: no hubrl code involved)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    sizes = [obs_dim, *hidden, n_actions]
    rng = np.random.default_rng(0)
    tensors = {}
    for i in range(len(sizes) - 1):
        tensors[f"net.{2 * i}.weight"] = (rng.standard_normal((sizes[i + 1], sizes[i]), dtype=np.float32) * scale)
        tensors[f"net.{2 * i}.bias"] = np.zeros(sizes[i + 1], dtype=np.float32)
    tensors.update(extra or {})
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = {"format": "hubrl-policy/1", "env_id": env_id, "obs_dim": obs_dim, "n_actions": n_actions,
              "hidden_sizes": hidden, "activation": "relu", "obs_norm": False, "env_options": env_options or {}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "results.json").write_text(json.dumps({"env_id": env_id}))
    (folder / "hyperparameters.json").write_text(json.dumps({"env_id": env_id}))
    return folder


def _reference(folder: Path, config_text: str | None = None) -> Path:
    shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("*.mp4", "*.png"))
    if config_text is not None:
        (folder / "config.json").write_text(config_text)
    return folder


def _config_with(**changes) -> str:
    config = json.loads((REFERENCE / "config.json").read_text())
    config.update(changes)
    return json.dumps(config)


def client_attacks(work: Path, big: bool) -> dict[str, Path]:
    """Repos that attack whoever loads them (``hubrl evaluate``/``enjoy``/``leaderboard --verify``)."""
    attacks = {
        "honest": _reference(work / "honest"),
        "obs-lags-1e8": _reference(work / "obs-lags", _config_with(env_options={"obs_lags": [100_000_000]})),
        "hidden-x": _reference(work / "hidden-x", _config_with(hidden_sizes=["x"])),
        "hidden-infinity": _reference(work / "hidden-inf", _config_with(hidden_sizes=[32]).replace(
            '"hidden_sizes": [32]', '"hidden_sizes": [Infinity]')),
        "env-options-list": _reference(work / "env-options-list", _config_with(env_options=[1, 2])),
        "nested-100k": _reference(work / "nested", _config_with()[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000
                                  + "}"),
        "obs-dim-wrong": _reference(work / "obs-dim-wrong", _config_with(obs_dim=5)),
        "pong-render-human": _policy_folder(work / "pong-render-human", PONG, 128, 2, [64],
                                            env_options={"obs_mode": "ram", "render_mode": "human"}),
    }
    if big:
        pad = np.zeros(700 << 20, dtype=np.uint8)
        attacks["tensor-700MiB"] = _policy_folder(work / "tensor-700", "CartPole-v1", 4, 2, [32],
                                                  extra={"padding": pad})
        del pad
        folder = _reference(work / "results-500MB")
        with open(folder / "results.json", "w") as f:
            f.write('{"env_id": "CartPole-v1", "pad": "')
            for _ in range(500):
                f.write("x" * 1_000_000)
            f.write('"}')
        attacks["results-500MB"] = folder
        attacks["wide-8192"] = _policy_folder(work / "wide", "CartPole-v1", 4, 2, [8192, 8192], scale=0.01)
    for name, folder in attacks.items():
        if not (folder / "README.md").exists():
            _card(folder, PONG if name.startswith("pong") else "CartPole-v1", "10.00 +/- 1.00")
    return attacks


def claim_attacks(work: Path) -> dict[str, Path]:
    """Repos whose cards or files lie about their score."""
    forged = _policy_folder(work / "forged-verification", "CartPole-v1", 4, 2, [32])
    (forged / "results.json").write_text(json.dumps({
        "env_id": "CartPole-v1", "mean_reward": 500.0, "std_reward": 0.0,
        "hubrl_verification": {"mean_reward": 500.0, "std_reward": 0.0, "score": 500.0, "n_episodes": 10,
                               "seed": 0, "seeds": list(range(10)), "episode_returns": [500.0] * 10, "flags": []}}))
    _card(forged, "CartPole-v1", "500.00 +/- 0.00")
    marked = _policy_folder(work / "card-verified", "CartPole-v1", 4, 2, [32])
    _card(marked, "CartPole-v1", "500.00 +/- 0.00", verified=True)
    honest = _policy_folder(work / "pong-honest", PONG, 128, 2, [64], env_options={"obs_mode": "ram"})
    _card(honest, PONG, HONEST_PONG)
    cheat = _policy_folder(work / "pong-cheat", PONG, 128, 2, [64],
                           env_options={"obs_mode": "ram", "max_num_frames_per_episode": 200})
    _card(cheat, PONG, "0.00 +/- 0.00")
    return {"forged-verification": forged, "card-verified": marked, "pong-honest": honest, "pong-cheat": cheat}


# -- running -----------------------------------------------------------------------------------------------------

class Served:
    """``hubrl hub serve`` of one source tree on a fresh data folder."""

    def __init__(self, tree: Path, work: Path):
        self.tree, self.data = tree, work / "hub"
        self.env = {**os.environ, "PYTHONPATH": str(tree), "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
        self.env.pop("HF_TOKEN", None)
        self.cwd = work  # not this folder: python -m puts the current folder first on sys.path
        token = subprocess.run([sys.executable, "-m", "hubrl.cli", "hub", "token", USER, "--data", str(self.data)],
                               env=self.env, capture_output=True, text=True, check=True, cwd=self.cwd)
        self.token = token.stdout.strip()
        self.proc = subprocess.Popen([sys.executable, "-m", "hubrl.cli", "hub", "serve", "--port", "0", "--data",
                                      str(self.data)], env=self.env, stdout=subprocess.PIPE, text=True, cwd=self.cwd)
        line = self.proc.stdout.readline()
        self.endpoint = line.strip().removeprefix("Hub listening on ")
        if not self.endpoint.startswith("http"):
            raise RuntimeError(f"the server did not start: {line!r}")

    def push(self, folder: Path) -> str:
        from huggingface_hub import HfApi

        api = HfApi(endpoint=self.endpoint, token=self.token)
        repo_id = f"{USER}/{folder.name}"
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="push")
        return repo_id

    def page(self, path: str) -> str:
        with urllib.request.urlopen(self.endpoint + path, timeout=60) as response:
            return response.read().decode()

    def cli(self, *args: str, cap: bool = True, home: Path) -> dict:
        """``hubrl ARGS`` in a child with RLIMIT_AS (1 GiB) and a wall limit; what it did."""
        def limits() -> None:
            if cap:
                resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

        env = {**self.env, "HF_HOME": str(home), "HUBRL_CACHE": str(home / "hubrl"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        start = time.perf_counter()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([sys.executable, "-m", "hubrl.cli", *args, "--endpoint", self.endpoint],
                                    env=env, stdout=out, stderr=err, preexec_fn=limits, cwd=self.cwd)
            deadline = start + WALL_CAP
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0), err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        lines = [line for line in stderr.splitlines() if line.strip()]
        last = (lines or [line for line in stdout.splitlines() if line.strip()] or [""])[-1]
        return {"rc": proc.returncode, "seconds": seconds, "peak_mib": usage.ru_maxrss / 1024,
                "stderr_lines": len(lines), "last": last[:300], "stdout": stdout}

    def verdict(self, repo_id: str, timeout: float) -> str:
        """The server's own verification of the repo's head, when it has a verifier (waits up to ``timeout``)."""
        from huggingface_hub import HfApi

        api = HfApi(endpoint=self.endpoint, token=False)
        deadline = time.monotonic() + timeout
        while True:
            info = api.model_info(repo_id)
            record = getattr(info, "hubrlVerification", None)
            if record or time.monotonic() > deadline:
                break
            time.sleep(1)
        if not record:
            return "none (no server verifier)"
        measured = "" if record.get("mean_reward") is None else \
            f" measured {record['mean_reward']:.2f} +/- {record['std_reward']:.2f}"
        return f"{record.get('verdict')}{measured}{': ' + str(record.get('error'))[:100] if record.get('error') else ''}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _text(html: str) -> str:
    """A page's visible text (the body, tags removed), on one line."""
    body = html.split("<body", 1)[-1]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body.split(">", 1)[-1])).split())


def _row(html: str, repo_id: str) -> str:
    """The text of the table row (or list item) naming ``repo_id`` on a page."""
    for row in re.findall(r"<tr.*?</tr>|<li.*?</li>", html, flags=re.S):
        if repo_id in row:
            return _text("<body>" + row)
    return "(not shown)"


def run_tree(label: str, tree: Path, work: Path, big: bool, server_wait: float) -> None:
    probe = subprocess.run([sys.executable, "-c", "import hubrl; print(hubrl.__file__)"], cwd=work.parent,
                           env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True)
    print(f"\n== {label}: {tree} (hubrl imported from {probe.stdout.strip()})")
    work.mkdir(parents=True)
    hub = Served(tree, work)
    try:
        clients = client_attacks(work / "client", big)
        claims = claim_attacks(work / "claims")
        repos = {name: hub.push(folder) for name, folder in {**clients, **claims}.items()}
        print(f"hubrl evaluate REPO under a {MEMORY_CAP >> 20} MiB address-space cap (peak uncapped: the same "
              "command without the cap, for the large files)")
        print(f"{'attack':<22} {'rc':>4} {'seconds':>8} {'peak MiB':>9} {'uncapped':>9} {'fetched MiB':>11} "
              f"{'stderr lines':>12}  last line")
        for name in clients:
            home = work / "home" / name
            r = hub.cli("evaluate", repos[name], home=home)
            fetched = sum(p.stat().st_size for p in (home / "hub").rglob("*")  # blobs (snapshots link to them)
                          if p.is_file() and not p.is_symlink()) / (1 << 20)
            uncapped = "" if name not in BIG else \
                f"{hub.cli('evaluate', repos[name], cap=False, home=work / 'home' / (name + '-free'))['peak_mib']:.0f}"
            print(f"{name:<22} {r['rc']:>4} {r['seconds']:>8.1f} {r['peak_mib']:>9.0f} {uncapped:>9} {fetched:>11.2f} "
                  f"{r['stderr_lines']:>12}  {r['last']}")
            shutil.rmtree(home, ignore_errors=True)
        board = hub.page("/leaderboard/CartPole-v1")
        for name in ("forged-verification", "card-verified"):
            print(f"leaderboard page, {name}: {_row(board, repos[name])}")
        print(f"progress page, {USER}: {_text(hub.page('/progress/' + USER))[:400]}")
        r = hub.cli("leaderboard", "CartPole-v1", "--author", USER, cap=False, home=work / "home" / "lb")
        for line in r["stdout"].splitlines():
            if "forged-verification" in line or "card-verified" in line:
                print(f"hubrl leaderboard: {line.strip()}")
        r = hub.cli("leaderboard", PONG, "--author", USER, "--verify", "3", "--workers", "1", cap=False,
                    home=work / "home" / "pong")
        print(f"hubrl leaderboard {PONG} --verify 3 (rc {r['rc']}, {r['seconds']:.0f} s):")
        for line in r["stdout"].splitlines()[1:]:
            print(f"    {line.rstrip()[:200]}")
        for name in ("pong-honest", "pong-cheat", "forged-verification", "card-verified"):
            print(f"server's own verdict, {name}: {hub.verdict(repos[name], server_wait)}")
        pong_board = hub.page("/leaderboard/" + PONG)
        for name in ("pong-honest", "pong-cheat"):
            print(f"leaderboard page, {name}: {_row(pong_board, repos[name])}")
    finally:
        hub.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rev", default="9938575", help="git revision of the code before the fix")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--no-current", action="store_true")
    parser.add_argument("--big", action="store_true", help="also the 700 MiB tensor, 500 MB results.json, 8192-wide")
    parser.add_argument("--server-wait", type=float, default=600, help="seconds to wait for the server's verdicts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hubrl-hostile-") as tmp:
        work = Path(tmp)
        if not args.no_reference:
            ref = work / "reference"
            ref.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.reference_rev], capture_output=True,
                                     check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(ref)], input=archive, check=True)
            run_tree(f"before ({args.reference_rev})", ref, work / "before", args.big, server_wait=5)
        if not args.no_current:
            run_tree("now", ROOT, work / "now", args.big, server_wait=args.server_wait)
    return 0


if __name__ == "__main__":
    sys.exit(main())
