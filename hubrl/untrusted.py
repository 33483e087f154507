"""Reading files that come from someone else's repo, bounded before they are parsed: JSON by size and nesting, a
safetensors file by its header alone.

Every JSON file hubrl reads from a repo or a run folder (config.json, results.json, hyperparameters.json) is at most
:data:`MAX_JSON_BYTES` and nests at most :data:`MAX_JSON_DEPTH` deep, both checked on the raw text, so a 500 MB file
or a 100,000-deep array is one line, never a ``MemoryError`` or ``RecursionError``. A safetensors file starts with an
8-byte header length and a JSON header naming each tensor's dtype, shape and byte range: :func:`read_safetensors_header`
reads only those (at most :data:`MAX_SAFETENSORS_HEADER_BYTES`), so the weights can be checked against their config
before a byte of tensor data is read. Standard library only (the local Hub reads repos' JSON through it too).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 1 << 20
"""Largest JSON file hubrl reads from a repo (hubrl's own are a few KB: a results.json with 10 returns, a config)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (hubrl's own files nest 3 deep; hydra-style ones a few more)."""
MAX_SAFETENSORS_HEADER_BYTES = 1 << 16
"""Largest safetensors header (a policy of 16 layers has 35 tensors: about 3 KB of header)."""
SAFETENSORS_DTYPES = {"F16": 2, "F32": 4, "F64": 8}
"""The tensor types a policy may be stored in, with their sizes in bytes (hubrl writes F32, and F64 for counts)."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class UntrustedFileError(ValueError):
    """A file is too large, not valid JSON, nested too deeply or not a safetensors file; ``str()`` is one line."""


def json_depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest (brackets inside strings do not count); linear time."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(0, *accumulate(1 if c in "[{" else -1 for c in brackets))


def parse_json(data: str | bytes, *, what: str = "the JSON text", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(data)`` once its nesting is known to be at most ``max_depth``.

    Raises:
        UntrustedFileError: not UTF-8, nested too deeply, or not valid JSON; one line naming ``what``.

    Example:
        >>> parse_json('{"obs_lags": [6, 12, 24]}')
        {'obs_lags': [6, 12, 24]}
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise UntrustedFileError(f"{what} is not UTF-8 text") from None
    depth = json_depth(text)
    if depth > max_depth:
        raise UntrustedFileError(f"{what} nests {depth:,} levels deep; hubrl reads JSON up to {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        reason = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
        raise UntrustedFileError(f"{what} is not valid JSON ({reason[:80]})") from None


def read_json_file(path: str | Path, *, what: str | None = None, max_bytes: int = MAX_JSON_BYTES,
                   max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON file's content, its size checked before it is read and its nesting before it is parsed.

    Raises:
        FileNotFoundError: no such file.
        UntrustedFileError: larger than ``max_bytes``, nested deeper than ``max_depth``, or not JSON; one line.

    Example:
        >>> read_json_file("runs/CartPole-v1/config.json")["env_id"]
        'CartPole-v1'
    """
    path = Path(path)
    what = what or str(path)
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UntrustedFileError(f"{what} is larger than {_size(max_bytes)}; hubrl reads JSON files up to that size")
    return parse_json(data, what=what, max_depth=max_depth)


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as a safetensors header declares it."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def read_safetensors_header(path: str | Path, *, what: str | None = None,
                            max_header_bytes: int = MAX_SAFETENSORS_HEADER_BYTES) -> dict[str, TensorEntry]:
    """The tensors a safetensors file declares, read from its first ``8 + header`` bytes only, and checked to tile the
    rest of the file exactly (no gap, no overlap, no trailing bytes) in the dtypes of :data:`SAFETENSORS_DTYPES`.

    Raises:
        FileNotFoundError: no such file.
        UntrustedFileError: not a safetensors file, a header over ``max_header_bytes``, a dtype a policy never has,
            or byte ranges that do not match the shapes or the file's size; one line.

    Example:
        >>> read_safetensors_header("runs/CartPole-v1/model.safetensors")["net.0.weight"].shape
        (32, 4)
    """
    path = Path(path)
    what = what or str(path)
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        head = f.read(8)
        if len(head) < 8:
            raise UntrustedFileError(f"{what} is corrupt: not a safetensors file (only {len(head)} bytes)")
        (length,) = struct.unpack("<Q", head)
        if length > max_header_bytes:
            raise UntrustedFileError(f"{what} is corrupt: it declares a {length:,}-byte header (a policy's is a few "
                                     f"KB; hubrl reads at most {max_header_bytes:,} bytes)")
        raw = f.read(length)
    header = parse_json(raw, what=f"{what}'s header", max_depth=4)
    if not isinstance(header, dict):
        raise UntrustedFileError(f"{what} is corrupt: its header is not a JSON object")
    header.pop("__metadata__", None)
    entries: dict[str, TensorEntry] = {}
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
            if not all(type(v) is int and v >= 0 for v in (*shape, begin, end)) or begin > end:
                raise ValueError
        except (TypeError, KeyError, ValueError):
            raise UntrustedFileError(f"{what} is corrupt: its header entry {str(name)[:40]!r} is malformed") from None
        if dtype not in SAFETENSORS_DTYPES:
            raise UntrustedFileError(f"{what}: tensor {str(name)[:40]!r} is {str(dtype)[:10]}; a policy's weights are "
                                     f"{', '.join(SAFETENSORS_DTYPES)}")
        count = 1
        for n in shape:
            count *= n
        if end - begin != count * SAFETENSORS_DTYPES[dtype]:
            raise UntrustedFileError(f"{what} is corrupt: tensor {str(name)[:40]!r} declares {end - begin:,} bytes "
                                     f"for shape {shape} of {dtype}")
        entries[str(name)] = TensorEntry(dtype, shape, begin, end)
    position = 0
    for entry in sorted(entries.values(), key=lambda e: e.begin):
        if entry.begin != position:
            raise UntrustedFileError(f"{what} is corrupt: its tensors' byte ranges leave gaps or overlap")
        position = entry.end
    if 8 + length + position != size:
        raise UntrustedFileError(f"{what} is corrupt: it holds {size:,} bytes but its header accounts for "
                                 f"{8 + length + position:,}")
    return entries


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n / 1024:g} KiB"
