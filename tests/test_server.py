"""The local Hub against the real, unmodified huggingface_hub client on loopback (no mocks).

Every test runs its own LocalHub in ``tmp_path`` with a page size of 2, so that every listing the client reads
(models, trees, commit history) spans several pages. The client's download cache is redirected to ``tmp_path`` and
tokens are always passed explicitly (``token=False`` for anonymous reads), so no stored token is ever sent.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from huggingface_hub import (
    EvalResult,
    HfApi,
    ModelCard,
    ModelCardData,
    constants,
    hf_hub_download,
    metadata_update,
    snapshot_download,
)
from huggingface_hub import hf_api as hf_api_module
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils.sha import git_hash

from hubrl.errors import ConfigError, HubError
from hubrl.server import ConnectionLimits, LocalHub, create_token, default_data_dir
from hubrl.server import storage as storage_module

BINARY = bytes(range(256)) * 8 + b"\x00\x00tail"


# ------------------------------------------------------------------------------------------ fixtures and helpers
@pytest.fixture(autouse=True)
def _isolated_client(tmp_path, monkeypatch):
    """Keep the client's cache and stored token out of the way."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def hub(tmp_path):
    with LocalHub(tmp_path / "hub", page_size=2) as server:
        yield server


@pytest.fixture
def alice(hub):
    return hub.create_token("alice")


@pytest.fixture
def bob(hub):
    return hub.create_token("bob")


@pytest.fixture
def api(hub, alice):
    return HfApi(endpoint=hub.endpoint, token=alice)


@pytest.fixture
def module_endpoint(hub, monkeypatch):
    """Point the client's module-level helpers (ModelCard.load/push_to_hub, metadata_update) at the local Hub.

    They read ``constants.ENDPOINT``/``HUGGINGFACE_CO_URL_TEMPLATE`` at call time but upload through the module-level
    ``HfApi`` instance whose endpoint was fixed at import; HF_ENDPOINT set before import does all of this at once.
    """
    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hf_api_module.api, "endpoint", hub.endpoint)


