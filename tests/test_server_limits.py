"""What one user can do to a class Hub and to classmates: hostile cards, quotas, space that deletions free, garbage
collection beside concurrent commits, and refused uploads that still hear their answer. Real huggingface_hub client,
real LocalHub on loopback, real sockets; limits set small so that each test takes seconds (the defaults are in
:class:`hubrl.server.Quotas` and :class:`hubrl.server.ConnectionLimits`).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, ModelCard, constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

from hubrl.hub import HubClient
from hubrl.server import ConnectionLimits, LocalHub, Quotas, collect_garbage

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
REFERENCE = ROOT / "model_cards" / "reference" / "CartPole-v1"


@pytest.fixture(autouse=True)
def _isolated_client(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)


def _raw(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _commit(port: int, token: str, repo_id: str, files: dict[str, bytes], deleted: tuple[str, ...] = ()) -> int:
    """A commit through the raw commit API (no validate-yaml or preupload before it): the status."""
    lines = [{"key": "header", "value": {"summary": "raw", "description": ""}}]
    lines += [{"key": "file", "value": {"path": p, "content": base64.b64encode(d).decode(), "encoding": "base64"}}
              for p, d in files.items()]
    lines += [{"key": "deletedFile", "value": {"path": p}} for p in deleted]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return _raw(port, "POST", f"/api/models/{repo_id}/commit/main", body,
                {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})[0]


def _blobs(data: Path, repo_id: str) -> set[str]:
    folder = data / "repos" / repo_id / "blobs"
    return {sub.name + f.name for sub in folder.iterdir() for f in sub.iterdir()}


# ------------------------------------------------------------------------------------------ cards that cannot hurt
DEEP = "---\ntags: [CartPole-v1]\nx: " + "[" * 1000 + "]" * 1000 + "\n---\n# deep\n"
HOSTILE_CARDS = {
    "deep": DEEP,
    "late-date": "---\ntags: [CartPole-v1]\ndate: 2024-13-45\n---\n",
    "big-int": "---\ntags: [CartPole-v1]\nn: " + "9" * 5000 + "\n---\n",
    "not-int": "---\ntags: [CartPole-v1]\nn: !!int twelve\n---\n",
    "huge": "---\ntags: [CartPole-v1]\nx: [" + ",".join(["[]"] * 200_000) + "]\n---\n",
}


def test_hostile_cards_leave_every_other_page_and_the_leaderboard_working(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="hubrl.server")
    with LocalHub(tmp_path / "hub") as hub:
        alice, bob = hub.create_token("alice"), hub.create_token("bob")
        good = HfApi(endpoint=hub.endpoint, token=bob)
        good.create_repo("bob/Reinforce-CartPole-v1")
        good.upload_folder(repo_id="bob/Reinforce-CartPole-v1", folder_path=REFERENCE)
        api = HfApi(endpoint=hub.endpoint, token=alice)
        for name, card in HOSTILE_CARDS.items():  # straight through the commit API: nothing checks them first
            api.create_repo(f"alice/{name}")
            assert _commit(hub.port, alice, f"alice/{name}", {"README.md": card.encode()}) == 200

        for path in ["/", "/leaderboard", "/leaderboard/CartPole-v1", "/progress/alice", "/progress/bob",
                     "/api/models", "/api/models?full=true&cardData=true", "/api/models?filter=CartPole-v1",
                     *(f"/alice/{name}" for name in HOSTILE_CARDS), *(f"/api/models/alice/{n}" for n in HOSTILE_CARDS)]:
            status, body = _raw(hub.port, "GET", path)
            assert status == 200, (path, status, body[:300])
        assert b"bob/Reinforce-CartPole-v1" in _raw(hub.port, "GET", "/leaderboard/CartPole-v1")[1]
        info = api.model_info("alice/deep")
        assert info.card_data is None or not info.card_data.to_dict()  # unreadable: no metadata, not a 500

        entries = HubClient(hub.endpoint, token=False).leaderboard("CartPole-v1")
        assert [e.repo_id for e in entries if e.rank is not None] == ["bob/Reinforce-CartPole-v1"]

    unreadable = [r for r in caplog.records if "Unreadable model card" in r.getMessage()]
    for name in HOSTILE_CARDS:  # one line each, naming the repo and the commit, no traceback
        mine = [r for r in unreadable if f"alice/{name} at " in r.getMessage()]
        assert len(mine) == 1 and not mine[0].exc_info, name
        assert len(mine[0].getMessage()) < 600
    assert not [r for r in caplog.records if r.exc_info]


def test_a_card_is_parsed_once_per_commit_however_many_pages_ask_at_once(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="hubrl.server")
    with LocalHub(tmp_path / "hub") as hub:
        token = hub.create_token("alice")
        HfApi(endpoint=hub.endpoint, token=token).create_repo("alice/slow")
        assert _commit(hub.port, token, "alice/slow", {"README.md": HOSTILE_CARDS["late-date"].encode()}) == 200
        statuses: list[int] = []
        threads = [threading.Thread(target=lambda p=p: statuses.append(_raw(hub.port, "GET", p)[0]))
                   for p in ["/", "/progress/alice", "/api/models?cardData=true", "/leaderboard/CartPole-v1"] * 5]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200] * 20
        # a second commit is a new card: read once more
        assert _commit(hub.port, token, "alice/slow", {"README.md": HOSTILE_CARDS["not-int"].encode()}) == 200
        assert _raw(hub.port, "GET", "/")[0] == 200
    logged = [r.getMessage() for r in caplog.records if "Unreadable model card: alice/slow" in r.getMessage()]
    assert len(logged) == 2 and "month" in logged[0] and "twelve" in logged[1]


def test_validate_yaml_is_bounded_and_smaller_for_anonymous_callers(tmp_path, monkeypatch):
    card = "---\ntags: [CartPole-v1]\nnotes: [" + ",".join(["1"] * 20_000) + "]\n---\n"  # 40 KiB of metadata
    with LocalHub(tmp_path / "hub") as hub:
        token = hub.create_token("alice")
        body = json.dumps({"content": card}).encode()
        status, answer = _raw(hub.port, "POST", "/api/validate-yaml", body)
        assert status == 400 and "larger than 32 KiB" in json.loads(answer)["errors"][0]["message"]
        status, answer = _raw(hub.port, "POST", "/api/validate-yaml", body, {"Authorization": f"Bearer {token}"})
        assert (status, json.loads(answer)) == (200, {"errors": [], "warnings": []})
        huge = json.dumps({"content": HOSTILE_CARDS["huge"]}).encode()
        status, answer = _raw(hub.port, "POST", "/api/validate-yaml", huge, {"Authorization": f"Bearer {token}"})
        assert status == 400 and "larger than 128 KiB" in json.loads(answer)["errors"][0]["message"]
        status, answer = _raw(hub.port, "POST", "/api/validate-yaml", b'{"content": "' + b"x" * (2 << 20) + b'"}')
        assert status == 413  # an anonymous body is at most 1 MiB
        # the real client's own check of a course card (ModelCard.validate sends no token) passes
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
        ModelCard((REFERENCE / "README.md").read_text()).validate()


# ------------------------------------------------------------------------------------------ quotas
def test_repo_quota_is_a_clear_403_and_exist_ok_still_works(tmp_path):
    with LocalHub(tmp_path / "hub", quotas=Quotas(repos=3)) as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.create_token("alice"))
        for i in range(3):
            api.create_repo(f"alice/r{i}")
        with pytest.raises(HfHubHTTPError) as err:
            api.create_repo("alice/r3")
        assert err.value.response.status_code == 403
        assert "alice already has 3 repositories, this Hub's limit per user" in str(err.value)
        api.create_repo("alice/r1", exist_ok=True)  # an existing repo is not a new one
        api.delete_repo("alice/r0")
        api.create_repo("alice/r3")
        other = HfApi(endpoint=hub.endpoint, token=hub.create_token("bob"))
        other.create_repo("bob/mine")  # the limit is per user


def test_storage_quota_refuses_before_the_content_is_sent_and_deleting_frees_it(tmp_path):
    data = tmp_path / "hub"
    with LocalHub(data, quotas=Quotas(storage_bytes=3_000_000)) as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.create_token("alice"))
        api.create_repo("alice/a")
        api.upload_file(path_or_fileobj=os.urandom(2_000_000), path_in_repo="big1.bin", repo_id="alice/a")
        with pytest.raises(HfHubHTTPError) as err:
            api.upload_file(path_or_fileobj=os.urandom(2_000_000), path_in_repo="big2.bin", repo_id="alice/a")
        assert err.value.response.status_code == 403 and "/preupload/" in str(err.value.response.url)
        assert "over this Hub's quota of 2.9 MiB per user" in str(err.value)
        assert os.listdir(data / "tmp") == []
        # the raw commit API, past preupload: refused (as the content arrives when it alone is too much), nothing kept
        token = api.token
        assert _commit(hub.port, token, "alice/a", {"big2.bin": os.urandom(2_000_000)}) == 403
        assert _commit(hub.port, token, "alice/a", {"big3.bin": os.urandom(4_000_000)}) == 403
        assert os.listdir(data / "tmp") == [] and len(_blobs(data, "alice/a")) == 2  # .gitattributes and big1
        # another repo of the same user counts too
        api.create_repo("alice/b")
        with pytest.raises(HfHubHTTPError):
            api.upload_file(path_or_fileobj=os.urandom(1_500_000), path_in_repo="x.bin", repo_id="alice/b")
        # deleting frees the space at once
        api.delete_file("big1.bin", repo_id="alice/a")
        assert len(_blobs(data, "alice/a")) == 1
        api.upload_file(path_or_fileobj=os.urandom(1_500_000), path_in_repo="x.bin", repo_id="alice/b")
    with LocalHub(data, quotas=Quotas(storage_bytes=1_000_000)) as hub:  # a lowered quota never traps anyone
        api = HfApi(endpoint=hub.endpoint, token=token)
        with pytest.raises(HfHubHTTPError, match="now used: 1.4 MiB"):
            api.upload_file(path_or_fileobj=b"more", path_in_repo="y.bin", repo_id="alice/b")
        api.create_commit("alice/b", [CommitOperationDelete("x.bin")], commit_message="clean up")
        api.upload_file(path_or_fileobj=b"more", path_in_repo="y.bin", repo_id="alice/b")


def test_files_per_repo_quota(tmp_path):
    with LocalHub(tmp_path / "hub", quotas=Quotas(files_per_repo=5)) as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.create_token("alice"))
        api.create_repo("alice/many")
        folder = tmp_path / "f"
        folder.mkdir()
        for i in range(4):
            (folder / f"{i}.txt").write_text(str(i))
        api.upload_folder(repo_id="alice/many", folder_path=folder)  # 4 + .gitattributes = 5
        (folder / "4.txt").write_text("4")
        with pytest.raises(HfHubHTTPError) as err:
            api.upload_folder(repo_id="alice/many", folder_path=folder)
        assert err.value.response.status_code == 403
        assert "would leave 6 files in alice/many, over this Hub's limit of 5 files per repository" in str(err.value)
        api.create_commit("alice/many", [CommitOperationDelete("0.txt"), CommitOperationAdd("4.txt", b"4")],
                          commit_message="swap")  # the count does not grow: fine


# ------------------------------------------------------------------------------------------ space and garbage
def test_deleting_files_a_branch_or_a_repo_frees_their_space_and_replaced_files_keep_history(tmp_path):
    data = tmp_path / "hub"
    with LocalHub(data) as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.create_token("alice"))
        api.create_repo("alice/space")
        first = api.upload_file(path_or_fileobj=b"weights v1", path_in_repo="w.bin", repo_id="alice/space").oid
        api.upload_file(path_or_fileobj=b"weights v2", path_in_repo="w.bin", repo_id="alice/space")
        api.create_commit("alice/space", [CommitOperationAdd("a.bin", os.urandom(300_000)),
                                          CommitOperationAdd("b.bin", os.urandom(300_000))], commit_message="big")
        with_big = api.model_info("alice/space").sha
        before = len(_blobs(data, "alice/space"))
        get = lambda name, rev: Path(hf_hub_download("alice/space", name, revision=rev, endpoint=hub.endpoint,  # noqa: E731
                                                     token=api.token, cache_dir=tmp_path / f"c{time.time()}"))
        assert get("w.bin", first).read_bytes() == b"weights v1"  # a replaced file keeps its history

        api.create_commit("alice/space", [CommitOperationDelete("a.bin"), CommitOperationDelete("b.bin")],
                          commit_message="free")
        assert len(_blobs(data, "alice/space")) == before - 2
        with pytest.raises(EntryNotFoundError, match="deleted"):
            get("a.bin", with_big)
        assert get("w.bin", with_big).read_bytes() == b"weights v2"

        api.delete_file("w.bin", repo_id="alice/space")  # every version of it goes
        assert len(_blobs(data, "alice/space")) == before - 4

        api.create_branch("alice/space", branch="exp")
        api.upload_file(path_or_fileobj=b"only on exp", path_in_repo="e.bin", repo_id="alice/space", revision="exp")
        assert len(_blobs(data, "alice/space")) == before - 3
        api.delete_branch("alice/space", branch="exp")
        assert len(_blobs(data, "alice/space")) == before - 4
        with pytest.raises(HfHubHTTPError, match="was deleted"):
            api.create_branch("alice/space", branch="old", revision=with_big)

        api.delete_repo("alice/space")
        assert not (data / "repos" / "alice" / "space").exists() and os.listdir(data / "trash") == []


def test_leftovers_of_a_killed_server_are_removed_at_start_and_gc_collects_what_no_commit_reaches(tmp_path):
    data = tmp_path / "hub"
    with LocalHub(data) as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.create_token("alice"))
        api.create_repo("alice/old")
        api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id="alice/old")
        first = api.model_info("alice/old").sha
        api.upload_file(path_or_fileobj=b"v2", path_in_repo="f.txt", repo_id="alice/old")
    repo = data / "repos" / "alice" / "old"
    leftovers = [repo / "commits" / ".tmp-abc.json-0123456789abcdef", repo / ".tmp-refs.json-0123456789abcdef",
                 data / "auth" / ".tmp-users.json-0123456789abcdef"]
    for path in leftovers:
        path.write_text("{half")
    with LocalHub(data):
        assert not any(path.exists() for path in leftovers)

    # a repository written before content.json existed, an orphan blob and a commit no branch reaches
    (repo / "content.json").unlink()
    orphan = repo / "blobs" / "ab" / ("c" * 38)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"nobody")
    stray = repo / "commits" / ("e" * 40 + ".json")
    stray.write_text("{}")
    with LocalHub(data) as hub:  # gc beside the running server
        out = subprocess.run([sys.executable, "-m", "hubrl.cli", "hub", "gc", "--data", str(data)], env=ENV,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"removed 1 blobs (6 B) and 1 leftover files in {data}")
        assert "alice: " in out.stdout and " in 1 repositories" in out.stdout
        assert not orphan.exists() and not stray.exists()
        got = hf_hub_download("alice/old", "f.txt", revision=first, endpoint=hub.endpoint, cache_dir=tmp_path / "c")
        assert Path(got).read_bytes() == b"v1"  # history written by the older version is kept
    assert json.loads((repo / "content.json").read_text())["blobs"]
    with pytest.raises(Exception, match="holds no local Hub data"):
        collect_garbage(tmp_path / "nowhere")


def test_gc_in_another_process_never_races_concurrent_commits(tmp_path):
    data = tmp_path / "hub"
    with LocalHub(data) as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.create_token("alice"))
        for i in range(3):
            api.create_repo(f"alice/c{i}")
        stop = threading.Event()
        runs = []

        def gc_loop():
            while not stop.is_set():
                out = subprocess.run([sys.executable, "-m", "hubrl.cli", "hub", "gc", "--data", str(data)], env=ENV,
                                     capture_output=True, text=True, timeout=120)
                runs.append(out.returncode)

        expected: dict[str, dict[str, bytes]] = {f"alice/c{i}": {} for i in range(3)}

        def commits(i: int):
            repo_id, mine = f"alice/c{i}", expected[f"alice/c{i}"]
            for step in range(12):
                ops, name = [], f"f{step % 4}.bin"
                if name in mine and step % 3 == 0:
                    ops.append(CommitOperationDelete(name))
                    del mine[name]
                else:
                    mine[name] = os.urandom(20_000) + bytes([step])
                    ops.append(CommitOperationAdd(name, mine[name]))
                api.create_commit(repo_id, ops, commit_message=f"step {step}")

        collector = threading.Thread(target=gc_loop)
        collector.start()
        workers = [threading.Thread(target=commits, args=(i,)) for i in range(3)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        stop.set()
        collector.join()
        assert runs and set(runs) == {0}
        for repo_id, files in expected.items():
            folder = Path(api.snapshot_download(repo_id, cache_dir=tmp_path / "snap"))
            got = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".gitattributes"}
            assert got == files
            kept = json.loads((data / "repos" / repo_id / "content.json").read_text())["blobs"]
            assert _blobs(data, repo_id) == set(kept)  # on disk: exactly what the repo keeps


# ------------------------------------------------------------------------------------------ listings
def test_listing_pages_of_a_large_tree_follow_each_other(tmp_path):
    with LocalHub(tmp_path / "hub", page_size=7, quotas=Quotas.unlimited()) as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.create_token("alice"))
        api.create_repo("alice/tree")
        files = {f"d{i % 3}/f{i:03d}.txt": str(i).encode() for i in range(50)}
        api.create_commit("alice/tree", [CommitOperationAdd(p, d) for p, d in files.items()], commit_message="many")
        assert sorted(api.list_repo_files("alice/tree")) == sorted([*files, ".gitattributes"])
        entries = list(api.list_repo_tree("alice/tree", path_in_repo="d1"))
        assert [e.path for e in entries] == sorted(p for p in files if p.startswith("d1/"))


# ------------------------------------------------------------------------------------------ refused uploads
def _post_slowly(port: int, token: str, size: int, rate: float) -> tuple[OSError | None, socket.socket]:
    """POST a commit of ``size`` bytes at ``rate`` bytes a second, reading nothing before it is all sent (as the
    client does); returns the write error, if any, and the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"POST /api/models/alice/x/commit/main HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
              b"Content-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n" % (token.encode(), size))
    error, piece = None, 32 << 10
    try:
        for _ in range(0, size, piece):
            s.sendall(b"x" * piece)
            time.sleep(piece / rate)
    except OSError as err:
        error = err
    return error, s


