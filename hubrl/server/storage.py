"""Repositories, commits and blobs on disk: the only module of the server that writes repository data.

Layout under ``data_dir``::

    repos/<namespace>/<name>/repo.json           {"id", "private", "createdAt", "format"}
    repos/<namespace>/<name>/refs.json           {"branches": {"main": <commit id>}}
    repos/<namespace>/<name>/commits/<id>.json   one immutable commit: parents, title, message, author, date and
                                                 the full map path -> [git blob sha1, size]
    repos/<namespace>/<name>/blobs/<2 hex>/<38 hex>   file contents, named by their git blob sha1
    tmp/         staged uploads and repositories being created (emptied at start-up)
    trash/       repositories being deleted (emptied at start-up)
    server.lock  held (flock) by the one server using the directory
    auth/        users and hashed tokens (see :mod:`hubrl.server.auth`)

Request paths never become disk paths: repo ids are validated names, files are looked up by oid, and nothing is
opened through a symlink (``O_NOFOLLOW``; repository folders must resolve inside ``repos/``).

Ids are git-compatible: a file's oid is its git blob sha1, a folder's oid its git tree sha1 and a commit id the
sha1 of a git commit object over the root tree, so oids from ``preupload``/``tree`` compare with the client's own.

Crash safety: every file is written to a temporary name, fsynced and moved into place with ``os.replace``; a
commit writes its blobs, then its commit file, then moves the branch in ``refs.json``. A crash at any point leaves
the previous head and everything it references intact; leftovers (``.tmp-*`` files, unreferenced blobs or commit
files) are never read. New repositories are assembled under ``tmp/`` and renamed into place in one step, deleted
ones are renamed into ``trash/`` first, so a repository is always either complete or absent.

Concurrency: one lock per repository serialises commits, creation, deletion and settings changes, so two
commits without ``parentCommit`` both land, one after the other. Readers never lock: they read ``refs.json``
(replaced atomically) and immutable commit files. One server per data directory, enforced by ``server.lock``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hubrl.server.cache import per_commit
from hubrl.server.errors import (
    AlreadyExists,
    DataDirInUse,
    EntryNotFound,
    InvalidRequest,
    RepoNotFound,
    RevisionNotFound,
    StaleParent,
)
from hubrl.server.naming import COMMIT_ID_RE, check_name, check_path, check_repo_id, check_revision

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no protection against a second server
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
DEFAULT_BRANCH = "main"
INITIAL_GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
"""
"""Content of the ``.gitattributes`` of every new repository's initial commit (the Hub's usual LFS patterns; this
server itself stores every file as a regular blob)."""