def make_folder(root: Path) -> dict[str, bytes]:
    files = {
        "config.json": b'{"h_size": 16}\n',
        "nested/deeper/notes.txt": "unicode \u00e9\u00e8 \U0001f916\n".encode(),
        "nested/weights.bin": BINARY,
        "empty.txt": b"",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def raw(hub: LocalHub, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """One HTTP request exactly as written (no URL normalisation); returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def ndjson(summary: str, *ops: dict, parent: str | None = None) -> bytes:
    header = {"summary": summary, "description": ""}
    if parent:
        header["parentCommit"] = parent
    lines = [{"key": "header", "value": header}, *ops]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def file_op(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}}


def in_threads(fn, n: int) -> None:
    """Run ``fn(0)`` ... ``fn(n - 1)`` at once, one thread each, and wait for all."""
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def head_sha(api: HfApi, repo_id: str) -> str:
    return api.model_info(repo_id).sha


# ------------------------------------------------------------------------------------------ users and repositories
def test_whoami_good_and_bad_token(hub, api):
    me = api.whoami()
    assert me["name"] == "alice" and me["type"] == "user"
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(endpoint=hub.endpoint, token="hf_not_a_real_token").whoami()
    assert err.value.response.status_code == 401
    assert "Invalid user token" in str(err.value)


def test_create_repo_exist_ok_conflict_and_initial_commit(hub, api):
    url = api.create_repo("alice/cartpole")
    assert url == f"{hub.endpoint}/alice/cartpole" and url.repo_id == "alice/cartpole"
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo("alice/cartpole")
    assert err.value.response.status_code == 409
    assert api.create_repo("alice/cartpole", exist_ok=True).repo_id == "alice/cartpole"
    # repo_id without namespace goes to the token's user
    assert api.create_repo("pong").repo_id == "alice/pong"
    commits = api.list_repo_commits("alice/cartpole")
    assert [c.title for c in commits] == ["initial commit"] and len(commits[0].commit_id) == 40
    assert api.list_repo_files("alice/cartpole") == [".gitattributes"]


def test_upload_folder_download_and_snapshot_roundtrip(hub, api, alice, tmp_path):
    folder = tmp_path / "run"
    files = make_folder(folder)
    api.create_repo("alice/run")
    info = api.upload_folder(repo_id="alice/run", folder_path=folder, commit_message="Add run")
    assert info.oid == head_sha(api, "alice/run")
    assert info.commit_url == f"{hub.endpoint}/alice/run/commit/{info.oid}"

    for rel, data in files.items():
        path = hf_hub_download("alice/run", rel, endpoint=hub.endpoint, token=alice, cache_dir=tmp_path / "c1")
        assert Path(path).read_bytes() == data, rel
    snap = Path(snapshot_download("alice/run", endpoint=hub.endpoint, token=alice, cache_dir=tmp_path / "c2"))
    for rel, data in files.items():
        assert (snap / rel).read_bytes() == data, rel
    assert sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file()) == sorted(
        [*files, ".gitattributes"]
    )

    # tree oids are git blob sha1s: the client recognises unchanged files and makes no empty commit
    tree = {f.path: f for f in api.list_repo_tree("alice/run", recursive=True)}
    assert tree["nested/weights.bin"].blob_id == git_hash(BINARY) and tree["nested/weights.bin"].size == len(BINARY)
    assert "nested/deeper" in tree and type(tree["nested/deeper"]).__name__ == "RepoFolder"
    status, _, body = raw(
        hub,
        "POST",
        "/api/models/alice/run/preupload/main",
        json.dumps({"files": [{"path": "nested/weights.bin", "sample": "", "size": 1}, {"path": "new.txt"}]}).encode(),
        {"Authorization": f"Bearer {alice}"},
    )
    assert status == 200 and json.loads(body)["files"] == [
        {"path": "nested/weights.bin", "uploadMode": "regular", "shouldIgnore": False, "oid": git_hash(BINARY)},
        {"path": "new.txt", "uploadMode": "regular", "shouldIgnore": False, "oid": None},
    ]
    n_commits = len(api.list_repo_commits("alice/run"))
    again = api.upload_folder(repo_id="alice/run", folder_path=folder, commit_message="Same again")
    assert again.oid == info.oid and len(api.list_repo_commits("alice/run")) == n_commits

    # deletions: a file and a folder
    api.delete_file("config.json", "alice/run")
    api.delete_folder("nested/deeper", "alice/run")
    assert sorted(api.list_repo_files("alice/run")) == [".gitattributes", "empty.txt", "nested/weights.bin"]
    assert [f.path for f in api.get_paths_info("alice/run", ["nested", "nope.txt"])] == ["nested"]


def test_readme_front_matter_gives_card_data_and_derived_tags(hub, api):
    api.create_repo("alice/card")
    readme = (
        "---\n"
        "library_name: hubrl\n"
        "license: apache-2.0\n"
        "datasets: [some/dataset]\n"
        "tags: [CartPole-v1, reinforce, reinforcement-learning]\n"
        "model-index:\n"
        "- name: Reinforce-CartPole-v1\n"
        "  results:\n"
        "  - task: {type: reinforcement-learning, name: reinforcement-learning}\n"
        "    dataset: {name: CartPole-v1, type: CartPole-v1}\n"
        "    metrics:\n"
        "    - {type: mean_reward, name: mean_reward, value: 500.00 +/- 0.00, verified: false}\n"
        "---\n# Reinforce agent\n"
    )
    api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id="alice/card")
    info = api.model_info("alice/card")
    assert info.card_data.tags == ["CartPole-v1", "reinforce", "reinforcement-learning"]
    assert info.card_data.eval_results[0].metric_value == "500.00 +/- 0.00"
    assert info.library_name == "hubrl"
    for tag in ["CartPole-v1", "reinforce", "hubrl", "license:apache-2.0", "dataset:some/dataset", "model-index"]:
        assert tag in info.tags
    listed = next(iter(api.list_models(filter="CartPole-v1", cardData=True)))
    assert listed.id == "alice/card" and listed.card_data.license == "apache-2.0"

    # invalid YAML is refused by validate-yaml before anything is uploaded
    with pytest.raises(ValueError, match="Invalid metadata"):
        api.upload_file(path_or_fileobj=b"---\ntags: [unclosed\n---\n", path_in_repo="README.md", repo_id="alice/card")
    assert api.model_info("alice/card").sha == info.sha


def test_modelcard_load_push_and_metadata_update(hub, api, alice, module_endpoint):
    api.create_repo("alice/mc")
    data = ModelCardData(
        tags=["Pixelcopter-PLE-v0", "reinforce", "deep-rl-class"],
        model_name="Reinforce-Pixelcopter",
        eval_results=[
            EvalResult(
                task_type="reinforcement-learning",
                dataset_type="Pixelcopter-PLE-v0",
                dataset_name="Pixelcopter-PLE-v0",
                metric_type="mean_reward",
                metric_value="12.30 +/- 4.56",
            )
        ],
    )
    ModelCard(f"---\n{data.to_yaml()}\n---\n# Hello\n").push_to_hub("alice/mc", token=alice)
    card = ModelCard.load("alice/mc", token=alice)
    assert card.data.tags == ["Pixelcopter-PLE-v0", "reinforce", "deep-rl-class"]
    assert card.data.eval_results[0].metric_value == "12.30 +/- 4.56"
    assert "# Hello" in card.text

    metadata_update("alice/mc", {"license": "mit"}, token=alice)
    assert "license:mit" in api.model_info("alice/mc").tags
    assert ModelCard.load("alice/mc", token=alice).data.license == "mit"


def test_list_models_filters_search_limit_sort_and_pagination(hub, api, bob):
    bob_api = HfApi(endpoint=hub.endpoint, token=bob)

    def make(a: HfApi, repo_id: str, tags: list[str]):
        a.create_repo(repo_id)
        card = "---\n" + json.dumps({"tags": tags}) + "\n---\n"
        a.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id)

    make(api, "alice/cart-1", ["CartPole-v1", "reinforce"])
    make(api, "alice/cart-2", ["CartPole-v1", "dqn"])
    make(api, "alice/pixel-1", ["Pixelcopter-PLE-v0", "reinforce"])
    make(bob_api, "bob/cart-3", ["CartPole-v1", "reinforce"])
    make(bob_api, "bob/other", [])
    anon = HfApi(endpoint=hub.endpoint, token=False)

    def ids(**kwargs) -> list[str]:
        return [m.id for m in anon.list_models(**kwargs)]

    # 5 repos with a page size of 2: the client follows the Link headers over 3 pages
    assert sorted(ids()) == ["alice/cart-1", "alice/cart-2", "alice/pixel-1", "bob/cart-3", "bob/other"]
    assert sorted(ids(filter=["CartPole-v1", "reinforce"])) == ["alice/cart-1", "bob/cart-3"]
    assert sorted(ids(filter="reinforce")) == ["alice/cart-1", "alice/pixel-1", "bob/cart-3"]
    assert sorted(ids(author="bob")) == ["bob/cart-3", "bob/other"]
    assert sorted(ids(search="cart")) == ["alice/cart-1", "alice/cart-2", "bob/cart-3"]
    assert sorted(ids(search="cart", author="alice")) == ["alice/cart-1", "alice/cart-2"]
    assert len(ids(limit=3)) == 3 and len(ids(limit=1)) == 1
    assert ids(sort="created_at") == ["bob/other", "bob/cart-3", "alice/pixel-1", "alice/cart-2", "alice/cart-1"]
    assert ids(sort="last_modified", limit=2) == ["bob/other", "bob/cart-3"]
    full = next(iter(anon.list_models(author="bob", search="cart", full=True)))
    assert full.sha and full.last_modified and "README.md" in [s.rfilename for s in full.siblings]
    expanded = next(iter(anon.list_models(author="bob", search="cart", expand=["sha", "tags"])))
    assert expanded.sha == full.sha and expanded.tags == ["CartPole-v1", "reinforce"] and expanded.private is None

    status, headers, body = raw(hub, "GET", "/api/models?sort=id&direction=1")
    assert status == 200 and [m["id"] for m in json.loads(body)] == ["alice/cart-1", "alice/cart-2"]
    assert headers["link"].startswith(f"<{hub.endpoint}/api/models?") and headers["link"].endswith('>; rel="next"')
    assert raw(hub, "GET", "/api/models?sort=bogus")[0] == 400


# ------------------------------------------------------------------------------------------ access control
def test_missing_or_invalid_token_is_refused_and_nothing_written(hub, api, tmp_path):
    api.create_repo("alice/locked")
    before = head_sha(api, "alice/locked")
    for token in ["hf_wrong", None]:
        stranger = HfApi(endpoint=hub.endpoint, token=token if token else False)
        with pytest.raises(HfHubHTTPError) as err:
            stranger.create_repo("alice/new-one")
        assert err.value.response.status_code == 401
        with pytest.raises(HfHubHTTPError) as err:
            stranger.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/locked")
        assert err.value.response.status_code == 401
        with pytest.raises(HfHubHTTPError) as err:
            stranger.delete_repo("alice/locked")
        assert err.value.response.status_code == 401
    assert "Authorization" in raw(hub, "POST", "/api/repos/create", b'{"name": "x"}')[2].decode()
    assert not api.repo_exists("alice/new-one")
    assert head_sha(api, "alice/locked") == before and api.list_repo_files("alice/locked") == [".gitattributes"]
    assert sorted(os.listdir(tmp_path / "hub" / "repos" / "alice")) == ["locked"]


def test_writing_to_another_users_namespace_is_forbidden(hub, api, bob):
    api.create_repo("alice/mine")
    bob_api = HfApi(endpoint=hub.endpoint, token=bob)
    for attempt in [
        lambda: bob_api.create_repo("alice/intruder"),
        lambda: bob_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/mine"),
        lambda: bob_api.delete_repo("alice/mine"),
        lambda: bob_api.update_repo_settings("alice/mine", private=True),
    ]:
        with pytest.raises(HfHubHTTPError) as err:
            attempt()
        assert err.value.response.status_code == 403
        assert "rights" in str(err.value)
    assert api.list_repo_files("alice/mine") == [".gitattributes"] and not api.repo_exists("alice/intruder")
    assert not api.model_info("alice/mine").private


def test_private_repo_is_visible_only_to_its_owner(hub, api, alice, bob, tmp_path):
    api.create_repo("alice/secret", private=True)
    api.upload_file(path_or_fileobj=b"classified", path_in_repo="plan.txt", repo_id="alice/secret")
    assert api.model_info("alice/secret").private is True
    assert "alice/secret" in [m.id for m in api.list_models(author="alice")]
    got = hf_hub_download("alice/secret", "plan.txt", endpoint=hub.endpoint, token=alice, cache_dir=tmp_path / "c")
    assert Path(got).read_bytes() == b"classified"

    for token in [bob, False, "hf_unknown"]:
        other = HfApi(endpoint=hub.endpoint, token=token)
        with pytest.raises(RepositoryNotFoundError):
            other.model_info("alice/secret")
        assert not other.repo_exists("alice/secret")
        assert "alice/secret" not in [m.id for m in other.list_models()]
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download("alice/secret", "plan.txt", endpoint=hub.endpoint, token=token, cache_dir=tmp_path / "d")
        with pytest.raises(RepositoryNotFoundError):
            other.list_repo_commits("alice/secret")

    api.update_repo_settings("alice/secret", private=False)
    assert HfApi(endpoint=hub.endpoint, token=bob).model_info("alice/secret").private is False


def test_path_traversal_and_bad_paths_are_refused(hub, api, alice, tmp_path):
    api.create_repo("alice/safe")
    api.upload_file(path_or_fileobj=b"ok", path_in_repo="dir/ok.txt", repo_id="alice/safe")
    before = head_sha(api, "alice/safe")
    auth = {"Authorization": f"Bearer {alice}", "Content-Type": "application/x-ndjson"}
    bad_paths = [
        "../evil.txt",
        "dir/../../evil.txt",
        "/etc/evil.txt",
        "dir\\evil.txt",
        "dir/\x00evil.txt",
        "dir//evil.txt",
        "./evil.txt",
        ".git/config",
        "dir/",
    ]
    for bad in bad_paths:
        status, headers, body = raw(
            hub, "POST", "/api/models/alice/safe/commit/main", ndjson("x", file_op(bad, b"EVIL")), auth
        )
        assert status == 400, bad
        assert json.loads(body)["error"] and headers["content-length"] == str(len(body))
        delete = {"key": "deletedFile", "value": {"path": bad}}
        assert raw(hub, "POST", "/api/models/alice/safe/commit/main", ndjson("x", delete), auth)[0] in (400, 404)
        status, _, _ = raw(
            hub, "POST", "/api/models/alice/safe/preupload/main", json.dumps({"files": [{"path": bad}]}).encode(), auth
        )
        assert status == 400, bad

    # a bad line after a good one: the whole commit is refused, the good file is not committed either
    status, _, _ = raw(
        hub,
        "POST",
        "/api/models/alice/safe/commit/main",
        ndjson("x", file_op("fine.txt", b"a"), file_op("../x", b"b")),
        auth,
    )
    assert status == 400

    for url in [
        "/alice/safe/resolve/main/../../auth/users.json",
        "/alice/safe/resolve/main/dir/..%2F..%2F..%2Fauth%2Fusers.json",
        "/alice/safe/resolve/main/%2Fetc%2Fpasswd",
        "/alice/safe/resolve/main/dir%5Cok.txt",
        "/alice/safe/resolve/main/dir/ok.txt%00",
        "/alice/safe/resolve/..%2F..%2Fauth/users.json",
        "/../../auth/resolve/main/users.json",
        "/alice/..%2F..%2Fauth/resolve/main/users.json",
        "/api/models/../auth",
        "/api/models/alice/safe/tree/main/..%2F..",
    ]:
        for method in ("GET", "HEAD"):
            status, headers, body = raw(hub, method, url)
            assert status in (400, 404), (method, url, status)
            assert b"sha256" not in body and b"ok" != body

    assert head_sha(api, "alice/safe") == before
    assert api.list_repo_files("alice/safe") == [".gitattributes", "dir/ok.txt"]
    assert not [p for p in tmp_path.rglob("*evil*")]
    assert os.listdir(tmp_path / "hub" / "tmp") == []


def test_repo_ids_are_validated(hub, api):
    for bad in ["alice/..", "alice/a..b", "alice/-x", "alice/x.git", "alice/" + "x" * 97]:
        status, _, body = raw(
            hub,
            "POST",
            "/api/repos/create",
            json.dumps({"name": bad.split("/", 1)[1], "organization": "alice"}).encode(),
            {"Authorization": f"Bearer {api.token}"},
        )
        assert status == 400, bad
    assert [m.id for m in api.list_models()] == []


# ------------------------------------------------------------------------------------------ revisions and errors
def test_revisions_and_not_found_errors(hub, api, alice, tmp_path):
    api.create_repo("alice/rev")
    first = api.upload_file(path_or_fileobj=b"v1", path_in_repo="w.txt", repo_id="alice/rev").oid
    second = api.upload_file(path_or_fileobj=b"v2", path_in_repo="w.txt", repo_id="alice/rev").oid
    assert first != second

    def get(revision=None, filename="w.txt", repo_id="alice/rev"):
        return Path(
            hf_hub_download(
                repo_id, filename, revision=revision, endpoint=hub.endpoint, token=alice, cache_dir=tmp_path / "c"
            )
        ).read_bytes()

    assert get() == b"v2" and get("main") == b"v2" and get(first) == b"v1" and get(second) == b"v2"
    assert api.model_info("alice/rev", revision=first).sha == first
    assert [c.commit_id for c in api.list_repo_commits("alice/rev", revision=first)][0] == first
    assert api.file_exists("alice/rev", "w.txt", revision=first)
    assert not api.file_exists("alice/rev", "nope.txt")
    assert not api.file_exists("alice/missing", "w.txt")

    with pytest.raises(RevisionNotFoundError):
        get("no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        get("refs/pr/1")
    with pytest.raises(RevisionNotFoundError):
        get("0" * 40)
    with pytest.raises(RevisionNotFoundError):
        api.model_info("alice/rev", revision="nope")
    with pytest.raises(EntryNotFoundError):
        get(filename="nope.txt")
    with pytest.raises(RepositoryNotFoundError):
        get(repo_id="alice/missing")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("carol/missing")
    assert api.repo_exists("alice/rev") and not api.repo_exists("alice/missing") and not api.repo_exists("gpt2")

    status, headers, body = raw(hub, "HEAD", "/alice/rev/resolve/main/w.txt")
    assert status == 200 and body == b"" and headers["content-length"] == "2"
    assert headers["etag"] == f'"{git_hash(b"v2")}"' and headers["x-repo-commit"] == second
    status, headers, _ = raw(hub, "HEAD", "/alice/rev/resolve/main/nope.txt")
    assert status == 404 and headers["x-error-code"] == "EntryNotFound" and headers["x-repo-commit"] == second
    status, headers, body = raw(hub, "GET", "/alice/rev/resolve/main/w.txt", headers={"Range": "bytes=1-"})
    assert status == 206 and body == b"2" and headers["content-range"] == "bytes 1-1/2"


def test_stale_parent_commit_is_rejected(hub, api):
    api.create_repo("alice/parent")
    base = head_sha(api, "alice/parent")
    api.upload_file(path_or_fileobj=b"a", path_in_repo="a.txt", repo_id="alice/parent", parent_commit=base)
    with pytest.raises(HfHubHTTPError) as err:
        api.upload_file(path_or_fileobj=b"b", path_in_repo="b.txt", repo_id="alice/parent", parent_commit=base)
    assert err.value.response.status_code == 412 and "A commit has happened since" in str(err.value)
    assert api.list_repo_files("alice/parent") == [".gitattributes", "a.txt"]


# ------------------------------------------------------------------------------------------ concurrency and durability
def test_concurrent_pushes_both_land(hub, api):
    api.create_repo("alice/busy")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def push(i: int):
        try:
            barrier.wait()
            api.upload_file(
                path_or_fileobj=f"n{i}".encode(),
                path_in_repo=f"f{i}.txt",
                repo_id="alice/busy",
                commit_message=f"push {i}",
            )
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    in_threads(push, 4)
    assert errors == []
    titles = [c.title for c in api.list_repo_commits("alice/busy")]
    assert sorted(titles[:4]) == [f"push {i}" for i in range(4)] and titles[4] == "initial commit"
    assert sorted(api.list_repo_files("alice/busy")) == [".gitattributes"] + [f"f{i}.txt" for i in range(4)]


def test_restart_keeps_repos_files_history_and_tokens(tmp_path):
    data = tmp_path / "hub"
    with LocalHub(data, page_size=2) as hub:
        token = hub.create_token("alice")
        api = HfApi(endpoint=hub.endpoint, token=token)
        api.create_repo("alice/keep")
        api.create_repo("alice/hidden", private=True)
        api.upload_file(path_or_fileobj=BINARY, path_in_repo="w.bin", repo_id="alice/keep", commit_message="weights")
        history = [c.commit_id for c in api.list_repo_commits("alice/keep")]
    second_token = create_token(data, "alice")  # while the server is down, like `hubrl hub token`
    with LocalHub(data, page_size=2) as hub:
        for t in (token, second_token):
            api = HfApi(endpoint=hub.endpoint, token=t)
            assert api.whoami()["name"] == "alice"
            assert [c.commit_id for c in api.list_repo_commits("alice/keep")] == history
            assert api.model_info("alice/hidden").private
        path = hf_hub_download("alice/keep", "w.bin", endpoint=hub.endpoint, token=token, cache_dir=tmp_path / "c")
        assert Path(path).read_bytes() == BINARY
        assert sorted(m.id for m in api.list_models()) == ["alice/hidden", "alice/keep"]
    users = (data / "auth" / "users.json").read_text()
    assert token not in users and second_token not in users


def test_token_created_while_serving_works_at_once(hub, tmp_path):
    token = create_token(tmp_path / "hub", "carol")  # another process would do the same through the file
    assert HfApi(endpoint=hub.endpoint, token=token).whoami()["name"] == "carol"


def test_delete_repo(hub, api):
    api.create_repo("alice/gone")
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/gone")
    api.delete_repo("alice/gone")
    assert not api.repo_exists("alice/gone")
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo("alice/gone")
    api.delete_repo("alice/gone", missing_ok=True)
    api.create_repo("alice/gone")
    assert api.list_repo_files("alice/gone") == [".gitattributes"]


def test_interrupted_writes_leave_previous_state_intact(tmp_path, monkeypatch, caplog, capfd):
    data = tmp_path / "hub"
    with LocalHub(data) as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.create_token("alice"))
        api.create_repo("alice/crash")
        api.upload_file(path_or_fileobj=b"good", path_in_repo="a.txt", repo_id="alice/crash")
        good = head_sha(api, "alice/crash")

        # the process "dies" after the blob and commit files are written, before the branch moves
        real_write = storage_module.atomic_write

        def crash_on_refs(path, data_, mode=0o644):
            if path.name == "refs.json":
                raise OSError("simulated crash")
            return real_write(path, data_, mode)

        monkeypatch.setattr(storage_module, "atomic_write", crash_on_refs)
        with pytest.raises(HfHubHTTPError) as err:
            api.upload_file(path_or_fileobj=b"lost", path_in_repo="a.txt", repo_id="alice/crash")
        assert err.value.response.status_code == 500
        assert "simulated" not in err.value.response.text  # no details for the client
        logged = [r for r in caplog.records if r.exc_info]
        assert len(logged) == 1 and "simulated crash" in str(logged[0].exc_info[1])  # logged once, by us
        assert "Traceback" not in capfd.readouterr().err  # not a second time by uvicorn
        monkeypatch.setattr(storage_module, "atomic_write", real_write)
        assert head_sha(api, "alice/crash") == good

    # leftovers of interrupted writes: temp files next to metadata, staged uploads, half-deleted repos
    repo = data / "repos" / "alice" / "crash"
    (repo / ".tmp-refs.json-deadbeef").write_text('{"branches": {"main": "garbage"}}')
    (repo / "commits" / ("f" * 40 + ".json")).write_text("{truncated")
    (data / "tmp" / "blob-123").write_bytes(b"partial upload")
    (data / "trash" / "repo-1").mkdir()
    (data / "repos" / "alice" / ".tmp-half-created").mkdir()
    with LocalHub(data) as hub:
        api = HfApi(endpoint=hub.endpoint, token=api.token)
        assert head_sha(api, "alice/crash") == good
        assert [m.id for m in api.list_models()] == ["alice/crash"]
        got = hf_hub_download("alice/crash", "a.txt", endpoint=hub.endpoint, token=api.token, cache_dir=tmp_path / "c")
        assert Path(got).read_bytes() == b"good"
        api.upload_file(path_or_fileobj=b"better", path_in_repo="a.txt", repo_id="alice/crash")
        assert [c.title for c in api.list_repo_commits("alice/crash")][1:] == [
            "Upload a.txt with huggingface_hub",
            "initial commit",
        ]
    assert os.listdir(data / "tmp") == [] and os.listdir(data / "trash") == []


# ------------------------------------------------------------------------------------------ HTTP details
def test_http_details_keepalive_chunked_and_limits(tmp_path, alice, hub):
    # an early 401 still consumes the body: the next request on the same connection works
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    conn.request(
        "POST", "/api/models/alice/x/commit/main", body=b"y" * 100_000, headers={"Authorization": "Bearer bad"}
    )
    resp = conn.getresponse()
    assert resp.status == 401 and json.loads(resp.read())["error"]
    # chunked request body
    conn.request(
        "POST",
        "/api/validate-yaml",
        body=iter([b'{"content": "---\\n', b'tags: [a]\\n---\\n"}']),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked"},
    )
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read()) == {"errors": [], "warnings": []}
    conn.request("POST", "/api/validate-yaml", body=b'{"content": "---\\n- a list\\n---\\n"}')
    resp = conn.getresponse()
    assert resp.status == 400 and json.loads(resp.read())["errors"][0]["message"]
    conn.request("POST", "/api/validate-yaml", body=b"not json")
    resp = conn.getresponse()
    assert resp.status == 400 and "errors" in json.loads(resp.read())
    conn.close()

    status, headers, _ = raw(hub, "GET", "/api/nowhere")
    assert status == 404 and "x-error-code" not in headers
    assert raw(hub, "DELETE", "/api/whoami-v2")[0] == 405
    assert raw(hub, "GET", "/api/datasets/alice/x")[1]["x-error-code"] == "RepoNotFound"

    with LocalHub(tmp_path / "small", max_body_bytes=4096) as small:
        api = HfApi(endpoint=small.endpoint, token=small.create_token("alice"))
        api.create_repo("alice/limited")
        api.upload_file(path_or_fileobj=b"x" * 1000, path_in_repo="ok.bin", repo_id="alice/limited")
        with pytest.raises(HfHubHTTPError) as err:
            api.upload_file(path_or_fileobj=b"x" * 8000, path_in_repo="big.bin", repo_id="alice/limited")
        assert err.value.response.status_code == 413
        status, _, body = raw(small, "POST", "/api/validate-yaml", b"{}", {"Content-Length": str(10**12)})
        assert status == 413 and b"limit" in body
        assert api.list_repo_files("alice/limited") == [".gitattributes", "ok.bin"]


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HUBRL_HUB_DATA", str(tmp_path / "x"))
    assert default_data_dir() == tmp_path / "x"
    monkeypatch.delenv("HUBRL_HUB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_data_dir() == tmp_path / "cache" / "hubrl" / "hub"


def test_serve_prints_its_address_and_serves(tmp_path):
    root = Path(__file__).resolve().parents[1]
    code = f"from hubrl.server import serve; serve(port=0, data_dir={str(tmp_path / 'hub')!r})"
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("Hub listening on http://127.0.0.1:")
        endpoint = line.removeprefix("Hub listening on ")
        token = create_token(tmp_path / "hub", "dave")
        assert HfApi(endpoint=endpoint, token=token).create_repo("dave/cli").repo_id == "dave/cli"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_one_server_per_data_directory(hub, tmp_path):
    with pytest.raises(HubError, match="in use by another hub server"):
        LocalHub(tmp_path / "hub").start()
    with pytest.raises(HubError, match="Cannot listen"):
        LocalHub(tmp_path / "other", port=hub.port).start()
    with LocalHub(tmp_path / "other") as other:  # the failed start released the directory
        assert other.endpoint != hub.endpoint
    with pytest.raises(ConfigError):
        create_token(tmp_path / "hub", "not a valid name")


def test_symlinks_in_the_data_directory_are_not_followed(hub, api, tmp_path):
    api.create_repo("alice/real")
    api.upload_file(path_or_fileobj=b"inside", path_in_repo="f.txt", repo_id="alice/real")
    repos = tmp_path / "hub" / "repos"
    outside = tmp_path / "outside"
    shutil.copytree(repos / "alice" / "real", outside)
    (repos / "alice" / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/linked")
    assert [m.id for m in api.list_models()] == ["alice/real"]

    blob = repos / "alice" / "real" / "blobs" / git_hash(b"inside")[:2] / git_hash(b"inside")[2:]
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"secret")
    blob.unlink()
    blob.symlink_to(secret)
    status, _, body = raw(hub, "GET", "/alice/real/resolve/main/f.txt")
    assert status != 200 and b"secret" not in body


# ------------------------------------------------------------------------------------------ hostile input, streaming
def _tmp_files(hub: LocalHub) -> list[str]:
    return os.listdir(hub.data_dir / "tmp")


def test_hostile_requests_get_a_4xx_and_store_nothing(hub, api, alice):
    api.create_repo("alice/target")
    before = head_sha(api, "alice/target")
    auth = {"Authorization": f"Bearer {alice}", "Content-Type": "application/x-ndjson"}
    commit = "/api/models/alice/target/commit/main"
    big_b64 = base64.b64encode(b"z" * 300_000).decode()
    bodies = {
        "deep nesting": ndjson("x") + b"[" * 100_000 + b"\n",
        "deep nesting in a value": ndjson("x", {"key": "file", "value": {"path": "a", "content": [[[[]]]] * 1}})
        + b'{"key": "file", "value": ' + b"[" * 100_000 + b"}\n",
        "bad json": ndjson("x") + b"{not json}\n",
        "not an object": ndjson("x") + b"[1, 2]\n",
        "bad base64 (small)": ndjson("x", {"key": "file", "value": {"path": "a", "content": "@@@", "encoding": "base64"}}),
        "bad base64 (streamed)": ndjson(
            "x", {"key": "file", "value": {"path": "a", "content": big_b64[:-8] + "@@@@@@@@", "encoding": "base64"}}
        ),
        "data after padding (streamed)": ndjson(
            "x", {"key": "file", "value": {"path": "a", "content": "QQ==" + big_b64, "encoding": "base64"}}
        ),
        "long string outside content": ndjson("x", {"key": "file", "value": {"path": "p" * 100_000, "content": ""}}),
        "long content not base64": ndjson("x", {"key": "file", "value": {"path": "a", "content": big_b64, "encoding": "utf-8"}}),
        "escapes in long content": ndjson(
            "x", {"key": "file", "value": {"path": "a", "content": big_b64 + "\\n", "encoding": "base64"}}
        ).replace(b"\\\\n", b"\\n"),
        "truncated inside content": ndjson("x")
        + b'{"key": "file", "value": {"content": "' + big_b64.encode()[:200_000],
        "no header": b"".join(json.dumps(file_op("a.txt", b"a")).encode() + b"\n" for _ in range(1)),
        "not utf-8": ndjson("x") + b'{"key": "file", "value": {"path": "\xff\xfe", "content": ""}}\n',
    }
    for what, body in bodies.items():
        status, headers, answer = raw(hub, "POST", commit, body, auth)
        assert 400 <= status < 500, (what, status, answer[:200])
        assert json.loads(answer)["error"], what
        assert _tmp_files(hub) == [], what
    for url in [
        "/api/models?cursor=" + base64.urlsafe_b64encode(b'[1,"x"]').decode(),
        "/api/models?cursor=" + base64.urlsafe_b64encode(b"[" * 5_000).decode(),
        "/api/models?cursor=%%%",
        "/api/models?limit=-1",
        "/api/models?limit=abc",
        "/alice/target/resolve/main/.gitattributes%ff",
    ]:
        status, _, answer = raw(hub, "GET", url)
        assert 400 <= status < 500, (url, status)
    for path, body in [
        ("/api/repos/create", b"[" * 100_000),
        ("/api/repos/create", b'{"name": ' * 1000),
        ("/api/models/alice/target/preupload/main", b'{"files": [1, 2]}'),
        ("/api/models/alice/target/preupload/main", b'{"files": "x"}'),
        ("/api/models/alice/target/paths-info/main", b"[" * 100_000),
    ]:
        status, _, answer = raw(hub, "POST", path, body, {"Authorization": f"Bearer {alice}",
                                                          "Content-Type": "application/json"})
        assert 400 <= status < 500, (path, status, answer[:200])
    assert head_sha(api, "alice/target") == before and api.list_repo_files("alice/target") == [".gitattributes"]
    assert _tmp_files(hub) == []


def _chunked_request(port: int, path: str, chunks, headers: dict[str, str]) -> tuple[int, bytes]:
    """A POST with a chunked body written by hand (so that malformed chunk sizes can be sent)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(head.encode())
        try:
            for chunk in chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = http.client.HTTPResponse(s)
        resp.begin()
        return resp.status, resp.read()


def framed(payload: bytes, size: int = 65536):
    """``payload`` as correctly framed chunks, then the last (empty) chunk."""
    for i in range(0, len(payload), size):
        yield b"%x\r\n%s\r\n" % (len(payload[i:i + size]), payload[i:i + size])
    yield b"0\r\n\r\n"


def test_uploads_are_refused_before_their_body_is_read_and_limits_count_received_bytes(tmp_path):
    with LocalHub(tmp_path / "hub", max_body_bytes=1 << 20) as hub:
        token = hub.create_token("alice")
        bob = hub.create_token("bob")
        api = HfApi(endpoint=hub.endpoint, token=token)
        api.create_repo("alice/limited")
        before = head_sha(api, "alice/limited")
        payload = ndjson("x", file_op("big.bin", b"y" * (4 << 20)))
        # anonymous, forged and foreign tokens: refused, nothing spooled (the body is far above the limit too)
        for headers, expected in [({}, 401), ({"Authorization": "Bearer hf_forged"}, 401),
                                  ({"Authorization": f"Bearer {bob}"}, 403)]:
            status, _ = _chunked_request(hub.port, "/api/models/alice/limited/commit/main", framed(payload), headers)
            assert status == expected
            assert _tmp_files(hub) == []
        # a negative chunk size is malformed framing, not a smaller body
        status, _ = _chunked_request(hub.port, "/api/models/alice/limited/commit/main",
                                     [b"-e1000\r\n" + b"x" * 100 + b"\r\n0\r\n\r\n"],
                                     {"Authorization": f"Bearer {token}"})
        assert status == 400
        # with a valid token, the limit counts the bytes actually received (chunked: no Content-Length to trust)
        status, answer = _chunked_request(hub.port, "/api/models/alice/limited/commit/main", framed(payload),
                                          {"Authorization": f"Bearer {token}"})
        assert status == 413 and b"limit" in answer
        status, _, _ = raw(hub, "POST", "/api/models/alice/limited/commit/main", payload,
                           {"Authorization": f"Bearer {token}"})
        assert status == 413
        assert head_sha(api, "alice/limited") == before and _tmp_files(hub) == []


def test_large_files_stream_through_a_commit_intact(hub, api, alice, tmp_path):
    """Files far above the 64 KiB in-memory string limit, odd sizes, several in one commit, with a small one."""
    api.create_repo("alice/big")
    rng = __import__("random").Random(0)
    files = {f"f{n}.bin": rng.randbytes(n) for n in (70_001, 1_000_003, 3 << 20)}
    files["small.txt"] = b"tiny"
    folder = tmp_path / "big"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    api.upload_folder(repo_id="alice/big", folder_path=folder)
    tree = {f.path: f for f in api.list_repo_tree("alice/big")}
    for name, data in files.items():
        assert tree[name].blob_id == git_hash(data) and tree[name].size == len(data)
        got = hf_hub_download("alice/big", name, endpoint=hub.endpoint, token=alice, cache_dir=tmp_path / "c")
        assert Path(got).read_bytes() == data
    assert _tmp_files(hub) == []


def test_ndjson_reader_splits_at_any_chunk_boundary(tmp_path):
    from hubrl.server.storage import BlobWriter
    from hubrl.server.uploads import LARGE_STRING, NdjsonReader

    big = bytes(range(256)) * ((LARGE_STRING // 256) + 7)
    body = ndjson(
        'summary with "quotes" \\ and \u00e9',
        file_op("big.bin", big),
        {"key": "file", "value": {"path": "esc\"aped.txt", "content": "aGk=", "encoding": "base64"}},
        {"key": "deletedFile", "value": {"path": "old.txt"}},
    )
    for size in (1, 2, 3, 5, 7, 4096, len(body)):
        n = iter(range(10**6))
        reader = NdjsonReader(lambda s=size, n=n: BlobWriter(tmp_path / f"b{s}-{next(n)}"))
        lines = [line for i in range(0, len(body), size) for line in reader.feed(body[i:i + size])] + reader.end()
        reader.close()
        assert [line.item["key"] for line in lines] == ["header", "file", "file", "deletedFile"]
        assert lines[0].item["value"]["summary"] == 'summary with "quotes" \\ and \u00e9'
        assert lines[1].blob is not None and lines[1].blob.path.read_bytes() == big
        assert lines[1].blob.oid == git_hash(big) and lines[1].item["value"]["path"] == "big.bin"
        assert lines[2].blob is None and lines[2].item["value"]["path"] == 'esc"aped.txt'


def test_range_requests_for_seeking(hub, api):
    api.create_repo("alice/video")
    data = bytes(range(256)) * 4
    api.upload_file(path_or_fileobj=data, path_in_repo="replay.mp4", repo_id="alice/video")
    url = "/alice/video/resolve/main/replay.mp4"
    status, headers, body = raw(hub, "GET", url)
    assert status == 200 and body == data and headers["content-type"] == "video/mp4"
    assert headers["accept-ranges"] == "bytes"
    for rng, expected in [("bytes=0-", data), ("bytes=10-19", data[10:20]), ("bytes=-5", data[-5:]),
                          ("bytes=1000-5000", data[1000:]), ("bytes=-5000", data), ("bytes=0-" + "9" * 18, data)]:
        status, headers, body = raw(hub, "GET", url, headers={"Range": rng})
        assert status == 206 and body == expected, rng
        assert headers["content-length"] == str(len(expected))
    # another unit, or several ranges: a server may ignore the header and send the whole file
    for rng in ["items=0-5", "bytes=0-1,5-6"]:
        assert raw(hub, "GET", url, headers={"Range": rng})[:3:2] == (200, data), rng


@pytest.mark.parametrize("rng", [
    "bytes=5000-",  # starts past the end
    "bytes=1024-",
    "bytes=-0",  # asks for no byte
    "bytes=0-" + "9" * 4301,  # more digits than int() converts
    "bytes=" + "1" * 4301 + "-",
    "bytes=\u00b2-",  # superscript two: str.isdigit() says yes, int() says no
    "bytes=0-\u0663",  # Arabic-Indic three
    "bytes=\uff11-",  # fullwidth one
    "bytes=abc",
    "bytes=-",
    "bytes=5-2",  # last before first
    "bytes=1-2-3",
    "bytes=0-1,x",
    "bytes",
])
def test_bad_or_unsatisfiable_ranges_are_416(hub, api, rng):
    api.create_repo("alice/video")
    api.upload_file(path_or_fileobj=bytes(1024), path_in_repo="replay.mp4", repo_id="alice/video")
    sent = rng if rng.isascii() or rng == "bytes=\u00b2-" else rng.encode().decode("latin-1")  # UTF-8 on the wire
    for method in ("GET", "HEAD"):
        status, headers, body = raw(hub, method, "/alice/video/resolve/main/replay.mp4", headers={"Range": sent})
        assert status == 416 and headers["content-range"] == "bytes */1024", (method, rng, status)
        assert method == "HEAD" or json.loads(body)["error"].startswith(("Malformed Range", "Range"))


def test_file_links_on_the_model_page_are_url_encoded(hub, api):
    import re

    api.create_repo("alice/odd")
    names = {"a b#1?.txt": b"one", "dir/100%.txt": b"two", "\u00e9t\u00e9 & co.txt": b"three"}
    for name, data in names.items():
        api.upload_file(path_or_fileobj=data, path_in_repo=name, repo_id="alice/odd")
    status, _, page = raw(hub, "GET", "/alice/odd")
    assert status == 200
    links = re.findall(r'<a href="(/alice/odd/resolve/[^"]+)" download>', page.decode())
    assert len(links) == len(names) + 1  # and .gitattributes
    for link in links:
        assert re.fullmatch(r"[A-Za-z0-9/%._~-]+", link), link  # nothing a browser would read as ? or #
        status, _, body = raw(hub, "GET", link)
        assert status == 200 and (body in names.values() or link.endswith(".gitattributes")), link


def test_reserved_namespaces_cannot_be_users_or_repos(hub, api, tmp_path):
    from hubrl.server.naming import RESERVED_NAMESPACES

    assert {"leaderboard", "progress", "api", "models", "datasets", "spaces", "settings"} <= RESERVED_NAMESPACES
    for name in ("leaderboard", "progress", "API", "settings"):
        with pytest.raises(ConfigError, match="reserved"):
            create_token(tmp_path / "hub", name)
    status, _, body = raw(hub, "POST", "/api/repos/create",
                          json.dumps({"name": "x", "organization": "leaderboard"}).encode(),
                          {"Authorization": f"Bearer {api.token}"})
    assert status in (400, 403)
    assert not (tmp_path / "hub" / "repos" / "leaderboard").exists()


def test_80_concurrent_commits_make_a_linear_history(hub, api, alice):
    api.create_repo("alice/crowd")
    results: list[int] = []

    def push(i: int):
        body = ndjson(f"push {i}", file_op(f"f{i}.txt", b"%d" % i))
        status, _, _ = raw(hub, "POST", "/api/models/alice/crowd/commit/main", body,
                           {"Authorization": f"Bearer {alice}", "Content-Type": "application/x-ndjson"})
        results.append(status)

    in_threads(push, 80)
    assert results == [200] * 80
    commits = api.list_repo_commits("alice/crowd")
    assert len(commits) == 81 and sorted(c.title for c in commits[:80]) == sorted(f"push {i}" for i in range(80))
    storage = hub.state.storage
    head = storage.resolve("alice/crowd", "main")
    chain = list(storage.history("alice/crowd", head.id))
    assert len(chain) == 81 and all(len(c.parents) == (1 if c.parents else 0) for c in chain)
    assert len(head.files) == 81  # every file of every commit: none was lost to a race


def test_kill_9_mid_commit_leaves_all_old_or_all_new(tmp_path):
    import signal
    import time

    root = Path(__file__).resolve().parents[1]
    data = tmp_path / "hub"
    token = create_token(data, "alice")
    code = f"from hubrl.server import serve; serve(port=0, data_dir={str(data)!r})"
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    old = {"a.bin": b"old-a" * 1000, "b.txt": b"old-b"}
    new = {"a.bin": os.urandom(6 << 20), "b.txt": b"new-b"}

    def start():
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
        return proc, proc.stdout.readline().strip().removeprefix("Hub listening on ")

    proc, endpoint = start()
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo("alice/crash")
    folder = tmp_path / "old"
    folder.mkdir()
    for name, content in old.items():
        (folder / name).write_bytes(content)
    api.upload_folder(repo_id="alice/crash", folder_path=folder)
    body = ndjson("new", *(file_op(n, c) for n, c in new.items()))
    try:
        # kill while the body is half received, then right after it was all sent (the server is decoding,
        # hashing, moving blobs, writing the commit and the branch), then a little later
        for sent_fraction, delay in ((0.5, 0.2), (1.0, 0.0), (1.0, 0.02), (1.0, 0.1)):
            import socket

            host, port = endpoint.removeprefix("http://").rsplit(":", 1)
            s = socket.create_connection((host, int(port)), timeout=30)
            s.sendall(
                b"POST /api/models/alice/crash/commit/main HTTP/1.1\r\nHost: x\r\nContent-Type: "
                b"application/x-ndjson\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                % (token.encode(), len(body))
            )
            s.sendall(body[: int(len(body) * sent_fraction)])
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            s.close()
            proc, endpoint = start()
            got = {}
            for name in old:
                path = hf_hub_download("alice/crash", name, endpoint=endpoint, token=token,
                                       cache_dir=tmp_path / f"c{sent_fraction}-{delay}")
                got[name] = Path(path).read_bytes()
            assert got in (old, new), (sent_fraction, delay)
            assert os.listdir(data / "tmp") == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_classroom_tokens_for_a_roster(hub, tmp_path):
    from hubrl.server.classroom import create_class_tokens, student_lines

    roster = tmp_path / "class.txt"
    roster.write_text("alice\n\n# the second row\nbob   # late\ncarol\n")
    tokens = create_class_tokens(tmp_path / "hub", roster)
    assert list(tokens) == ["alice", "bob", "carol"]
    for user, token in tokens.items():
        assert HfApi(endpoint=hub.endpoint, token=token).whoami()["name"] == user
    assert student_lines(hub.endpoint + "/", tokens["bob"]) == (
        f"export HF_ENDPOINT={hub.endpoint}\nexport HF_TOKEN={tokens['bob']}"
    )
    users = (tmp_path / "hub" / "auth" / "users.json").read_text()
    assert not any(t in users for t in tokens.values())
    before = users
    for bad in ["dave\nnot a name\n", "erin\nerin\n", "frank\nprogress\n", "\n# nobody\n"]:
        roster.write_text(bad)
        with pytest.raises(ConfigError):
            create_class_tokens(tmp_path / "hub", roster)
    assert (tmp_path / "hub" / "auth" / "users.json").read_text() == before  # nothing half-done


def test_hub_class_command_prints_each_students_lines_once(tmp_path):
    roster = tmp_path / "class.txt"
    roster.write_text("alice\nbob\n")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [sys.executable, "-m", "hubrl.cli", "hub", "class", str(roster), "--data", str(tmp_path / "hub"),
         "--endpoint", "http://10.0.0.5:8080"], capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "# alice" and lines[1] == "export HF_ENDPOINT=http://10.0.0.5:8080"
    assert lines[2].startswith("export HF_TOKEN=hf_") and lines[3] == "# bob"
    with LocalHub(tmp_path / "hub") as hub:
        token = lines[2].removeprefix("export HF_TOKEN=")
        assert HfApi(endpoint=hub.endpoint, token=token).whoami()["name"] == "alice"
    roster.write_text("carol\nsettings\n")
    out = subprocess.run([sys.executable, "-m", "hubrl.cli", "hub", "class", str(roster), "--data",
                          str(tmp_path / "hub")], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0 and "reserved" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and out.stdout == ""


def test_a_stalled_upload_is_dropped_and_stores_nothing(tmp_path):
    import socket

    with LocalHub(tmp_path / "hub", limits=ConnectionLimits(upload_timeout=1.0)) as hub:
        alice = hub.create_token("alice")
        api = HfApi(endpoint=hub.endpoint, token=alice)
        api.create_repo("alice/slow")
        body = ndjson("x", file_op("a.bin", b"a" * 200_000))
        with socket.create_connection(("127.0.0.1", hub.port), timeout=20) as s:
            s.sendall(b"POST /api/models/alice/slow/commit/main HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                      b"Content-Length: %d\r\n\r\n" % (alice.encode(), len(body)) + body[: len(body) // 2])
            resp = http.client.HTTPResponse(s)
            resp.begin()
            assert resp.status == 408 and b"did not arrive whole within 1 s" in resp.read()
        assert api.list_repo_files("alice/slow") == [".gitattributes"] and _tmp_files(hub) == []
