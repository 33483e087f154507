"""A commit's ndjson body, read as it arrives, with memory that stays flat whatever the size of the files in it.

The client sends every file inline, base64-encoded, as one JSON line:
``{"key": "file", "value": {"content": "<base64>", "path": "...", "encoding": "base64"}}``, so one line can be
hundreds of MiB. Each line's structure (everything but long strings) is kept in memory, at most
:data:`MAX_LINE_STRUCTURE` bytes, and parsed by the standard ``json`` module; a string longer than
:data:`LARGE_STRING` is never held: its characters are base64-decoded as they arrive into a staged blob on disk
(:class:`~hubrl.server.storage.BlobWriter`) and the line is parsed with a placeholder in its place. Only a file's
``content`` may be that long, and it must be base64 without JSON escapes (which base64 never needs).

Why a scanner of our own: the maintained streaming JSON parsers (ijson, json-stream) stream structures but still
hand each string over whole (streaming one string is json-stream's open issue #45), and that string is exactly the
problem here. The scanner below only finds line ends and long strings (with C-speed regex searches); all parsing
proper stays with ``json``.

Everything malformed is a :class:`~hubrl.server.errors.InvalidRequest` naming the line: invalid JSON, nesting too deep,
invalid base64, a long string anywhere else, a body that ends inside a line.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from hubrl.server.errors import InvalidRequest, TooLarge
from hubrl.server.naming import check_path
from hubrl.server.quotas import format_bytes
from hubrl.server.state import ServerState
from hubrl.server.storage import BlobWriter, Commit, StagedBlob, Storage

MAX_LINE_STRUCTURE = 1 << 20
"""Bytes of one line outside its long strings (paths, keys, small contents)."""
LARGE_STRING = 64 << 10
"""A string longer than this is streamed to disk instead of kept in the line."""
_PLACEHOLDER = "\x00hubrl-streamed-content"
_OUTSIDE_STOP = re.compile(rb'["\n]')
_STRING_STOP = re.compile(rb'["\\]')


@dataclass
class Line:
    number: int
    item: object
    """The line's JSON, with a streamed ``content`` replaced by a placeholder (see :attr:`blob`)."""
    blob: StagedBlob | None = None
    """The decoded content of ``value.content`` when it was too long to keep in memory."""


class _Base64Sink:
    """Base64 text in, decoded bytes out to a staged blob, in pieces (a partial 4-character group is carried)."""

    def __init__(self, writer: BlobWriter, where: str):
        self.writer, self.where = writer, where
        self._carry = b""
        self._padded = False

    def write(self, text: bytes) -> None:
        data = self._carry + text
        cut = len(data) - len(data) % 4
        self._carry = data[cut:]
        if not cut:
            return
        if self._padded:
            raise InvalidRequest(f"{self.where}: the content is not valid base64 (data after '=' padding).")
        try:
            self.writer.write(base64.b64decode(data[:cut], validate=True))
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"{self.where}: the content is not valid base64.") from None
        self._padded = data[cut - 1 : cut] == b"="

    def finish(self) -> StagedBlob:
        if self._carry:
            raise InvalidRequest(f"{self.where}: the content is not valid base64 (its length is not a multiple of 4).")
        return self.writer.finish()