def utc_now_iso() -> str:
    """The current time the way the Hub writes it: ``2024-05-01T12:00:00.000Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_oid(data: bytes) -> str:
    """The git blob sha1 of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a rename or creation inside ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create ``path`` (which must not exist, never through a symlink), write ``data`` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically: a reader or a crash sees the old or the new content, never a mix."""
    tmp = path.parent / f".tmp-{path.name}-{secrets.token_hex(8)}"
    try:
        _write_new_file(tmp, data, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _json_bytes(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def git_tree_oids(files: dict[str, FileEntry]) -> dict[str, str]:
    """Git tree sha1 of every folder of a file map, keyed by folder path (``""`` is the root)."""
    root: dict = {}
    for path, entry in files.items():
        node = root
        *parents, leaf = path.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = entry
    oids: dict[str, str] = {}

    def walk(node: dict, prefix: str) -> bytes:
        entries = []
        for name, child in node.items():
            if isinstance(child, dict):
                sub = walk(child, f"{prefix}{name}/")
                entries.append((name.encode() + b"/", b"40000 " + name.encode() + b"\0" + sub))
            else:
                entries.append((name.encode(), b"100644 " + name.encode() + b"\0" + bytes.fromhex(child.oid)))
        entries.sort(key=lambda e: e[0])
        body = b"".join(e[1] for e in entries)
        raw = hashlib.sha1(b"tree %d\0" % len(body) + body).digest()
        oids[prefix[:-1]] = raw.hex()
        return raw

    walk(root, "")
    return oids


@dataclass(frozen=True)
class FileEntry:
    oid: str
    """Git blob sha1 of the content (also the blob's name on disk and the HTTP ETag)."""
    size: int


@dataclass(frozen=True)
class Commit:
    id: str
    parents: tuple[str, ...]
    title: str
    message: str
    author: str
    date: str
    files: dict[str, FileEntry]

    def to_json(self) -> bytes:
        return _json_bytes(
            {
                "id": self.id,
                "parents": list(self.parents),
                "title": self.title,
                "message": self.message,
                "author": self.author,
                "date": self.date,
                "files": {p: [e.oid, e.size] for p, e in sorted(self.files.items())},
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> Commit:
        obj = json.loads(data)
        return cls(
            id=obj["id"],
            parents=tuple(obj["parents"]),
            title=obj["title"],
            message=obj["message"],
            author=obj["author"],
            date=obj["date"],
            files={p: FileEntry(oid, size) for p, (oid, size) in obj["files"].items()},
        )


def _make_commit(
    parents: tuple[str, ...], files: dict[str, FileEntry], title: str, message: str, author: str
) -> Commit:
    """A commit whose id is the sha1 of the equivalent git commit object."""
    now = time.time()
    date = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    who = f"{author} <{author}@users.noreply.localhost> {int(now)} +0000"
    lines = [f"tree {git_tree_oids(files)['']}"] + [f"parent {p}" for p in parents]
    text = "\n".join(lines) + f"\nauthor {who}\ncommitter {who}\n\n{title}\n" + (f"\n{message}\n" if message else "")
    body = text.encode("utf-8")
    oid = hashlib.sha1(b"commit %d\0" % len(body) + body).hexdigest()
    return Commit(oid, parents, title, message, author, date, dict(files))


@dataclass(frozen=True)
class RepoMeta:
    id: str
    private: bool
    created_at: str

    @property
    def namespace(self) -> str:
        return self.id.split("/")[0]


@dataclass(frozen=True)
class StagedBlob:
    """Uploaded content written under ``tmp/``, not yet part of any repository."""

    path: Path
    oid: str
    size: int


class BlobWriter:
    """Uploaded content streamed into a new file; :meth:`finish` fsyncs it and names it by its git blob sha1.

    The oid needs the size first (``blob <size>\\0``), so it is computed by reading the file back in 1 MiB pieces:
    memory stays flat whatever the size of the upload.
    """

    def __init__(self, path: Path):
        self.path = path
        self.size = 0
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)  # type: ignore[arg-type]
            view = view[written:]
        self.size += len(data)

    def finish(self) -> StagedBlob:
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)  # type: ignore[arg-type]
        finally:
            os.close(fd)  # type: ignore[arg-type]
        digest = hashlib.sha1(b"blob %d\0" % self.size)
        with open(os.open(self.path, os.O_RDONLY | _NOFOLLOW), "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        return StagedBlob(path=self.path, oid=digest.hexdigest(), size=self.size)

    def abort(self) -> None:
        """Drop the partial upload (safe to call twice, or after :meth:`finish`)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)


class Storage:
    """All repository state of one data directory, which it holds locked until :meth:`close`."""

    def __init__(self, root: str | Path):
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = Path(os.path.realpath(root))
        self._lock_fd = self._lock_data_dir()
        self.repos_dir = self.root / "repos"
        self.tmp_dir = self.root / "tmp"
        self.trash_dir = self.root / "trash"
        for d in (self.repos_dir, self.tmp_dir, self.trash_dir):
            d.mkdir(exist_ok=True, mode=0o700)
        self._cleanup()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock_data_dir(self) -> int | None:
        """One server per data directory: the per-repository locks only work inside one process."""
        if fcntl is None:
            return None
        fd = os.open(self.root / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise DataDirInUse(
                f"The hub data directory {self.root} is in use by another hub server: stop that one or use "
                "another data directory."
            ) from None
        return fd

    def close(self) -> None:
        """Release the data directory (a stopped server's Storage must not be used afterwards)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _cleanup(self) -> None:
        """Remove what an interrupted upload, creation or deletion left behind (never referenced data)."""
        for d in (self.tmp_dir, self.trash_dir):
            for entry in os.scandir(d):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)

    # ---------------------------------------------------------------- paths and locks
    def _repo_dir(self, repo_id: str) -> Path:
        namespace, name = check_repo_id(repo_id)
        path = self.repos_dir / namespace / name
        real = os.path.realpath(path)
        if os.path.commonpath([real, str(self.repos_dir)]) != str(self.repos_dir) or real != str(path):
            raise RepoNotFound(f"Repository {repo_id} not found.")  # a symlink planted in the data directory
        return path

    def lock(self, repo_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(repo_id, threading.Lock())

    def _read_json(self, path: Path) -> dict:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            return json.loads(f.read())

    # ---------------------------------------------------------------- repositories
    def get_repo(self, repo_id: str) -> RepoMeta:
        """The repository's metadata; RepoNotFound when it does not exist."""
        path = self._repo_dir(repo_id)
        try:
            meta = self._read_json(path / "repo.json")
        except (FileNotFoundError, NotADirectoryError):
            raise RepoNotFound(f"Repository {repo_id} not found.") from None
        return RepoMeta(id=meta["id"], private=bool(meta["private"]), created_at=meta["createdAt"])

    def iter_repos(self) -> Iterator[RepoMeta]:
        """Every repository (any order). Entries that are not complete repositories are skipped."""
        for ns_entry in sorted(os.scandir(self.repos_dir), key=lambda e: e.name):
            if not ns_entry.is_dir(follow_symlinks=False):
                continue
            for entry in sorted(os.scandir(ns_entry.path), key=lambda e: e.name):
                if not entry.is_dir(follow_symlinks=False):
                    continue
                try:
                    check_name(ns_entry.name)
                    check_name(entry.name)
                    yield self.get_repo(f"{ns_entry.name}/{entry.name}")
                except (InvalidRequest, RepoNotFound, OSError, ValueError, KeyError):
                    continue

    def create_repo(self, repo_id: str, *, private: bool) -> RepoMeta:
        """Create ``repo_id`` with an initial commit holding ``.gitattributes``; AlreadyExists when it exists."""
        path = self._repo_dir(repo_id)
        with self.lock(repo_id):
            if path.exists():
                raise AlreadyExists(f"You already created this model repo: {repo_id}")
            staging = self.tmp_dir / f"repo-{secrets.token_hex(8)}"
            staging.mkdir()
            try:
                meta = RepoMeta(id=repo_id, private=bool(private), created_at=utc_now_iso())
                data = INITIAL_GITATTRIBUTES
                oid = git_blob_oid(data)
                blob = staging / "blobs" / oid[:2] / oid[2:]
                blob.parent.mkdir(parents=True)
                _write_new_file(blob, data)
                commit = _make_commit((), {".gitattributes": FileEntry(oid, len(data))}, "initial commit", "", "system")
                (staging / "commits").mkdir()
                _write_new_file(staging / "commits" / f"{commit.id}.json", commit.to_json())
                _write_new_file(
                    staging / "repo.json",
                    _json_bytes(
                        {"id": meta.id, "private": meta.private, "createdAt": meta.created_at, "format": FORMAT_VERSION}
                    ),
                )
                _write_new_file(staging / "refs.json", _json_bytes({"branches": {DEFAULT_BRANCH: commit.id}}))
                for d in (blob.parent, blob.parent.parent, staging / "commits", staging):
                    fsync_dir(d)
                path.parent.mkdir(exist_ok=True, mode=0o700)
                try:
                    os.rename(staging, path)
                except OSError:
                    raise AlreadyExists(f"You already created this model repo: {repo_id}") from None
                fsync_dir(path.parent)
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        return meta

    def delete_repo(self, repo_id: str) -> None:
        """Delete ``repo_id`` and everything in it; RepoNotFound when it does not exist."""
        path = self._repo_dir(repo_id)
        with self.lock(repo_id):
            self.get_repo(repo_id)
            target = self.trash_dir / f"repo-{secrets.token_hex(8)}"
            os.rename(path, target)
            fsync_dir(path.parent)
            shutil.rmtree(target, ignore_errors=True)

    def set_private(self, repo_id: str, private: bool) -> RepoMeta:
        path = self._repo_dir(repo_id)
        with self.lock(repo_id):
            meta = self.get_repo(repo_id)
            meta = RepoMeta(id=meta.id, private=bool(private), created_at=meta.created_at)
            atomic_write(
                path / "repo.json",
                _json_bytes(
                    {"id": meta.id, "private": meta.private, "createdAt": meta.created_at, "format": FORMAT_VERSION}
                ),
            )
        return meta

    # ---------------------------------------------------------------- revisions and commits
    def branches(self, repo_id: str) -> dict[str, str]:
        """Branch name -> head commit id."""
        path = self._repo_dir(repo_id)
        try:
            return dict(self._read_json(path / "refs.json")["branches"])
        except (FileNotFoundError, NotADirectoryError):
            raise RepoNotFound(f"Repository {repo_id} not found.") from None

    def create_branch(self, repo_id: str, branch: str, starting_point: str = DEFAULT_BRANCH) -> str:
        """Point a new branch at ``starting_point`` (a branch or commit); AlreadyExists if it exists."""
        name = check_revision(branch).removeprefix("refs/heads/")
        if COMMIT_ID_RE.fullmatch(name) or "/" in name:
            raise InvalidRequest(f"Invalid branch name: {branch[:80]}")
        with self.lock(repo_id):
            branches = self.branches(repo_id)
            if name in branches:
                raise AlreadyExists(f"Branch {name} already exists.")
            target = self.resolve(repo_id, starting_point)
            atomic_write(self._repo_dir(repo_id) / "refs.json", _json_bytes({"branches": {**branches, name: target.id}}))
        return target.id

    def delete_branch(self, repo_id: str, branch: str) -> None:
        name = check_revision(branch).removeprefix("refs/heads/")
        with self.lock(repo_id):
            branches = self.branches(repo_id)
            if name == DEFAULT_BRANCH:
                raise InvalidRequest("The main branch cannot be deleted.")
            if name not in branches:
                raise RevisionNotFound(f"Invalid rev id: {name}")
            del branches[name]
            atomic_write(self._repo_dir(repo_id) / "refs.json", _json_bytes({"branches": branches}))

    def read_commit(self, repo_id: str, commit_id: str) -> Commit:
        if not COMMIT_ID_RE.fullmatch(commit_id):
            raise RevisionNotFound(f"Invalid rev id: {commit_id[:80]}")
        try:
            fd = os.open(self._repo_dir(repo_id) / "commits" / f"{commit_id}.json", os.O_RDONLY | _NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise RevisionNotFound(f"Invalid rev id: {commit_id}") from None
        with os.fdopen(fd, "rb") as f:
            return Commit.from_json(f.read())

    def resolve(self, repo_id: str, revision: str) -> Commit:
        """The commit a branch name (``main``, ``refs/heads/main``) or a 40-hex commit id points to."""
        revision = check_revision(revision)
        branches = self.branches(repo_id)
        name = revision.removeprefix("refs/heads/")
        if name in branches:
            return self.read_commit(repo_id, branches[name])
        if COMMIT_ID_RE.fullmatch(revision):
            return self.read_commit(repo_id, revision)
        raise RevisionNotFound(f"Invalid rev id: {revision}")

    def history(self, repo_id: str, start: str) -> Iterator[Commit]:
        """Commits from ``start`` back to the initial commit, newest first (first-parent walk)."""
        commit_id: str | None = start
        while commit_id is not None:
            commit = self.read_commit(repo_id, commit_id)
            yield commit
            commit_id = commit.parents[0] if commit.parents else None

    @per_commit(64)
    def tree_oids(self, repo_id: str, commit: Commit) -> dict[str, str]:
        """Folder path -> git tree sha1 for a commit (cached: commits are immutable)."""
        return git_tree_oids(commit.files)

    # ---------------------------------------------------------------- blobs
    def open_blob(self, repo_id: str, oid: str):
        """A binary file object on the stored content ``oid`` (never through a symlink)."""
        if not COMMIT_ID_RE.fullmatch(oid):
            raise EntryNotFound("Invalid blob id.")
        path = self._repo_dir(repo_id) / "blobs" / oid[:2] / oid[2:]
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        return os.fdopen(fd, "rb")

    def stage_blob(self, data: bytes) -> StagedBlob:
        """Write uploaded content under ``tmp/`` (fsynced); :meth:`commit` moves it into a repository."""
        writer = self.blob_writer()
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def blob_writer(self) -> BlobWriter:
        """A new staged upload under ``tmp/``, written piece by piece (for content too large to hold in memory)."""
        return BlobWriter(self.tmp_dir / f"blob-{secrets.token_hex(12)}")

    @staticmethod
    def discard(staged: dict[str, StagedBlob]) -> None:
        for blob in staged.values():
            blob.path.unlink(missing_ok=True)

    def commit(
        self,
        repo_id: str,
        branch: str,
        *,
        additions: dict[str, StagedBlob],
        deleted_files: list[str],
        deleted_folders: list[str],
        title: str,
        message: str,
        author: str,
        parent_commit: str | None = None,
    ) -> Commit:
        """Apply deletions, then additions, on top of ``branch`` and move the branch to the new commit.

        The staged blobs are consumed (moved into the repository, or removed when already stored).
        StaleParent when ``parent_commit`` is given and is not the branch head.
        """
        path = self._repo_dir(repo_id)
        for p in [*additions, *deleted_files, *deleted_folders]:
            check_path(p)
        if parent_commit is not None and not COMMIT_ID_RE.fullmatch(parent_commit):
            raise InvalidRequest(f"Invalid parentCommit {parent_commit[:80]!r}: expected a 40-hex commit id.")
        with self.lock(repo_id):
            self.get_repo(repo_id)
            branches = self.branches(repo_id)
            name = check_revision(branch).removeprefix("refs/heads/")
            if name not in branches:
                if COMMIT_ID_RE.fullmatch(branch):
                    raise InvalidRequest(f"Cannot commit on top of commit {branch}: commit to a branch (e.g. 'main').")
                raise RevisionNotFound(f"Invalid rev id: {branch}")
            head = self.read_commit(repo_id, branches[name])
            if parent_commit is not None and parent_commit != head.id:
                raise StaleParent(
                    f"A commit has happened since {parent_commit}: the head of '{name}' is now {head.id}. "
                    "Please refresh and try again."
                )
            files = dict(head.files)
            for p in deleted_files:
                if p not in files:
                    raise EntryNotFound(f"A file with this name doesn't exist: {p}")
                del files[p]
            for folder in deleted_folders:
                inside = [p for p in files if p.startswith(folder + "/")]
                if not inside:
                    raise EntryNotFound(f"A folder with this name doesn't exist: {folder}")
                for p in inside:
                    del files[p]
            for p, blob in additions.items():
                files[p] = FileEntry(blob.oid, blob.size)
            _check_no_file_folder_clash(files)

            for blob in additions.values():
                target = path / "blobs" / blob.oid[:2] / blob.oid[2:]
                if target.exists():
                    blob.path.unlink(missing_ok=True)
                    continue
                target.parent.mkdir(exist_ok=True)
                os.replace(blob.path, target)
                fsync_dir(target.parent)
            commit = _make_commit((head.id,), files, title, message, author)
            atomic_write(path / "commits" / f"{commit.id}.json", commit.to_json())
            atomic_write(path / "refs.json", _json_bytes({"branches": {**branches, name: commit.id}}))
        return commit


def _check_no_file_folder_clash(files: dict[str, FileEntry]) -> None:
    folders = {p.rsplit("/", i)[0] for p in files for i in range(1, p.count("/") + 1)}
    clash = folders.intersection(files)
    if clash:
        p = sorted(clash)[0]
        raise InvalidRequest(f"Path '{p}' cannot be both a file and a folder.")
