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

Everything malformed is a :class:`~hubrl.server.errors.BadRequest` naming the line: invalid JSON, nesting too deep,
invalid base64, a long string anywhere else, a body that ends inside a line.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hubrl.server.errors import BadRequest
from hubrl.server.storage import BlobWriter, StagedBlob

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
            raise BadRequest(f"{self.where}: the content is not valid base64 (data after '=' padding).")
        try:
            self.writer.write(base64.b64decode(data[:cut], validate=True))
        except (binascii.Error, ValueError):
            raise BadRequest(f"{self.where}: the content is not valid base64.") from None
        self._padded = data[cut - 1 : cut] == b"="

    def finish(self) -> StagedBlob:
        if self._carry:
            raise BadRequest(f"{self.where}: the content is not valid base64 (its length is not a multiple of 4).")
        return self.writer.finish()


class NdjsonReader:
    """Split a commit body into :class:`Line` objects; iterate it once. Call :meth:`close` when done (it drops
    a blob half-written when an error stops the reading)."""

    def __init__(self, read_chunk: Callable[[], bytes], new_blob: Callable[[], BlobWriter]):
        self._read_chunk = read_chunk
        self._new_blob = new_blob
        self._sink: _Base64Sink | None = None
        self._streamed: StagedBlob | None = None

    def close(self) -> None:
        if self._sink is not None:
            self._sink.writer.abort()
            self._sink = None
        if self._streamed is not None:
            self._streamed.path.unlink(missing_ok=True)
            self._streamed = None

    def __iter__(self) -> Iterator[Line]:
        number = 1
        skeleton = bytearray()
        in_string = escape = False
        string_start = 0
        while True:
            data = self._read_chunk()
            if not data:
                break
            i, n = 0, len(data)
            while i < n:
                where = f"Line {number} of the commit payload"
                if self._sink is not None:  # inside a long string: stream it out
                    stop = _STRING_STOP.search(data, i)
                    end = stop.start() if stop else n
                    self._sink.write(data[i:end])
                    i = end
                    if stop is None:
                        continue
                    if data[end] == ord("\\"):
                        raise BadRequest(f"{where}: a long string may not contain JSON escapes (send base64).")
                    if self._streamed is not None:
                        raise BadRequest(f"{where}: only one file content per line may be longer than 64 KiB.")
                    self._streamed, self._sink = self._sink.finish(), None
                    skeleton += json.dumps(_PLACEHOLDER).encode()[1:]  # placeholder text and closing quote
                    in_string = False
                    i += 1
                elif in_string:
                    if escape:
                        skeleton.append(data[i])
                        escape = False
                        i += 1
                        continue
                    stop = _STRING_STOP.search(data, i)
                    end = stop.start() if stop else n
                    skeleton += data[i:end]
                    i = end
                    if len(skeleton) - string_start > LARGE_STRING:
                        text = bytes(skeleton[string_start:])
                        del skeleton[string_start:]
                        if b"\\" in text:
                            raise BadRequest(f"{where}: a long string may not contain JSON escapes (send base64).")
                        self._sink = _Base64Sink(self._new_blob(), where)
                        self._sink.write(text)
                        continue
                    if stop is not None:
                        skeleton.append(data[end])
                        i += 1
                        if data[end] == ord('"'):
                            in_string = False
                        else:
                            escape = True
                else:
                    stop = _OUTSIDE_STOP.search(data, i)
                    end = stop.start() if stop else n
                    skeleton += data[i:end]
                    i = end
                    if len(skeleton) > MAX_LINE_STRUCTURE:
                        raise BadRequest(f"{where} is too large (its structure exceeds 1 MiB).")
                    if stop is None:
                        continue
                    i += 1
                    if data[end] == ord('"'):
                        skeleton.append(data[end])
                        in_string, string_start = True, len(skeleton)
                        continue
                    line = self._line(number, skeleton)
                    if line is not None:
                        yield line
                    number += 1
                    skeleton = bytearray()
        if in_string or self._sink is not None:
            raise BadRequest(f"Line {number} of the commit payload ends inside a string (truncated body?).")
        line = self._line(number, skeleton)
        if line is not None:
            yield line

    def _line(self, number: int, text: bytearray) -> Line | None:
        """Parse one complete line (None for a blank one); take over the blob streamed out of it."""
        blob, self._streamed = self._streamed, None
        try:
            if not text.strip():
                if blob is not None:
                    raise BadRequest(f"Line {number} of the commit payload is not a JSON object.")
                return None
            try:
                item = json.loads(text)
            except RecursionError:
                raise BadRequest(f"Line {number} of the commit payload is nested too deeply.") from None
            except (ValueError, UnicodeDecodeError):
                raise BadRequest(
                    f"Line {number} of the commit payload is not valid JSON (expected application/x-ndjson)."
                ) from None
            if blob is not None:
                value = item.get("value") if isinstance(item, dict) else None
                content = value.get("content") if isinstance(value, dict) else None
                if content != _PLACEHOLDER or item.get("key") != "file":
                    raise BadRequest(f"Line {number}: only a file's content may be longer than 64 KiB.")
                if (value.get("encoding") or "base64").lower() != "base64":
                    raise BadRequest(f"Line {number}: a file content longer than 64 KiB must be base64-encoded.")
            return Line(number, item, blob)
        except BaseException:
            if blob is not None:
                blob.path.unlink(missing_ok=True)
            raise