def _answer(s: socket.socket) -> tuple[int, bytes]:
    resp = http.client.HTTPResponse(s)
    resp.begin()
    return resp.status, resp.read()


def test_a_refused_upload_is_read_to_its_end_so_its_client_hears_the_answer(tmp_path):
    limits = ConnectionLimits(header_timeout=0.3, drain_rate=100_000)
    with LocalHub(tmp_path / "hub", limits=limits) as hub:
        error, s = _post_slowly(hub.port, "hf_not_a_token", 1 << 20, rate=1_000_000)  # 1 s, well past 0.3 s
        assert error is None
        status, body = _answer(s)
        assert status == 401 and b"Invalid credentials" in body
        s.sendall(b"GET /api/models HTTP/1.1\r\nHost: x\r\n\r\n")  # and the connection lives on
        assert _answer(s) == (200, b"[]")
        s.close()


def test_a_refused_body_is_drained_only_while_it_keeps_its_pace_and_size(tmp_path):
    limits = ConnectionLimits(header_timeout=0.3, drain_rate=100_000, drain_bytes=300_000)
    with LocalHub(tmp_path / "hub", limits=limits) as hub:
        error, s = _post_slowly(hub.port, "hf_nope", 1 << 20, rate=2_000_000)
        assert isinstance(error, OSError)  # closed past 300 kB
        s.close()
        start = time.perf_counter()
        error, s = _post_slowly(hub.port, "hf_nope", 200_000, rate=20_000)  # 10 s at 20 kB/s: too slow
        assert isinstance(error, OSError) and time.perf_counter() - start < 5
        s.close()