class NdjsonReader:
    """Split a commit body into :class:`Line` objects as its pieces arrive: :meth:`feed` each piece, then
    :meth:`end`. Call :meth:`close` when done (it drops a blob half-written when an error stopped the reading)."""

    def __init__(self, new_blob: Callable[[], BlobWriter]):
        self._new_blob = new_blob
        self._sink: _Base64Sink | None = None
        self._streamed: StagedBlob | None = None
        self._number = 1
        self._skeleton = bytearray()
        self._in_string = self._escape = False
        self._string_start = 0

    @property
    def streaming_bytes(self) -> int:
        """Bytes of the long content being streamed to disk now (0 between contents)."""
        return self._sink.writer.size if self._sink is not None else 0

    def close(self) -> None:
        if self._sink is not None:
            self._sink.writer.abort()
            self._sink = None
        if self._streamed is not None:
            self._streamed.path.unlink(missing_ok=True)
            self._streamed = None

    def feed(self, data: bytes) -> list[Line]:
        """The lines that ``data`` completes (streamed contents are written to disk on the way)."""
        lines: list[Line] = []
        i, n = 0, len(data)
        while i < n:
            where = f"Line {self._number} of the commit payload"
            if self._sink is not None:  # inside a long string: stream it out
                stop = _STRING_STOP.search(data, i)
                end = stop.start() if stop else n
                self._sink.write(data[i:end])
                i = end
                if stop is None:
                    continue
                if data[end] == ord("\\"):
                    raise InvalidRequest(f"{where}: a long string may not contain JSON escapes (send base64).")
                if self._streamed is not None:
                    raise InvalidRequest(f"{where}: only one file content per line may be longer than 64 KiB.")
                self._streamed, self._sink = self._sink.finish(), None
                self._skeleton += json.dumps(_PLACEHOLDER).encode()[1:]  # placeholder text and closing quote
                self._in_string = False
                i += 1
            elif self._in_string:
                if self._escape:
                    self._skeleton.append(data[i])
                    self._escape = False
                    i += 1
                    continue
                stop = _STRING_STOP.search(data, i)
                end = stop.start() if stop else n
                self._skeleton += data[i:end]
                i = end
                if len(self._skeleton) - self._string_start > LARGE_STRING:
                    text = bytes(self._skeleton[self._string_start :])
                    del self._skeleton[self._string_start :]
                    if b"\\" in text:
                        raise InvalidRequest(f"{where}: a long string may not contain JSON escapes (send base64).")
                    self._sink = _Base64Sink(self._new_blob(), where)
                    self._sink.write(text)
                    continue
                if stop is not None:
                    self._skeleton.append(data[end])
                    i += 1
                    if data[end] == ord('"'):
                        self._in_string = False
                    else:
                        self._escape = True
            else:
                stop = _OUTSIDE_STOP.search(data, i)
                end = stop.start() if stop else n
                self._skeleton += data[i:end]
                i = end
                if len(self._skeleton) > MAX_LINE_STRUCTURE:
                    raise InvalidRequest(f"{where} is too large (its structure exceeds 1 MiB).")
                if stop is None:
                    continue
                i += 1
                if data[end] == ord('"'):
                    self._skeleton.append(data[end])
                    self._in_string, self._string_start = True, len(self._skeleton)
                    continue
                line = self._line(self._number, self._skeleton)
                if line is not None:
                    lines.append(line)
                self._number += 1
                self._skeleton = bytearray()
        return lines

    def end(self) -> list[Line]:
        """The body's last line, if it did not end with a newline. InvalidRequest for a body cut inside a string."""
        if self._in_string or self._sink is not None:
            raise InvalidRequest(f"Line {self._number} of the commit payload ends inside a string (truncated body?).")
        line = self._line(self._number, self._skeleton)
        self._skeleton = bytearray()
        return [line] if line is not None else []

    def _line(self, number: int, text: bytearray) -> Line | None:
        """Parse one complete line (None for a blank one); take over the blob streamed out of it."""
        blob, self._streamed = self._streamed, None
        try:
            if not text.strip():
                if blob is not None:
                    raise InvalidRequest(f"Line {number} of the commit payload is not a JSON object.")
                return None
            try:
                item = json.loads(text)
            except RecursionError:
                raise InvalidRequest(f"Line {number} of the commit payload is nested too deeply.") from None
            except (ValueError, UnicodeDecodeError):
                raise InvalidRequest(
                    f"Line {number} of the commit payload is not valid JSON (expected application/x-ndjson)."
                ) from None
            if blob is not None:
                value = item.get("value") if isinstance(item, dict) else None
                content = value.get("content") if isinstance(value, dict) else None
                if content != _PLACEHOLDER or item.get("key") != "file":
                    raise InvalidRequest(f"Line {number}: only a file's content may be longer than 64 KiB.")
                if (value.get("encoding") or "base64").lower() != "base64":
                    raise InvalidRequest(f"Line {number}: a file content longer than 64 KiB must be base64-encoded.")
            return Line(number, item, blob)
        except BaseException:
            if blob is not None:
                blob.path.unlink(missing_ok=True)
            raise


