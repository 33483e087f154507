"""The Hub API of the local Hub, as plain functions from a parsed :class:`Request` to a :class:`Response`.

No HTTP here (see :mod:`hubrl.server.web`, which routes requests to these methods): this module decides who may do what, reads and writes through
:class:`~hubrl.server.storage.Storage`, and shapes answers the way the huggingface_hub client expects them
(JSON fields, ``X-Error-Code`` headers, ``Link: <...>; rel="next"`` pagination).

Every method decides who may do what before it reads the request body (which it reads lazily, in pieces, through
:class:`Body`), so an anonymous or unauthorised upload is refused without being received.

Access rules: reads are anonymous; a private repository is visible (info, listings, downloads) only with a
token of its owner, and answers 404 ``RepoNotFound`` to everyone else. Writes need ``Authorization: Bearer
<token>`` (401 without a valid one) and are allowed only in the token user's own namespace (403 otherwise).
An unknown token on a read is treated as anonymous, so a real Hub token that the client sends by habit does
not break reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import parse_qs, quote, urlencode

from hubrl.server.auth import TokenStore
from hubrl.server.cards import MAX_FRONT_MATTER_BYTES, CardInfo, card_info, validation_errors
from hubrl.server.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    Forbidden,
    HubServerError,
    PayloadTooLarge,
    RangeNotSatisfiable,
    RepoNotFound,
    Unauthorized,
)
from hubrl.server.naming import check_name, check_namespace, check_path, check_repo_id
from hubrl.server.storage import Commit, RepoMeta, StagedBlob, Storage
from hubrl.server.uploads import NdjsonReader

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
"""The exact 401 message the client recognises as a bad token (rather than a hidden repository)."""
MAX_JSON_BODY = 16 << 20
"""Largest JSON request body (create, preupload, paths-info, ...) read into memory; commits stream instead."""
_MEDIA_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "png": "image/png", "jpg": "image/jpeg",
                "jpeg": "image/jpeg", "gif": "image/gif"}
"""Types a browser may show inline (the pages' replays and curves); anything else, HTML and SVG included, is
served as ``application/octet-stream`` with ``nosniff``, so a file in a repo never runs as a page."""
_MODEL_SORTS = {
    "lastModified": "lastModified",
    "last_modified": "lastModified",
    "createdAt": "createdAt",
    "created_at": "createdAt",
    "id": "id",
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trendingScore",
    "trending_score": "trendingScore",
}


class Body(Protocol):
    def read_chunk(self) -> bytes:
        """The next piece of the request body; ``b""`` at its end. Raises PayloadTooLarge past the limit."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-case header names."""
    body: Body
    base_url: str
    """``http://host:port`` as the client addressed the server (from the Host header)."""
    token: str | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("1", "true", "yes")

    def read_small(self, limit: int = MAX_JSON_BODY) -> bytes:
        """The whole body, which must be at most ``limit`` bytes (PayloadTooLarge otherwise)."""
        parts, size = [], 0
        while chunk := self.body.read_chunk():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"This request's body may be at most {limit} bytes.")
            parts.append(chunk)
        return b"".join(parts)

    def json(self) -> dict:
        try:
            data = json.loads(self.read_small() or b"{}")
        except RecursionError:
            raise BadRequest("The request body is nested too deeply.") from None
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object.")
        return data


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: BinaryIO | None = None
    """File content to send after the headers (``length`` bytes from the current position); closed once sent."""
    length: int = 0

    @classmethod
    def json(cls, obj: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return cls(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body)

    @classmethod
    def error(cls, err: HubServerError) -> Response:
        message = str(err)
        extra = {"X-Error-Message": _header_safe(message), **err.headers}
        if err.code:
            extra["X-Error-Code"] = err.code
        return cls.json({**err.details, "error": message}, status=err.status, headers=extra)


def _header_safe(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\r", " ").replace("\n", " ")[:500]


def _with_commit(err: HubServerError, commit: Commit) -> HubServerError:
    err.headers["X-Repo-Commit"] = commit.id
    return err


class HubApp:
    """Routes, access control and response shapes over one data directory."""

    def __init__(self, data_dir: str | Path, *, page_size: int = 1000):
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.storage = Storage(data_dir)
        self.tokens = TokenStore(data_dir)
        self.page_size = page_size
        self._cards: OrderedDict[tuple[str, str], CardInfo] = OrderedDict()
        self._cards_guard = threading.Lock()

    def close(self) -> None:
        self.storage.close()

    # ---------------------------------------------------------------- access control
    def _user(self, req: Request) -> str | None:
        """The token's user, or None (anonymous) for a missing or unknown token."""
        return self.tokens.user_for(req.token)

    def _authenticated(self, req: Request) -> str:
        """The token's user; 401 without a valid token."""
        if not req.token:
            raise Unauthorized(
                "Authorization required: send 'Authorization: Bearer <token>' "
                "(create a token with `hubrl hub token USER`)."
            )
        user = self._user(req)
        if user is None:
            raise Unauthorized(INVALID_CREDENTIALS)
        return user

    def _writer(self, req: Request, namespace: str) -> str:
        """The user allowed to write to ``namespace``; 401 or 403 otherwise."""
        user = self._authenticated(req)
        if user != namespace:
            raise Forbidden(
                f"You don't have the rights to write to the namespace '{namespace}': "
                f"the token belongs to '{user}', which can only write to '{user}/...'"
            )
        return user

    def _visible(self, req: Request, repo_id: str) -> RepoMeta:
        """The repository if this request may see it; RepoNotFound otherwise (private repos hide themselves)."""
        try:
            meta = self.storage.get_repo(repo_id)
        except BadRequest:
            raise RepoNotFound(f"Repository {repo_id[:200]} not found.") from None
        if meta.private and self._user(req) != meta.namespace:
            raise RepoNotFound(f"Repository {repo_id} not found.")
        return meta

    def _owned(self, req: Request, repo_id: str) -> RepoMeta:
        namespace, _ = check_repo_id(repo_id)
        self._writer(req, namespace)
        return self.storage.get_repo(repo_id)

    # ---------------------------------------------------------------- users and repositories
    def whoami(self, req: Request) -> Response:
        user = self._authenticated(req)
        return Response.json(
            {
                "type": "user",
                "id": hashlib.sha1(user.encode()).hexdigest()[:24],
                "name": user,
                "fullname": user,
                "email": None,
                "emailVerified": False,
                "isPro": False,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "hubrl-local", "role": "write"}},
            }
        )

    def _repo_from_body(self, req: Request) -> tuple[dict, str]:
        """The JSON body of create/delete and the repo id it names, once the token may write there."""
        user = self._authenticated(req)  # before reading the body
        data = req.json()
        namespace = data.get("organization") or user
        self._writer(req, check_namespace(namespace))
        repo_id = f"{namespace}/{check_name(data.get('name'), 'repo name')}"
        repo_type = data.get("type") or "model"
        if repo_type != "model":
            raise BadRequest(f"Only model repositories are supported by this local Hub (got type {repo_type!r}).")
        return data, repo_id

    def create_repo(self, req: Request) -> Response:
        data, repo_id = self._repo_from_body(req)
        visibility = data.get("visibility")
        private = visibility == "private" if visibility is not None else bool(data.get("private", False))
        if visibility not in (None, "private", "public"):
            raise BadRequest(f"Unsupported visibility {visibility!r}: use 'public' or 'private'.")
        url = f"{req.base_url}/{repo_id}"
        try:
            self.storage.create_repo(repo_id, private=private)
        except Conflict as err:
            err.details["url"] = url  # create_repo(exist_ok=True) reads it from the 409 answer
            raise
        return Response.json({"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self, req: Request) -> Response:
        _, repo_id = self._repo_from_body(req)
        self.storage.delete_repo(repo_id)
        return Response.json({})

    def update_settings(self, req: Request, repo_id: str, _rev: str) -> Response:
        self._owned(req, repo_id)
        data = req.json()
        if data.get("gated") not in (None, False):
            raise BadRequest("Gated repositories are not supported by this local Hub.")
        visibility = data.get("visibility")
        if visibility is None and "private" in data:
            visibility = "private" if data["private"] else "public"
        if visibility not in (None, "private", "public"):
            raise BadRequest(f"Unsupported visibility {visibility!r}: use 'public' or 'private'.")
        if visibility is not None:
            self.storage.set_private(repo_id, visibility == "private")
        return Response.json({})

    # ---------------------------------------------------------------- model info and listing
    def card(self, repo_id: str, commit: Commit) -> CardInfo:
        """The README metadata of a commit (cached: commits are immutable)."""
        key = (repo_id, commit.id)
        with self._cards_guard:
            if key in self._cards:
                self._cards.move_to_end(key)
                return self._cards[key]
        readme = commit.files.get("README.md")
        text = None
        if readme is not None:
            with self.storage.open_blob(repo_id, readme.oid) as f:
                text = f.read(2 * MAX_FRONT_MATTER_BYTES)  # the front matter is at the top; no need for the rest
        info = card_info(text)
        with self._cards_guard:
            self._cards[key] = info
            while len(self._cards) > 4096:
                self._cards.popitem(last=False)
        return info

    def _model_json(self, meta: RepoMeta, commit: Commit, *, full: bool, card: bool, blobs: bool = False) -> dict:
        info = self.card(meta.id, commit)
        item: dict = {
            "_id": hashlib.sha1(f"{meta.id}@{meta.created_at}".encode()).hexdigest()[:24],
            "id": meta.id,
            "modelId": meta.id,
            "likes": 0,
            "downloads": 0,
            "trendingScore": 0,
            "private": meta.private,
            "tags": info.tags,
            "pipeline_tag": info.pipeline_tag,
            "library_name": info.library_name,
            "createdAt": meta.created_at,
        }
        if full:
            item.update(
                author=meta.namespace,
                sha=commit.id,
                lastModified=commit.date,
                gated=False,
                disabled=False,
                siblings=[
                    {"rfilename": p, **({"size": e.size, "blobId": e.oid} if blobs else {})}
                    for p, e in sorted(commit.files.items())
                ],
            )
        if card and info.card_data is not None:
            item["cardData"] = info.card_data
        if card and info.model_index is not None:
            item["model-index"] = info.model_index
        return item

    def model_info(self, req: Request, repo_id: str, revision: str) -> Response:
        meta = self._visible(req, repo_id)
        commit = self.storage.resolve(repo_id, revision)
        item = self._model_json(meta, commit, full=True, card=True, blobs=req.flag("blobs"))
        item.update(spaces=[], usedStorage=sum(e.size for e in commit.files.values()))
        return Response.json(_expand(item, req.query.get("expand")))

    def list_models(self, req: Request) -> Response:
        user = self._user(req)
        filters = [f for f in req.query.get("filter", []) if f]
        author, search = req.arg("author"), (req.arg("search") or "").lower()
        sort_arg = req.arg("sort")
        if sort_arg is not None and sort_arg not in _MODEL_SORTS:
            raise BadRequest(f"Unknown sort {sort_arg!r}: use one of {sorted(set(_MODEL_SORTS.values()))}.")
        sort = _MODEL_SORTS.get(sort_arg or "id", "id")
        descending = sort_arg is not None and req.arg("direction", "-1") != "1"
        limit = _positive_int(req.arg("limit"), "limit")
        expand = req.query.get("expand")
        full = req.flag("full") or bool(filters) or bool(expand)
        card = req.flag("cardData") or bool(expand)

        rows = []
        for meta in self.storage.iter_repos():
            if meta.private and meta.namespace != user:
                continue
            if (author and meta.namespace != author) or (search and search not in meta.id.lower()):
                continue
            try:
                commit = self.storage.resolve(meta.id, "main")
            except HubServerError:
                continue  # deleted meanwhile
            if filters and not set(filters).issubset(self.card(meta.id, commit).tags):
                continue
            key = {"lastModified": commit.date, "createdAt": meta.created_at, "id": meta.id}.get(sort, 0)
            rows.append(((key, meta.id), meta, commit))
        rows.sort(key=lambda r: r[0], reverse=descending)

        cursor = req.arg("cursor")
        if cursor is not None:
            after = _decode_cursor(cursor, str if sort in ("id", "lastModified", "createdAt") else int)
            rows = [r for r in rows if (r[0] < after if descending else r[0] > after)]
        size = min(self.page_size, limit) if limit is not None else self.page_size
        page = rows[:size]
        headers = {}
        remaining = None if limit is None else limit - len(page)
        if len(rows) > len(page) and remaining != 0:
            params = [(k, v) for k, vs in req.query.items() if k not in ("cursor", "limit") for v in vs]
            params.append(("cursor", _encode_cursor(page[-1][0])))
            if remaining is not None:
                params.append(("limit", str(remaining)))
            headers["Link"] = f'<{req.base_url}/api/models?{urlencode(params)}>; rel="next"'
        items = [_expand(self._model_json(m, c, full=full, card=card), expand) for _, m, c in page]
        return Response.json(items, headers=headers)

    # ---------------------------------------------------------------- files
    def _entries(self, repo_id: str, commit: Commit, path: str, recursive: bool) -> list[dict]:
        """Tree entries (files and folders) under ``path`` ("" = root), sorted by path."""
        prefix = f"{path}/" if path else ""
        trees = self.storage.tree_oids(repo_id, commit)
        files: dict[str, dict] = {}
        folders: set[str] = set()
        for p, e in commit.files.items():
            if not p.startswith(prefix):
                continue
            parts = p[len(prefix) :].split("/")
            if recursive or len(parts) == 1:
                files[p] = {"type": "file", "oid": e.oid, "size": e.size, "path": p}
            for i in range(1, len(parts) if recursive else min(len(parts), 2)):
                folders.add(prefix + "/".join(parts[:i]))
        entries = list(files.values()) + [{"type": "directory", "oid": trees[d], "size": 0, "path": d} for d in folders]
        return sorted(entries, key=lambda e: e["path"])

    def tree(self, req: Request, repo_id: str, revision: str, path: str) -> Response:
        self._visible(req, repo_id)
        commit = self.storage.resolve(repo_id, revision)
        if path:
            check_path(path)
            if path in commit.files or path not in self.storage.tree_oids(repo_id, commit):
                raise _with_commit(EntryNotFound(f"No folder named '{path}' at revision {revision}."), commit)
        entries = self._entries(repo_id, commit, path, req.flag("recursive"))
        cursor = req.arg("cursor")
        if cursor is not None:
            entries = [e for e in entries if e["path"] > cursor]
        page = entries[: self.page_size]
        headers = {}
        if len(entries) > len(page):
            params = [(k, v) for k, vs in req.query.items() if k != "cursor" for v in vs]
            params.append(("cursor", page[-1]["path"]))
            where = f"{quote(revision, safe='')}" + (f"/{quote(path)}" if path else "")
            headers["Link"] = f'<{req.base_url}/api/models/{repo_id}/tree/{where}?{urlencode(params)}>; rel="next"'
        return Response.json(page, headers=headers)

    def paths_info(self, req: Request, repo_id: str, revision: str) -> Response:
        self._visible(req, repo_id)
        commit = self.storage.resolve(repo_id, revision)
        if req.headers.get("content-type", "").startswith("application/json"):
            paths = req.json().get("paths", [])
        else:
            paths = parse_qs(req.read_small().decode("utf-8", "replace")).get("paths", [])
        trees = self.storage.tree_oids(repo_id, commit)
        out = []
        for p in paths if isinstance(paths, list) else [paths]:
            p = check_path(str(p).rstrip("/"))
            if p in commit.files:
                e = commit.files[p]
                out.append({"type": "file", "oid": e.oid, "size": e.size, "path": p})
            elif p in trees:
                out.append({"type": "directory", "oid": trees[p], "size": 0, "path": p})
        return Response.json(out)

    def resolve(self, req: Request, repo_id: str, revision: str, path: str) -> Response:
        self._visible(req, repo_id)
        commit = self.storage.resolve(repo_id, revision)
        try:
            check_path(path)
        except BadRequest as err:
            raise _with_commit(err, commit) from None
        entry = commit.files.get(path)
        if entry is None:
            raise _with_commit(EntryNotFound(f"Entry not found: {path} at revision {revision}."), commit)
        headers = {
            "Content-Type": _MEDIA_TYPES.get(path.rsplit(".", 1)[-1].lower(), "application/octet-stream"),
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{entry.oid}"',
            "X-Repo-Commit": commit.id,
            "Accept-Ranges": "bytes",
        }
        span = _parse_range(req.headers.get("range"), entry.size)
        start, end = span or (0, entry.size)
        status = 200
        if span is not None:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
        if req.method == "HEAD":
            return Response(status, headers, length=end - start)
        stream = self.storage.open_blob(repo_id, entry.oid)
        stream.seek(start)
        return Response(status, headers, stream=stream, length=end - start)

    # ---------------------------------------------------------------- history
    def list_commits(self, req: Request, repo_id: str, revision: str) -> Response:
        self._visible(req, repo_id)
        head = self.storage.resolve(repo_id, revision)
        start = req.arg("cursor") or head.id
        formatted = "formatted" in req.query.get("expand[]", []) + req.query.get("expand", [])
        page, next_id = [], None
        for commit in self.storage.history(repo_id, start):
            if len(page) == self.page_size:
                next_id = commit.id
                break
            item = {
                "id": commit.id,
                "title": commit.title,
                "message": commit.message,
                "authors": [{"user": commit.author}],
                "date": commit.date,
            }
            if formatted:
                item["formatted"] = {"title": html.escape(commit.title), "message": html.escape(commit.message)}
            page.append(item)
        headers = {}
        if next_id is not None:
            params = [(k, v) for k, vs in req.query.items() if k != "cursor" for v in vs] + [("cursor", next_id)]
            url = f"{req.base_url}/api/models/{repo_id}/commits/{quote(revision, safe='')}?{urlencode(params)}"
            headers["Link"] = f'<{url}>; rel="next"'
        return Response.json(page, headers=headers)

    def create_branch(self, req: Request, repo_id: str, branch: str) -> Response:
        self._owned(req, repo_id)
        self.storage.create_branch(repo_id, branch, req.json().get("startingPoint") or "main")
        return Response.json({})

    def delete_branch(self, req: Request, repo_id: str, branch: str) -> Response:
        self._owned(req, repo_id)
        self.storage.delete_branch(repo_id, branch)
        return Response.json({})

    def list_refs(self, req: Request, repo_id: str, _rev: str) -> Response:
        self._visible(req, repo_id)
        branches = self.storage.branches(repo_id)
        return Response.json(
            {
                "branches": [
                    {"name": n, "ref": f"refs/heads/{n}", "targetCommit": c} for n, c in sorted(branches.items())
                ],
                "converts": [],
                "tags": [],
                "pullRequests": [],
            }
        )

    # ---------------------------------------------------------------- writes
    def validate_yaml(self, req: Request) -> Response:
        try:
            content = req.json().get("content", "")
        except BadRequest as err:
            return Response.json({"errors": [{"message": str(err)}], "warnings": []}, status=400)
        errors = validation_errors(content if isinstance(content, str) else "")
        if errors:
            return Response.json({"errors": [{"message": e} for e in errors], "warnings": []}, status=400)
        return Response.json({"errors": [], "warnings": []})

    def preupload(self, req: Request, repo_id: str, revision: str) -> Response:
        _no_pull_requests(req)
        self._owned(req, repo_id)
        commit = self.storage.resolve(repo_id, revision)
        files = req.json().get("files")
        if not isinstance(files, list):
            raise BadRequest("Expected a JSON body {'files': [{'path', 'sample', 'size'}, ...]}.")
        out = []
        for f in files:
            path = check_path(f.get("path") if isinstance(f, dict) else None)
            existing = commit.files.get(path)
            out.append(
                {
                    "path": path,
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": existing.oid if existing else None,
                }
            )
        return Response.json({"files": out})

    def commit(self, req: Request, repo_id: str, revision: str) -> Response:
        _no_pull_requests(req)
        user = self._writer(req, check_repo_id(repo_id)[0])  # 401/403 before a byte of the body is read
        self.storage.get_repo(repo_id)
        self.storage.resolve(repo_id, revision)
        header: dict | None = None
        additions: dict[str, StagedBlob] = {}
        deleted_files: list[str] = []
        deleted_folders: list[str] = []
        reader = NdjsonReader(req.body.read_chunk, self.storage.blob_writer)
        try:
            for line in reader:
                number, item = line.number, line.item
                if line.blob is not None:
                    additions[f"\x00line {number}"] = line.blob  # discarded with the others if the commit fails
                if not (isinstance(item, dict) and isinstance(item.get("value"), dict) and "key" in item):
                    raise BadRequest(
                        f"Line {number} of the commit payload is not a {{'key', 'value'}} JSON object "
                        "(expected application/x-ndjson)."
                    )
                key, value = item["key"], item["value"]
                if key == "header":
                    header = value
                elif key == "file":
                    path = check_path(value.get("path"))
                    staged = additions.pop(f"\x00line {number}", None)
                    if staged is None:
                        staged = self.storage.stage_blob(_decode_content(value, path))
                    if path in additions:
                        self.storage.discard({path: additions.pop(path)})
                    additions[path] = staged
                elif key == "deletedFile":
                    deleted_files.append(check_path(value.get("path")))
                elif key == "deletedFolder":
                    deleted_folders.append(check_path(str(value.get("path", "")).rstrip("/")))
                elif key in ("lfsFile", "xetFile"):
                    raise BadRequest(
                        f"{key} entries are not supported: this local Hub stores every file as a regular blob "
                        "(it answers uploadMode 'regular' to preupload)."
                    )
                else:
                    raise BadRequest(f"Unknown commit operation {key!r} on line {number}.")
            if header is None:
                raise BadRequest("The commit payload has no header line.")
            title = header.get("summary")
            if not isinstance(title, str) or not title.strip():
                raise BadRequest("The commit summary (title) is missing or empty.")
            description = header.get("description") or ""
            parent = header.get("parentCommit")
            commit = self.storage.commit(
                repo_id,
                revision,
                additions=additions,
                deleted_files=deleted_files,
                deleted_folders=deleted_folders,
                title=title,
                message=str(description),
                author=user,
                parent_commit=parent if parent is None else str(parent),
            )
        finally:
            reader.close()
            self.storage.discard(additions)  # no-op for blobs the commit consumed
        return Response.json(
            {
                "success": True,
                "commitOid": commit.id,
                "commitUrl": f"{req.base_url}/{repo_id}/commit/{commit.id}",
                "commitMessage": commit.title,
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )


# -------------------------------------------------------------------- helpers
def _no_pull_requests(req: Request) -> None:
    if req.flag("create_pr"):
        raise BadRequest("Pull requests are not supported by this local Hub: commit to a branch instead.")


def _decode_content(value: dict, path: str) -> bytes:
    content, encoding = value.get("content"), (value.get("encoding") or "base64").lower()
    if not isinstance(content, str):
        raise BadRequest(f"File '{path}': 'content' must be a string.")
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"File '{path}': content is not valid base64.") from None
    if encoding in ("utf-8", "utf8"):
        return content.encode("utf-8")
    raise BadRequest(f"File '{path}': unknown encoding {encoding!r} (use 'base64').")


def _positive_int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise BadRequest(f"'{name}' must be a positive integer.")
    return number


def _encode_cursor(key: tuple) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, key_type: type) -> tuple:
    """The (sort key, repo id) a cursor of :func:`_encode_cursor` holds; its sort key must compare with
    ``key_type`` (a crafted cursor such as ``[1, "x"]`` on a sort by id is refused, not compared)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(key, list) and len(key) == 2 and isinstance(key[1], str)):
            raise ValueError
        if type(key[0]) is not key_type:
            raise ValueError
        return tuple(key)
    except (ValueError, binascii.Error, RecursionError):
        raise BadRequest("Invalid pagination cursor: pass back the one from the Link header.") from None


def _expand(item: dict, expand: list[str] | None) -> dict:
    """Keep only the ``expand`` properties (plus the ids), as the Hub does when ``expand`` is given."""
    if not expand:
        return item
    keep = set(expand) | {"id", "_id"}
    return {k: v for k, v in item.items() if k in keep}


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) for a single ``bytes=a-b`` range (RFC 9110); None (the whole file) when
    there is no range, several ranges or a malformed one. RangeNotSatisfiable (416) when it starts past the end."""
    if not header or not header.startswith("bytes=") or "," in header or size == 0:
        return None
    first, _, last = header[6:].strip().partition("-")
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or first == last == "":
        return None
    if first == "":
        start, end = max(size - int(last), 0), size
    else:
        start, end = int(first), (int(last) + 1 if last else size)
    if start >= size:
        err = RangeNotSatisfiable(f"Range {header[:80]!r} starts past the end of the file ({size} bytes).")
        err.headers["Content-Range"] = f"bytes */{size}"
        raise err
    if end <= start:
        return None
    return start, min(end, size)