class _SlowLink:
    """A TCP relay to a local server: what the client sends passes at ``rate`` bytes a second through small buffers
    (the client's writes block, as on a slow network), and what the server answers reaches the client only once the
    client has nothing more to send; when the server cuts the upload the client gets a reset, and the answer, unread,
    is lost. That is what a client which reads only after sending its whole body (httpx, under huggingface_hub)
    meets on a system that drops unread data on a reset."""

    def __init__(self, port: int, rate: float):
        self.target, self.rate, self.server_cut = port, rate, False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
            cut = threading.Event()
            threading.Thread(target=self._upload, args=(client, server, cut), daemon=True).start()
            threading.Thread(target=self._answer, args=(server, client, cut), daemon=True).start()

    def _upload(self, client: socket.socket, server: socket.socket, cut: threading.Event) -> None:
        try:
            while data := client.recv(16384):
                server.sendall(data)
                time.sleep(len(data) / self.rate)
            server.shutdown(socket.SHUT_WR)
        except OSError:  # the server went away while the client was still sending
            self.server_cut = True
            cut.set()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()

    @staticmethod
    def _answer(server: socket.socket, client: socket.socket, cut: threading.Event) -> None:
        try:
            while data := server.recv(65536):
                while select.select([client], [], [], 0)[0] and not cut.is_set():  # the client is still sending
                    time.sleep(0.01)
                if cut.is_set():
                    return
                client.sendall(data)
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