class CommitPayload:
    """One commit's operations gathered from its ndjson body as it arrives: the header, every added file staged on
    disk (small contents decoded from their line, large ones streamed by :class:`NdjsonReader`), the deletions.

    Blocking (disk writes, hashing): call :meth:`feed` and :meth:`commit` from a worker thread. :meth:`close`
    drops whatever was staged and not committed, so a refused or interrupted commit leaves nothing behind. Each
    :meth:`feed` checks that what arrived so far can still fit the owner's quotas (whatever the commit deletes), so
    a body that cannot is refused while it arrives, not once it is all on disk.
    """

    def __init__(self, storage: Storage, repo_id: str, branch: str):
        self._storage = storage
        self._repo_id, self._branch = repo_id, branch
        self._head: Commit | None = None
        self._room = (0, 0)
        self._reader = NdjsonReader(storage.blob_writer)
        self._header: dict | None = None
        self._additions: dict[str, StagedBlob] = {}
        self._deleted_files: list[str] = []
        self._deleted_folders: list[str] = []

    def feed(self, data: bytes) -> None:
        for line in self._reader.feed(data):
            self._apply(line)
        self._check_quotas()

    def _check_quotas(self) -> None:
        """QuotaExceeded when the files and content received so far cannot fit, even if the commit deleted
        everything else in the repository."""
        if self._head is None:  # weighed once against what the user keeps when the body starts
            self._head = self._storage.resolve(self._repo_id, self._branch)
            self._room = self._storage.room(self._repo_id)
        files = self._head.files
        new_paths = sum(1 for p in self._additions if not p.startswith("\x00") and p not in files)
        new_bytes = self._reader.streaming_bytes + sum(
            blob.size for p, blob in self._additions.items() if p not in files or files[p].oid != blob.oid)
        self._storage.check_upload(self._repo_id, new_files=new_paths, new_bytes=new_bytes, room=self._room)

    def commit(self, repo_id: str, branch: str, *, author: str) -> Commit:
        """Apply the gathered operations as one commit on ``branch`` (see :meth:`Storage.commit`)."""
        for line in self._reader.end():
            self._apply(line)
        if self._header is None:
            raise InvalidRequest("The commit payload has no header line.")
        title = self._header.get("summary")
        if not isinstance(title, str) or not title.strip():
            raise InvalidRequest("The commit summary (title) is missing or empty.")
        parent = self._header.get("parentCommit")
        return self._storage.commit(
            repo_id,
            branch,
            additions=self._additions,
            deleted_files=self._deleted_files,
            deleted_folders=self._deleted_folders,
            title=title,
            message=str(self._header.get("description") or ""),
            author=author,
            parent_commit=parent if parent is None else str(parent),
        )

    def close(self) -> None:
        self._reader.close()
        self._storage.discard(self._additions)  # no-op for blobs the commit consumed

    def _apply(self, line: Line) -> None:
        number, item = line.number, line.item
        if line.blob is not None:
            self._additions[f"\x00line {number}"] = line.blob  # discarded with the others if the commit fails
        if not (isinstance(item, dict) and isinstance(item.get("value"), dict) and "key" in item):
            raise InvalidRequest(
                f"Line {number} of the commit payload is not a {{'key', 'value'}} JSON object "
                "(expected application/x-ndjson)."
            )
        key, value = item["key"], item["value"]
        if key == "header":
            self._header = value
        elif key == "file":
            path = check_path(value.get("path"))
            staged = self._additions.pop(f"\x00line {number}", None)
            if staged is None:
                staged = self._storage.stage_blob(_decode_content(value, path))
            if path in self._additions:
                self._storage.discard({path: self._additions.pop(path)})
            self._additions[path] = staged
        elif key == "deletedFile":
            self._deleted_files.append(check_path(value.get("path")))
        elif key == "deletedFolder":
            self._deleted_folders.append(check_path(str(value.get("path", "")).rstrip("/")))
        elif key in ("lfsFile", "xetFile"):
            raise InvalidRequest(
                f"{key} entries are not supported: this local Hub stores every file as a regular blob "
                "(it answers uploadMode 'regular' to preupload)."
            )
        else:
            raise InvalidRequest(f"Unknown commit operation {key!r} on line {number}.")


def check_preupload(state: ServerState, repo_id: str, files: list[dict], head: Commit) -> None:
    """Refuse at ``preupload`` (before any content is sent) what cannot be committed: files that would not fit
    the owner's quotas whatever the commit deletes, or whose base64 encoding exceeds the largest request body.

    ``files`` are the client's ``{"path", "size", ...}``: paths ``head`` lacks count as new files, and the sizes of
    files that are new or of another size as new content (the client leaves unchanged files out of the commit).
    """
    new_files = new_bytes = 0
    for f in files:
        path, size = f.get("path"), f.get("size")
        size = size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0
        existing = head.files.get(path) if isinstance(path, str) else None
        new_files += existing is None
        new_bytes += size if existing is None or existing.size != size else 0
    if (new_bytes + 2) // 3 * 4 > state.max_body_bytes:
        raise TooLarge(f"These files ({format_bytes(new_bytes)}, sent base64-encoded in one request) exceed this "
                       f"Hub's largest request of {format_bytes(state.max_body_bytes)}: commit them in several "
                       "commits.")
    state.storage.check_upload(repo_id, new_files=new_files, new_bytes=new_bytes, head=head)


def _decode_content(value: dict, path: str) -> bytes:
    content, encoding = value.get("content"), (value.get("encoding") or "base64").lower()
    if not isinstance(content, str):
        raise InvalidRequest(f"File '{path}': 'content' must be a string.")
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"File '{path}': content is not valid base64.") from None
    if encoding in ("utf-8", "utf8"):
        return content.encode("utf-8")
    raise InvalidRequest(f"File '{path}': unknown encoding {encoding!r} (use 'base64').")
