"""Issue 21's attacks on a class Hub (cards, quotas and garbage, many files, refused uploads), rerun against
``hubrl hub serve`` of this tree and of a reference revision (the rebuilt server before quotas), each in fresh server
processes on loopback, with the figures side by side.

- cards: a README whose front matter nests ``[`` 1000 deep, committed through the raw commit API; then what ``/``,
  ``/leaderboard/CartPole-v1``, ``/progress/alice``, ``/api/models`` and ``hubrl leaderboard CartPole-v1`` answer,
  and how much the server logged. Three ~1 MiB flow-list cards: server CPU and wall time of the first ``/`` after
  them; an anonymous ``POST /api/validate-yaml`` of the same card: server CPU.
- quota: one token creating repositories with a 900 KiB file each through the raw API (``--repos`` of them, or until
  refused): repos, bytes on disk, seconds, the refusal.
- storage: 300 MiB files pushed with the real client into one repository, up to five or until refused.
- delete: two ``--big-mib`` files pushed with the real client, then one commit deleting both: bytes on disk.
- files: a repository of ``--files`` small files plus a CartPole agent: median wall time of ``/``, ``list_repo_files``
  and ``hubrl evaluate`` of it (each revision's own client code).
- drain: an upload refused at once (bad token) whose body takes 20 s to send, as a slow link would: does the
  client hear the 401 or lose the connection?

    python benchmarks/hub_abuse.py [--only cards,quota,storage,delete,files,drain] [--reference-rev REV]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_AGENT = ROOT / "model_cards" / "reference" / "CartPole-v1"
DEEP_CARD = "---\ntags: [CartPole-v1]\nx: " + "[" * 1000 + "]" * 1000 + "\n---\n# deep\n"
FLOW_CARD = "---\ntags: [CartPole-v1]\nx: [" + ",".join(["[]"] * ((1 << 20) // 3 - 100)) + "]\n---\n# flow\n"
NEAR_CARD = "---\ntags: [CartPole-v1]\nx: [" + ",".join(["[[[[[[[[[[]]]]]]]]]]"] * ((127 << 10) // 21)) + "]\n---\n"
"""Just under the 128 KiB front-matter limit, of the costliest shape measured (nested empty lists)."""


class Server:
    """``hubrl hub serve`` of one source tree in its own process (stderr, its log, kept in a file). Every process
    runs outside the source tree, so that ``PYTHONPATH`` decides which hubrl it imports."""

    def __init__(self, source: Path, data: Path, *options: str):
        self.source, self.data = source, data
        data.parent.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": str(source)}
        self.env.pop("HF_TOKEN", None)
        self.tokens = {user: self._run("import hubrl, sys; from hubrl.server import create_token; "
                                       f"print(create_token({str(data)!r}, {user!r}))") for user in ("alice", "bob")}
        where = self._run("import hubrl; print(hubrl.__file__)")
        assert where.startswith(str(source)), (where, source)
        self.log = data.parent / f"{data.name}.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "hubrl.cli", "hub", "serve", "--port", "0", "--data",
                                      str(data), *options], stdout=subprocess.PIPE, stderr=open(self.log, "wb"),
                                     text=True, env=self.env, cwd=data.parent)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("Hub listening on "):
            raise RuntimeError(f"the server did not start: {self.log.read_text()[-2000:]}")
        self.endpoint = line.removeprefix("Hub listening on ")
        self.port = int(self.endpoint.rsplit(":", 1)[1])

    def _run(self, code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                              check=True, cwd=self.data.parent).stdout.strip()

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def request(self, method: str, path: str, body: bytes = b"", token: str | None = None,
                timeout: float = 300) -> tuple[int, bytes, float]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read(), time.perf_counter() - start
        finally:
            conn.close()

    def commit(self, user: str, repo_id: str, files: dict[str, bytes] | None = None,
               raw_lines: list[bytes] = ()) -> tuple[int, bytes]:
        """A commit through the raw commit API (no validate-yaml, no preupload)."""
        lines = [json.dumps({"key": "header", "value": {"summary": "raw", "description": ""}}).encode()]
        lines += [json.dumps({"key": "file", "value": {"path": p, "content": base64.b64encode(d).decode(),
                                                       "encoding": "base64"}}).encode() for p, d in (files or {}).items()]
        status, body, _ = self.request("POST", f"/api/models/{repo_id}/commit/main",
                                       b"\n".join([*lines, *raw_lines]) + b"\n", self.tokens[user])
        return status, body

    def create(self, user: str, name: str) -> int:
        return self.request("POST", "/api/repos/create", json.dumps({"name": name}).encode(), self.tokens[user])[0]

    def cli(self, *args: str, timeout: float = 600) -> tuple[int, float, str]:
        env = {**self.env, "HF_ENDPOINT": self.endpoint, "HF_HOME": str(self.data.parent / f"{self.data.name}-hf"),
               "HUBRL_CACHE": str(self.data.parent / f"{self.data.name}-cache"), "SDL_VIDEODRIVER": "dummy"}
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "hubrl.cli", *args], env=env, capture_output=True, text=True,
                             timeout=timeout, cwd=self.data.parent)
        lines = (out.stderr.strip() or out.stdout.strip()).splitlines()
        return out.returncode, time.perf_counter() - start, lines[-1][:150] if lines else ""

    def disk(self) -> int:
        return sum(f.stat().st_size for f in (self.data / "repos").rglob("*") if f.is_file())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def api(server: Server, user: str = "alice"):
    from huggingface_hub import HfApi

    return HfApi(endpoint=server.endpoint, token=server.tokens[user])


def random_file(path: Path, mib: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    return path


def pages(server: Server) -> str:
    out = []
    for path in ["/", "/leaderboard/CartPole-v1", "/progress/alice", "/api/models"]:
        status, _, seconds = server.request("GET", path)
        out.append(f"{path} {status} ({seconds:.2f} s)")
    return ", ".join(out)


# ------------------------------------------------------------------------------------------ the attacks
def attack_cards(source: Path, work: Path, args) -> None:
    server = Server(source, work / "cards")
    try:
        api(server, "bob").create_repo("bob/Reinforce-CartPole-v1")
        api(server, "bob").upload_folder(repo_id="bob/Reinforce-CartPole-v1", folder_path=REFERENCE_AGENT)
        server.create("alice", "deep")
        logged = server.log.stat().st_size
        print(f"  deep card committed: {server.commit('alice', 'alice/deep', {'README.md': DEEP_CARD.encode()})[0]}")
        print(f"  pages: {pages(server)}")
        rc, seconds, last = server.cli("leaderboard", "CartPole-v1")
        print(f"  hubrl leaderboard CartPole-v1: exit {rc} in {seconds:.1f} s; last line: {last}")
        print(f"  {pages(server)} -> server log grew by {server.log.stat().st_size - logged} bytes")
        server.create("alice", "late-date")
        server.commit("alice", "alice/late-date", {"README.md": b"---\ntags: [CartPole-v1]\ndate: 2024-13-45\n---\n"})
        logged = server.log.stat().st_size
        print(f"  a card with the date 2024-13-45: {pages(server)}")
        rc, seconds, last = server.cli("leaderboard", "CartPole-v1")
        print(f"  hubrl leaderboard CartPole-v1: exit {rc} in {seconds:.1f} s; last line: {last}")
        print(f"  server log grew by {server.log.stat().st_size - logged} bytes; its last line: "
              f"{server.log.read_text(errors='replace').strip().splitlines()[-1][:200]!r}")
    finally:
        server.stop()

    server = Server(source, work / "flow")
    try:
        for i in range(3):
            server.create("alice", f"flow{i}")
            server.commit("alice", f"alice/flow{i}", {"README.md": FLOW_CARD.encode()})
        cpu = server.cpu()
        status, _, seconds = server.request("GET", "/")
        print(f"  three {len(FLOW_CARD) >> 10} KiB flow-list cards: first / {status} in {seconds:.1f} s, "
              f"{server.cpu() - cpu:.1f} s server CPU; next / {server.request('GET', '/')[2]:.2f} s")
        for i in range(3):
            server.create("alice", f"near{i}")
            server.commit("alice", f"alice/near{i}", {"README.md": NEAR_CARD.replace("x:", f"x{i}:").encode()})
        cpu = server.cpu()
        status, _, seconds = server.request("GET", "/")
        print(f"  then three {len(NEAR_CARD) >> 10} KiB cards of nested empty lists: first / {status} in {seconds:.1f} s, "
              f"{server.cpu() - cpu:.1f} s server CPU")
        cpu = server.cpu()
        status, body, seconds = server.request("POST", "/api/validate-yaml", json.dumps({"content": FLOW_CARD}).encode())
        print(f"  anonymous validate-yaml of one: {status} in {seconds:.1f} s, {server.cpu() - cpu:.1f} s server CPU: "
              f"{body[:120].decode(errors='replace')}")
    finally:
        server.stop()


def attack_quota(source: Path, work: Path, args) -> None:
    server = Server(source, work / "quota")
    try:
        payload = os.urandom(900 << 10)
        start, made, refusal = time.perf_counter(), 0, None
        for i in range(args.repos):
            status = server.create("alice", f"r{i}")
            if status != 200:
                refusal = f"create {status}"
                break
            status, body = server.commit("alice", f"alice/r{i}", {"weights.bin": payload})
            if status != 200:
                refusal = f"commit {status}: {json.loads(body).get('error', '')[:160]}"
                break
            made += 1
        seconds = time.perf_counter() - start
        print(f"  {made} repos with 900 KiB each in {seconds:.0f} s, {server.disk() / 1e9:.2f} GB on disk; "
              f"refused: {refusal}")
        from huggingface_hub.errors import HfHubHTTPError

        try:
            api(server).create_repo("alice/one-more")
            api(server).upload_file(path_or_fileobj=payload, path_in_repo="w.bin", repo_id="alice/one-more")
            print("  the real client: one more repo and file accepted")
        except HfHubHTTPError as err:
            print(f"  the real client: {type(err).__name__}: {' '.join(str(err).split())[:260]}")
    finally:
        server.stop()


def attack_storage(source: Path, work: Path, args) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    server = Server(source, work / "storage")
    try:
        client = api(server)
        client.create_repo("alice/s")
        path = random_file(work / "part.bin", 300)
        accepted, refusal, start = 0, None, time.perf_counter()
        for i in range(5):
            with open(path, "r+b") as f:
                f.write(os.urandom(64))  # another content each time
            try:
                client.upload_file(path_or_fileobj=str(path), path_in_repo=f"part{i}.bin", repo_id="alice/s")
                accepted += 1
            except HfHubHTTPError as err:
                refusal = f"{err.response.status_code} at {err.response.url.path.split('/')[-2]}: " + \
                    " ".join(str(err).split())[:200]
                break
        print(f"  300 MiB uploads: {accepted} accepted in {time.perf_counter() - start:.0f} s, "
              f"{server.disk() / 2**20:.0f} MiB on disk, tmp/ holds {len(os.listdir(server.data / 'tmp'))} files; "
              f"refused: {refusal}")
    finally:
        server.stop()


def attack_delete(source: Path, work: Path, args) -> None:
    from huggingface_hub import CommitOperationDelete

    server = Server(source, work / "delete")
    try:
        client = api(server)
        client.create_repo("alice/big")
        for name in ("a.bin", "b.bin"):
            path = random_file(work / name, args.big_mib)
            client.upload_file(path_or_fileobj=str(path), path_in_repo=name, repo_id="alice/big")
            path.unlink()
        before = server.disk()
        client.create_commit("alice/big", [CommitOperationDelete("a.bin"), CommitOperationDelete("b.bin")],
                             commit_message="delete both")
        print(f"  two {args.big_mib} MiB files: {before / 2**20:.0f} MiB on disk; after one commit deleting both: "
              f"{server.disk() / 2**20:.0f} MiB")
    finally:
        server.stop()


def attack_files(source: Path, work: Path, args, new: bool) -> None:
    data = work / "files"
    server = Server(source, data)
    try:
        server.create("alice", "many")
        agent = {p.name: p.read_bytes() for p in REFERENCE_AGENT.iterdir()}
        lines = [b'{"key":"file","value":{"path":"data/%07d.txt","content":"eA==","encoding":"base64"}}' % i
                 for i in range(args.files)]
        status, body = server.commit("alice", "alice/many", agent, lines)
        print(f"  a commit of {args.files} files with the hubrl serve defaults: {status} "
              f"{json.loads(body).get('error', '')[:140] if status != 200 else ''}")
        if status != 200 and new:
            server.stop()
            server = Server(source, data, "--max-files-per-repo", "0")
            status, body = server.commit("alice", "alice/many", agent, lines)
            print(f"  with --max-files-per-repo 0: {status}")
        server.stop()
        server = Server(source, data, *(["--max-files-per-repo", "0"] if new else []))  # no cache warm
        first = server.request("GET", "/")[2]
        times = [server.request("GET", "/")[2] for _ in range(args.runs)]
        print(f"  / : first {first:.2f} s, then median {statistics.median(times):.3f} s")
        start = time.perf_counter()
        count = len(api(server).list_repo_files("alice/many"))
        print(f"  list_repo_files: {count} files in {time.perf_counter() - start:.1f} s")
        rc, seconds, last = server.cli("evaluate", "alice/many", "--n-eval-episodes", "1", timeout=900)
        print(f"  hubrl evaluate alice/many: exit {rc} in {seconds:.1f} s; {last}")
    finally:
        server.stop()


def attack_drain(source: Path, work: Path, args) -> None:
    server = Server(source, work / "drain")
    try:
        size, rate = 4 << 20, 200 << 10
        s = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        s.sendall(b"POST /api/models/alice/x/commit/main HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hf_wrong\r\n"
                  b"Content-Length: %d\r\n\r\n" % size)
        start, error = time.perf_counter(), None
        try:
            for _ in range(0, size, 64 << 10):
                s.sendall(b"x" * (64 << 10))
                time.sleep((64 << 10) / rate)
        except OSError as err:
            error = err
        sent = time.perf_counter() - start
        try:
            answer = s.recv(100).split(b"\r\n")[0].decode()
        except OSError as err:
            answer = f"{type(err).__name__}"
        s.close()
        print(f"  refused upload sent at 200 KiB/s: write {'error ' + type(error).__name__ if error else 'complete'} "
              f"after {sent:.1f} s; answer read: {answer!r}")
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="cards,quota,storage,delete,files,drain")
    parser.add_argument("--reference-rev", default="85cbdb9", help="git revision of the reference server")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--repos", type=int, default=2000)
    parser.add_argument("--big-mib", type=int, default=200)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hubrl-abuse-") as tmp:
        sources = {"this tree": ROOT}
        if not args.no_reference:
            ref = Path(tmp) / "reference"
            ref.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.reference_rev, "hubrl", "model_cards"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(ref)], input=archive, check=True)
            sources[f"reference {args.reference_rev}"] = ref
        for attack in args.only.split(","):
            print(f"== {attack}", flush=True)
            for name, source in sources.items():
                work = Path(tempfile.mkdtemp(dir=tmp))
                print(f" {name}:", flush=True)
                if attack == "files":
                    attack_files(source, work, args, new=source == ROOT)
                else:
                    globals()[f"attack_{attack}"](source, work, args)
                subprocess.run(["rm", "-rf", str(work)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