def test_the_real_client_hears_a_refusal_made_while_its_commit_was_still_arriving(tmp_path):
    """The files quota is crossed in the first MiB of a commit body (preupload, which counts each batch of 256 files
    alone, let it through): the server answers 403 there, while the rest of the body, a 20 MB file, crawls over a
    10 MB/s link for two seconds, far past the 0.3 s head deadline. The client hears the 403 with its message: the
    server read the upload to its end instead of cutting it."""
    limits = ConnectionLimits(header_timeout=0.3, drain_rate=100_000)
    with LocalHub(tmp_path / "hub", limits=limits, quotas=Quotas(files_per_repo=300)) as hub:
        token = hub.create_token("alice")
        HfApi(endpoint=hub.endpoint, token=token).create_repo("alice/x")
        ops = [CommitOperationAdd(f"f{i:03d}.txt", str(i).encode()) for i in range(400)]
        ops.append(CommitOperationAdd("zz.bin", os.urandom(20_000_000)))  # last in the body
        link = _SlowLink(hub.port, 10_000_000)
        try:
            api = HfApi(endpoint=f"http://127.0.0.1:{link.port}", token=token)
            with pytest.raises(HfHubHTTPError) as err:
                api.create_commit("alice/x", ops, commit_message="too many files")
        finally:
            link.close()
        assert not link.server_cut
        assert err.value.response.status_code == 403 and "/commit/" in str(err.value.response.url)
        assert "over this Hub's limit of 300 files per repository" in str(err.value)
