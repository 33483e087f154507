"""Repositories, commits and blobs on disk: the only module of the server that writes repository data.

Layout under ``data_dir``::

    repos/<namespace>/<name>/repo.json           {"id", "private", "createdAt", "format"}
    repos/<namespace>/<name>/refs.json           {"branches": {"main": <commit id>}}
    repos/<namespace>/<name>/commits/<id>.json   one immutable commit: parents, title, message, author, date and
                                                 the full map path -> [git blob sha1, size]
    repos/<namespace>/<name>/blobs/<2 hex>/<38 hex>   file contents, named by their git blob sha1
    repos/<namespace>/<name>/content.json        {"blobs": {oid: size}}: the content the repository keeps (what
                                                 its owner's storage quota counts)
    tmp/         staged uploads and repositories being created (emptied at start-up)
    trash/       repositories being deleted (emptied at start-up)
    locks/       one lock file per namespace (see Concurrency)
    server.lock  held (flock) by the one server using the directory
    auth/        users and hashed tokens (see :mod:`hubrl.server.auth`)

Request paths never become disk paths: repo ids are validated names, files are looked up by oid, and nothing is
opened through a symlink (``O_NOFOLLOW``; repository folders must resolve inside ``repos/``).

Ids are git-compatible: a file's oid is its git blob sha1, a folder's oid its git tree sha1 and a commit id the
sha1 of a git commit object over the root tree, so oids from ``preupload``/``tree`` compare with the client's own.

What is kept: every file of every branch head, and the earlier versions of files that later commits replaced (older
revisions stay downloadable). Deleting frees space at once: a commit that removes a file frees every version of it
in the branch's history (unless a branch head holds the same content; a download of it at an older revision then
answers EntryNotFound), deleting a branch frees what only it reached, deleting a repository frees everything.
:meth:`Storage.collect_garbage` (``hubrl hub gc``) removes whatever else no commit reaches.

Crash safety: every file is written to a temporary name, fsynced and moved into place with ``os.replace``; a
commit writes its blobs, then its commit file, then moves the branch in ``refs.json``, then records its content and
frees what it deleted. A crash at any point leaves the previous head and everything it references intact; leftovers
(``.tmp-*`` files, removed at start-up; unreferenced blobs or commit files, removed by a collection) are never read.
New repositories are assembled under ``tmp/`` and renamed into place in one step, deleted ones are renamed into
``trash/`` first, so a repository is always either complete or absent.

Concurrency: one lock per namespace (a thread lock plus ``flock`` on ``locks/<namespace>.lock``) serialises the
commits, creations, deletions and settings changes of one user's repositories, so two commits without
``parentCommit`` both land, one after the other, a user's quota is checked and spent in one step, and a garbage
collection in another process (``hubrl hub gc`` beside a running server) never removes a blob a commit is adding.
Readers never lock: they read ``refs.json`` (replaced atomically) and immutable commit files. One server per data
directory, enforced by ``server.lock``.
"""

from __future__ import annotations

import contextlib
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

from hubrl.server.cache import per_commit, per_commit_id
from hubrl.server.errors import (
    AlreadyExists,
    DataDirInUse,
    EntryNotFound,
    HubServerError,
    InvalidRequest,
    RepoNotFound,
    RevisionNotFound,
    StaleParent,
)
from hubrl.server.naming import COMMIT_ID_RE, check_name, check_path, check_repo_id, check_revision
from hubrl.server.quotas import Quotas

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no protection against a second server
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
DEFAULT_BRANCH = "main"
CONTENT_FILE = "content.json"
COMMIT_CACHE_FILES = 200_000
"""File entries of parsed commits kept in memory (about 60 MB): listings read refs.json and a cached commit, so a
repository of 100,000 files costs its parse once, not on every page."""
DELETED_CONTENT = ("The content of this file at this revision was deleted: a later commit deleted the file, which "
                   "frees its space. Download it at a revision that still has it.")
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


@dataclass(frozen=True)
class Usage:
    """What one user's repositories keep."""

    bytes: int
    repos: int


@dataclass(frozen=True)
class Collected:
    """What one garbage collection removed."""

    blobs: int = 0
    bytes: int = 0
    files: int = 0
    """Leftover temporary files and commit files no branch reaches."""

    def __add__(self, other: Collected) -> Collected:
        return Collected(self.blobs + other.blobs, self.bytes + other.bytes, self.files + other.files)


class Storage:
    """All repository state of one data directory.

    Args:
        root: the data directory (created if missing).
        quotas: the per-user limits enforced on creation and commits (default: :class:`Quotas`' defaults).
        exclusive: lock the data directory for one server (and clean what an interrupted one left); False for a
            maintenance process (``hubrl hub gc``) that works beside a running server through the namespace locks.
    """

    def __init__(self, root: str | Path, *, quotas: Quotas | None = None, exclusive: bool = True):
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = Path(os.path.realpath(root))
        self.quotas = quotas if quotas is not None else Quotas()
        self._lock_fd = self._lock_data_dir() if exclusive else None
        self.repos_dir = self.root / "repos"
        self.tmp_dir = self.root / "tmp"
        self.trash_dir = self.root / "trash"
        self.locks_dir = self.root / "locks"
        for d in (self.repos_dir, self.tmp_dir, self.trash_dir, self.locks_dir):
            d.mkdir(exist_ok=True, mode=0o700)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._contents: dict[Path, tuple[tuple, dict[str, int], int]] = {}
        if exclusive:
            self._cleanup()

    def _lock_data_dir(self) -> int | None:
        """One server per data directory: its staging area (``tmp/``) and caches belong to one process."""
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
        """Remove what an interrupted upload, creation, deletion or write left behind (never referenced data): the
        staging and trash folders, and ``.tmp-*`` files beside repository metadata, commits and tokens."""
        for d in (self.tmp_dir, self.trash_dir):
            for entry in os.scandir(d):
                _remove(entry)
        folders = [self.root / "auth", self.repos_dir]
        for ns in _subdirs(self.repos_dir):
            folders.append(Path(ns.path))
            for repo in _subdirs(ns.path):
                folders += [Path(repo.path), Path(repo.path) / "commits"]
        for folder in folders:
            _remove_temporary(folder)

    # ---------------------------------------------------------------- paths and locks
    def _repo_dir(self, repo_id: str) -> Path:
        namespace, name = check_repo_id(repo_id)
        path = self.repos_dir / namespace / name
        real = os.path.realpath(path)
        if os.path.commonpath([real, str(self.repos_dir)]) != str(self.repos_dir) or real != str(path):
            raise RepoNotFound(f"Repository {repo_id} not found.")  # a symlink planted in the data directory
        return path

    @contextlib.contextmanager
    def locked(self, namespace: str) -> Iterator[None]:
        """Serialise every change to ``namespace``'s repositories: between the server's threads (a lock) and with a
        garbage collection in another process (``flock`` on ``locks/<namespace>.lock``). One lock per user, so a
        user's quota is checked and spent in one step."""
        check_name(namespace)
        with self._locks_guard:
            lock = self._locks.setdefault(namespace, threading.Lock())
        with lock:
            if fcntl is None:
                yield
                return
            fd = os.open(self.locks_dir / f"{namespace}.lock", os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

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

    def iter_repos(self, namespace: str | None = None) -> Iterator[RepoMeta]:
        """Every repository (of ``namespace``, or of all). Entries that are not complete repositories are skipped."""
        spaces = [namespace] if namespace is not None else [e.name for e in _subdirs(self.repos_dir)]
        for ns in sorted(spaces):
            for entry in sorted(_subdirs(self.repos_dir / ns), key=lambda e: e.name):
                try:
                    check_name(ns)
                    check_name(entry.name)
                    yield self.get_repo(f"{ns}/{entry.name}")
                except (InvalidRequest, RepoNotFound, OSError, ValueError, KeyError):
                    continue

    def create_repo(self, repo_id: str, *, private: bool) -> RepoMeta:
        """Create ``repo_id`` with an initial commit holding ``.gitattributes``.

        Raises:
            AlreadyExists: it exists.
            QuotaExceeded: its owner has as many repositories as the quotas allow.
        """
        namespace = check_repo_id(repo_id)[0]
        path = self._repo_dir(repo_id)
        with self.locked(namespace):
            if path.exists():
                raise AlreadyExists(f"You already created this model repo: {repo_id}")
            self.quotas.check_repos(namespace, sum(1 for _ in self.iter_repos(namespace)))
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
                _write_new_file(staging / CONTENT_FILE, _content_json({oid: len(data)}))
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
        """Delete ``repo_id`` and everything in it (its space is free when this returns); RepoNotFound when it does
        not exist."""
        path = self._repo_dir(repo_id)
        with self.locked(check_repo_id(repo_id)[0]):
            self.get_repo(repo_id)
            target = self.trash_dir / f"repo-{secrets.token_hex(8)}"
            os.rename(path, target)
            fsync_dir(path.parent)
            shutil.rmtree(target, ignore_errors=True)

    def set_private(self, repo_id: str, private: bool) -> RepoMeta:
        path = self._repo_dir(repo_id)
        with self.locked(check_repo_id(repo_id)[0]):
            meta = self.get_repo(repo_id)
            meta = RepoMeta(id=meta.id, private=bool(private), created_at=meta.created_at)
            atomic_write(
                path / "repo.json",
                _json_bytes(
                    {"id": meta.id, "private": meta.private, "createdAt": meta.created_at, "format": FORMAT_VERSION}
                ),
            )
        return meta

    # ---------------------------------------------------------------- content and usage
    def _content(self, repo_id: str) -> tuple[dict[str, int], int]:
        """The blobs ``repo_id`` keeps (oid -> size) and their total size, as ``content.json`` records them (cached
        while the file is unchanged). A repository written before that file existed keeps its whole history."""
        path = self._repo_dir(repo_id) / CONTENT_FILE
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            blobs = self._reachable(repo_id)[0]
            return blobs, sum(blobs.values())
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._contents.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1], cached[2]
        blobs = {oid: int(size) for oid, size in self._read_json(path)["blobs"].items()}
        total = sum(blobs.values())
        self._contents[path] = (signature, blobs, total)
        return blobs, total

    def _reachable(self, repo_id: str) -> tuple[dict[str, int], set[str]]:
        """Every blob (oid -> size) and every commit id that a commit reachable from a branch refers to."""
        blobs: dict[str, int] = {}
        seen: set[str] = set()
        for head in self.branches(repo_id).values():
            for commit in self.history(repo_id, head):
                if commit.id in seen:
                    break
                seen.add(commit.id)
                blobs.update((e.oid, e.size) for e in commit.files.values())
        return blobs, seen

    def _heads(self, repo_id: str, branches: dict[str, str]) -> dict[str, int]:
        """The blobs of every branch head (oid -> size): the content no collection may remove."""
        live: dict[str, int] = {}
        for commit_id in branches.values():
            live.update((e.oid, e.size) for e in self.read_commit(repo_id, commit_id).files.values())
        return live

    def usage(self, namespace: str) -> Usage:
        """What ``namespace``'s repositories keep: the bytes of their content (history included) and their number."""
        total = repos = 0
        for meta in self.iter_repos(namespace):
            repos += 1
            try:
                total += self._content(meta.id)[1]
            except HubServerError:
                continue  # deleted meanwhile
        return Usage(bytes=total, repos=repos)

    def room(self, repo_id: str) -> tuple[int, int]:
        """(bytes ``repo_id``'s owner keeps in all, bytes ``repo_id`` keeps): what an upload is weighed against."""
        return self.usage(check_repo_id(repo_id)[0]).bytes, self._content(repo_id)[1]

    def check_upload(self, repo_id: str, *, new_files: int, new_bytes: int, head: Commit | None = None,
                     room: tuple[int, int] | None = None) -> None:
        """Refuse early (QuotaExceeded) an upload of ``new_files`` paths the repository lacks and ``new_bytes`` of
        content it does not hold yet: files that could not fit even if the commit deleted every other file, and
        content that could not fit even if it deleted the repository's own content; with ``head`` (at ``preupload``,
        which announces the added files only) content that does not fit beside what the user keeps now (a commit
        that adds files to ``head``, the usual one: a commit that also deletes to make room must delete first).
        ``room`` is :meth:`room`, when the caller has it already. The commit itself is checked exactly
        (:meth:`commit`).
        """
        namespace = check_repo_id(repo_id)[0]
        self.quotas.check_files(repo_id, 0, new_files)
        if self.quotas.storage_bytes is not None and new_bytes:
            used, mine = room or self.room(repo_id)
            base = used if head is not None else used - mine
            self.quotas.check_storage(namespace, used, base + new_bytes, at_least=head is None)

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
        with self.locked(check_repo_id(repo_id)[0]):
            branches = self.branches(repo_id)
            if name in branches:
                raise AlreadyExists(f"Branch {name} already exists.")
            target = self.resolve(repo_id, starting_point)
            kept = self._content(repo_id)[0]
            gone = sorted(p for p, e in target.files.items() if e.oid not in kept)
            if gone:
                raise InvalidRequest(f"Cannot start a branch at {target.id}: the content of {gone[0]!r} was deleted "
                                     "by a later commit. Start it at a newer commit.")
            atomic_write(self._repo_dir(repo_id) / "refs.json", _json_bytes({"branches": {**branches, name: target.id}}))
        return target.id

    def delete_branch(self, repo_id: str, branch: str) -> None:
        """Delete a branch; the content only it kept is freed at once."""
        name = check_revision(branch).removeprefix("refs/heads/")
        with self.locked(check_repo_id(repo_id)[0]):
            branches = self.branches(repo_id)
            if name == DEFAULT_BRANCH:
                raise InvalidRequest("The main branch cannot be deleted.")
            if name not in branches:
                raise RevisionNotFound(f"Invalid rev id: {name}")
            del branches[name]
            atomic_write(self._repo_dir(repo_id) / "refs.json", _json_bytes({"branches": branches}))
            self._collect(repo_id)

    @per_commit_id(COMMIT_CACHE_FILES)
    def read_commit(self, repo_id: str, commit_id: str) -> Commit:
        """One commit (parsed once while it stays in the cache: a commit file never changes)."""
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
    def _blob_path(self, repo_id: str, oid: str) -> Path:
        if not COMMIT_ID_RE.fullmatch(oid):
            raise EntryNotFound("Invalid blob id.")
        return self._repo_dir(repo_id) / "blobs" / oid[:2] / oid[2:]

    def has_blob(self, repo_id: str, oid: str) -> bool:
        """Whether the content ``oid`` is stored (a later commit may have deleted a file of an older revision)."""
        return os.path.isfile(self._blob_path(repo_id, oid))

    def open_blob(self, repo_id: str, oid: str):
        """A binary file object on the stored content ``oid`` (never through a symlink); EntryNotFound when the
        content was deleted."""
        try:
            fd = os.open(self._blob_path(repo_id, oid), os.O_RDONLY | _NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise EntryNotFound(DELETED_CONTENT) from None
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

        The staged blobs are consumed (moved into the repository, or removed when already stored). A path the
        commit removes is freed with every earlier version of it in the branch's history (unless a branch head
        still holds the same content); a path it replaces keeps its earlier versions (older revisions stay
        downloadable).

        Raises:
            StaleParent: ``parent_commit`` is given and is not the branch head.
            QuotaExceeded: the repository would hold more files, or its owner keep more content, than allowed.
        """
        namespace = check_repo_id(repo_id)[0]
        path = self._repo_dir(repo_id)
        for p in [*additions, *deleted_files, *deleted_folders]:
            check_path(p)
        if parent_commit is not None and not COMMIT_ID_RE.fullmatch(parent_commit):
            raise InvalidRequest(f"Invalid parentCommit {parent_commit[:80]!r}: expected a 40-hex commit id.")
        with self.locked(namespace):
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

            kept, kept_bytes = self._content(repo_id)
            freed = self._freed_by(repo_id, head, files, {**branches, name: None})
            content = {oid: size for oid, size in kept.items() if oid not in freed}
            content.update((e.oid, e.size) for e in files.values())
            self.quotas.check_files(repo_id, len(head.files), len(files))
            if self.quotas.storage_bytes is not None:
                used = self.usage(namespace).bytes
                self.quotas.check_storage(namespace, used, used - kept_bytes + sum(content.values()))

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
            if content != kept or not (path / CONTENT_FILE).exists():
                atomic_write(path / CONTENT_FILE, _content_json(content))
            for oid in freed:
                self._blob_path(repo_id, oid).unlink(missing_ok=True)
        return commit

    def _freed_by(self, repo_id: str, head: Commit, files: dict[str, FileEntry],
                  branches: dict[str, str | None]) -> set[str]:
        """The blobs a commit from ``head`` to ``files`` frees: every version, in the branch's history, of each path
        it removes, unless a branch head (the new one included; None stands for it) holds the same content."""
        removed = [p for p in head.files if p not in files]
        if not removed:
            return set()
        versions = {c.files[p].oid for c in self.history(repo_id, head.id) for p in removed if p in c.files}
        live = {e.oid for e in files.values()}
        for commit_id in branches.values():
            if commit_id is not None:
                live.update(e.oid for e in self.read_commit(repo_id, commit_id).files.values())
        return versions - live

    # ---------------------------------------------------------------- garbage collection
    def collect_garbage(self, repo_id: str | None = None) -> Collected:
        """Remove the blobs no commit reaches any more (and content a deletion freed that a crash left on disk),
        commit files no branch reaches, and leftover ``.tmp-*`` files, of ``repo_id`` or of every repository.

        Safe beside a running server: each repository is collected under its owner's lock, as commits are made.
        """
        if repo_id is not None:
            with self.locked(check_repo_id(repo_id)[0]):
                return self._collect(repo_id)
        total = Collected()
        for meta in list(self.iter_repos()):
            try:
                total += self.collect_garbage(meta.id)
            except RepoNotFound:
                continue  # deleted meanwhile
        return total

    def _collect(self, repo_id: str) -> Collected:
        """:meth:`collect_garbage` of one repository, its owner's lock held."""
        path = self._repo_dir(repo_id)
        self.get_repo(repo_id)
        branches = self.branches(repo_id)
        reachable, commits = self._reachable(repo_id)
        kept = self._content(repo_id)[0]
        keep = {oid: size for oid, size in kept.items() if oid in reachable}
        keep.update(self._heads(repo_id, branches))
        if keep != kept or not (path / CONTENT_FILE).exists():
            atomic_write(path / CONTENT_FILE, _content_json(keep))
        blobs = freed = files = 0
        for sub in _subdirs(path / "blobs"):
            for entry in os.scandir(sub.path):
                if sub.name + entry.name not in keep:
                    freed += entry.stat(follow_symlinks=False).st_size
                    blobs += 1
                    os.unlink(entry.path)
        for entry in os.scandir(path / "commits"):
            if entry.name.endswith(".json") and entry.name[:-5] not in commits and not entry.name.startswith("."):
                os.unlink(entry.path)
                files += 1
        files += _remove_temporary(path) + _remove_temporary(path / "commits")
        return Collected(blobs=blobs, bytes=freed, files=files)


def _subdirs(path: str | Path) -> list[os.DirEntry]:
    try:
        return [e for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _remove(entry: os.DirEntry) -> None:
    if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path, ignore_errors=True)
    else:
        os.unlink(entry.path)


def _remove_temporary(folder: Path) -> int:
    """Remove the ``.tmp-*`` entries of ``folder`` (what an interrupted :func:`atomic_write` leaves); how many."""
    removed = 0
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(".tmp-")]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        _remove(entry)
        removed += 1
    return removed


def _content_json(blobs: dict[str, int]) -> bytes:
    return _json_bytes({"format": 1, "blobs": blobs})


def _check_no_file_folder_clash(files: dict[str, FileEntry]) -> None:
    folders = {p.rsplit("/", i)[0] for p in files for i in range(1, p.count("/") + 1)}
    clash = folders.intersection(files)
    if clash:
        p = sorted(clash)[0]
        raise InvalidRequest(f"Path '{p}' cannot be both a file and a folder.")
